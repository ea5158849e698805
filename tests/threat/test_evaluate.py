"""Tests of mead.threat.evaluate: which tracks threaten which defended areas."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pytest
from threat_profiles import enu2state, kepler_arc

from mead import geo
from mead.errors import ThreatInputError
from mead.scenario.schema import Circle, DefendedArea
from mead.threat.base import track_number
from mead.threat.evaluate import (
    DEFAULT_RULES,
    AreaSet,
    Limits,
    ThreatRules,
    assess,
    polygon_distance_m,
)


def _circle(name, owner, lat, lon, r_km=10.0):
    return DefendedArea(
        name=name, owner=owner, circle=Circle(lat_deg=lat, lon_deg=lon, radius_km=r_km)
    )


def _square(name, owner, lat, lon, half_deg):
    poly = [
        (lat - half_deg, lon - half_deg),
        (lat - half_deg, lon + half_deg),
        (lat + half_deg, lon + half_deg),
        (lat + half_deg, lon - half_deg),
    ]
    return DefendedArea(name=name, owner=owner, polygon=poly)


def _flyer(lat, lon, alt, speed, heading_deg, sig_v=2.0):
    h = np.radians(heading_deg)
    x = enu2state(lat, lon, alt, [[speed * np.sin(h), speed * np.cos(h), 0.0]])
    return x, np.diag([100.0**2] * 3 + [sig_v**2] * 3)[None]


@pytest.fixture(scope="module")
def arc():
    return kepler_arc()


def _ballistic(arc, t_mid=400.0, sig_p=100.0, sig_v=2.0):
    sol, t_imp, p_imp = arc
    lat, lon, _ = geo.ecef2geodetic(p_imp)
    return (
        sol(t_mid)[None],
        np.diag([sig_p**2] * 3 + [sig_v**2] * 3)[None],
        t_imp - t_mid,
        (float(lat), float(lon)),
    )


def test_drone_heading_at_area_threatens_flying_away_does_not():
    areas = [_circle("Base", "P1", 31.5, 35.0)]
    xa, Pa = _flyer(31.0, 35.0, 1000.0, 51.0, 0.0)
    xb, Pb = _flyer(31.0, 35.0, 1000.0, 51.0, 180.0)
    x, P = np.concatenate([xa, xb]), np.concatenate([Pa, Pb])
    out = assess(100.0, ["7", "8"], x, P, ["drone", "drone"], areas)
    assert [(th.track_id, th.area, th.owner) for th in out] == [("7", "Base", "P1")]
    th = out[0]
    dist = geo.great_circle_distance_m(31.0, 35.0, 31.5, 35.0)
    assert th.tgo_s == pytest.approx(dist / 51.0, rel=0.01)
    assert th.t_impact == pytest.approx(100.0 + th.tgo_s)
    assert geo.great_circle_distance_m(th.impact_lat_deg, th.impact_lon_deg, 31.5, 35.0) < 200
    assert th.miss_m == 0.0 and th.threat_class == "drone" and th.system_track == 7
    assert (th.track_lat_deg, th.track_lon_deg) == pytest.approx((31.0, 35.0))
    assert th.track_alt_m == pytest.approx(1000.0, abs=1e-3)


def test_offset_path_threatens_only_within_radius_plus_margin():
    areas = [_circle("Base", "P1", 31.5, 35.0, r_km=10.0)]
    tracks = [_flyer(31.0, lon, 1000.0, 51.0, 0.0, sig_v=0.5) for lon in (35.08, 35.15)]
    x = np.concatenate([t[0] for t in tracks])
    P = np.concatenate([t[1] for t in tracks])
    out = assess(0.0, ["a", "b"], x, P, ["drone", "drone"], areas)
    assert [th.track_id for th in out] == ["a"]  # 7.6 km off: inside; 14 km off: outside
    assert out[0].impact_radius_m < 4000.0


@pytest.mark.parametrize(
    ("cls", "dist_km", "threatened"),
    [
        ("drone", 150.0, True),
        ("drone", 250.0, False),
        ("cruise", 400.0, True),
        ("cruise", 500.0, False),
    ],
)
def test_class_horizons(cls, dist_km, threatened):
    """Drones are followed for 1 h (184 km at 51 m/s), cruise missiles for 30 min (450 km)."""
    lat = 31.0 - dist_km / 111.2
    speed = 51.0 if cls == "drone" else 250.0
    x, P = _flyer(lat, 35.0, 500.0, speed, 0.0, sig_v=0.2)
    out = assess(0.0, ["1"], x, P, [cls], [_circle("Base", "P1", 31.0, 35.0)])
    assert bool(out) == threatened


def test_ballistic_warns_only_the_targeted_owner(arc):
    x, P, tgo, (lat, lon) = _ballistic(arc)
    areas = [_circle("Target", "P3", lat, lon + 0.03, 8.0), _circle("Other", "P2", lat + 1.0, lon)]
    out = assess(1000.0, ["42"], x, P, ["ballistic"], areas)
    assert [(th.area, th.owner) for th in out] == [("Target", "P3")]
    th = out[0]
    assert th.tgo_s == pytest.approx(tgo, abs=10.0)  # default drag vs the drag-free arc
    assert th.t_impact == pytest.approx(1000.0 + th.tgo_s)
    assert geo.great_circle_distance_m(lat, lon, th.impact_lat_deg, th.impact_lon_deg) < 2000
    assert 0 < th.impact_radius_m < 20_000
    vac = assess(1000.0, ["42"], x, P, ["rocket"], areas, rules=ThreatRules(beta_kg_m2=None))[0]
    assert vac.tgo_s == pytest.approx(tgo, abs=0.1)
    assert geo.great_circle_distance_m(lat, lon, vac.impact_lat_deg, vac.impact_lon_deg) < 50


def test_ballistic_near_miss_counts_the_impact_radius(arc):
    x, P, _, (lat, lon) = _ballistic(arc, sig_p=50.0, sig_v=1.0)
    off = 20_000.0 / (geo.R_MEAN_M * np.pi / 180)  # 20 km north of the impact
    area = [_circle("A", "P1", lat + off, lon, 15.0)]
    assert assess(0.0, ["1"], x, P, ["ballistic"], area) == []  # 5 km beyond the edge
    x, P, _, _ = _ballistic(arc, sig_p=2000.0, sig_v=30.0)  # wide impact area
    assert [th.area for th in assess(0.0, ["1"], x, P, ["ballistic"], area)] == ["A"]


def test_polygon_area(arc):
    x, P, _, (lat, lon) = _ballistic(arc, sig_p=50.0, sig_v=1.0)
    inside = _square("Box", "P3", lat + 0.02, lon - 0.02, 0.05)
    outside = _square("Far", "P4", lat, lon + 0.4, 0.05)
    out = assess(0.0, ["1"], x, P, ["ballistic"], [outside, inside])
    assert [(th.area, th.owner, th.miss_m) for th in out] == [("Box", "P3", 0.0)]
    # cruise/drone paths use the polygon's bounding circle
    xd, Pd = _flyer(lat - 1.0, lon, 500.0, 51.0, 0.0, sig_v=0.5)
    assert [th.area for th in assess(0.0, ["d"], xd, Pd, ["drone"], [outside, inside])] == ["Box"]


def test_polygon_distance_reference_values():
    poly = np.array([[30.0, 35.0], [30.0, 35.2], [30.2, 35.2], [30.2, 35.0]])
    lat = np.array([30.1, 30.1, 30.3, 30.1])
    lon = np.array([35.1, 35.3, 35.1, 35.201])
    d = polygon_distance_m(lat, lon, poly)
    m_deg = geo.R_MEAN_M * np.pi / 180
    np.testing.assert_allclose(
        d,
        [
            0.0,
            0.1 * m_deg * np.cos(np.radians(30.1)),
            0.1 * m_deg,
            0.001 * m_deg * np.cos(np.radians(30.1)),
        ],
        rtol=1e-3,
    )
    aset = AreaSet.from_areas([DefendedArea(name="P", owner="X", polygon=poly.tolist())])
    assert aset.lat_deg[0] == pytest.approx(30.1) and aset.lon_deg[0] == pytest.approx(35.1)
    assert aset.radius_m[0] == pytest.approx(
        geo.great_circle_distance_m(30.1, 35.1, 30.0, 35.0), rel=1e-9
    )


def test_aircraft_and_unknown_never_threaten(arc):
    areas = [_circle("Base", "P1", 31.5, 35.0)]
    xd, Pd = _flyer(31.4, 35.0, 1000.0, 51.0, 0.0)
    xb, Pb, _, (lat, lon) = _ballistic(arc)
    x, P = np.concatenate([xd, xb]), np.concatenate([Pd, Pb])
    areas.append(_circle("Impact", "P2", lat, lon))
    for cls in ("aircraft", "unknown"):
        assert assess(0.0, ["1", "2"], x, P, [cls, cls], areas) == []
    codes = np.array([3, 0])  # drone, ballistic as int codes
    assert {th.area for th in assess(0.0, ["1", "2"], x, P, codes, areas)} == {"Base", "Impact"}


def test_batched_equals_looped(arc):
    rng = np.random.default_rng(5)
    areas = [
        _circle(f"A{i}", f"P{i % 3}", 31 + rng.uniform(-1, 1), 35 + rng.uniform(-1, 1), 20)
        for i in range(8)
    ]
    sol, _, _ = arc
    xs, Ps, cls = [], [], []
    n = 30
    for i in range(n):
        if i % 3 == 0:
            xs.append(sol(rng.uniform(100, 550))[None])
            Ps.append(np.diag([300.0**2] * 3 + [20.0**2] * 3)[None])
            cls.append("ballistic")
        else:
            xi, Pi = _flyer(
                31 + rng.uniform(-1.5, 1.5),
                35 + rng.uniform(-1.5, 1.5),
                500.0,
                51.0 if i % 3 == 1 else 250.0,
                rng.uniform(0, 360),
                sig_v=3.0,
            )
            xs.append(xi)
            Ps.append(Pi)
            cls.append("drone" if i % 3 == 1 else "cruise")
    x, P = np.concatenate(xs), np.concatenate(Ps)
    ids = [str(i) for i in range(n)]
    batched = assess(5.0, ids, x, P, cls, areas)
    looped = [
        th
        for i in range(n)
        for th in assess(5.0, ids[i : i + 1], x[i : i + 1], P[i : i + 1], cls[i : i + 1], areas)
    ]
    assert len({th.track_id for th in batched}) > 5
    assert [(a.track_id, a.area) for a in batched] == [(b.track_id, b.area) for b in looped]
    for a, b in zip(batched, looped, strict=True):
        assert a.impact_lat_deg == pytest.approx(b.impact_lat_deg, abs=1e-9)
        assert a.tgo_s == pytest.approx(b.tgo_s, abs=1e-6)


def test_track_number():
    assert track_number("17") == 17
    assert track_number("P1-T000042") == 42
    assert track_number("alpha") == zlib.crc32(b"alpha")


def test_bad_input_and_empty():
    areas = [_circle("Base", "P1", 31.5, 35.0)]
    x, P = _flyer(31.0, 35.0, 1000.0, 51.0, 0.0)
    with pytest.raises(ThreatInputError, match="unknown track class 'uav'"):
        assess(0.0, ["1"], x, P, ["uav"], areas)
    with pytest.raises(ThreatInputError, match="classes has 2 entries"):
        assess(0.0, ["1"], x, P, ["drone", "drone"], areas)
    with pytest.raises(ThreatInputError, match="class codes"):
        assess(0.0, ["1"], x, P, np.array([9]), areas)
    with pytest.raises(ThreatInputError, match=r"P must be \(N, 6, 6\)"):
        assess(0.0, ["1"], x, P[:, :3, :3], ["drone"], areas)
    assert assess(0.0, [], np.empty((0, 6)), np.empty((0, 6, 6)), [], areas) == []
    assert assess(0.0, ["1"], x, P, ["drone"], []) == []


def test_too_uncertain_tracks_threaten_nothing(arc):
    x, P, _, (lat, lon) = _ballistic(arc, t_mid=100.0, sig_p=5000.0, sig_v=400.0)
    area = [_circle("Impact", "P1", lat, lon, 10.0)]
    (th,) = assess(0.0, ["1"], x, P, ["ballistic"], area)  # impact area > 250 km:
    assert th.marginal  # can keep an open alert alive, never issue one
    (th,) = assess(
        0.0, ["1"], x, P, ["ballistic"], area, rules=ThreatRules(max_impact_radius_m=np.inf)
    )
    assert not th.marginal
    # a wobbly drone (course σ ≈ 17°) passing an area 150 km ahead: margin ≫ 50 km, capped
    xd, Pd = _flyer(30.0, 35.0, 1000.0, 51.0, 0.0, sig_v=15.0)
    off = [_circle("Off", "P1", 31.35, 35.75, 10.0)]  # path passes ~61 km off its edge
    assert [th for th in assess(0.0, ["d"], xd, Pd, ["drone"], off) if not th.marginal] == []
    (th,) = assess(0.0, ["d"], xd, Pd, ["drone"], off, rules=ThreatRules(max_margin_m=np.inf))
    assert th.impact_radius_m > 50_000.0


def test_marginal_pairs_between_threshold_and_stay_factor():
    """A path just outside radius + margin comes back marginal; farther out, not at all."""
    area = [_circle("Base", "P1", 31.5, 35.0, r_km=10.0)]
    km_per_deg = geo.R_MEAN_M * np.pi / 180 * np.cos(np.radians(31.0)) / 1e3
    out = {}
    for off_km in (5.0, 13.5, 20.0):  # path 5, 13.5, 20 km off the centre; margin ~2.7 km
        x, P = _flyer(31.0, 35.0 + off_km / km_per_deg, 1000.0, 51.0, 0.0, sig_v=1.0)
        out[off_km] = [th.marginal for th in assess(0.0, ["d"], x, P, ["drone"], area)]
    assert out == {5.0: [False], 13.5: [True], 20.0: []}
    x, P = _flyer(31.0, 35.0 + 13.5 / km_per_deg, 1000.0, 51.0, 0.0, sig_v=1.0)
    assert assess(0.0, ["d"], x, P, ["drone"], area, rules=ThreatRules(stay_factor=1.0)) == []


def test_implausible_class_kinematics_threaten_nothing(arc):
    """Class labels inherited through fusion: a 'drone' at airliner altitude and speed, a
    'ballistic' flying like an airliner, a 'cruise' at 18 km — none warns anyone."""
    area = [_circle("Base", "P1", 31.5, 35.0, r_km=30.0)]
    airliner_x, airliner_P = _flyer(31.0, 35.0, 10_700.0, 230.0, 0.0)
    high_x, high_P = _flyer(31.0, 35.0, 18_000.0, 250.0, 0.0)
    slow_drone_x, slow_drone_P = _flyer(31.0, 35.0, 1_000.0, 51.0, 0.0)
    x = np.concatenate([airliner_x, airliner_x, high_x, slow_drone_x])
    P = np.concatenate([airliner_P, airliner_P, high_P, slow_drone_P])
    out = assess(0.0, ["a", "b", "c", "d"], x, P, ["drone", "ballistic", "cruise", "drone"], area)
    assert {th.track_id for th in out} == {"d"}
    xb, Pb, _, (lat, lon) = _ballistic(arc, t_mid=560.0)  # low and fast: plausible
    assert assess(0.0, ["b"], xb, Pb, ["ballistic"], [_circle("I", "P1", lat, lon)])
    # 'ballistic' at 5 km/s flying level 1 km up (a false track along a drone stream) 30 km
    # short of the area it heads for: impossible, warns nobody (it would, were it diving)
    near = [_circle("Near", "P1", 31.4, 35.0, r_km=30.0)]
    hop_x, hop_P = _flyer(31.0, 35.0, 1_000.0, 5_000.0, 0.0)
    assert not assess(0.0, ["h"], hop_x, hop_P, ["ballistic"], near)
    lax = replace(DEFAULT_RULES, limits=Limits(fast_level_max_alt_m=0.0))
    assert assess(0.0, ["h"], hop_x, hop_P, ["ballistic"], near, rules=lax)


def test_area_probability_matches_the_rayleigh_law() -> None:
    """An isotropic Gaussian impact (σ) centred on a circular area of radius r: the share
    inside is 1 − exp(−r²/2σ²); offset by 3σ + r it is ~0; a polygon agrees with a circle."""
    from mead.threat.evaluate import area_probability

    sigma = 2_000.0
    circle = [_circle("C", "P1", 32.0, 35.0, 2.0)]  # r = 2 km = 1 σ
    aset = AreaSet.from_areas(circle)
    C = np.diag([sigma**2, sigma**2])[None]
    p = area_probability(np.array([32.0]), np.array([35.0]), C, aset, np.array([0]))
    assert p[0] == pytest.approx(1.0 - np.exp(-0.5), abs=0.04)
    far = area_probability(np.array([32.1]), np.array([35.0]), C, aset, np.array([0]))
    assert far[0] < 0.01  # 11 km away: 4.5 σ beyond the edge
    square = [DefendedArea(name="S", owner="P1", polygon=[
        [31.99, 34.99], [31.99, 35.01], [32.01, 35.01], [32.01, 34.99]])]  # fmt: skip
    ps = area_probability(
        np.array([32.0]), np.array([35.0]), C, AreaSet.from_areas(square), np.array([0])
    )
    assert 0.0 < ps[0] < 1.0


def test_drone_alert_level_follows_the_probability_of_reaching_the_area():
    """Close in and dead on: an area alert; far out, where a turn still to come decides the
    area, or passing beside it: a pre-alert only."""
    areas = [_circle("Base", "P1", 31.5, 35.0, r_km=10.0)]
    near = _flyer(31.2, 35.0, 1000.0, 51.0, 0.0, sig_v=0.5)  # 33 km out, heading at it
    far = _flyer(29.8, 35.0, 1000.0, 51.0, 0.0, sig_v=0.5)  # 190 km out, heading at it
    beside = _flyer(31.2, 35.137, 1000.0, 51.0, 0.0, sig_v=3.0)  # passes 13 km off centre
    x = np.concatenate([near[0], far[0], beside[0]])
    P = np.concatenate([near[1], far[1], beside[1]])
    out = {th.track_id: th for th in assess(0.0, ["1", "2", "3"], x, P, ["drone"] * 3, areas)}
    assert out["1"].level == "alert" and out["1"].p_area > 0.9
    assert out["2"].level == "pre" and out["2"].p_area < 0.5
    assert out["3"].level == "pre" and out["3"].p_area < out["1"].p_area
    straight = ThreatRules(route_q=0.0)  # no turns to come: the far track is an alert too
    far_only = assess(0.0, ["2"], far[0], far[1], ["drone"], areas, rules=straight)
    assert far_only[0].level == "alert" and far_only[0].p_area > 0.9


def test_reach_probability_reference_values():
    from mead.threat.evaluate import reach_probability

    # no route term: the Gaussian mass within ±R of an offset of 0 and of R
    p = reach_probability(
        np.array([0.0, 10e3]), np.array([10e3, 10e3]), np.array([5e3, 5e3]), np.zeros(2), 0.0
    )
    assert p == pytest.approx([0.9545, 0.5], abs=1e-3)
    # the route term: 1-σ of 10 km after 100 km at q = 3e-7
    p = reach_probability(np.array([0.0]), np.array([10e3]), np.array([0.0]), [1e5], 3e-7)
    assert p == pytest.approx([0.6827], abs=5e-3)
