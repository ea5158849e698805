"""The offline basemap of the operator's map: land and borders as GeoJSON, decoded from the
Natural Earth TopoJSON bundled in ``mead/data/basemap`` (world-atlas, ISC; see its LICENSE).

Nothing is fetched at run time: the page draws these two layers over a plain background, so
the map works air-gapped.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

RESOLUTIONS = ("50m", "110m")


def _topology(resolution: str) -> dict[str, Any]:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"basemap resolution must be one of {RESOLUTIONS} (got {resolution!r})")
    ref = resources.files("mead") / "data" / "basemap" / f"countries-{resolution}.json"
    topo: dict[str, Any] = json.loads(ref.read_text())
    return topo


def _arcs(topo: dict[str, Any]) -> list[list[list[float]]]:
    """Every arc as [lon, lat] points: quantised deltas → cumsum · scale + translate."""
    scale = np.asarray(topo["transform"]["scale"])
    shift = np.asarray(topo["transform"]["translate"])
    return [
        np.round(np.cumsum(np.asarray(a, dtype=np.float64), axis=0) * scale + shift, 4).tolist()
        for a in topo["arcs"]
    ]


def _ring(arcs: list[list[list[float]]], refs: list[int]) -> list[list[float]]:
    """A ring stitched from arc references (``~i`` = arc ``i`` reversed)."""
    out: list[list[float]] = []
    for r in refs:
        pts = arcs[r] if r >= 0 else arcs[~r][::-1]
        out.extend(pts if not out else pts[1:])
    return out


@cache
def basemap(resolution: str = "50m") -> bytes:
    """GeoJSON FeatureCollection (bytes): one ``land`` MultiPolygon and one ``borders``
    MultiLineString (every arc of the countries topology, each drawn once)."""
    topo = _topology(resolution)
    arcs = _arcs(topo)
    polys = []
    for geom in topo["objects"]["land"]["geometries"]:
        parts = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        polys.extend([[_ring(arcs, ring) for ring in poly] for poly in parts])
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kind": "land"},
                "geometry": {"type": "MultiPolygon", "coordinates": polys},
            },
            {
                "type": "Feature",
                "properties": {"kind": "borders"},
                "geometry": {"type": "MultiLineString", "coordinates": arcs},
            },
        ],
    }
    return json.dumps(fc, separators=(",", ":")).encode()


__all__ = ["RESOLUTIONS", "basemap"]
