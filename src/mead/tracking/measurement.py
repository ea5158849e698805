"""Measurement models for tracking: ECEF state ↔ plot, the Jacobian, the EKF update.

A scan's plots relate to the ECEF state through a *measurement model*
(``MeasurementModel``), chosen per scan: a radar ``Site`` for polar plots (the default,
below), or a ``CartesianFrame`` for plots already converted to local Cartesian positions
(a ``CartesianScan``, e.g. recorded 2D scenarios). Gating, association, initiation and
the update only talk to the model, so one tracker handles both.

Polar: a radar at a site measures z = h(x) = enu2rae(R (p − o)) where p is the target's ECEF
position, o the site's ECEF origin and R the ECEF→ENU rotation at the site; z is
[range m, azimuth rad clockwise from north, elevation rad], with the 3×6 Jacobian
H = [J_rae(e) R, 0] (e = R (p − o) the ENU offset): the position part alone.

A radar that measures Doppler adds a fourth component, the range rate (radial velocity)
ṙ = uᵀ v in m/s, u = (p − o)/r the line of sight and v the ECEF velocity (the site is
fixed on the rotating Earth, so its ECEF velocity is 0 and v is the velocity relative to
it). Its Jacobian row is ∂ṙ/∂p = (v − ṙ u)ᵀ / r, ∂ṙ/∂v = uᵀ, so H is 4×6 and the
velocity is observed along the line of sight. Which model a scan uses follows from its
width: plots (M, 3) with noise (3,), or (M, 4) with (4,) (``range_rate_h``).

The range rate is far from linear where the velocity across the line of sight is unknown:
a target crossing the beam at v_c turns the line of sight, so ṙ grows by v_c · δp_c / r
for a cross-range offset δp_c, which the Jacobian taken at an estimate with v_c ≈ 0 (a
track one plot old, whose range rate gave only the radial velocity) does not see at all.
A 3.4 km/s missile crossing an early-warning radar at 840 km changes ṙ by 70 m/s between
5 s scans while such a track predicts it to within ~15 m/s, so its second plot fell
outside the gate and the track restarted every scan for a minute. ``range_rate_spread``
adds the k-σ bound of that product, (k² σ_v,c σ_p,c / r)² with k = 3, to the range rate's
noise of each track (gate and update alike): about 55 m/s for a one-plot track there,
under 1 m/s for a settled one.

All kernels are batched on a leading axis (N tracks or M plots).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

import numba
import numpy as np

from mead.geo import enu_rotation, geodetic2ecef
from mead.types import Array, Covs, Index, Matrix, Meas, Positions, States

RHO_MIN_M = 1.0
"""Floor on the horizontal distance ρ in the azimuth/elevation Jacobian (target overhead), m."""

RANGE_RATE_K = 3.0
"""σ-reach of each factor (cross velocity, cross offset) in ``range_rate_spread``'s bound."""


@dataclass(frozen=True)
class LocalFrame:
    """A sensor's local frame: geodetic position, its ECEF origin and ECEF→ENU rotation."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    origin: Positions  # (3,) ECEF, m
    rot: Matrix  # (3, 3) ECEF → local ENU

    @classmethod
    def from_geodetic(cls, lat_deg: float, lon_deg: float, alt_m: float) -> Self:
        """The frame at geodetic (lat deg, lon deg, alt m above WGS84)."""
        lat, lon, alt = (np.asarray(v, dtype=np.float64) for v in (lat_deg, lon_deg, alt_m))
        origin = geodetic2ecef(lat, lon, alt).reshape(3)
        return cls(
            float(lat_deg), float(lon_deg), float(alt_m), origin, enu_rotation(lat_deg, lon_deg)
        )


@dataclass(frozen=True)
class Site(LocalFrame):
    """A radar site: plots are polar (range, azimuth, elevation[, range rate]) in its frame.

    Every method takes plots of 3 columns [m, rad, rad] or 4 [m, rad, rad, m/s]; the plot
    noise R (3, 3) or (4, 4) of ``predict`` picks the measurement model.
    """

    # --- the polar ``MeasurementModel`` of the radar's plots ---

    def check(self, z: Meas) -> str | None:
        """What is wrong with plots z (M, 3) or (M, 4) for this model, or None."""
        if (z[:, 0] <= 0).any():
            return f"ranges must be > 0 m (got min {z[:, 0].min():g})"
        return None

    def predict(self, x: States, P: Covs, idx: Index, R: Matrix) -> Prediction:
        """Predicted plots of tracks ``idx`` with plot noise R (3, 3) or, with range rate,
        (4, 4) (``polar_predict``)."""
        return polar_predict(x, P, idx, R, self)

    def innovation(self, z: Meas, zhat: Meas) -> Meas:
        """z − ẑ (K, 3) or (K, 4), azimuth wrapped."""
        return polar_innovation(z, zhat)

    def to_ecef(self, z: Meas) -> Positions:
        """ECEF positions (M, 3) m of plots z (M, 3) or (M, 4)."""
        return polar2ecef(z, self)

    def cov_ecef(self, z: Meas, sigma: Array) -> Covs:
        """ECEF position covariance (M, 3, 3) m² of plots z with 1-σ noise ``sigma`` (3,)
        or (4,) (the range-rate noise does not enter)."""
        return polar_cov_ecef(z, sigma[:3], self)

    def spread_m2(self, pos: Positions, sigma: Array) -> Array:
        """Upper bound (N,) m² of the plot noise's largest ECEF variance at positions (N, 3)."""
        r = np.linalg.norm(pos - self.origin, axis=1)
        return sigma[0] ** 2 + (r * max(sigma[1], sigma[2])) ** 2

    def polar(self, z: Meas) -> Meas:
        """Plots as [range m, az rad, el rad] (M, 3) from the site (coverage learning)."""
        return z[:, :3]


@dataclass(frozen=True)
class CartesianFrame(LocalFrame):
    """Plots that are Cartesian positions in a local ENU frame: z = R (p − o), linear.

    The frame is the local tangent plane at a geodetic point (``origin`` its ECEF position,
    ``rot`` the ECEF→ENU rotation), so H = [R, 0] and the EKF is an exact Kalman filter.
    A 2D sensor (x = east, y = north) is embedded by measuring up = 0 with a small σ: the
    tracks stay on the plane and the third component only pins them there.
    """

    def check(self, z: Meas) -> str | None:
        """Any finite positions (M, 3) are valid: None; other widths (no range rate here)."""
        if z.shape[1] != 3:
            return f"must have 3 columns [east m, north m, up m] (got {z.shape[1]})"
        return None

    def predict(self, x: States, P: Covs, idx: Index, R: Matrix) -> Prediction:
        """Predicted positions of tracks ``idx`` with plot noise R (3, 3): S = R_f P Rᵀ_f + R."""
        H = np.zeros((3, 6))
        H[:, :3] = self.rot
        S = self.rot @ P[idx, :3, :3] @ self.rot.T + R
        zhat = self.from_ecef(x[idx, :3])
        return _prediction(idx, zhat, np.broadcast_to(H, (len(idx), 3, 6)), S)

    def innovation(self, z: Meas, zhat: Meas) -> Meas:
        """z − ẑ (K, 3)."""
        return z - zhat

    def to_ecef(self, z: Meas) -> Positions:
        """ECEF positions (M, 3) m of plots z (M, 3) ENU m."""
        return z @ self.rot + self.origin

    def from_ecef(self, p: Positions) -> Meas:
        """ENU positions (N, 3) m of ECEF positions p (N, 3) m."""
        return (p - self.origin) @ self.rot.T

    def cov_ecef(self, z: Meas, sigma: Array) -> Covs:
        """ECEF covariance (M, 3, 3) m² of plots with 1-σ ENU noise ``sigma`` (3,) m."""
        C = self.rot.T @ np.diag(np.square(sigma)) @ self.rot
        return np.broadcast_to(C, (len(z), 3, 3)).copy()

    def spread_m2(self, pos: Positions, sigma: Array) -> Array:
        """Largest plot noise variance (N,) m² (the same everywhere)."""
        return np.full(len(pos), float(np.max(sigma)) ** 2)

    def polar(self, z: Meas) -> Meas:
        """Plots as [range m, az rad, el rad] from the frame's origin (coverage learning)."""
        rho = np.hypot(z[:, 0], z[:, 1])
        az = np.mod(np.arctan2(z[:, 0], z[:, 1]), 2 * np.pi)
        return np.column_stack([np.hypot(rho, z[:, 2]), az, np.arctan2(z[:, 2], rho)])


class MeasurementModel(Protocol):
    """How one sensor's plots (M, m) relate to ECEF states; ``Site`` and ``CartesianFrame``.

    m is 3 (a position), or 4 for a ``Site`` whose radar also measures range rate.
    """

    @property
    def origin(self) -> Positions:
        """(3,) ECEF m of the sensor (or frame) origin."""
        ...

    @property
    def rot(self) -> Matrix:
        """(3, 3) rotation ECEF → the sensor's local ENU."""
        ...

    def check(self, z: Meas) -> str | None:
        """What is wrong with plots z (M, m) for this model, or None."""
        ...

    def predict(self, x: States, P: Covs, idx: Index, R: Matrix) -> Prediction:
        """Predicted plots, Jacobians and innovation covariances of tracks ``idx``."""
        ...

    def innovation(self, z: Meas, zhat: Meas) -> Meas:
        """Innovations z − ẑ (K, m) in the plot space."""
        ...

    def to_ecef(self, z: Meas) -> Positions:
        """ECEF positions (M, 3) m of plots z (M, m)."""
        ...

    def cov_ecef(self, z: Meas, sigma: Array) -> Covs:
        """ECEF position covariance (M, 3, 3) m² of plots z with 1-σ noise ``sigma`` (m,)."""
        ...

    def spread_m2(self, pos: Positions, sigma: Array) -> Array:
        """Upper bound (N,) m² of the plot position noise's largest ECEF variance at ECEF
        ``pos``, for plot noise ``sigma`` (m,)."""
        ...

    def polar(self, z: Meas) -> Meas:
        """Plots as [range m, az rad, el rad] from the origin (for coverage learning)."""
        ...


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
    Computed by the compiled prediction (:func:`polar_predict`), the one place the
    formulas are written.
    """
    return polar_h(np.column_stack([p, np.zeros_like(p)]), site)[1][:, :, :3]


def polar_h(x: States, site: Site, range_rate: bool = False) -> tuple[Meas, Covs]:
    """Predicted measurement ẑ = h(x) and its Jacobian H for N states x (N, 6) ECEF.

    Without ``range_rate``: ẑ (N, 3) [m, rad, rad] and H (N, 3, 6) (velocity columns 0).
    With it: ẑ (N, 4) [m, rad, rad, m/s] and H (N, 4, 6), the last row from
    ``range_rate_h``. Those of :func:`polar_predict`.
    """
    m = 4 if range_rate else 3
    pred = _polar_predictions(x, np.zeros((len(x), 6, 6)), np.eye(m), site, RANGE_RATE_K)
    return pred.zhat, pred.H


def range_rate_h(x: States, site: Site) -> tuple[Array, Array]:
    """Range rate ṙ (N,) m/s of N ECEF states x (N, 6) seen from ``site``, and ∂ṙ/∂x (N, 6).

    ṙ = uᵀ v with u = (p − o)/r the line of sight and r = |p − o| (the site is fixed in
    ECEF); ∂ṙ/∂p = (v − ṙ u)ᵀ / r and ∂ṙ/∂v = uᵀ. r is floored at ``RHO_MIN_M``.
    """
    zhat, H = polar_h(x, site, range_rate=True)
    return zhat[:, 3], H[:, 3]


def range_rate_spread(x: States, P: Covs, site: Site, k: float = RANGE_RATE_K) -> Array:
    """(N,) variance, (m/s)², to add to the range rate's noise of N tracks for what its
    Jacobian misses: the line of sight turning under an uncertain velocity across it.

    (k² σ_v,c σ_p,c / r)², σ_v,c² and σ_p,c² the mean variances of velocity and position
    across the line of sight (P (N, 6, 6)), r the range (module doc).
    """
    extra = _polar_predictions(x, P, np.eye(4), site, k).extra
    assert extra is not None  # with range rate
    return extra


def polar_innovation(z: Meas, zhat: Meas) -> Meas:
    """Innovation z − ẑ (K, 3) or (K, 4) with the azimuth difference wrapped to (−π, π]."""
    y = z - zhat
    y[:, 1] = wrap_angle(y[:, 1])
    return y


def polar2ecef(z: Meas, site: Site) -> Positions:
    """Polar plots (M, 3) [range m, az rad, el rad] at ``site`` → ECEF positions (M, 3) m.

    A fourth column (range rate) is ignored.
    """
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


@numba.njit(cache=True)
def _spd_inverse(A: Matrix, out: Matrix, L: Matrix, Li: Matrix) -> float:
    """Inverse of a small symmetric positive definite A (m, m) into ``out`` by Cholesky
    (A = L Lᵀ, A⁻¹ = L⁻ᵀ L⁻¹; ``L``, ``Li`` are (≥ m, ≥ m) scratch), returning ln |A|;
    numpy's LU inverse and determinant if A is not positive definite to working precision."""
    m = A.shape[0]
    logdet = 0.0
    for j in range(m):
        acc = A[j, j]
        for k in range(j):
            acc -= L[j, k] * L[j, k]
        if not acc > 0.0:
            out[:, :] = np.linalg.inv(A)
            return np.linalg.slogdet(A)[1]
        L[j, j] = np.sqrt(acc)
        logdet += 2.0 * np.log(L[j, j])
        for i in range(j + 1, m):
            acc = A[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            L[i, j] = acc / L[j, j]
    for j in range(m):  # Li = L⁻¹, lower triangular
        Li[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, m):
            acc = 0.0
            for k in range(j, i):
                acc -= L[i, k] * Li[k, j]
            Li[i, j] = acc / L[i, i]
    for i in range(m):  # out = Liᵀ Li
        for j in range(i, m):
            acc = 0.0
            for k in range(j, m):
                acc += Li[k, i] * Li[k, j]
            out[i, j] = out[j, i] = acc
    return logdet


def kf_update(x: States, P: Covs, y: Meas, H: Covs, R: Covs) -> tuple[States, Covs]:
    """Kalman update of N tracks at once from innovations y (N, m), Joseph form.

    S = HPHᵀ + R, K = PHᵀS⁻¹, x⁺ = x + Ky, P⁺ = (I − KH) P (I − KH)ᵀ + KRKᵀ.
    m is the plot size (3; 4 with range rate). ``H`` is (N, m, n) for n states (6; 7 for
    an IMM mode with κ); ``R`` is (m, m) or (N, m, m). The Joseph form keeps P⁺ symmetric
    positive definite when P is much larger than R (new tracks). One track at a time in
    compiled code (tens of tracks per scan); the tests check it against the textbook form.
    """
    n_tr, n = x.shape
    m = y.shape[-1]
    f8 = np.float64
    Rk = np.empty((n_tr, m, m))  # per track, contiguous
    Rk[:] = R
    x_new, P_new = np.empty((n_tr, n)), np.empty((n_tr, n, n))
    _kf_update(
        np.ascontiguousarray(x, dtype=f8),
        np.ascontiguousarray(P, dtype=f8),
        np.ascontiguousarray(y, dtype=f8),
        np.ascontiguousarray(H, dtype=f8),
        Rk,
        x_new,
        P_new,
    )
    return x_new, P_new


@numba.njit(
    "void(f8[:, ::1], f8[:, :, ::1], f8[:, ::1], f8[:, :, ::1], f8[:, :, ::1], f8[:, ::1], "
    "f8[:, :, ::1])",
    cache=True,
)
def _kf_update(x: States, P: Covs, y: Meas, H: Covs, R: Covs, x_new: States, P_new: Covs) -> None:
    """:func:`kf_update`, one track at a time."""
    n, m = x.shape[1], y.shape[1]
    PHt, S, S_inv, K = np.empty((n, m)), np.empty((m, m)), np.empty((m, m)), np.empty((n, m))
    IKH, A, KR = np.empty((n, n)), np.empty((n, n)), np.empty((n, m))
    L, Li = np.zeros((m, m)), np.zeros((m, m))
    for t in range(x.shape[0]):
        for i in range(n):
            for j in range(m):
                acc = 0.0
                for k in range(n):
                    acc += P[t, i, k] * H[t, j, k]
                PHt[i, j] = acc
        for i in range(m):
            for j in range(m):
                acc = R[t, i, j]
                for k in range(n):
                    acc += H[t, i, k] * PHt[k, j]
                S[i, j] = acc
        for i in range(m):  # symmetric to working precision: use the mean of both halves
            for j in range(i + 1, m):
                S[i, j] = S[j, i] = 0.5 * (S[i, j] + S[j, i])
        _spd_inverse(S, S_inv, L, Li)
        for i in range(n):
            for j in range(m):
                acc = 0.0
                for k in range(m):
                    acc += PHt[i, k] * S_inv[k, j]
                K[i, j] = acc
            acc = x[t, i]
            for k in range(m):
                acc += K[i, k] * y[t, k]
            x_new[t, i] = acc
        for i in range(n):
            for j in range(n):
                acc = 1.0 if i == j else 0.0
                for k in range(m):
                    acc -= K[i, k] * H[t, k, j]
                IKH[i, j] = acc
        for i in range(n):  # A = (I − KH) P
            for j in range(n):
                acc = 0.0
                for k in range(n):
                    acc += IKH[i, k] * P[t, k, j]
                A[i, j] = acc
            for j in range(m):  # KR = K R
                acc = 0.0
                for k in range(m):
                    acc += K[i, k] * R[t, k, j]
                KR[i, j] = acc
        for i in range(n):  # P⁺ = A (I − KH)ᵀ + KR Kᵀ, symmetrised
            for j in range(i, n):
                acc = 0.0
                for k in range(n):
                    acc += A[i, k] * IKH[j, k]
                for k in range(m):
                    acc += KR[i, k] * K[j, k]
                P_new[t, i, j] = acc
        for i in range(n):
            for j in range(i):
                P_new[t, i, j] = P_new[t, j, i]


def ekf_polar_update(x: States, P: Covs, z: Meas, sigma: Array, site: Site) -> tuple[States, Covs]:
    """EKF update of N tracks (N, 6), (N, 6, 6) with one polar plot each, z (N, 3) or (N, 4).

    ``sigma`` (3,) is the plots' 1-σ noise [m, rad, rad], or (4,) [m, rad, rad, m/s] with
    range rate; R = diag(σ²).
    """
    zhat, H = polar_h(x, site, range_rate=len(sigma) == 4)
    return kf_update(x, P, polar_innovation(z, zhat), H, np.diag(np.square(sigma)))


@dataclass(frozen=True)
class Prediction:
    """Predicted measurements of selected tracks for one scan, shared by gating and update."""

    idx: Index  # (C,) rows of the tracks in the track table
    zhat: Meas  # (C, m) predicted plot, in the model's units (e.g. [m, rad, rad(, m/s)])
    H: Covs  # (C, m, 6) Jacobian
    S: Covs  # (C, m, m) innovation covariance HPHᵀ + R
    S_inv: Covs  # (C, m, m)
    logdet: Array  # (C,) ln |S| (in the plot units, squared)
    extra: Array | None = None  # (C,) variance added to the range rate's noise, (m/s)²

    def noise(self, sigma: Array, rows: Index) -> Covs:
        """The plot noise R of the predictions ``rows`` (K,): diag(σ²) (m, m), or per row
        (K, m, m) with the range rate's ``extra`` variance (``range_rate_spread``)."""
        R = np.diag(np.square(sigma))
        if self.extra is None:
            return R
        Rk = np.repeat(R[None], len(rows), axis=0)
        Rk[:, 3, 3] += self.extra[rows]
        return Rk

    @property
    def dim(self) -> int:
        """m, the number of plot components (3; 4 with range rate)."""
        return int(self.zhat.shape[1])


PolarPrediction = Prediction
"""The former name of ``Prediction``."""


def _prediction(
    idx: Index, zhat: Meas, H: Covs, S: Covs, extra: Array | None = None
) -> Prediction:
    S_inv = np.asarray(np.linalg.inv(S), dtype=np.float64)
    _, logdet = np.linalg.slogdet(S)
    return Prediction(idx, zhat, H, S, S_inv, np.asarray(logdet, dtype=np.float64), extra)


def polar_predict(x: States, P: Covs, idx: Index, R: Matrix, site: Site) -> Prediction:
    """Predicted measurement, Jacobian and innovation covariance of tracks ``idx``.

    ``R`` (3, 3) gives polar plots; (4, 4) polar plots with range rate (``polar_h``, and
    ``range_rate_spread`` added to the range rate's variance). Computed one track at a
    time in compiled code (a scan has tens of candidate tracks, where whole-array numpy
    spends its time in call overhead). It is the one place the formulas of h, its Jacobian
    and the range rate's spread are written (``polar_h``, ``polar_jacobian``,
    ``range_rate_h`` and ``range_rate_spread`` return its parts);
    ``tests/tracking/test_measurement.py`` checks them against finite differences,
    ``mead.geo``'s polar coordinates, the spread's formula in numpy, and numpy's inverse
    and determinant.
    """
    return _polar_predictions(x[idx], P[idx], R, site, RANGE_RATE_K, idx)


def _polar_predictions(
    x: States, P: Covs, R: Matrix, site: Site, k: float, idx: Index | None = None
) -> Prediction:
    """:func:`polar_predict` of every row of x (C, 6), P (C, 6, 6), with range-rate spread
    factor ``k``; ``idx`` (C,) the rows' track numbers (default 0…C−1)."""
    m = R.shape[-1]
    if m not in (3, 4):
        raise ValueError(f"polar_predict: R must be (3, 3) or (4, 4) (got {R.shape})")
    c = len(x)
    zhat, H = np.empty((c, m)), np.zeros((c, m, 6))
    S, S_inv, logdet, extra = np.empty((c, m, m)), np.empty((c, m, m)), np.empty(c), np.zeros(c)
    _polar_predict(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(P, dtype=np.float64),
        np.ascontiguousarray(site.origin, dtype=np.float64),
        np.ascontiguousarray(site.rot, dtype=np.float64),
        np.ascontiguousarray(R, dtype=np.float64),
        k,
        zhat, H, S, S_inv, logdet, extra,
    )  # fmt: skip
    idx = np.arange(c) if idx is None else idx
    return Prediction(idx, zhat, H, S, S_inv, logdet, extra if m == 4 else None)


@numba.njit(
    "void(f8[:, ::1], f8[:, :, ::1], f8[::1], f8[:, ::1], f8[:, ::1], f8, f8[:, ::1], "
    "f8[:, :, ::1], f8[:, :, ::1], f8[:, :, ::1], f8[::1], f8[::1])",
    cache=True,
)
def _polar_predict(
    x: States, P: Covs, o: Array, rot: Matrix, R: Matrix, k: float,
    zhat: Meas, H: Covs, S: Covs, S_inv: Covs, logdet: Array, extra: Array,
) -> None:  # fmt: skip
    """:func:`polar_predict` for C tracks x (C, 6), P (C, 6, 6): the formulas of
    ``ecef2polar``, ``polar_jacobian``, ``range_rate_h`` and ``range_rate_spread``, one
    track at a time; fills ẑ, H (zeroed by the caller), S, S⁻¹, ln |S| and (range rate)
    the extra variance."""
    m = R.shape[0]
    e, d, u, Je = np.empty(3), np.empty(3), np.empty(3), np.empty((3, 3))
    L, Li = np.zeros((4, 4)), np.zeros((4, 4))  # scratch of _spd_inverse
    for n in range(x.shape[0]):
        for i in range(3):
            d[i] = x[n, i] - o[i]
        for i in range(3):
            e[i] = rot[i, 0] * d[0] + rot[i, 1] * d[1] + rot[i, 2] * d[2]
        ee, en, eu = e[0], e[1], e[2]
        rho0 = np.hypot(ee, en)
        zhat[n, 0] = np.hypot(rho0, eu)
        zhat[n, 1] = np.arctan2(ee, en) % (2.0 * np.pi)
        zhat[n, 2] = np.arctan2(eu, rho0)
        rho = max(rho0, RHO_MIN_M)
        r2 = rho * rho + eu * eu
        r = np.sqrt(r2)
        Je[0, 0], Je[0, 1], Je[0, 2] = ee / r, en / r, eu / r
        Je[1, 0], Je[1, 1], Je[1, 2] = en / rho**2, -ee / rho**2, 0.0
        Je[2, 0], Je[2, 1], Je[2, 2] = -ee * eu / (r2 * rho), -en * eu / (r2 * rho), rho / r2
        for i in range(3):
            for j in range(3):
                H[n, i, j] = Je[i, 0] * rot[0, j] + Je[i, 1] * rot[1, j] + Je[i, 2] * rot[2, j]
        if m == 4:
            rr = max(np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]), RHO_MIN_M)
            for i in range(3):
                u[i] = d[i] / rr
            rdot = u[0] * x[n, 3] + u[1] * x[n, 4] + u[2] * x[n, 5]
            zhat[n, 3] = rdot
            for i in range(3):
                H[n, 3, i] = (x[n, 3 + i] - rdot * u[i]) / rr
                H[n, 3, 3 + i] = u[i]
            tr_p, tr_v = 0.0, 0.0
            for i in range(3):
                tr_p += P[n, i, i]
                tr_v += P[n, 3 + i, 3 + i]
                for j in range(3):
                    tr_p -= u[i] * u[j] * P[n, i, j]
                    tr_v -= u[i] * u[j] * P[n, 3 + i, 3 + j]
            extra[n] = (k * k * np.sqrt(max(tr_p, 0.0) * max(tr_v, 0.0)) / (2.0 * rr)) ** 2
        cols = 6 if m == 4 else 3  # without range rate only the position block is measured
        for i in range(m):
            for j in range(i, m):
                acc = 0.0
                for a in range(cols):
                    if H[n, i, a] == 0.0:
                        continue
                    for b in range(cols):
                        acc += H[n, i, a] * P[n, a, b] * H[n, j, b]
                S[n, i, j] = S[n, j, i] = acc + R[i, j]
            if m == 4 and i == 3:
                S[n, 3, 3] += extra[n]
        logdet[n] = _spd_inverse(S[n], S_inv[n], L, Li)
