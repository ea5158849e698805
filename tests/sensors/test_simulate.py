"""Tests of the scan driver: timing, phases, ordering, determinism, labels and errors."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np
import pytest

from mead import geo
from mead.errors import ConfigError
from mead.scenario.loader import decode_yaml
from mead.scenario.schema import Partner, Point, Scenario, Sensor
from mead.sensors.simulate import scan_times, simulate_scans

from ._fakes import point_at, straight_truth

LAT, LON = 32.0, 35.0


def sensor(sid: str, scan_s: float, lat: float = LAT, lon: float = LON, **kw: object) -> Sensor:
    return Sensor(id=sid, site=Point(lat_deg=lat, lon_deg=lon, alt_m=20.0), scan_s=scan_s, **kw)  # type: ignore[arg-type]


def scenario(duration_s: float = 120.0, extra: list[Sensor] | None = None) -> Scenario:
    return Scenario(
        name="s",
        duration_s=duration_s,
        partners=[
            Partner(name="P2", sensors=[sensor("B", 5.0), sensor("A", 12.0, lat=32.5)]),
            Partner(name="P1", sensors=[sensor("C", 4.0, lon=35.5), *(extra or [])]),
        ],
    )


def truth(n: int = 40, seed: int = 0):
    """Aircraft flying straight at 8 km near the radars, some born and dying mid-run."""
    rng = np.random.default_rng(seed)
    p0 = point_at(LAT, LON, rng.uniform(0, 360, n), rng.uniform(10e3, 150e3, n), 8e3)
    v = rng.normal(0.0, 150.0, (n, 3))
    return straight_truth(
        p0, v, rng.uniform(1.0, 30.0, n), rng.uniform(0, 60, n), rng.uniform(60, 200, n), dt=4.0
    )


def test_scan_times() -> None:
    t = scan_times(20.0, 4.0, 1.5)
    np.testing.assert_allclose(t, [1.5, 5.5, 9.5, 13.5, 17.5])
    assert scan_times(20.0, 4.0, 0.0).tolist() == [0.0, 4.0, 8.0, 12.0, 16.0]
    assert scan_times(1.0, 4.0, 2.0).size == 0
    t = scan_times(36_000.0, 7.3, 0.25)
    assert t[-1] < 36_000.0 <= t[-1] + 7.3
    np.testing.assert_allclose(np.diff(t), 7.3, rtol=1e-12)
    with pytest.raises(ValueError, match="phase_s must be in"):
        scan_times(20.0, 4.0, 4.0)


def test_order_phase_and_period() -> None:
    sc = scenario()
    scans = simulate_scans(sc, truth(), np.random.default_rng(1))
    keys = [(s.t, s.sensor_id) for s in scans]
    assert keys == sorted(keys)
    assert all(0.0 <= s.t < sc.duration_s for s in scans)
    partner = {"A": "P2", "B": "P2", "C": "P1"}
    assert all(s.partner == partner[s.sensor_id] for s in scans)
    phases = {}
    for sid, period in [("A", 12.0), ("B", 5.0), ("C", 4.0)]:
        t = np.array([s.t for s in scans if s.sensor_id == sid])
        assert 0.0 <= t[0] < period
        np.testing.assert_allclose(np.diff(t), period)
        assert t[-1] + period >= sc.duration_s
        phases[sid] = t[0]
    assert len(set(phases.values())) == 3  # drawn, not all zero


def test_phases_are_uniform() -> None:
    firsts = [
        min(
            s.t
            for s in simulate_scans(scenario(20.0), truth(2), np.random.default_rng(seed))
            if s.sensor_id == "B"
        )
        / 5.0
        for seed in range(200)
    ]
    assert 0.0 <= min(firsts) and max(firsts) < 1.0
    assert abs(np.mean(firsts) - 0.5) < 4.5 * np.sqrt(1 / 12 / 200)


def test_deterministic_for_a_seed() -> None:
    sc, tt = scenario(), truth()
    a = simulate_scans(sc, tt, np.random.default_rng(7))
    b = simulate_scans(sc, tt, np.random.default_rng(7))
    c = simulate_scans(sc, tt, np.random.default_rng(8))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.t, x.sensor_id) == (y.t, y.sensor_id)
        assert np.array_equal(x.z, y.z) and np.array_equal(x.truth, y.truth)
    assert [s.t for s in a] != [s.t for s in c]


def test_radars_on_several_processes_give_the_same_scans() -> None:
    tt = truth()
    sc = scenario(extra=[sensor("D", 6.0, lat=31.8, latency_s=1.0, latency_jitter_s=3.0)])
    one = simulate_scans(sc, tt, np.random.default_rng(7))
    two = simulate_scans(sc, tt, np.random.default_rng(7), jobs=3)
    assert len(one) == len(two) > 50
    for x, y in zip(one, two, strict=True):
        assert (x.t, x.sensor_id, x.delay_s) == (y.t, y.sensor_id, y.delay_s)
        assert np.array_equal(x.z, y.z) and np.array_equal(x.truth, y.truth)


def test_one_partners_radars_alone_give_the_same_scans() -> None:
    """A live partner node simulates only its own radars: the scans it would have had."""
    tt = truth()
    sc = scenario(extra=[sensor("D", 6.0, lat=31.8, latency_s=1.0, latency_jitter_s=3.0)])
    every = simulate_scans(sc, tt, np.random.default_rng(5))
    for partner, ids in (("P1", {"C", "D"}), ("P2", {"A", "B"})):
        mine = simulate_scans(sc, tt, np.random.default_rng(5), partner=partner, jobs=2)
        theirs = [s for s in every if s.partner == partner]
        assert {s.sensor_id for s in mine} == ids and len(mine) == len(theirs) > 20
        for x, y in zip(mine, theirs, strict=True):
            assert (x.t, x.sensor_id, x.delay_s) == (y.t, y.sensor_id, y.delay_s)
            assert np.array_equal(x.z, y.z) and np.array_equal(x.truth, y.truth)
    assert simulate_scans(sc, tt, np.random.default_rng(5), partner="P9") == []


def test_adding_a_radar_leaves_the_others_unchanged() -> None:
    tt = truth()
    a = simulate_scans(scenario(), tt, np.random.default_rng(3))
    b = simulate_scans(scenario(extra=[sensor("D", 6.0)]), tt, np.random.default_rng(3))
    b = [s for s in b if s.sensor_id != "D"]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.t == y.t and np.array_equal(x.z, y.z) and np.array_equal(x.truth, y.truth)


def test_plots_come_from_live_objects_near_their_truth() -> None:
    tt = truth()
    scans = simulate_scans(scenario(), tt, np.random.default_rng(4))
    n_tgt = 0
    for s in scans:
        live, X = tt.states_at(s.t)
        det = s.truth >= 0
        assert np.isin(s.truth[det], live).all()
        back = geo.enu2ecef(geo.rae2enu(s.z[det]), s.site_lat_deg, s.site_lon_deg, s.site_alt_m)
        pos = X[np.searchsorted(live, s.truth[det]), :3]
        r = s.z[det, 0]
        bound = 5 * np.sqrt(s.sigma[0] ** 2 + (r * s.sigma[1]) ** 2 + (r * s.sigma[2]) ** 2)
        assert np.all(np.linalg.norm(back - pos, axis=1) < bound)
        n_tgt += int(det.sum())
    assert n_tgt > 100


def test_no_radars_and_bad_truth() -> None:
    empty = Scenario(name="e", partners=[Partner(name="P1")])
    assert simulate_scans(empty, truth(), np.random.default_rng(0)) == []
    bad = dataclasses.replace(truth(5), rcs_m2=np.ones(4))
    with pytest.raises(ValueError, match=r"truth\.rcs_m2 must be \(5,\)"):
        simulate_scans(scenario(), bad, np.random.default_rng(0))


def test_latency_delays_arrival_and_leaves_the_plots_unchanged() -> None:
    base = scenario()
    slow = msgspec.structs.replace(
        base,
        partners=[
            Partner(
                name="P2",
                sensors=[
                    sensor("B", 5.0, latency_s=1.0, latency_jitter_s=4.0),
                    sensor("A", 12.0, lat=32.5),
                ],
            ),
            base.partners[1],
        ],
    )
    tr = truth()
    plain = simulate_scans(base, tr, np.random.default_rng(3))
    late = simulate_scans(slow, tr, np.random.default_rng(3))
    arrival = [s.t_arrival for s in late]
    assert arrival == sorted(arrival)
    d = np.array([s.delay_s for s in late if s.sensor_id == "B"])
    assert d.min() >= 1.0 and d.max() < 5.0 and d.std() > 0.5
    assert all(s.delay_s == 0.0 for s in late if s.sensor_id != "B")
    assert any(a.t > b.t for a, b in zip(late, late[1:], strict=False))  # out of time order
    key = {(s.sensor_id, s.t): s for s in plain}
    assert len(key) == len(late)
    for s in late:
        np.testing.assert_array_equal(s.z, key[s.sensor_id, s.t].z)


def test_latency_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="latency_s"):
        decode_yaml(
            b"name: s\nduration_s: 10\npartners: [{name: P1, sensors: [{id: r, "
            b"site: {lat_deg: 1, lon_deg: 2}, latency_s: -1}]}]\n",
            Scenario,
        )
