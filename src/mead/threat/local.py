"""Local-frame view of ECEF tracks for threat kernels: geodetic position, ENU velocity, 1-σ."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mead import geo
from mead.errors import ThreatInputError
from mead.types import Array, Covs, Mask, States


def check_tracks(x: States, P: Covs | None = None, n_ids: int | None = None) -> None:
    """Raise :class:`ThreatInputError` naming the bad array unless x is (N, 6), P (N, 6, 6)."""
    if x.ndim != 2 or x.shape[1] != 6:
        raise ThreatInputError(f"x must be (N, 6) ECEF states (got shape {x.shape})")
    if P is not None and P.shape != (x.shape[0], 6, 6):
        raise ThreatInputError(
            f"P must be (N, 6, 6) with N = {x.shape[0]} like x (got shape {P.shape})"
        )
    if n_ids is not None and n_ids != x.shape[0]:
        raise ThreatInputError(f"ids has {n_ids} entries but x has {x.shape[0]} rows")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ThreatInputError(f"x has non-finite values in rows {bad[:5].tolist()}")


@dataclass(frozen=True)
class Local:
    """N tracks seen in their own local ENU frame."""

    lat_deg: Array  # (N,) geodetic latitude
    lon_deg: Array  # (N,) geodetic longitude
    alt_m: Array  # (N,) height above the WGS84 ellipsoid
    v_enu: Array  # (N, 3) velocity east, north, up, m/s
    Pv_enu: Covs  # (N, 3, 3) velocity covariance in ENU, (m/s)²
    Pp_enu: Covs  # (N, 3, 3) position covariance in ENU, m²
    R: Array  # (N, 3, 3) rotation ECEF → ENU at each track

    def take(self, idx: np.ndarray) -> Local:
        """The tracks at indices ``idx``."""
        return Local(
            self.lat_deg[idx],
            self.lon_deg[idx],
            self.alt_m[idx],
            self.v_enu[idx],
            self.Pv_enu[idx],
            self.Pp_enu[idx],
            self.R[idx],
        )

    def with_velocity(self, v_ecef: Array, Pv_ecef: Covs, use: np.ndarray) -> Local:
        """A copy whose velocity and its covariance are replaced (ECEF in) where ``use``."""
        Rt = self.R.swapaxes(1, 2)
        v = np.einsum("nij,nj->ni", self.R, v_ecef)
        Pv = self.R @ Pv_ecef @ Rt
        return replace(
            self,
            v_enu=np.where(use[:, None], v, self.v_enu),
            Pv_enu=np.where(use[:, None, None], Pv, self.Pv_enu),
        )

    @property
    def speed_mps(self) -> Array:
        """(N,) 3-D speed, m/s."""
        return np.linalg.norm(self.v_enu, axis=1)

    @property
    def ground_speed_mps(self) -> Array:
        """(N,) horizontal speed, m/s."""
        return np.hypot(self.v_enu[:, 0], self.v_enu[:, 1])

    def steep_or_above(self, alt_m: float, angle_deg: float) -> Mask:
        """(N,) above ``alt_m``, or climbing or diving at ``angle_deg`` or more from the
        horizontal (point estimates).

        How anything fast must fly low in the atmosphere: a missile or rocket there is
        climbing out or diving in (drag of hundreds of g forbids level flight at ballistic
        speed near the ground). A "fast" track flying level at a drone's height is a false
        track, e.g. one that hops from drone to drone along a dense stream.
        """
        w = np.abs(self.v_enu[:, 2])
        return (self.alt_m >= alt_m) | (w >= np.sin(np.radians(angle_deg)) * self.speed_mps)

    def speed_sigma_mps(self) -> Array:
        """(N,) 1-σ of the 3-D speed (variance along the velocity direction), m/s."""
        v = self.speed_mps
        safe = np.where(v > 1e-6, v, 1.0)
        u = np.where((v > 1e-6)[:, None], self.v_enu / safe[:, None], 1.0 / np.sqrt(3.0))
        var = np.einsum("ni,nij,nj->n", u, self.Pv_enu, u)
        return np.sqrt(np.maximum(var, 0.0))

    def ground_speed_sigma_mps(self) -> Array:
        """(N,) 1-σ of the horizontal speed (variance along the course), m/s."""
        vg = self.ground_speed_mps
        safe = np.where(vg > 1e-6, vg, 1.0)
        u = np.where((vg > 1e-6)[:, None], self.v_enu[:, :2] / safe[:, None], np.sqrt(0.5))
        var = np.einsum("ni,nij,nj->n", u, self.Pv_enu[:, :2, :2], u)
        return np.sqrt(np.maximum(var, 0.0))

    def heading_rad(self) -> Array:
        """(N,) course over ground, rad clockwise from north in (−π, π]."""
        return np.arctan2(self.v_enu[:, 0], self.v_enu[:, 1])

    def heading_sigma_rad(self) -> Array:
        """(N,) 1-σ of the course, rad (first order; π when the ground speed is ~0)."""
        ve, vn = self.v_enu[:, 0], self.v_enu[:, 1]
        vg2 = ve**2 + vn**2
        P = self.Pv_enu
        num = vn**2 * P[:, 0, 0] - 2 * ve * vn * P[:, 0, 1] + ve**2 * P[:, 1, 1]
        safe = np.where(vg2 > 1e-6, vg2, 1.0)
        sig = np.sqrt(np.maximum(num, 0.0) / safe**2)
        return np.where(vg2 > 1e-6, np.minimum(sig, np.pi), np.pi)

    def horizontal_sigma_m(self) -> Array:
        """(N,) 1-σ of the horizontal position along its worst axis, m."""
        C = self.Pp_enu[:, :2, :2]
        tr, det = C[:, 0, 0] + C[:, 1, 1], C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] ** 2
        lam = 0.5 * tr + np.sqrt(np.maximum(0.25 * tr**2 - det, 0.0))
        return np.sqrt(np.maximum(lam, 0.0))


def local(x: States, P: Covs | None = None) -> Local:
    """ECEF states (N, 6) and covariances (N, 6, 6) → :class:`Local` (zero covariance if no P)."""
    lat, lon, alt = geo.ecef2geodetic(x[:, :3])
    lat, lon, alt = np.atleast_1d(lat), np.atleast_1d(lon), np.atleast_1d(alt)
    R = geo.enu_rotations(lat, lon).reshape(-1, 3, 3)  # (N, 3, 3) ECEF → ENU
    v_enu = np.einsum("nij,nj->ni", R, x[:, 3:])
    if P is None:
        z = np.zeros((x.shape[0], 3, 3))
        return Local(lat, lon, alt, v_enu, z, z, R)
    Rt = R.swapaxes(1, 2)
    return Local(lat, lon, alt, v_enu, R @ P[:, 3:, 3:] @ Rt, R @ P[:, :3, :3] @ Rt, R)
