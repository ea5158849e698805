"""Impact and arrival prediction: ballistic fall (sigma points) and straight-line approach.

Ballistic and rocket tracks are propagated in ECEF under gravity (point mass + J2), the
Coriolis and centrifugal terms of the rotating frame and, optionally, drag in an
exponential atmosphere, by RK4 with a step per member, until the height above the
ellipsoid reaches 0. All tracks and all 2n + 1 = 13 sigma points of each track's 6-D state
are propagated in one call, member by member in compiled code (each member takes only the
steps it needs); the ground scatter of the sigma points gives the
impact area. Cruise missiles and drones are extrapolated along their current great circle
at constant ground speed, and the closest approach to each defended area is found in
closed form on the sphere.

The free-flight law and its RK4 step are :mod:`mead.flight`'s, the same the truth
simulator flies; only the step-size rule differs (fixed steps there, here steps that shrink
towards the ground).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from mead import geo
from mead.flight import G0, density_member, height_member, hermite_weights_member, rk4_member
from mead.geo import OMEGA_E
from mead.threat.local import Local
from mead.types import Array, Covs, States

DEFAULT_BETA_KG_M2 = 5_000.0
"""Ballistic coefficient m/(Cd·A) assumed for ballistic and rocket tracks, kg/m²."""
K95_2D = float(np.sqrt(-2.0 * np.log(0.05)))
"""≈ 2.448: radius, in σ, of the 95 % circle of a circular 2-D Gaussian."""


def propagate_to_ground(
    x: States,
    *,
    beta_kg_m2: float | Array | None = None,
    t_max_s: float = 3600.0,
    dt_min_s: float = 1.0,
    dt_max_s: float = 30.0,
    step_fraction: float = 0.4,
    max_steps: int = 2000,
) -> tuple[Array, Array, np.ndarray]:
    """Fall of M free-flying bodies to the ellipsoid: impact point and time.

    Each member's step is ``step_fraction`` of its time to the ground under constant
    gravity, clipped to [dt_min_s, dt_max_s], so steps shrink geometrically on the way down
    (about fifteen steps for a 1,500 km missile), and shorter still where drag is stiff (a
    light body fast and low). The crossing of height 0 is located inside the last step by
    cubic Hermite interpolation. A member whose state stops being finite is given up
    (reported as not landed).

    Parameters
    ----------
    x : (M, 6) ECEF states [m, m/s].
    beta_kg_m2 : ballistic coefficient m/(Cd·A), scalar or (M,), kg/m²; ``None``: no drag.
    t_max_s : give up after this flight time, s.

    Returns
    -------
    p_impact : (M, 3) ECEF impact points, m (nan where not landed).
    tgo_s : (M,) time to impact, s (nan where not landed).
    landed : (M,) bool, False if still airborne after ``t_max_s``.
    """
    x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 6)
    m = x.shape[0]
    drag = beta_kg_m2 is not None
    inv_beta = np.zeros(m)
    if drag:
        inv_beta[:] = 1.0 / np.asarray(beta_kg_m2, dtype=np.float64)
    p_imp, t_imp = np.full((m, 3), np.nan), np.full(m, np.nan)
    landed = np.zeros(m, dtype=bool)
    _fall(x, inv_beta, drag, float(t_max_s), float(dt_min_s), float(dt_max_s),
          float(step_fraction), int(max_steps), p_imp, t_imp, landed)  # fmt: skip
    return p_imp, t_imp, landed


@numba.njit(cache=True, inline="always")
def _step(
    px: float, py: float, pz: float, vx: float, vy: float, vz: float, h: float,
    b: float, drag: bool, frac: float, lo: float, hi: float,
) -> float:  # fmt: skip
    """A member's step: ``frac`` of its time to the ground under constant gravity in
    [lo, hi], and at most β/(ρ|v|) (twice the drag e-folding rate) where drag is stiff."""
    r = np.sqrt(px * px + py * py + pz * pz)
    vr = (px * vx + py * vy + pz * vz) / r
    tau = (vr + np.sqrt(vr * vr + 2.0 * G0 * max(h, 0.0))) / G0
    dt = min(max(frac * tau, lo), hi)
    if drag:
        rate = density_member(h) * np.sqrt(vx * vx + vy * vy + vz * vz) * b
        dt = min(dt, 1.0 / max(rate, 1.0 / hi))
    return max(dt, 1e-3)


@numba.njit("void(f8[:, ::1], f8[::1], b1, f8, f8, f8, f8, i8, f8[:, ::1], f8[::1], b1[::1])",
            cache=True)  # fmt: skip
def _fall(
    x: Array, inv_beta: Array, drag: bool, t_max: float, lo: float, hi: float,
    frac: float, max_steps: int, p_imp: Array, t_imp: Array, landed: Array,
) -> None:  # fmt: skip
    """``propagate_to_ground``'s integration, member by member, in compiled code."""
    for i in range(x.shape[0]):
        px, py, pz, vx, vy, vz = x[i, 0], x[i, 1], x[i, 2], x[i, 3], x[i, 4], x[i, 5]
        b = inv_beta[i]
        h = height_member(px, py, pz)
        if h <= 0.0:
            p_imp[i, 0], p_imp[i, 1], p_imp[i, 2], t_imp[i], landed[i] = px, py, pz, 0.0, True
            continue
        t = 0.0
        for _ in range(max_steps):
            if not t < t_max:
                break
            dt = _step(px, py, pz, vx, vy, vz, h, b, drag, frac, lo, hi)
            qx, qy, qz, ux, uy, uz = rk4_member(
                px, py, pz, vx, vy, vz, dt, b, 0.0, 0.0, 0.0, True, OMEGA_E, drag
            )
            if not np.isfinite(qx + qy + qz + ux + uy + uz):
                break  # diverged: given up, not landed
            h1 = height_member(qx, qy, qz)
            if h1 <= 0.0:  # crossed height 0 inside the step: cubic Hermite there
                s = h / (h - h1)
                c0, c1, c2, c3 = hermite_weights_member(s, dt)
                p_imp[i, 0] = c0 * px + c1 * vx + c2 * qx + c3 * ux
                p_imp[i, 1] = c0 * py + c1 * vy + c2 * qy + c3 * uy
                p_imp[i, 2] = c0 * pz + c1 * vz + c2 * qz + c3 * uz
                t_imp[i], landed[i] = t + s * dt, True
                break
            px, py, pz, vx, vy, vz, h, t = qx, qy, qz, ux, uy, uz, h1, t + dt


def step_sizes(
    p: Array, v: Array, h: Array, inv_beta: Array, frac: float, lo: float, hi: float
) -> Array:
    """(M,) :func:`propagate_to_ground`'s step rule for rows p, v (3, M) at heights h (M,)
    with drag κ (M,) (for callers that step whole arrays, ``mead.engage.windows``)."""
    m = h.shape[0]
    out = np.empty(m)
    p, v = np.ascontiguousarray(p, np.float64), np.ascontiguousarray(v, np.float64)
    ib = np.broadcast_to(np.asarray(inv_beta, np.float64), (m,)).copy()
    _steps(p, v, np.ascontiguousarray(h, np.float64), ib, frac, lo, hi, out)
    return out


@numba.njit("void(f8[:, ::1], f8[:, ::1], f8[::1], f8[::1], f8, f8, f8, f8[::1])", cache=True)
def _steps(
    p: Array, v: Array, h: Array, ib: Array, frac: float, lo: float, hi: float, out: Array
) -> None:
    for i in range(h.shape[0]):
        out[i] = _step(p[0, i], p[1, i], p[2, i], v[0, i], v[1, i], v[2, i], h[i], ib[i],
                       True, frac, lo, hi)  # fmt: skip


def sigma_points(x: States, P: Covs, kappa: float = 0.0) -> tuple[Array, Array]:
    """Unscented-transform sigma points of N Gaussian states.

    X₀ = x, X±ᵢ = x ± √(n + κ)·Sᵢ with S Sᵀ = P (eigen-decomposition, so a covariance that
    is only semi-definite works); weights W₀ = κ/(n + κ), Wᵢ = 1/(2(n + κ)).

    Returns
    -------
    X : (N, 2n + 1, n) sigma points.
    W : (2n + 1,) weights.
    """
    n = x.shape[1]
    if n + kappa <= 0:
        raise ValueError(f"kappa must exceed −n = {-n} (got {kappa})")
    lam, vec = np.linalg.eigh(0.5 * (P + P.swapaxes(-1, -2)))
    S = vec * np.sqrt(np.maximum(lam, 0.0))[:, None, :]  # (N, n, n), columns Sᵢ
    d = np.sqrt(n + kappa) * S.swapaxes(1, 2)  # (N, n, n), rows Sᵢ
    X = np.concatenate([x[:, None, :], x[:, None, :] + d, x[:, None, :] - d], axis=1)
    W = np.full(2 * n + 1, 0.5 / (n + kappa))
    W[0] = kappa / (n + kappa)
    return X, W


_Z2 = np.random.default_rng(20240413).standard_normal((4096, 2))
"""Fixed standard-normal pairs for :func:`circle_radius` (deterministic, 0.3 % quantile error)."""


def circle_radius(lam: Array, coverage: float = 0.95) -> Array:
    """(N,) radius of the circle about the mean holding ``coverage`` of N centred 2-D
    Gaussians with covariance eigenvalues ``lam`` (N, 2), m² → m.

    Between √λ₁·√(χ²₁(p)) (a line) and √λ₁·√(χ²₂(p)) (a disc); taken as the quantile of
    |(√λ₁ z₁, √λ₂ z₂)| over fixed standard-normal pairs z.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1) (got {coverage})")
    r2 = np.maximum(lam, 0.0) @ (_Z2**2).T  # (N, 4096) squared distances
    return np.sqrt(np.quantile(r2, coverage, axis=1)) if lam.shape[0] else np.empty(0)


@dataclass(frozen=True)
class Impact:
    """Predicted impact of N tracks (nan where the track does not come down in time)."""

    p_ecef: Array  # (N, 3) impact point of the mean state, m
    lat_deg: Array  # (N,)
    lon_deg: Array  # (N,)
    tgo_s: Array  # (N,) time to impact from now, s
    radius_m: Array  # (N,) ~95 % radius of the ground scatter (inf if a sigma point stays up)
    sigma_t_s: Array  # (N,) 1-σ of the impact time, s
    ok: np.ndarray  # (N,) bool: the mean state lands within t_max_s
    cov_en_m2: Covs  # (N, 2, 2) ground-scatter covariance, east-north at the impact, m²


def predict_impact(
    x: States,
    P: Covs,
    *,
    beta_kg_m2: float | None = None,
    kappa: float = 0.0,
    coverage: float = 0.95,
    t_max_s: float = 3600.0,
) -> Impact:
    """Impact point, time and impact-area radius of N ballistic tracks.

    The 2n + 1 sigma points of each (x, P) fall to the ground together; the impact is that
    of the mean state (X₀). With 7 columns, the 7th is κ = 1/β (m²/kg) with its
    uncertainty in P (a free-flight fit, :mod:`mead.threat.trajectory`): each sigma point
    then flies with its own drag and ``beta_kg_m2`` is ignored. The impact-area radius
    is that of the circle about the predicted point holding ``coverage`` of a Gaussian
    with the sigma points' ground-scatter covariance in the local east-north plane,
    C = Σᵢ Wᵢ (eᵢ − e₀)(eᵢ − e₀)ᵀ (:func:`circle_radius`).

    Parameters
    ----------
    x : (N, 6) ECEF states [m, m/s], or (N, 7) with κ = 1/β in m²/kg.
    P : (N, 6, 6) or (N, 7, 7) covariances.
    beta_kg_m2 : ballistic coefficient for drag, kg/m² (``None``: vacuum); 6 columns only.
    kappa : unscented-transform spread parameter (see :func:`sigma_points`).
    """
    n, dim = x.shape
    X, W = sigma_points(x, P, kappa)
    k = X.shape[1]
    flat = X.reshape(-1, dim)
    beta: float | Array | None = beta_kg_m2
    if dim == 7:
        beta = 1.0 / np.maximum(flat[:, 6], 1e-12)  # κ ≤ 0: vacuum
    p, tgo, landed = propagate_to_ground(flat[:, :6], beta_kg_m2=beta, t_max_s=t_max_s)
    p, tgo, landed = p.reshape(n, k, 3), tgo.reshape(n, k), landed.reshape(n, k)
    ok = landed[:, 0]
    lat, lon, _ = geo.ecef2geodetic(np.where(ok[:, None], p[:, 0], geo.A_M))
    lat, lon = np.where(ok, lat, np.nan), np.where(ok, lon, np.nan)
    R = geo.enu_rotations(np.nan_to_num(lat), np.nan_to_num(lon)).reshape(n, 3, 3)
    e = np.einsum("nij,nkj->nki", R[:, :2], np.nan_to_num(p[:, 1:] - p[:, :1]))  # (N, 2n, 2)
    C = np.einsum("k,nki,nkj->nij", W[1:], e, e)
    tr, det = C[:, 0, 0] + C[:, 1, 1], C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] ** 2
    disc = np.sqrt(np.maximum(0.25 * tr**2 - det, 0.0))
    lam = np.stack([0.5 * tr + disc, np.maximum(0.5 * tr - disc, 0.0)], axis=1)
    radius = np.where(landed.all(axis=1), circle_radius(lam, coverage), np.inf)
    dt = np.nan_to_num(tgo[:, 1:] - tgo[:, :1])
    sigma_t = np.sqrt(dt**2 @ W[1:])
    return Impact(
        p_ecef=p[:, 0],
        lat_deg=lat,
        lon_deg=lon,
        tgo_s=tgo[:, 0],
        radius_m=np.where(ok, radius, np.nan),
        sigma_t_s=np.where(ok, sigma_t, np.nan),
        ok=ok,
        cov_en_m2=C,
    )


@dataclass(frozen=True)
class Approach:
    """Closest approach of N straight-flying tracks to A points within each track's horizon."""

    lat_deg: Array  # (N, A) closest-approach point on the track's path
    lon_deg: Array  # (N, A)
    tgo_s: Array  # (N, A) time to reach it, s
    along_m: Array  # (N, A) distance flown to reach it, m
    miss_m: Array  # (N, A) distance from it to the area point, m
    margin_m: Array  # (N, A) k-σ cross-track uncertainty there (heading and position), m
    sigma_m: Array  # (N, A) the 1-σ of that cross-track uncertainty, m


def straight_line_approach(
    loc: Local,
    target_lat_deg: Array,
    target_lon_deg: Array,
    horizon_s: Array,
    *,
    k_sigma: float = 2.0,
    min_speed_mps: float = 1.0,
) -> Approach:
    """Closest approach to A points along each track's current great circle, constant speed.

    On the sphere, with δ the angular distance from the track to the point and Δ the bearing
    to the point minus the course: cross-track xt = asin(sin δ sin Δ), along-track
    at = atan2(sin δ cos Δ, cos δ); the closest point within the horizon is at
    s = clip(at, 0, v_g·T/R) and its distance is R·acos(cos xt · cos(at − s)). The margin
    is k·√(σ_h² + (σ_ψ s R)²), σ_h the horizontal position σ and σ_ψ the course σ.

    Parameters
    ----------
    loc : N tracks in their local frame.
    target_lat_deg, target_lon_deg : (A,) points (area centres).
    horizon_s : (N,) how far ahead to look, s.
    """
    lat, lon = loc.lat_deg[:, None], loc.lon_deg[:, None]
    tlat = np.asarray(target_lat_deg, dtype=np.float64)[None, :]
    tlon = np.asarray(target_lon_deg, dtype=np.float64)[None, :]
    psi = loc.heading_rad()[:, None]
    vg = loc.ground_speed_mps[:, None]
    delta = geo.great_circle_distance_m(lat, lon, tlat, tlon) / geo.R_MEAN_M
    dpsi = np.radians(geo.initial_bearing_deg(lat, lon, tlat, tlon)) - psi
    xt = np.arcsin(np.clip(np.sin(delta) * np.sin(dpsi), -1.0, 1.0))
    at = np.arctan2(np.sin(delta) * np.cos(dpsi), np.cos(delta))
    moving = vg >= min_speed_mps
    s_max = np.where(moving, vg * np.asarray(horizon_s, dtype=np.float64)[:, None], 0.0)
    s = np.clip(at, 0.0, s_max / geo.R_MEAN_M)
    miss = geo.R_MEAN_M * np.arccos(np.clip(np.cos(xt) * np.cos(at - s), -1.0, 1.0))
    along = s * geo.R_MEAN_M
    tgo = along / np.where(moving, vg, 1.0)
    plat, plon = geo.destination(lat, lon, np.degrees(psi), along)
    sig_h = loc.horizontal_sigma_m()[:, None]
    sigma = np.sqrt(sig_h**2 + (loc.heading_sigma_rad()[:, None] * along) ** 2)
    shape = miss.shape
    return Approach(
        lat_deg=np.broadcast_to(plat, shape),
        lon_deg=np.broadcast_to(plon, shape),
        tgo_s=tgo,
        along_m=along,
        miss_m=miss,
        margin_m=k_sigma * sigma,
        sigma_m=sigma,
    )
