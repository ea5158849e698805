"""Motion models for tracking: predict ECEF states and covariances of many tracks to a time.

The first model is constant velocity (CV) with white-noise acceleration in ECEF, the
state x = [x y z vx vy vz] (m, m/s). Over dt the transition and the process noise are

    F = [[I, dt I], [0, I]],
    Q = q [[dt³/3 I, dt²/2 I], [dt²/2 I, dt I]],

with q the acceleration noise spectral density (m²/s³). Over one scan period T a target
whose acceleration is of order a stays consistent with the model when q ≈ a² T
(Bar-Shalom, Li & Kirubarajan 2001, §6.2.2).

``ConstantVelocity`` chooses q per track, from the track's speed and its recent innovations:

- the base q grows geometrically with speed from ``q_slow`` (≈ 6 m/s² at 5 s scans:
  aircraft, cruise missiles, drones) below ``v_slow_mps`` to ``q_fast`` (≈ 30 m/s²:
  ballistic missiles in boost, under gravity, or decelerating in re-entry) above
  ``v_fast_mps``;
- a manoeuvre multiplies it: when a track's normalised innovation squared (NIS) exceeds
  ``nis_manoeuvre``, or a confirmed track misses a plot inside coverage (the tracker calls
  ``adapt`` with NIS = ∞; in free flight only when a plot lies near it, see
  ``mead.tracking.tracker.MANOEUVRE_NEAR_M``), its scale is multiplied by ``boost`` (up
  to ``scale_max``); it decays back towards 1 by ``decay`` per quiet update (Bar-Shalom's
  adjustable process noise).

The default ``q_slow`` is a measured compromise. A 250 m/s target at 67 km from a radar
with σ = 75 m, 0.2°, 0.3° and 5 s scans, over 4 seeds (position / velocity RMS on the
straight leg; number of track ids over a 180° turn — 1 means held):

    q_slow m²/s³    pos RMS m   vel RMS m/s   ids in a 1 g / 2 g / 3 g turn
    50              245         21            1 / 2 / 2–3
    200 (default)   278         33            1 / 1 / 1–2
    1000            321         58            1 / 1 / 1

Above ``FREE_FLIGHT_M`` (40 km) nothing flies on wings or engines' lift: an object there is a
missile or rocket in free flight (or still boosting). :func:`predict` moves such rows under
the free-flight law of :mod:`mead.flight` (gravity with J2 and the rotating frame; no drag,
which is small up there) instead of in a straight line, and ``ConstantVelocity`` gives them
the small ``q_free`` instead of the speed-based density: a straight line there is wrong by
g t²/2 (120 m over 5 s) and the velocity of a CV filter lags gravity by tens of m/s, which
an impact prediction minutes ahead multiplies into kilometres. A boost is a manoeuvre like
any other: its innovations raise the track's scale. Measured on the reference raid's
ballistic missiles (``benchmarks/bench_warning.py``), see ``docs/architecture.md``.

``mead.tracking.imm.IMM`` (quiet CV, manoeuvre CV and ballistic modes) is the
alternative to this heuristic: ``Tracker(motion=IMM())``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numba
import numpy as np

from mead.errors import check
from mead.flight import height_m, members, rk4_step
from mead.types import Array, Covs, States

FREE_FLIGHT_M = 40_000.0
"""Height above the ellipsoid (m) above which a track is taken to be in free flight."""

FREE_FLIGHT_STEP_S = 10.0
"""Longest RK4 step of a free-flight prediction, s."""


def cv_transition(dt: Array) -> Covs:
    """CV transition matrices F (N, 6, 6) for N time steps ``dt`` (N,) s."""
    dt = np.asarray(dt, dtype=np.float64)
    F = np.broadcast_to(np.eye(6), (*dt.shape, 6, 6)).copy()
    for k in range(3):
        F[..., k, k + 3] = dt
    return F


def cv_process_noise(dt: Array, q: Array) -> Covs:
    """White-noise-acceleration process noise Q (N, 6, 6) over ``dt`` (N,) s with density q (N,).

    q is in m²/s³: Q = q [[|dt|³/3 I, dt|dt|/2 I], [dt|dt|/2 I, |dt| I]]. A negative
    ``dt`` (prediction backwards, retrodiction) grows the uncertainty with |dt| as well;
    the position-velocity term changes sign, since going back the position error is the
    velocity error accumulated with the opposite sign.
    """
    dt = np.asarray(dt, dtype=np.float64)
    a = np.abs(dt)
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), dt.shape)
    blocks = np.array([[a**3 / 3, dt * a / 2], [dt * a / 2, a]]) * q  # (2, 2, N)
    Q = np.kron(np.moveaxis(blocks, (0, 1), (-2, -1)), np.eye(3))  # (N, 6, 6)
    return np.asarray(Q, dtype=np.float64)


def cv_predict(x: States, P: Covs, dt: Array, q: Array | float) -> tuple[States, Covs]:
    """Predict N CV states (N, 6) and covariances (N, 6, 6) over ``dt`` (N,) s with density q.

    x⁺ = F x, P⁺ = F P Fᵀ + Q (``cv_process_noise``), evaluated blockwise (no 6×6
    products); ``dt`` and ``q`` (m²/s³) are scalars or (N,). A negative ``dt`` retrodicts,
    with the process noise of |dt|: the result is never more confident than the input.
    The one CV prediction of the project: the tracker's motion models and fusion use it.
    """
    if x.ndim != 2 or x.shape[1] != 6:
        raise ValueError(f"'x' must have shape (N, 6), got {x.shape}")
    if P.shape != (x.shape[0], 6, 6):
        raise ValueError(f"'P' must have shape ({x.shape[0]}, 6, 6), got {P.shape}")
    qa = np.asarray(q, dtype=np.float64)
    if not (np.all(np.isfinite(qa)) and np.all(qa >= 0)):
        raise ValueError(f"'q' must be finite and >= 0 m²/s³ (got {q})")
    n = x.shape[0]
    x_new, P_new = np.empty((n, 6)), np.empty((n, 6, 6))
    _cv_predict(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(P, dtype=np.float64),
        members(dt, n),
        members(qa, n),
        x_new,
        P_new,
    )
    return x_new, P_new


@numba.njit(
    "void(f8[:, ::1], f8[:, :, ::1], f8[::1], f8[::1], f8[:, ::1], f8[:, :, ::1])", cache=True
)
def _cv_predict(x: States, P: Covs, dt: Array, q: Array, x_new: States, P_new: Covs) -> None:
    """:func:`cv_predict`'s blocks, one track at a time (N is tens of tracks per scan, where
    whole-array numpy spends its time in call overhead); the operations in the order of
    the formula, so the result is the same to the bit as its numpy transcription."""
    for n in range(x.shape[0]):
        d, qn = dt[n], q[n]
        a = abs(d)
        pp, pv, vv = qn * a**3.0 / 3.0, qn * d * a / 2.0, qn * a
        for i in range(3):
            x_new[n, i] = x[n, i] + d * x[n, i + 3]
            x_new[n, i + 3] = x[n, i + 3]
            for j in range(3):
                Ppv, Pvp, Pvv = P[n, i, j + 3], P[n, i + 3, j], P[n, i + 3, j + 3]
                P_new[n, i, j] = P[n, i, j] + d * (Ppv + Pvp) + d * d * Pvv
                P_new[n, i, j + 3] = Ppv + d * Pvv
                P_new[n, i + 3, j] = Pvp + d * Pvv
                P_new[n, i + 3, j + 3] = Pvv
            P_new[n, i, i] += pp
            P_new[n, i, i + 3] += pv
            P_new[n, i + 3, i] += pv
            P_new[n, i + 3, i + 3] += vv


def free_flight(x: States, free_flight_m: float = FREE_FLIGHT_M) -> Array:
    """Which of N states (N, 6) are above ``free_flight_m``: (N,) bool (the origin: not)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(height_m(x[:, :3].T) > free_flight_m)


def predict(
    x: States,
    P: Covs,
    dt: Array,
    q: Array | float,
    free_flight_m: float = FREE_FLIGHT_M,
    ff: Array | None = None,
) -> tuple[States, Covs]:
    """:func:`cv_predict`, with the rows above ``free_flight_m`` flown in free flight.

    Their mean follows :func:`mead.flight.rk4_step` (no drag) in steps of at most
    ``FREE_FLIGHT_STEP_S``; their covariance is the CV one (the gravity gradient, μ/r³ ≈
    1.5·10⁻⁶ s⁻², changes it by less than 10⁻⁴ over a scan). ``dt`` may be negative.
    ``ff``: :func:`free_flight` of ``x`` if the caller has it already.
    """
    x_new, P_new = cv_predict(x, P, dt, q)
    if ff is None:
        ff = free_flight(x, free_flight_m)
    if ff.any():
        d = np.broadcast_to(np.asarray(dt, dtype=np.float64), (x.shape[0],))[ff]
        n = max(1, int(np.ceil(np.max(np.abs(d)) / FREE_FLIGHT_STEP_S)))
        p, v = x[ff, :3].T, x[ff, 3:].T
        for _ in range(n):
            p, v = rk4_step(p, v, d / n)
        x_new[ff, :3], x_new[ff, 3:] = p.T, v.T
    return x_new, P_new


class MotionModel(Protocol):
    """Predicts many tracks at once and adapts their process noise to what they do."""

    def predict(self, x: States, P: Covs, dt: Array, q_scale: Array) -> tuple[States, Covs]:
        """States (N, 6) and covariances (N, 6, 6) predicted over ``dt`` (N,) s."""
        ...

    def adapt(self, q_scale: Array, nis: Array) -> Array:
        """New manoeuvre scales (K,) from each track's NIS (K,) (∞ for a miss)."""
        ...


@dataclass(frozen=True)
class ConstantVelocity:
    """CV motion with a per-track process noise adapted to speed and manoeuvres."""

    q_slow: float = 200.0  # m²/s³, base density at or below v_slow_mps
    q_fast: float = 5_000.0  # m²/s³, base density at or above v_fast_mps
    v_slow_mps: float = 400.0  # m/s, speed up to which q_slow applies
    v_fast_mps: float = 1_200.0  # m/s, speed from which q_fast applies
    nis_manoeuvre: float = 11.34  # NIS (χ², 3 dof, 99 %) above which a manoeuvre is assumed
    boost: float = 10.0  # factor on the scale at a manoeuvre
    decay: float = 0.5  # factor on the scale per quiet update (back towards 1)
    scale_max: float = 100.0  # cap on the manoeuvre scale
    q_free: float = 50.0  # m²/s³, base density in free flight (above free_flight_m)
    free_flight_m: float = FREE_FLIGHT_M  # m, height from which tracks fly in free flight

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"ConstantVelocity.{f.name} must be finite and > 0 (got {v})")
        if self.v_fast_mps <= self.v_slow_mps:
            raise ValueError(
                f"ConstantVelocity.v_fast_mps ({self.v_fast_mps}) must exceed "
                f"v_slow_mps ({self.v_slow_mps})"
            )
        check(self.decay < 1.0, "ConstantVelocity.decay", "< 1", self.decay)
        check(self.boost > 1.0, "ConstantVelocity.boost", "> 1", self.boost)
        check(self.scale_max >= 1.0, "ConstantVelocity.scale_max", ">= 1", self.scale_max)

    def q(self, x: States, q_scale: Array, ff: Array | None = None) -> Array:
        """Process noise density (N,) m²/s³ of N tracks from their speed, height and scale
        (``ff``: :func:`free_flight` of ``x`` if the caller has it already)."""
        if ff is None:
            ff = free_flight(x, self.free_flight_m)
        speed = np.linalg.norm(x[:, 3:], axis=1)
        u = np.clip((speed - self.v_slow_mps) / (self.v_fast_mps - self.v_slow_mps), 0.0, 1.0)
        base = np.where(ff, self.q_free, self.q_slow * (self.q_fast / self.q_slow) ** u)
        return base * q_scale

    def predict(self, x: States, P: Covs, dt: Array, q_scale: Array) -> tuple[States, Covs]:
        """Predict N tracks over ``dt`` (N,) s; ``q_scale`` (N,) are their manoeuvre scales."""
        ff = free_flight(x, self.free_flight_m)
        return predict(x, P, dt, self.q(x, q_scale, ff), self.free_flight_m, ff)

    def adapt(self, q_scale: Array, nis: Array) -> Array:
        """New manoeuvre scales (K,) of K tracks from their NIS (K,) (∞ for a miss in coverage)."""
        up = np.minimum(q_scale * self.boost, self.scale_max)
        down = np.maximum(q_scale * self.decay, 1.0)
        return np.where(nis > self.nis_manoeuvre, up, down)
