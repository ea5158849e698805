"""Powered launch: aimed missiles and rockets land on their aim points with plausible flights."""

from __future__ import annotations

import numpy as np
import pytest

from mead.geo import destination, ecef2geodetic, geodetic2ecef, initial_bearing_deg
from mead.sim.ballistic import propagate_ballistic
from mead.sim.launch import fly_missiles
from mead.sim.threats import BALLISTIC, ROCKET

LAUNCH = (32.0, 50.0)


def _fly(ranges_km: list[float], bearings: list[float], cls=BALLISTIC, **kw):
    n = len(ranges_km)
    lat, lon = np.full(n, LAUNCH[0]), np.full(n, LAUNCH[1])
    alat, alon = destination(lat, lon, np.asarray(bearings), np.asarray(ranges_km) * 1e3)
    burn = cls.burn_for(np.asarray(ranges_km) * 1e3)
    f = fly_missiles(lat, lon, alat, alon, cls.gamma_deg, burn, cls.beta_kg_m2, **kw)
    return f, burn, (alat, alon)


@pytest.fixture(scope="module")
def mrbm():
    return _fly([1_000.0, 1_500.0, 2_000.0, 1_300.0], [90.0, 270.0, 0.0, 200.0])


def test_medium_range_missiles_hit_their_aim_points_with_a_high_apogee(mrbm) -> None:
    f, burn, _ = mrbm
    assert np.all(f.miss_m < 1_000.0)
    assert np.all(f.miss_m < 50.0)  # what the solver actually achieves
    assert np.all((f.apogee_m > 150e3) & (f.apogee_m < 700e3))
    assert np.all(np.diff(f.apogee_m[:3]) > 0)  # longer range, higher apogee
    assert np.all((f.t_flight_s > 6 * 60) & (f.t_flight_s < 16 * 60))
    burnout_speed = np.array(
        [
            np.linalg.norm(f.samples[o + int(b / dt) + 1, 3:])
            for o, b, dt in zip(np.cumsum(f.count) - f.count, burn, f.dt, strict=True)
        ]
    )
    assert np.all((burnout_speed > 2_500) & (burnout_speed < 5_500))


def test_samples_run_from_launch_at_rest_to_the_impact_on_the_ground(mrbm) -> None:
    f, _, _ = mrbm
    first, last = np.cumsum(f.count) - f.count, np.cumsum(f.count) - 1
    np.testing.assert_allclose(
        f.samples[first, :3], np.repeat(geodetic2ecef(*LAUNCH, 0.0)[None], 4, axis=0), atol=1e-6
    )
    np.testing.assert_allclose(f.samples[first, 3:], 0.0, atol=1e-9)
    np.testing.assert_array_equal(f.samples[last], f.impact)
    _, _, h = ecef2geodetic(f.impact[:, :3])
    np.testing.assert_allclose(h, 0.0, atol=1e-3)
    np.testing.assert_allclose(f.dt * (f.count - 1), f.t_flight_s, rtol=1e-12)
    assert np.all((f.dt <= 1.0) & (f.dt > 0.98))


def test_free_flight_after_burnout_is_ballistic_and_velocity_matches_positions(mrbm) -> None:
    f, burn, _ = mrbm
    for i, o in enumerate(np.cumsum(f.count) - f.count):
        k = int(burn[i] / f.dt[i]) + 5
        x = f.samples[o + k : o + f.count[i]]
        rest = propagate_ballistic(x[:1], BALLISTIC.beta_kg_m2, dt=1.0)
        assert np.linalg.norm(rest.x[0, :3] - f.impact[i, :3]) < 30.0
        assert k * f.dt[i] + rest.t_s[0] == pytest.approx(f.t_flight_s[i], abs=0.05)
        mid = x[: len(x) // 2]
        fd = np.diff(mid[:, :3], axis=0) / f.dt[i]
        np.testing.assert_allclose(fd, 0.5 * (mid[1:, 3:] + mid[:-1, 3:]), atol=0.05)


def test_aim_correction_absorbs_earth_rotation(mrbm) -> None:
    f, _, (alat, alon) = mrbm
    bearing = initial_bearing_deg(LAUNCH[0], LAUNCH[1], alat, alon)
    turn = (f.azimuth_deg - bearing + 180.0) % 360.0 - 180.0
    assert np.all(np.abs(turn) > 0.5)  # Coriolis deflection aimed off
    still, _, _ = _fly([1_000.0, 1_500.0, 2_000.0], [90.0, 270.0, 0.0], omega=0.0, j2=False)
    assert np.all(still.miss_m < 50.0)
    turn = (still.azimuth_deg - bearing[:3] + 180.0) % 360.0 - 180.0
    assert np.all(np.abs(turn) < 0.3)  # only ellipsoid-vs-sphere geometry


def test_rockets_short_range_hit_with_short_burn() -> None:
    f, burn, _ = _fly([20.0, 40.0, 150.0, 300.0], [10.0, 100.0, 190.0, 280.0], cls=ROCKET)
    assert np.all(f.miss_m < 50.0)
    np.testing.assert_allclose(burn, [2.0, 2.0 + 8 * 20 / 280, 2.0 + 8 * 130 / 280, 10.0])
    assert np.all(np.diff(f.apogee_m) > 0) and f.apogee_m[-1] < 150e3
    assert np.all(f.t_flight_s < 400.0)


def test_batch_of_mixed_classes_equals_separate_batches() -> None:
    both, _, _ = _fly([1_200.0, 60.0], [45.0, 45.0], cls=BALLISTIC)
    one, _, _ = _fly([1_200.0], [45.0], cls=BALLISTIC)
    assert both.t_flight_s[0] == pytest.approx(one.t_flight_s[0], abs=1e-6)
    np.testing.assert_allclose(both.impact[0], one.impact[0], atol=1e-3)
