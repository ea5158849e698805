"""Flight routes on the mean-sphere earth: great-circle legs joined by coordinated turns.

A route through waypoints q₀ … q_{P−1} (unit vectors) is a chain of segments, each a circle
on the unit sphere

    u(φ) = cos ρ · c + sin ρ · (cos φ · e₁ + sin φ · e₂),    φ = (s − s₀) / (R sin ρ)

with s the distance flown along the route (m, on the sphere of radius R = R_MEAN_M). A
great-circle leg has ρ = π/2 (c unused); a turn is a small circle of radius r = R sin ρ
tangent to the incoming leg, turning through the heading change Δ at the waypoint (the
route cuts the corner by r·tan(Δ/2) on both sides). Segments of all routes are stored flat
so that any number of (route, distance) pairs evaluate in one vectorised call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.geo import R_MEAN_M
from mead.types import Array


@dataclass(frozen=True)
class Routes:
    """Segments of N routes, flat; route i owns segments ``first[i] : first[i] + per``."""

    c: Array  # (G, 3) small-circle axis (zero for great circles)
    e1: Array  # (G, 3) unit vector to the segment start from the axis
    e2: Array  # (G, 3) unit direction of travel at the segment start
    sin_rho: Array  # (G,) sin of the angular radius (1 for great circles)
    cos_rho: Array  # (G,) cos of the angular radius (0 for great circles)
    key: Array  # (G,) route index · KEY_STRIDE + start distance of the segment, m
    length_m: Array  # (N,) total route length, m


KEY_STRIDE = 1e8  # m; longer than any route, so keys of different routes never mix


def latlon2unit(lat_deg: Array, lon_deg: Array) -> Array:
    """Unit vectors (..., 3) on the sphere for latitudes and longitudes in degrees."""
    la, lo = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _unit(v: Array) -> Array:
    """Rows of v (N, 3) normalised (zero rows stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0.0, n, 1.0)


def _angle(a: Array, b: Array) -> Array:
    """Angle between unit vectors (N, 3), rad."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def _leg(a: Array, b: Array) -> tuple[Array, Array, Array]:
    """Great circle from a to b (N, 3): (e1, e2, length m)."""
    e2 = _unit(b - np.sum(a * b, axis=-1, keepdims=True) * a)
    return a, e2, _angle(a, b) * R_MEAN_M


def build_routes(points: Array, turn_radius_m: Array) -> Routes:
    """Routes of N objects through P ≥ 2 waypoints each, as unit vectors ``points`` (N, P, 3).

    ``turn_radius_m`` (N,) is each object's coordinated-turn radius; a turn shrinks so it
    never takes more than 45 % of an adjacent leg.
    """
    n, p, _ = points.shape
    if p < 2:
        raise ValueError(f"a route needs at least 2 points (got {p})")
    radius = np.broadcast_to(np.asarray(turn_radius_m, np.float64), (n,))
    zero = np.zeros((n, 3))
    segs: list[tuple[Array, Array, Array, Array, Array, Array]] = []
    start = points[:, 0]
    for j in range(1, p - 1):
        w, nxt = points[:, j], points[:, j + 1]
        n_in, n_out = _unit(np.cross(start, w)), _unit(np.cross(w, nxt))
        t_in, t_out = np.cross(n_in, w), np.cross(n_out, w)
        turn = _angle(t_in, t_out)
        side = np.where(np.sum(w * np.cross(t_in, t_out), axis=-1) >= 0.0, 1.0, -1.0)
        d_in, d_out = _angle(start, w) * R_MEAN_M, _angle(w, nxt) * R_MEAN_M
        tan_half = np.tan(np.minimum(turn, np.pi - 1e-6) / 2.0)
        r = np.minimum(radius, 0.45 * np.minimum(d_in, d_out) / np.maximum(tan_half, 1e-12))
        arc = r * turn > 1.0
        r = np.where(arc, r, 0.0)
        ell = (r * tan_half / R_MEAN_M)[:, None]
        p1 = np.cos(ell) * w - np.sin(ell) * t_in
        t1 = np.cos(ell) * t_in + np.sin(ell) * w
        e1, e2, length = _leg(start, p1)
        segs.append((zero, e1, e2, np.ones(n), np.zeros(n), length))
        rho = r / R_MEAN_M
        sr, cr = np.where(arc, np.sin(rho), 1.0), np.where(arc, np.cos(rho), 0.0)
        c = np.where(arc[:, None], cr[:, None] * p1 + (side * sr)[:, None] * np.cross(p1, t1), 0)
        e1 = np.where(arc[:, None], (p1 - cr[:, None] * c) / sr[:, None], p1)
        segs.append((c, e1, t1, sr, cr, np.where(arc, R_MEAN_M * sr * turn, 0.0)))
        ang = np.where(arc, turn, 0.0)[:, None]
        start = cr[:, None] * c + sr[:, None] * (np.cos(ang) * e1 + np.sin(ang) * t1)
    e1, e2, length = _leg(start, points[:, -1])
    segs.append((zero, e1, e2, np.ones(n), np.zeros(n), length))
    lengths = np.stack([sg[5] for sg in segs], axis=1)  # (N, per)
    s0 = np.cumsum(lengths, axis=1) - lengths
    key = np.arange(n)[:, None] * KEY_STRIDE + s0

    def flat(i: int) -> Array:
        parts = [sg[i] for sg in segs]
        return np.stack(parts, axis=1).reshape(n * len(segs), *parts[0].shape[1:])

    return Routes(flat(0), flat(1), flat(2), flat(3), flat(4), key.ravel(), lengths.sum(axis=1))


def route_at(routes: Routes, obj: np.ndarray, s_m: Array) -> tuple[Array, Array]:
    """Points and tangents of routes ``obj`` (S,) at distances ``s_m`` (S,) m along them.

    Returns
    -------
    u : (S, 3) unit vectors on the sphere.
    du_ds : (S, 3) derivative of u per metre flown (length 1/R).
    """
    s = np.clip(s_m, 0.0, routes.length_m[obj])
    g = np.searchsorted(routes.key, obj * KEY_STRIDE + s, side="right") - 1
    sr = routes.sin_rho[g]
    phi = ((obj * KEY_STRIDE + s) - routes.key[g]) / (R_MEAN_M * sr)
    cp, sp = np.cos(phi)[:, None], np.sin(phi)[:, None]
    e1, e2 = routes.e1[g], routes.e2[g]
    u = routes.cos_rho[g][:, None] * routes.c[g] + sr[:, None] * (cp * e1 + sp * e2)
    return u, (cp * e2 - sp * e1) / R_MEAN_M
