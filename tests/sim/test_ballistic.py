"""Ballistic kernels against Kepler's two-body solution and an independent ECI integration."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest
from scipy.integrate import solve_ivp

from mead.geo import A_M, GM, OMEGA_E, geodetic2ecef
from mead.sim.ballistic import ballistic_accel, height_m, propagate_ballistic

WGS84 = pymap3d.Ellipsoid.from_name("wgs84")


def _equatorial_burnout(v: float, gamma_deg: float) -> np.ndarray:
    """State on the equator at height 0 moving east in the equatorial plane."""
    g = np.radians(gamma_deg)
    return np.array([A_M, 0.0, 0.0, v * np.sin(g), v * np.cos(g), 0.0])


def _kepler_range_and_time(v: float, gamma_deg: float, r: float) -> tuple[float, float]:
    """Range angle ψ (rad) and time of flight (s) back to radius r, from the conic."""
    g = np.radians(gamma_deg)
    h = r * v * np.cos(g)
    p = h * h / GM
    energy = v * v / 2 - GM / r
    a = -GM / (2 * energy)
    e = np.sqrt(1 - p / a)
    theta1 = np.arccos((p / r - 1) / e)  # ascending, perigee at θ=0, apogee at π
    psi = 2 * (np.pi - theta1)
    ecc = 2 * np.arctan(np.sqrt((1 - e) / (1 + e)) * np.tan(theta1 / 2))
    mean1 = ecc - e * np.sin(ecc)
    tof = 2 * (np.pi - mean1) / np.sqrt(GM / a**3)  # symmetric about apogee
    return psi, tof


@pytest.mark.parametrize(("v", "gamma"), [(3_500.0, 40.0), (2_000.0, 45.0), (5_000.0, 30.0)])
def test_vacuum_free_flight_matches_kepler(v: float, gamma: float) -> None:
    x0 = _equatorial_burnout(v, gamma)
    imp = propagate_ballistic(x0[None], None, dt=1.0, j2=False, omega=0.0)
    psi, tof = _kepler_range_and_time(v, gamma, A_M)
    got_psi = np.arctan2(imp.x[0, 1], imp.x[0, 0])
    assert imp.hit[0]
    assert abs(got_psi - psi) * A_M < 0.5  # m of ground range
    assert abs(imp.t_s[0] - tof) < 1e-3
    assert abs(np.linalg.norm(imp.x[0, :3]) - A_M) < 0.01  # on the ellipsoid (equator)


def _eci_rhs(beta: float):
    """Independent right-hand side in the inertial frame: J2 gravity + drag in rotating air."""
    j2 = 1.08262668e-3
    w = np.array([0.0, 0.0, OMEGA_E])

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        r, v = y[:3], y[3:]
        rn = np.linalg.norm(r)
        zr = r[2] / rn
        f = 1.5 * j2 * (A_M / rn) ** 2
        g = -GM / rn**3 * r * np.array([1 + f * (1 - 5 * zr**2)] * 2 + [1 + f * (3 - 5 * zr**2)])
        c, s = np.cos(OMEGA_E * t), np.sin(OMEGA_E * t)
        re = np.array([c * r[0] + s * r[1], -s * r[0] + c * r[1], r[2]])  # ECEF position
        _, _, alt = pymap3d.ecef2geodetic(*re, ell=WGS84)
        rho = 1.225 * np.exp(-max(alt, 0.0) / 7200.0)
        vrel = v - np.cross(w, r)
        drag = -rho * np.linalg.norm(vrel) * vrel / (2 * beta)
        return np.concatenate([v, g + drag])

    return rhs


def test_rotating_frame_with_j2_and_drag_matches_inertial_integration() -> None:
    p = geodetic2ecef(30.0, 45.0, 150_000.0)
    up = p / np.linalg.norm(p)
    east = np.array([-np.sin(np.radians(45.0)), np.cos(np.radians(45.0)), 0.0])
    v = 2_500.0 * east + 800.0 * up  # Earth-fixed velocity
    beta = 3_000.0
    imp = propagate_ballistic(np.concatenate([p, v])[None], beta, dt=0.5)

    y0 = np.concatenate([p, v + np.cross([0, 0, OMEGA_E], p)])

    def ground(t: float, y: np.ndarray) -> float:
        return float(
            np.linalg.norm(y[:3])
            - A_M
            * np.sqrt(
                (1 - 0.00669437999014)
                / (1 - 0.00669437999014 * (y[0] ** 2 + y[1] ** 2) / np.sum(y[:3] ** 2))
            )
        )

    ground.terminal, ground.direction = True, -1
    sol = solve_ivp(
        _eci_rhs(beta), (0, 3000), y0, events=ground, rtol=1e-10, atol=1e-6, method="DOP853"
    )
    t_hit = sol.t_events[0][0]
    r_hit = sol.y_events[0][0][:3]
    c, s = np.cos(OMEGA_E * t_hit), np.sin(OMEGA_E * t_hit)
    r_ecef = np.array([c * r_hit[0] + s * r_hit[1], -s * r_hit[0] + c * r_hit[1], r_hit[2]])
    assert abs(imp.t_s[0] - t_hit) < 0.01
    assert np.linalg.norm(imp.x[0, :3] - r_ecef) < 2.0
    vacuum = propagate_ballistic(np.concatenate([p, v])[None], None, dt=0.5)
    assert np.linalg.norm(vacuum.x[0, :3] - r_ecef) > 1_000.0  # drag mattered
    assert abs(height_m(imp.x[:, :3].T)[0]) < 1e-3


def test_batched_equals_looped_and_path_is_held_at_impact() -> None:
    rng = np.random.default_rng(3)
    p = geodetic2ecef(rng.uniform(-60, 60, 5), rng.uniform(-180, 180, 5), 50_000.0)
    v = rng.normal(0, 1_500, (5, 3))
    x = np.concatenate([p, v], axis=1)
    beta = rng.uniform(1_000, 8_000, 5)
    batch = propagate_ballistic(x, beta, record=True)
    assert batch.hit.all() and batch.path is not None
    for i in range(5):
        one = propagate_ballistic(x[i : i + 1], beta[i])
        np.testing.assert_allclose(one.x[0], batch.x[i], rtol=0, atol=1e-6)
        assert one.t_s[0] == pytest.approx(batch.t_s[i], abs=1e-9)
        k = int(np.ceil(batch.t_s[i]))
        np.testing.assert_array_equal(
            batch.path[k:, i], np.broadcast_to(batch.x[i], (len(batch.path) - k, 6))
        )
        np.testing.assert_array_equal(batch.path[0, i], x[i])


def test_no_drag_above_the_atmosphere_and_gravity_points_down() -> None:
    p = geodetic2ecef(10.0, 20.0, 500_000.0)
    x = np.concatenate([p, [0.0, 0.0, 0.0]])[None]
    a_vac = ballistic_accel(x, None, omega=0.0)
    a_drag = ballistic_accel(x, 100.0, omega=0.0)
    np.testing.assert_allclose(a_vac, a_drag)
    g = np.linalg.norm(a_vac)
    assert g == pytest.approx(GM / np.linalg.norm(p) ** 2, rel=2e-3)
    assert np.dot(a_vac[0], p) / (g * np.linalg.norm(p)) < -0.999


def test_object_that_never_lands_is_flagged_and_bad_input_named() -> None:
    p = geodetic2ecef(0.0, 0.0, 400_000.0)
    orbit = np.concatenate([p, [0.0, 7_670.0, 0.0]])[None]
    imp = propagate_ballistic(orbit, None, max_time_s=600.0)
    assert not imp.hit[0] and imp.t_s[0] == pytest.approx(600.0)
    with pytest.raises(ValueError, match="x must be"):
        propagate_ballistic(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="beta"):
        propagate_ballistic(orbit, -1.0)
    with pytest.raises(ValueError, match="dt"):
        propagate_ballistic(orbit, dt=0.0)
