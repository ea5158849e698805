"""Track management: where sensors can see, how tracks start, when they are confirmed or deleted.

- ``RangeCoverage`` says which predicted track positions a sensor could have detected.
  A track only counts a *miss* on a scan of a sensor that covers it.
- ``OnePointInitiator`` starts a tentative track from one unassociated plot.
- ``MOfNManager`` keeps every track's hit/miss history over its detection chances
  (a plot or a miss), confirms a tentative track with M hits in its last N chances,
  deletes tracks that miss too often, coast too long or grow too uncertain, and gives a
  quality in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead.tracking.measurement import Site, polar2ecef, polar_cov_ecef
from mead.tracking.table import TrackTable
from mead.types import Array, Covs, Mask, Meas, Positions, States


class Coverage(Protocol):
    """Which positions a sensor could have detected on its last scan."""

    def observe(self, sensor_id: str, z: Meas) -> None:
        """See a scan's plots (M, 3); a coverage model may learn from them."""

    def covers(self, sensor_id: str, site: Site, pos: Positions) -> Mask:
        """(N,) True where ECEF positions ``pos`` (N, 3) m are inside the sensor's coverage."""
        ...


class RangeCoverage:
    """A sensor covers every position within its maximum range of its site (no horizon, sector).

    The range of a sensor comes from ``max_range_m`` when given; otherwise, with ``learn``,
    it is the largest plot range the sensor has reported so far (clutter fills the
    instrumented range within a few scans), and a sensor with no plots yet covers nothing.
    """

    def __init__(
        self, max_range_m: Mapping[str, float] | None = None, *, learn: bool = True
    ) -> None:
        self.max_range_m = dict(max_range_m or {})  # sensor id → instrumented range, m
        for sid, r in self.max_range_m.items():
            if not (np.isfinite(r) and r > 0):
                raise ValueError(f"RangeCoverage.max_range_m[{sid!r}] must be > 0 (got {r})")
        self.learn = learn  # learn unknown sensors' range from plots
        self.learned_m: dict[str, float] = {}  # sensor id → largest plot range seen, m

    def observe(self, sensor_id: str, z: Meas) -> None:
        """Raise the learned range of a sensor without a configured range to its farthest plot."""
        if self.learn and len(z) and sensor_id not in self.max_range_m:
            self.learned_m[sensor_id] = max(
                self.learned_m.get(sensor_id, 0.0), float(z[:, 0].max())
            )

    def covers(self, sensor_id: str, site: Site, pos: Positions) -> Mask:
        """(N,) True where |pos − site| ≤ the sensor's range."""
        limit = self.max_range_m.get(sensor_id, self.learned_m.get(sensor_id, 0.0))
        return np.linalg.norm(pos - site.origin, axis=1) <= limit


@dataclass(frozen=True)
class OnePointInitiator:
    """A new track at a plot's ECEF position, with zero velocity of large uncertainty.

    The position covariance is the plot's polar noise rotated into ECEF; the velocity
    covariance is diag(σ_h², σ_h², σ_v²) in the site's ENU frame. With the χ² gate the
    next plot is caught up to ≈ 4 σ_h · dt away, so the default 1,000 m/s reaches a 3 km/s
    ballistic missile at 5–10 s scans; the first update then sets the velocity, as a
    two-point initiation would.
    """

    vel_std_h_mps: float = 1_000.0  # m/s, 1-σ horizontal velocity of a new track
    vel_std_v_mps: float = 1_000.0  # m/s, 1-σ vertical velocity of a new track

    def __post_init__(self) -> None:
        for name in ("vel_std_h_mps", "vel_std_v_mps"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"OnePointInitiator.{name} must be > 0 (got {v})")

    def initiate(self, z: Meas, sigma: Array, site: Site) -> tuple[States, Covs]:
        """States (K, 6) and covariances (K, 6, 6) of K new tracks from plots z (K, 3)."""
        k = len(z)
        x = np.zeros((k, 6))
        x[:, :3] = polar2ecef(z, site)
        P = np.zeros((k, 6, 6))
        P[:, :3, :3] = polar_cov_ecef(z, sigma, site)
        vel = np.square([self.vel_std_h_mps, self.vel_std_h_mps, self.vel_std_v_mps])
        P[:, 3:, 3:] = site.rot.T @ np.diag(vel) @ site.rot
        return x, P


def _popcount(bits: np.ndarray) -> np.ndarray:
    return np.bitwise_count(bits).astype(np.int64)


@dataclass(frozen=True)
class MOfNManager:
    """M-of-N confirmation, miss/coast/covariance deletion and hit-ratio quality."""

    m: int = 3  # hits among the last n chances that confirm a track
    n: int = 4  # window of the confirmation rule, chances
    max_misses: int = 5  # consecutive misses that delete a confirmed track
    max_pos_std_m: float = 30_000.0  # m, √tr(P_pos) beyond which any track is deleted
    max_coast_s: float = 60.0  # s without a plot that deletes a confirmed track
    max_coast_tentative_s: float = 20.0  # s without a plot that deletes a tentative track
    quality_window: int = 10  # chances over which quality = hits / chances

    def __post_init__(self) -> None:
        if not 1 <= self.m <= self.n <= 32:
            raise ValueError(f"MOfNManager needs 1 <= m <= n <= 32 (got m={self.m}, n={self.n})")
        if not 1 <= self.quality_window <= 32:
            raise ValueError(
                f"MOfNManager.quality_window must be in 1..32 (got {self.quality_window})"
            )
        if self.max_misses < 1:
            raise ValueError(f"MOfNManager.max_misses must be >= 1 (got {self.max_misses})")
        for name in ("max_pos_std_m", "max_coast_s", "max_coast_tentative_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MOfNManager.{name} must be > 0 (got {getattr(self, name)})")

    def record(self, table: TrackTable, hit: Mask, miss: Mask) -> None:
        """Add one detection chance to tracks that got a plot (``hit``) or missed (``miss``)."""
        chance = hit | miss
        table.history = np.where(
            chance, (table.history << np.uint32(1)) | hit.astype(np.uint32), table.history
        )
        table.chances = table.chances + chance
        table.misses = np.where(hit, 0, table.misses + miss)

    def _window(self, table: TrackTable, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Hits and chances (N,) among the last ``w`` chances."""
        hits = _popcount(table.history & np.uint32((1 << w) - 1))
        return hits, np.minimum(table.chances, w)

    def confirm(self, table: TrackTable) -> Mask:
        """(N,) True for tentative tracks that now meet the M-of-N rule."""
        hits, _ = self._window(table, self.n)
        return ~table.confirmed & (hits >= self.m)

    def delete(self, table: TrackTable, t: float) -> Mask:
        """(N,) True for tracks to delete at time ``t`` (s)."""
        hits, chances = self._window(table, self.n)
        conf = table.confirmed
        coast = t - table.t_update
        pos_std = np.sqrt(np.trace(table.P[:, :3, :3], axis1=1, axis2=2))
        dead_conf = (table.misses >= self.max_misses) | (coast > self.max_coast_s)
        dead_tent = (chances - hits > self.n - self.m) | (coast > self.max_coast_tentative_s)
        return np.where(conf, dead_conf, dead_tent) | (pos_std > self.max_pos_std_m)

    def quality(self, table: TrackTable) -> Array:
        """(N,) hits / chances over the last ``quality_window`` chances, in [0, 1]."""
        hits, chances = self._window(table, self.quality_window)
        return hits / np.maximum(chances, 1)
