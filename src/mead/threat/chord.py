"""Long-baseline (chord) velocity of tracks from their own position history.

A radar track's velocity estimate can be noisy, or its covariance pessimistic, for targets
seen at long range, while its positions are good to the measurement accuracy. The chord
between the current position and one T seconds old gives a velocity whose uncertainty
shrinks with T: Pv = (P_now + P_then) / T² (position errors taken as independent).

Each track keeps up to ``slots`` anchors (past states), one every ``spacing_s``. Two kinds
of chord from an anchor:

* plain, v = Δp/T: the mean velocity over the chord, for targets in level flight;
* free flight: the velocity now from which unpowered flight (gravity, rotating frame,
  optional drag: :func:`mead.flight.acceleration`) leads back to the anchor:
  start from v = Δp/T + T (a(t)/6 + a(t−T)/3) (exact for an acceleration linear in time)
  and correct it by Newton steps v ← v + (p_back(v) − p_anchor)/T, p_back from RK4
  propagation back over T.

The *long* chord runs from the oldest anchor no older than the row's ``max_age`` (shorter
for ballistic targets, whose history may hold the boost), the *short* one from the
youngest anchor at least ``spacing_s`` old. If the motion was what the chord assumes
(unpowered, no turn) both agree within their uncertainty; if not (thrust, a manoeuvre),
the anchors older than the short chord's are dropped, so the long chord never spans a
change of motion for long. Free-flight chords are only computed for the rows that ask,
and only with both ends above ``min_free_alt_m`` (lower down, drag makes the backward
propagation stiff, and local radars track well anyway); elsewhere they are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.errors import check
from mead.flight import acceleration, height_m, rk4_step
from mead.types import Array, Covs, States


@dataclass(frozen=True)
class Chord:
    """Chord velocities of N tracks from one anchor each."""

    plain: Array  # (N, 3) ECEF mean velocity over the chord, m/s
    free: Array  # (N, 3) ECEF free-flight velocity now, m/s
    Pv: Covs  # (N, 3, 3) covariance of either, (m/s)²
    valid: np.ndarray  # (N,) bool: the chord is at least spacing_s long


class History:
    """Anchors per row of a table owned by the caller (rows grow together).

    Parameters
    ----------
    spacing_s : time between anchors, and the shortest valid chord, s.
    slots : anchors kept per track (the longest chord is about slots × spacing_s).
    """

    def __init__(self, spacing_s: float = 15.0, slots: int = 8) -> None:
        check(spacing_s > 0, "spacing_s", "> 0 s", spacing_s)
        check(slots >= 2, "slots", ">= 2", slots)
        self.spacing_s = spacing_s  # s
        self.slots = slots
        self.newton_steps = 4  # RK4 steps of the backward propagation
        self.min_free_alt_m = 20_000.0  # below, drag makes the backward propagation stiff
        self._n = np.zeros(0, dtype=np.intp)  # (cap,) anchors held, oldest first
        self._t = np.zeros((0, slots))  # (cap, H) anchor times, s
        self._x = np.zeros((0, slots, 6))  # (cap, H, 6) anchor ECEF states
        self._P = np.zeros((0, slots, 3, 3))  # (cap, H, 3, 3) anchor position covariances

    def grow(self, cap: int) -> None:
        """Make room for rows up to ``cap``."""
        k, h = cap - self._n.size, self.slots
        self._n = np.concatenate([self._n, np.zeros(k, dtype=np.intp)])
        self._t = np.concatenate([self._t, np.zeros((k, h))])
        self._x = np.concatenate([self._x, np.zeros((k, h, 6))])
        self._P = np.concatenate([self._P, np.zeros((k, h, 3, 3))])

    def clear(self, rows: np.ndarray | list[int]) -> None:
        """Forget the anchors of ``rows``; their history starts again at the next update."""
        self._n[rows] = 0

    def chords(
        self,
        rows: np.ndarray,
        t: float,
        x: States,
        P: Covs | None,
        inv_beta: float | None,
        max_age: Array,
        free: np.ndarray,
    ) -> tuple[Chord, Chord, np.ndarray, np.ndarray]:
        """Long and short chords of ``rows`` at ``t`` (call :meth:`record` afterwards).

        ``max_age`` (N,) bounds the long chord, s; ``free`` (N,) bool: rows that need the
        free-flight chord (elsewhere it is left 0). Returns (long, short, i_long, i_short):
        the chords and their anchor indices (equal when there is only one chord).
        """
        Pp = np.zeros((x.shape[0], 3, 3)) if P is None else P[:, :3, :3]
        n = self._n[rows]
        age = t - self._t[rows]  # (N, H), anchors oldest first
        held = np.arange(self.slots)[None, :] < n[:, None]
        ok = held & (age >= self.spacing_s)
        young = held & (age <= max_age[:, None])
        i_short = np.maximum(ok.sum(axis=1) - 1, 0)
        i_long = np.minimum(np.argmax(young, axis=1), i_short)  # oldest within max_age
        valid = ok[np.arange(rows.size), i_short]
        long, short = self._chords_to(rows, (i_long, i_short), t, x, Pp, inv_beta, valid, free)
        return long, short, i_long, i_short

    def drop_older(self, rows: np.ndarray, first: np.ndarray) -> None:
        """Drop each row's anchors before index ``first`` (keep the rest, oldest first)."""
        if rows.size == 0:
            return
        idx = np.minimum(first[:, None] + np.arange(self.slots)[None, :], self.slots - 1)
        r = rows[:, None]
        self._t[rows], self._x[rows], self._P[rows] = (
            self._t[r, idx],
            self._x[r, idx],
            self._P[r, idx],
        )
        self._n[rows] = np.maximum(self._n[rows] - first, 0)

    def _chords_to(
        self,
        rows: np.ndarray,
        anchors: tuple[np.ndarray, ...],
        t: float,
        x: States,
        Pp: Covs,
        inv_beta: float | None,
        valid: np.ndarray,
        free: np.ndarray,
    ) -> list[Chord]:
        """One chord per array of anchor indices in ``anchors`` (each (N,)); the free-flight
        velocities of all of them are solved in one batch (the same operations per track
        as one batch per chord, in half the numpy calls for the long and short chords)."""
        plains, Ts, xas, fs, Pvs = [], [], [], [], []
        for k in anchors:
            tA, xA, PA = self._t[rows, k], self._x[rows, k], self._P[rows, k]
            T = np.where(valid, t - tA, 1.0)[:, None]
            plains.append(np.where(valid[:, None], (x[:, :3] - xA[:, :3]) / T, 0.0))
            xa = np.where(valid[:, None], xA, x)  # unset anchors hold zeros
            high = (height_m(x[:, :3].T) > self.min_free_alt_m) & (
                height_m(xa[:, :3].T) > self.min_free_alt_m
            )
            Ts.append(T)
            xas.append(xa)
            fs.append(valid & free & high)
            Pvs.append((Pp + PA) / (T**2)[:, :, None])
        outs = [np.zeros_like(plain) for plain in plains]
        if any(f.any() for f in fs):
            with np.errstate(over="ignore", invalid="ignore"):
                v = self._free_flight(
                    np.concatenate([x[f] for f in fs]),
                    np.concatenate([xa[f] for xa, f in zip(xas, fs, strict=True)]),
                    np.concatenate([T[f] for T, f in zip(Ts, fs, strict=True)]),
                    inv_beta,
                )
            v = np.where(np.isfinite(v), v, 0.0)
            ends = np.cumsum([int(f.sum()) for f in fs])
            for out, f, part in zip(outs, fs, np.split(v, ends[:-1]), strict=True):
                out[f] = part
        return [Chord(*c, valid) for c in zip(plains, outs, Pvs, strict=True)]

    def _free_flight(self, x: States, xA: States, T: Array, inv_beta: float | None) -> Array:
        """(K, 3) velocity now whose unpowered flight back over T (K, 1) meets xA's position."""
        ib = None if inv_beta is None else np.full(x.shape[0], inv_beta)
        a1 = acceleration(x[:, :3].T, x[:, 3:].T, ib).T
        a0 = acceleration(xA[:, :3].T, xA[:, 3:].T, ib).T
        v = (x[:, :3] - xA[:, :3]) / T + T * (a1 / 6.0 + a0 / 3.0)
        dt = -T[:, 0] / self.newton_steps
        for _ in range(2):  # Newton: ∂p_back/∂v ≈ −T
            p, w = x[:, :3].T, v.T
            for _ in range(self.newton_steps):
                p, w = rk4_step(p, w, dt, ib)
            v = v + (p.T - xA[:, :3]) / T
        return v

    def record(self, rows: np.ndarray, t: float, x: States, P: Covs | None) -> None:
        """Keep the states at ``t`` as anchors where one is due (one per ``spacing_s``)."""
        Pp = np.zeros((x.shape[0], 3, 3)) if P is None else P[:, :3, :3]
        n = self._n[rows]
        last = self._t[rows, np.maximum(n - 1, 0)]
        due = (n == 0) | (t - last >= self.spacing_s)
        full = due & (n == self.slots)
        self.drop_older(rows[full], np.ones(int(full.sum()), dtype=np.intp))
        r = rows[due]
        k = self._n[r]
        self._t[r, k], self._x[r, k], self._P[r, k] = t, x[due], Pp[due]
        self._n[r] = k + 1
