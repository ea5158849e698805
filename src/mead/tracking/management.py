"""Track management: where sensors can see, how tracks start, when they are confirmed or deleted.

- ``RadarCoverage`` says which predicted track positions a sensor could have detected.
  A track only counts a *miss* on a scan of a sensor that covers it.
- ``FullCoverage`` says every sensor sees everything (recorded scenarios).
- ``OnePointInitiator`` starts a tentative track from one unassociated plot.
- ``MOfNManager`` keeps every track's hit/miss history over its detection chances
  (a plot or a miss) and its track score (``score``), confirms a tentative track with M
  hits in its last N chances or, when ``confirm_llr`` is set, as soon as its score
  reaches it; deletes tracks that miss too often, coast too long or grow too uncertain,
  and gives a quality in [0, 1].
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead.tracking.measurement import MeasurementModel
from mead.tracking.score import confirm_threshold
from mead.tracking.table import TrackTable
from mead.types import Array, Covs, Mask, Meas, Positions, States


class Coverage(Protocol):
    """Which positions a sensor could have detected on its last scan."""

    def observe(self, sensor_id: str, z: Meas) -> None:
        """See a scan's plots (M, 3) [range m, az rad, el rad]; a coverage model may learn."""

    def covers(self, sensor_id: str, site: MeasurementModel, pos: Positions) -> Mask:
        """(N,) True where ECEF positions ``pos`` (N, 3) m are inside the sensor's coverage."""
        ...


class RadarCoverage:
    """Range and azimuth coverage of each radar: configured, or learned from its plots.

    A sensor with a configured ``max_range_m`` covers every position within that range of
    its site, inside its ``sectors_deg`` sector (clockwise from the first azimuth to the
    second, degrees from north; default all round). Elevation and the radar horizon are
    not modelled.

    A sensor without a configured range is learned, when ``learn`` is set, from the plots
    it reports: its range is the farthest plot so far; its azimuth coverage is all round
    unless its plots leave an empty arc wider than ``min_gap_deg`` (a sector radar), in
    which case it is everything but the widest empty arc (1° resolution). Clutter fills a
    radar's real coverage within a few scans; until then the learned coverage is smaller
    than the real one, which only means fewer misses are counted. A sensor with no plots
    yet covers nothing.
    """

    def __init__(
        self,
        max_range_m: Mapping[str, float] | None = None,
        *,
        sectors_deg: Mapping[str, tuple[float, float]] | None = None,
        learn: bool = True,
        min_gap_deg: float = 90.0,
    ) -> None:
        self.max_range_m = dict(max_range_m or {})  # sensor id → instrumented range, m
        self.sectors_deg = dict(sectors_deg or {})  # sensor id → (from, to) az deg clockwise
        for sid, r in self.max_range_m.items():
            if not (np.isfinite(r) and r > 0):
                raise ValueError(f"RadarCoverage.max_range_m[{sid!r}] must be > 0 (got {r})")
        for sid, (lo, hi) in self.sectors_deg.items():
            if not hi > lo:
                raise ValueError(
                    f"RadarCoverage.sectors_deg[{sid!r}]: the second azimuth "
                    f"must exceed the first (got {lo}, {hi})"
                )
        if not 0.0 < min_gap_deg < 360.0:
            raise ValueError(f"RadarCoverage.min_gap_deg must be in (0, 360) (got {min_gap_deg})")
        self.learn = learn  # learn unknown sensors from their plots
        self.min_gap_deg = min_gap_deg  # deg, narrowest empty arc taken as outside a sector
        self.learned_m: dict[str, float] = {}  # sensor id → farthest plot so far, m
        self.seen_deg: dict[str, np.ndarray] = {}  # sensor id → (360,) bool: a plot in that 1°
        self.covered_deg: dict[str, np.ndarray] = {}  # sensor id → (360,) bool: covered 1°

    def __deepcopy__(self, memo: dict[int, object]) -> RadarCoverage:
        """A copy that shares nothing it changes (the tracker checkpoints it every few
        seconds; the configured ranges and sectors are never changed after construction)."""
        new = copy.copy(self)
        new.learned_m = dict(self.learned_m)
        new.seen_deg = {k: v.copy() for k, v in self.seen_deg.items()}
        new.covered_deg = {k: v.copy() for k, v in self.covered_deg.items()}
        return new

    def observe(self, sensor_id: str, z: Meas) -> None:
        """Grow a learned sensor's range and azimuth coverage to include its plots (M, 3)."""
        if not self.learn or len(z) == 0 or sensor_id in self.max_range_m:
            return
        self.learned_m[sensor_id] = max(self.learned_m.get(sensor_id, 0.0), float(z[:, 0].max()))
        seen = self.seen_deg.setdefault(sensor_id, np.zeros(360, bool))
        new = _deg_bin(z[:, 1])
        if not seen[new].all():
            seen[new] = True
            self.covered_deg[sensor_id] = _outside_widest_gap(seen, self.min_gap_deg)

    def covers(self, sensor_id: str, site: MeasurementModel, pos: Positions) -> Mask:
        """(N,) True where ECEF ``pos`` (N, 3) m is inside the sensor's coverage."""
        e = (pos - site.origin) @ site.rot.T
        az = np.mod(np.arctan2(e[:, 0], e[:, 1]), 2 * np.pi)
        rng = np.linalg.norm(e, axis=1)
        if sensor_id in self.max_range_m:
            inside = rng <= self.max_range_m[sensor_id]
            if sensor_id in self.sectors_deg:
                lo, hi = self.sectors_deg[sensor_id]
                inside &= np.mod(np.degrees(az) - lo, 360.0) <= hi - lo
            return inside
        if sensor_id not in self.learned_m:
            return np.zeros(len(pos), bool)
        return (rng <= self.learned_m[sensor_id]) & self.covered_deg[sensor_id][_deg_bin(az)]


class FullCoverage:
    """Every sensor covers every position (a survey of the whole scene, e.g. recorded 2D data)."""

    def observe(self, sensor_id: str, z: Meas) -> None:
        """Nothing to learn."""

    def covers(self, sensor_id: str, site: MeasurementModel, pos: Positions) -> Mask:
        """(N,) all True."""
        return np.ones(len(pos), bool)


def _deg_bin(az_rad: Array) -> np.ndarray:
    """Whole-degree azimuth bin 0..359 of azimuths in rad."""
    return np.floor(np.mod(np.degrees(az_rad), 360.0)).astype(np.intp) % 360


def _outside_widest_gap(seen: np.ndarray, min_gap_deg: float) -> np.ndarray:
    """(360,) bool: every bin except the widest circular run of unseen bins, if that run is
    at least ``min_gap_deg`` wide; else every bin."""
    empty = np.concatenate([~seen, ~seen]).astype(np.int64)  # unrolled twice: runs wrap
    edges = np.diff(np.concatenate([[0], empty, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    covered = np.ones(360, bool)
    if len(starts) == 0:
        return covered
    k = np.argmax(ends - starts)
    width = min(int(ends[k] - starts[k]), 360)
    if width >= min_gap_deg and width < 360:
        covered[np.arange(starts[k], starts[k] + width) % 360] = False
    return covered


class Initiator(Protocol):
    """Starts tentative tracks from plots no track took."""

    def initiate(self, z: Meas, sigma: Array, model: MeasurementModel) -> tuple[States, Covs]:
        """States (K, 6) and covariances (K, 6, 6) of K new tracks from plots z (K, m)
        with noise ``sigma`` (m,); m = 3, or 4 with range rate."""
        ...


class TrackManager(Protocol):
    """Keeps track histories; confirms, deletes and scores tracks."""

    def record(self, table: TrackTable, hit: Mask, miss: Mask, llr: Array) -> None:
        """Add one detection chance to the tracks that got a plot or missed one; ``llr``
        (N,) is ln(g / β_FA) of each hit's plot (``score``), ignored elsewhere."""

    def confirm(self, table: TrackTable) -> Mask:
        """(N,) True for tentative tracks to confirm now."""
        ...

    def delete(self, table: TrackTable, t: float) -> Mask:
        """(N,) True for tracks to delete at time ``t`` (s)."""
        ...

    def quality(self, table: TrackTable) -> Array:
        """(N,) track quality in [0, 1]."""
        ...


@dataclass(frozen=True)
class OnePointInitiator:
    """A new track at a plot's ECEF position, with zero velocity of large uncertainty.

    The position covariance is the plot's noise (polar or Cartesian, per the scan's
    measurement model) rotated into ECEF; the velocity covariance is
    diag(σ_h², σ_h², σ_v²) in the sensor's ENU frame. With the χ² gate the
    next plot is caught up to ≈ 4 σ_h · dt away, so the default 1,000 m/s reaches a 3 km/s
    ballistic missile at 5–10 s scans; the first update then sets the velocity, as a
    two-point initiation would.

    A plot with range rate ṙ (z (K, 4), ``sigma`` (4,)) also sets the velocity along its
    line of sight u (ECEF, from the site to the plot): the mean is ṙ u and the covariance
    A C A + σ_ṙ² u uᵀ, with C the prior above and A = I − u uᵀ, i.e. variance σ_ṙ² along u
    and the large prior across it. A 2.5 km/s missile flying at the radar is then caught
    on the next scan whatever ``vel_std_*``.
    """

    vel_std_h_mps: float = 1_000.0  # m/s, 1-σ horizontal velocity of a new track
    vel_std_v_mps: float = 1_000.0  # m/s, 1-σ vertical velocity of a new track

    def __post_init__(self) -> None:
        for name in ("vel_std_h_mps", "vel_std_v_mps"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"OnePointInitiator.{name} must be > 0 (got {v})")

    def initiate(self, z: Meas, sigma: Array, model: MeasurementModel) -> tuple[States, Covs]:
        """States (K, 6) and covariances (K, 6, 6) of K new tracks from plots z (K, 3), or
        (K, 4) with range rate m/s; ``sigma`` (3,) or (4,) is the plots' 1-σ noise."""
        k = len(z)
        x = np.zeros((k, 6))
        x[:, :3] = model.to_ecef(z)
        P = np.zeros((k, 6, 6))
        P[:, :3, :3] = model.cov_ecef(z, sigma)
        vel = np.square([self.vel_std_h_mps, self.vel_std_h_mps, self.vel_std_v_mps])
        P[:, 3:, 3:] = model.rot.T @ np.diag(vel) @ model.rot
        if z.shape[1] == 4:
            d = x[:, :3] - model.origin
            u = d / np.linalg.norm(d, axis=1, keepdims=True)  # (K, 3) line of sight, ECEF
            uu = u[:, :, None] * u[:, None, :]
            A = np.eye(3) - uu  # projection across the line of sight
            x[:, 3:] = z[:, 3:4] * u
            Pv = A @ P[:, 3:, 3:] @ A + sigma[3] ** 2 * uu
            P[:, 3:, 3:] = 0.5 * (Pv + Pv.swapaxes(-1, -2))
        return x, P


def _popcount(bits: np.ndarray) -> np.ndarray:
    return np.bitwise_count(bits).astype(np.int64)


CONFIRM_LLR = confirm_threshold(1e-5, 1e-3)
"""Default confirming track score, ln((1 − 10⁻³) / 10⁻⁵) ≈ 11.5: chosen on the reference raid
(``benchmarks/bench_reference_tracking.py --tracker score-5 mofn``), where it confirms
ballistic missiles in a median 4 looks against 8 for 3-of-4 with no track far from every
object; 10⁻³ confirmed 182 such false tracks in ten hours without range rate."""


@dataclass(frozen=True)
class MOfNManager:
    """M-of-N or track-score confirmation, miss/coast/covariance deletion, hit-ratio quality.

    The track score (``mead.tracking.score``) adds ln P_D + ``llr`` on a hit and
    ln(1 − P_D) on a miss, from 0 at the first plot; with ``confirm_llr`` set, a track is
    confirmed when it has ``m`` hits in its last ``n`` chances *or* a score of
    ``confirm_llr`` (default ``CONFIRM_LLR``; None: M-of-N only).
    """

    m: int = 3  # hits among the last n chances that confirm a track
    n: int = 4  # window of the confirmation rule, chances
    confirm_llr: float | None = CONFIRM_LLR  # track score that confirms too (None: M-of-N only)
    pd: float = 0.7  # nominal detection probability of the score's hit/miss terms
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
        if not 0.0 < self.pd < 1.0:
            raise ValueError(f"MOfNManager.pd must be in (0, 1) (got {self.pd})")
        if self.confirm_llr is not None and not (np.isfinite(self.confirm_llr)):
            raise ValueError(f"MOfNManager.confirm_llr must be finite (got {self.confirm_llr})")
        if self.max_misses < 1:
            raise ValueError(f"MOfNManager.max_misses must be >= 1 (got {self.max_misses})")
        for name in ("max_pos_std_m", "max_coast_s", "max_coast_tentative_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MOfNManager.{name} must be > 0 (got {getattr(self, name)})")

    def record(self, table: TrackTable, hit: Mask, miss: Mask, llr: Array) -> None:
        """Add one detection chance to tracks that got a plot (``hit``) or missed (``miss``);
        ``llr`` (N,) is ln(g / β_FA) of each hit's plot."""
        chance = hit | miss
        gain = np.where(hit, np.log(self.pd) + llr, np.log1p(-self.pd))
        table.score = np.where(chance, table.score + gain, table.score)
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
        ok = hits >= self.m
        if self.confirm_llr is not None:
            ok |= table.score >= self.confirm_llr
        return ~table.confirmed & ok

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
