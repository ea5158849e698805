"""Engagement windows: when an interceptor launched from each unit can meet each threat.

For N threats and U units at once. A threat's predicted path is sampled at K times from
now to its arrival at the area it threatens: ballistic and rocket tracks fly free (gravity
with J2, the rotating frame and drag, :mod:`mead.flight`'s RK4), cruise missiles and drones
follow their route — the great circle to the predicted arrival point, at their ground
speed and height. An interceptor of unit u flies straight from its site at the unit's mean
speed after its reaction time, so to meet threat n at sample k it must be launched at

    L[n, u, k] = τ[n, k] − |p[n, k] − s[u]| / v[u] − t_react[u],

and the meeting counts when L ≥ 0 (not in the past), the slant range |p − s| is within
the unit's [min, max] range, the height within its [min, max] altitude, τ lies before the
threat's arrival, and the unit may engage the threat's class. The *launch window* of a
pair is [min L, max L] over the samples that count, and its first intercept the sample of
the earliest launch. Shoot-look-shoot is possible when a second round can still be
launched after the first intercept plus the look (kill assessment) time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead import geo
from mead.engage.units import UnitTable
from mead.flight import height_m, hermite, rk4_step
from mead.threat.impact import DEFAULT_BETA_KG_M2, step_sizes
from mead.threat.local import local
from mead.types import Array, Covs, Positions, States

LOOK_S = 5.0
"""Kill assessment after an intercept before a second round may be launched, s."""


@dataclass(frozen=True)
class Paths:
    """Predicted paths of N threats, K samples each."""

    tau_s: Array  # (N, K) time after now, s
    pos: Array  # (N, K, 3) ECEF, m
    alt_m: Array  # (N, K) height above the ellipsoid, m
    valid: np.ndarray  # (N, K) bool: sample is before arrival and finite

SAME_OBJECT_M = 2_000.0
SAME_OBJECT_S = 2.0
"""Two threat estimates closer than ``SAME_OBJECT_M`` + ``SAME_OBJECT_S`` × the threat's
speed (2.1 km for a drone, 7 km for a missile at 2.5 km/s: tracks of one missile by two
partners differ by kilometres) are taken for one object when engagements are deconflicted:
a partner's own engagement against the coordinator's advice, and at the coordinator a
partner's own engagement or a round in flight against a system track."""
SAME_OBJECT_SIGMA = 2.0
SAME_OBJECT_SIGMA_MAX_M = 5_000.0
"""Where the estimate's covariance is known (the coordinator's system tracks), the distance
grows by ``SAME_OBJECT_SIGMA`` × √(trace of its position covariance), at most
``SAME_OBJECT_SIGMA_MAX_M``: two system tracks of one poorly held drone lie kilometres apart."""


def same_object_m(x: States, P: Covs | None = None) -> Array:
    """(N,) the distance within which another estimate is the same object as each of N
    threat states (N, 6), with covariances ``P`` (N, 6, 6) if known."""
    d = SAME_OBJECT_M + SAME_OBJECT_S * np.linalg.norm(x[:, 3:], axis=1)
    if P is None:
        return d
    spread = np.sqrt(np.maximum(np.trace(P[:, :3, :3], axis1=1, axis2=2), 0.0))
    return d + np.minimum(SAME_OBJECT_SIGMA * np.nan_to_num(spread), SAME_OBJECT_SIGMA_MAX_M)


def predict_paths(
    x: States,
    fast: np.ndarray,
    tgo_s: Array,
    aim_lat_deg: Array,
    aim_lon_deg: Array,
    *,
    samples: int = 48,
    horizon_s: float = 3_600.0,
    beta_kg_m2: Array | float = DEFAULT_BETA_KG_M2,
) -> Paths:
    """Sample the predicted paths of N threats from now to their arrival.

    Parameters
    ----------
    x : (N, 6) ECEF states now [m, m/s].
    fast : (N,) bool, ballistic or rocket (free flight); else cruise / drone (route).
    tgo_s : (N,) time to arrival at the threatened area, s (capped at ``horizon_s``).
    aim_lat_deg, aim_lon_deg : (N,) predicted arrival point (the route's end).
    samples : K, samples per path (evenly spaced in time, the first at now).
    beta_kg_m2 : ballistic coefficient of the free-flying threats, scalar or (N,).
    """
    n = x.shape[0]
    fast = np.asarray(fast, dtype=bool)
    T = np.clip(np.nan_to_num(np.asarray(tgo_s, dtype=np.float64)), 0.0, horizon_s)
    tau = T[:, None] * np.linspace(0.0, 1.0, samples)[None, :]
    pos = np.zeros((n, samples, 3))
    if fast.any():
        beta = np.broadcast_to(np.asarray(beta_kg_m2, dtype=np.float64), (n,))
        pos[fast] = _free_flight(x[fast], tau[fast], beta[fast])
    slow = ~fast
    if slow.any():
        pos[slow] = _route(x[slow], tau[slow], aim_lat_deg[slow], aim_lon_deg[slow])
    finite = np.asarray(np.isfinite(pos).all(axis=2), dtype=bool)
    pos = np.where(finite[..., None], pos, 0.0)
    alt = geo.ecef2geodetic(pos.reshape(-1, 3))[2].reshape(n, samples)
    valid = finite & (T[:, None] > 0.0) & (alt > -100.0)
    return Paths(tau, pos, alt, valid)


def _free_flight(x: States, tau: Array, beta: Array, max_steps: int = 200) -> Array:
    """(M, K, 3) positions of M free-flying bodies at times ``tau`` (M, K), ascending.

    RK4 with the impact predictor's step rule (a fraction of the time to the ground,
    shorter where drag is stiff: ~15 steps from apogee), each body its own step; the
    samples are cubic Hermite interpolations between the steps that bracket them. A body
    stops a kilometre below the ellipsoid; its later samples are nan (invalid).
    """
    m, k = tau.shape
    out = np.full((m, k, 3), np.nan)
    p, v = x[:, :3].T.copy(), x[:, 3:].T.copy()
    inv_beta = 1.0 / beta
    t = np.zeros(m)
    end = tau[:, -1]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(max_steps):
            h = height_m(p)
            active = (t < end) & (h > -1_000.0)  # landed: later samples stay invalid
            if not active.any():
                break
            dt = np.where(active, step_sizes(p, v, h, inv_beta, 0.4, 0.5, 20.0), 0.0)
            p1, v1 = rk4_step(p, v, dt, inv_beta)
            t1 = t + dt
            inside = (tau >= t[:, None]) & (tau <= t1[:, None]) & active[:, None]
            r, c = np.nonzero(inside)
            if r.size:
                y0 = np.concatenate([p[:, r], v[:, r]])
                y1 = np.concatenate([p1[:, r], v1[:, r]])
                f = (tau[r, c] - t[r]) / np.maximum(dt[r], 1e-9)
                out[r, c] = hermite(y0, y1, np.maximum(dt[r], 1e-9), f)[:3].T
            p, v, t = p1, v1, t1
    return out


def _route(x: States, tau: Array, aim_lat: Array, aim_lon: Array) -> Array:
    """(M, K, 3) positions along the great circle to the aim point at the track's ground
    speed and height."""
    loc = local(x)
    g = np.hypot(loc.v_enu[:, 0], loc.v_enu[:, 1])
    brg = geo.initial_bearing_deg(loc.lat_deg, loc.lon_deg, aim_lat, aim_lon)
    dist = geo.great_circle_distance_m(loc.lat_deg, loc.lon_deg, aim_lat, aim_lon)
    s = np.minimum(g[:, None] * tau, dist[:, None])  # stop at the aim point
    lat, lon = geo.destination(loc.lat_deg[:, None], loc.lon_deg[:, None], brg[:, None], s)
    alt = np.broadcast_to(np.maximum(loc.alt_m, 0.0)[:, None], s.shape)
    return geo.geodetic2ecef(lat.ravel(), lon.ravel(), alt.ravel()).reshape(*s.shape, 3)


LEAD_S = 300.0
"""Threats are planned against once some unit could reach them within this, s."""


def within_reach(x: States, units: UnitTable, lead_s: float = LEAD_S) -> np.ndarray:
    """(N,) threats that could enter some unit's envelope within ``lead_s``: straight-line
    distance to a site at most the unit's range plus the threat's speed × ``lead_s``.

    A cheap (N × U) filter before :func:`engagement_windows`: a drone hours away is planned
    once it comes near, and re-planned every cycle from then on."""
    d = np.linalg.norm(x[:, None, :3] - units.site[None, :, :], axis=-1)
    v = np.linalg.norm(x[:, 3:], axis=1)
    return np.asarray((d <= units.max_range_m[None, :] + v[:, None] * lead_s).any(axis=1))


@dataclass(frozen=True)
class Windows:
    """Launch windows of N threats × U units, times after now (s); inf/nan where none."""

    open_s: Array  # (N, U) earliest launch that meets the threat in the envelope
    close_s: Array  # (N, U) latest such launch
    hit_s: Array  # (N, U) intercept time of the earliest launch
    hit_pos: Positions  # (N, U, 3) ECEF intercept point of the earliest launch
    sls: np.ndarray  # (N, U) bool: a second round fits after the first intercept + look
    launch2_s: Array  # (N, U) earliest launch of the second round (nan without)
    hit2_s: Array  # (N, U) its intercept time
    first_s: Array  # (N, U) earliest launch ignoring ``earliest_s`` (≤ it: the window is open)

    @property
    def feasible(self) -> np.ndarray:
        """(N, U) bool: the pair has a window."""
        return np.isfinite(self.open_s)


def engagement_windows(
    paths: Paths,
    kind: np.ndarray,
    units: UnitTable,
    look_s: float = LOOK_S,
    earliest_s: Array | float = 0.0,
) -> Windows:
    """Launch windows of N threats (``paths``, class codes ``kind`` (N,) in 0..3 as in
    ``units.THREAT_KINDS``) against U units, all pairs at once (see the module doc).

    ``earliest_s`` (scalar or (N,)): no launch before this, on the paths' time axis (a
    path predicted from an older state starts in the past)."""
    # |p − s|² = |p|² + |s|² − 2 p·s: one matrix product instead of an (N, U, K, 3) array
    pp = np.einsum("nkc,nkc->nk", paths.pos, paths.pos)
    cross = (paths.pos @ units.site.T).transpose(0, 2, 1)  # (N, U, K)
    d2 = pp[:, None, :] + np.einsum("uc,uc->u", units.site, units.site)[None, :, None]
    d2 -= 2.0 * cross
    d = np.sqrt(np.maximum(d2, 0.0))
    alt = paths.alt_m[:, None, :]
    ok = (
        (paths.valid[:, None, :] & (units.pk.T[kind][:, :, None] > 0.0))
        & (d >= units.min_range_m[None, :, None])
        & (d <= units.max_range_m[None, :, None])
        & (alt >= units.min_alt_m[None, :, None])
        & (alt <= units.max_alt_m[None, :, None])
    )
    fly_s = d / units.speed_mps[None, :, None] + units.reaction_s[None, :, None]
    L = paths.tau_s[:, None, :] - fly_s
    first_s = np.where(ok, L, np.inf).min(axis=2)
    ok &= L >= np.reshape(np.asarray(earliest_s, dtype=np.float64), (-1, 1, 1))
    Lok = np.where(ok, L, np.inf)
    k1 = Lok.argmin(axis=2)  # (N, U) sample of the earliest launch
    open_s = np.take_along_axis(Lok, k1[..., None], 2)[..., 0]
    close_s = np.where(ok, L, -np.inf).max(axis=2)
    has = np.isfinite(open_s)
    tau = np.broadcast_to(paths.tau_s[:, None, :], L.shape)
    hit_s = np.where(has, np.take_along_axis(tau, k1[..., None], 2)[..., 0], np.nan)
    hit_pos = np.take_along_axis(paths.pos, k1[..., None].reshape(k1.shape[0], -1, 1), 1)
    hit_pos = hit_pos.reshape(*k1.shape, 3)
    second = ok & (L >= np.nan_to_num(hit_s, nan=np.inf)[..., None] + look_s)
    L2 = np.where(second, L, np.inf)
    k2 = L2.argmin(axis=2)
    launch2 = np.take_along_axis(L2, k2[..., None], 2)[..., 0]
    sls = np.isfinite(launch2)
    hit2 = np.where(sls, np.take_along_axis(tau, k2[..., None], 2)[..., 0], np.nan)
    return Windows(
        open_s, np.where(has, close_s, np.nan), hit_s, hit_pos, sls,
        np.where(sls, launch2, np.nan), hit2, first_s,
    )  # fmt: skip
