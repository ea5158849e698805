"""Simulated radar: one scenario sensor turning truth states into a scan of noisy polar plots."""

from __future__ import annotations

import msgspec
import numpy as np

from mead import geo
from mead.errors import ConfigError
from mead.scenario.schema import Sensor
from mead.sensors import detection
from mead.sensors.base import Scan
from mead.types import Array, Index, States

CLUTTER_MIN_RANGE_M = 1_000.0
"""Nearest range of clutter plots, m (capped at half the instrumented range)."""

CLUTTER_EL_SPAN_DEG = 3.0
"""Clutter fills elevations from ``min_el_deg`` up to this much above it (capped at max)."""

CLUTTER_RANGE_RATE_MPS = 1_500.0
"""Clutter of a radar that measures range rate has ṙ uniform in ± this, m/s (birds,
weather, ground and sea returns, and the odd fast false alarm); the trackers' default
``range_rate_span_mps`` is twice it."""


class Radar:
    """One simulated radar: holds a ``Sensor``'s parameters in SI units and scans truth.

    Each scan culls targets by a cheap ECEF distance test, then applies k-earth line of
    sight, elevation limits and the azimuth sector (``detection.line_of_sight``,
    ``detection.in_sector``) and, when the radar has ``terrain`` (a scenario that names a
    DEM: :func:`mead.coverage.kernels.terrain_horizon`), the terrain's masking angle
    along the target's radial, draws Swerling-1 detections from the radar-equation SNR,
    adds Gaussian measurement noise and Poisson clutter, and shuffles the plots so their
    order says nothing about which are clutter.

    A sensor with ``sigma_range_rate_mps`` also measures the range rate (Doppler) of each
    plot: ṙ = uᵀ v (``detection.range_rate``) plus noise, and clutter ṙ uniform in
    ± ``CLUTTER_RANGE_RATE_MPS``; its plots are then (M, 4) and its ``sigma`` (4,).
    """

    def __init__(self, sensor: Sensor, partner: str) -> None:
        """Validate ``sensor`` against the schema's limits and precompute the site frame.

        Raises ``ConfigError`` naming the field when a limit is broken (a ``Sensor`` built
        in Python, unlike one decoded from YAML, is not range-checked by msgspec).
        """
        try:
            msgspec.convert(msgspec.to_builtins(sensor), type=Sensor)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"sensor {sensor.id!r}", str(exc)) from None
        if not partner:
            raise ConfigError(f"sensor {sensor.id!r}", "partner must be a non-empty pseudonym")
        site = sensor.site
        self.sensor = sensor  # the scenario struct
        self.partner = partner  # owning partner's pseudonym
        self.site_ecef = geo.geodetic2ecef(site.lat_deg, site.lon_deg, site.alt_m)  # (3,) m
        self.rot = geo.enu_rotation(site.lat_deg, site.lon_deg)  # (3, 3) ECEF → ENU
        self.range_m = sensor.range_km * 1e3  # instrumented range, m
        self.min_el_rad = float(np.radians(sensor.min_el_deg))  # rad
        self.max_el_rad = float(np.radians(sensor.max_el_deg))  # rad
        self.ref_snr = 10.0 ** (sensor.ref_snr_db / 10.0)  # linear, 1 m² at ref range
        self.ref_range_m = sensor.ref_range_km * 1e3  # m
        sigma = [
            sensor.sigma_range_m,
            np.radians(sensor.sigma_az_deg),
            np.radians(sensor.sigma_el_deg),
        ]
        if sensor.sigma_range_rate_mps is not None:
            sigma.append(sensor.sigma_range_rate_mps)
        self.sigma = np.array(sigma)  # (3,) [m, rad, rad], or (4,) [m, rad, rad, m/s]
        self.range_rate = sensor.sigma_range_rate_mps is not None  # plots carry ṙ
        sec = sensor.sector
        self.sector_deg = (sec.min_az_deg, sec.max_az_deg) if sec else (0.0, 360.0)  # cw, deg
        self.clutter_range_m = (min(CLUTTER_MIN_RANGE_M, self.range_m / 2.0), self.range_m)
        self.clutter_az_rad = (  # (start, width), rad
            np.radians(self.sector_deg[0]) % (2 * np.pi),
            np.radians(min(self.sector_deg[1] - self.sector_deg[0], 360.0)),
        )
        el_hi = min(sensor.max_el_deg, sensor.min_el_deg + CLUTTER_EL_SPAN_DEG)
        self.clutter_el_rad = (self.min_el_rad, float(np.radians(el_hi)))  # (lo, hi), rad
        # (masking angle (n_az, n_d + 1) rad, sample step m) of the terrain; None: smooth
        self.terrain: tuple[Array, float] | None = None

    @property
    def sensor_id(self) -> str:
        """The scenario sensor id."""
        return self.sensor.id

    @property
    def clutter_density(self) -> float:
        """Mean clutter plots per unit polar volume (per m·rad²), for a tracker's λ.

        With range rate the 4-D density is this over 2 ``CLUTTER_RANGE_RATE_MPS`` m/s (the
        trackers' ``range_rate_span_mps``).
        """
        (r0, r1), (_, w), (e0, e1) = self.clutter_range_m, self.clutter_az_rad, self.clutter_el_rad
        return self.sensor.clutter_per_scan / ((r1 - r0) * w * (e1 - e0))

    def visible(self, X: States) -> tuple[Index, Array]:
        """Rows of ``X`` (K, 6) inside coverage, and their geometric polar (K', 3)."""
        d = X[:, :3] - self.site_ecef
        near = np.flatnonzero(np.einsum("ij,ij->i", d, d) <= self.range_m * self.range_m)
        p = X[near, :3]
        rae = detection.ecef2rae(p, self.site_ecef, self.rot)
        ok = detection.line_of_sight(
            rae[:, 0],
            self.sensor.site.alt_m,
            detection.ecef2alt_m(p),
            self.min_el_rad,
            self.max_el_rad,
        )
        ok &= detection.in_sector(rae[:, 1], *self.sector_deg)
        if self.terrain is not None and ok.any():
            ok[ok] = self._over_terrain(p[ok])
        return near[ok], rae[ok]

    def _over_terrain(self, p: Array) -> np.ndarray:
        """(K,) bool: ECEF points ``p`` (K, 3) whose 4/3-earth elevation angle from the site
        clears the terrain's masking angle on their radial."""
        from mead.coverage.kernels import k_elevation_rad, over_terrain

        assert self.terrain is not None
        site = self.sensor.site
        lat, lon, h = geo.ecef2geodetic(p)
        ground = geo.great_circle_distance_m(site.lat_deg, site.lon_deg, lat, lon)
        az = geo.initial_bearing_deg(site.lat_deg, site.lon_deg, lat, lon)
        el = k_elevation_rad(ground, site.alt_m, h)
        return over_terrain(self.terrain[0], az, ground, el, self.terrain[1])

    def scan(
        self, t: float, truth_idx: Index, X: States, rcs_m2: Array, rng: np.random.Generator
    ) -> Scan:
        """One revisit at scenario time ``t``: detections of the K live objects plus clutter.

        Parameters
        ----------
        t : scenario time of the scan, s.
        truth_idx : (K,) int, each row's object index in the truth table (recorded in
            ``Scan.truth``, for scoring only).
        X : (K, 6) ECEF states of the live objects at ``t``, m and m/s.
        rcs_m2 : (K,) mean radar cross-section of each row, m².
        rng : source of all randomness (detections, noise, clutter, shuffle).

        Returns
        -------
        Scan with plots ``z`` (M, 3) [range m, az rad, el rad] in this radar's ENU frame, or
        (M, 4) [range m, az rad, el rad, range rate m/s] if the radar measures range rate.
        """
        X, truth_idx, rcs_m2 = _check_scan_inputs(self.sensor.id, X, truth_idx, rcs_m2)
        rows, rae = self.visible(X)
        snr = detection.mean_snr(rae[:, 0], rcs_m2[rows], self.ref_snr, self.ref_range_m)
        hit = rng.random(rows.size) < detection.swerling1_pd(snr, self.sensor.pfa)
        meas = rae[hit]
        if self.range_rate:
            rdot = detection.range_rate(X[rows[hit]], self.site_ecef)
            meas = np.column_stack([meas, rdot])
        z_tgt = detection.add_noise(meas, self.sigma, rng)
        z_clu = detection.draw_clutter(
            rng,
            self.sensor.clutter_per_scan,
            self.clutter_range_m,
            self.clutter_az_rad,
            self.clutter_el_rad,
            CLUTTER_RANGE_RATE_MPS if self.range_rate else None,
        )
        z = np.concatenate([z_tgt, z_clu])
        truth = np.concatenate([truth_idx[rows[hit]], np.full(len(z_clu), -1, dtype=np.int64)])
        order = rng.permutation(len(z))
        site = self.sensor.site
        return Scan(
            sensor_id=self.sensor.id,
            partner=self.partner,
            t=float(t),
            site_lat_deg=site.lat_deg,
            site_lon_deg=site.lon_deg,
            site_alt_m=site.alt_m,
            z=z[order],
            sigma=self.sigma.copy(),
            truth=truth[order],
        )


def _check_scan_inputs(
    sensor_id: str, X: States, truth_idx: Index, rcs_m2: Array
) -> tuple[States, Index, Array]:
    """Coerce scan inputs to arrays and raise ``ValueError`` naming any shape mismatch."""
    X = np.asarray(X, dtype=np.float64)
    truth_idx = np.asarray(truth_idx)
    rcs_m2 = np.asarray(rcs_m2, dtype=np.float64)
    where = f"Radar {sensor_id!r}.scan"
    if truth_idx.size and truth_idx.dtype.kind not in "iu":
        raise ValueError(f"{where}: truth_idx must be integer (got dtype {truth_idx.dtype})")
    truth_idx = truth_idx.astype(np.int64, copy=False)
    if X.ndim != 2 or X.shape[1] != 6:
        raise ValueError(f"{where}: X must be (K, 6) ECEF states (got shape {X.shape})")
    k = X.shape[0]
    if truth_idx.shape != (k,):
        raise ValueError(
            f"{where}: truth_idx must be ({k},) to match X (got shape {truth_idx.shape})"
        )
    if rcs_m2.shape != (k,):
        raise ValueError(
            f"{where}: rcs_m2 must be ({k},), one per row of X (got shape {rcs_m2.shape})"
        )
    return X, truth_idx, rcs_m2
