"""Waypoint flight of cruise missiles, one-way attack drones and airliners along their routes.

Horizontal motion follows a route (``sim/route.py``) at ground speed v(t); height h(t)
above the WGS84 ellipsoid follows a climb / cruise / descent profile:

    climb    0 ≤ t < t_c:        h = H t/t_c,        v = v₀ + (v_c − v₀) t/t_c
    cruise   t_c ≤ t ≤ T − t_d:  h = H,              v = v_c
    descent  T − t_d < t ≤ T:    h = H (T − t)/t_d,  v = v₀ + (v_c − v₀)(T − t)/t_d

with t_c = H / climb rate and t_d = H / descent rate. A route too short for the full
climb and descent lowers H until they meet. Threats fly v₀ = v_c (launch at speed, dive
onto the aim point); airliners ramp from the take-off / touchdown speed v₀.

The ECEF velocity is the exact time derivative of the ECEF position: a point at (φ, λ, h)
moves by (M+h) dφ north, (N+h) cos φ dλ east and dh up (M, N the meridian and prime-vertical
radii of curvature), with dφ, cos φ dλ the north and east parts of the route tangent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.geo import A_M, E2
from mead.sim.route import build_routes, latlon2unit, route_at
from mead.sim.threats import FlightClass
from mead.types import Array, States

CHUNK = 1 << 18  # samples evaluated per vectorised block (bounds memory)


@dataclass(frozen=True)
class Profile:
    """Climb / cruise / descent profiles of N flights (see module equations); SI units."""

    length_m: Array  # (N,) route length S
    top_m: Array  # (N,) cruise height H after any lowering
    v0: Array  # (N,) take-off / touchdown speed
    vc: Array  # (N,) cruise speed
    t_climb: Array  # (N,) t_c
    t_desc: Array  # (N,) t_d
    t_total: Array  # (N,) T
    d_climb: Array  # (N,) ground distance flown while climbing
    d_desc: Array  # (N,) ground distance flown while descending


def plan_profiles(length_m: Array, cls: FlightClass, top_m: Array) -> Profile:
    """Profiles of routes ``length_m`` (N,) flown by ``cls`` at cruise heights ``top_m`` (N,)."""
    s = np.asarray(length_m, np.float64)
    top = np.broadcast_to(np.asarray(top_m, np.float64), s.shape).copy()
    v0 = np.full(s.shape, min(cls.start_speed_mps, cls.speed_mps))
    vc = np.full(s.shape, cls.speed_mps)
    tc, td = top / cls.climb_mps, top / cls.descent_mps
    dc, dd = 0.5 * (v0 + vc) * tc, 0.5 * (v0 + vc) * td
    f = np.minimum(1.0, s / np.maximum(dc + dd, 1e-9))
    top, tc, td, dc, dd = top * f, tc * f, td * f, dc * f, dd * f
    total = tc + td + np.maximum(s - dc - dd, 0.0) / vc
    return Profile(s, top, v0, vc, tc, td, total, dc, dd)


def profile_at(p: Profile, obj: np.ndarray, t: Array) -> tuple[Array, Array, Array, Array]:
    """Distance s, ground speed ṡ, height h and climb rate ḣ (S,) of flights ``obj`` at ``t`` (S,).

    ``t`` is seconds since departure, clipped to [0, T].
    """
    total, tc, td = p.t_total[obj], p.t_climb[obj], p.t_desc[obj]
    v0, dv, top = p.v0[obj], p.vc[obj] - p.v0[obj], p.top_m[obj]
    t = np.clip(t, 0.0, total)
    tcs, tds = np.maximum(tc, 1e-9), np.maximum(td, 1e-9)
    tau = total - t
    climb, desc = t < tc, tau < td
    s = np.where(climb, v0 * t + dv * t * t / (2 * tcs), p.d_climb[obj] + p.vc[obj] * (t - tc))
    s = np.where(desc, p.length_m[obj] - (v0 * tau + dv * tau * tau / (2 * tds)), s)
    sdot = np.where(climb, v0 + dv * t / tcs, np.where(desc, v0 + dv * tau / tds, p.vc[obj]))
    h = np.where(climb, top * t / tcs, np.where(desc, top * tau / tds, top))
    hdot = np.where(climb, top / tcs, np.where(desc, -top / tds, 0.0))
    return s, sdot, h, hdot


def unit2ecef(u: Array, du: Array, h: Array, hdot: Array) -> States:
    """ECEF states (S, 6) of sphere points u (S, 3) moving at du (S, 3) /s, height h, rate ḣ (S,).

    The sphere point's latitude and longitude are taken as geodetic coordinates.
    """
    sphi = np.clip(u[:, 2], -1.0, 1.0)
    cphi = np.hypot(u[:, 0], u[:, 1])
    safe = np.where(cphi > 1e-12, cphi, 1.0)
    clam, slam = np.where(cphi > 1e-12, u[:, 0] / safe, 1.0), u[:, 1] / safe
    w = 1.0 - E2 * sphi * sphi
    rn = A_M / np.sqrt(w)
    rm = rn * (1.0 - E2) / w
    north = np.stack([-sphi * clam, -sphi * slam, cphi], axis=1)
    east = np.stack([-slam, clam, np.zeros_like(slam)], axis=1)
    up = np.stack([cphi * clam, cphi * slam, sphi], axis=1)
    pos = (rn + h)[:, None] * up
    pos[:, 2] -= rn * E2 * sphi
    vn = (rm + h) * np.sum(north * du, axis=1)
    ve = (rn + h) * np.sum(east * du, axis=1)
    vel = vn[:, None] * north + ve[:, None] * east + hdot[:, None] * up
    return np.concatenate([pos, vel], axis=1)


@dataclass(frozen=True)
class RouteFlights:
    """Truth trajectories of N route flights, sampled uniformly from departure to arrival."""

    t_flight_s: Array  # (N,) departure to arrival (impact or touchdown), s
    end: States  # (N, 6) ECEF state at arrival
    dt: Array  # (N,) sample spacing (≤ cls.dt_s; fits t_flight_s), s
    count: np.ndarray  # (N,) int64 samples per object (first: departure, last: arrival)
    samples: States  # (S, 6) ECEF samples, object after object
    profile: Profile  # the planned profiles


def fly_routes(points_deg: Array, cls: FlightClass, top_m: Array | None = None) -> RouteFlights:
    """Fly N objects of class ``cls`` through waypoints ``points_deg`` (N, P, 2) [lat, lon] deg.

    The first point is the launch / departure and the last the aim point / destination,
    both at height 0. ``top_m`` (N,) overrides ``cls.altitude_m`` per object (e.g. flight
    levels). Turns at intermediate waypoints use ``cls.turn_radius_m()``.
    """
    pts = np.asarray(points_deg, np.float64)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise ValueError(f"points_deg must be (N, P, 2) [lat, lon] (got shape {pts.shape})")
    n = pts.shape[0]
    routes = build_routes(latlon2unit(pts[..., 0], pts[..., 1]), np.full(n, cls.turn_radius_m()))
    top = np.full(n, cls.altitude_m) if top_m is None else np.broadcast_to(top_m, (n,))
    prof = plan_profiles(routes.length_m, cls, np.asarray(top, dtype=np.float64))
    steps = np.maximum(np.ceil(prof.t_total / cls.dt_s - 1e-9), 1).astype(np.int64)
    dt, count = prof.t_total / steps, steps + 1
    first = np.cumsum(count) - count
    samples = np.empty((int(count.sum()), 6))
    for lo in range(0, samples.shape[0], CHUNK):
        hi = min(lo + CHUNK, samples.shape[0])
        idx = np.arange(lo, hi)
        obj = np.searchsorted(first, idx, side="right") - 1
        t = (idx - first[obj]) * dt[obj]
        s, sdot, h, hdot = profile_at(prof, obj, t)
        u, du_ds = route_at(routes, obj, s)
        samples[lo:hi] = unit2ecef(u, du_ds * sdot[:, None], h, hdot)
    end = samples[first + count - 1] if n else np.empty((0, 6))
    return RouteFlights(prof.t_total, end, dt, count, samples, prof)
