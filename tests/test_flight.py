"""The one free-flight law (mead.flight): gravity, heights, RK4, and the simulator and the
impact predictor agreeing on where a missile lands."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.flight import J2, acceleration, height_m, rk4_step
from mead.sim.launch import fly_missiles
from mead.sim.threats import BALLISTIC
from mead.threat.impact import predict_impact, propagate_to_ground


def test_surface_gravity_matches_normal_gravity() -> None:
    """Point mass + J2 + centrifugal at rest on the ellipsoid ≈ WGS84 normal gravity."""
    lat = np.array([0.0, 45.0, 90.0])
    p = geo.geodetic2ecef(lat, 0.0, 0.0).T
    g = np.linalg.norm(acceleration(p, np.zeros_like(p)), axis=0)
    np.testing.assert_allclose(g, [9.7803, 9.8062, 9.8322], atol=0.01)


def test_height_matches_geodetic_height() -> None:
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200)
    alt = rng.uniform(0, 4e5, 200)
    np.testing.assert_allclose(height_m(geo.geodetic2ecef(lat, lon, alt).T), alt, atol=10.0)
    np.testing.assert_allclose(height_m(geo.geodetic2ecef(lat, lon, 0.0).T), 0.0, atol=1e-3)


def test_rk4_batched_equals_looped() -> None:
    rng = np.random.default_rng(1)
    p = geo.geodetic2ecef(rng.uniform(20, 40, 5), rng.uniform(30, 50, 5), 1e5).T
    v = rng.normal(0.0, 2000.0, (3, 5))
    kappa, dt = rng.uniform(0, 4e-4, 5), rng.uniform(0.5, 5.0, 5)
    pb, vb = rk4_step(p, v, dt, kappa)
    for i in range(5):
        pi, vi = rk4_step(p[:, i : i + 1], v[:, i : i + 1], dt[i], kappa[i : i + 1])
        np.testing.assert_allclose(pb[:, i], pi[:, 0], rtol=1e-13)
        np.testing.assert_allclose(vb[:, i], vi[:, 0], rtol=1e-13)


@pytest.mark.parametrize("range_km", [300.0, 1_200.0])
def test_truth_mid_course_lands_where_the_simulator_lands(range_km: float) -> None:
    """A noise-free state of the simulated truth mid-course, propagated by the impact
    prediction code with the truth's drag, lands within 100 m of the simulated impact."""
    lat, lon = np.array([33.0]), np.array([45.0])
    alat, alon = geo.destination(lat, lon, np.array([260.0]), np.array([range_km * 1e3]))
    burn = BALLISTIC.burn_for(np.array([range_km * 1e3]))
    f = fly_missiles(lat, lon, alat, alon, BALLISTIC.gamma_deg, burn, BALLISTIC.beta_kg_m2)
    mid = f.samples[f.count[0] // 2]
    p, tgo, landed = propagate_to_ground(mid[None], beta_kg_m2=BALLISTIC.beta_kg_m2)
    assert landed[0]
    assert np.linalg.norm(p[0] - f.impact[0, :3]) < 100.0
    assert f.dt[0] * (f.count[0] // 2) + tgo[0] == pytest.approx(f.t_flight_s[0], abs=1.0)
    imp = predict_impact(mid[None], np.zeros((1, 6, 6)), beta_kg_m2=BALLISTIC.beta_kg_m2)
    assert np.linalg.norm(imp.p_ecef[0] - f.impact[0, :3]) < 100.0


def _numpy_acceleration(p, v, inv_beta=None, thrust=None, *, j2=True, omega=geo.OMEGA_E):  # type: ignore[no-untyped-def]
    """The module law transcribed as whole-array numpy (the form it had before it was
    compiled), as an independent reference for the compiled kernel."""
    x, y, z = p
    r2 = x * x + y * y + z * z
    r = np.sqrt(r2)
    k = -geo.GM / (r2 * r)
    q = 1.5 * J2 * geo.A_M**2 / r2 if j2 else 0.0
    s = 5.0 * z * z / r2
    a = np.stack([k * (1 + q * (1 - s)) * x, k * (1 + q * (1 - s)) * y, k * (1 + q * (3 - s)) * z])
    a[0] += omega * omega * x + 2 * omega * v[1]
    a[1] += omega * omega * y - 2 * omega * v[0]
    if inv_beta is not None:
        h = r - geo.A_M * np.sqrt((1 - geo.E2) / (1 - geo.E2 * (x * x + y * y) / r2))
        a -= (
            0.5
            * 1.225
            * np.exp(-np.maximum(h, 0) / 7200.0)
            * inv_beta
            * np.linalg.norm(v, axis=0)
            * v
        )
    return a + (0.0 if thrust is None else thrust)


@pytest.mark.parametrize("j2, omega", [(True, geo.OMEGA_E), (False, 0.0)])
def test_compiled_law_equals_numpy_transcription(j2: bool, omega: float) -> None:
    rng = np.random.default_rng(2)
    p = geo.geodetic2ecef(
        rng.uniform(-60, 60, 50), rng.uniform(-180, 180, 50), rng.uniform(-500, 4e5, 50)
    ).T
    v = rng.normal(0.0, 2000.0, (3, 50))
    kappa, thrust = rng.uniform(0, 4e-4, 50), rng.normal(0.0, 30.0, (3, 50))
    for ib, tr in ((None, None), (kappa, None), (kappa, thrust)):
        got = acceleration(p, v, ib, tr, j2=j2, omega=omega)
        want = _numpy_acceleration(p, v, ib, tr, j2=j2, omega=omega)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # one RK4 step against the classical formula on the numpy law
    dt = rng.uniform(0.5, 5.0, 50)

    def f(pp, vv):  # type: ignore[no-untyped-def]
        return _numpy_acceleration(pp, vv, kappa, thrust, j2=j2, omega=omega)

    a1 = f(p, v)
    a2 = f(p + dt / 2 * v, v + dt / 2 * a1)
    a3 = f(p + dt / 2 * (v + dt / 2 * a1), v + dt / 2 * a2)
    a4 = f(p + dt * (v + dt / 2 * a2), v + dt * a3)
    v_want = v + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
    p_want = p + dt / 6 * (v + 2 * (v + dt / 2 * a1) + 2 * (v + dt / 2 * a2) + (v + dt * a3))
    pg, vg = rk4_step(p, v, dt, kappa, thrust, j2=j2, omega=omega)
    np.testing.assert_allclose(pg, p_want, rtol=1e-12)
    np.testing.assert_allclose(vg, v_want, rtol=1e-11, atol=1e-9)


def test_overflowing_member_comes_out_non_finite_and_leaves_others_alone() -> None:
    p = geo.geodetic2ecef(np.array([30.0, 30.0]), np.array([40.0, 40.0]), 1e5).T
    v = np.array([[1e300, 100.0], [0.0, 0.0], [0.0, 0.0]])
    pn, vn = rk4_step(p, v, 1.0, np.array([1e-3, 1e-3]))
    assert not np.isfinite(np.r_[pn[:, 0], vn[:, 0]]).all()
    assert np.isfinite(np.r_[pn[:, 1], vn[:, 1]]).all()
