"""Export: what a node held at one moment of a recorded run, as GeoJSON for GIS tools.

``mead export DIR --geojson`` reads the replay a run recorded (``mead run --out DIR``,
:mod:`mead.server.replay`) and writes one RFC 7946 FeatureCollection: the node's picture
(Point tracks, [lon, lat, alt m]), the defended areas on its map, the impact regions of the
alerts it held then (not cancelled) and the coverage of the run's radars (range rings, or
wedges for sector radars), each feature tagged by ``layer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mead.errors import MeadError
from mead.interop.geojson import ccw, circle2feature, collection
from mead.server.replay import Replay, ReplayRun
from mead.server.rows import Rows

LAYERS = ("track", "defended_area", "impact_region", "radar_coverage")


def _tracks(rows: Rows) -> list[dict[str, Any]]:
    return [
        {
            "type": "Feature",
            "id": str(rows.key[i]),
            "geometry": {
                "type": "Point",
                "coordinates": [float(rows.lon[i]), float(rows.lat[i]), float(rows.alt[i])],
            },
            "properties": {
                "layer": "track",
                "key": str(rows.key[i]),
                "class": str(rows.cls[i]),
                "affiliation": str(rows.aff[i]),
                "speed_mps": float(rows.spd[i]),
                "course_deg": float(rows.crs[i]),
                "climb_mps": float(rows.vz[i]),
                "quality": float(rows.q[i]),
            },
        }  # fmt: skip
        for i in range(len(rows))
    ]


def _polygons(features: list[dict[str, Any]], layer: str) -> list[dict[str, Any]]:
    """Polygon features with their rings counter-clockwise and a ``layer`` property."""
    out = []
    for f in features:
        rings = [ccw(r) for r in f["geometry"]["coordinates"]]
        out.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": rings},
                    "properties": {"layer": layer, **f["properties"]}})  # fmt: skip
    return out


def _impacts(run: ReplayRun, node: str, t: float) -> list[dict[str, Any]]:
    feats = []
    for a in run.alerts(node, t):
        if a["state"] == "cancelled" or not a["impact_radius_m"] > 0:
            continue
        feats.append(circle2feature(
            a["alert_id"], a["impact_lat_deg"], a["impact_lon_deg"], a["impact_radius_m"],
            layer="impact_region", alert_id=a["alert_id"], state=a["state"], level=a["level"],
            area=a["area"], recipient=a["recipient"], threat_class=a["threat_class"],
            t_impact_utc_s=a["t_impact"], tgo_s=round(a["t_impact"] - t, 1),
            p_area=a["p_area"],
        ))  # fmt: skip
    return feats


def export_geojson(
    folder: Path, at_s: float | None = None, run: str = "alliance", node: str | None = None
) -> dict[str, Any]:
    """The FeatureCollection of ``node`` (default: the coordinator) in ``run`` at ``at_s``
    seconds after the run's first recorded cycle (default: its last).

    Raises :class:`MeadError` naming what is wrong: no replay in ``folder``, an unknown
    run or node, a time outside the run."""
    rp = Replay(folder)
    try:
        r = rp.run(run)
    except KeyError as e:
        raise MeadError(f"{folder}: {e.args[0]}") from None
    node = node or r.nodes[0]
    if node not in r.nodes:
        raise MeadError(f"{folder}: no node {node!r} in run {run!r} (nodes: {', '.join(r.nodes)})")
    span = r.t1 - r.t0
    if at_s is not None and not 0.0 <= at_s <= span:
        raise MeadError(f"--at must be within the run, 0..{span:.0f} s (got {at_s:g})")
    t = r.t1 if at_s is None else r.t0 + at_s
    info = r.info(node)
    coverage = [f for n in r.nodes for f in r.info(n)["coverage"]["features"]]
    feats = [
        *_tracks(r.rows(node, t)),
        *_polygons(info["areas"]["features"], "defended_area"),
        *_impacts(r, node, t),
        *_polygons(coverage, "radar_coverage"),
    ]
    out = collection(feats)
    out["mead"] = {"scenario": rp.scenario, "run": run, "node": node, "t_utc_s": t,
                   "at_s": round(t - r.t0, 3), "layers": list(LAYERS)}  # fmt: skip
    return out


__all__ = ["LAYERS", "export_geojson"]
