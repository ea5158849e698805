"""Tests of the simulated radar: coverage, Swerling-1 Pd, noise, clutter, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mead import geo
from mead.errors import ConfigError
from mead.scenario.schema import Point, Sector, Sensor
from mead.sensors.radar import CLUTTER_RANGE_RATE_MPS, Radar

from ._fakes import point_at

LAT, LON, ALT = 32.0, 35.0, 30.0
SITE = Point(lat_deg=LAT, lon_deg=LON, alt_m=ALT)
BIG_RCS = 1e9  # Pd ≈ 1 anywhere in coverage


def make_radar(**kw: object) -> Radar:
    args: dict[str, object] = {"id": "R1", "site": SITE, "clutter_per_scan": 0.0}
    args.update(kw)
    return Radar(Sensor(**args), "P1")  # type: ignore[arg-type]


def scan_points(
    radar: Radar,
    p: np.ndarray,
    rcs: float | np.ndarray,
    seed: int = 0,
    idx: np.ndarray | None = None,
):
    """One scan of stationary points (K, 3)."""
    k = len(p)
    X = np.hstack([p, np.zeros((k, 3))])
    idx = np.arange(k) if idx is None else idx
    return radar.scan(10.0, idx, X, np.broadcast_to(rcs, (k,)).copy(), np.random.default_rng(seed))


def detections_per_target(radar: Radar, p: np.ndarray, n_scans: int = 100) -> np.ndarray:
    """How many of ``n_scans`` scans detected each point."""
    hits = np.zeros(len(p), dtype=int)
    for seed in range(n_scans):
        s = scan_points(radar, p, BIG_RCS, seed)
        np.add.at(hits, s.truth[s.truth >= 0], 1)
    return hits


def true_rae(radar: Radar, p: np.ndarray) -> np.ndarray:
    """Independent polar of ECEF points via geo (pymap3d)."""
    return geo.enu2rae(geo.ecef2enu(p, LAT, LON, ALT))


def test_beyond_radar_horizon_never_detected_inside_always() -> None:
    radar = make_radar(min_el_deg=-5.0, range_km=500.0)
    h_t = np.array([100.0, 300.0, 1000.0])
    d = geo.radar_horizon_m(ALT, h_t)
    inside = point_at(LAT, LON, [0.0, 120.0, 240.0], 0.97 * d, h_t)
    beyond = point_at(LAT, LON, [0.0, 120.0, 240.0], 1.03 * d, h_t)
    hits = detections_per_target(radar, np.vstack([inside, beyond]))
    assert hits.tolist() == [100, 100, 100, 0, 0, 0]


def test_min_elevation_hides_low_targets_inside_horizon() -> None:
    radar = make_radar(min_el_deg=1.0, range_km=500.0)
    h_t = np.array([100.0, 3000.0])
    p = point_at(LAT, LON, [45.0, 45.0], [30e3, 30e3], h_t)  # el ≈ 0.1°, ≈ 5.6°
    assert detections_per_target(radar, p, 20).tolist() == [0, 20]


def test_max_elevation_cone_of_silence() -> None:
    radar = make_radar(max_el_deg=60.0)
    p = point_at(LAT, LON, [0.0, 0.0], [3e3, 10e3], [10e3, 1e3])  # el ≈ 73°, ≈ 5.5°
    assert detections_per_target(radar, p, 20).tolist() == [0, 20]


def test_max_range() -> None:
    radar = make_radar(range_km=100.0)
    p = point_at(LAT, LON, [10.0, 10.0], [97e3, 103e3], [5e3, 5e3])
    r = true_rae(radar, p)[:, 0]
    assert r[0] < 100e3 < r[1]
    assert detections_per_target(radar, p, 50).tolist() == [50, 0]


@pytest.mark.parametrize(("lo", "hi"), [(300.0, 420.0), (-60.0, 60.0)])
def test_sector_wraps_past_north(lo: float, hi: float) -> None:
    radar = make_radar(sector=Sector(min_az_deg=lo, max_az_deg=hi))
    bearings = [350.0, 30.0, 55.0, 65.0, 90.0, 180.0, 250.0, 305.0, 295.0]
    p = point_at(LAT, LON, bearings, 50e3, 5e3)
    assert detections_per_target(radar, p, 20).tolist() == [20, 20, 20, 0, 0, 0, 0, 20, 0]


def test_pd_at_reference_range_is_swerling1() -> None:
    """Direct formula and a seeded Monte-Carlo over many identical 1 m² targets."""
    radar = make_radar(ref_range_km=150.0, ref_snr_db=13.0, pfa=1e-6, range_km=300.0)
    ref_snr = 10**1.3
    pd = 1e-6 ** (1 / (1 + ref_snr))
    assert radar.ref_snr == pytest.approx(ref_snr)
    n = 20_000
    # targets spread over azimuth at exactly the reference slant range
    bearing = np.linspace(0.0, 360.0, n, endpoint=False)
    p = point_at(LAT, LON, bearing, 150e3, 8e3)
    r = true_rae(radar, p)[:, 0]
    p = geo.enu2ecef(geo.ecef2enu(p, LAT, LON, ALT) * (150e3 / r)[:, None], LAT, LON, ALT)
    s = scan_points(radar, p, 1.0, seed=11)
    k = int(np.count_nonzero(s.truth >= 0))
    assert abs(k - n * pd) < 4.5 * np.sqrt(n * pd * (1 - pd))


@pytest.mark.parametrize(("range_km", "rcs"), [(200.0, 2.0), (100.0, 0.1), (300.0, 30.0)])
def test_pd_monte_carlo_against_radar_equation(range_km: float, rcs: float) -> None:
    radar = make_radar(ref_range_km=150.0, ref_snr_db=13.0, pfa=1e-6, range_km=400.0)
    n = 20_000
    p = point_at(LAT, LON, np.linspace(0.0, 360.0, n, endpoint=False), range_km * 1e3, 9e3)
    r = true_rae(radar, p)[:, 0]
    pd = 1e-6 ** (1 / (1 + 10**1.3 * rcs * (150e3 / r) ** 4))
    s = scan_points(radar, p, rcs, seed=12)
    k = int(np.count_nonzero(s.truth >= 0))
    mean, var = pd.sum(), (pd * (1 - pd)).sum()  # Poisson-binomial
    assert abs(k - mean) < 4.5 * np.sqrt(var)


def test_measurement_noise_statistics() -> None:
    radar = make_radar(sigma_range_m=60.0, sigma_az_deg=0.25, sigma_el_deg=0.4)
    n = 8000
    p = point_at(LAT, LON, np.linspace(0.0, 360.0, n, endpoint=False), 80e3, 6e3)
    s = scan_points(radar, p, BIG_RCS, seed=13)
    assert len(s.z) == n
    want = true_rae(radar, p)[s.truth]
    err = s.z - want
    err[:, 1] = np.mod(err[:, 1] + np.pi, 2 * np.pi) - np.pi
    sigma = np.array([60.0, np.radians(0.25), np.radians(0.4)])
    np.testing.assert_allclose(s.sigma, sigma)
    lo, hi = stats.chi2.ppf([5e-4, 1 - 5e-4], n - 1) / (n - 1)
    for j in range(3):
        assert lo < err[:, j].var(ddof=1) / sigma[j] ** 2 < hi, j
        assert abs(err[:, j].mean()) < 4.5 * sigma[j] / np.sqrt(n), j
    assert np.all((s.z[:, 1] >= 0) & (s.z[:, 1] < 2 * np.pi))


def test_clutter_count_bounds_and_labels() -> None:
    lam = 4.0
    radar = make_radar(clutter_per_scan=lam, sector=Sector(min_az_deg=-30.0, max_az_deg=30.0))
    rng = np.random.default_rng(14)
    empty_i, empty_x = np.empty(0, dtype=np.intp), np.empty((0, 6))
    scans = [radar.scan(float(t), empty_i, empty_x, np.empty(0), rng) for t in range(2000)]
    counts = np.array([len(s.z) for s in scans])
    assert abs(counts.sum() - lam * 2000) < 4.5 * np.sqrt(lam * 2000)
    assert counts.var(ddof=1) == pytest.approx(lam, rel=0.15)  # Poisson: var = mean
    z = np.concatenate([s.z for s in scans])
    assert np.all(np.concatenate([s.truth for s in scans]) == -1)
    assert np.all((z[:, 0] >= 1e3) & (z[:, 0] <= radar.range_m))
    az = np.degrees(z[:, 1])
    assert np.all((az <= 30.0) | (az >= 330.0))
    assert np.all((z[:, 2] >= radar.min_el_rad) & (z[:, 2] <= radar.min_el_rad + np.radians(3)))
    expected = lam / ((radar.range_m - 1e3) * np.radians(60.0) * np.radians(3.0))
    assert radar.clutter_density == pytest.approx(expected)


def test_plots_are_shuffled_with_clutter() -> None:
    radar = make_radar(clutter_per_scan=5.0)
    p = point_at(LAT, LON, np.linspace(0.0, 360.0, 20, endpoint=False), 50e3, 5e3)
    last_is_clutter = [scan_points(radar, p, BIG_RCS, seed).truth[-1] == -1 for seed in range(40)]
    assert 0 < sum(last_is_clutter) < 40


def test_plots_convert_back_to_truth() -> None:
    """rae2enu → enu2ecef of a plot lands on the truth: exactly without noise, within 5σ with."""
    bearings = np.linspace(0.0, 360.0, 50, endpoint=False)
    p = point_at(LAT, LON, bearings, np.linspace(20e3, 300e3, 50), 9e3)
    idx = np.arange(50) * 3 + 7  # truth-table indices, not row numbers
    exact = make_radar(sigma_range_m=1e-6, sigma_az_deg=1e-12, sigma_el_deg=1e-12)
    s = scan_points(exact, p, BIG_RCS, seed=15, idx=idx)
    assert sorted(s.truth.tolist()) == idx.tolist()
    back = geo.enu2ecef(geo.rae2enu(s.z), s.site_lat_deg, s.site_lon_deg, s.site_alt_m)
    np.testing.assert_allclose(back, p[(s.truth - 7) // 3], atol=1e-3)

    noisy = make_radar()
    s = scan_points(noisy, p, BIG_RCS, seed=16, idx=idx)
    back = geo.enu2ecef(geo.rae2enu(s.z), LAT, LON, ALT)
    r = s.z[:, 0]
    bound = 5 * np.sqrt(s.sigma[0] ** 2 + (r * s.sigma[1]) ** 2 + (r * s.sigma[2]) ** 2)
    assert np.all(np.linalg.norm(back - p[(s.truth - 7) // 3], axis=1) < bound)


def test_scan_fields_and_empty_scan() -> None:
    radar = make_radar()
    s = radar.scan(
        3.5, np.empty(0, dtype=np.intp), np.empty((0, 6)), np.empty(0), np.random.default_rng(0)
    )
    assert (s.sensor_id, s.partner, s.t) == ("R1", "P1", 3.5)
    assert (s.site_lat_deg, s.site_lon_deg, s.site_alt_m) == (LAT, LON, ALT)
    assert s.z.shape == (0, 3) and s.truth.shape == (0,)
    assert s.truth.dtype == np.int64


def test_scan_is_deterministic_for_a_seed() -> None:
    radar = make_radar(clutter_per_scan=3.0)
    p = point_at(LAT, LON, np.linspace(0.0, 360.0, 30, endpoint=False), 150e3, 5e3)
    a, b = scan_points(radar, p, 1.0, seed=5), scan_points(radar, p, 1.0, seed=5)
    assert np.array_equal(a.z, b.z) and np.array_equal(a.truth, b.truth)
    c = scan_points(radar, p, 1.0, seed=6)
    assert not (a.z.shape == c.z.shape and np.array_equal(a.z, c.z))


@pytest.mark.parametrize(
    ("shape_x", "shape_i", "shape_r", "needle"),
    [
        ((4, 3), (4,), (4,), "X must be (K, 6)"),
        ((4, 6), (3,), (4,), "truth_idx must be (4,)"),
        ((4, 6), (4,), (5,), "rcs_m2 must be (4,)"),
        ((6,), (1,), (1,), "X must be (K, 6)"),
    ],
)
def test_scan_rejects_mismatched_shapes(shape_x, shape_i, shape_r, needle: str) -> None:
    radar = make_radar()
    with pytest.raises(
        ValueError, match=r"Radar 'R1'\.scan: " + needle.replace("(", r"\(").replace(")", r"\)")
    ):
        radar.scan(
            0.0,
            np.zeros(shape_i, dtype=np.intp),
            np.zeros(shape_x),
            np.ones(shape_r),
            np.random.default_rng(0),
        )


def test_scan_rejects_float_truth_index() -> None:
    with pytest.raises(ValueError, match="truth_idx must be integer"):
        make_radar().scan(0.0, np.zeros(2), np.zeros((2, 6)), np.ones(2), np.random.default_rng(0))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("range_km", -1.0),
        ("scan_s", 0.0),
        ("pfa", 1.5),
        ("sigma_az_deg", 0.0),
        ("clutter_per_scan", -2.0),
        ("min_el_deg", -10.0),
        ("sigma_range_rate_mps", -3.0),
    ],
)
def test_bad_sensor_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"sensor 'R1'.*\$\.{field}"):
        make_radar(**{field: value})


def test_empty_partner_rejected() -> None:
    with pytest.raises(ConfigError, match="partner"):
        Radar(Sensor(id="R1", site=SITE), "")


# --- range rate (Doppler) ---


def moving_scan(radar: Radar, p: np.ndarray, v: np.ndarray, seed: int):
    """One scan of points (K, 3) moving with ECEF velocities v (K, 3)."""
    k = len(p)
    X = np.hstack([p, v])
    return radar.scan(10.0, np.arange(k), X, np.full(k, BIG_RCS), np.random.default_rng(seed))


def test_range_rate_is_the_radial_velocity_of_the_truth() -> None:
    """ṙ of each plot against d|p(t) − site|/dt of the truth from ``mead.geo``, and its noise."""
    radar = make_radar(sigma_range_rate_mps=4.0)
    n = 4000
    rng = np.random.default_rng(17)
    p = point_at(LAT, LON, rng.uniform(0.0, 360.0, n), rng.uniform(20e3, 300e3, n), 9e3)
    v = rng.normal(0.0, 800.0, (n, 3))
    s = moving_scan(radar, p, v, seed=18)
    assert s.z.shape == (n, 4) and s.sigma.shape == (4,) and s.sigma[3] == 4.0
    dt = 1e-3
    want = (true_rae(radar, p + v * dt)[:, 0] - true_rae(radar, p - v * dt)[:, 0]) / (2 * dt)
    err = s.z[:, 3] - want[s.truth]
    lo, hi = stats.chi2.ppf([5e-4, 1 - 5e-4], n - 1) / (n - 1)
    assert lo < err.var(ddof=1) / 16.0 < hi
    assert abs(err.mean()) < 4.5 * 4.0 / np.sqrt(n)
    exact = make_radar(sigma_range_rate_mps=1e-9)
    s = moving_scan(exact, p[:50], v[:50], seed=19)
    np.testing.assert_allclose(s.z[:, 3], want[:50][s.truth], atol=1e-3)


def test_range_rate_clutter_is_uniform_in_its_span() -> None:
    radar = make_radar(sigma_range_rate_mps=2.0, clutter_per_scan=50.0)
    rng = np.random.default_rng(20)
    empty_i, empty_x = np.empty(0, dtype=np.intp), np.empty((0, 6))
    z = np.concatenate([radar.scan(0.0, empty_i, empty_x, np.empty(0), rng).z for _ in range(40)])
    assert z.shape[1] == 4 and len(z) > 1500
    assert np.all(np.abs(z[:, 3]) <= CLUTTER_RANGE_RATE_MPS)
    assert stats.kstest(z[:, 3], stats.uniform(-1500.0, 3000.0).cdf).pvalue > 1e-3


def test_radar_without_range_rate_keeps_three_columns() -> None:
    radar = make_radar(clutter_per_scan=2.0)
    p = point_at(LAT, LON, np.linspace(0.0, 360.0, 10, endpoint=False), 80e3, 5e3)
    s = moving_scan(radar, p, np.full((10, 3), 300.0), seed=21)
    assert s.z.shape[1] == 3 and s.sigma.shape == (3,)
    empty = make_radar(sigma_range_rate_mps=1.0).scan(
        0.0, np.empty(0, np.intp), np.empty((0, 6)), np.empty(0), np.random.default_rng(0)
    )
    assert empty.z.shape == (0, 4)
