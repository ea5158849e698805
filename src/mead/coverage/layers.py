"""Coverage of a scenario's radars, partners and alliance at altitude layers, on a grid.

A cell of a layer is *covered* by a radar when a target of the chosen threat class's mean
RCS, ``agl_m`` above the ground there, is detected on one look with probability at least
``pd_min`` (:func:`mead.coverage.kernels.radar_pd`: instrumented range, 4/3-earth line of
sight, elevation limits, sector, terrain, radar equation, Swerling 1). A partner covers
what any of its radars covers; the *alliance* covers what any contributing partner covers
(a receive-only member releases nothing, so its radars do not add to the shared picture).
The *gaps* of a layer are the cells inside the region the alliance means to watch — the
instrumented range of every contributing radar, and every defended area — that no
contributing radar covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from mead import geo
from mead.coverage.dem import Dem
from mead.coverage.kernels import radar_pd, terrain_horizon
from mead.errors import ParameterError
from mead.runtime.wiring import Role, partner_roles
from mead.scenario.schema import DefendedArea, Scenario, Sensor
from mead.sensors import detection
from mead.sensors.radar import Radar
from mead.sim.threats import AIRLINER, BALLISTIC, CRUISE, DRONE, ROCKET
from mead.types import Array, Mask

LAYERS_M = (50.0, 300.0, 1_000.0, 5_000.0, 10_000.0, 100_000.0)
"""Default layers, m above the ground: drone and cruise heights, airliners' cruise, and a
ballistic missile's mid-course height."""

RCS_M2 = {c.kind: c.rcs_m2 for c in (BALLISTIC, ROCKET, CRUISE, DRONE, AIRLINER)}
"""Mean RCS of each class's default (``mead.sim.threats``), m²."""

ANTENNA_MIN_AGL_M = 5.0
"""A radar site given below the terrain there is raised to this above it (reported)."""


def layer_name(agl_m: float) -> str:
    """``50m``, ``1km``, ``100km``: a layer's label."""
    return f"{agl_m / 1e3:g}km" if agl_m >= 1_000.0 else f"{agl_m:g}m"


@dataclass(frozen=True)
class Grid:
    """A regular latitude/longitude grid of cell centres."""

    lat_deg: Array  # (ny,) cell-centre latitudes, south to north, deg
    lon_deg: Array  # (nx,) cell-centre longitudes, west to east, deg

    @classmethod
    def around(cls, sc: Scenario, cell_km: float) -> Grid:
        """Cells of about ``cell_km`` covering every radar's instrumented range and every
        defended area of ``sc``."""
        if not cell_km > 0:
            raise ParameterError("cell_km", "> 0", cell_km)
        lats, lons = [], []
        for p in sc.partners:
            for s in p.sensors:
                for b in (0.0, 90.0, 180.0, 270.0):
                    la, lo = geo.destination(s.site.lat_deg, s.site.lon_deg, b, s.range_km * 1e3)
                    lats.append(float(la))
                    lons.append(float(lo))
        for a in sc.defended_areas:
            pts = a.polygon if a.polygon is not None else []
            if a.circle is not None:
                pts = [(a.circle.lat_deg, a.circle.lon_deg)]
            lats += [la for la, _ in pts]
            lons += [lo for _, lo in pts]
        if not lats:
            raise ParameterError("scenario", "at least one radar or defended area", "none")
        lat0, lat1 = max(min(lats), -89.0), min(max(lats), 89.0)
        dlat = cell_km / 111.195
        coslat = max(np.cos(np.radians(0.5 * (lat0 + lat1))), 0.05)
        dlon = dlat / coslat
        ny = max(int(np.ceil((lat1 - lat0) / dlat)), 1)
        nx = max(int(np.ceil((max(lons) - min(lons)) / dlon)), 1)
        return cls(
            lat_deg=np.asarray(lat0 + (np.arange(ny) + 0.5) * dlat, dtype=np.float64),
            lon_deg=np.asarray(min(lons) + (np.arange(nx) + 0.5) * dlon, dtype=np.float64),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return (self.lat_deg.size, self.lon_deg.size)

    def mesh(self) -> tuple[Array, Array]:
        """Cell-centre (lat, lon) deg, each (ny, nx)."""
        lon, lat = np.meshgrid(self.lon_deg, self.lat_deg)
        return lat, lon

    def cell_km2(self) -> Array:
        """Area of each cell on the mean sphere, (ny, 1) km² (broadcasts over columns)."""
        dlat = np.radians(self.lat_deg[1] - self.lat_deg[0]) if self.lat_deg.size > 1 else 0.0
        dlon = np.radians(self.lon_deg[1] - self.lon_deg[0]) if self.lon_deg.size > 1 else 0.0
        r_km = geo.R_MEAN_M / 1e3
        return (r_km * r_km * dlat * dlon * np.cos(np.radians(self.lat_deg)))[:, None]


@dataclass
class Coverage:
    """Single-look Pd of every radar at every layer, and what it adds up to."""

    grid: Grid
    layers_m: tuple[float, ...]  # layer heights above the ground, m
    threat: str  # the class whose mean RCS the Pd is for
    rcs_m2: float  # that RCS, m²
    pd_min: float  # a cell is covered from this single-look Pd on
    pd: dict[str, Array]  # radar id → (L, ny, nx) Pd
    partners: dict[str, list[str]]  # partner → its radar ids
    roles: dict[str, Role]  # partner → "contributing" | "receive_only"
    region: Mask  # (ny, nx) inside some contributing radar's range or a defended area
    areas: dict[str, Mask] = field(default_factory=dict)  # defended area → (ny, nx) its cells
    notes: list[str] = field(default_factory=list)  # what was adjusted (e.g. raised sites)

    def covered(self, radars: list[str]) -> Mask:
        """(L, ny, nx) bool: cells some radar of ``radars`` covers."""
        out = np.zeros((len(self.layers_m), *self.grid.shape), dtype=bool)
        for r in radars:
            out |= self.pd[r] >= self.pd_min
        return out

    def partner(self, name: str) -> Mask:
        """(L, ny, nx) bool: cells partner ``name``'s own radars cover."""
        return self.covered(self.partners[name])

    def alliance(self) -> Mask:
        """(L, ny, nx) bool: cells a contributing partner's radar covers."""
        return self.covered(self.contributing_radars())

    def contributing_radars(self) -> list[str]:
        """Radar ids of the contributing partners."""
        return [r for p, ids in self.partners.items() if self.roles[p] == "contributing"
                for r in ids]  # fmt: skip

    def gaps(self) -> Mask:
        """(L, ny, nx) bool: cells of the region no contributing radar covers."""
        return self.region[None] & ~self.alliance()

    def max_pd(self, radars: list[str]) -> Array:
        """(L, ny, nx) the best single-look Pd of any radar of ``radars``."""
        out = np.zeros((len(self.layers_m), *self.grid.shape))
        for r in radars:
            np.maximum(out, self.pd[r], out=out)
        return out

    def areas_km2(self) -> dict[str, dict[str, object]]:
        """Per layer: km² covered by the alliance, each partner and each radar, the gaps,
        the region, and the covered share of each defended area."""
        cell = self.grid.cell_km2()
        a, g = self.alliance(), self.gaps()
        out: dict[str, dict[str, object]] = {}
        for k, h in enumerate(self.layers_m):
            out[layer_name(h)] = {
                "agl_m": h,
                "alliance_km2": _km2(a[k], cell),
                "gaps_km2": _km2(g[k], cell),
                "region_km2": _km2(self.region, cell),
                "partners_km2": {p: _km2(self.partner(p)[k], cell) for p in self.partners},
                "radars_km2": {r: _km2(v[k] >= self.pd_min, cell) for r, v in self.pd.items()},
                "defended_covered": {
                    n: round(float(a[k][m].mean()), 3) for n, m in self.areas.items()
                },
            }
        return out


def _km2(mask: Mask, cell: Array) -> float:
    return round(float((mask * cell).sum()), 1)


def compute(
    sc: Scenario,
    *,
    scenario_path: Path | None = None,
    layers_m: tuple[float, ...] = LAYERS_M,
    threat: str = "drone",
    rcs_m2: float | None = None,
    pd_min: float = 0.5,
    cell_km: float = 5.0,
    dem: Dem | None = None,
    step_m: float | None = None,
    watch: Scenario | None = None,
) -> Coverage:
    """The coverage of every radar of ``sc`` at ``layers_m``, for ``threat``'s mean RCS
    (or ``rcs_m2``), on a grid of ``cell_km`` cells.

    ``dem``: terrain (default: the scenario's ``dem_dir``, relative to ``scenario_path``;
    none there: a smooth earth). ``step_m``: spacing of the terrain samples along each
    radial (default: the DEM's post spacing). ``watch``: the scenario whose contributing
    radars and defended areas set the grid and the watched region (default ``sc``), so
    that two variants of a scenario are compared on one grid and one region.
    """
    if threat not in RCS_M2:
        raise ParameterError("threat", f"one of {', '.join(RCS_M2)}", threat)
    if not 0.0 < pd_min < 1.0:
        raise ParameterError("pd_min", "in (0, 1)", pd_min)
    if not layers_m or min(layers_m) < 0:
        raise ParameterError("layers_m", "one or more heights >= 0 m", layers_m)
    rcs = RCS_M2[threat] if rcs_m2 is None else rcs_m2
    if not rcs > 0:
        raise ParameterError("rcs_m2", "> 0", rcs)
    if dem is None and sc.dem_dir is not None:
        base = scenario_path.parent if scenario_path else Path.cwd()
        dem = Dem(base / sc.dem_dir)
    watch = watch or sc
    grid = Grid.around(watch, cell_km)
    lat, lon = grid.mesh()
    ground = dem.height_m(lat, lon) if dem is not None else np.zeros(grid.shape)
    step = step_m or (dem.post_spacing_m() if dem is not None else 0.0)
    roles = partner_roles(sc, scenario_path)
    cov = Coverage(grid, tuple(layers_m), threat, rcs, pd_min, {}, {}, roles,
                   np.zeros(grid.shape, dtype=bool))  # fmt: skip
    for p in sc.partners:
        cov.partners[p.name] = [s.id for s in p.sensors]
        for s in p.sensors:
            radar = _radar(s, p.name, dem, cov.notes)
            near = _within(radar, lat, lon)
            terrain = None
            if dem is not None:
                n_az = _radials(radar.range_m, cell_km)
                site = radar.sensor.site
                horizon = terrain_horizon(dem.height_m, site.lat_deg, site.lon_deg, site.alt_m,
                                          radar.range_m, n_az, step)  # fmt: skip
                terrain = (horizon, step)
            pd = np.zeros((len(layers_m), *grid.shape))
            for k, h in enumerate(layers_m):
                pd[k][near] = radar_pd(radar, lat[near], lon[near], ground[near] + h, rcs, terrain)
            cov.pd[s.id] = pd
    watch_roles = roles if watch is sc else partner_roles(watch, scenario_path)
    for p in watch.partners:
        if watch_roles[p.name] == "contributing":
            for s in p.sensors:
                cov.region |= _within(Radar(s, p.name), lat, lon)
    for a in watch.defended_areas:
        cov.areas[a.name] = _in_area(a, lat, lon)
        cov.region |= cov.areas[a.name]
    return cov


def _radials(range_m: float, cell_km: float) -> int:
    """Radials for terrain masking: half a cell apart at full range, 360 to 7,200."""
    return int(np.clip(np.ceil(2 * np.pi * range_m / (cell_km * 500.0)), 360, 7200))


def _radar(s: Sensor, partner: str, dem: Dem | None, notes: list[str]) -> Radar:
    """The simulator's radar for sensor ``s``; its site raised above the terrain if needed."""
    if dem is not None:
        floor = float(dem.height_m(np.array([s.site.lat_deg]), np.array([s.site.lon_deg]))[0])
        if s.site.alt_m < floor + ANTENNA_MIN_AGL_M:
            alt = floor + ANTENNA_MIN_AGL_M
            notes.append(f"radar {s.id!r}: site alt_m {s.site.alt_m:g} is below the terrain "
                         f"({floor:.0f} m); antenna taken at {alt:.0f} m")  # fmt: skip
            s = msgspec.structs.replace(s, site=msgspec.structs.replace(s.site, alt_m=alt))
    return Radar(s, partner)


def _within(radar: Radar, lat: Array, lon: Array) -> Mask:
    """(ny, nx) bool: cells within the radar's instrumented range (ground distance) and
    its azimuth sector."""
    site = radar.sensor.site
    near = geo.great_circle_distance_m(site.lat_deg, site.lon_deg, lat, lon) <= radar.range_m
    az = np.radians(geo.initial_bearing_deg(site.lat_deg, site.lon_deg, lat, lon))
    return np.asarray(near & detection.in_sector(az, *radar.sector_deg))


def _in_area(a: DefendedArea, lat: Array, lon: Array) -> Mask:
    """(ny, nx) bool: cells whose centre lies in defended area ``a`` (circle or polygon);
    an area smaller than a cell gets the cell nearest its centre or first vertex."""
    inside = _area_cells(a, lat, lon)
    if not inside.any():
        la, lo = (a.circle.lat_deg, a.circle.lon_deg) if a.circle else a.polygon[0]  # type: ignore[index]
        d = geo.great_circle_distance_m(la, lo, lat, lon)
        inside = d == d.min()
    return inside


def _area_cells(a: DefendedArea, lat: Array, lon: Array) -> Mask:
    if a.circle is not None:
        c = a.circle
        d = geo.great_circle_distance_m(c.lat_deg, c.lon_deg, lat, lon)
        return np.asarray(d <= c.radius_km * 1e3)
    poly = np.asarray(a.polygon, dtype=np.float64)
    inside = geo.point_in_polygon(lat.ravel(), lon.ravel(), poly)
    return np.asarray(inside, dtype=bool).reshape(lat.shape)
