"""Tests of the detection kernels against pymap3d, brute-force geometry and Monte-Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mead import geo
from mead.sensors import detection


def binomial_ok(k: int, n: int, p: float, z: float = 4.5) -> bool:
    """Whether k successes in n trials are within z σ of n·p."""
    return abs(k - n * p) <= z * np.sqrt(n * p * (1 - p)) + 1


def test_ecef2alt_matches_pymap3d() -> None:
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-90, 90, 5000), rng.uniform(-180, 180, 5000)
    h = rng.uniform(-1000.0, 1e6, 5000)
    p = geo.geodetic2ecef(lat, lon, h)
    np.testing.assert_allclose(detection.ecef2alt_m(p), geo.ecef2geodetic(p)[2], atol=1e-3)


def test_ecef2rae_matches_geo_enu2rae() -> None:
    rng = np.random.default_rng(2)
    lat0, lon0, alt0 = 31.5, 35.0, 120.0
    p = geo.geodetic2ecef(
        lat0 + rng.uniform(-3, 3, 300), lon0 + rng.uniform(-3, 3, 300), rng.uniform(0, 3e4, 300)
    )
    site = geo.geodetic2ecef(lat0, lon0, alt0)
    got = detection.ecef2rae(p, site, geo.enu_rotation(lat0, lon0))
    want = geo.enu2rae(geo.ecef2enu(p, lat0, lon0, alt0))
    np.testing.assert_allclose(got[:, 0], want[:, 0], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(got[:, 1:], want[:, 1:], rtol=0, atol=1e-12)
    assert np.all((got[:, 1] >= 0) & (got[:, 1] < 2 * np.pi))


def _in_sector_loop(az_deg: float, lo: float, hi: float) -> bool:
    """Reference: az (or any 360° alias of it) lies in the closed interval [lo, hi]."""
    if hi - lo >= 360.0:
        return True
    return any(lo <= az_deg + k * 360.0 <= hi for k in (-2, -1, 0, 1, 2))


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        (0.0, 360.0),
        (-10.0, 350.0),
        (300.0, 420.0),
        (-60.0, 60.0),
        (10.0, 50.0),
        (-350.0, -340.0),
        (359.0, 361.0),
        (200.0, 700.0),
        (90.0, 270.0),
    ],
)
def test_in_sector_equals_loop(lo: float, hi: float) -> None:
    az = np.linspace(0.0, 2 * np.pi, 721, endpoint=False) + 1e-7
    got = detection.in_sector(az, lo, hi)
    want = [_in_sector_loop(a, lo, hi) for a in np.degrees(az)]
    assert got.tolist() == want


def test_in_sector_wrap_examples() -> None:
    az = np.radians([350.0, 30.0, 59.0, 61.0, 90.0, 250.0, 299.0, 301.0])
    assert detection.in_sector(az, 300.0, 420.0).tolist() == [1, 1, 1, 0, 0, 0, 0, 1]
    assert detection.in_sector(az, -60.0, 60.0).tolist() == [1, 1, 1, 0, 0, 0, 0, 1]


def _clear_brute(s: float, h_r: float, h_t: float, k: float = geo.K_REFRACTION) -> bool:
    """Reference LOS: sample the straight segment on the k-earth and check it stays outside."""
    ke = k * geo.R_MEAN_M
    rr, rt = ke + h_r, ke + h_t
    sin_el = (rt**2 - rr**2 - s**2) / (2 * rr * s)
    cos_el = np.sqrt(1 - sin_el**2)
    u = np.linspace(0.0, s, 20001)
    x, y = u * cos_el, rr + u * sin_el
    return bool(np.min(np.hypot(x, y)) >= ke - 1e-3)


def test_line_of_sight_equals_brute_force_segment() -> None:
    rng = np.random.default_rng(3)
    n = 400
    h_r = rng.choice([5.0, 50.0, 800.0, 2500.0], n)
    h_t = rng.uniform(0.0, 5000.0, n)
    s = rng.uniform(1.01 * np.abs(h_t - h_r) + 1e3, 1.5 * geo.radar_horizon_m(h_r, h_t), n)
    got = [
        bool(detection.line_of_sight(np.array([si]), hr, np.array([ht]), -np.pi / 2, np.pi / 2)[0])
        for si, hr, ht in zip(s, h_r, h_t, strict=True)
    ]
    want = [_clear_brute(si, hr, ht) for si, hr, ht in zip(s, h_r, h_t, strict=True)]
    assert got == want
    assert 0.2 < np.mean(want) < 0.8  # both outcomes exercised


def test_line_of_sight_reduces_to_apparent_elevation_rule() -> None:
    """With min_el above the dip: visible ⇔ max(min_el, dip) ≤ el_app ≤ max_el."""
    rng = np.random.default_rng(4)
    n, h_r = 5000, 40.0
    h_t = rng.uniform(0.0, 3e4, n)
    s = rng.uniform(1e3, 6e5, n)
    lo, hi = np.radians(0.5), np.radians(60.0)
    el = geo.apparent_elevation_rad(s, h_r, h_t)
    want = (el >= max(lo, float(geo.horizon_dip_rad(h_r)))) & (el <= hi)
    assert np.array_equal(detection.line_of_sight(s, h_r, h_t, lo, hi), want)


def test_line_of_sight_horizon_distance() -> None:
    """Ground-level min_el: beyond geo.radar_horizon_m hidden, just inside visible."""
    h_r, h_t = np.array([10.0, 30.0, 300.0]), np.array([50.0, 100.0, 1000.0])
    d = geo.radar_horizon_m(h_r, h_t)
    lo, hi = np.radians(-5.0), np.radians(85.0)
    for hr, ht, dh in zip(h_r, h_t, d, strict=True):
        s = np.array([0.99 * dh, 1.01 * dh])
        assert detection.line_of_sight(s, hr, np.full(2, ht), lo, hi).tolist() == [True, False]


def test_line_of_sight_high_site_sees_below_its_horizon_ray() -> None:
    """A mountain radar sees a low target nearer than its tangent point, below the dip."""
    h_r, h_t, s = 2000.0, 100.0, 40e3
    el = geo.apparent_elevation_rad(s, h_r, h_t)
    assert el < geo.horizon_dip_rad(h_r)
    assert detection.line_of_sight(np.array([s]), h_r, np.array([h_t]), np.radians(-5), 1.0)[0]


def test_mean_snr_radar_equation() -> None:
    snr = detection.mean_snr(
        np.array([300e3, 600e3, 150e3]), np.array([1.0, 2.0, 1.0]), 20.0, 300e3
    )
    np.testing.assert_allclose(snr, [20.0, 20.0 * 2 / 16, 20.0 * 16])


def test_swerling1_pd_direct_and_limits() -> None:
    pfa, ref_snr = 1e-6, 10**1.3
    snr = detection.mean_snr(np.array([300e3]), np.array([1.0]), ref_snr, 300e3)
    assert detection.swerling1_pd(snr, pfa)[0] == pytest.approx(pfa ** (1 / (1 + ref_snr)))
    assert detection.swerling1_pd(np.array([0.0]), pfa)[0] == pytest.approx(pfa)
    pd = detection.swerling1_pd(np.logspace(-2, 4, 50), pfa)
    assert np.all(np.diff(pd) > 0) and pd[-1] > 0.99


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 13.0, 20.0])
def test_swerling1_pd_monte_carlo_square_law(snr_db: float) -> None:
    """Exponential echo power with mean 1 + SNR against threshold −ln Pfa."""
    rng = np.random.default_rng(5)
    pfa, snr, n = 1e-4, 10 ** (snr_db / 10), 200_000
    power = rng.exponential(1.0 + snr, n)
    k = int(np.count_nonzero(power > -np.log(pfa)))
    assert binomial_ok(k, n, float(detection.swerling1_pd(np.array([snr]), pfa)[0]))


def test_add_noise_statistics_and_wrap() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    z = np.column_stack([np.full(n, 1e5), np.full(n, 0.001), np.full(n, 0.1)])
    sigma = np.array([50.0, 0.01, 0.005])
    out = detection.add_noise(z, sigma, rng)
    assert np.all((out[:, 1] >= 0) & (out[:, 1] < 2 * np.pi))
    assert np.any(out[:, 1] > np.pi)  # some wrapped past north
    err = out - z
    err[:, 1] = np.mod(err[:, 1] + np.pi, 2 * np.pi) - np.pi
    lo, hi = stats.chi2.ppf([5e-4, 1 - 5e-4], n - 1) / (n - 1)
    for j in range(3):
        ratio = err[:, j].var(ddof=1) / sigma[j] ** 2
        assert lo < ratio < hi, j
        assert abs(err[:, j].mean()) < 4.5 * sigma[j] / np.sqrt(n)


def test_draw_clutter_count_and_bounds() -> None:
    rng = np.random.default_rng(7)
    lam, scans = 3.0, 3000
    az = (np.radians(300.0), np.radians(120.0))
    plots = [detection.draw_clutter(rng, lam, (1e3, 2e5), az, (0.0, 0.05)) for _ in range(scans)]
    total = sum(len(p) for p in plots)
    assert abs(total - lam * scans) < 4.5 * np.sqrt(lam * scans)
    z = np.concatenate(plots)
    assert z.shape[1] == 3
    assert np.all((z[:, 0] >= 1e3) & (z[:, 0] <= 2e5))
    assert np.all((z[:, 2] >= 0.0) & (z[:, 2] <= 0.05))
    assert np.all(detection.in_sector(z[:, 1], 300.0, 420.0))
    assert np.all((z[:, 1] >= 0) & (z[:, 1] < 2 * np.pi))
    assert detection.draw_clutter(rng, 0.0, (1e3, 2e5), az, (0.0, 0.05)).shape == (0, 3)
