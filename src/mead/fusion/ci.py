"""Fusion kernels: covariance intersection of grouped tracks (CV prediction is the tracker's,
:func:`mead.tracking.motion.cv_predict`).

Tracks from different partners are fused with **covariance intersection** (CI, Julier &
Uhlmann 1997). Partners' errors are correlated in unknown ways (shared sensors, common
process noise, the same coordinator feedback), so the Kalman-optimal combination would
double count information and be overconfident. For K estimates (x_i, P_i) of one object,
with weights ω_i ≥ 0 and Σ ω_i = 1,

    P⁻¹ = Σ_i ω_i P_i⁻¹,        x = P Σ_i ω_i P_i⁻¹ x_i,

which is consistent (P ≥ the true error covariance) for *any* cross-correlation between
the inputs that are each consistent. The weights are Niehsen's fast closed form
(Niehsen 2002, "Information fusion based on fast covariance intersection filtering"):

    ω_i = (1 / tr P_i) / Σ_j (1 / tr P_j),

which avoids a K-dimensional optimisation and is batched over any number of groups. The
trace mixes m² and (m/s)²; for air tracks it is dominated by the position block, so the
more precise position wins. CI of K identical estimates returns that estimate.

Groups: the rows of ``x``/``P`` are sorted so that each group (one system track) is a
contiguous run; ``starts`` (G,) holds the first row of each group, as for
``np.add.reduceat``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mead.types import Array, Covs, Index, States


def _check_states(x: States, P: Covs, name: str = "") -> None:
    if x.ndim != 2 or x.shape[1] != 6:
        raise ValueError(f"'x{name}' must have shape (N, 6), got {x.shape}")
    if P.shape != (x.shape[0], 6, 6):
        raise ValueError(f"'P{name}' must have shape ({x.shape[0]}, 6, 6), got {P.shape}")


def symmetrize(P: NDArray[np.floating[Any]]) -> Covs:
    """(P + Pᵀ) / 2 over the last two axes, float64."""
    return np.asarray(0.5 * (P + P.swapaxes(-1, -2)), dtype=np.float64)


def group_starts(keys: np.ndarray) -> tuple[Index, Index]:
    """First row and size of each run of equal values in a sorted (N,) key array.

    Returns ``starts`` (G,) and ``counts`` (G,); empty arrays for N = 0.
    """
    n = keys.shape[0]
    if n == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, n])
    return starts, counts


def _check_starts(starts: Index, n: int) -> Index:
    starts = np.asarray(starts, dtype=np.intp)
    if starts.ndim != 1 or (n > 0 and (starts.size == 0 or starts[0] != 0)):
        raise ValueError(f"'starts' must be a 1-D array beginning at 0, got {starts[:5]}")
    if np.any(np.diff(starts) <= 0) or (starts.size and starts[-1] >= n):
        raise ValueError(f"'starts' must be strictly increasing and < N={n}")
    return starts


def fast_ci_weights(P: Covs, starts: Index) -> Array:
    """(N,) fast-CI weights ω_i = (1/tr P_i) / Σ_group (1/tr P_j); they sum to 1 per group."""
    starts = _check_starts(starts, P.shape[0])
    a = 1.0 / np.trace(P, axis1=1, axis2=2)
    counts = np.diff(np.r_[starts, P.shape[0]])
    return a / np.repeat(np.add.reduceat(a, starts), counts)


def _information(x: States, P: Covs, starts: Index) -> tuple[Array, Covs, Array, Covs, Array]:
    """Unnormalised weights a_i = 1/tr P_i, Y_i = P_i⁻¹, y_i = Y_i x_i and group sums."""
    _check_states(x, P)
    starts = _check_starts(starts, x.shape[0])
    if x.shape[0] and np.any(np.trace(P, axis1=1, axis2=2) <= 0):
        raise ValueError("every 'P' must have a positive trace")
    a = 1.0 / np.trace(P, axis1=1, axis2=2)
    Y = symmetrize(np.linalg.inv(P))
    y = (Y @ x[:, :, None])[:, :, 0]
    return a, Y, y, np.add.reduceat(a, starts), np.add.reduceat(a[:, None, None] * Y, starts)


def ci_fuse(x: States, P: Covs, starts: Index) -> tuple[States, Covs]:
    """Covariance intersection of every group of rows, with fast-CI weights.

    Parameters
    ----------
    x : (N, 6) ECEF states, all valid at one common time, sorted by group.
    P : (N, 6, 6) their covariances (symmetric positive definite).
    starts : (G,) first row of each group.

    Returns
    -------
    (G, 6) fused states and (G, 6, 6) fused covariances, P = (Σ ω_i P_i⁻¹)⁻¹ and
    x = P Σ ω_i P_i⁻¹ x_i.
    """
    if x.shape[0] == 0:
        _check_states(x, P)
        return np.empty((0, 6)), np.empty((0, 6, 6))
    a, _Y, y, A, Ysum = _information(x, P, starts)
    i = np.add.reduceat(a[:, None] * y, starts)
    Pf = symmetrize(np.linalg.inv(Ysum / A[:, None, None]))
    xf = (Pf @ (i / A[:, None])[:, :, None])[:, :, 0]
    return xf, Pf


def ci_leave_one_out(
    x: States, P: Covs, starts: Index, rows: Index | None = None
) -> tuple[States, Covs, np.ndarray]:
    """For each row, the CI of the *other* rows of its group (fast-CI weights renormalised).

    Used to check that one contributor still agrees with the rest of its system track.
    Computed from the unnormalised group sums minus the row's own term:
    P_o⁻¹ = (Σ_j a_j P_j⁻¹ − a_r P_r⁻¹) / (Σ_j a_j − a_r) with a_j = 1/tr P_j.

    Parameters
    ----------
    x, P, starts : as for ``ci_fuse``.
    rows : (R,) rows to answer for (default every row, R = N).

    Returns
    -------
    (R, 6) states, (R, 6, 6) covariances and (R,) bool ``has_others``; rows alone in their
    group get their own (x, P) back and ``has_others`` False.
    """
    n = x.shape[0]
    if n == 0:
        _check_states(x, P)
        return np.empty((0, 6)), np.empty((0, 6, 6)), np.empty(0, bool)
    a, Y, y, A, Ysum = _information(x, P, starts)
    counts = np.diff(np.r_[_check_starts(starts, n), n])
    i = np.add.reduceat(a[:, None] * y, starts)
    r = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    g = np.repeat(np.arange(starts.size), counts)[r]
    has = counts[g] >= 2
    Ao = np.where(has, A[g] - a[r], 1.0)[:, None]
    Io = np.where(has[:, None, None], (Ysum[g] - a[r, None, None] * Y[r]) / Ao[:, :, None], Y[r])
    io = np.where(has[:, None], (i[g] - a[r, None] * y[r]) / Ao, y[r])
    Po = symmetrize(np.linalg.inv(Io))
    xo = (Po @ io[:, :, None])[:, :, 0]
    Po[~has], xo[~has] = P[r][~has], x[r][~has]
    return xo, Po, has
