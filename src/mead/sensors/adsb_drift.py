"""Drift of ADS-B positions from the aircraft's own reported velocity, over a sliding window:
the kernel of the spoofing screen of recorded ADS-B (:func:`mead.sensors.adsb_replay.drifts`).

Over a window from report j to report i of one aircraft, the position displacement
``d = p_i − p_j`` is compared with the integral of the reported velocity (trapezoid over the
report times). A spoofed position that wanders away from the motion the velocity describes
accumulates over the window; a stale position followed by its catch-up does not, because
a position that is up to ``lag_s`` older than its report's time is allowed at each end.

What is left once the best lags are taken out, ``e = min |d − ∫v − τ_i v_i + τ_j v_j|`` over
``|τ_i|, |τ_j| ≤ lag_s`` (horizontal only), is compared with the sum of stated error terms::

    allowed = 2·pos_err_m                      position error of the two reports
            + vel_err_mps · (t_i − t_j)         a velocity error held over the window
            + Σ_steps h·|v₂ − v₁| / 2           trapezoid error: however the velocity moves
                                                from v₁ to v₂ within a step of h s
            + lag_s · |v_i − v_j|               the reported velocity itself up to lag_s old
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.types import Array


@dataclass(frozen=True)
class DriftLimits:
    """The error terms of the drift check and which reports it reads."""

    window_s: float = 300.0  # s, span compared (each report against the one window_s before)
    pos_err_m: float = 185.0  # m, position error of a report (NACp 7: 95 % within 0.1 NM)
    vel_err_mps: float = 3.0  # m/s, ground velocity error (NACv 2: 95 % within 3 m/s)
    lag_s: float = 10.0  # s, how much older than its row a position or velocity may be
    min_speed_mps: float = 50.0  # m/s, slower reports (taxiing) are not checked
    max_gap_s: float = 120.0  # s, a longer gap between reports starts a new stretch
    fill_tol_deg: float = 1.5e-5  # deg, a report this near the line of its neighbours is a fill

    def __post_init__(self) -> None:
        for name in ("window_s", "max_gap_s", "pos_err_m", "vel_err_mps", "lag_s"):
            value = getattr(self, name)
            positive = name in ("window_s", "max_gap_s")
            if not (value > 0 if positive else value >= 0):
                raise ValueError(f"'{name}' must be {'>' if positive else '>='} 0 (got {value})")


def _lag_residual(d: Array, vi: Array, vj: Array, lag_s: float) -> Array:
    """(K,) min over |τ_i|, |τ_j| ≤ lag_s of |d − τ_i v_i + τ_j v_j|, for (K, 3) d, v_i, v_j.

    A convex quadratic over a box: its minimum is inside (the unconstrained solution) or on
    an edge (one τ at ±lag_s, the other the clamped 1-D optimum); the least of these."""
    u, w = vi, -vj  # d − x₁u − x₂w, x ∈ [−lag, lag]²
    uu, ww, uw = (u * u).sum(1), (w * w).sum(1), (u * w).sum(1)
    du, dw = (d * u).sum(1), (d * w).sum(1)
    best = np.linalg.norm(d, axis=1)
    det = uu * ww - uw * uw
    ok = det > 1e-9 * np.maximum(uu * ww, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        x1 = np.where(ok, (ww * du - uw * dw) / det, 0.0)
        x2 = np.where(ok, (uu * dw - uw * du) / det, 0.0)
    inside = ok & (np.abs(x1) <= lag_s) & (np.abs(x2) <= lag_s)
    r = np.linalg.norm(d - x1[:, None] * u - x2[:, None] * w, axis=1)
    best = np.where(inside, np.minimum(best, r), best)
    for s in (-lag_s, lag_s):
        with np.errstate(divide="ignore", invalid="ignore"):
            y2 = np.clip(np.nan_to_num((dw - s * uw) / ww), -lag_s, lag_s)
            y1 = np.clip(np.nan_to_num((du - s * uw) / uu), -lag_s, lag_s)
        best = np.minimum(best, np.linalg.norm(d - s * u - y2[:, None] * w, axis=1))
        best = np.minimum(best, np.linalg.norm(d - y1[:, None] * u - s * w, axis=1))
    return best


def drift_windows(
    t: Array, stretch: np.ndarray, p: Array, v: Array, up: Array, lim: DriftLimits
) -> tuple[np.ndarray, Array, Array]:
    """The window ending at each of K reports: its first report, the drift and what is allowed.

    Parameters
    ----------
    t : (K,) report times, s, ascending within each stretch
    stretch : (K,) int, stretch number (one aircraft, no gap over ``max_gap_s``), ascending
    p : (K, 3) ECEF positions, m
    v : (K, 3) ECEF ground velocities (horizontal), m/s
    up : (K, 3) local vertical unit vectors (ECEF) at the reports

    Returns
    -------
    j : (K,) index of the window's first report (the report itself at a stretch's start)
    drift_m : (K,) horizontal distance of the position from the velocity's integral, m
    excess_m : (K,) what the lags leave of it minus what the error terms allow, m (> 0: flag)
    """
    same = stretch[1:] == stretch[:-1]
    h = np.where(same, np.diff(t), 0.0)
    step = 0.5 * (v[1:] + v[:-1]) * h[:, None]  # (K−1, 3) trapezoid
    kink = 0.5 * h * np.linalg.norm(v[1:] - v[:-1], axis=1)
    integral = np.vstack([np.zeros(3), np.cumsum(step, axis=0)])
    kinks = np.concatenate([[0.0], np.cumsum(kink)])
    span = float(t.max() - t.min()) + 2.0 * lim.window_s if t.size else 0.0
    key = stretch.astype(np.float64) * span + (t - t.min())  # ascending, stretches apart
    j = np.searchsorted(key, key - lim.window_s)
    d = (p - p[j]) - (integral - integral[j])
    d -= (d * up).sum(1)[:, None] * up  # horizontal
    drift = np.linalg.norm(d, axis=1)
    left = _lag_residual(d, v, v[j], lim.lag_s)
    allowed = (
        2.0 * lim.pos_err_m
        + lim.vel_err_mps * (t - t[j])
        + (kinks - kinks[j])
        + lim.lag_s * np.linalg.norm(v - v[j], axis=1)
    )
    return j, drift, np.where(j < np.arange(t.size), left - allowed, -np.inf)
