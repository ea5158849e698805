"""Engagement windows against an independent brute-force search, and paths against truth."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.engage.units import UnitTable
from mead.engage.windows import Paths, engagement_windows, predict_paths
from mead.scenario.schema import FireUnit, FireUnitParams, Point


def _units() -> UnitTable:
    return UnitTable.build(
        [
            ("P1", FireUnit(id="lt", type="lower_tier", site=Point(lat_deg=31.8, lon_deg=35.2))),
            ("P1", FireUnit(id="sr", type="short_range", site=Point(lat_deg=31.9, lon_deg=35.6))),
            ("P2", FireUnit(id="ut", type="upper_tier", site=Point(lat_deg=31.5, lon_deg=35.0))),
            (
                "P2",
                FireUnit(
                    id="cap",
                    type="air_patrol",
                    site=Point(lat_deg=32.2, lon_deg=36.5, alt_m=8000),
                    params=FireUnitParams(max_range_km=120, speed_mps=400),
                ),
            ),
        ]
    )


def _line(p0: np.ndarray, v: np.ndarray, T: float, k: int) -> tuple[Paths, object]:
    """A straight ECEF path p0 + v·t on [0, T], sampled K times, and the analytic path."""
    tau = np.linspace(0.0, T, k)[None, :]
    pos = p0[None, None, :] + tau[..., None] * v[None, None, :]
    alt = geo.ecef2geodetic(pos.reshape(-1, 3))[2].reshape(1, k)
    return Paths(tau, pos, alt, np.ones((1, k), bool)), (lambda t: p0 + np.multiply.outer(t, v))


def _brute(path, T: float, u: UnitTable, j: int, kind: int) -> tuple[float, float]:
    """Launch times ℓ (0.25 s grid) for which the interceptor, flying straight at its speed
    after its reaction time, meets the threat (a sign change of v(τ − ℓ − r) − |p(τ) − s|
    on a 0.02 s grid of τ) inside the envelope: their min and max (nan if none)."""
    if u.pk[j, kind] <= 0:
        return np.nan, np.nan
    tau = np.arange(0.0, T + 1e-9, 0.02)
    p = path(tau)
    dist = np.linalg.norm(p - u.site[j], axis=1)
    alt = geo.ecef2geodetic(p)[2]
    env = (
        (dist >= u.min_range_m[j])
        & (dist <= u.max_range_m[j])
        & (alt >= u.min_alt_m[j])
        & (alt <= u.max_alt_m[j])
    )
    good = []
    for ell in np.arange(0.0, T, 0.25):
        f = u.speed_mps[j] * (tau - ell - u.reaction_s[j]) - dist
        cross = np.flatnonzero((f[:-1] < 0) & (f[1:] >= 0))
        if any(env[c] or env[c + 1] for c in cross):
            good.append(ell)
    return (min(good), max(good)) if good else (np.nan, np.nan)


CASES = [
    # (start lat, lon, alt m; velocity ENU m/s; duration s; class code)
    ((31.8, 36.3, 1000.0), (-51.0, 0.0, 0.0), 1500.0, 3),  # drone westwards
    ((32.5, 36.6, 100.0), (-180.0, -160.0, 0.0), 500.0, 2),  # cruise missile
    ((31.0, 36.5, 120e3), (-1500.0, 500.0, -1200.0), 95.0, 0),  # ballistic, straight descent
    ((32.3, 35.9, 12e3), (-600.0, -300.0, -120.0), 90.0, 1),  # rocket
]


@pytest.mark.parametrize("case", CASES)
def test_windows_match_brute_force(case: tuple) -> None:
    (lat, lon, alt), v_enu, T, kind = case
    p0 = geo.geodetic2ecef(np.array([lat]), np.array([lon]), np.array([alt]))[0]
    v = geo.enu_rotation(lat, lon).T @ np.array(v_enu)
    k = 1201
    paths, path = _line(p0, v, T, k)
    u = _units()
    w = engagement_windows(paths, np.array([kind]), u)
    dt = T / (k - 1)
    any_window = False
    for j in range(len(u)):
        lo, hi = _brute(path, T, u, j, kind)
        if np.isnan(lo):
            assert not w.feasible[0, j], (u.ids[j], w.open_s[0, j])
            continue
        any_window = True
        assert w.feasible[0, j], u.ids[j]
        tol = 2 * dt + 0.5
        assert w.open_s[0, j] == pytest.approx(lo, abs=tol), u.ids[j]
        assert w.close_s[0, j] == pytest.approx(hi, abs=tol), u.ids[j]
        assert w.open_s[0, j] <= w.hit_s[0, j] <= T
        if w.sls[0, j]:
            assert w.launch2_s[0, j] >= w.hit_s[0, j] + 5.0 - 1e-9
            assert w.launch2_s[0, j] <= w.close_s[0, j]
    assert any_window  # every case is engageable by someone


def test_batched_equals_looped() -> None:
    rng = np.random.default_rng(3)
    n = 6
    lat, lon = 31.5 + rng.random(n), 35.5 + rng.random(n)
    p = geo.geodetic2ecef(lat, lon, np.full(n, 1000.0))
    v = np.stack(
        [geo.enu_rotation(a, b).T @ [-60.0, 10.0, 0.0] for a, b in zip(lat, lon, strict=True)]
    )
    x = np.hstack([p, v])
    fast = np.zeros(n, bool)
    tgo = rng.uniform(600, 2000, n)
    aim_lat, aim_lon = np.full(n, 31.77), np.full(n, 35.21)
    kind = np.full(n, 3)
    u = _units()
    w = engagement_windows(predict_paths(x, fast, tgo, aim_lat, aim_lon), kind, u)
    for i in range(n):
        s = slice(i, i + 1)
        wi = engagement_windows(
            predict_paths(x[s], fast[s], tgo[s], aim_lat[s], aim_lon[s]), kind[s], u
        )
        np.testing.assert_array_equal(wi.open_s[0], w.open_s[i])
        np.testing.assert_array_equal(wi.sls[0], w.sls[i])


def test_free_flight_path_lands_where_the_impact_predictor_says() -> None:
    from mead.threat.impact import propagate_to_ground

    lat, lon, alt = 32.0, 37.0, 90e3
    p = geo.geodetic2ecef(np.array([lat]), np.array([lon]), np.array([alt]))[0]
    v = geo.enu_rotation(lat, lon).T @ np.array([-1800.0, -300.0, -1500.0])
    x = np.concatenate([p, v])[None]
    imp, tgo, landed = propagate_to_ground(x, beta_kg_m2=5000.0)
    assert landed[0]
    paths = predict_paths(x, np.array([True]), tgo, np.zeros(1), np.zeros(1), samples=64)
    assert paths.alt_m[0, -1] == pytest.approx(0.0, abs=300.0)
    assert np.linalg.norm(paths.pos[0, -1] - imp[0]) < 1_000.0


def test_route_path_ends_at_the_aim_point() -> None:
    lat, lon = 31.8, 36.3
    p = geo.geodetic2ecef(np.array([lat]), np.array([lon]), np.array([1000.0]))[0]
    v = geo.enu_rotation(lat, lon).T @ np.array([-51.0, 0.0, 0.0])
    x = np.concatenate([p, v])[None]
    d = float(geo.great_circle_distance_m(lat, lon, 31.77, 35.21))
    paths = predict_paths(
        x, np.array([False]), np.array([d / 51.0]), np.array([31.77]), np.array([35.21])
    )
    la, lo, h = geo.ecef2geodetic(paths.pos[0, -1:])
    assert geo.great_circle_distance_m(la[0], lo[0], 31.77, 35.21) < 100.0
    assert h[0] == pytest.approx(1000.0, abs=1.0)
