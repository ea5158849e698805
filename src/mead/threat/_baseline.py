"""Long-baseline (chord) velocity of tracks from their own position history.

A radar track's velocity estimate can be noisy, or its covariance pessimistic, for targets
seen at long range, while its positions are good to the measurement accuracy. The chord
between the current position and one T seconds old gives a velocity whose uncertainty
shrinks with T: Pv = (P_now + P_then) / T² (position errors taken as independent).

Two anchors per track: A (older) and B (newer); when B is ``baseline_s`` old, A ← B and
B ← now, so T stays within [baseline_s, 2·baseline_s) once established. Two chords:

* plain, v = Δp/T: the mean velocity over the chord, for targets in level flight;
* free flight, v(t) = Δp/T + T (a(t)/6 + a(t−T)/3): exact for an acceleration linear in
  time, with a from :func:`mead.threat.impact.ecef_acceleration` (gravity, rotating frame,
  optional drag), for ballistic targets.

A chord is only as good as the assumption of unpowered, unmanoeuvring flight; a caller
that finds it inconsistent with the track's own velocity restarts the anchors.
"""

from __future__ import annotations

import numpy as np

from mead.threat.impact import ecef_acceleration
from mead.types import Array, Covs, States


class Baselines:
    """Two anchors per row of a table owned by the caller (rows grow together).

    Parameters
    ----------
    baseline_s : age of the newer anchor at which the anchors slide, s.
    min_baseline_s : shorter chords are not valid, s.
    """

    def __init__(self, baseline_s: float = 60.0, min_baseline_s: float = 15.0) -> None:
        if not 0 < min_baseline_s <= baseline_s:
            raise ValueError(
                f"need 0 < min_baseline_s ≤ baseline_s (got {min_baseline_s}, {baseline_s})"
            )
        self.baseline_s = baseline_s  # s
        self.min_baseline_s = min_baseline_s  # s
        self._t = np.zeros((0, 2))  # (cap, 2) anchor times A, B (nan: none yet)
        self._x = np.zeros((0, 2, 6))  # (cap, 2, 6) anchor ECEF states
        self._P = np.zeros((0, 2, 3, 3))  # (cap, 2, 3, 3) anchor position covariances, m²

    def grow(self, cap: int) -> None:
        """Make room for rows up to ``cap``."""
        n = self._t.shape[0]
        self._t = np.concatenate([self._t, np.full((cap - n, 2), np.nan)])
        self._x = np.concatenate([self._x, np.zeros((cap - n, 2, 6))])
        self._P = np.concatenate([self._P, np.zeros((cap - n, 2, 3, 3))])

    def clear(self, rows: np.ndarray | list[int]) -> None:
        """Forget the anchors of ``rows``; their next update starts afresh."""
        self._t[rows] = np.nan

    def chords(
        self,
        rows: np.ndarray,
        t: float,
        x: States,
        P: Covs | None,
        inv_beta: float | None = None,
    ) -> tuple[Array, Array, Covs, np.ndarray]:
        """Chord velocities of ``rows`` at time ``t``, then slide their anchors.

        Parameters
        ----------
        rows : (N,) table rows of the tracks.
        x, P : (N, 6) ECEF states and (N, 6, 6) covariances at ``t`` (P may be None).
        inv_beta : 1/β of the drag used by the free-flight chord, m²/kg (None: no drag).

        Returns
        -------
        v_plain : (N, 3) ECEF plain chord velocity, m/s.
        v_free : (N, 3) ECEF free-flight chord velocity, m/s.
        Pv : (N, 3, 3) covariance of either, (m/s)².
        valid : (N,) bool, chord at least ``min_baseline_s`` long.
        """
        n = x.shape[0]
        Pp = np.zeros((n, 3, 3)) if P is None else P[:, :3, :3]
        new = np.isnan(self._t[rows, 0])
        if new.any():
            self._set(rows[new], 0, t, x[new], Pp[new])
            self._set(rows[new], 1, t, x[new], Pp[new])
        tA, xA = self._t[rows, 0], self._x[rows, 0]
        T = t - tA
        valid = T >= self.min_baseline_s
        Ts = np.where(valid, T, 1.0)[:, None]
        v_plain = np.where(valid[:, None], (x[:, :3] - xA[:, :3]) / Ts, 0.0)
        ib = None if inv_beta is None else np.full(n, inv_beta)
        a1 = ecef_acceleration(x[:, :3].T, x[:, 3:].T, ib).T
        a0 = ecef_acceleration(xA[:, :3].T, xA[:, 3:].T, ib).T
        v_free = np.where(valid[:, None], v_plain + Ts * (a1 / 6.0 + a0 / 3.0), 0.0)
        Pv = (Pp + self._P[rows, 0]) / (Ts**2)[:, :, None]
        slide = t - self._t[rows, 1] >= self.baseline_s
        r = rows[slide]
        self._t[r, 0], self._x[r, 0], self._P[r, 0] = self._t[r, 1], self._x[r, 1], self._P[r, 1]
        self._set(r, 1, t, x[slide], Pp[slide])
        return v_plain, v_free, Pv, valid

    def _set(self, rows: np.ndarray, k: int, t: float, x: States, Pp: Covs) -> None:
        self._t[rows, k] = t
        self._x[rows, k] = x
        self._P[rows, k] = Pp
