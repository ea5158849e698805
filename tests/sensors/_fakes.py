"""Fake truth for sensor tests: straight-line trajectories built straight from the dataclass."""

from __future__ import annotations

import numpy as np

from mead import geo
from mead.sim.base import TruthTable
from mead.types import Array, Positions


def straight_truth(
    p0: Positions,
    v: Array,
    rcs_m2: Array,
    t_start: Array | float = 0.0,
    t_end: Array | float = 1e9,
    dt: float = 10.0,
) -> TruthTable:
    """N objects moving in straight ECEF lines ``p0 + v (t − t_start)``, alive [t_start, t_end).

    Samples every ``dt`` s (linear interpolation of a straight line is exact), at least two.
    """
    p0 = np.atleast_2d(np.asarray(p0, dtype=np.float64))
    n = len(p0)
    v = np.broadcast_to(np.asarray(v, dtype=np.float64), (n, 3))
    t0 = np.broadcast_to(np.asarray(t_start, dtype=np.float64), (n,)).copy()
    t1 = np.broadcast_to(np.asarray(t_end, dtype=np.float64), (n,)).copy()
    count = np.maximum(np.ceil((t1 - t0) / dt).astype(np.int64) + 1, 2)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    k = np.arange(count.sum()) - np.repeat(offset, count)
    obj = np.repeat(np.arange(n), count)
    tau = (k * dt)[:, None]
    samples = np.hstack([p0[obj] + v[obj] * tau, v[obj]])
    return TruthTable(
        ids=[f"obj-{i:04d}" for i in range(n)],
        kind=np.array(["aircraft"] * n),
        raid=["civil"] * n,
        rcs_m2=np.broadcast_to(np.asarray(rcs_m2, dtype=np.float64), (n,)).copy(),
        t_start=t0,
        t_end=t1,
        target_area=[""] * n,
        impact_ecef=p0 + v * (t1 - t0)[:, None],
        dt=np.full(n, dt),
        offset=offset,
        count=count,
        samples=samples,
    )


def point_at(
    lat_deg: float, lon_deg: float, bearing_deg: Array, ground_m: Array, alt_m: Array
) -> Positions:
    """ECEF (K, 3) of points ``ground_m`` away along ``bearing_deg`` from a site, at ``alt_m``."""
    lat, lon = geo.destination(lat_deg, lon_deg, bearing_deg, ground_m)
    return np.atleast_2d(geo.geodetic2ecef(lat, lon, alt_m))
