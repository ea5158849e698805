"""Geodesy for every stage: WGS84 geodetic ↔ ECEF ↔ ENU ↔ radar polar, great circles, horizon.

All functions are vectorised: scalars or arrays broadcast. Angles are radians unless the
name says ``_deg``. ECEF is WGS84 Earth-centred Earth-fixed, metres. ENU/polar frames are
local to a site given by geodetic latitude, longitude and ellipsoidal height.
"""

from __future__ import annotations

import numba
import numpy as np
import pymap3d

from mead.types import Array, ArrayLike, Matrix, Positions

WGS84 = pymap3d.Ellipsoid.from_name("wgs84")
A_M = WGS84.semimajor_axis  # equatorial radius, m
E2 = 1.0 - (WGS84.semiminor_axis / A_M) ** 2  # first eccentricity squared
R_MEAN_M = 6_371_008.8  # IUGG mean Earth radius, m (great circles)
GM = 3.986004418e14  # Earth's gravitational parameter, m³/s²
OMEGA_E = 7.2921150e-5  # Earth's rotation rate, rad/s
K_REFRACTION = 4.0 / 3.0  # standard-atmosphere effective-Earth factor


def geodetic2ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike) -> Positions:
    """Geodetic (deg, deg, m above WGS84) → ECEF positions, shape (..., 3) in m."""
    x, y, z = pymap3d.geodetic2ecef(lat_deg, lon_deg, alt_m, ell=WGS84)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1).astype(np.float64)


def ecef2geodetic(p: Positions) -> tuple[Array, Array, Array]:
    """ECEF positions (..., 3) in m → (lat deg, lon deg, alt m above WGS84).

    Bowring's method with two refinements: sub-millimetre from the ground to well beyond
    low orbit (checked against pymap3d in the tests), and several times faster, which
    matters because every classification and impact prediction calls it — on tens of
    tracks at a time, so it runs point by point in compiled code.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"ECEF positions must have shape (..., 3), got {p.shape}")
    flat = np.ascontiguousarray(p.reshape(-1, 3))
    out = np.empty((3, len(flat)))
    _ecef2geodetic(flat, out)
    lat, lon, alt = (a.reshape(p.shape[:-1]) for a in out)
    return lat, lon, alt


_B_M = WGS84.semiminor_axis
_EP2 = (A_M**2 - _B_M**2) / _B_M**2  # second eccentricity squared


@numba.njit("void(f8[:, ::1], f8[:, ::1])", cache=True)
def _ecef2geodetic(p: Positions, out: Array) -> None:
    """:func:`ecef2geodetic` of rows (M, 3) into ``out`` (3, M): lat, lon deg, alt m."""
    deg = 180.0 / np.pi
    for k in range(p.shape[0]):
        x, y, z = p[k, 0], p[k, 1], p[k, 2]
        r = np.hypot(x, y)
        beta = np.arctan2(A_M * z, _B_M * r)  # parametric latitude, first guess
        phi = 0.0
        for _ in range(2):
            sb, cb = np.sin(beta), np.cos(beta)
            phi = np.arctan2(z + _EP2 * _B_M * sb**3.0, r - E2 * A_M * cb**3.0)
            beta = np.arctan2(_B_M * np.sin(phi), A_M * np.cos(phi))
        sp, cp = np.sin(phi), np.cos(phi)
        n = A_M / np.sqrt(1.0 - E2 * sp * sp)
        out[0, k] = phi * deg
        out[1, k] = np.arctan2(y, x) * deg
        out[2, k] = r * cp + (z + E2 * n * sp) * sp - n


def enu_rotation(lat_deg: float, lon_deg: float) -> Matrix:
    """(3, 3) rotation taking ECEF vectors into the local ENU frame at (lat, lon)."""
    phi, lam = np.radians(lat_deg), np.radians(lon_deg)
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    return np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])


def enu_rotations(lat_deg: ArrayLike, lon_deg: ArrayLike) -> Array:
    """(N, 3, 3) ENU rotations for N sites at once."""
    phi, lam = np.radians(np.asarray(lat_deg)), np.radians(np.asarray(lon_deg))
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    z = np.zeros_like(sp)
    rows = [[-sl, cl, z], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]]
    return np.moveaxis(np.array(rows), (0, 1), (-2, -1))


def ecef2enu(p: Positions, lat0_deg: float, lon0_deg: float, alt0_m: float) -> Array:
    """ECEF positions (..., 3) → ENU (..., 3) m relative to the site (lat0, lon0, alt0)."""
    origin = geodetic2ecef(lat0_deg, lon0_deg, alt0_m)
    return (np.asarray(p) - origin) @ enu_rotation(lat0_deg, lon0_deg).T


def enu2ecef(e: Array, lat0_deg: float, lon0_deg: float, alt0_m: float) -> Positions:
    """ENU (..., 3) m relative to the site → ECEF positions (..., 3) m."""
    origin = geodetic2ecef(lat0_deg, lon0_deg, alt0_m)
    return np.asarray(e) @ enu_rotation(lat0_deg, lon0_deg) + origin


def enu2rae(e: Array) -> Array:
    """ENU (..., 3) → polar (..., 3): [slant range m, azimuth rad in [0, 2π), elevation rad].

    Azimuth is clockwise from north.
    """
    e = np.asarray(e, dtype=np.float64)
    horiz = np.hypot(e[..., 0], e[..., 1])
    rng = np.hypot(horiz, e[..., 2])
    az = np.mod(np.arctan2(e[..., 0], e[..., 1]), 2 * np.pi)
    el = np.arctan2(e[..., 2], horiz)
    return np.stack([rng, az, el], axis=-1)


def rae2enu(m: Array) -> Array:
    """Polar (..., 3) [range m, az rad, el rad] → ENU (..., 3) m."""
    m = np.asarray(m, dtype=np.float64)
    r, az, el = m[..., 0], m[..., 1], m[..., 2]
    ce = np.cos(el)
    return np.stack([r * ce * np.sin(az), r * ce * np.cos(az), r * np.sin(el)], axis=-1)


def great_circle_distance_m(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> Array:
    """Great-circle distance (haversine on the mean sphere), m."""
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * R_MEAN_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def initial_bearing_deg(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> Array:
    """Initial great-circle bearing from point 1 to point 2, deg clockwise from north, [0, 360)."""
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.mod(np.degrees(np.arctan2(y, x)), 360.0)


def destination(
    lat_deg: ArrayLike, lon_deg: ArrayLike, bearing_deg: ArrayLike, dist_m: ArrayLike
) -> tuple[Array, Array]:
    """Point reached from (lat, lon) along a great circle with an initial bearing (mean sphere)."""
    p1, l1 = np.radians(lat_deg), np.radians(lon_deg)
    b, d = np.radians(bearing_deg), np.asarray(dist_m) / R_MEAN_M
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 540.0) % 360.0 - 180.0


def radar_horizon_m(h_radar_m: ArrayLike, h_target_m: ArrayLike, k: float = K_REFRACTION) -> Array:
    """Radar horizon distance (m) with k-earth refraction: √(2kRh_r) + √(2kRh_t)."""
    ke = k * R_MEAN_M
    hr = np.maximum(np.asarray(h_radar_m, dtype=np.float64), 0.0)
    ht = np.maximum(np.asarray(h_target_m, dtype=np.float64), 0.0)
    return np.sqrt(2 * ke * hr) + np.sqrt(2 * ke * ht)


def apparent_elevation_rad(
    slant_m: ArrayLike, h_radar_m: ArrayLike, h_target_m: ArrayLike, k: float = K_REFRACTION
) -> Array:
    """Elevation of a target seen from a radar on a k-earth (refraction included), rad.

    On a sphere of radius kR the law of cosines gives
    sin(el) = ((kR+h_t)² − (kR+h_r)² − s²) / (2 (kR+h_r) s). A target is above the radar
    horizon when this elevation exceeds the horizon dip, which is what a minimum-elevation
    check then tests.
    """
    ke = k * R_MEAN_M
    rr, rt = ke + np.asarray(h_radar_m), ke + np.asarray(h_target_m)
    s = np.maximum(np.asarray(slant_m, dtype=np.float64), 1e-9)
    return np.arcsin(np.clip((rt**2 - rr**2 - s**2) / (2 * rr * s), -1.0, 1.0))


def horizon_dip_rad(h_radar_m: ArrayLike, k: float = K_REFRACTION) -> Array:
    """Depression angle of the geometric horizon on a k-earth seen from height h_r (≤ 0), rad."""
    ke = k * R_MEAN_M
    return -np.arccos(ke / (ke + np.maximum(np.asarray(h_radar_m, dtype=np.float64), 0.0)))


def point_in_polygon(lat_deg: Array, lon_deg: Array, poly: Array) -> Array:
    """Even-odd test of points against a lat/lon polygon (K, 2) [lat, lon] deg (small areas)."""
    lat, lon = np.atleast_1d(lat_deg)[:, None], np.atleast_1d(lon_deg)[:, None]
    y1, x1 = poly[:, 0][None, :], poly[:, 1][None, :]
    y2, x2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = (y1 > lat) != (y2 > lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
    return (np.count_nonzero(crosses & (lon < x_at), axis=1) % 2) == 1


def range_rate(x: Array, site_ecef: Array, min_range_m: float = 1.0) -> tuple[Array, Array, Array]:
    """Range rate of K ECEF states x (K, 6) seen from a site fixed on the Earth.

    ṙ = uᵀ v with u = (p − o)/r the line of sight and r = |p − o| (floored at
    ``min_range_m``); the site is at rest in the rotating ECEF frame. Positive when
    receding. Returns ṙ (K,) m/s, u (K, 3) and r (K,) m, for callers that differentiate it.
    """
    d = x[:, :3] - site_ecef
    r = np.maximum(np.linalg.norm(d, axis=1), min_range_m)
    u = d / r[:, None]
    return np.einsum("ij,ij->i", u, x[:, 3:6]), u, r
