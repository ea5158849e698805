"""Ballistic flight kernels: gravity (J2), drag and Earth rotation in ECEF, RK4 to ground impact.

The equations of motion are written in the rotating WGS84 ECEF frame, so a velocity is
relative to the (co-rotating) atmosphere:

    r̈ = g(r) − 2 ω×ṙ − ω×(ω×r) − ρ(h) |ṙ| ṙ / (2β) + a_T

with g the point-mass + J2 gravity, ω = (0, 0, Ω_E), ρ(h) = ρ₀ exp(−h/H) an exponential
atmosphere, β = m/(C_d A) the ballistic coefficient and a_T an optional thrust acceleration
(used by ``sim/launch.py`` for the boost phase). Ground impact is the crossing of ellipsoid
height 0. Everything is vectorised over N objects; the internal layout is component-major
(6, N) because the hot loop then works on contiguous rows.

Threat assessment may import ``propagate_ballistic`` and ``ballistic_accel`` to predict
impact points from track states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.geo import A_M, E2, GM, OMEGA_E
from mead.types import Array, Mask, States

J2 = 1.082_626_68e-3  # Earth's second zonal harmonic (WGS84 / EGM96)
RHO0_KG_M3 = 1.225  # sea-level air density, kg/m³
SCALE_HEIGHT_M = 7_200.0  # exponential-atmosphere scale height, m


@dataclass(frozen=True)
class Impact:
    """Result of ``propagate_ballistic`` for N objects."""

    x: States  # (N, 6) ECEF state at ground impact (last state if not ``hit``)
    t_s: Array  # (N,) time from the initial states to impact, s (max time if not hit)
    hit: Mask  # (N,) the object reached height 0 within the time limit
    path: Array | None  # (K+1, N, 6) states every ``dt`` from t=0, held at impact; if recorded


def height_m(y: Array) -> Array:
    """Height above the WGS84 ellipsoid along the geocentric radius, (N,) m, of (3+, N) rows.

    Exact at height 0 (so impact detection is exact) and within a few metres of the
    geodetic height up to several hundred km, which is all drag needs.
    """
    x, yy, z = y[0], y[1], y[2]
    rho2 = x * x + yy * yy
    r2 = rho2 + z * z
    return np.sqrt(r2) - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))


def _accel(y: Array, inv_beta: Array | None, j2: bool, omega: float) -> list[Array]:
    """Acceleration components [ax, ay, az] (N,) of component-major states y (6, N)."""
    x, yy, z, vx, vy, vz = y
    rho2 = x * x + yy * yy
    r2 = rho2 + z * z
    r = np.sqrt(r2)
    k = -GM / (r2 * r)
    if j2:
        q = (1.5 * J2 * A_M * A_M) / r2
        s = 5.0 * z * z / r2
        kxy, kz = k * (1.0 + q * (1.0 - s)), k * (1.0 + q * (3.0 - s))
    else:
        kxy = kz = k
    ax, ay, az = kxy * x, kxy * yy, kz * z
    if omega:
        ax = ax + omega * (omega * x + 2.0 * vy)
        ay = ay + omega * (omega * yy - 2.0 * vx)
    if inv_beta is not None:
        h = r - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))
        rho = RHO0_KG_M3 * np.exp(np.maximum(h, 0.0) * (-1.0 / SCALE_HEIGHT_M))
        kd = (-0.5 * rho * inv_beta) * np.sqrt(vx * vx + vy * vy + vz * vz)
        ax, ay, az = ax + kd * vx, ay + kd * vy, az + kd * vz
    return [ax, ay, az]


def _deriv(
    y: Array, inv_beta: Array | None, thrust: Array | None, j2: bool, omega: float
) -> Array:
    """dy/dt (6, N) for states y (6, N); ``thrust`` (3, N) adds a thrust acceleration."""
    a = _accel(y, inv_beta, j2, omega)
    if thrust is not None:
        a = [a[0] + thrust[0], a[1] + thrust[1], a[2] + thrust[2]]
    return np.stack([y[3], y[4], y[5], a[0], a[1], a[2]])


def rk4_step(
    y: Array,
    h: Array | float,
    inv_beta: Array | None = None,
    thrust: Array | None = None,
    j2: bool = True,
    omega: float = OMEGA_E,
) -> Array:
    """One classical RK4 step of states y (6, N) by h (scalar or (N,)) s; see module equations."""
    k1 = _deriv(y, inv_beta, thrust, j2, omega)
    k2 = _deriv(y + (0.5 * h) * k1, inv_beta, thrust, j2, omega)
    k3 = _deriv(y + (0.5 * h) * k2, inv_beta, thrust, j2, omega)
    k4 = _deriv(y + h * k3, inv_beta, thrust, j2, omega)
    return y + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)


def hermite(y0: Array, y1: Array, h: Array, tau: Array) -> Array:
    """Cubic Hermite state (6, N) at fraction tau (N,) of steps h (N,) between y0 and y1 (6, N)."""
    t2, t3 = tau * tau, tau * tau * tau
    c0, c1 = 2 * t3 - 3 * t2 + 1, (t3 - 2 * t2 + tau) * h
    c2, c3 = 3 * t2 - 2 * t3, (t3 - t2) * h
    d0, d1 = (6 * t2 - 6 * tau) / h, 3 * t2 - 4 * tau + 1
    d2, d3 = -d0, 3 * t2 - 2 * tau
    p0, v0, p1, v1 = y0[:3], y0[3:], y1[:3], y1[3:]
    p = c0 * p0 + c1 * v0 + c2 * p1 + c3 * v1
    v = d0 * p0 + d1 * v0 + d2 * p1 + d3 * v1
    return np.concatenate([p, v])


def ground_crossing(y0: Array, y1: Array, h: Array, g0: Array, g1: Array) -> tuple[Array, Array]:
    """Where a step from y0 to y1 (6, N) of length h (N,) s crosses height 0.

    ``g0``, ``g1`` (N,) are the heights at both ends (g1 ≤ 0 < g0, or both ≤ 0 for a start
    below ground, which returns y0). Newton on the cubic Hermite arc; returns the state
    (6, N) and the time into the step (N,) s.
    """
    tau = np.clip(g0 / np.maximum(g0 - g1, 1e-9), 0.0, 1.0)
    for _ in range(4):
        y = hermite(y0, y1, h, tau)
        r = np.sqrt(np.sum(y[:3] ** 2, axis=0))
        rate = h * np.sum(y[:3] * y[3:], axis=0) / r  # d|r|/dτ ≈ dh/dτ
        step = np.where(rate < -1e-9, height_m(y) / np.minimum(rate, -1e-9), 0.0)
        tau = np.clip(tau - step, 0.0, 1.0)
    return hermite(y0, y1, h, tau), tau * h


@dataclass
class Flight:
    """Raw result of ``fly``: impacts plus, if recorded, the states at every step."""

    y_imp: Array  # (6, N) impact state
    t_imp: Array  # (N,) impact time since start, s
    hit: Mask  # (N,)
    last_k: np.ndarray  # (N,) int, index of the first recorded step at or below ground
    hist: Array | None  # (K+1, 6, N) recorded states (valid up to last_k per object)


def fly(
    y0: Array,
    *,
    dt: float,
    max_steps: int,
    inv_beta: Array | None = None,
    thrust: Array | None = None,
    n_boost: np.ndarray | None = None,
    h_boost: Array | None = None,
    j2: bool = True,
    omega: float = OMEGA_E,
    record: bool = False,
) -> Flight:
    """Integrate N objects (component-major y0 (6, N)) with fixed-step RK4 until ground impact.

    Object i first takes ``n_boost[i]`` steps of ``h_boost[i]`` s under the extra constant
    acceleration ``thrust[:, i]`` (3,) m/s² (no impact check while boosting), then steps of
    ``dt`` s in free flight. Rows that have impacted leave the working set, so the cost
    follows the objects still flying. Returns impacts and, if ``record``, the step states.
    """
    n = y0.shape[1]
    nb = np.zeros(n, np.int64) if n_boost is None else np.asarray(n_boost, np.int64)
    hb = np.full(n, dt) if h_boost is None else np.asarray(h_boost, np.float64)
    ib = None if inv_beta is None else np.broadcast_to(inv_beta, (n,)).astype(np.float64)
    out = Flight(
        y0.copy(), np.full(n, np.nan), np.zeros(n, bool), np.full(n, max_steps, np.int64), None
    )
    if record:
        out.hist = np.empty((max_steps + 1, 6, n))
        out.hist[0] = y0
    live = np.arange(n)
    y, t, g = y0.copy(), np.zeros(n), height_m(y0)
    th = thrust
    for k in range(max_steps):
        boosting = k < nb
        h = np.where(boosting, hb, dt)
        tk = None if th is None or not boosting.any() else th * boosting
        y_new = rk4_step(y, h, ib, tk, j2, omega)
        g_new = height_m(y_new)
        if record:
            out.hist[k + 1][:, live] = y_new
        down = ~boosting & (g_new <= 0.0) & (g_new < g)
        if down.any():
            yi, ti = ground_crossing(y[:, down], y_new[:, down], h[down], g[down], g_new[down])
            rows = live[down]
            out.y_imp[:, rows], out.t_imp[rows] = yi, t[down] + ti
            out.hit[rows], out.last_k[rows] = True, k + 1
            keep = ~down
            live, y_new, g_new, t, h = live[keep], y_new[:, keep], g_new[keep], t[keep], h[keep]
            nb, hb = nb[keep], hb[keep]
            ib = None if ib is None else ib[keep]
            th = None if th is None else th[:, keep]
            if live.size == 0:
                break
        y, g, t = y_new, g_new, t + h
    if live.size:
        out.y_imp[:, live], out.t_imp[live] = y, t
    return out


def ballistic_accel(
    x: States, beta: Array | float | None = None, *, j2: bool = True, omega: float = OMEGA_E
) -> Array:
    """Free-flight acceleration (N, 3) m/s² in ECEF of states x (N, 6) (see module equations).

    ``beta`` is the ballistic coefficient m/(C_d A) in kg/m², scalar or (N,); None or inf
    means no drag.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    return np.stack(_accel(x.T, _inv_beta(beta, len(x)), j2, omega), axis=-1)


def propagate_ballistic(
    x: States,
    beta: Array | float | None = None,
    *,
    dt: float = 1.0,
    max_time_s: float = 3_600.0,
    j2: bool = True,
    omega: float = OMEGA_E,
    record: bool = False,
) -> Impact:
    """Propagate N ECEF states in free flight (gravity + J2 + drag) until they hit the ground.

    Parameters
    ----------
    x : (N, 6) ECEF states [m, m/s] (Earth-fixed velocity), all at the same time t=0.
    beta : ballistic coefficient m/(C_d A) in kg/m², scalar or (N,); None or inf: vacuum.
    dt : fixed RK4 step, s. 1 s is accurate to metres for re-entry at β ≳ 1,000 kg/m².
    max_time_s : objects still flying after this are returned with ``hit`` False.
    j2, omega : switch off J2 (False) or Earth rotation (0.0) for checks.
    record : also return the path (K+1, N, 6) every ``dt``, held at the impact state.

    Returns
    -------
    Impact : ``x`` (N, 6) impact state at ellipsoid height 0, ``t_s`` (N,) time of flight,
        ``hit`` (N,). An object that starts at or below the ground while descending
        impacts at t=0.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    if x.ndim != 2 or x.shape[1] != 6:
        raise ValueError(f"x must be (N, 6) ECEF states (got shape {x.shape})")
    if not dt > 0.0:
        raise ValueError(f"dt must be > 0 s (got {dt})")
    steps = max(int(np.ceil(max_time_s / dt)), 1)
    f = fly(
        x.T.copy(),
        dt=dt,
        max_steps=steps,
        inv_beta=_inv_beta(beta, len(x)),
        j2=j2,
        omega=omega,
        record=record,
    )
    path = None
    if f.hist is not None:
        used = int(min(f.last_k.max(), steps)) + 1
        path = f.hist[:used].transpose(0, 2, 1).copy()
        after = np.arange(used)[:, None] >= f.last_k[None, :]
        path[after] = np.broadcast_to(f.y_imp.T, path.shape)[after]
    return Impact(f.y_imp.T.copy(), f.t_imp, f.hit, path)


def _inv_beta(beta: Array | float | None, n: int) -> Array | None:
    """1/β (n,) with None → no drag; rejects non-positive β."""
    if beta is None:
        return None
    b = np.broadcast_to(np.asarray(beta, np.float64), (n,))
    if np.any(~(b > 0.0)):
        raise ValueError(f"beta must be > 0 kg/m² (got min {np.min(b)})")
    return 1.0 / b
