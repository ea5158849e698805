"""Geodesy against pymap3d, round trips and textbook values."""

from __future__ import annotations

import numpy as np
import pymap3d
import pymap3d.vincenty
import pytest

from mead import geo


def _points(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-89, 89, n), rng.uniform(-180, 180, n), rng.uniform(-500, 500_000, n)


def test_geodetic_ecef_round_trip() -> None:
    lat, lon, alt = _points()
    back = geo.ecef2geodetic(geo.geodetic2ecef(lat, lon, alt))
    np.testing.assert_allclose(back[0], lat, atol=1e-9)
    np.testing.assert_allclose(back[1], lon, atol=1e-9)
    np.testing.assert_allclose(back[2], alt, atol=1e-4)


def test_enu_matches_pymap3d_and_round_trips() -> None:
    lat, lon, alt = _points(50, 1)
    p = geo.geodetic2ecef(lat, lon, alt)
    site = (31.9, 34.9, 150.0)
    enu = geo.ecef2enu(p, *site)
    ref = np.stack(pymap3d.ecef2enu(p[:, 0], p[:, 1], p[:, 2], *site), axis=-1)
    np.testing.assert_allclose(enu, ref, atol=1e-6)
    np.testing.assert_allclose(geo.enu2ecef(enu, *site), p, atol=1e-6)


def test_rae_round_trip_and_matches_pymap3d() -> None:
    rng = np.random.default_rng(2)
    enu = rng.normal(0, 1e5, (100, 3))
    rae = geo.enu2rae(enu)
    az, el, rng_m = pymap3d.enu2aer(enu[:, 0], enu[:, 1], enu[:, 2], deg=False)
    np.testing.assert_allclose(rae[:, 0], rng_m, rtol=1e-12)
    np.testing.assert_allclose(rae[:, 1], az, atol=1e-12)
    np.testing.assert_allclose(rae[:, 2], el, atol=1e-12)
    np.testing.assert_allclose(geo.rae2enu(rae), enu, atol=1e-6)


def test_enu_rotations_batched_equals_single() -> None:
    lat, lon, _ = _points(10, 3)
    batched = geo.enu_rotations(lat, lon)
    for k in range(10):
        np.testing.assert_allclose(batched[k], geo.enu_rotation(lat[k], lon[k]), atol=1e-15)


def test_great_circle_distance_and_bearing_against_vincenty() -> None:
    # Tel Aviv → Tehran: the sphere agrees with the WGS84 geodesic to ~0.5 %.
    d = geo.great_circle_distance_m(32.08, 34.78, 35.69, 51.39)
    ref, az = pymap3d.vincenty.vdist(32.08, 34.78, 35.69, 51.39)
    assert d == pytest.approx(ref, rel=5e-3)
    assert geo.initial_bearing_deg(32.08, 34.78, 35.69, 51.39) == pytest.approx(az, abs=0.5)
    assert geo.initial_bearing_deg(0, 0, 10, 0) == pytest.approx(0.0)
    assert geo.initial_bearing_deg(0, 0, 0, 10) == pytest.approx(90.0)


def test_destination_inverts_distance_and_bearing() -> None:
    lat2, lon2 = geo.destination(31.0, 35.0, 63.0, 1_234_000.0)
    assert geo.great_circle_distance_m(31.0, 35.0, lat2, lon2) == pytest.approx(1_234_000.0)
    assert geo.initial_bearing_deg(31.0, 35.0, lat2, lon2) == pytest.approx(63.0)


def test_radar_horizon_textbook_value() -> None:
    # The rule of thumb: d [km] ≈ 4.12 (√h_r + √h_t) with heights in metres (4/3 earth).
    d = geo.radar_horizon_m(10.0, 1000.0)
    assert d / 1e3 == pytest.approx(4.12 * (np.sqrt(10) + np.sqrt(1000)), rel=2e-3)
    assert geo.radar_horizon_m(0.0, 0.0) == 0.0


def test_apparent_elevation_zero_dip_at_the_horizon() -> None:
    # A target exactly at the horizon distance, seen from the ground, is at the dip angle 0.
    h_t = 1000.0
    ke = geo.K_REFRACTION * geo.R_MEAN_M
    slant = np.sqrt((ke + h_t) ** 2 - ke**2)  # tangent line from a radar at h_r = 0
    assert geo.apparent_elevation_rad(slant, 0.0, h_t) == pytest.approx(0.0, abs=1e-9)
    assert geo.apparent_elevation_rad(slant * 1.01, 0.0, h_t) < 0
    assert geo.horizon_dip_rad(0.0) == 0.0
    assert geo.horizon_dip_rad(2000.0) < 0


def test_point_in_polygon() -> None:
    square = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    inside = geo.point_in_polygon(np.array([0.5, 1.5, 0.5]), np.array([0.5, 0.5, -0.1]), square)
    assert inside.tolist() == [True, False, False]


def test_ecef2geodetic_matches_pymap3d_from_ground_to_orbit() -> None:
    lat, lon, _ = _points(500, 4)
    alt = np.random.default_rng(5).uniform(-1000, 2_000_000, 500)
    p = geo.geodetic2ecef(lat, lon, alt)
    ref = pymap3d.ecef2geodetic(p[:, 0], p[:, 1], p[:, 2], ell=geo.WGS84)
    got = geo.ecef2geodetic(p)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-10)
    np.testing.assert_allclose(got[1], ref[1], atol=1e-10)
    np.testing.assert_allclose(got[2], ref[2], atol=1e-4)
