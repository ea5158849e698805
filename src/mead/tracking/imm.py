"""Interacting multiple model (IMM) motion for tracking: quiet CV, manoeuvre CV and ballistic.

Each track carries r mode-conditioned estimates x_j (N, r, 6), P_j (N, r, 6, 6) in ECEF and
mode probabilities μ (N, r). One IMM cycle (Blom & Bar-Shalom 1988; Bar-Shalom, Li &
Kirubarajan 2001, §11.6), batched over tracks:

1. mixing, with the mode transition matrix Π(dt) (Π_ij = P(mode j now | mode i before)):
   c_j = Σ_i Π_ij μ_i, μ_i|j = Π_ij μ_i / c_j, x⁰_j = Σ_i μ_i|j x_i,
   P⁰_j = Σ_i μ_i|j (P_i + (x_i − x⁰_j)(x_i − x⁰_j)ᵀ);
2. mode-matched prediction of (x⁰_j, P⁰_j) over dt by model j; μ ← c;
3. mode-matched update with the plot: innovation y_j = y − H (x_j − x) (the EKF innovation of
   the combined estimate x, moved to mode j's prediction), S_j = H P_j Hᵀ + R, the
   likelihood Λ_j = N(y_j; 0, S_j), and μ_j ∝ Λ_j μ_j;
4. output: x = Σ_j μ_j x_j, P = Σ_j μ_j (P_j + (x_j − x)(x_j − x)ᵀ).

The models (``IMM`` defaults):

- *quiet*: CV with a small acceleration noise (aircraft in straight flight);
- *manoeuvre*: CV with a large acceleration noise (turns, boost, re-entry deceleration);
- *ballistic*: free fall under point-mass gravity, a = −μ_E p / |p|³ held over the step
  (x⁺ = F x + [a dt²/2, a dt], P⁺ = F P Fᵀ + Q with a small noise; the gravity gradient,
  ≈ 3·10⁻⁶ s⁻², is left out of F).

Π(dt) keeps a mode with probability exp(−dt / τ) (``sojourn_s`` τ per mode) and spreads
the rest evenly over the other modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from mead.tracking.measurement import kf_update
from mead.tracking.motion import cv_predict
from mead.types import Array, Covs, Meas, States

MU_EARTH = 3.986004418e14
"""Earth's gravitational parameter GM, m³/s²."""

MU_FLOOR = 1e-6
"""Floor on a mode's probability, so that no mode is ever ruled out for good."""


def gravity(p: Array) -> Array:
    """Point-mass gravity acceleration (N, 3) m/s² at ECEF positions p (N, 3) m."""
    r = np.linalg.norm(p, axis=-1, keepdims=True)
    return -MU_EARTH * p / np.maximum(r, 1.0) ** 3


def ballistic_predict(x: States, P: Covs, dt: Array, q: float) -> tuple[States, Covs]:
    """Predict N states (N, 6), (N, 6, 6) over ``dt`` (N,) s in free fall, noise density q.

    Gravity is evaluated at the start of the step and held: x⁺ = F x + [a dt²/2, a dt].
    """
    dt = np.asarray(dt, dtype=np.float64)
    a = gravity(x[:, :3])
    x_new, P_new = cv_predict(x, P, dt, np.full(len(x), q))
    x_new[:, :3] += 0.5 * a * dt[:, None] ** 2
    x_new[:, 3:] += a * dt[:, None]
    return x_new, P_new


def mode_transition(dt: Array, sojourn_s: Array) -> Array:
    """Mode transition matrices Π (N, r, r) over ``dt`` (N,) s with mean sojourn τ (r,) s."""
    dt = np.abs(np.asarray(dt, dtype=np.float64))
    r = len(sojourn_s)
    stay = np.exp(-dt[:, None] / np.asarray(sojourn_s, dtype=np.float64))  # (N, r)
    Pi = ((1.0 - stay) / max(r - 1, 1))[:, :, None] * np.ones((1, 1, r))
    idx = np.arange(r)
    Pi[:, idx, idx] = stay
    return Pi


def imm_mix(mu: Array, xm: Array, Pm: Covs, Pi: Array) -> tuple[Array, Array, Covs]:
    """IMM mixing: predicted mode probabilities c (N, r), mixed x⁰ (N, r, 6), P⁰ (N, r, 6, 6)."""
    joint = mu[:, :, None] * Pi  # (N, i, j) μ_i Π_ij
    c = joint.sum(axis=1)  # (N, j)
    w = joint / c[:, None, :]  # μ_i|j
    x0 = np.einsum("nij,nid->njd", w, xm)
    dx = xm[:, :, None, :] - x0[:, None, :, :]  # (N, i, j, 6)
    P0 = np.einsum("nij,nijde->njde", w, Pm[:, :, None] + dx[..., :, None] * dx[..., None, :])
    return c, x0, P0


def imm_combine(mu: Array, xm: Array, Pm: Covs) -> tuple[States, Covs]:
    """Moment-matched combined estimate x (N, 6), P (N, 6, 6) of the modes."""
    x = np.einsum("nj,njd->nd", mu, xm)
    dx = xm - x[:, None, :]
    P = np.einsum("nj,njde->nde", mu, Pm + dx[..., :, None] * dx[..., None, :])
    return x, 0.5 * (P + P.swapaxes(-1, -2))


@runtime_checkable
class MultipleModel(Protocol):
    """A motion model whose tracks carry r mode-conditioned estimates (the tracker keeps
    them in ``TrackTable.mu``, ``xm``, ``Pm``)."""

    n_modes: int

    def start(self, x: States, P: Covs) -> tuple[Array, Array, Covs]:
        """Modes of new tracks: μ (K, r), x_j (K, r, 6), P_j (K, r, 6, 6)."""
        ...

    def predict_modes(
        self, mu: Array, xm: Array, Pm: Covs, dt: Array
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Predicted μ, x_j, P_j and the combined x, P over ``dt`` (N,) s."""
        ...

    def update_modes(
        self, mu: Array, xm: Array, Pm: Covs, x: States, y: Meas, H: Covs, R: Covs
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Updated μ, x_j, P_j and the combined x, P from innovations of the combined x."""
        ...


@dataclass(frozen=True)
class IMM:
    """IMM over quiet CV, manoeuvre CV and ballistic motion, for ``Tracker(motion=IMM())``."""

    q_quiet: float = 10.0  # m²/s³, acceleration noise density of the quiet CV mode
    q_manoeuvre: float = 20_000.0  # m²/s³, of the manoeuvre CV mode (holds 4 g turns at 5 s)
    q_ballistic: float = 1.0  # m²/s³, of the ballistic mode (drag, gravity model error)
    sojourn_s: tuple[float, float, float] = (120.0, 30.0, 120.0)  # s, mean time in each mode
    mu0: tuple[float, float, float] = (0.6, 0.3, 0.1)  # mode probabilities of a new track
    n_modes: int = field(default=3, init=False)  # quiet, manoeuvre, ballistic

    def __post_init__(self) -> None:
        for name in ("q_quiet", "q_manoeuvre", "q_ballistic"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"IMM.{name} must be finite and > 0 (got {v})")
        if len(self.sojourn_s) != 3 or not all(s > 0 for s in self.sojourn_s):
            raise ValueError(f"IMM.sojourn_s must be 3 values > 0 s (got {self.sojourn_s})")
        if len(self.mu0) != 3 or min(self.mu0) < 0 or not np.isclose(sum(self.mu0), 1.0):
            raise ValueError(f"IMM.mu0 must be 3 probabilities summing to 1 (got {self.mu0})")

    # --- the plain MotionModel interface (combined estimate only) ---

    def predict(self, x: States, P: Covs, dt: Array, q_scale: Array) -> tuple[States, Covs]:
        """Predict combined states over ``dt`` (N,) s with the new-track mode mix (no modes)."""
        mu, xm, Pm = self.start(x, P)
        *_, x1, P1 = self.predict_modes(mu, xm, Pm, dt)
        return x1, P1

    def adapt(self, q_scale: Array, nis: Array) -> Array:
        """No process-noise heuristic: the modes adapt. Returns ``q_scale`` unchanged."""
        return q_scale

    # --- the multiple-model interface used by the tracker ---

    def start(self, x: States, P: Covs) -> tuple[Array, Array, Covs]:
        """Modes of K new tracks (K, 6), (K, 6, 6): μ (K, r), x_j (K, r, 6), P_j (K, r, 6, 6)."""
        k = len(x)
        mu = np.broadcast_to(np.asarray(self.mu0, dtype=np.float64), (k, 3)).copy()
        return mu, np.repeat(x[:, None], 3, axis=1), np.repeat(P[:, None], 3, axis=1)

    def predict_modes(
        self, mu: Array, xm: Array, Pm: Covs, dt: Array
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Mix and predict N tracks' modes over ``dt`` (N,) s; returns μ, x_j, P_j, x, P."""
        dt = np.asarray(dt, dtype=np.float64)
        c, x0, P0 = imm_mix(mu, xm, Pm, mode_transition(dt, np.asarray(self.sojourn_s)))
        xm1, Pm1 = np.empty_like(x0), np.empty_like(P0)
        ones = np.ones(len(dt))
        xm1[:, 0], Pm1[:, 0] = cv_predict(x0[:, 0], P0[:, 0], dt, self.q_quiet * ones)
        xm1[:, 1], Pm1[:, 1] = cv_predict(x0[:, 1], P0[:, 1], dt, self.q_manoeuvre * ones)
        xm1[:, 2], Pm1[:, 2] = ballistic_predict(x0[:, 2], P0[:, 2], dt, self.q_ballistic)
        x, P = imm_combine(c, xm1, Pm1)
        return c, xm1, Pm1, x, P

    def update_modes(
        self, mu: Array, xm: Array, Pm: Covs, x: States, y: Meas, H: Covs, R: Covs
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Update K tracks' modes with one plot each; returns μ, x_j, P_j, x, P.

        ``y`` (K, 3) is the innovation of the combined estimate ``x`` (K, 6), ``H``
        (K, 3, 6) its Jacobian and ``R`` (3, 3) the plot noise.
        """
        k, r = mu.shape
        dx = xm - x[:, None, :]  # (K, r, 6)
        yj = y[:, None, :] - np.einsum("kmd,krd->krm", H, dx)  # (K, r, 3)
        Hr = np.repeat(H, r, axis=0)  # (K·r, 3, 6)
        S = Hr @ Pm.reshape(k * r, 6, 6) @ Hr.swapaxes(-1, -2) + R
        d2 = np.einsum(
            "ki,ki->k", yj.reshape(k * r, 3), np.linalg.solve(S, yj.reshape(-1, 3, 1))[..., 0]
        )
        _, logdet = np.linalg.slogdet(S)
        loglik = (-0.5 * (d2 + logdet)).reshape(k, r)
        w = np.log(np.maximum(mu, 1e-300)) + loglik
        w = np.exp(w - w.max(axis=1, keepdims=True))
        mu1 = np.maximum(w / w.sum(axis=1, keepdims=True), MU_FLOOR)
        mu1 /= mu1.sum(axis=1, keepdims=True)
        xu, Pu = kf_update(xm.reshape(k * r, 6), Pm.reshape(k * r, 6, 6), yj.reshape(-1, 3), Hr, R)
        xm1, Pm1 = xu.reshape(k, r, 6), Pu.reshape(k, r, 6, 6)
        xc, Pc = imm_combine(mu1, xm1, Pm1)
        return mu1, xm1, Pm1, xc, Pc
