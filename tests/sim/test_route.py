"""Routes: great-circle legs and coordinated turns are continuous, smooth and of the right size."""

from __future__ import annotations

import numpy as np
import pytest

from mead.geo import R_MEAN_M, destination, great_circle_distance_m
from mead.sim.route import build_routes, latlon2unit, route_at


def _right_angle(radius_m: float = 10_000.0):
    """A 300 km leg north, then 300 km east from the corner."""
    a = (30.0, 40.0)
    w = destination(*a, 0.0, 300e3)
    b = destination(w[0], w[1], 90.0, 300e3)
    pts = np.array([[a, w, b]])
    return pts, build_routes(latlon2unit(pts[..., 0], pts[..., 1]), np.array([radius_m]))


def _at(routes, s, obj=0):
    s = np.atleast_1d(np.asarray(s, np.float64))
    return route_at(routes, np.full(s.size, obj), s)


def test_two_point_route_is_the_great_circle() -> None:
    pts = np.array([[[10.0, 20.0], [40.0, -30.0]], [[-5.0, 100.0], [-5.0, 100.5]]])
    r = build_routes(latlon2unit(pts[..., 0], pts[..., 1]), np.array([1e4, 1e4]))
    d = great_circle_distance_m(pts[:, 0, 0], pts[:, 0, 1], pts[:, 1, 0], pts[:, 1, 1])
    np.testing.assert_allclose(r.length_m, d, rtol=1e-9)
    u, _ = route_at(r, np.array([0, 0, 1]), np.array([0.0, d[0], d[1]]))
    np.testing.assert_allclose(
        u, latlon2unit([10.0, 40.0, -5.0], [20.0, -30.0, 100.5]), atol=1e-12
    )


def test_turn_cuts_the_corner_by_the_coordinated_turn_geometry() -> None:
    pts, r = _right_angle(10_000.0)
    lat, lon = pts[0, :, 0], pts[0, :, 1]
    d1 = great_circle_distance_m(lat[0], lon[0], lat[1], lon[1])
    d2 = great_circle_distance_m(lat[1], lon[1], lat[2], lon[2])
    u, _ = _at(r, np.linspace(0, r.length_m[0], 60_001))
    w = latlon2unit(lat[1], lon[1])
    closest = np.min(np.arccos(np.clip(u @ w, -1, 1))) * R_MEAN_M
    turn = _corner_turn(latlon2unit(lat, lon))
    assert np.radians(80.0) < turn < np.radians(95.0)
    assert closest == pytest.approx(10_000.0 * (1 / np.cos(turn / 2) - 1), rel=0.01)
    expect = d1 + d2 - 2 * 10_000.0 * np.tan(turn / 2) + 10_000.0 * turn
    assert r.length_m[0] == pytest.approx(expect, abs=0.01)
    np.testing.assert_allclose(u[-1], latlon2unit(lat[2], lon[2]), atol=1e-12)


def _corner_turn(p: np.ndarray) -> float:
    """Heading change (rad) at p[1] between the great circles p[0]→p[1] and p[1]→p[2]."""
    t_in = np.cross(np.cross(p[0], p[1]), p[1])
    t_out = np.cross(np.cross(p[1], p[2]), p[1])
    cos = np.dot(t_in, t_out) / (np.linalg.norm(t_in) * np.linalg.norm(t_out))
    return float(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_path_is_continuous_with_unit_speed_and_exact_tangent() -> None:
    _, r = _right_angle(10_000.0)
    s = np.linspace(0, r.length_m[0], 20_001)
    u, du = _at(r, s)
    step = np.linalg.norm(np.diff(u, axis=0), axis=1) * R_MEAN_M
    np.testing.assert_allclose(step, np.diff(s), rtol=1e-6)  # no jumps, unit speed
    np.testing.assert_allclose(np.linalg.norm(du, axis=1) * R_MEAN_M, 1.0, rtol=1e-12)
    eps = 0.5
    up, _ = _at(r, s[1:-1] + eps)
    um, _ = _at(r, s[1:-1] - eps)
    np.testing.assert_allclose((up - um) / (2 * eps), du[1:-1], atol=1e-9 / R_MEAN_M * 1e3)
    heading_jump = np.linalg.norm(np.diff(du, axis=0), axis=1) * R_MEAN_M
    assert heading_jump.max() < 2 * np.diff(s)[0] / 10_000.0  # curvature ≤ 1/r (+ slack)


def test_turn_arc_has_the_configured_radius() -> None:
    _, r = _right_angle(10_000.0)
    s_mid = r.key[1] + 0.5 * (r.key[2] - r.key[1])  # middle of the arc segment
    ds = 1_000.0
    u, _ = _at(r, [s_mid - ds, s_mid, s_mid + ds])
    p = u * R_MEAN_M
    a, b, c = (
        np.linalg.norm(p[1] - p[0]),
        np.linalg.norm(p[2] - p[1]),
        np.linalg.norm(p[2] - p[0]),
    )
    area2 = np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))
    assert a * b * c / (2 * area2) == pytest.approx(10_000.0, rel=0.01)  # circumradius


def test_batched_routes_equal_single_routes_and_short_legs_shrink_turns() -> None:
    rng = np.random.default_rng(5)
    pts = np.stack([rng.uniform(20, 40, (4, 4)), rng.uniform(30, 50, (4, 4))], axis=-1)
    pts[3, 1] = destination(pts[3, 0, 0], pts[3, 0, 1], 45.0, 2_000.0)  # a 2 km first leg
    unit = latlon2unit(pts[..., 0], pts[..., 1])
    radius = np.array([5e3, 10e3, 20e3, 30e3])
    both = build_routes(unit, radius)
    s = np.linspace(0, 1, 50)
    for i in range(4):
        one = build_routes(unit[i : i + 1], radius[i : i + 1])
        assert one.length_m[0] == pytest.approx(both.length_m[i], rel=1e-12)
        u1, d1 = _at(one, s * one.length_m[0])
        u2, d2 = _at(both, s * both.length_m[i], obj=i)
        np.testing.assert_allclose(u1, u2, atol=1e-9)
        np.testing.assert_allclose(d1, d2, atol=1e-9 / R_MEAN_M)
    arc = both.key[3 * 5 + 2] - both.key[3 * 5 + 1]  # route 3: leg, ARC, leg, arc, leg
    assert 0.0 < arc < 2_000.0  # shrank to fit the 2 km leg


def test_degenerate_routes() -> None:
    with pytest.raises(ValueError, match="at least 2 points"):
        build_routes(np.zeros((1, 1, 3)), np.array([1.0]))
    p = latlon2unit(np.array([[10.0, 10.0, 10.0]]), np.array([[20.0, 20.0, 20.0]]))
    r = build_routes(p, np.array([1e3]))
    assert r.length_m[0] == 0.0
    u, _ = _at(r, [0.0, 5.0])
    np.testing.assert_allclose(u, np.repeat(p[0, :1], 2, axis=0), atol=1e-12)
