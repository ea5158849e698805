"""Coverage with terrain against an independent line-of-sight walk on the real SRTM tile."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
import pytest

from mead.coverage import Dem, compute
from mead.coverage.dem import read_hgt, tile_name
from mead.errors import ConfigError
from mead.geo import K_REFRACTION, R_MEAN_M
from mead.scenario.schema import Partner, Point, Scenario, Sensor

DEM_DIR = Path("/work/shared/data/dem")
TILE = DEM_DIR / "N44W072.hgt"  # 44–45 N, 72–71 W: the White Mountains
SITE = (44.40, -71.45)  # a valley north-west of the Presidential Range
pytestmark = pytest.mark.skipif(not TILE.exists(), reason="shared SRTM tile not present")


def _tile() -> np.ndarray:
    """The tile read by hand: 1201 × 1201 big-endian int16, row 0 north."""
    return np.fromfile(TILE, dtype=">i2").reshape(1201, 1201).astype(float)


def _terrain(h: np.ndarray, lat: float, lon: float) -> float:
    """Height at one point of the tile, bilinear, written out for one point."""
    r, c = (45.0 - lat) * 1200.0, (lon + 72.0) * 1200.0
    i, j = min(int(r), 1199), min(int(c), 1199)
    fr, fc = r - i, c - j
    return float(
        h[i, j] * (1 - fr) * (1 - fc) + h[i, j + 1] * (1 - fr) * fc
        + h[i + 1, j] * fr * (1 - fc) + h[i + 1, j + 1] * fr * fc
    )  # fmt: skip


def _seen(h: np.ndarray, site: tuple[float, float, float], lat: float, lon: float,
          alt: float, step_m: float = 30.0) -> bool:  # fmt: skip
    """Walk the great circle from the site to the point, one sample each ``step_m``: the
    straight ray on a 4/3 earth, r(φ) = r₁r₂ sin θ / (r₁ sin φ + r₂ sin(θ − φ)), must stay
    above the ground at every sample."""
    ke = K_REFRACTION * R_MEAN_M
    p1, l1 = math.radians(site[0]), math.radians(site[1])
    p2, l2 = math.radians(lat), math.radians(lon)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(l2 - l1)
    delta = math.acos(max(-1.0, min(1.0, c)))  # central angle on the real sphere
    d = delta * R_MEAN_M
    theta = d / ke  # on the 4/3 earth
    r1, r2 = ke + site[2], ke + alt
    n = int(d / step_m)
    for k in range(1, n):
        f = k / n
        # point at fraction f along the great circle (slerp of unit vectors)
        a, b = math.sin((1 - f) * delta) / math.sin(delta), math.sin(f * delta) / math.sin(delta)
        x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
        y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
        z = a * math.sin(p1) + b * math.sin(p2)
        plat, plon = math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))
        phi = f * theta
        ray = r1 * r2 * math.sin(theta) / (r1 * math.sin(phi) + r2 * math.sin(theta - phi)) - ke
        if ray < _terrain(h, plat, plon):
            return False
    return True


def _scenario(site_alt_m: float) -> Scenario:
    # a strong radar (Pd ≈ 1 wherever it can see), all elevations, 40 km: what it covers
    # is what the terrain lets it see
    radar = Sensor(id="R1", site=Point(lat_deg=SITE[0], lon_deg=SITE[1], alt_m=site_alt_m),
                   range_km=40.0, ref_range_km=40.0, ref_snr_db=60.0, min_el_deg=-5.0,
                   max_el_deg=89.0)  # fmt: skip
    return Scenario(name="mountains", partners=[Partner(name="P1", sensors=[radar])],
                    dem_dir=str(DEM_DIR))  # fmt: skip


def test_read_hgt_matches_the_tile_by_hand() -> None:
    h = read_hgt(TILE)
    assert h.shape == (1201, 1201)
    assert 1850 < h.max() < 1950  # Mt Washington, 1,917 m
    dem = Dem(DEM_DIR)
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(44.0, 45.0, 50), rng.uniform(-72.0, -71.0, 50)
    hand = [_terrain(_tile(), a, b) for a, b in zip(lat, lon, strict=True)]
    np.testing.assert_allclose(dem.height_m(lat, lon), hand, atol=1e-6)
    assert tile_name(44, -72) == "N44W072.hgt"
    assert dem.height_m(np.array([10.0]), np.array([10.0]))[0] == 0.0  # no tile: sea


@pytest.mark.parametrize("agl_m", [50.0, 300.0])
def test_terrain_masking_agrees_with_a_walk_along_each_ray(agl_m: float) -> None:
    dem = Dem(DEM_DIR)
    ground = float(dem.height_m(np.array([SITE[0]]), np.array([SITE[1]]))[0])
    site = (SITE[0], SITE[1], ground + 15.0)
    cov = compute(_scenario(site[2]), layers_m=(agl_m,), cell_km=0.5, dem=dem, step_m=30.0)
    lat, lon = cov.grid.mesh()
    pd = cov.pd["R1"][0]
    d = np.hypot((lat - SITE[0]) * 111.2, (lon - SITE[1]) * 111.2 * math.cos(math.radians(44.4)))
    pick = np.flatnonzero(((d > 1.0) & (d < 38.0)).ravel())
    pick = np.random.default_rng(1).choice(pick, 400, replace=False)
    h = _tile()
    ours = pd.ravel()[pick] >= 0.5
    walk = np.array([
        _seen(h, site, lat.ravel()[i], lon.ravel()[i],
              _terrain(h, lat.ravel()[i], lon.ravel()[i]) + agl_m)
        for i in pick
    ])  # fmt: skip
    agree = np.mean(ours == walk)
    print(f"{agl_m:g} m: agree {agree:.3f}, seen {walk.mean():.2f} (walk) {ours.mean():.2f}")
    assert 0.05 < walk.mean() < 0.95  # the terrain matters here: neither all nor nothing
    assert agree >= 0.97
    assert np.sum(ours != walk) <= 0.1 * min(walk.sum(), (~walk).sum())  # few, near grazing


@pytest.mark.parametrize("agl_m", [50.0, 300.0])
def test_a_simulated_radar_sees_what_the_walk_along_each_ray_sees(agl_m: float) -> None:
    """The simulator's radar, masked by the scenario's terrain, against the same independent
    walk: targets the ridges hide give no plots."""
    from mead.geo import geodetic2ecef
    from mead.sensors.simulate import build_radars

    dem = Dem(DEM_DIR)
    ground = float(dem.height_m(np.array([SITE[0]]), np.array([SITE[1]]))[0])
    site = (SITE[0], SITE[1], ground + 15.0)
    sc = _scenario(site[2])
    (masked,) = build_radars(sc, dem)
    (smooth,) = build_radars(sc)
    rng = np.random.default_rng(2)
    rho, az = rng.uniform(1_000.0, 38_000.0, 400), rng.uniform(0.0, 2 * np.pi, 400)
    lat = SITE[0] + np.degrees(rho * np.cos(az) / R_MEAN_M)
    lon = SITE[1] + np.degrees(rho * np.sin(az) / (R_MEAN_M * math.cos(math.radians(SITE[0]))))
    alt = dem.height_m(lat, lon) + agl_m
    X = np.zeros((400, 6))
    X[:, :3] = geodetic2ecef(lat, lon, alt)
    ours = np.zeros(400, bool)
    ours[masked.visible(X)[0]] = True
    flat = np.zeros(400, bool)
    flat[smooth.visible(X)[0]] = True
    h = _tile()
    walk = np.array([_seen(h, site, la, lo, _terrain(h, la, lo) + agl_m)
                     for la, lo in zip(lat.tolist(), lon.tolist(), strict=True)])  # fmt: skip
    agree = np.mean(ours == walk)
    print(f"{agl_m:g} m: agree {agree:.3f}, seen {walk.mean():.2f} (walk) {ours.mean():.2f}")
    assert 0.05 < walk.mean() < 0.95 and flat.mean() > ours.mean()
    assert not (ours & ~flat).any()  # terrain only ever hides
    assert agree >= 0.97
    scan = masked.scan(0.0, np.arange(400), X, np.full(400, 10.0), rng)
    assert set(scan.truth[scan.truth >= 0].tolist()) <= set(np.flatnonzero(ours).tolist())


def test_a_scenario_naming_a_dem_is_simulated_with_its_terrain() -> None:
    """`prepare` masks the radars of a scenario that names a DEM: the mountains scenario's
    drones give fewer plots than on a smooth earth."""
    from mead.runtime.simulation import prepare
    from mead.scenario.loader import load_scenario

    path = Path(__file__).parents[2] / "scenarios" / "mountains.yaml"
    sc = load_scenario(path)
    if not (path.parent / str(sc.dem_dir) / TILE.name).exists():
        sc = msgspec.structs.replace(sc, dem_dir=str(DEM_DIR))
    n = {}
    for name, s in (("terrain", sc), ("smooth", msgspec.structs.replace(sc, dem_dir=None))):
        w = prepare(s, sc.seed, path)
        n[name] = sum(int((scan.truth >= 0).sum()) for scan in w.scans)
    assert 0 < n["terrain"] < n["smooth"], n


def test_smooth_earth_without_dem_sees_more_low_targets() -> None:
    sc = _scenario(500.0)
    flat = compute(sc.__class__(**{**{f: getattr(sc, f) for f in sc.__struct_fields__},
                                   "dem_dir": None}), layers_m=(50.0,), cell_km=1.0)  # fmt: skip
    hilly = compute(sc, layers_m=(50.0,), cell_km=1.0)
    assert flat.areas_km2()["50m"]["alliance_km2"] > hilly.areas_km2()["50m"]["alliance_km2"]


def test_dem_dir_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dem_dir must be a folder"):
        Dem(tmp_path / "nope")
    bad = tmp_path / "N10E010.hgt"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(ConfigError, match="n×n int16"):
        Dem(tmp_path).height_m(np.array([10.5]), np.array([10.5]))
