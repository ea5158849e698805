"""Alert precision: on target, over an area the object then flew through, or wrong."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.events import AlertReceived
from mead.metrics.warning import Overflights, alert_counts
from mead.scenario.schema import Circle, DefendedArea
from mead.sim.base import TruthTable
from mead.threat.evaluate import AreaSet

EPOCH = 1_700_000_000.0
DT = 10.0


def _drone_truth(kind: str = "drone") -> TruthTable:
    """One object flying east along 33° N from 34.0° E to 36.0° E at ~50 m/s, aimed at B."""
    lon = np.linspace(34.0, 36.0, 374)
    p = geo.geodetic2ecef(np.full(lon.size, 33.0), lon, np.full(lon.size, 500.0))
    v = np.gradient(p, DT, axis=0)
    return TruthTable(
        ids=["obj-1"],
        kind=np.array([kind]),
        raid=["r"],
        rcs_m2=np.array([0.1]),
        t_start=np.array([0.0]),
        t_end=np.array([DT * (lon.size - 1)]),
        target_area=["B"],
        impact_ecef=p[-1:],
        dt=np.array([DT]),
        offset=np.array([0]),
        count=np.array([lon.size]),
        samples=np.concatenate([p, v], axis=1),
    )


def _circle(name: str, lat: float, lon: float) -> DefendedArea:
    return DefendedArea(
        name=name, owner="P1", circle=Circle(lat_deg=lat, lon_deg=lon, radius_km=10.0)
    )


AREAS = [
    _circle("A", 33.0, 35.0),  # on the path, halfway
    _circle("B", 33.0, 36.0),  # the target
    _circle("C", 34.0, 35.0),  # 110 km north of the path
]


def _alert(node: str, area: str, t: float, level: str = "alert") -> AlertReceived:
    return AlertReceived(
        alert_id=f"C0-1-{area}-{node}",
        state="issued",
        t=EPOCH + t,
        recipient=node,
        area=area,
        system_track=1,
        threat_class="drone",
        impact_lat_deg=33.0,
        impact_lon_deg=36.0,
        impact_radius_m=1e3,
        t_impact=EPOCH + 3730.0,
        tgo_s=3730.0 - t,
        level=level,  # type: ignore[arg-type]
        node=node,
        t_recv=EPOCH + t,
        via="C0",
        truth="obj-1",
    )


def _polygon_areas() -> list[DefendedArea]:
    square = ((32.95, 35.45), (32.95, 35.55), (33.05, 35.55), (33.05, 35.45))
    return [*AREAS, DefendedArea(name="D", owner="P2", polygon=square)]


def test_an_alert_over_an_area_the_drone_then_flies_through_counts_on_path_not_on_target():
    truth = _drone_truth()
    over = Overflights.of(truth, AreaSet.from_areas(_polygon_areas()))
    events = [
        _alert("P1", "B", 100.0),  # the target
        _alert("P1", "A", 100.0),  # crossed later (about t = 1,860 s)
        _alert("P3", "A", 3000.0),  # issued after the drone had left A: wrong
        _alert("P2", "C", 100.0),  # never reached
        _alert("P2", "D", 100.0),  # a polygon crossed later (about t = 2,790 s)
        _alert("P2", "C", 50.0, level="pre"),  # a pre-alert: not an area alert
    ]
    n = alert_counts(truth, events, over, EPOCH)["drone"]
    assert (n.issued, n.on_target, n.overflown, n.pre) == (5, 1, 2, 1)
    assert n.precision == pytest.approx(1 / 5)
    assert n.path_precision == pytest.approx(3 / 5)
    # without the truth's paths, only the target counts
    plain = alert_counts(truth, events)["drone"]
    assert (plain.on_target, plain.overflown, plain.path_precision) == (1, 0, 1 / 5)


def test_a_ballistic_missile_overflies_nothing():
    truth = _drone_truth(kind="ballistic")
    over = Overflights.of(truth, AreaSet.from_areas(AREAS))
    assert not np.isfinite(over.last_inside_s).any()
    assert not over.crossed(0, "A", 0.0) and not over.crossed(0, "nowhere", 0.0)
