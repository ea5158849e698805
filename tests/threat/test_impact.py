"""Tests of mead.threat.impact: ballistic fall, sigma-point impact area, straight-line approach."""

from __future__ import annotations

import numpy as np
import pytest
from threat_profiles import enu2state, kepler_arc

from mead import geo
from mead.threat.impact import (
    K95_2D,
    predict_impact,
    propagate_to_ground,
    sigma_points,
    straight_line_approach,
)
from mead.threat.local import local


@pytest.fixture(scope="module")
def arc():
    """A 1,400 km drag-free arc (scipy solve_ivp reference): (solution, t_impact, p_impact)."""
    return kepler_arc()


@pytest.mark.parametrize("t_mid", [0.0, 60.0, 250.0, 450.0, 560.0])
def test_kepler_arc_impact_and_tgo(arc, t_mid):
    """From ascending, apogee and descending states the impact is within metres of the
    reference arc's, and the time to go within 0.1 s."""
    sol, t_imp, p_imp = arc
    p, tgo, landed = propagate_to_ground(sol(t_mid)[None])
    assert landed[0]
    assert np.linalg.norm(p[0] - p_imp) < 50.0
    assert abs(tgo[0] - (t_imp - t_mid)) < 0.1


def test_batched_equals_looped(arc):
    sol, _, _ = arc
    x = sol(np.array([10.0, 200.0, 400.0, 500.0])).T
    p, tgo, _ = propagate_to_ground(x, beta_kg_m2=5000.0)
    for i in range(4):
        pi, ti, _ = propagate_to_ground(x[i : i + 1], beta_kg_m2=5000.0)
        np.testing.assert_allclose(pi[0], p[i], atol=1e-3)
        np.testing.assert_allclose(ti[0], tgo[i], atol=1e-6)


def test_drag_shortens_range_and_delays_impact():
    x = enu2state(32.0, 35.0, 15e3, [[0.0, 600.0, 300.0]])
    p0, t0, _ = propagate_to_ground(x)
    p1, t1, _ = propagate_to_ground(x, beta_kg_m2=2000.0)
    d0 = geo.great_circle_distance_m(32.0, 35.0, *geo.ecef2geodetic(p0[0])[:2])
    d1 = geo.great_circle_distance_m(32.0, 35.0, *geo.ecef2geodetic(p1[0])[:2])
    assert d1 < 0.9 * d0
    # straight drop: drag slows the fall
    drop = enu2state(32.0, 35.0, 10e3, [[0.0, 0.0, 0.0]])
    assert propagate_to_ground(drop, beta_kg_m2=500.0)[1][0] > propagate_to_ground(drop)[1][0] + 10


def test_on_ground_and_orbiting_states():
    on_ground = enu2state(32.0, 35.0, -5.0, [[100.0, 0.0, 0.0]])
    p, tgo, landed = propagate_to_ground(on_ground)
    assert landed[0] and tgo[0] == 0.0
    # a circular-orbit speed at 400 km never comes down within t_max
    v = np.sqrt(geo.GM / (geo.A_M + 400e3)) - 465.0  # minus the Earth's rotation, eastward
    orbit = enu2state(0.0, 0.0, 400e3, [[v, 0.0, 0.0]])
    p, tgo, landed = propagate_to_ground(orbit, t_max_s=600.0)
    assert not landed[0] and np.isnan(tgo[0]) and np.isnan(p[0]).all()


def test_sigma_points_reproduce_mean_and_covariance():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 6, 6))
    P = A @ A.swapaxes(1, 2)
    P[2] = np.diag([1.0, 0, 0, 2.0, 0, 3.0])  # only semi-definite
    x = rng.standard_normal((3, 6))
    for kappa in (0.0, 1.0):
        X, W = sigma_points(x, P, kappa)
        assert X.shape == (3, 13, 6) and np.isclose(W.sum(), 1.0)
        np.testing.assert_allclose(np.einsum("k,nki->ni", W, X), x, atol=1e-12)
        d = X - x[:, None]
        np.testing.assert_allclose(np.einsum("k,nki,nkj->nij", W, d, d), P, atol=1e-9)
    with pytest.raises(ValueError, match="kappa"):
        sigma_points(x, P, -6.0)


def _cov(sig_p, sig_v):
    return np.diag([sig_p**2] * 3 + [sig_v**2] * 3)


def test_impact_radius_shrinks_with_covariance(arc):
    sol, t_imp, p_imp = arc
    x = np.repeat(sol(300.0)[None], 3, axis=0)
    P = np.stack([_cov(400.0, 40.0) * s for s in (1.0, 0.25, 0.01)])
    imp = predict_impact(x, P)
    assert imp.ok.all()
    r = imp.radius_m
    assert r[0] > r[1] > r[2] > 0
    np.testing.assert_allclose(r[1:] / r[0], [0.5, 0.1], rtol=0.05)  # ∝ σ when near-linear
    assert np.all(np.abs(imp.tgo_s - (t_imp - 300.0)) < 1.0)
    lat, lon, _ = geo.ecef2geodetic(p_imp)
    assert geo.great_circle_distance_m(lat, lon, imp.lat_deg[2], imp.lon_deg[2]) < 100.0


def test_impact_radius_holds_95_percent_monte_carlo(arc):
    """Sampled states fall inside the predicted 95 % impact circle about 95 % of the time."""
    sol, _, _ = arc
    rng = np.random.default_rng(7)
    x, P = sol(350.0), _cov(300.0, 15.0)
    imp = predict_impact(x[None], P[None])
    samples = rng.multivariate_normal(x, P, size=600)
    p, _, landed = propagate_to_ground(samples)
    assert landed.all()
    lat, lon, _ = geo.ecef2geodetic(p)
    d = geo.great_circle_distance_m(imp.lat_deg[0], imp.lon_deg[0], lat, lon)
    frac = np.mean(d <= imp.radius_m[0])
    assert 0.93 <= frac <= 0.995  # a circle on the major axis holds ≥ 95 % of the ellipse
    assert K95_2D == pytest.approx(2.4477, abs=1e-4)


def test_straight_line_approach_matches_brute_force():
    rng = np.random.default_rng(3)
    n = 30
    lat, lon = rng.uniform(28, 36, n), rng.uniform(33, 45, n)
    hd, vg = rng.uniform(0, 360, n), rng.uniform(30, 260, n)
    v = np.stack([vg * np.sin(np.radians(hd)), vg * np.cos(np.radians(hd)), np.zeros(n)], 1)
    x = enu2state(lat, lon, 1000.0, v)
    tlat, tlon = np.array([31.2, 32.08, 34.6]), np.array([35.0, 34.78, 33.0])
    horizon = np.full(n, 1800.0)
    ap = straight_line_approach(local(x), tlat, tlon, horizon)
    s = np.linspace(0.0, 1.0, 4001)[None, :] * (vg * horizon)[:, None]  # (N, S) along, m
    plat, plon = geo.destination(lat[:, None], lon[:, None], hd[:, None], s)
    for a in range(3):
        d = geo.great_circle_distance_m(plat, plon, tlat[a], tlon[a])
        k = d.argmin(axis=1)
        np.testing.assert_allclose(ap.miss_m[:, a], d[np.arange(n), k], atol=60.0)
        step = s[:, 1] - s[:, 0]
        np.testing.assert_allclose(ap.along_m[:, a], s[np.arange(n), k], atol=1e3 + step.max())
        np.testing.assert_allclose(ap.tgo_s[:, a], ap.along_m[:, a] / vg, rtol=1e-9)
    assert np.all(ap.margin_m == 0.0)  # no covariance given


def test_approach_margin_grows_with_distance_and_heading_sigma():
    v = [[0.0, 51.0, 0.0]]
    x = enu2state(30.0, 35.0, 1000.0, v)
    R = geo.enu_rotation(30.0, 35.0)
    Pe = np.diag([100.0**2, 100.0**2, 100.0**2, 5.0**2, 1.0, 1.0])  # ENU; east σ 5 m/s
    T = np.kron(np.eye(2), R.T)
    P = (T @ Pe @ T.T)[None]  # → ECEF; course σ = 5/51 rad
    targets_lat = np.array([30.5, 31.0])  # due north, 55 and 111 km
    ap = straight_line_approach(
        local(x, P), targets_lat, np.array([35.0, 35.0]), np.array([3600.0]), k_sigma=2.0
    )
    np.testing.assert_allclose(ap.miss_m[0], 0.0, atol=50.0)
    m = ap.margin_m[0]
    assert m[1] > 1.8 * m[0]
    sig_psi = 5.0 / 51.0
    np.testing.assert_allclose(m, 2.0 * np.hypot(100.0, sig_psi * ap.along_m[0]), rtol=0.02)


def test_wild_covariance_does_not_blow_up(arc):
    """Sigma points far underground or faster than escape speed: no overflow, no warnings."""
    sol, _, _ = arc
    x = np.stack([sol(400.0), sol(590.0)])
    P = np.stack([_cov(50e3, 8e3), _cov(20e3, 3e3)])
    imp = predict_impact(x, P, beta_kg_m2=500.0)
    assert imp.ok.all() and np.all(np.isfinite(imp.tgo_s))
    assert np.all((imp.radius_m > 50e3) | np.isinf(imp.radius_m))
    # a very light body diving fast into dense air: stiff drag, small steps, still lands
    dive = enu2state(32.0, 35.0, 3000.0, [[0.0, 500.0, -3000.0]])
    p, tgo, landed = propagate_to_ground(dive, beta_kg_m2=20.0)
    assert landed[0] and 1.0 < tgo[0] < 600.0 and np.isfinite(p).all()
