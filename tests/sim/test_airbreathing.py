"""Route flight: profiles, exact ECEF velocities, speeds and heights as configured, arrivals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mead.geo import (
    destination,
    ecef2enu,
    ecef2geodetic,
    geodetic2ecef,
    great_circle_distance_m,
)
from mead.sim.airbreathing import fly_routes, plan_profiles, profile_at, unit2ecef
from mead.sim.route import latlon2unit
from mead.sim.threats import AIRLINER, CRUISE, DRONE


def test_profile_is_continuous_and_rates_are_its_derivatives() -> None:
    prof = plan_profiles(np.array([800e3, 150e3]), AIRLINER, np.array([10_700.0, 10_700.0]))
    for i in range(2):
        t = np.linspace(0, prof.t_total[i], 40_001)
        obj = np.full(t.size, i)
        s, sdot, h, hdot = profile_at(prof, obj, t)
        assert s[0] == 0 and s[-1] == pytest.approx(prof.length_m[i], abs=1e-6)
        assert h[0] == 0 and h[-1] == pytest.approx(0.0, abs=1e-9)
        dt = t[1] - t[0]
        err = np.abs(np.diff(s) / dt - 0.5 * (sdot[1:] + sdot[:-1]))
        assert np.all(err <= 0.5 * np.abs(np.diff(sdot)) + 1e-6)  # exact but at phase kinks
        assert np.max(np.abs(np.diff(h))) <= max(hdot.max(), -hdot.min()) * dt * (1 + 1e-9)
    assert prof.top_m[0] == 10_700.0 and prof.top_m[1] < 10_700.0  # short hop stays lower
    assert prof.t_climb[0] == pytest.approx(10_700.0 / AIRLINER.climb_mps)


def test_threat_profile_flies_at_constant_speed() -> None:
    prof = plan_profiles(np.array([500e3]), CRUISE, np.array([CRUISE.altitude_m]))
    assert prof.t_total[0] == pytest.approx(500e3 / CRUISE.speed_mps)
    assert prof.t_climb[0] == pytest.approx(100.0 / 3.5)


def test_ecef_velocity_is_the_exact_derivative_of_position() -> None:
    rng = np.random.default_rng(2)
    lat, lon = rng.uniform(-80, 80, 50), rng.uniform(-180, 180, 50)
    u = latlon2unit(lat, lon)
    du = np.cross(rng.normal(size=(50, 3)), u) * 1e-5  # tangent, rad/s
    h, hdot = rng.uniform(0, 12_000, 50), rng.normal(0, 10, 50)
    x = unit2ecef(u, du, h, hdot)
    np.testing.assert_allclose(x[:, :3], geodetic2ecef(lat, lon, h), atol=1e-6)
    eps = 1e-3

    def pos(sign: float) -> np.ndarray:
        v = u + sign * eps * du
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return unit2ecef(v, du, h + sign * eps * hdot, hdot)[:, :3]

    np.testing.assert_allclose((pos(1) - pos(-1)) / (2 * eps), x[:, 3:], atol=1e-3)


def _flight(cls, via=(), n_obj=3, far_km=600.0):
    rng = np.random.default_rng(7)
    start = np.stack([rng.uniform(30, 31, n_obj), rng.uniform(45, 46, n_obj)], axis=1)
    end = np.stack(destination(start[:, 0], start[:, 1], 270.0, far_km * 1e3), axis=1)
    v = np.broadcast_to(np.asarray(via, np.float64).reshape(-1, 2), (n_obj, len(via), 2))
    pts = np.concatenate([start[:, None], v, end[:, None]], axis=1)
    return pts, fly_routes(pts, cls)


@pytest.mark.parametrize("cls", [CRUISE, DRONE])
def test_threats_fly_as_configured_and_end_on_the_aim_point(cls) -> None:
    pts, f = _flight(cls, via=[(32.0, 42.0)])
    first = np.cumsum(f.count) - f.count
    for i, o in enumerate(first):
        x = f.samples[o : o + f.count[i]]
        lat, lon, h = ecef2geodetic(x[:, :3])
        cruise = np.abs(h - cls.altitude_m) < 1e-3
        assert cruise.mean() > 0.9
        enu_v = np.array(
            [
                ecef2enu(x[k, :3] + x[k, 3:], lat[k], lon[k], h[k])
                for k in np.flatnonzero(cruise)[::50]
            ]
        )
        ground = np.hypot(enu_v[:, 0], enu_v[:, 1])
        np.testing.assert_allclose(ground, cls.speed_mps, rtol=4e-3)  # sphere vs ellipsoid
        np.testing.assert_allclose(enu_v[:, 2], 0.0, atol=1e-3)
        assert h[0] == pytest.approx(0.0, abs=1e-6) and h[-1] == pytest.approx(0.0, abs=1e-6)
        assert (lat[0], lon[0]) == pytest.approx(tuple(pts[i, 0]), abs=1e-9)
        assert (lat[-1], lon[-1]) == pytest.approx(tuple(pts[i, -1]), abs=1e-9)
        d_via = great_circle_distance_m(lat, lon, 32.0, 42.0).min()
        assert d_via < 2 * cls.turn_radius_m()  # passes the waypoint, cutting the corner
        assert np.max(h) <= cls.altitude_m + 1e-6
    np.testing.assert_allclose(f.dt * (f.count - 1), f.t_flight_s)
    assert np.all(f.dt <= cls.dt_s)
    np.testing.assert_array_equal(f.end, f.samples[first + f.count - 1])


def test_velocity_matches_finite_differences_of_samples() -> None:
    _, f = _flight(DRONE, via=[(32.0, 42.0)])
    x = f.samples[: f.count[0]]
    fd = np.diff(x[:, :3], axis=0) / f.dt[0]
    mean_v = 0.5 * (x[1:, 3:] + x[:-1, 3:])
    err = np.linalg.norm(fd - mean_v, axis=1)
    jump = np.linalg.norm(np.diff(x[:, 3:], axis=0), axis=1)
    assert np.all(err <= 0.5 * jump + 1e-3)  # kinks: fd lies between the ends
    assert np.median(err) < 1e-4  # straight cruise: exact


def test_airliner_climbs_cruises_and_lands() -> None:
    cls = dataclasses.replace(AIRLINER, altitude_m=11_000.0, speed_mps=240.0)
    _, f = _flight(cls, n_obj=2, far_km=900.0)
    x = f.samples[: f.count[0]]
    _, _, h = ecef2geodetic(x[:, :3])
    t = np.arange(f.count[0]) * f.dt[0]
    top = h.max()
    assert top == pytest.approx(11_000.0, abs=1e-6)
    climb = t < 11_000.0 / cls.climb_mps
    np.testing.assert_allclose(np.diff(h[climb]) / f.dt[0], cls.climb_mps, rtol=1e-6)
    speed = np.linalg.norm(x[:, 3:], axis=1)
    assert speed[0] == pytest.approx(np.hypot(80.0, cls.climb_mps), rel=5e-3)
    assert speed[-1] == pytest.approx(np.hypot(80.0, cls.descent_mps), rel=5e-3)
    assert np.max(speed) < 241.5
    assert f.profile.t_desc[0] == pytest.approx(11_000.0 / cls.descent_mps)


def test_bad_points_shape_is_named() -> None:
    with pytest.raises(ValueError, match="points_deg"):
        fly_routes(np.zeros((2, 3)), DRONE)
