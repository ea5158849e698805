"""Gating for tracking: which plots of a scan may belong to which tracks, in two passes.

1. A coarse pass in ECEF, near-linear in tracks + plots: k-d trees on the tracks'
   predicted positions and on the plots (converted to ECEF) give every pair closer than
   the track's coarse radius
   ``margin · √(γ · (λ_max(P_pos) + λ_R))``, an upper bound of the Mahalanobis gate's
   extent (λ_max(P + R) ≤ λ_max(P) + λ_max(R), Weyl); λ_R bounds the plot noise's largest
   ECEF variance (polar plots: σ_r² + (r σ_ang)², r the track's range from the site, σ_ang
   the larger angular noise) and ``margin`` covers the polar→Cartesian curvature.
2. A fine pass on the surviving pairs: the χ² gate d² = yᵀS⁻¹y ≤ γ_m in the measurement
   space, with y the innovation (polar: azimuth wrapped) and S = HPHᵀ + R from the EKF;
   γ_m is the χ² quantile with m degrees of freedom, m the scan's plot size (3; 4 when the
   radar also measures range rate).

With range rate the coarse pass still uses positions only, with γ_4: the position part of
a 4-dimensional innovation has a Mahalanobis distance no larger than the whole one (a
Schur complement), so the bound still holds.

The scan's ``MeasurementModel`` (a radar ``Site`` or a ``CartesianFrame``) supplies the
plot positions, predictions and innovations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numba
import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import chi2

from mead.linalg import max_eigenvalue_3x3
from mead.tracking.measurement import MeasurementModel, Prediction
from mead.types import Array, Covs, Index, Meas, Positions, States


@dataclass(frozen=True)
class Gated:
    """Track–plot pairs that passed the gate, with what association and update need."""

    track: Index  # (K,) rows in the track table
    plot: Index  # (K,) plot indices in the scan
    row: Index  # (K,) rows of ``pred`` for each pair's track
    d2: Array  # (K,) squared Mahalanobis distance
    y: Meas  # (K, m) innovation in the plot space (polar: [m, rad, rad(, m/s)], az wrapped)
    pred: Prediction  # predicted measurements of the candidate tracks

    @property
    def logdet(self) -> Array:
        """ln |S| of each pair's track (K,)."""
        return self.pred.logdet[self.row]


BRUTE_FORCE_PAIRS = 100_000
"""Largest tracks × plots for which :func:`coarse_pairs` computes every distance."""


def coarse_pairs(
    track_pos: Positions, track_radius_m: Array, plot_pos: Positions
) -> tuple[Index, Index]:
    """Pairs (i, j) with |track_pos[i] − plot_pos[j]| ≤ track_radius_m[i], via k-d trees.

    ``track_pos`` (N, 3) and ``plot_pos`` (M, 3) are ECEF m; returns two (K,) index arrays
    sorted by track then plot. Up to ``BRUTE_FORCE_PAIRS`` track–plot pairs every distance
    is computed (a scan's tens of tracks and plots: building and querying a tree costs
    more); beyond, k-d trees keep it near-linear.
    """
    if len(track_pos) == 0 or len(plot_pos) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    if len(track_pos) * len(plot_pos) <= BRUTE_FORCE_PAIRS:
        return _all_pairs(
            np.ascontiguousarray(track_pos, dtype=np.float64),
            np.ascontiguousarray(track_radius_m, dtype=np.float64),
            np.ascontiguousarray(plot_pos, dtype=np.float64),
        )
    near = cKDTree(plot_pos).query_ball_point(track_pos, track_radius_m, return_sorted=True)
    count = np.fromiter(map(len, near), np.intp, len(near))
    if count.sum() == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    j = np.concatenate(near[count > 0]).astype(np.intp)
    return np.repeat(np.arange(len(track_pos)), count), j


@numba.njit("Tuple((i8[::1], i8[::1]))(f8[:, ::1], f8[::1], f8[:, ::1])", cache=True)
def _all_pairs(track_pos: Positions, radius: Array, plot_pos: Positions) -> tuple[Index, Index]:
    """:func:`coarse_pairs` by computing every track–plot distance (compiled)."""
    n, m = track_pos.shape[0], plot_pos.shape[0]
    i, j = np.empty(n * m, np.int64), np.empty(n * m, np.int64)
    k = 0
    for a in range(n):
        r2 = radius[a] * radius[a]
        for b in range(m):
            dx = track_pos[a, 0] - plot_pos[b, 0]
            dy = track_pos[a, 1] - plot_pos[b, 1]
            dz = track_pos[a, 2] - plot_pos[b, 2]
            if dx * dx + dy * dy + dz * dz <= r2:
                i[k], j[k] = a, b
                k += 1
    return i[:k].copy(), j[:k].copy()


def mahalanobis2(y: Meas, S_inv: Covs) -> Array:
    """Squared Mahalanobis distances yᵀS⁻¹y (K,) of K innovations (K, m)."""
    return np.einsum("ki,kij,kj->k", y, S_inv, y)


class Gate(Protocol):
    """Finds the plots of a scan that may belong to each track."""

    def gate(self, x: States, P: Covs, z: Meas, sigma: Array, model: MeasurementModel) -> Gated:
        """Candidate pairs of N tracks (N, 6), (N, 6, 6) and M plots z (M, m) of ``model``
        with noise ``sigma`` (m,)."""
        ...


@dataclass(frozen=True)
class ChiSquareGate:
    """Coarse k-d tree gate in ECEF, then a χ² gate (m dof, m the plot size) in the
    measurement space."""

    prob: float = 0.999  # probability that a target's own plot falls in the gate
    margin: float = 1.2  # factor on the coarse radius (curvature, linearisation)
    gamma: float = field(init=False)  # χ²₃ quantile at ``prob`` (polar or Cartesian plots)
    gamma4: float = field(init=False)  # χ²₄ quantile at ``prob`` (polar plots + range rate)

    def __post_init__(self) -> None:
        if not 0.0 < self.prob < 1.0:
            raise ValueError(f"ChiSquareGate.prob must be in (0, 1) (got {self.prob})")
        if not self.margin >= 1.0:
            raise ValueError(f"ChiSquareGate.margin must be >= 1 (got {self.margin})")
        object.__setattr__(self, "gamma", float(chi2.ppf(self.prob, 3)))
        object.__setattr__(self, "gamma4", float(chi2.ppf(self.prob, 4)))

    def threshold(self, dim: int) -> float:
        """The gate γ_m on d² for plots of ``dim`` components (3 or 4)."""
        if dim == 3:
            return self.gamma
        if dim == 4:
            return self.gamma4
        raise ValueError(f"ChiSquareGate: plots must have 3 or 4 components (got {dim})")

    def radius_m(self, x: States, P: Covs, sigma: Array, model: MeasurementModel) -> Array:
        """Coarse gate radius (N,) m of N tracks for plots of ``model`` with noise ``sigma``
        (m,); γ_m with m = len(sigma)."""
        lam = max_eigenvalue_3x3(P[:, :3, :3])
        gamma = self.threshold(len(sigma))
        return self.margin * np.sqrt(gamma * (lam + model.spread_m2(x[:, :3], sigma)))

    def gate(self, x: States, P: Covs, z: Meas, sigma: Array, model: MeasurementModel) -> Gated:
        """Pairs of N tracks (N, 6), (N, 6, 6) and M plots z (M, m) with noise ``sigma``
        (m,) that pass both passes."""
        i, j = coarse_pairs(x[:, :3], self.radius_m(x, P, sigma, model), model.to_ecef(z))
        first = np.ones(i.size, bool)  # i is sorted: each track's pairs are one run
        np.not_equal(i[1:], i[:-1], out=first[1:])
        cand, row = i[first], np.cumsum(first) - 1
        pred = model.predict(x, P, cand, np.diag(np.square(sigma)))
        y = model.innovation(z[j], pred.zhat[row])
        d2 = mahalanobis2(y, pred.S_inv[row])
        ok = d2 <= self.threshold(len(sigma))
        return Gated(i[ok], j[ok], row[ok], d2[ok], y[ok], pred)
