"""Tests of the polar measurement model: vs mead.geo, finite differences, Monte-Carlo, loops."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.tracking.gating import ChiSquareGate
from mead.tracking.management import OnePointInitiator
from mead.tracking.measurement import (
    RANGE_RATE_K,
    CartesianFrame,
    Site,
    _spd_inverse,
    ecef2polar,
    ekf_polar_update,
    kf_update,
    polar2ecef,
    polar_cov_ecef,
    polar_h,
    polar_innovation,
    polar_jacobian,
    polar_predict,
    range_rate_h,
    range_rate_spread,
    wrap_angle,
)
from mead.tracking.motion import ConstantVelocity

SITE = Site.from_geodetic(50.0, 10.0, 120.0)


def random_states(rng: np.random.Generator, n: int, site: Site = SITE) -> np.ndarray:
    """N ECEF states 5–300 km from the site, any azimuth, elevation 0.5–40°."""
    rae = np.column_stack(
        [
            rng.uniform(5e3, 3e5, n),
            rng.uniform(0, 2 * np.pi, n),
            rng.uniform(np.radians(0.5), np.radians(40), n),
        ]
    )
    p = geo.enu2ecef(geo.rae2enu(rae), site.lat_deg, site.lon_deg, site.alt_m)
    return np.column_stack([p, rng.normal(0, 300, (n, 3))])


def random_covs(rng: np.random.Generator, n: int, scale: float = 500.0) -> np.ndarray:
    A = rng.normal(size=(n, 6, 6)) * scale
    return A @ A.swapaxes(-1, -2) + np.eye(6) * 1.0


def test_wrap_angle_half_open_interval() -> None:
    a = np.array([0.0, np.pi, -np.pi, 3 * np.pi, -3 * np.pi, 2 * np.pi, 0.1 - 2 * np.pi, 7.0])
    w = wrap_angle(a)
    assert np.all(w > -np.pi) and np.all(w <= np.pi)
    np.testing.assert_allclose(w[:3], [0.0, np.pi, np.pi])
    np.testing.assert_allclose(np.cos(w), np.cos(a), atol=1e-12)
    np.testing.assert_allclose(np.sin(w), np.sin(a), atol=1e-12)


def test_ecef2polar_matches_geo() -> None:
    x = random_states(np.random.default_rng(1), 200)
    ref = geo.enu2rae(geo.ecef2enu(x[:, :3], SITE.lat_deg, SITE.lon_deg, SITE.alt_m))
    np.testing.assert_allclose(ecef2polar(x[:, :3], SITE), ref, rtol=1e-10, atol=1e-9)


def test_polar2ecef_round_trip() -> None:
    x = random_states(np.random.default_rng(2), 200)
    np.testing.assert_allclose(polar2ecef(ecef2polar(x[:, :3], SITE), SITE), x[:, :3], atol=1e-6)


def test_jacobian_matches_finite_differences() -> None:
    x = random_states(np.random.default_rng(3), 50)
    zhat, H = polar_h(x, SITE)
    step = 0.5  # m
    for k in range(6):
        dx = np.zeros(6)
        dx[k] = step
        fd = polar_innovation(polar_h(x + dx, SITE)[0], polar_h(x - dx, SITE)[0]) / (2 * step)
        np.testing.assert_allclose(H[:, :, k], fd, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(H[:, :, 3:], 0.0)  # velocity is not measured
    np.testing.assert_array_equal(polar_jacobian(x[:, :3], SITE), H[:, :, :3])


def test_plot_covariance_matches_monte_carlo() -> None:
    rng = np.random.default_rng(4)
    z = np.array([[150e3, 1.0, 0.1], [40e3, 4.0, 0.5]])
    sigma = np.array([50.0, np.radians(0.05), np.radians(0.08)])
    C = polar_cov_ecef(z, sigma, SITE)
    for k in range(2):
        samples = z[k] + rng.normal(size=(40_000, 3)) * sigma
        emp = np.cov(polar2ecef(samples, SITE).T)
        np.testing.assert_allclose(emp, C[k], rtol=0.05, atol=0.03 * np.abs(C[k]).max())


def test_kf_update_batched_equals_looped() -> None:
    rng = np.random.default_rng(5)
    n = 20
    x, P = random_states(rng, n), random_covs(rng, n)
    H = rng.normal(size=(n, 3, 6))
    y = rng.normal(size=(n, 3)) * 100
    R = np.diag([50.0**2, 1e-6, 2e-6])
    xb, Pb = kf_update(x, P, y, H, R)
    for i in range(n):
        xi, Pi = kf_update(x[i : i + 1], P[i : i + 1], y[i : i + 1], H[i : i + 1], R)
        np.testing.assert_allclose(xb[i], xi[0], rtol=1e-12)
        np.testing.assert_allclose(Pb[i], Pi[0], rtol=1e-9, atol=1e-9)


def test_kf_update_matches_textbook_form() -> None:
    """Joseph form = P − K S Kᵀ for the optimal gain (computed here with an explicit inverse)."""
    rng = np.random.default_rng(6)
    x, P = random_states(rng, 5), random_covs(rng, 5)
    H = rng.normal(size=(5, 3, 6))
    y = rng.normal(size=(5, 3))
    R = np.eye(3) * 4.0
    x1, P1 = kf_update(x, P, y, H, R)
    for i in range(5):
        S = H[i] @ P[i] @ H[i].T + R
        K = P[i] @ H[i].T @ np.linalg.inv(S)
        np.testing.assert_allclose(x1[i], x[i] + K @ y[i], rtol=1e-9)
        np.testing.assert_allclose(P1[i], P[i] - K @ S @ K.T, rtol=1e-7, atol=1e-6)
        assert np.all(np.linalg.eigvalsh(P1[i]) > 0)


def test_ekf_polar_update_batched_equals_looped_and_wraps_azimuth() -> None:
    rng = np.random.default_rng(7)
    n = 30
    x, P = random_states(rng, n), random_covs(rng, n)
    sigma = np.array([75.0, np.radians(0.2), np.radians(0.3)])
    z = ecef2polar(x[:, :3] + rng.normal(size=(n, 3)) * 200, SITE)
    xb, Pb = ekf_polar_update(x, P, z, sigma, SITE)
    for i in range(n):
        xi, Pi = ekf_polar_update(x[i : i + 1], P[i : i + 1], z[i : i + 1], sigma, SITE)
        np.testing.assert_allclose(xb[i], xi[0], rtol=1e-12)
        np.testing.assert_allclose(Pb[i], Pi[0], rtol=1e-9, atol=1e-9)
    # a target due north: plots just either side of 0/2π must update it the same way
    north = np.array([[100e3, 1e-4, 0.05], [100e3, 2 * np.pi - 1e-4, 0.05]])
    x0 = np.column_stack([polar2ecef(np.array([[100e3, 0.0, 0.05]] * 2), SITE), np.zeros((2, 3))])
    P0 = np.broadcast_to(np.diag([1e6] * 3 + [1e4] * 3), (2, 6, 6)).copy()
    x1, _ = ekf_polar_update(x0, P0, north, sigma, SITE)
    east = geo.ecef2enu(x1[:, :3], SITE.lat_deg, SITE.lon_deg, SITE.alt_m)[:, 0]
    assert abs(east[0]) < 20 and abs(east[1]) < 20 and east[0] * east[1] < 0


def test_polar_predict_innovation_covariance() -> None:
    rng = np.random.default_rng(8)
    x, P = random_states(rng, 10), random_covs(rng, 10)
    R = np.diag([75.0**2, 1e-5, 2e-5])
    idx = np.array([7, 2, 5])
    pred = polar_predict(x, P, idx, R, SITE)
    zhat, H = polar_h(x[idx], SITE)
    S = H @ P[idx] @ H.swapaxes(-1, -2) + R
    np.testing.assert_allclose(pred.zhat, zhat)
    np.testing.assert_allclose(pred.S, S, rtol=1e-10)
    np.testing.assert_allclose(pred.S_inv @ S, np.broadcast_to(np.eye(3), S.shape), atol=1e-8)
    np.testing.assert_allclose(pred.logdet, np.log(np.linalg.det(S)), rtol=1e-9)


def test_spd_inverse_falls_back_to_lu_when_not_positive_definite() -> None:
    """The compiled prediction inverts S by Cholesky; a matrix that is not positive
    definite to working precision gets numpy's inverse and ln |det| instead."""
    L, Li = np.zeros((4, 4)), np.zeros((4, 4))
    for A in (np.diag([4.0, 9.0, 1e-6]) + 0.1, np.array([[1.0, 2, 0], [2, 1, 0], [0, 0, 3]])):
        out = np.empty((3, 3))
        logdet = _spd_inverse(A, out, L, Li)
        np.testing.assert_allclose(out, np.linalg.inv(A), rtol=1e-9)
        assert logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)


@pytest.mark.parametrize("n", [0, 1])
def test_kernels_accept_empty_and_single(n: int) -> None:
    x = random_states(np.random.default_rng(9), n)
    zhat, H = polar_h(x, SITE)
    assert zhat.shape == (n, 3) and H.shape == (n, 3, 6)
    assert polar_cov_ecef(zhat, np.ones(3), SITE).shape == (n, 3, 3)
    P = random_covs(np.random.default_rng(9), n)
    pred = polar_predict(x, P, np.arange(n), np.eye(3), SITE)
    assert pred.S.shape == pred.S_inv.shape == (n, 3, 3) and pred.logdet.shape == (n,)


# --- range rate (a 4th polar component) ---

SIGMA4 = np.array([75.0, np.radians(0.2), np.radians(0.3), 2.0])


def test_range_rate_is_the_time_derivative_of_range() -> None:
    """ṙ = uᵀv against (r(p + v dt) − r(p − v dt)) / 2dt from ``mead.geo``'s polar range."""
    x = random_states(np.random.default_rng(31), 100)
    dt = 1e-3
    site = (SITE.lat_deg, SITE.lon_deg, SITE.alt_m)
    r_plus = geo.enu2rae(geo.ecef2enu(x[:, :3] + x[:, 3:] * dt, *site))[:, 0]
    r_minus = geo.enu2rae(geo.ecef2enu(x[:, :3] - x[:, 3:] * dt, *site))[:, 0]
    rdot, _ = range_rate_h(x, SITE)
    np.testing.assert_allclose(rdot, (r_plus - r_minus) / (2 * dt), atol=1e-4)
    zhat, _ = polar_h(x, SITE, range_rate=True)
    np.testing.assert_array_equal(zhat[:, 3], rdot)
    np.testing.assert_allclose(zhat[:, :3], ecef2polar(x[:, :3], SITE), rtol=1e-13, atol=1e-9)


def test_range_rate_jacobian_matches_finite_differences() -> None:
    x = random_states(np.random.default_rng(32), 50)
    _, H = polar_h(x, SITE, range_rate=True)
    assert H.shape == (50, 4, 6)
    steps = [0.5] * 3 + [0.05] * 3  # m, m/s
    for k in range(6):
        dx = np.zeros(6)
        dx[k] = steps[k]
        zp, zm = polar_h(x + dx, SITE, range_rate=True)[0], polar_h(x - dx, SITE, True)[0]
        fd = polar_innovation(zp, zm) / (2 * steps[k])
        np.testing.assert_allclose(H[:, :, k], fd, rtol=1e-5, atol=1e-10)
    np.testing.assert_array_equal(H[:, :3], polar_h(x, SITE)[1])  # position rows unchanged
    assert np.abs(H[:, 3, 3:]).min() > 0  # the velocity is observed along the line of sight


def test_range_rate_update_batched_equals_looped_and_measures_radial_velocity() -> None:
    rng = np.random.default_rng(33)
    n = 30
    x, P = random_states(rng, n), random_covs(rng, n)
    truth = x + np.column_stack([rng.normal(size=(n, 3)) * 200, rng.normal(size=(n, 3)) * 300])
    z = polar_h(truth, SITE, range_rate=True)[0]
    xb, Pb = ekf_polar_update(x, P, z, SIGMA4, SITE)
    for i in range(n):
        xi, Pi = ekf_polar_update(x[i : i + 1], P[i : i + 1], z[i : i + 1], SIGMA4, SITE)
        np.testing.assert_allclose(xb[i], xi[0], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(Pb[i], Pi[0], rtol=1e-9, atol=1e-9)
    # the updated radial velocity lands near the measured one; without ṙ it does not
    u = (truth[:, :3] - SITE.origin) / z[:, :1]
    err4 = np.einsum("ij,ij->i", u, xb[:, 3:]) - z[:, 3]
    x3, _ = ekf_polar_update(x, P, z[:, :3], SIGMA4[:3], SITE)
    err3 = np.einsum("ij,ij->i", u, x3[:, 3:]) - z[:, 3]
    assert np.sqrt(np.mean(err4**2)) < 10.0 < np.sqrt(np.mean(err3**2))


def _spread(x: np.ndarray, P: np.ndarray, k: float = RANGE_RATE_K) -> np.ndarray:
    """The range rate's spread (module doc of ``mead.tracking.measurement``) in numpy:
    (k² σ_v,c σ_p,c / r)², with σ² the mean variances across the line of sight."""
    d = x[:, :3] - SITE.origin
    r = np.linalg.norm(d, axis=1)
    u = d / r[:, None]
    across = np.eye(3) - u[:, :, None] * u[:, None, :]  # projector across the line of sight
    var_p = np.einsum("nij,nji->n", across, P[:, :3, :3]) / 2.0
    var_v = np.einsum("nij,nji->n", across, P[:, 3:, 3:]) / 2.0
    return (k * k * np.sqrt(var_p * var_v) / r) ** 2


def test_range_rate_prediction_uses_the_whole_state_covariance() -> None:
    rng = np.random.default_rng(34)
    x, P = random_states(rng, 10), random_covs(rng, 10)
    R = np.diag(SIGMA4**2)
    idx = np.array([1, 8, 4])
    pred = SITE.predict(x, P, idx, R)
    zhat, H = polar_h(x[idx], SITE, range_rate=True)
    S = H @ P[idx] @ H.swapaxes(-1, -2) + R
    S[:, 3, 3] += _spread(x[idx], P[idx])
    np.testing.assert_allclose(range_rate_spread(x[idx], P[idx], SITE), _spread(x[idx], P[idx]))
    assert pred.dim == 4 and pred.H.shape == (3, 4, 6)
    np.testing.assert_allclose(pred.zhat, zhat)
    np.testing.assert_allclose(pred.S, S, rtol=1e-10)
    np.testing.assert_allclose(pred.logdet, np.log(np.linalg.det(S)), rtol=1e-9)
    # the other Site methods read the position columns only
    z4 = zhat
    np.testing.assert_array_equal(SITE.to_ecef(z4), SITE.to_ecef(z4[:, :3]))
    np.testing.assert_array_equal(SITE.polar(z4), z4[:, :3])
    np.testing.assert_array_equal(SITE.cov_ecef(z4, SIGMA4), SITE.cov_ecef(z4, SIGMA4[:3]))
    np.testing.assert_array_equal(
        SITE.spread_m2(x[:, :3], SIGMA4), SITE.spread_m2(x[:, :3], SIGMA4[:3])
    )
    assert SITE.check(z4) is None


@pytest.mark.parametrize("n", [0, 1])
def test_range_rate_kernels_accept_empty_and_single(n: int) -> None:
    x = random_states(np.random.default_rng(35), n)
    zhat, H = polar_h(x, SITE, range_rate=True)
    assert zhat.shape == (n, 4) and H.shape == (n, 4, 6)
    pred = SITE.predict(x, random_covs(np.random.default_rng(1), n), np.arange(n), np.eye(4))
    assert pred.S.shape == (n, 4, 4)


# --- the Cartesian measurement model ---

FRAME = CartesianFrame.from_geodetic(50.0, 10.0, 120.0)


def test_cartesian_frame_matches_geo_enu() -> None:
    rng = np.random.default_rng(21)
    x = random_states(rng, 50)
    enu = geo.ecef2enu(x[:, :3], FRAME.lat_deg, FRAME.lon_deg, FRAME.alt_m)
    np.testing.assert_allclose(FRAME.from_ecef(x[:, :3]), enu, atol=1e-6)
    np.testing.assert_allclose(FRAME.to_ecef(enu), x[:, :3], atol=1e-6)
    np.testing.assert_allclose(FRAME.polar(enu), ecef2polar(x[:, :3], SITE), atol=1e-9)
    assert FRAME.check(enu) is None
    assert "3 columns" in str(FRAME.check(np.zeros((2, 4))))  # no range rate in ENU plots


def test_cartesian_prediction_is_the_linear_kalman_one() -> None:
    rng = np.random.default_rng(22)
    x, P = random_states(rng, 20), random_covs(rng, 20)
    idx = np.array([3, 7, 11])
    R = np.diag([50.0, 60.0, 1.0]) ** 2
    pred = FRAME.predict(x, P, idx, R)
    H = np.hstack([FRAME.rot, np.zeros((3, 3))])
    for k, i in enumerate(idx):
        np.testing.assert_allclose(pred.S[k], H @ P[i] @ H.T + R, rtol=1e-10)
        np.testing.assert_allclose(pred.zhat[k], FRAME.rot @ (x[i, :3] - FRAME.origin))
        np.testing.assert_allclose(pred.H[k], H)
        assert pred.logdet[k] == pytest.approx(np.log(np.linalg.det(pred.S[k])))
    C = FRAME.cov_ecef(np.zeros((2, 3)), np.array([50.0, 60.0, 1.0]))
    np.testing.assert_allclose(FRAME.rot @ C[1] @ FRAME.rot.T, R, atol=1e-9)


def test_site_is_the_polar_model() -> None:
    rng = np.random.default_rng(23)
    x, P = random_states(rng, 10), random_covs(rng, 10)
    R = np.diag([75.0, 0.003, 0.004]) ** 2
    a, b = SITE.predict(x, P, np.arange(10), R), polar_predict(x, P, np.arange(10), R, SITE)
    np.testing.assert_array_equal(a.S, b.S)
    z = ecef2polar(x[:, :3], SITE)
    np.testing.assert_allclose(SITE.to_ecef(z), x[:, :3], atol=1e-6)
    assert SITE.check(z) is None
    assert "ranges" in str(SITE.check(-z))


def test_a_fast_target_crossing_the_beam_is_caught_on_its_second_plot() -> None:
    """A one-plot track of a 3.4 km/s missile crossing the beam 840 km out (its range rate
    gave only the radial velocity): 5 s later the line of sight has turned and ṙ grown by
    ~70 m/s. The range rate's nonlinearity bound keeps that plot inside the gate (the
    Jacobian at zero cross velocity alone puts it outside), and a settled track of
    the same target gets well under 1 m/s of it."""
    site = Site.from_geodetic(25.0, 51.0, 50.0)
    sigma = np.array([60.0, np.radians(0.12), np.radians(0.12), 3.0])
    p0 = geo.geodetic2ecef(np.array([32.5]), np.array([51.5]), np.array([60e3]))[0]
    east = geo.enu_rotation(32.5, 51.5)[0]  # east at the target, in ECEF
    v = -3400.0 * east  # flying west, across the beam
    truth0, truth1 = np.concatenate([p0, v]), np.concatenate([p0 + 5.0 * v, v])
    z0 = polar_h(truth0[None], site, range_rate=True)[0]
    z1 = polar_h(truth1[None], site, range_rate=True)[0]
    assert z1[0, 3] - z0[0, 3] > 50.0  # the line of sight turned
    x, P = OnePointInitiator().initiate(z0, sigma, site)
    x, P = ConstantVelocity().predict(x, P, np.array([5.0]), np.ones(1))
    pred = site.predict(x, P, np.array([0]), np.diag(sigma**2))
    d2 = ChiSquareGate().gate(x, P, z1, sigma, site).d2
    assert d2.size == 1 and d2[0] <= ChiSquareGate().gamma4
    y = site.innovation(z1, pred.zhat)
    S_lin = pred.S[0].copy()
    S_lin[3, 3] -= pred.extra[0]
    assert y[0] @ np.linalg.solve(S_lin, y[0]) > ChiSquareGate().gamma4  # linear: rejected
    settled = np.diag([800.0**2] * 3 + [30.0**2] * 3)
    assert np.sqrt(range_rate_spread(truth1[None], settled[None], site))[0] < 1.0
