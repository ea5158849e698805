"""Radar detection kernels: geometry, k-earth line of sight, Swerling-1 Pd, noise and clutter.

Pure numpy functions batched over targets (leading axis K) or plots (M). SI units inside:
metres, radians, linear SNR. Randomness comes in as an ``np.random.Generator``.
"""

from __future__ import annotations

import numpy as np

from mead import geo
from mead.geo import A_M, E2, K_REFRACTION, R_MEAN_M
from mead.types import Array, Mask, Matrix, Meas, Positions, States

_B_M = A_M * np.sqrt(1.0 - E2)  # WGS84 semi-minor axis, m
_EP2 = E2 / (1.0 - E2)  # second eccentricity squared
TWO_PI = 2.0 * np.pi


def ecef2alt_m(p: Positions) -> Array:
    """Height above the WGS84 ellipsoid of ECEF points (K, 3) → (K,) m.

    Bowring's single-step formula: millimetre-accurate from below sea level up to a few
    hundred kilometres, and ~5× cheaper than an iterative geodetic conversion.
    """
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    q = np.hypot(x, y)
    theta = np.arctan2(z * A_M, q * _B_M)
    st, ct = np.sin(theta), np.cos(theta)
    lat = np.arctan2(z + _EP2 * _B_M * st**3, q - E2 * A_M * ct**3)
    sl, cl = np.sin(lat), np.cos(lat)
    return q * cl + z * sl - A_M * np.sqrt(1.0 - E2 * sl**2)


def ecef2rae(p: Positions, site_ecef: Array, rot: Matrix) -> Meas:
    """ECEF points (K, 3) → geometric polar (K, 3) [range m, az rad in [0, 2π), el rad].

    ``site_ecef`` (3,) is the radar's ECEF position and ``rot`` (3, 3) its ECEF→ENU rotation
    (``geo.enu_rotation``). Azimuth is clockwise from north; elevation is the straight-line
    (unrefracted) angle, which is what a plot reports.
    """
    e = (p - site_ecef) @ rot.T
    horiz = np.hypot(e[:, 0], e[:, 1])
    return np.stack(
        [
            np.hypot(horiz, e[:, 2]),
            np.mod(np.arctan2(e[:, 0], e[:, 1]), TWO_PI),
            np.arctan2(e[:, 2], horiz),
        ],
        axis=-1,
    )


def range_rate(x: States, site_ecef: Array) -> Array:
    """Range rate ṙ (K,) m/s of ECEF states x (K, 6) seen from a site fixed on the Earth.

    ṙ = uᵀ (v − v_site) with u = (p − o)/|p − o| the line of sight; the site is at rest
    in the rotating ECEF frame (v_site = 0), so ṙ = uᵀ v. Positive when receding.
    """
    return geo.range_rate(x, site_ecef)[0]


def in_sector(az_rad: Array, min_az_deg: float, max_az_deg: float) -> Mask:
    """Whether azimuths (K,) rad lie in the clockwise sector ``min_az_deg`` → ``max_az_deg``.

    The sector may wrap past north (e.g. 300 → 420, or −60 → 60); a width of 360° or more
    covers every azimuth.
    """
    width = max_az_deg - min_az_deg
    if width >= 360.0:
        return np.ones(np.shape(az_rad), dtype=bool)
    return np.mod(np.degrees(az_rad) - min_az_deg, 360.0) <= width


def line_of_sight(
    range_m: Array,
    h_radar_m: float,
    h_target_m: Array,
    min_el_rad: float,
    max_el_rad: float,
    k: float = K_REFRACTION,
) -> Mask:
    """Whether targets (K,) are in view of a radar on a k-earth (refraction included).

    The apparent elevation ``el`` follows from the law of cosines on a sphere of radius kR
    (as ``geo.apparent_elevation_rad``; heights below 0 count as 0). A target is in view
    when ``min_el ≤ el ≤ max_el`` and the straight ray on the k-earth does not pass below
    the surface before reaching it: either ``el ≥`` the horizon dip
    (``geo.horizon_dip_rad``), or the target lies before the ray's closest approach to the
    Earth's centre, ``s ≤ −(kR + h_r) sin el`` (a target below a high site's horizon ray
    but nearer than the tangent point). When ``min_el`` is above the dip, as for any radar
    near the ground, this reduces to ``max(min_el, dip) ≤ el ≤ max_el``.

    Parameters
    ----------
    range_m : (K,) slant range, m.
    h_radar_m : radar height above the ellipsoid, m.
    h_target_m : (K,) target heights above the ellipsoid, m.
    min_el_rad, max_el_rad : the radar's elevation coverage, rad.
    k : effective-Earth factor (4/3 for a standard atmosphere).
    """
    ke = k * R_MEAN_M
    rr = ke + max(h_radar_m, 0.0)
    rt = ke + np.maximum(h_target_m, 0.0)
    s = np.maximum(range_m, 1e-9)
    sin_el = np.clip((rt * rt - rr * rr - s * s) / (2.0 * rr * s), -1.0, 1.0)
    sin_dip = -np.sqrt(1.0 - (ke / rr) ** 2)  # sin of the (negative) horizon dip
    clear = (sin_el >= sin_dip) | (s <= -rr * sin_el)
    return clear & (sin_el >= np.sin(min_el_rad)) & (sin_el <= np.sin(max_el_rad))


def mean_snr(range_m: Array, rcs_m2: Array, ref_snr: float, ref_range_m: float) -> Array:
    """Radar-equation mean SNR (linear) of targets (K,): ref_snr · (σ / 1 m²) · (R_ref / R)⁴."""
    ratio = ref_range_m / np.maximum(range_m, 1.0)
    ratio2 = ratio * ratio
    return ref_snr * rcs_m2 * (ratio2 * ratio2)


def swerling1_pd(snr: Array, pfa: float) -> Array:
    """Probability of detection (K,) of a Swerling-1 target, single pulse, square-law detector.

    Pd = Pfa^(1 / (1 + SNR)), exact: the echo power is exponential with mean (1 + SNR)
    noise powers and the threshold T = −ln Pfa, so Pd = exp(−T / (1 + SNR)).
    """
    return np.power(pfa, 1.0 / (1.0 + np.asarray(snr, dtype=np.float64)))


def add_noise(z: Meas, sigma: Array, rng: np.random.Generator) -> Meas:
    """Add independent Gaussian noise ``sigma`` (3,) [m, rad, rad] to plots (M, 3), or
    (4,) [m, rad, rad, m/s] to plots with range rate (M, 4).

    Azimuth is wrapped into [0, 2π). Returns a new array.
    """
    out = z + rng.standard_normal(z.shape) * sigma
    out[:, 1] = np.mod(out[:, 1], TWO_PI)
    return out


def draw_clutter(
    rng: np.random.Generator,
    mean_count: float,
    range_m: tuple[float, float],
    az_rad: tuple[float, float],
    el_rad: tuple[float, float],
    range_rate_mps: float | None = None,
) -> Meas:
    """Poisson(``mean_count``) false plots (M, 3), uniform in the polar measurement volume.

    Range is uniform in ``range_m`` = (lo, hi) m, azimuth uniform over the clockwise sector
    ``az_rad`` = (start, width) rad (wrapped into [0, 2π)), elevation uniform in
    ``el_rad`` = (lo, hi) rad. The clutter density a tracker should assume is therefore
    ``mean_count / ((hi − lo)_r · width · (hi − lo)_el)`` per m·rad².

    With ``range_rate_mps`` a, the plots get a fourth column, a range rate uniform in
    [−a, a) m/s (M, 4), drawn after the positions (which stay as without it): the density
    per m·rad²·m/s is the above over 2a.
    """
    n = int(rng.poisson(mean_count)) if mean_count > 0.0 else 0
    u = rng.random((n, 3))
    lo = np.array([range_m[0], az_rad[0], el_rad[0]])
    span = np.array([range_m[1] - range_m[0], az_rad[1], el_rad[1] - el_rad[0]])
    z = lo + u * span
    z[:, 1] = np.mod(z[:, 1], TWO_PI)
    if range_rate_mps is not None:
        z = np.column_stack([z, rng.uniform(-range_rate_mps, range_rate_mps, n)])
    return z
