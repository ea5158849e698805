"""Radar measurement model for tracking: ECEF state ↔ polar plot, its Jacobian, the EKF update.

A radar at a site measures z = h(x) = enu2rae(R (p − o)) where p is the target's ECEF
position, o the site's ECEF origin and R the ECEF→ENU rotation at the site; z is
[range m, azimuth rad clockwise from north, elevation rad]. The velocity is not measured,
so the 3×6 Jacobian H = [J_rae(e) R, 0] with e = R (p − o) the ENU offset.

All kernels are batched on a leading axis (N tracks or M plots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.geo import enu_rotation, geodetic2ecef
from mead.types import Array, Covs, Index, Matrix, Meas, Positions, States

RHO_MIN_M = 1.0
"""Floor on the horizontal distance ρ in the azimuth/elevation Jacobian (target overhead), m."""


@dataclass(frozen=True)
class Site:
    """A radar site: geodetic position, its ECEF origin and its ECEF→ENU rotation."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    origin: Positions  # (3,) ECEF, m
    rot: Matrix  # (3, 3) ECEF → local ENU

    @staticmethod
    def from_geodetic(lat_deg: float, lon_deg: float, alt_m: float) -> Site:
        """The site at geodetic (lat deg, lon deg, alt m above WGS84)."""
        lat, lon, alt = (np.asarray(v, dtype=np.float64) for v in (lat_deg, lon_deg, alt_m))
        origin = geodetic2ecef(lat, lon, alt).reshape(3)
        return Site(
            float(lat_deg), float(lon_deg), float(alt_m), origin, enu_rotation(lat_deg, lon_deg)
        )


def wrap_angle(a: Array) -> Array:
    """Wrap angles (rad) to (−π, π]."""
    return np.pi - np.mod(np.pi - np.asarray(a, dtype=np.float64), 2.0 * np.pi)


def ecef2polar(p: Positions, site: Site) -> Meas:
    """ECEF positions (N, 3) m → polar (N, 3) [range m, az rad in [0, 2π), el rad] at ``site``."""
    e = (p - site.origin) @ site.rot.T
    rho = np.hypot(e[:, 0], e[:, 1])
    return np.stack(
        [
            np.hypot(rho, e[:, 2]),
            np.mod(np.arctan2(e[:, 0], e[:, 1]), 2 * np.pi),
            np.arctan2(e[:, 2], rho),
        ],
        axis=1,
    )


def polar_jacobian(p: Positions, site: Site) -> Covs:
    """∂z/∂p of the polar measurement w.r.t. ECEF position, (N, 3, 3).

    With e = R (p − o), r = |e|, ρ = √(e_E² + e_N²):
    ∂r/∂e = eᵀ/r, ∂az/∂e = [e_N, −e_E, 0]/ρ², ∂el/∂e = [−e_E e_U, −e_N e_U, ρ²]/(r² ρ);
    then ∂z/∂p = (∂z/∂e) R. ρ is floored at ``RHO_MIN_M`` (azimuth is undefined overhead).
    """
    e = (p - site.origin) @ site.rot.T
    ee, en, eu = e[:, 0], e[:, 1], e[:, 2]
    rho = np.maximum(np.hypot(ee, en), RHO_MIN_M)
    r2 = rho**2 + eu**2
    r = np.sqrt(r2)
    zero = np.zeros_like(ee)
    J = np.stack(
        [
            np.stack([ee / r, en / r, eu / r], axis=1),
            np.stack([en / rho**2, -ee / rho**2, zero], axis=1),
            np.stack([-ee * eu / (r2 * rho), -en * eu / (r2 * rho), rho / r2], axis=1),
        ],
        axis=1,
    )
    return J @ site.rot


def polar_h(x: States, site: Site) -> tuple[Meas, Covs]:
    """Predicted measurement ẑ = h(x) (N, 3) and its Jacobian H (N, 3, 6) for N states."""
    p = x[:, :3]
    H = np.zeros((len(x), 3, 6))
    H[:, :, :3] = polar_jacobian(p, site)
    return ecef2polar(p, site), H


def polar_innovation(z: Meas, zhat: Meas) -> Meas:
    """Innovation z − ẑ (K, 3) with the azimuth difference wrapped to (−π, π]."""
    y = z - zhat
    y[:, 1] = wrap_angle(y[:, 1])
    return y


def polar2ecef(z: Meas, site: Site) -> Positions:
    """Polar plots (M, 3) [range m, az rad, el rad] at ``site`` → ECEF positions (M, 3) m."""
    r, az, el = z[:, 0], z[:, 1], z[:, 2]
    ce = np.cos(el)
    e = np.stack([r * ce * np.sin(az), r * ce * np.cos(az), r * np.sin(el)], axis=1)
    return e @ site.rot + site.origin


def polar_cov_ecef(z: Meas, sigma: Array, site: Site) -> Covs:
    """Linearised ECEF covariance (M, 3, 3) m² of polar plots with 1-σ noise ``sigma`` (3,).

    C = Rᵀ J diag(σ²) Jᵀ R with J = ∂enu/∂(r, az, el) at each plot.
    """
    r, az, el = z[:, 0], z[:, 1], z[:, 2]
    ce, se, ca, sa = np.cos(el), np.sin(el), np.cos(az), np.sin(az)
    zero = np.zeros_like(r)
    J = np.stack(
        [
            np.stack([ce * sa, r * ce * ca, -r * se * sa], axis=1),
            np.stack([ce * ca, -r * ce * sa, -r * se * ca], axis=1),
            np.stack([se, zero, r * ce], axis=1),
        ],
        axis=1,
    )  # (M, 3, 3) ∂enu/∂(r, az, el)
    Js = J * np.asarray(sigma, dtype=np.float64)  # J diag(σ)
    return site.rot.T @ (Js @ Js.swapaxes(-1, -2)) @ site.rot


def kf_update(x: States, P: Covs, y: Meas, H: Covs, R: Covs) -> tuple[States, Covs]:
    """Kalman update of N tracks at once from innovations y (N, 3), Joseph form.

    S = HPHᵀ + R, K = PHᵀS⁻¹, x⁺ = x + Ky, P⁺ = (I − KH) P (I − KH)ᵀ + KRKᵀ.
    ``H`` is (N, 3, 6); ``R`` is (3, 3) or (N, 3, 3). The Joseph form keeps P⁺ symmetric
    positive definite when P is much larger than R (new tracks).
    """
    Ht = H.swapaxes(-1, -2)
    PHt = P @ Ht  # (N, 6, 3)
    S = H @ PHt + R  # (N, 3, 3)
    K = np.linalg.solve(S, PHt.swapaxes(-1, -2)).swapaxes(-1, -2)  # (N, 6, 3) gain
    x_new = x + (K @ y[..., None])[..., 0]
    IKH = np.eye(6) - K @ H
    P_new = IKH @ P @ IKH.swapaxes(-1, -2) + K @ R @ K.swapaxes(-1, -2)
    return x_new, 0.5 * (P_new + P_new.swapaxes(-1, -2))


def ekf_polar_update(x: States, P: Covs, z: Meas, sigma: Array, site: Site) -> tuple[States, Covs]:
    """EKF update of N tracks (N, 6), (N, 6, 6) with one polar plot each, z (N, 3).

    ``sigma`` (3,) is the plots' 1-σ noise [m, rad, rad]; R = diag(σ²).
    """
    zhat, H = polar_h(x, site)
    return kf_update(x, P, polar_innovation(z, zhat), H, np.diag(np.square(sigma)))


@dataclass(frozen=True)
class PolarPrediction:
    """Predicted measurements of selected tracks at one site, shared by gating and update."""

    idx: Index  # (C,) rows of the tracks in the track table
    zhat: Meas  # (C, 3) predicted [range m, az rad, el rad]
    H: Covs  # (C, 3, 6) Jacobian
    S: Covs  # (C, 3, 3) innovation covariance HPHᵀ + R
    S_inv: Covs  # (C, 3, 3)
    logdet: Array  # (C,) ln |S| (polar units m·rad·rad, squared)


def polar_predict(x: States, P: Covs, idx: Index, R: Matrix, site: Site) -> PolarPrediction:
    """Predicted measurement, Jacobian and innovation covariance of tracks ``idx``."""
    zhat, H = polar_h(x[idx], site)
    Hp = H[:, :, :3]  # velocity is not measured
    S = Hp @ P[idx, :3, :3] @ Hp.swapaxes(-1, -2) + R
    S_inv = np.asarray(np.linalg.inv(S), dtype=np.float64)
    _, logdet = np.linalg.slogdet(S)
    return PolarPrediction(idx, zhat, H, S, S_inv, np.asarray(logdet, dtype=np.float64))
