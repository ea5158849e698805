"""Ballistic truth flight: fixed-step RK4 of the free-flight law (``mead.flight``) to impact.

The law — gravity with J2, Earth rotation and drag in ECEF, plus a thrust acceleration for
the boost (``sim/launch.py``) — lives in :mod:`mead.flight`, shared with the tracker and
the threat stage; this module flies N objects with it until they cross ellipsoid height 0.
States are component-major (6, N) because the hot loop then works on contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.flight import acceleration, height_m, hermite, rk4_step
from mead.geo import OMEGA_E
from mead.types import Array, Mask, States


@dataclass(frozen=True)
class Impact:
    """Result of ``propagate_ballistic`` for N objects."""

    x: States  # (N, 6) ECEF state at ground impact (last state if not ``hit``)
    t_s: Array  # (N,) time from the initial states to impact, s (max time if not hit)
    hit: Mask  # (N,) the object reached height 0 within the time limit
    path: Array | None  # (K+1, N, 6) states every ``dt`` from t=0, held at impact; if recorded


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
        p_new, v_new = rk4_step(y[:3], y[3:], h, ib, tk, j2=j2, omega=omega)
        y_new = np.concatenate([p_new, v_new])
        g_new = height_m(y_new)
        if out.hist is not None:
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
    return acceleration(x[:, :3].T, x[:, 3:].T, _inv_beta(beta, len(x)), j2=j2, omega=omega).T


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
