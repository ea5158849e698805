"""Coverage kernels: a radar's detection probability over a grid of points, with terrain.

Pure numpy over arrays of points (leading axis K) or radials (n_az, n_d). The radar's own
model is the simulator's (:class:`mead.sensors.radar.Radar`): its ``visible`` applies the
instrumented range, the 4/3-earth line of sight, the elevation limits and the sector, and
:mod:`mead.sensors.detection` gives the radar-equation SNR and the Swerling-1 Pd. What this
module adds is terrain: the highest elevation angle of the ground along each radial from
the radar (a running maximum, all radials at once), which a point must clear to be seen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mead import geo
from mead.geo import K_REFRACTION, R_MEAN_M
from mead.sensors import detection
from mead.sensors.radar import Radar
from mead.types import Array

HeightFn = Callable[[Array, Array], Array]
"""Terrain height (m) at geodetic points: (lat deg, lon deg) arrays → array of their shape."""


def k_elevation_rad(
    ground_m: Array, h_radar_m: float, h_m: Array, k: float = K_REFRACTION
) -> Array:
    """Elevation (rad) of points at ground distance ``ground_m`` and height ``h_m`` seen
    from a radar at height ``h_radar_m``, on an earth of radius kR with straight rays.

    With θ = d / kR the central angle, r_r = kR + h_r and r_t = kR + h_t:
    el = atan2(r_t cos θ − r_r, r_t sin θ).
    """
    ke = k * R_MEAN_M
    theta = np.asarray(ground_m, dtype=np.float64) / ke
    rt = ke + np.asarray(h_m, dtype=np.float64)
    return np.arctan2(rt * np.cos(theta) - (ke + h_radar_m), rt * np.sin(theta))


def terrain_horizon(
    height: HeightFn,
    lat_deg: float,
    lon_deg: float,
    h_radar_m: float,
    range_m: float,
    n_az: int,
    step_m: float,
) -> Array:
    """The terrain's masking angle along ``n_az`` radials from a radar, (n_az, n_d + 1) rad.

    Radial ``i`` leaves at azimuth ``i · 360° / n_az``; its ground samples lie at
    ``d_k = (k + 1) · step_m``, k = 0 … n_d − 1, up to ``range_m``. Entry ``[i, j]`` is the
    highest elevation angle (:func:`k_elevation_rad`) of the first ``j`` samples of radial
    ``i`` (−π/2 for ``j = 0``): a point between ``d_{j−1}`` and ``d_j`` is in view over the
    terrain when its own elevation angle is at least this. One running maximum
    (``np.maximum.accumulate``) over every radial at once.
    """
    n_d = max(int(np.ceil(range_m / step_m)), 1)
    az = np.arange(n_az) * (360.0 / n_az)
    d = np.asarray((np.arange(n_d) + 1.0) * step_m, dtype=np.float64)
    lat, lon = geo.destination(lat_deg, lon_deg, az[:, None], d[None, :])
    el = k_elevation_rad(d[None, :], h_radar_m, np.asarray(height(lat, lon), dtype=np.float64))
    out = np.full((n_az, n_d + 1), -np.pi / 2)
    out[:, 1:] = np.maximum.accumulate(el, axis=1)
    return out


def over_terrain(
    horizon: Array, az_deg: Array, ground_m: Array, el_rad: Array, step_m: float
) -> Array:
    """(K,) bool: points at azimuth ``az_deg`` (K,) and ground distance ``ground_m`` (K,)
    whose elevation ``el_rad`` (K,) clears the masking angle of their nearest radial in
    ``horizon`` (:func:`terrain_horizon`, same ``step_m``)."""
    n_az, n_j = horizon.shape
    i = np.rint(np.asarray(az_deg) * (n_az / 360.0)).astype(np.int64) % n_az
    j = np.clip(np.ceil(np.asarray(ground_m) / step_m).astype(np.int64) - 1, 0, n_j - 1)
    return np.asarray(el_rad >= horizon[i, j])


def radar_pd(
    radar: Radar,
    lat_deg: Array,
    lon_deg: Array,
    h_m: Array,
    rcs_m2: float,
    terrain: tuple[Array, float] | None = None,
) -> Array:
    """Single-look detection probability (K,) of a target of mean RCS ``rcs_m2`` at each
    point (lat, lon deg, height m above the ellipsoid; all (K,)).

    0 where the radar cannot see the point (``Radar.visible``: instrumented range,
    4/3-earth line of sight, elevation limits, sector) or, with ``terrain`` =
    (horizon, step_m) from :func:`terrain_horizon` for this radar, where the ground hides
    it; else Swerling 1 on the radar-equation SNR.
    """
    lat, lon, h = (np.asarray(v, dtype=np.float64) for v in (lat_deg, lon_deg, h_m))
    pd = np.zeros(lat.shape)
    if lat.size == 0:
        return pd
    X = np.zeros((lat.size, 6))
    X[:, :3] = geo.geodetic2ecef(lat, lon, h)
    rows, rae = radar.visible(X)
    if terrain is not None and rows.size:
        site = radar.sensor.site
        ground = geo.great_circle_distance_m(site.lat_deg, site.lon_deg, lat[rows], lon[rows])
        az = geo.initial_bearing_deg(site.lat_deg, site.lon_deg, lat[rows], lon[rows])
        el = k_elevation_rad(ground, site.alt_m, h[rows])
        seen = over_terrain(terrain[0], az, ground, el, terrain[1])
        rows, rae = rows[seen], rae[seen]
    pd[rows] = pd_at_range(radar, rae[:, 0], np.full(rows.size, rcs_m2))
    return pd


def pd_at_range(radar: Radar, range_m: Array, rcs_m2: Array) -> Array:
    """Single-look detection probability (K,) of targets of mean RCS ``rcs_m2`` (K,) m² at
    slant ranges ``range_m`` (K,) the radar sees (Swerling 1 on the radar-equation SNR)."""
    snr = detection.mean_snr(range_m, rcs_m2, radar.ref_snr, radar.ref_range_m)
    return np.asarray(detection.swerling1_pd(snr, radar.sensor.pfa))
