"""Events: the documented lines decode, round trips keep every field, names stay stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from mead.events import (
    AlertReceived,
    Event,
    encode_line,
    read_events,
)
from mead.messages import Alert

DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"


def _alert() -> Alert:
    return Alert(
        alert_id="C0-7-Haifa",
        state="issued",
        t=100.0,
        recipient="P3",
        area="Haifa",
        system_track=7,
        threat_class="ballistic",
        impact_lat_deg=32.8,
        impact_lon_deg=35.0,
        impact_radius_m=4000.0,
        t_impact=400.0,
        tgo_s=300.0,
        issuer="C0",
    )


def test_documented_lines_decode_to_every_kind() -> None:
    blocks = DOC.read_text().split("```json")[1:]
    events = [e for b in blocks for e in read_events(b[: b.index("```")])]
    assert {type(e) for e in events} == set(get_args(Event))


def test_alert_event_keeps_the_alert_and_the_log_field_names() -> None:
    a = _alert()
    ev = AlertReceived(
        node="P3", t_recv=101.0, via="C0", run="alliance", **msgspec.structs.asdict(a)
    )
    line = json.loads(encode_line(ev))
    assert line["kind"] == "alert" and line["run"] == "alliance" and line["truth"] is None
    for k in ("node", "state", "area", "t", "tgo_s", "impact_lat_deg", "impact_radius_m"):
        assert k in line
    (back,) = read_events(encode_line(ev))
    assert back == ev
    assert {f: getattr(back, f) for f in a.__struct_fields__} == msgspec.structs.asdict(a)


@pytest.mark.parametrize(
    "line, field",
    [
        (b'{"kind":"rejected","node":"C0","origin":"P1"}', "reason"),
        (b'{"kind":"picture","node":"P1","t_recv":"soon","t":1,"via":"C0","tracks":0}', "t_recv"),
        (b'{"kind":"nonsense","node":"P1"}', "kind"),
    ],
)
def test_bad_lines_name_the_field(line: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        read_events(line)
