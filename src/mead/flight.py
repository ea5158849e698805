"""Free-flight physics of missiles and rockets: gravity with J2, the rotating frame, drag.

One law for every stage that flies a missile: the truth simulator (``mead.sim``), the
tracker's ballistic IMM mode (``mead.tracking.imm``) and impact prediction and trajectory
fits (``mead.threat``). In the rotating WGS84 ECEF frame, with the velocity relative to
the co-rotating atmosphere,

    r̈ = g(r) − 2 ω×ṙ − ω×(ω×r) − ρ(h) |ṙ| ṙ κ / 2 + a_T

with g the point-mass + J2 gravity, ω = (0, 0, Ω_E), ρ(h) = ρ₀ exp(−max(h, 0)/H) an
exponential atmosphere (no denser below the ellipsoid), κ = 1/β = C_d A / m the inverse
ballistic coefficient (m²/kg) and a_T an optional thrust acceleration (the boost). Arrays
are component-major, (3, M). The law is written once, for one member, and compiled (Numba,
eagerly with one signature per kernel, cached beside the source: a fresh install compiles
once, on first import, never in the middle of a raid):
``acceleration`` and ``rk4_step`` loop over the members in compiled code, because their
callers step a few hundred members at a time, thousands of times per run, where whole-array
numpy spends most of its time in per-call overhead (``tests/test_flight.py`` checks the
compiled law against a numpy transcription of the formula above).
"""

from __future__ import annotations

from typing import Any

import numba
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
    p, v = _rows(p), _rows(v)
    m = p.shape[1]
    out = np.empty((3, m))
    _accelerations(p, v, *_drag_thrust(inv_beta, thrust, m), bool(j2), float(omega), out)
    return out


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
    """One classical RK4 step of rows (3, M) by ``dt`` (scalar or (M,)) s; → (p, v).

    The thrust, where given, is held constant over the step. Members are stepped one by
    one in compiled code: the fits and impact predictions step a few hundred members
    thousands of times per run, where whole-array numpy would spend its time in call
    overhead. A member whose state overflows comes out non-finite, as in numpy.
    """
    p, v = _rows(p), _rows(v)
    m = p.shape[1]
    h = members(dt, m)
    p_new, v_new = np.empty((3, m)), np.empty((3, m))
    ib, tr, drag, push = _drag_thrust(inv_beta, thrust, m)
    _rk4(p, v, h, ib, tr, drag, push, bool(j2), float(omega), p_new, v_new)
    return p_new, v_new


def _rows(a: Array) -> Array:
    """(3, M) contiguous float64 rows (one array type, so each kernel compiles once)."""
    return np.ascontiguousarray(a, dtype=np.float64).reshape(3, -1)


def members(a: Array | float, m: int) -> Array:
    """(M,) contiguous, writable float64 of a scalar or (M,) (one type for the kernels)."""
    out = np.empty(m)
    out[:] = a
    return out


_NONE = np.zeros((3, 0))


def _drag_thrust(
    inv_beta: Array | None, thrust: Array | None, m: int
) -> tuple[Array, Array, bool, bool]:
    """The kernels' drag and thrust arguments: arrays (empty when absent) and flags."""
    ib = _NONE[0] if inv_beta is None else members(inv_beta, m)
    tr = _NONE if thrust is None else _rows(thrust)
    return ib, tr, inv_beta is not None, thrust is not None


@numba.njit(cache=True, inline="always")
def density_member(h: float) -> float:
    """``density_kg_m3`` at one height, for compiled callers."""
    return RHO0_KG_M3 * np.exp(max(h, 0.0) * (-1.0 / SCALE_HEIGHT_M))


@numba.njit(cache=True, inline="always")
def height_member(x: float, y: float, z: float) -> float:
    """``height_m`` of one position, for compiled callers."""
    rho2 = x * x + y * y
    r2 = rho2 + z * z
    return np.sqrt(r2) - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))


@numba.njit(cache=True, inline="always")
def _acc(
    x: float, y: float, z: float, vx: float, vy: float, vz: float,
    ib: float, j2: bool, omega: float, drag: bool,
) -> tuple[float, float, float]:  # fmt: skip
    """The module law for one member (thrust is added by the callers)."""
    rho2 = x * x + y * y
    r2 = rho2 + z * z
    r = np.sqrt(r2)
    k = -GM / (r2 * r)
    if j2:
        s = 5.0 * z * z / r2
        q = _J2_Q / r2
        kxy, kz = k * (1.0 + q * (1.0 - s)), k * (1.0 + q * (3.0 - s))
    else:
        kxy = kz = k
    ax, ay, az = kxy * x, kxy * y, kz * z
    if omega != 0.0:
        ax += omega * (omega * x + 2.0 * vy)
        ay += omega * (omega * y - 2.0 * vx)
    if drag:
        h = r - A_M * np.sqrt((1.0 - E2) / (1.0 - E2 * rho2 / r2))
        kd = (-0.5 * density_member(h) * ib) * np.sqrt(vx * vx + vy * vy + vz * vz)
        ax += kd * vx
        ay += kd * vy
        az += kd * vz
    return ax, ay, az


@numba.njit("void(f8[:, ::1], f8[:, ::1], f8[::1], f8[:, ::1], b1, b1, b1, f8, f8[:, ::1])",
            cache=True)  # fmt: skip
def _accelerations(
    p: Array, v: Array, ib: Array, tr: Array, drag: bool, push: bool,
    j2: bool, omega: float, out: Array,
) -> None:  # fmt: skip
    for i in range(p.shape[1]):
        a = _acc(p[0, i], p[1, i], p[2, i], v[0, i], v[1, i], v[2, i],
                 ib[i] if drag else 0.0, j2, omega, drag)  # fmt: skip
        for c in range(3):
            out[c, i] = a[c] + (tr[c, i] if push else 0.0)


@numba.njit(cache=True, inline="always")
def rk4_member(
    x: float, y: float, z: float, u: float, w: float, s: float, d: float,
    b: float, tx: float, ty: float, tz: float, j2: bool, omega: float, drag: bool,
) -> tuple[float, float, float, float, float, float]:  # fmt: skip
    """One RK4 step by ``d`` s of one member at (x, y, z), velocity (u, w, s), κ ``b`` and
    thrust (tx, ty, tz) (drag only where ``drag``): the new position and velocity. For
    compiled callers (``rk4_step``, ``mead.threat.impact``)."""
    h = 0.5 * d
    a1 = _acc(x, y, z, u, w, s, b, j2, omega, drag)
    a1 = (a1[0] + tx, a1[1] + ty, a1[2] + tz)
    u2, w2, s2 = u + h * a1[0], w + h * a1[1], s + h * a1[2]
    a2 = _acc(x + h * u, y + h * w, z + h * s, u2, w2, s2, b, j2, omega, drag)
    a2 = (a2[0] + tx, a2[1] + ty, a2[2] + tz)
    u3, w3, s3 = u + h * a2[0], w + h * a2[1], s + h * a2[2]
    a3 = _acc(x + h * u2, y + h * w2, z + h * s2, u3, w3, s3, b, j2, omega, drag)
    a3 = (a3[0] + tx, a3[1] + ty, a3[2] + tz)
    u4, w4, s4 = u + d * a3[0], w + d * a3[1], s + d * a3[2]
    a4 = _acc(x + d * u3, y + d * w3, z + d * s3, u4, w4, s4, b, j2, omega, drag)
    a4 = (a4[0] + tx, a4[1] + ty, a4[2] + tz)
    k = d / 6.0
    return (
        x + k * (u + 2.0 * u2 + 2.0 * u3 + u4),
        y + k * (w + 2.0 * w2 + 2.0 * w3 + w4),
        z + k * (s + 2.0 * s2 + 2.0 * s3 + s4),
        u + k * (a1[0] + 2.0 * a2[0] + 2.0 * a3[0] + a4[0]),
        w + k * (a1[1] + 2.0 * a2[1] + 2.0 * a3[1] + a4[1]),
        s + k * (a1[2] + 2.0 * a2[2] + 2.0 * a3[2] + a4[2]),
    )


@numba.njit("void(f8[:, ::1], f8[:, ::1], f8[::1], f8[::1], f8[:, ::1], b1, b1, b1, f8, "
            "f8[:, ::1], f8[:, ::1])", cache=True)  # fmt: skip
def _rk4(
    p: Array, v: Array, dt: Array, ib: Array, tr: Array, drag: bool, push: bool,
    j2: bool, omega: float, p_out: Array, v_out: Array,
) -> None:  # fmt: skip
    for i in range(p.shape[1]):
        b = ib[i] if drag else 0.0
        tx, ty, tz = (tr[0, i], tr[1, i], tr[2, i]) if push else (0.0, 0.0, 0.0)
        y = rk4_member(p[0, i], p[1, i], p[2, i], v[0, i], v[1, i], v[2, i], dt[i],
                       b, tx, ty, tz, j2, omega, drag)  # fmt: skip
        for c in range(3):
            p_out[c, i], v_out[c, i] = y[c], y[3 + c]


def hermite_weights(tau: Any, h: Any) -> tuple[Any, Any, Any, Any]:
    """Weights (c0, c1, c2, c3) of the cubic Hermite position p0·c0 + v0·c1 + p1·c2 + v1·c3
    at fraction ``tau`` of a step of ``h`` s from (p0, v0) to (p1, v1); scalars or arrays
    (compiled callers use :func:`hermite_weights_member`, the same formula)."""
    t2, t3 = tau * tau, tau * tau * tau
    return 2 * t3 - 3 * t2 + 1, (t3 - 2 * t2 + tau) * h, 3 * t2 - 2 * t3, (t3 - t2) * h


hermite_weights_member = numba.njit(cache=True, inline="always")(hermite_weights)
""":func:`hermite_weights` for compiled callers (one member's crossing of the ground)."""


def hermite(y0: Array, y1: Array, h: Array, tau: Array) -> Array:
    """Cubic Hermite state (6, N) at fraction ``tau`` (N,) of steps ``h`` (N,) s between
    states y0 and y1 (6, N) (positions matched with their velocities at both ends)."""
    t2 = tau * tau
    c0, c1, c2, c3 = hermite_weights(tau, h)
    d0, d1 = (6 * t2 - 6 * tau) / h, 3 * t2 - 4 * tau + 1
    d2, d3 = -d0, 3 * t2 - 2 * tau
    p0, v0, p1, v1 = y0[:3], y0[3:], y1[:3], y1[3:]
    p = c0 * p0 + c1 * v0 + c2 * p1 + c3 * v1
    v = d0 * p0 + d1 * v0 + d2 * p1 + d3 * v1
    return np.concatenate([p, v])
