"""What a node's map shows besides tracks: its defended areas and its own radars' coverage,
as GeoJSON, from the node's own part of the scenario.

Sovereignty starts here: a partner's map gets only the areas it owns and only its own radars
(a partner does not know the others'); the coordinator's map gets every defended area and no
radar (sensor sites are never released to it by default).

Besides the range rings, each map can show real coverage per altitude layer
(:func:`coverage_layers`, the computation of ``mead coverage`` on a coarser grid): a partner
its own radars' coverage, the coordinator the alliance's (the union of what partners
declare, no radar named) and its gaps inside the watched region.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mead.errors import MeadError
from mead.geo import destination
from mead.scenario.schema import DefendedArea, Scenario, Sensor

CIRCLE_VERTICES = 96
MAP_CELL_KM = 10.0
"""Grid cell of the coverage layers on the map, km (``mead coverage`` defaults to 5 km)."""

log = logging.getLogger(__name__)


def circle_ring(lat_deg: float, lon_deg: float, radius_m: float) -> list[list[float]]:
    """A closed GeoJSON ring ([lon, lat] pairs) approximating a circle on the sphere."""
    az = np.linspace(0.0, 360.0, CIRCLE_VERTICES, endpoint=False)
    la, lo = destination(lat_deg, lon_deg, az, radius_m)
    ring = np.stack([np.round(lo, 5), np.round(la, 5)], axis=1).tolist()
    return [*ring, ring[0]]


def coverage_ring(s: Sensor) -> list[list[float]]:
    """A radar's coverage as a closed ring ([lon, lat] pairs), counter-clockwise (RFC 7946):
    its range ring, or the wedge of its azimuth sector (site, arc from min to max az)."""
    site = (s.site.lat_deg, s.site.lon_deg)
    if s.sector is None:
        return circle_ring(*site, s.range_km * 1e3)[::-1]
    n = max(int(np.ceil((s.sector.max_az_deg - s.sector.min_az_deg) / 360 * CIRCLE_VERTICES)), 2)
    az = np.linspace(s.sector.max_az_deg, s.sector.min_az_deg, n + 1)  # right to left: CCW
    la, lo = destination(*site, az, s.range_km * 1e3)
    arc = np.stack([np.round(lo, 5), np.round(la, 5)], axis=1).tolist()
    apex = [round(site[1], 5), round(site[0], 5)]
    return [apex, *arc, apex]


def _area_feature(a: DefendedArea) -> dict[str, Any]:
    if a.circle is not None:
        ring = circle_ring(a.circle.lat_deg, a.circle.lon_deg, a.circle.radius_km * 1e3)[::-1]
    else:
        assert a.polygon is not None  # a Shape has exactly one of the two
        ring = [[lon, lat] for lat, lon in a.polygon]
        ring.append(ring[0])
    return {
        "type": "Feature",
        "properties": {"name": a.name, "owner": a.owner, "value": a.value},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def coverage_layers(sc: Scenario, scenario_path: Path | None = None) -> dict[str, list[Any]]:
    """Node → the GeoJSON features of its coverage layers, for a drone's RCS on the
    scenario's terrain (smooth earth without a DEM): each partner's own radars' coverage,
    and for the coordinator the alliance's coverage and its gaps; ``layer``, ``agl_m``,
    ``kind`` and ``area_km2`` in each feature's properties. Empty when it cannot be
    computed (the reason is logged): the map then shows range rings only."""
    from mead.coverage import compute
    from mead.coverage.maps import features

    try:
        feats = features(compute(sc, scenario_path=scenario_path, cell_km=MAP_CELL_KM))
    except (MeadError, OSError, ValueError) as e:
        log.warning("coverage layers of %s not computed: %s", sc.name, e)
        return {}
    out: dict[str, list[Any]] = {
        sc.coordinator.name: [f for f in feats if f["properties"]["kind"] != "partner"]
    }
    for p in sc.partners:
        out[p.name] = [f for f in feats if f["properties"]["partner"] == p.name]
    keep = ("layer", "agl_m", "kind", "area_km2")
    for fs in out.values():
        for f in fs:
            f["properties"] = {k: f["properties"][k] for k in keep}
    return out


def map_info(
    sc: Scenario, node: str, layers: dict[str, list[Any]] | None = None
) -> dict[str, Any]:
    """The static part of ``node``'s map: its role, areas, own radar coverage and a view;
    with ``layers`` (:func:`coverage_layers`) its coverage per altitude layer too."""
    coordinator = node == sc.coordinator.name
    if not coordinator and node not in {p.name for p in sc.partners}:
        raise KeyError(f"{node!r} is not a node of scenario {sc.name!r}")
    areas = [a for a in sc.defended_areas if coordinator or a.owner == node]
    radars = [] if coordinator else sc.partner(node).sensors
    coverage: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {"id": s.id, "range_km": s.range_km},
            "geometry": {"type": "Polygon", "coordinates": [coverage_ring(s)]},
        }
        for s in radars
    ]
    pts = [
        c for s in radars for c in circle_ring(s.site.lat_deg, s.site.lon_deg, s.range_km * 1e3)
    ]
    pts += [c for a in areas for c in _area_feature(a)["geometry"]["coordinates"][0]]
    if not pts:
        pts = [[ap.lon_deg, ap.lat_deg] for ap in sc.civil.airports] or [[0.0, 0.0]]
    lon, lat = np.array(pts).T
    return {
        "node": node,
        "role": "coordinator" if coordinator else "partner",
        "scenario": sc.name,
        "epoch_s": sc.start_epoch_s(),
        "duration_s": sc.duration_s,
        "areas": {"type": "FeatureCollection", "features": [_area_feature(a) for a in areas]},
        "coverage": {"type": "FeatureCollection", "features": coverage},
        "coverage_layers": {"type": "FeatureCollection", "features": (layers or {}).get(node, [])},
        "bounds": [  # what the node defends and sees, and a margin for what comes at it
            float(lon.min()) - 1.5,
            float(lat.min()) - 1.0,
            float(lon.max()) + 1.5,
            float(lat.max()) + 1.0,
        ],
    }


__all__ = ["MAP_CELL_KM", "circle_ring", "coverage_layers", "coverage_ring", "map_info"]
