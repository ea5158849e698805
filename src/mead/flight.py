"""Free-flight physics of missiles and rockets: gravity with J2, the rotating frame, drag.

One law for every stage that flies a missile: the truth simulator (``mead.sim``), the
tracker's ballistic IMM mode (``mead.tracking.imm``) and impact prediction and trajectory
fits (``mead.threat``). In the rotating WGS84 ECEF frame, with the velocity relative to
the co-rotating atmosphere,

    r̈ = g(r) − 2 ω×ṙ − ω×(ω×r) − ρ(h) |ṙ| ṙ κ / 2 + a_T

with g the point-mass + J2 gravity, ω = (0, 0, Ω_E), ρ(h) = ρ₀ exp(−max(h, 0)/H) an
exponential atmosphere (no denser below the ellipsoid), κ = 1/β = C_d A / m the inverse
ballistic coefficient (m²/kg) and a_T an optional thrust acceleration (the boost). Rows are
component-major, (3, M): the hot loops then work on contiguous rows.
"""

from __future__ import annotations

import numpy as np

from mead.geo import A_M, E2, GM, OMEGA_E
from mead.types import Array

J2 = 1.082_626_68e-3
"""Earth's second zonal harmonic (WGS84 / EGM96)."""
RHO0_KG_M3 = 1.225
"""Sea-level air density of the exponential atmosphere, kg/m³."""
SCALE_HEIGHT_M = 7_200.0
"""Density scale height of the exponential atmosphere, m."""
G0 = 9.806_65
"""Standard gravity, m/s² (for choosing step sizes only)."""
_J2_Q = 1.5 * J2 * A_M * A_M  # q r² of the J2 term
_J2_C = np.array([[1.0], [1.0], [3.0]])  # (3, 1): 1 − s on x and y, 3 − s on z
_CORIOLIS = np.array([[2.0], [-2.0]])  # (2, 1): +2vy on x, −2vx on y


def height_m(p: Array) -> Array:
    """Height above the WGS84 ellipsoid along the geocentric radius, (M,) m, of rows (3+, M).

    Exact at height 0 (so impact detection is exact) and within a few metres of the
    geodetic height up to several hundred km, at a fraction of ``geo.ecef2geodetic``'s cost.
    """
    x, y, z = p[0], p[1], p[2]
    rho2 = x * x + y * y
    r2 = rho2 + z * z
    return np.sqrt(r2) - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))


def density_kg_m3(h_m: Array) -> Array:
    """Air density of the exponential atmosphere at heights (M,) m (sea level below 0)."""
    return RHO0_KG_M3 * np.exp(np.maximum(h_m, 0.0) * (-1.0 / SCALE_HEIGHT_M))


def acceleration(
    p: Array,
    v: Array,
    inv_beta: Array | None = None,
    thrust: Array | None = None,
    *,
    j2: bool = True,
    omega: float = OMEGA_E,
) -> Array:
    """Acceleration (3, M) m/s² in ECEF of positions and velocities (3, M) (module law).

    ``inv_beta`` (M,) is κ = 1/β in m²/kg (``None``: no drag); ``thrust`` (3, M) m/s² is
    added as is; ``j2`` False and ``omega`` 0 switch off J2 and Earth rotation for checks.
    """
    # Whole (3, M) rows where the three components share an operation: the same IEEE
    # operations on each element as component by component, in a third of the numpy calls
    # (the fits and impact predictions call this on a few hundred members at a time).
    x, y, z = p[0], p[1], p[2]
    rho2 = x * x + y * y
    r2 = rho2 + z * z
    r = np.sqrt(r2)
    k = -GM / (r2 * r)
    if j2:
        s = 5.0 * z * z / r2
        a = k * (1.0 + (_J2_Q / r2) * (_J2_C - s)) * p  # (1 + q(1 − s), ·, 1 + q(3 − s))
    else:
        a = k * p
    if omega:
        a[:2] += omega * (omega * p[:2] + _CORIOLIS * v[1::-1])  # (ω x + 2vy, ω y − 2vx)
    if inv_beta is not None:
        h = r - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))
        vv = v * v
        kd = (-0.5 * density_kg_m3(h) * inv_beta) * np.sqrt(vv[0] + vv[1] + vv[2])
        a += kd * v
    if thrust is not None:
        a += thrust
    return a


def rk4_step(
    p: Array,
    v: Array,
    dt: Array | float,
    inv_beta: Array | None = None,
    thrust: Array | None = None,
    *,
    j2: bool = True,
    omega: float = OMEGA_E,
) -> tuple[Array, Array]:
    """One classical RK4 step of rows (3, M) by ``dt`` (scalar or (M,)) s; → (p, v)."""

    def a(pp: Array, vv: Array) -> Array:
        return acceleration(pp, vv, inv_beta, thrust, j2=j2, omega=omega)

    h = 0.5 * dt
    a1 = a(p, v)
    v2 = v + h * a1
    a2 = a(p + h * v, v2)
    v3 = v + h * a2
    a3 = a(p + h * v2, v3)
    v4 = v + dt * a3
    a4 = a(p + dt * v3, v4)
    p_new = p + (dt / 6.0) * (v + 2.0 * v2 + 2.0 * v3 + v4)
    v_new = v + (dt / 6.0) * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
    return p_new, v_new


def hermite(y0: Array, y1: Array, h: Array, tau: Array) -> Array:
    """Cubic Hermite state (6, N) at fraction ``tau`` (N,) of steps ``h`` (N,) s between
    states y0 and y1 (6, N) (positions matched with their velocities at both ends)."""
    t2, t3 = tau * tau, tau * tau * tau
    c0, c1 = 2 * t3 - 3 * t2 + 1, (t3 - 2 * t2 + tau) * h
    c2, c3 = 3 * t2 - 2 * t3, (t3 - t2) * h
    d0, d1 = (6 * t2 - 6 * tau) / h, 3 * t2 - 4 * tau + 1
    d2, d3 = -d0, 3 * t2 - 2 * tau
    p0, v0, p1, v1 = y0[:3], y0[3:], y1[:3], y1[3:]
    p = c0 * p0 + c1 * v0 + c2 * p1 + c3 * v1
    v = d0 * p0 + d1 * v0 + d2 * p1 + d3 * v1
    return np.concatenate([p, v])
