"""Scenes for tracker tests: scans built straight from ECEF truth with ``mead.geo``.

The sensors stage is not used: plots are the exact polar coordinates of the truth at the
radar site (``geo.ecef2enu`` → ``geo.enu2rae``) plus Gaussian noise, and clutter is drawn
uniformly in range, azimuth and elevation.
"""

from __future__ import annotations

import numpy as np

from mead import geo
from mead.sensors.base import Scan
from mead.types import Array, Positions

REF = (50.0, 10.0)
"""Reference point (lat, lon deg) of the scenes' local ENU frame; radar r1 stands there."""

SITE1 = (50.0, 10.0, 100.0)
SIGMA = np.array([30.0, np.radians(0.1), np.radians(0.1)])
"""Default plot noise [m, rad, rad]: a good radar."""

SIGMA_EW = np.array([75.0, np.radians(0.2), np.radians(0.3)])
"""Plot noise of a long-range early-warning radar (the scenario default)."""


def enu2ecef(enu: Array) -> Positions:
    """ENU positions (..., 3) m in the scenes' frame (at ``REF``, height 0) → ECEF (..., 3)."""
    return geo.enu2ecef(np.asarray(enu, dtype=np.float64), *REF, 0.0)


def enu_vel2ecef(v_enu: Array) -> Array:
    """ENU velocities (..., 3) m/s → ECEF velocities (..., 3)."""
    return np.asarray(v_enu, dtype=np.float64) @ geo.enu_rotation(*REF)


def make_scan(
    t: float,
    pos: Positions,
    site: tuple[float, float, float] = SITE1,
    *,
    sensor_id: str = "r1",
    sigma: Array = SIGMA,
    rng: np.random.Generator | None = None,
    pd: float = 1.0,
    clutter: float = 0.0,
    max_range_m: float = 400e3,
) -> Scan:
    """One scan of the objects at ECEF ``pos`` (K, 3).

    Each object within ``max_range_m`` is detected with probability ``pd`` and measured
    with polar noise ``sigma``; ``clutter`` is the mean number of Poisson false plots,
    uniform in range 5 km–``max_range_m``, all azimuths and elevation 0–20°. Plots are
    shuffled; ``truth`` holds the object index (−1 for clutter).
    """
    rng = rng or np.random.default_rng(0)
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
    z = geo.enu2rae(geo.ecef2enu(pos, *site)).reshape(-1, 3)
    keep = (rng.random(len(z)) < pd) & (z[:, 0] <= max_range_m)
    truth = np.flatnonzero(keep)
    z = z[keep] + rng.normal(size=(len(truth), 3)) * sigma
    n_c = int(rng.poisson(clutter)) if clutter else 0
    zc = np.column_stack(
        [
            rng.uniform(5e3, max_range_m, n_c),
            rng.uniform(0, 2 * np.pi, n_c),
            rng.uniform(0, np.radians(20), n_c),
        ]
    )
    z = np.concatenate([z, zc])
    z[:, 1] = np.mod(z[:, 1], 2 * np.pi)
    truth = np.concatenate([truth, np.full(n_c, -1)])
    order = rng.permutation(len(z))
    return Scan(sensor_id, "P1", float(t), *site, z[order], np.asarray(sigma, float), truth[order])


def with_range_rate(
    scan: Scan, pos: Positions, vel: Array, sigma_mps: float, rng: np.random.Generator
) -> Scan:
    """``scan`` with a range-rate column: the truth's ṙ plus noise, clutter uniform ±1.5 km/s.

    ``pos`` and ``vel`` (K, 3) are the ECEF positions and velocities of the scene's objects
    (``scan.truth`` indexes them). ṙ = uᵀv with u the unit vector from the site (through
    ``mead.geo``) to the true position. The position columns are kept, so scans with and
    without range rate share their positions; ``rng`` draws only the new column.
    """
    site = (scan.site_lat_deg, scan.site_lon_deg, scan.site_alt_m)
    los = np.asarray(pos, dtype=np.float64).reshape(-1, 3) - geo.geodetic2ecef(*site).reshape(3)
    u = los / np.linalg.norm(los, axis=1, keepdims=True)
    truth_rdot = np.einsum("ij,ij->i", u, np.asarray(vel, dtype=np.float64).reshape(-1, 3))
    is_target = scan.truth >= 0
    rdot = rng.uniform(-1500.0, 1500.0, len(scan.z))
    rdot[is_target] = truth_rdot[scan.truth[is_target]]
    rdot[is_target] += rng.normal(size=int(is_target.sum())) * sigma_mps
    z = np.column_stack([scan.z, rdot])
    sigma = np.append(scan.sigma, sigma_mps)
    return Scan(scan.sensor_id, scan.partner, scan.t, *site, z, sigma, scan.truth)
