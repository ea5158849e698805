"""Free-flight trajectory fits: ballistic tracks' recent positions → one unpowered arc with drag.

A radar track's filter (near-constant velocity) lags a missile that falls under gravity,
and its velocity is only as good as a few scans. Once the boost is over, a missile flies a
known law — gravity with J2, the rotating frame, drag in the atmosphere
(:func:`mead.flight.acceleration`, stepped by its ``rk4_member``) — so its
whole recent history constrains its state now. Each assessment cycle, for every track
declared ballistic or rocket, :class:`FreeFlightFit` keeps the track's positions (one per
``spacing_s``, up to ``window_s`` back) and fits, by Gauss–Newton weighted least squares,
the 7 parameters θ = [p, v, κ] at its oldest kept position (κ = 1/β, m²/kg, with a
Gaussian prior):

    min_θ Σ_k r_kᵀ W_k r_k + r_vᵀ W_v r_v + (κ − κ₀)² / σ_κ²,
    r_k = p(t_k; θ) − z_k,   W_k = (s·P_k)⁻¹,   r_v = v(t_n; θ) − v_n,   W_v = (s_v·P_v,n)⁻¹

p(t; θ) by RK4 forward from the oldest position through every later one to now; the
Jacobian by finite differences of the same propagation (all tracks and all 8 perturbed
states in one batch). ``s`` (``noise_scale``) inflates each position's covariance because
consecutive filtered positions are correlated, not independent plots; it is what makes
the fitted covariance honest, and is calibrated against the simulator
(``tests/threat/test_trajectory.py``, ``benchmarks/bench_warning.py``). The newest
position's track velocity ``v_n`` enters once (``velocity_scale`` s_v): a pulse-Doppler
radar's range rate makes its radial part good to a few m/s, which positions 1–2 km apart
across the beam give only after minutes; a fit of the first 30 s is then several times
tighter along the line of sight (on the reference raid's missiles, ballistic warning
efficiency 0.80 → 0.82 with the same calibration).

The output is the state now with κ, (N, 7), and its covariance (N, 7, 7), for
:func:`mead.threat.impact.predict_impact`: the impact region then carries the uncertainty
of the drag too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from mead.errors import check
from mead.flight import OMEGA_E, height_m, rk4_member
from mead.types import Array, Covs, States

N_PARAM = 7
"""Fitted parameters: ECEF position (3), velocity (3), κ = 1/β (m²/kg)."""

FD_STEP = np.array([10.0, 10.0, 10.0, 0.1, 0.1, 0.1, 1e-6])
"""Finite-difference steps of the 7 parameters (m, m/s, m²/kg) for Jacobians."""


@dataclass(frozen=True)
class FlightFit:
    """Fitted free flight of N tracks at the assessment time (rows without a fit: ok False)."""

    x: Array  # (N, 7) ECEF position, velocity and κ = 1/β (m²/kg) now
    P: Covs  # (N, 7, 7) covariance
    ok: np.ndarray  # (N,) bool: a fit over at least ``min_span_s`` exists


def propagate(theta: Array, h: Array, max_step_s: float = 10.0) -> Array:
    """States (S + 1, M, 6) after each of S steps h (S, M) s from θ (M, 7) at step 0.

    A step of 0 leaves a member where it is (padding); κ = max(θ₆, 0) is the drag. A step
    of 0 for every member (the padding after the longest history, or all steps but the
    first few when a history is shifted) is not flown at all: RK4 by 0 s is the identity.
    A step is flown in ⌈max h / ``max_step_s``⌉ equal RK4 sub-steps per member (the
    module law, :func:`mead.flight.rk4_member`), all in compiled code.
    """
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    h = np.ascontiguousarray(h, dtype=np.float64).reshape(-1, theta.shape[0])
    out = np.empty((h.shape[0] + 1, theta.shape[0], 6))
    out[0] = theta[:, :6]
    _propagate(np.maximum(theta[:, 6], 0.0), h, float(max_step_s), out)
    return out


@numba.njit("void(f8[::1], f8[:, ::1], f8, f8[:, :, ::1])", cache=True)
def _propagate(ib: Array, h: Array, max_step_s: float, out: Array) -> None:
    """:func:`propagate`'s steps, member by member, from ``out[0]`` on."""
    for k in range(h.shape[0]):
        flown, longest = False, 0.0
        for i in range(h.shape[1]):
            flown = flown or h[k, i] != 0.0
            longest = max(longest, h[k, i])
        if not flown:
            out[k + 1] = out[k]
            continue
        n_sub = max(1, int(np.ceil(longest / max_step_s)))
        for i in range(h.shape[1]):
            d = h[k, i] / n_sub
            y = (out[k, i, 0], out[k, i, 1], out[k, i, 2], out[k, i, 3], out[k, i, 4],
                 out[k, i, 5])  # fmt: skip
            for _ in range(n_sub):
                y = rk4_member(y[0], y[1], y[2], y[3], y[4], y[5], d, ib[i],
                               0.0, 0.0, 0.0, True, OMEGA_E, True)  # fmt: skip
            for c in range(6):
                out[k + 1, i, c] = y[c]


class FreeFlightFit:
    """Per-track position histories and their free-flight fits (see the module doc).

    Parameters
    ----------
    window_s : positions older than this are dropped, s.
    spacing_s : a position is kept at most every this often, s; a track is refitted when
        it gains one, and in the cycles between its last fit is flown on to the cycle's
        time.
    slots : positions kept per track at most.
    min_span_s : a fit needs positions spanning at least this long, s …
    min_points : … and at least this many.
    min_alt_m : a track whose newest position is lower than this is not refitted (the
        dense air makes the drag stiff; it has seconds to go); its last fit is carried.
    kappa0, kappa_std : prior of κ = 1/β, m²/kg (default β ≈ 5,000 kg/m², from 2,000 to
        vacuum within 2σ).
    velocity_scale : factor on the newest track velocity's covariance, whose velocity is
        weighed in the fit (``None``: positions only). 1 trusts the tracker's velocity
        covariance; the velocity is counted once, at the newest position only.
    noise_scale : factor on each position covariance (correlated filtered positions). 2 makes
        the stated 95 % impact region hold 95–97 % of true impacts from 4 to 8 minutes to go
        on the reference raid's missiles (the tracker flying them in free flight, see
        ``mead.tracking.motion``); 0.5 (before) held 76–88 %.
    max_chi2 : a fit whose weighted squared residuals per degree of freedom exceed this
        did not see free flight (a boost, a turn, a track swap): it is dropped with the
        older half of the track's positions.
    iterations : Gauss–Newton iterations of a first fit; later cycles start from the last
        fit and take one.
    """

    def __init__(
        self,
        *,
        window_s: float = 240.0,
        spacing_s: float = 10.0,
        slots: int = 32,
        min_span_s: float = 20.0,
        min_points: int = 4,
        min_alt_m: float = 15_000.0,
        kappa0: float = 2.0e-4,
        kappa_std: float = 1.5e-4,
        noise_scale: float = 2.0,
        velocity_scale: float | None = 1.0,
        max_chi2: float = 4.0,
        iterations: int = 3,
    ) -> None:
        check(min_span_s > 0, "min_span_s", "> 0 s", min_span_s)
        check(window_s > min_span_s, "window_s", f"> min_span_s ({min_span_s} s)", window_s)
        check(min_points >= 3, "min_points", ">= 3", min_points)
        check(slots >= min_points, "slots", f">= min_points ({min_points})", slots)
        check(spacing_s >= 0, "spacing_s", ">= 0 s", spacing_s)
        self.window_s, self.slots, self.spacing_s = window_s, slots, spacing_s
        self.min_span_s, self.min_points, self.min_alt_m = min_span_s, min_points, min_alt_m
        self.kappa0, self.kappa_std = kappa0, kappa_std
        self.noise_scale, self.iterations = noise_scale, iterations
        self.velocity_scale = velocity_scale
        self.max_chi2 = max_chi2
        self._row: dict[str, int] = {}
        self._free: list[int] = []
        self._n = np.zeros(0, dtype=np.intp)  # (cap,) positions held
        self._t = np.zeros((0, slots))  # (cap, S) times, s, oldest first
        self._z = np.zeros((0, slots, 3))  # (cap, S, 3) ECEF positions
        self._W = np.zeros((0, slots, 3, 3))  # (cap, S, 3, 3) weights (s·P)⁻¹
        self._Wv = np.zeros((0, slots, 3, 3))  # (cap, S, 3, 3) velocity weights (s_v·P_v)⁻¹
        self._x0 = np.zeros((0, slots, 6))  # (cap, S, 6) track states (first guesses)
        self._theta = np.full((0, N_PARAM), np.nan)  # (cap, 7) last fit at position 0
        self._last = np.zeros((0, N_PARAM))  # (cap, 7) last fitted state now
        self._lastP = np.zeros((0, N_PARAM, N_PARAM))
        self._last_t = np.zeros(0)  # (cap,) time of the last fitted state, s

    def forget(self, ids: Iterable[str]) -> None:
        """Drop deleted tracks (unknown ids are ignored)."""
        for i in ids:
            row = self._row.pop(i, None)
            if row is not None:
                self._free.append(row)

    def step(
        self,
        t: float,
        ids: Sequence[str],
        x: States,
        P: Covs,
        use: np.ndarray,
        fit: np.ndarray | None = None,
    ) -> FlightFit:
        """Record the positions of the rows ``use`` (N,) at ``t`` and fit those also in
        ``fit`` (N,) (default: all of ``use``; a track nobody needs a prediction of keeps its
        history but costs no fit); rows not in ``use`` lose their history (a boost, or not
        a ballistic class)."""
        size = len(ids)
        out = FlightFit(
            np.zeros((size, N_PARAM)), np.zeros((size, N_PARAM, N_PARAM)), np.zeros(size, bool)
        )
        idx = np.flatnonzero(use)
        for k in np.flatnonzero(~use).tolist():
            row = self._row.get(ids[k])
            if row is not None:
                self._n[row] = 0
                self._theta[row] = np.nan
        if idx.size == 0:
            return out
        rows = np.array([self._row_of(ids[k]) for k in idx.tolist()], dtype=np.intp)
        n = self._n[rows]
        due = (n == 0) | (t - self._t[rows, np.maximum(n - 1, 0)] >= self.spacing_s - 1e-6)
        self._record(rows[due], t, x[idx[due]], P[idx[due]])
        high = height_m(x[idx, :3].T) > self.min_alt_m
        n_ok = self._n[rows] >= self.min_points
        span = t - self._t[rows, 0]
        wanted = np.ones(idx.size, bool) if fit is None else np.asarray(fit, bool)[idx]
        fit = high & n_ok & (span >= self.min_span_s) & wanted
        warm = np.isfinite(self._theta[rows, 0])
        # no new position and a fit of the last cycles: that fit, flown on to now
        recent = t - self._last_t[rows] <= self.spacing_s + 1e-6
        carry = fit & warm & ~due & recent
        for sel, iterations in ((fit & warm & ~carry, 1), (fit & ~warm, self.iterations)):
            if sel.any():
                self._fit(rows[sel], t, iterations)
        if carry.any():
            self._carry(rows[carry], t)
        done = fit & np.isfinite(self._theta[rows, 0])  # fitted now (not a carried fit)
        out.x[idx[done]] = self._last[rows[done]]
        out.P[idx[done]] = self._lastP[rows[done]]
        out.ok[idx[done]] = True
        return out

    # ------------------------------------------------------------------ internals

    def _row_of(self, tid: str) -> int:
        row = self._row.get(tid)
        if row is None:
            row = self._free.pop() if self._free else self._grow()
            self._row[tid] = row
            self._n[row] = 0
            self._theta[row] = np.nan
        return row

    def _grow(self) -> int:
        n = self._n.size
        cap, s = max(16, 2 * n), self.slots
        k = cap - n
        self._n = np.concatenate([self._n, np.zeros(k, dtype=np.intp)])
        self._t = np.concatenate([self._t, np.zeros((k, s))])
        self._z = np.concatenate([self._z, np.zeros((k, s, 3))])
        self._W = np.concatenate([self._W, np.zeros((k, s, 3, 3))])
        self._Wv = np.concatenate([self._Wv, np.zeros((k, s, 3, 3))])
        self._x0 = np.concatenate([self._x0, np.zeros((k, s, 6))])
        self._theta = np.concatenate([self._theta, np.full((k, N_PARAM), np.nan)])
        self._last = np.concatenate([self._last, np.zeros((k, N_PARAM))])
        self._lastP = np.concatenate([self._lastP, np.zeros((k, N_PARAM, N_PARAM))])
        self._last_t = np.concatenate([self._last_t, np.zeros(k)])
        self._free.extend(range(cap - 1, n, -1))
        return n

    def _record(self, rows: np.ndarray, t: float, x: States, P: Covs) -> None:
        """Append one position per row; drop what is older than the window or overflows."""
        old = (t - self._t[rows] > self.window_s) & (np.arange(self.slots) < self._n[rows, None])
        drop = old.sum(axis=1) + (self._n[rows] - old.sum(axis=1) >= self.slots)
        self._shift(rows, drop)
        k = self._n[rows]
        S = self.noise_scale * 0.5 * (P[:, :3, :3] + P[:, :3, :3].swapaxes(1, 2))
        self._t[rows, k], self._z[rows, k], self._x0[rows, k] = t, x[:, :3], x
        self._W[rows, k] = np.linalg.inv(S + 1e-6 * np.eye(3))
        if self.velocity_scale is not None:
            Sv = self.velocity_scale * 0.5 * (P[:, 3:, 3:] + P[:, 3:, 3:].swapaxes(1, 2))
            self._Wv[rows, k] = np.linalg.inv(Sv + 1e-6 * np.eye(3))
        self._n[rows] = k + 1

    def _shift(self, rows: np.ndarray, drop: np.ndarray) -> None:
        """Drop each row's ``drop`` oldest positions; the fit moves to the new oldest."""
        moved = drop > 0
        if not moved.any():
            return
        r, d = rows[moved], drop[moved]
        theta = self._theta[r]
        has = np.isfinite(theta[:, 0])
        if has.any():  # carry the last fit to the new oldest position
            h = np.where(
                np.arange(self.slots - 1)[:, None] < d[None, has],
                np.diff(self._t[r[has]], axis=1).T,
                0.0,
            )
            traj = propagate(theta[has], np.maximum(h, 0.0))
            theta[has, :6] = traj[-1]
        idx = np.minimum(d[:, None] + np.arange(self.slots)[None, :], self.slots - 1)
        rr = r[:, None]
        self._t[r], self._z[r] = self._t[rr, idx], self._z[rr, idx]
        self._W[r], self._x0[r] = self._W[rr, idx], self._x0[rr, idx]
        self._Wv[r] = self._Wv[rr, idx]
        theta[self._n[r] <= d] = np.nan  # nothing left to carry it
        self._n[r] = np.maximum(self._n[r] - d, 0)
        self._theta[r] = theta

    def _carry(self, rows: np.ndarray, t: float) -> None:
        """Fly the last fitted state and covariance of ``rows`` on to ``t`` (no refit)."""
        h = t - self._last_t[rows]
        pts = self._last[rows, None] + np.concatenate([np.zeros((1, N_PARAM)), np.diag(FD_STEP)])
        traj = propagate(pts.reshape(-1, N_PARAM), np.repeat(h, N_PARAM + 1)[None])
        end = traj[-1].reshape(rows.size, N_PARAM + 1, 6)
        G = _transition(end)
        self._last[rows, :6] = end[:, 0]
        self._lastP[rows] = G @ self._lastP[rows] @ G.swapaxes(1, 2)
        self._last_t[rows] = t

    def _fit(self, rows: np.ndarray, t: float, iterations: int) -> None:
        """Gauss–Newton on θ for ``rows``; keeps θ, the state now and its covariance."""
        m, s = rows.size, self.slots
        n = self._n[rows]
        valid = np.arange(s)[None, :] < n[:, None]  # (M, S)
        tt = np.where(valid, self._t[rows], self._t[rows, :1])
        h = np.diff(np.concatenate([tt, np.full((m, 1), t)], axis=1), axis=1)  # (M, S)
        h = np.where(np.arange(s)[None, :] < n[:, None] - 1, h, 0.0)  # to each later position
        h_now = t - self._t[rows, n - 1]  # from the newest position to now (0 normally)
        theta = self._theta[rows].copy()
        cold = ~np.isfinite(theta[:, 0])
        theta[cold, :6] = self._x0[rows[cold], 0]
        theta[cold, 6] = self.kappa0
        step = FD_STEP
        z, W = self._z[rows], self._W[rows] * valid[..., None, None]
        prior = 1.0 / self.kappa_std**2
        vel = self.velocity_scale is not None
        last = n - 1
        vz = self._x0[rows, last, 3:]
        Wv = self._Wv[rows, last]
        for it in range(iterations + 1):
            pts = np.concatenate([theta[:, None], theta[:, None] + np.diag(step)[None]], axis=1)
            hh = np.repeat(np.concatenate([h, h_now[:, None]], axis=1).T, N_PARAM + 1, axis=1)
            traj = propagate(pts.reshape(-1, N_PARAM), hh).reshape(s + 2, m, N_PARAM + 1, 6)
            pos = traj[:s, :, 0, :3].swapaxes(0, 1)  # (M, S, 3) nominal positions
            J = (traj[:s, :, 1:, :3] - traj[:s, :, :1, :3]) / step[None, None, :, None]
            J = J.transpose(1, 0, 3, 2)  # (M, S, 3, 7)
            WJ = W @ J  # (M, S, 3, 7); A = Σ_s Jᵀ W J, b = Σ_s Jᵀ W r (W symmetric)
            A = (J.swapaxes(2, 3) @ WJ).sum(axis=1)
            A[:, 6, 6] += prior
            r = np.where(valid[..., None], z - pos, 0.0)
            if vel:  # the newest track velocity (its radial part from range rate)
                end = traj[last, np.arange(m)]  # (M, 8, 6) at the newest position
                Jv = ((end[:, 1:, 3:] - end[:, :1, 3:]) / step[None, :, None]).swapaxes(1, 2)
                rv = vz - end[:, 0, 3:]
                WJv = Wv @ Jv  # (M, 3, 7)
                A += Jv.swapaxes(1, 2) @ WJv
            if it == iterations:
                break
            b = (WJ.swapaxes(2, 3) @ r[..., None])[..., 0].sum(axis=1)
            if vel:
                b += (WJv.swapaxes(1, 2) @ rv[..., None])[..., 0]
            b[:, 6] += prior * (self.kappa0 - theta[:, 6])
            Ainv, _ = _inverse(A)
            theta = theta + (Ainv @ b[..., None])[..., 0]
        C, solvable = _inverse(A)
        G = _transition(traj[-1])
        now = np.concatenate([traj[-1, :, 0], theta[:, 6:]], axis=1)
        chi2 = ((W @ r[..., None])[..., 0] * r).sum(axis=(1, 2)) / np.maximum(3 * n - N_PARAM, 1)
        ok = solvable & np.isfinite(theta).all(axis=1) & np.isfinite(now).all(axis=1)
        bad = ~ok | ~(chi2 <= self.max_chi2)  # not free flight over the window: thrust, swap
        if bad.any():  # forget the older half of those histories and wait for more
            self._theta[rows[bad]] = np.nan
            self._shift(rows[bad], self._n[rows[bad]] // 2 + 1)
        ok &= ~bad
        self._theta[rows[ok]] = theta[ok]
        self._last[rows[ok]] = now[ok]
        self._lastP[rows[ok]] = (G @ C @ G.swapaxes(1, 2))[ok]
        self._last_t[rows[ok]] = t


def _transition(end: Array) -> Covs:
    """(M, 7, 7) Jacobian of the state now (and κ) with respect to θ, from the states
    (M, 8, 6) reached by θ and by its 7 ``FD_STEP`` perturbations."""
    G = np.zeros((end.shape[0], N_PARAM, N_PARAM))
    G[:, :6] = ((end[:, 1:] - end[:, :1]) / FD_STEP[None, :, None]).swapaxes(1, 2)
    G[:, 6, 6] = 1.0
    return G


def _inverse(A: Covs) -> tuple[Covs, np.ndarray]:
    """Inverses (M, k, k) of normal matrices (+10⁻¹² I), and which rows (M,) have one.

    A row that is not finite or is singular (its positions do not constrain the fit: a
    degenerate or broken history) gets a zero matrix and False; the others are unaffected,
    where one batch inverse would fail them all.
    """
    A = A + 1e-12 * np.eye(A.shape[1])
    ok: np.ndarray = np.asarray(np.isfinite(A).all(axis=(1, 2)))
    out = np.zeros_like(A)
    try:
        out[ok] = np.linalg.inv(A[ok])
    except np.linalg.LinAlgError:
        for m in np.flatnonzero(ok).tolist():
            try:
                out[m] = np.linalg.inv(A[m])
            except np.linalg.LinAlgError:
                ok[m] = False
    return out, ok
