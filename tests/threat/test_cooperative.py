"""Cooperative identification on constructed tracks: civil, none, spoofed, impossible claims."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.scenario.schema import Circle, DefendedArea
from mead.sensors.adsb import AdsbReports, empty_reports
from mead.threat.assessor import Assessor
from mead.threat.cooperative import (
    CIVIL,
    NONE,
    SUSPECT,
    CooperativeId,
    associate,
    position_d2,
    velocity_d2,
)


def _state(lat: float, lon: float, alt: float, east_mps: float, up_mps: float = 0.0) -> np.ndarray:
    """ECEF state (6,) of an object moving east (and up) at the given speed."""
    rot = geo.enu_rotation(lat, lon)
    return np.concatenate([geo.geodetic2ecef(lat, lon, alt), rot.T @ [east_mps, 0.0, up_mps]])


def _cov(n: int, sp: float = 150.0, sv: float = 20.0) -> np.ndarray:
    return np.broadcast_to(np.diag([sp**2] * 3 + [sv**2] * 3), (n, 6, 6)).copy()


def _reports(t: float, x: np.ndarray, icao: list[int], offset_m: float = 0.0) -> AdsbReports:
    """ADS-B reports at time t of the aircraft x (K, 6), positions moved offset_m north."""
    k = len(x)
    pos = x[:, :3].copy()
    if offset_m:
        lat, lon, _ = geo.ecef2geodetic(pos)
        rot = geo.enu_rotations(lat, lon)
        pos += np.einsum("kji,j->ki", rot, [0.0, offset_m, 0.0])
    return AdsbReports(
        ("P1",),
        np.full(k, t),
        np.zeros(k, np.int16),
        np.array(icao, np.uint32),
        np.array([f"RJA{i}" for i in range(k)], "<U8"),
        pos,
        x[:, 3:].copy(),
        np.full(k, 30.0),
        np.full(k, 15.0),
        np.full(k, 2.0),
        np.arange(k),
    )


A = _state(56.9, 24.0, 600.0, 200.0, 12.0)  # an airliner climbing out
B = _state(57.5, 25.0, 10_000.0, 230.0)
C = _state(56.0, 23.0, 8_000.0, -220.0)


def test_radar_track_near_adsb_becomes_civil_after_two_correlations() -> None:
    cid = CooperativeId()
    x, P = A[None] + [80.0, -50.0, 40.0, 5.0, -3.0, 2.0], _cov(1)
    first = cid.step(0.0, ["T1"], x, P, _reports(0.0, A[None], [0xABCDEF]))
    assert first.ident.tolist() == [NONE]  # tentative
    second = cid.step(5.0, ["T1"], x, P, _reports(4.0, A[None], [0xABCDEF]))
    assert second.ident.tolist() == [CIVIL]
    assert second.icao.tolist() == [0xABCDEF] and second.callsign.tolist() == ["RJA0"]
    assert second.whitelisted.tolist() == [True]
    assert 0.0 <= second.distance[0] < 3.0


def test_track_far_from_every_report_has_no_identity() -> None:
    cid = CooperativeId()
    far = A[None] + [20_000.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    for t in (0.0, 5.0, 10.0):
        out = cid.step(t, ["T1"], far, _cov(1), _reports(t, A[None], [0x123456]))
    assert out.ident.tolist() == [NONE] and out.icao.tolist() == [0]
    assert np.isnan(out.distance[0])
    assert out.unclaimed_icao.tolist() == [0x123456]


def test_spoofed_position_of_a_known_identity_is_suspect() -> None:
    cid = CooperativeId()
    x, P = A[None], _cov(1)
    for t in (0.0, 5.0):
        assert cid.step(t, ["T1"], x, P, _reports(t, A[None], [0x0BEEF1])).ident[0] in (
            NONE,
            CIVIL,
        )
    out = cid.step(10.0, ["T1"], x, P, _reports(10.0, A[None], [0x0BEEF1], offset_m=5_000.0))
    assert out.ident.tolist() == [SUSPECT]
    assert out.icao.tolist() == [0x0BEEF1]
    assert out.distance[0] > np.sqrt(cid.gate)
    assert not out.whitelisted[0]
    # the latch holds even when the spoofer falls silent
    assert cid.step(15.0, ["T1"], x, P, empty_reports()).ident.tolist() == [SUSPECT]


def test_adsb_claim_on_a_missile_fast_track_is_suspect() -> None:
    missile = _state(56.9, 24.0, 20_000.0, 1_500.0, -600.0)
    cid = CooperativeId()
    out = cid.step(0.0, ["M1"], missile[None], _cov(1), _reports(0.0, missile[None], [0x00C0DE]))
    assert out.ident.tolist() == [SUSPECT] and out.icao.tolist() == [0x00C0DE]
    fast_cruise = _state(56.9, 24.0, 100.0, 250.0)  # fast and low, but an aircraft could be
    out = CooperativeId().step(
        0.0, ["C1"], fast_cruise[None], _cov(1), _reports(0.0, fast_cruise[None], [7])
    )
    assert out.ident.tolist() == [NONE]


def test_identity_is_lost_after_hold_without_adsb_and_forget_clears_it() -> None:
    cid = CooperativeId(hold_s=30.0)
    x, P = A[None], _cov(1)
    for t in (0.0, 5.0):
        cid.step(t, ["T1"], x, P, _reports(t, A[None], [9]))
    assert cid.step(20.0, ["T1"], x, P, empty_reports()).ident.tolist() == [CIVIL]
    assert cid.step(40.0, ["T1"], x, P, empty_reports()).ident.tolist() == [NONE]
    for t in (50.0, 55.0):
        cid.step(t, ["T1"], x, P, _reports(t, A[None], [9]))
    cid.forget(["T1"])
    out = cid.step(60.0, ["T1"], x, P, _reports(60.0, A[None], [9]))
    assert out.ident.tolist() == [NONE]  # starts over: tentative


def test_batched_equals_looped() -> None:
    truth = np.stack([A, B, C])
    rng = np.random.default_rng(5)
    x = truth + rng.normal(0.0, [60.0] * 3 + [4.0] * 3, (3, 6))
    P = _cov(3)
    rep = _reports(3.0, truth, [11, 22, 33])
    R = rep.position_cov()
    d2 = position_d2(x, P, rep.ecef, R)
    for i in range(3):
        for j in range(3):
            one = position_d2(x[i : i + 1], P[i : i + 1], rep.ecef[j : j + 1], R[j : j + 1])
            assert d2[i, j] == pytest.approx(one[0, 0], rel=1e-9)
    batch, looped = CooperativeId(), [CooperativeId() for _ in range(3)]
    for t in (5.0, 10.0):
        rep = _reports(t, truth, [11, 22, 33])
        out = batch.step(t, ["a", "b", "c"], x, P, rep)
        singles = [
            looped[i].step(t, ["abc"[i]], x[i : i + 1], P[i : i + 1], rep) for i in range(3)
        ]
        assert out.ident.tolist() == [s.ident[0] for s in singles]
        assert out.icao.tolist() == [int(s.icao[0]) for s in singles]
        np.testing.assert_allclose(out.distance, [s.distance[0] for s in singles])
    assert out.ident.tolist() == [CIVIL] * 3 and out.icao.tolist() == [11, 22, 33]


def test_assignment_is_one_to_one_and_gated() -> None:
    d2p = np.array([[1.0, 2.0], [1.5, 50.0], [99.0, 99.0]])
    d2v = np.zeros_like(d2p)
    assert associate(d2p, d2v, gate=20.0).tolist() == [1, 0, -1]
    assert associate(np.empty((2, 0)), np.empty((2, 0)), 20.0).tolist() == [-1, -1]
    vel = velocity_d2(A[None], _cov(1), A[None, 3:] + 100.0, np.eye(3)[None] * 4.0)
    assert vel[0, 0] > 20.0


@pytest.mark.parametrize(
    ("ids", "x", "P", "name"),
    [
        (["a"], np.zeros(6), _cov(1), "x must be (N, 6)"),
        (["a"], np.zeros((1, 3)), _cov(1), "x must be (N, 6)"),
        (["a"], A[None], np.zeros((1, 3, 3)), "P must be (N, 6, 6)"),
        (["a", "b"], A[None], _cov(1), "ids must have one track id"),
        (["a"], np.full((1, 6), np.nan), _cov(1), "x and P must be finite"),
    ],
)
def test_bad_input_names_the_argument(ids, x, P, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=name.replace("(", r"\(").replace(")", r"\)")):
        CooperativeId().step(0.0, ids, x, P, empty_reports())


def test_reports_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError, match="reports must be AdsbReports"):
        CooperativeId().step(0.0, ["a"], A[None], _cov(1), [])  # type: ignore[arg-type]


def test_identified_airliner_keeps_its_class_when_adsb_stops() -> None:
    """A track born on a drone that swaps onto a departing airliner (seed 9 of the reference
    raid): once ADS-B identifies it, the drone evidence is void, so when the aircraft later
    flies out of ADS-B reception the track stays aircraft and its area is not alerted."""
    area = DefendedArea(
        name="North", owner="P1", circle=Circle(lat_deg=33.0, lon_deg=35.0, radius_km=10)
    )
    assessor = Assessor.for_areas("P1", [area])
    origin = (32.6, 35.0, 0.0)  # 44 km south of the area

    def state(t: float) -> np.ndarray:
        if t < 300.0:  # a drone crossing east, 10 km south of the origin
            e = np.array([-20_000.0 + 50.0 * t, -10_000.0, 1_000.0, 50.0, 0.0, 0.0])
        else:  # the airliner heading north for the area, descending to land
            dt = t - 300.0
            e = np.array([0.0, -5_000.0 + 130.0 * dt, 3_000.0 - 5.0 * dt, 0.0, 130.0, -5.0])
        rot = geo.enu_rotation(origin[0], origin[1])
        return np.concatenate([geo.enu2ecef(e[None, :3], *origin)[0], rot.T @ e[3:]])

    P = _cov(1, sp=150.0, sv=5.0)
    seen: dict[str, list[str]] = {"drone": [], "adsb": [], "silent": []}
    alerts = []
    for t in np.arange(0.0, 600.0, 5.0):
        x = state(t)[None]
        phase = "drone" if t < 300.0 else "adsb" if t < 400.0 else "silent"
        adsb = _reports(t, x, [0x4CA2B1]) if phase == "adsb" else empty_reports()
        a = assessor.step(t, ["T1"], x, P, adsb=adsb)
        seen[phase].append(a.classes[0])
        alerts += [al for al in a.alerts if t >= 400.0]
    assert seen["drone"][-1] == "drone"  # the drone was declared
    assert set(seen["adsb"][2:]) == {"aircraft"}
    assert set(seen["silent"]) == {"aircraft"}
    assert alerts == []
