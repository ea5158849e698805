"""A node's view: what it keeps, acknowledgements recorded as events, bad input counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.events import AlertAcknowledged, AlertReceived, Event
from mead.messages import RadarStatus
from mead.runtime.node import Held
from mead.scenario import load_scenario
from mead.server.overlays import map_info
from mead.server.view import AckError, NodeView

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


def alert(node: str, alert_id: str, state: str = "issued", via: str = "C0") -> AlertReceived:
    return AlertReceived(
        node=node, t_recv=1000.0, via=via, alert_id=alert_id, state=state, t=999.0,  # type: ignore[arg-type]
        recipient=node, area="Capital", system_track=42, threat_class="drone",
        impact_lat_deg=31.77, impact_lon_deg=35.21, impact_radius_m=800.0, t_impact=1300.0,
        tgo_s=301.0,
    )  # fmt: skip


@pytest.fixture
def view() -> tuple[NodeView, list[Event]]:
    events: list[Event] = []
    return NodeView(map_info(load_scenario(SMALL), "P2"), emit=events.append), events


def test_partner_map_holds_only_its_own_areas_and_radars() -> None:
    sc = load_scenario(SMALL)
    p2, c0 = map_info(sc, "P2"), map_info(sc, "C0")
    assert [f["properties"]["name"] for f in p2["areas"]["features"]] == ["Capital"]
    assert [f["properties"]["id"] for f in p2["coverage"]["features"]] == ["P2-S1"]
    assert {f["properties"]["name"] for f in c0["areas"]["features"]} == {"Capital", "Base"}
    assert c0["coverage"]["features"] == []  # sensor sites never reach the coordinator


def test_acknowledgement_is_recorded_by_the_node(view: tuple[NodeView, list[Event]]) -> None:
    v, events = view
    v.on_event(alert("P2", "C0-7"))
    v.on_event(alert("P1", "C0-8"))  # another node's alert: not this map's
    assert v.ack("C0-7", "watch officer") == {"alert_id": "C0-7", "status": "pending"}
    assert not events  # nothing recorded until the node's loop drains
    assert v.drain(1234.0) == 1
    (ev,) = events
    assert isinstance(ev, AlertAcknowledged)
    assert (ev.node, ev.alert_id, ev.t, ev.by, ev.area, ev.via) == (
        "P2", "C0-7", 1234.0, "watch officer", "Capital", "C0",
    )  # fmt: skip
    again = v.ack("C0-7")
    assert again["status"] == "acknowledged" and again["by"] == "watch officer"
    assert v.drain(1235.0) == 0
    with pytest.raises(AckError) as e:
        v.ack("C0-8")
    assert e.value.status == 404 and "C0-8" in e.value.detail
    v.on_event(alert("P2", "P2-1", state="cancelled", via="P2"))
    with pytest.raises(AckError) as e:
        v.ack("P2-1")
    assert e.value.status == 409


def test_own_alert_points_at_the_own_track(view: tuple[NodeView, list[Event]]) -> None:
    v, _ = view
    x = np.array([[4.4e6, 3.1e6, 3.35e6, 10.0, 0.0, 0.0]])
    v.show(Held("P2", 1000.0, ["P2-T000042"], x, ["drone"], np.array([0.8]), np.array([""])))
    v.on_event(alert("P2", "P2-3", via="P2"))
    v.on_event(alert("P2", "C0-3", via="C0"))
    snap = v.snapshot()[1].decode()
    assert '"key":"P2-T000042"' in snap and '"key":"S42"' in snap


def test_bad_input_never_raises_and_is_counted(view: tuple[NodeView, list[Event]]) -> None:
    v, _ = view
    bad = Held("P2", 1.0, ["a", "b"], np.zeros((3, 6)), ["x"], np.zeros(1), np.zeros(1))
    v.show(bad)
    assert v.counters["errors_show"] == 1
    v.show(Held("P2", 2.0, [], np.zeros((0, 6)), [], np.zeros(0), np.zeros(0)))
    assert v.counters["cycles"] == 1


def held_lost(*lost: tuple[str, RadarStatus]) -> Held:
    """A coordinator cycle holding no tracks, with radars reported lost."""
    return Held("C0", 1000.0, [], np.empty((0, 6)), [], np.empty(0), np.empty(0), None,
                coverage_lost=tuple(lost))  # fmt: skip


def test_coordinator_map_draws_the_coverage_partners_lost() -> None:
    """A radar down is the disc of its range, one degraded the ring beyond its kept reach,
    one whose site its partner keeps to itself a line without a shape; back to none when
    the radars serve again."""
    sc = load_scenario(SMALL)
    site = next(s for p in sc.partners for s in p.sensors if s.id == "P2-S1").site
    down = RadarStatus(radar="P2-S1", state="down", reach=0.0, lat_deg=site.lat_deg,
                       lon_deg=site.lon_deg, range_km=150.0)  # fmt: skip
    weak = RadarStatus(radar="P2-S1", state="degraded", reach=0.4, lat_deg=site.lat_deg,
                       lon_deg=site.lon_deg, range_km=150.0)  # fmt: skip
    hidden = RadarStatus(radar="radar-0", state="down", reach=0.0)
    v = NodeView(map_info(sc, "C0"))
    v.show(held_lost(("P2", down), ("P1", hidden)))
    lost = json.loads(v.snapshot()[1])["lost"]["features"]
    assert [f["properties"]["partner"] for f in lost] == ["P2", "P1"]
    (ring,) = lost[0]["geometry"]["coordinates"]
    lon, lat = np.array(ring).T
    d = geo.great_circle_distance_m(site.lat_deg, site.lon_deg, lat, lon)
    np.testing.assert_allclose(d, 150e3, rtol=1e-3)
    assert lost[1]["geometry"] is None and lost[1]["properties"]["state"] == "down"
    v.show(held_lost(("P2", weak)))
    outer, inner = json.loads(v.snapshot()[1])["lost"]["features"][0]["geometry"]["coordinates"]
    lon, lat = np.array(inner).T
    np.testing.assert_allclose(
        geo.great_circle_distance_m(site.lat_deg, site.lon_deg, lat, lon), 60e3, rtol=1e-3
    )
    v.show(held_lost())
    assert json.loads(v.snapshot()[1])["lost"]["features"] == []
