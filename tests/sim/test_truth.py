"""A small scenario's truth: ids, timing, targets, civil flights, determinism, consistency."""

from __future__ import annotations

import numpy as np
import pytest

from mead.errors import ConfigError
from mead.geo import ecef2geodetic, great_circle_distance_m, point_in_polygon
from mead.scenario import Scenario, decode_yaml
from mead.sim.truth import simulate_truth, simulate_truth_with_aims

YAML = """
name: tiny
duration_s: 7200
partners:
  - name: P1
  - name: P2
defended_areas:
  - {name: CITY, owner: P1, circle: {lat_deg: 32.08, lon_deg: 34.78, radius_km: 10}}
  - {name: BASE, owner: P2, polygon: [[31.0, 34.7], [31.1, 34.75], [31.05, 34.9], [30.95, 34.85]]}
raids:
  - {name: mrbm, threat: ballistic, count: 3,
     launch: {lat_deg: 33.5, lon_deg: 47.0, radius_km: 50},
     targets: [CITY, BASE], first_launch_s: 600, spacing_s: 4}
  - {name: grad, threat: rocket, count: 2, launch: {lat_deg: 33.2, lon_deg: 35.3, radius_km: 5},
     targets: [CITY], first_launch_s: 100, spacing_s: 2}
  - {name: cm, threat: cruise, count: 2, launch: {lat_deg: 31.0, lon_deg: 40.0, radius_km: 20},
     targets: [BASE], via: [[30.0, 37.0]], params: {speed_mps: 240, altitude_m: 60}}
  - {name: uav, threat: drone, count: 3, launch: {lat_deg: 30.0, lon_deg: 37.0, radius_km: 20},
     targets: [CITY, BASE], spacing_s: 60, via: [[31.5, 35.8]]}
civil:
  flights: 40
  min_distance_km: 250
  airports:
    - {code: LLBG, lat_deg: 32.01, lon_deg: 34.88}
    - {code: OJAI, lat_deg: 31.72, lon_deg: 35.99}
    - {code: LCLK, lat_deg: 34.88, lon_deg: 33.63}
    - {code: HECA, lat_deg: 30.12, lon_deg: 31.41}
"""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return decode_yaml(YAML, Scenario)


@pytest.fixture(scope="module")
def truth(scenario):
    return simulate_truth_with_aims(scenario, np.random.default_rng(11))


def test_objects_are_named_timed_and_classified(truth) -> None:
    tab, _ = truth
    assert tab.ids[:10] == [
        "mrbm-000",
        "mrbm-001",
        "mrbm-002",
        "grad-000",
        "grad-001",
        "cm-000",
        "cm-001",
        "uav-000",
        "uav-001",
        "uav-002",
    ]
    assert tab.ids[10] == "civil-0000" and tab.ids[-1] == "civil-0039" and len(tab) == 50
    assert (
        list(tab.kind[:10]) == ["ballistic"] * 3 + ["rocket"] * 2 + ["cruise"] * 2 + ["drone"] * 3
    )
    assert set(tab.kind[10:]) == {"aircraft"} and tab.raid[10:] == ["civil"] * 40
    assert tab.target_area[:10] == [
        "CITY",
        "BASE",
        "CITY",
        "CITY",
        "CITY",
        "BASE",
        "BASE",
        "CITY",
        "BASE",
        "CITY",
    ]
    assert tab.target_area[10:] == [""] * 40
    np.testing.assert_allclose(tab.t_start[:10], [600, 604, 608, 100, 102, 0, 10, 0, 60, 120])
    np.testing.assert_allclose(tab.rcs_m2[:10], [0.5] * 3 + [0.05] * 2 + [0.1] * 5)
    np.testing.assert_allclose(tab.rcs_m2[10:], 30.0)
    np.testing.assert_allclose(tab.t_end, tab.t_start + tab.dt * (tab.count - 1), rtol=1e-12)
    np.testing.assert_array_equal(tab.offset, np.cumsum(tab.count) - tab.count)
    assert tab.samples.shape == (tab.count.sum(), 6)


def test_threats_land_on_aim_points_inside_their_target_areas(truth, scenario) -> None:
    tab, aims = truth
    miss = np.linalg.norm(tab.impact_ecef - aims, axis=1)
    assert np.all(miss[:10] < 1_000.0) and np.all(miss[5:] < 1e-3)
    lat, lon, h = ecef2geodetic(tab.impact_ecef)
    np.testing.assert_allclose(h, 0.0, atol=1e-3)
    last = tab.offset + tab.count - 1
    np.testing.assert_allclose(tab.samples[last, :3], tab.impact_ecef)
    areas = {a.name: a for a in scenario.defended_areas}
    for i in range(10):
        a = areas[tab.target_area[i]]
        if a.circle is not None:
            d = great_circle_distance_m(lat[i], lon[i], a.circle.lat_deg, a.circle.lon_deg)
            assert d < a.circle.radius_km * 1e3 + 1_000.0
        else:
            alat, alon, _ = ecef2geodetic(aims[i])
            assert point_in_polygon(alat, alon, np.asarray(a.polygon))[0]


def test_cruise_overrides_and_drone_defaults_apply(truth) -> None:
    tab, _ = truth
    for i, (alt, speed) in ((5, (60.0, 240.0)), (7, (1_000.0, 51.0))):
        x = tab.samples[tab.offset[i] : tab.offset[i] + tab.count[i]]
        _, _, h = ecef2geodetic(x[:, :3])
        assert h.max() == pytest.approx(alt, abs=1e-6)
        level = np.abs(h - alt) < 1e-3
        v = np.linalg.norm(x[level, 3:], axis=1)
        np.testing.assert_allclose(v, speed, rtol=4e-3)


def test_civil_flights_climb_cruise_at_their_level_and_land(truth, scenario) -> None:
    tab, aims = truth
    civ = scenario.civil
    airports = np.array([[a.lat_deg, a.lon_deg] for a in civ.airports])
    assert np.any(tab.t_start[10:] < 0) and np.all(tab.t_end[10:] > 0)
    assert np.all(tab.t_start[10:] < scenario.duration_s)
    for i in range(10, len(tab)):
        x = tab.samples[tab.offset[i] : tab.offset[i] + tab.count[i]]
        lat, lon, h = ecef2geodetic(x[:, :3])
        d0 = great_circle_distance_m(lat[0], lon[0], airports[:, 0], airports[:, 1])
        d1 = great_circle_distance_m(lat[-1], lon[-1], airports[:, 0], airports[:, 1])
        assert d0.min() < 1e-3 and d1.min() < 1e-3 and np.argmin(d0) != np.argmin(d1)
        assert d0[np.argmin(d1)] >= civ.min_distance_km * 1e3
        assert h[0] == pytest.approx(0.0, abs=1e-3) and h[-1] == pytest.approx(0.0, abs=1e-3)
        top = h.max()
        assert abs(top - civ.cruise_alt_m) <= 2 * 304.8 + 1e-3 or top < civ.cruise_alt_m
        k = int(np.argmax(h))
        assert np.all(np.diff(h[: k + 1]) >= -1e-6) and np.all(np.diff(h[k:]) <= 1e-6)
        assert np.linalg.norm(x[:, 3:], axis=1).max() < civ.cruise_speed_mps + 15.0
        np.testing.assert_allclose(x[-1, :3], aims[i], atol=1e-3)
    levels = np.array(
        [
            ecef2geodetic(tab.samples[tab.offset[i] : tab.offset[i] + tab.count[i], :3])[2].max()
            for i in range(10, len(tab))
        ]
    )
    assert np.isclose(levels, civ.cruise_alt_m, atol=1e-3).any()
    assert len(np.unique(np.round(levels))) > 3  # flight levels and short hops vary


def test_velocities_are_consistent_with_positions(truth) -> None:
    tab, _ = truth
    for i in range(len(tab)):
        x = tab.samples[tab.offset[i] : tab.offset[i] + tab.count[i]]
        fd = np.diff(x[:, :3], axis=0) / tab.dt[i]
        err = np.linalg.norm(fd - 0.5 * (x[1:, 3:] + x[:-1, 3:]), axis=1)
        jump = np.linalg.norm(np.diff(x[:, 3:], axis=0), axis=1)
        speed = np.linalg.norm(x[1:, 3:], axis=1)
        assert np.all(err <= 0.5 * jump + 1e-3 * speed + 1e-3), tab.ids[i]


def test_states_at_follows_the_samples(truth) -> None:
    tab, _ = truth
    alive, x = tab.states_at(650.0)
    assert {0, 1, 2} <= set(alive) and 3 not in alive
    for k, i in enumerate(alive):
        u = (650.0 - tab.t_start[i]) / tab.dt[i]
        j = tab.offset[i] + int(u)
        seg = tab.samples[j : j + 2]
        lo, hi = seg.min(axis=0) - 1e-6, seg.max(axis=0) + 1e-6
        assert np.all((x[k] >= lo) & (x[k] <= hi))


def test_same_seed_same_truth_other_seed_other_truth(scenario, truth) -> None:
    again = simulate_truth(scenario, np.random.default_rng(11))
    tab, _ = truth
    np.testing.assert_array_equal(again.samples, tab.samples)
    np.testing.assert_array_equal(again.t_start, tab.t_start)
    assert again.ids == tab.ids
    other = simulate_truth(scenario, np.random.default_rng(12))
    assert not np.array_equal(other.impact_ecef, tab.impact_ecef)


def test_empty_scenario_and_unusable_airports() -> None:
    empty = simulate_truth(
        decode_yaml("name: e\npartners: [{name: P1}]\n", Scenario), np.random.default_rng(0)
    )
    assert len(empty) == 0 and empty.samples.shape == (0, 6)
    assert empty.states_at(0.0)[0].size == 0
    bad = YAML.replace("min_distance_km: 250", "min_distance_km: 5000")
    with pytest.raises(ConfigError, match="min_distance_km=5000") as e:
        simulate_truth(decode_yaml(bad, Scenario), np.random.default_rng(0))
    assert e.value.path == "$.civil.min_distance_km"
