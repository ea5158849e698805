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
- *ballistic*: free flight in the Earth-fixed frame — gravity with J2, Coriolis and
  centrifugal terms, and drag a_d = −½ ρ(h) κ |v| v in an exponential atmosphere — with
  the inverse ballistic coefficient κ = C_d A / m (m²/kg) estimated as a seventh state.
  The mean is integrated with the truth simulator's own RK4 equations
  (:func:`mead.flight.rk4_step`); the covariance with the EKF Jacobian of point-mass
  gravity (its gradient μ/r³ (3 r̂r̂ᵀ − I)), the rotation terms and drag (∂/∂p through the
  density's height, ∂/∂v, ∂/∂κ) taken mid-step, in sub-steps of at most
  ``ballistic_step_s``.

Every mode carries the same seven states [p, v, κ]: the CV modes hold κ constant and never
observe it, so mixing brings them the ballistic mode's estimate and the combined 6-state
output (what the tracker, fusion and threat stages see) is unaffected by κ. Above ~60 km
the density is negligible and κ keeps its prior; in re-entry it converges within a few
scans (``tests/tracking/test_imm.py``).

Π(dt) keeps a mode with probability exp(−dt / τ) (``sojourn_s`` τ per mode) and spreads
the rest evenly over the other modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from mead.flight import SCALE_HEIGHT_M, density_kg_m3, height_m, rk4_step
from mead.geo import GM, OMEGA_E
from mead.tracking.measurement import kf_update
from mead.tracking.motion import cv_predict
from mead.types import Array, Covs, Meas, States

N_STATE = 7
"""States per mode: ECEF position (3), velocity (3) and κ = 1/β (m²/kg)."""

_CROSS_W = np.array([[0.0, -OMEGA_E, 0.0], [OMEGA_E, 0.0, 0.0], [0.0, 0.0, 0.0]])  # [ω×]

MU_FLOOR = 1e-6
"""Floor on a mode's probability, so that no mode is ever ruled out for good."""


def gravity(p: Array) -> Array:
    """Point-mass gravity acceleration (N, 3) m/s² at ECEF positions p (N, 3) m."""
    r = np.linalg.norm(p, axis=-1, keepdims=True)
    return -GM * p / np.maximum(r, 1.0) ** 3


def ballistic_predict(x: States, P: Covs, dt: Array, q: float) -> tuple[States, Covs]:
    """Predict N states (N, 6), (N, 6, 6) over ``dt`` (N,) s in free fall, noise density q.

    Point-mass gravity evaluated at the start of the step and held: x⁺ = F x + [a dt²/2,
    a dt]. The IMM's ballistic mode uses :func:`drag_predict`; this is its vacuum,
    non-rotating limit for a quick look.
    """
    dt = np.asarray(dt, dtype=np.float64)
    a = gravity(x[:, :3])
    x_new, P_new = cv_predict(x, P, dt, np.full(len(x), q))
    x_new[:, :3] += 0.5 * a * dt[:, None] ** 2
    x_new[:, 3:] += a * dt[:, None]
    return x_new, P_new


def drag_jacobian(x: Array) -> Array:
    """Continuous-time Jacobian A (N, 7, 7) of d[p, v, κ]/dt for states x (N, 7), ECEF."""
    p, v, kappa = x[:, :3], x[:, 3:6], np.maximum(x[:, 6], 0.0)
    r = np.linalg.norm(p, axis=1)
    u = p / r[:, None]
    G = (GM / r**3)[:, None, None] * (3.0 * u[:, :, None] * u[:, None, :] - np.eye(3))
    G -= _CROSS_W @ _CROSS_W  # centrifugal −ω×(ω×p)
    rho = density_kg_m3(height_m(p.T))
    speed = np.maximum(np.linalg.norm(v, axis=1), 1e-9)
    a_drag = (-0.5 * rho * kappa * speed)[:, None] * v
    A = np.zeros((len(x), N_STATE, N_STATE))
    A[:, :3, 3:6] = np.eye(3)
    A[:, 3:6, :3] = G - a_drag[:, :, None] * u[:, None, :] / SCALE_HEIGHT_M
    A[:, 3:6, 3:6] = -2.0 * _CROSS_W - (0.5 * rho * kappa)[:, None, None] * (
        speed[:, None, None] * np.eye(3) + v[:, :, None] * v[:, None, :] / speed[:, None, None]
    )
    A[:, 3:6, 6] = (-0.5 * rho * speed)[:, None] * v
    return A


def drag_predict(
    x: Array, P: Covs, dt: Array, q: float, q_kappa: float, max_step_s: float = 2.0
) -> tuple[Array, Covs]:
    """Predict N 7-states [p, v, κ] (N, 7), (N, 7, 7) over ``dt`` (N,) s in free flight.

    The mean follows :func:`mead.flight.rk4_step` (gravity + J2, Earth rotation,
    drag with 1/β = max(κ, 0)); the covariance P ← F P Fᵀ + Q with F = I + A h + A² h²/2
    from :func:`drag_jacobian` at the middle of each step, in equal sub-steps
    h ≤ ``max_step_s`` (the same count for all tracks, from the longest ``dt``). Q: white
    acceleration noise of density ``q`` and a random walk of κ with density ``q_kappa``
    (m⁴/kg²/s).
    """
    dt = np.asarray(dt, dtype=np.float64)
    n_sub = max(1, int(np.ceil(np.max(np.abs(dt), initial=0.0) / max_step_s)))
    h = dt / n_sub
    a = np.abs(h)[:, None, None]
    Q = np.zeros((len(x), N_STATE, N_STATE))
    Q[:, :3, :3] = q * np.eye(3) * a**3 / 3
    Q[:, :3, 3:6] = Q[:, 3:6, :3] = q * np.eye(3) * a**2 / 2
    Q[:, 3:6, 3:6] = q * np.eye(3) * a
    Q[:, 6, 6] = q_kappa * np.abs(h)
    x, P = x.copy(), P.copy()
    eye = np.eye(N_STATE)
    for _ in range(n_sub):
        x1 = x.copy()
        p1, v1 = rk4_step(x[:, :3].T, x[:, 3:6].T, h, np.maximum(x[:, 6], 0.0))
        x1[:, :3], x1[:, 3:6] = p1.T, v1.T
        # the density changes by half in a 2 s step of a steep re-entry: linearise midway
        Ah = drag_jacobian(0.5 * (x + x1)) * h[:, None, None]
        F = eye + Ah + 0.5 * Ah @ Ah
        x, P = x1, F @ P @ F.swapaxes(-1, -2) + Q
    return x, 0.5 * (P + P.swapaxes(-1, -2))


def cv7_predict(x: Array, P: Covs, dt: Array, q: Array | float) -> tuple[Array, Covs]:
    """CV prediction of 7-states [p, v, κ] with noise density q (scalar or (N,)); κ is
    carried unchanged (never observed)."""
    dt = np.asarray(dt, dtype=np.float64)
    x_new = x.copy()
    P_new = np.empty_like(P)
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), dt.shape)
    x_new[:, :6], P_new[:, :6, :6] = cv_predict(x[:, :6], P[:, :6, :6], dt, q)
    d = dt[:, None]
    P_new[:, :3, 6] = P[:, :3, 6] + d * P[:, 3:6, 6]  # F P for the κ column
    P_new[:, 3:6, 6] = P[:, 3:6, 6]
    P_new[:, 6, :6] = P_new[:, :6, 6]
    P_new[:, 6, 6] = P[:, 6, 6]
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
    mode_dim: int  # states per mode (the first 6 are the ECEF position and velocity)

    def start(self, x: States, P: Covs) -> tuple[Array, Array, Covs]:
        """Modes of new tracks: μ (K, r), x_j (K, r, n), P_j (K, r, n, n)."""
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
    """IMM over quiet CV, manoeuvre CV and ballistic motion, for ``Tracker(motion=IMM())``.

    Modes carry 7 states [p, v, κ] (module doc); the combined estimate is the usual 6.
    """

    q_quiet: float = 10.0  # m²/s³, acceleration noise density of the quiet CV mode
    q_manoeuvre: float = 20_000.0  # m²/s³, of the manoeuvre CV mode (holds 4 g turns at 5 s)
    q_ballistic: float = 1.0  # m²/s³, of the ballistic mode (gravity and drag model error)
    kappa0: float = 1.0e-4  # m²/kg, prior inverse ballistic coefficient (β = 10,000 kg/m²)
    kappa_std: float = 1.5e-4  # m²/kg, its prior 1-σ (β from ~4,000 kg/m² to vacuum)
    q_kappa: float = 1.0e-12  # m⁴/kg²/s, random-walk density of κ
    drag: bool = True  # False: the ballistic mode flies in vacuum (κ ignored)
    # s, longest sub-step of the ballistic prediction: over 6 s of steep re-entry at
    # 15 km one step puts the mean within 4 m and overstates the position σ by ≤ 30 %
    ballistic_step_s: float = 5.0
    sojourn_s: tuple[float, float, float] = (120.0, 30.0, 120.0)  # s, mean time in each mode
    mu0: tuple[float, float, float] = (0.6, 0.3, 0.1)  # mode probabilities of a new track
    n_modes: int = field(default=3, init=False)  # quiet, manoeuvre, ballistic
    mode_dim: int = field(default=N_STATE, init=False)  # states per mode

    def __post_init__(self) -> None:
        for name in ("q_quiet", "q_manoeuvre", "q_ballistic", "q_kappa", "kappa_std",
                     "ballistic_step_s"):  # fmt: skip
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"IMM.{name} must be finite and > 0 (got {v})")
        if not (np.isfinite(self.kappa0) and self.kappa0 >= 0):
            raise ValueError(f"IMM.kappa0 must be >= 0 m²/kg (got {self.kappa0})")
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
        """Modes of K new tracks (K, 6), (K, 6, 6): μ (K, r), x_j (K, r, 7), P_j (K, r, 7, 7).

        κ starts at its prior, uncorrelated with the kinematic states.
        """
        k = len(x)
        mu = np.broadcast_to(np.asarray(self.mu0, dtype=np.float64), (k, 3)).copy()
        x7 = np.concatenate([x, np.full((k, 1), self.kappa0)], axis=1)
        P7 = np.zeros((k, N_STATE, N_STATE))
        P7[:, :6, :6] = P
        P7[:, 6, 6] = self.kappa_std**2
        return mu, np.repeat(x7[:, None], 3, axis=1), np.repeat(P7[:, None], 3, axis=1)

    def predict_modes(
        self, mu: Array, xm: Array, Pm: Covs, dt: Array
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Mix and predict N tracks' modes over ``dt`` (N,) s; returns μ, x_j, P_j, x, P."""
        dt = np.asarray(dt, dtype=np.float64)
        c, x0, P0 = imm_mix(mu, xm, Pm, mode_transition(dt, np.asarray(self.sojourn_s)))
        xm1, Pm1 = np.empty_like(x0), np.empty_like(P0)
        n = len(dt)
        # both CV modes in one call: rows [quiet of every track, manoeuvre of every track]
        q = np.repeat([self.q_quiet, self.q_manoeuvre], n)
        x_cv, P_cv = cv7_predict(
            x0[:, :2].swapaxes(0, 1).reshape(2 * n, -1),
            P0[:, :2].swapaxes(0, 1).reshape(2 * n, *P0.shape[2:]),
            np.tile(dt, 2),
            q,
        )
        xm1[:, :2] = x_cv.reshape(2, n, -1).swapaxes(0, 1)
        Pm1[:, :2] = P_cv.reshape(2, n, *P0.shape[2:]).swapaxes(0, 1)
        if self.drag:
            xm1[:, 2], Pm1[:, 2] = drag_predict(
                x0[:, 2], P0[:, 2], dt, self.q_ballistic, self.q_kappa, self.ballistic_step_s
            )
        else:
            xm1[:, 2], Pm1[:, 2] = cv7_predict(x0[:, 2], P0[:, 2], dt, self.q_ballistic)
            xm1[:, 2, :6], Pm1[:, 2, :6, :6] = ballistic_predict(
                x0[:, 2, :6], P0[:, 2, :6, :6], dt, self.q_ballistic
            )
        x, P = imm_combine(c, xm1[..., :6], Pm1[..., :6, :6])
        return c, xm1, Pm1, x, P

    def update_modes(
        self, mu: Array, xm: Array, Pm: Covs, x: States, y: Meas, H: Covs, R: Covs
    ) -> tuple[Array, Array, Covs, States, Covs]:
        """Update K tracks' modes with one plot each; returns μ, x_j, P_j, x, P.

        ``y`` (K, m) is the innovation of the combined estimate ``x`` (K, 6), ``H``
        (K, m, 6) its Jacobian and ``R`` (m, m) or (K, m, m) the plot noise; m = 3, or 4 with range
        rate (which sees the velocity, never κ).
        """
        k, r = mu.shape
        n, m = xm.shape[-1], y.shape[1]
        H = np.concatenate([H, np.zeros((k, m, n - 6))], axis=2)  # plots do not see κ
        dx = xm[..., :6] - x[:, None, :]  # (K, r, 6)
        yj = y[:, None, :] - np.einsum("kmd,krd->krm", H[..., :6], dx)  # (K, r, m)
        Hr = np.repeat(H, r, axis=0)  # (K·r, m, n)
        R = np.repeat(R, r, axis=0) if R.ndim == 3 else R  # per track → per mode
        S = Hr @ Pm.reshape(k * r, n, n) @ Hr.swapaxes(-1, -2) + R
        d2 = np.einsum(
            "ki,ki->k", yj.reshape(k * r, m), np.linalg.solve(S, yj.reshape(-1, m, 1))[..., 0]
        )
        _, logdet = np.linalg.slogdet(S)
        loglik = (-0.5 * (d2 + logdet)).reshape(k, r)
        w = np.log(np.maximum(mu, 1e-300)) + loglik
        w = np.exp(w - w.max(axis=1, keepdims=True))
        mu1 = np.maximum(w / w.sum(axis=1, keepdims=True), MU_FLOOR)
        mu1 /= mu1.sum(axis=1, keepdims=True)
        xu, Pu = kf_update(xm.reshape(k * r, n), Pm.reshape(k * r, n, n), yj.reshape(-1, m), Hr, R)
        xm1, Pm1 = xu.reshape(k, r, n), Pu.reshape(k, r, n, n)
        xc, Pc = imm_combine(mu1, xm1[..., :6], Pm1[..., :6, :6])
        return mu1, xm1, Pm1, xc, Pc
