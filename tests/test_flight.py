"""The one free-flight law (mead.flight): gravity, heights, RK4, and the simulator and the
impact predictor agreeing on where a missile lands."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.flight import acceleration, height_m, rk4_step
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
