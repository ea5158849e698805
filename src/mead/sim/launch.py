"""Powered launch of ballistic missiles and rockets: aiming by shooting, sampled truth tracks.

Each object boosts for ``burn_s`` under a constant thrust acceleration a_T along a direction
fixed in ECEF at launch (azimuth az, elevation γ in the launcher's ENU frame), then flies
ballistically (``sim/ballistic.py``) to impact. For each object we solve (a_T, az) so that
the impact lands on its aim point:

1. bracket a_T on a geometric grid around a Keplerian guess (coarse step, all objects and
   grid points in one batched integration; the grid moves until it brackets the range);
2. two secant refinements of log a_T on ground range at the fine step, each also turning
   az by the bearing error of the impact (this absorbs Coriolis deflection and J2);
3. one final recorded flight, resampled uniformly from launch to impact.

Every integration is one vectorised RK4 loop over all objects at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.flight import height_m, hermite
from mead.geo import (
    A_M,
    GM,
    OMEGA_E,
    R_MEAN_M,
    ecef2geodetic,
    enu_rotations,
    geodetic2ecef,
    great_circle_distance_m,
    initial_bearing_deg,
)
from mead.sim.ballistic import Flight, fly
from mead.types import Array, States

G0 = 9.80665  # standard gravity, m/s²
GRID = np.geomspace(1 / 1.35, 1.35, 7)  # bracketing grid of a_T around its centre
MAX_FLIGHT_S = 5_000.0  # longest flight the solver integrates, s
NO_IMPACT_M = 1e9  # range reported for a flight that does not come down (> any ground range)
COARSE_DT_S = 2.0  # step of the bracketing stage, s


@dataclass(frozen=True)
class MissileFlights:
    """Truth trajectories of N powered-launch objects, each sampled from launch to impact."""

    t_flight_s: Array  # (N,) launch to impact, s
    impact: States  # (N, 6) ECEF state at impact (height 0)
    dt: Array  # (N,) sample spacing (≤ the nominal step; fits t_flight_s), s
    count: np.ndarray  # (N,) int64 samples per object (first: launch, last: impact)
    samples: States  # (S, 6) ECEF samples, object after object
    miss_m: Array  # (N,) great-circle distance from impact to aim point, m
    apogee_m: Array  # (N,) highest ellipsoid height reached, m
    accel_mps2: Array  # (N,) solved boost acceleration a_T, m/s²
    azimuth_deg: Array  # (N,) solved thrust azimuth, deg from north


@dataclass(frozen=True)
class _Shots:
    """Fixed inputs of N objects (launch at height 0, at rest on the rotating earth)."""

    lat: Array
    lon: Array
    p0: Array  # (3, N) launch ECEF
    rot: Array  # (N, 3, 3) ECEF→ENU at launch
    gamma: Array  # (N,) rad
    burn: Array  # (N,) s
    inv_beta: Array  # (N,) 1/(kg/m²)
    j2: bool
    omega: float


def _shoot(
    s: _Shots, rows: np.ndarray, a: Array, az_deg: Array, dt: float, record: bool = False
) -> tuple[Flight, Array, Array]:
    """Fly objects ``rows`` (K,) with a_T (K,) and azimuth (K,); → flight, range m, bearing deg."""
    az, g = np.radians(az_deg), s.gamma[rows]
    e = np.stack([np.sin(az) * np.cos(g), np.cos(az) * np.cos(g), np.sin(g)], axis=-1)
    thrust = np.einsum("kij,ki->jk", s.rot[rows], e) * a
    nb = np.maximum(np.ceil(s.burn[rows] / dt - 1e-9), 1).astype(np.int64)
    y0 = np.concatenate([s.p0[:, rows], np.zeros((3, rows.size))])
    f = fly(
        y0,
        dt=dt,
        max_steps=int(np.ceil(MAX_FLIGHT_S / dt)),
        inv_beta=s.inv_beta[rows],
        thrust=thrust,
        n_boost=nb,
        h_boost=s.burn[rows] / nb,
        j2=s.j2,
        omega=s.omega,
        record=record,
    )
    lat, lon, _ = ecef2geodetic(f.y_imp[:3].T)
    rng = great_circle_distance_m(s.lat[rows], s.lon[rows], lat, lon)
    brg = initial_bearing_deg(s.lat[rows], s.lon[rows], lat, lon)
    return f, np.where(f.hit, rng, NO_IMPACT_M), brg


def _wrap(d: Array) -> Array:
    """Angle difference wrapped to [−180, 180) deg."""
    return (d + 180.0) % 360.0 - 180.0


def _guess(d_m: Array, gamma: Array, burn: Array) -> Array:
    """Keplerian a_T guess (N,): burnout speed for range d on a sphere, spread over the burn."""
    tp = np.tan(d_m / R_MEAN_M / 2.0)
    nu = tp / (np.cos(gamma) * (np.sin(gamma) + np.cos(gamma) * tp))
    return np.sqrt(np.clip(nu, 1e-6, 0.95) * GM / A_M) / burn + G0 * np.sin(gamma)


def _bracket(
    s: _Shots, d_t: Array, brg_t: Array, a_min: Array, labels: list[str]
) -> tuple[Array, Array]:
    """Stage 1: a_T (N,) and azimuth (N,) interpolated inside a grid that brackets the range."""
    n = d_t.size
    centre = np.maximum(_guess(d_t, s.gamma, s.burn), a_min / GRID[0])
    a_out, az_out = np.empty(n), np.empty(n)
    todo = np.arange(n)
    for _ in range(12):
        grid = np.maximum(centre[todo, None] * GRID, a_min[todo, None])
        rows = np.repeat(todo, GRID.size)
        _, rng, brg = _shoot(s, rows, grid.ravel(), np.repeat(brg_t[todo], GRID.size), COARSE_DT_S)
        rng, brg = rng.reshape(grid.shape), brg.reshape(grid.shape)
        above = rng >= d_t[todo, None]
        j = np.argmax(above, axis=1)
        floor = above[:, 0] & (grid[:, 0] <= a_min[todo] * (1 + 1e-9))
        ok = (above.any(axis=1) & (j > 0)) | floor
        j = np.maximum(j, 1)
        i = np.arange(todo.size)
        d0, d1 = rng[i, j - 1], rng[i, j]
        w = np.where(floor, 0.0, np.clip((d_t[todo] - d0) / np.maximum(d1 - d0, 1e-9), 0, 1))
        w = np.where(d1 < NO_IMPACT_M, w, 0.0)
        a = np.exp((1 - w) * np.log(grid[i, j - 1]) + w * np.log(grid[i, j]))
        a = np.where(floor, a_min[todo], a)
        b_imp = brg[i, j - 1] + w * _wrap(brg[i, j] - brg[i, j - 1])
        a_out[todo[ok]] = a[ok]
        az_out[todo[ok]] = (brg_t[todo] + _wrap(brg_t[todo] - b_imp))[ok]
        up = ~above.any(axis=1)
        centre[todo[up]] *= GRID[-1] / GRID[0]
        centre[todo[~ok & ~up]] *= GRID[0] / GRID[-1]
        todo = todo[~ok]
        if todo.size == 0:
            return a_out, az_out
    far = ", ".join(f"{labels[k]} ({d_t[k] / 1e3:.0f} km)" for k in todo[:5])
    raise ValueError(f"cannot find a boost that reaches the aim point of: {far}")


def _refine(
    s: _Shots, d_t: Array, brg_t: Array, a: Array, az: Array, a_min: Array, dt: float
) -> tuple[Array, Array]:
    """Stage 2: secant steps on log a_T at the fine step, turning az by the bearing error."""
    n = d_t.size
    rows = np.concatenate([np.arange(n), np.arange(n)])
    for delta in (1e-2, 1e-3, 1e-4):
        lo, hi = np.maximum(a * (1 - delta), a_min), np.maximum(a * (1 + delta), a_min * 1.001)
        _, rng, brg = _shoot(s, rows, np.concatenate([lo, hi]), np.concatenate([az, az]), dt)
        r0, r1, b0, b1 = rng[:n], rng[n:], brg[:n], brg[n:]
        ok = (r1 < NO_IMPACT_M) & (r1 > r0)
        w = np.where(ok, (d_t - r0) / np.where(ok, r1 - r0, 1.0), 0.0)
        w = np.clip(w, -10.0, 11.0)  # a secant step moves log a_T by at most ~10 δ
        a = np.maximum(np.exp(np.log(lo) + w * (np.log(hi) - np.log(lo))), a_min)
        az = az + _wrap(brg_t - (b0 + w * _wrap(b1 - b0)))
    return a, az


def _resample(f: Flight, s: _Shots, dt: float, dt_nom: Array) -> tuple[Array, np.ndarray, Array]:
    """Hermite-resample recorded flights onto uniform grids launch→impact; → dt, count, samples."""
    assert f.hist is not None
    n = f.t_imp.size
    steps = np.maximum(np.ceil(f.t_imp / dt_nom - 1e-9), 1).astype(np.int64)
    dt_i, count = f.t_imp / steps, steps + 1
    row = np.repeat(np.arange(n), count)
    k = np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)
    t = k * dt_i[row]
    nb = np.maximum(np.ceil(s.burn / dt - 1e-9), 1).astype(np.int64)[row]
    hb, burn = (s.burn[row] / nb), s.burn[row]
    ks = np.where(t < burn, np.floor(t / hb), nb + np.floor((t - burn) / dt)).astype(np.int64)
    ks = np.clip(ks, 0, f.last_k[row] - 1)
    h = np.where(ks < nb, hb, dt)
    t0 = np.where(ks < nb, ks * hb, burn + (ks - nb) * dt)
    tau = np.clip((t - t0) / h, 0.0, 1.0)
    y = hermite(f.hist[ks, :, row].T, f.hist[ks + 1, :, row].T, h, tau).T
    last = np.cumsum(count) - 1
    y[last] = f.y_imp.T
    return dt_i, count, y


def fly_missiles(
    launch_lat_deg: Array,
    launch_lon_deg: Array,
    aim_lat_deg: Array,
    aim_lon_deg: Array,
    gamma_deg: Array,
    burn_s: Array,
    beta_kg_m2: Array,
    *,
    dt_s: Array | float = 1.0,
    j2: bool = True,
    omega: float = OMEGA_E,
    labels: list[str] | None = None,
) -> MissileFlights:
    """Aim and fly N powered-launch objects from ground launch points to ground aim points.

    Parameters
    ----------
    launch_lat_deg, launch_lon_deg, aim_lat_deg, aim_lon_deg : (N,) geodetic, deg (height 0).
    gamma_deg : (N,) elevation of the fixed thrust direction, deg.
    burn_s : (N,) boost duration, s.
    beta_kg_m2 : (N,) ballistic coefficient m/(C_d A), kg/m².
    dt_s : nominal sample spacing, scalar or (N,); the RK4 step is its minimum.
    j2, omega : gravity J2 term on/off, Earth rotation rate (0 switches rotation off).
    labels : (N,) names used in error messages.

    Returns
    -------
    MissileFlights, with the achieved miss distance of every object.
    """
    lat = np.atleast_1d(np.asarray(launch_lat_deg, np.float64))
    n = lat.size
    if n == 0:
        e = np.empty(0)
        return MissileFlights(
            e, np.empty((0, 6)), e, np.empty(0, np.int64), np.empty((0, 6)), e, e, e, e
        )
    labels = labels if labels is not None else [f"#{i}" for i in range(n)]
    lon = np.asarray(launch_lon_deg, np.float64)
    bc = [np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (gamma_deg, burn_s)]
    s = _Shots(
        lat,
        lon,
        geodetic2ecef(lat, lon, 0.0).T.copy(),
        enu_rotations(lat, lon),
        np.radians(bc[0]),
        bc[1].copy(),
        1.0 / np.broadcast_to(np.asarray(beta_kg_m2, np.float64), (n,)),
        j2,
        omega,
    )
    dt_nom = np.broadcast_to(np.asarray(dt_s, np.float64), (n,))
    dt = float(dt_nom.min()) if n else 1.0
    d_t = great_circle_distance_m(lat, lon, aim_lat_deg, aim_lon_deg)
    brg_t = initial_bearing_deg(lat, lon, aim_lat_deg, aim_lon_deg)
    a_min = 1.2 * G0 / np.sin(s.gamma)
    a, az = _bracket(s, d_t, brg_t, a_min, labels)
    a, az = _refine(s, d_t, brg_t, a, az, a_min, dt)
    f, _, _ = _shoot(s, np.arange(n), a, az, dt, record=True)
    bad = ~f.hit
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{labels[k]}: no boost reaches the aim point {d_t[k] / 1e3:.0f} km away within "
            f"{MAX_FLIGHT_S:g} s of flight at gamma {np.degrees(s.gamma[k]):g} deg "
            "(lower gamma_deg or the range)"
        )
    dt_i, count, samples = _resample(f, s, dt, dt_nom)
    imp_lat, imp_lon, _ = ecef2geodetic(f.y_imp[:3].T)
    miss = great_circle_distance_m(imp_lat, imp_lon, aim_lat_deg, aim_lon_deg)
    apogee = np.maximum.reduceat(height_m(samples.T), np.cumsum(count) - count)
    return MissileFlights(
        f.t_imp, f.y_imp.T.copy(), dt_i, count, samples, miss, apogee, a, az % 360.0
    )
