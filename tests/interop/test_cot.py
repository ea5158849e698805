"""Cursor-on-Target out: events equal the shared samples field for field."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from mead.errors import ParameterError
from mead.interop.cot import cot_type, track2cot

SHARED = Path("/work/shared/data/cot")
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="shared samples not present")


def _tree(xml: bytes) -> list[tuple[str, dict[str, str], str | None]]:
    return [(e.tag, dict(e.attrib), (e.text or None)) for e in ET.fromstring(xml).iter()]


@pytest.mark.parametrize("name", ["hostile_uav", "unknown_air", "hostile_ssm"])
def test_event_matches_the_sample(name: str) -> None:
    ref = json.loads((SHARED / "takproto_decoded.json").read_text())[name]
    got = track2cot(
        ref["uid"], ref["type"], ref["sendTime_ms"] / 1000, 30.0, ref["lat"], ref["lon"],
        ref["hae"], ref["ce"], ref["le"], ref["course"], ref["speed_mps"], ref["callsign"],
        remarks="synthetic example written by the project",
    )  # fmt: skip
    assert _tree(got) == _tree((SHARED / f"{name}.cot.xml").read_bytes())


def test_types_from_classification() -> None:
    assert cot_type("drone", "hostile") == "a-h-A-M-F-Q"
    assert cot_type("ballistic", "hostile") == "a-h-A-W-M-S-S"
    assert cot_type("unknown", "unknown") == "a-u-A"
    with pytest.raises(ParameterError, match="'affiliation'"):
        cot_type("drone", "enemy")


def test_bad_values_are_named() -> None:
    with pytest.raises(ParameterError, match="'lat_deg'"):
        track2cot("u", "a-u-A", 0.0, 30.0, float("nan"), 0, 0, 1, 1, 0, 0, "c")
    with pytest.raises(ParameterError, match="'stale_s'"):
        track2cot("u", "a-u-A", 0.0, 0.0, 1.0, 0, 0, 1, 1, 0, 0, "c")
