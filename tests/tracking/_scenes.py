"""Scenes for tracker tests: scans built straight from ECEF truth with ``mead.geo`` (no sensors stage)."""

from __future__ import annotations

import numpy as np

from mead import geo
from mead.sensors.base import Scan
from mead.types import Array, Positions

SIGMA = np.array([30.0, np.radians(0.1), np.radians(0.1)])
"""Default plot noise [m, rad, rad]: a good radar."""


def site_point(lat_deg: float, lon_deg: float, east_m: float, north_m: float,
               up_m: float) -> Positions:
    """ECEF position (3,) of an ENU offset from a point on the ellipsoid."""
    return geo.enu2ecef(np.array([east_m, north_m, up_m]), lat_deg, lon_deg, 0.0)


def make_scan(
    t: float,
    pos: Positions,
    site: tuple[float, float, float] = (50.0, 10.0, 100.0),
    *,
    sensor_id: str = "r1",
    sigma: Array = SIGMA,
    rng: np.random.Generator | None = None,
    pd: float = 1.0,
    clutter: float = 0.0,
    max_range_m: float = 400e3,
) -> Scan:
    """One scan of objects at ECEF ``pos`` (K, 3): each detected with ``pd``, polar noise
    ``sigma`` and ``clutter`` mean Poisson false plots uniform in range, azimuth and
    elevation 0–20°. Plots are shuffled; ``truth`` holds the object index (−1: clutter)."""
    rng = rng or np.random.default_rng(0)
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
    z = geo.enu2rae(geo.ecef2enu(pos, *site)).reshape(-1, 3)
    keep = (rng.random(len(z)) < pd) & (z[:, 0] <= max_range_m)
    z, truth = z[keep], np.flatnonzero(keep)
    z = z + rng.normal(size=z.shape) * sigma
    n_c = rng.poisson(clutter) if clutter else 0
    zc = np.column_stack([rng.uniform(5e3, max_range_m, n_c), rng.uniform(0, 2 * np.pi, n_c),
                          rng.uniform(0, np.radians(20), n_c)])
    z = np.concatenate([z, zc])
    truth = np.concatenate([truth, np.full(n_c, -1)])
    order = rng.permutation(len(z))
    z[:, 1] = np.mod(z[:, 1], 2 * np.pi)
    return Scan(sensor_id, "P1", float(t), *site, z[order], np.asarray(sigma, float),
                truth[order])
