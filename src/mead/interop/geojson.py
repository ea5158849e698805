"""GeoJSON out: tracks (points) and areas (polygons) as an RFC 7946 FeatureCollection that
GIS tools such as QGIS open. Pure functions: arrays in, a JSON-ready dict out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mead import geo
from mead.errors import ParameterError
from mead.types import Array


def tracks2features(
    ids: Sequence[str], states: Array, classes: Sequence[str], t_utc_s: float
) -> list[dict[str, Any]]:
    """N tracks (ECEF states (N, 6), m and m/s) as Point features [lon, lat, alt m] with
    their id, class, ground speed (m/s), course (deg from north) and time."""
    x = np.asarray(states, dtype=np.float64)
    n = len(ids)
    if x.shape != (n, 6) or not np.all(np.isfinite(x)) or len(classes) != n:
        raise ParameterError("states", f"({n}, 6) finite ECEF with {n} classes", x.shape)
    if n == 0:
        return []
    lat, lon, alt = (np.atleast_1d(v) for v in geo.ecef2geodetic(x[:, :3]))
    enu_v = np.einsum("nij,nj->ni", geo.enu_rotations(lat, lon), x[:, 3:])
    feats = []
    for i in range(n):
        ve, vn = float(enu_v[i, 0]), float(enu_v[i, 1])
        feats.append({
            "type": "Feature",
            "id": ids[i],
            "geometry": {"type": "Point",
                         "coordinates": [round(float(lon[i]), 7), round(float(lat[i]), 7),
                                         round(float(alt[i]), 1)]},
            "properties": {"track_id": ids[i], "class": classes[i], "t_utc_s": t_utc_s,
                           "speed_mps": round(math.hypot(ve, vn), 2),
                           "course_deg": round(math.degrees(math.atan2(ve, vn)) % 360, 2)},
        })  # fmt: skip
    return feats


def circle2feature(
    name: str, lat_deg: float, lon_deg: float, radius_m: float, **props: Any
) -> dict[str, Any]:
    """A circular area (e.g. a defended area or a predicted impact region) as a Polygon of
    64 vertices, counter-clockwise, closed (RFC 7946 §3.1.6)."""
    if not (radius_m > 0 and math.isfinite(radius_m)):
        raise ParameterError("radius_m", "> 0", radius_m)
    az = np.radians(np.linspace(0.0, -360.0, 65))  # counter-clockwise seen from above
    d = radius_m / geo.R_MEAN_M
    p0, l0 = math.radians(lat_deg), math.radians(lon_deg)
    lat = np.arcsin(np.sin(p0) * np.cos(d) + np.cos(p0) * np.sin(d) * np.cos(az))
    lon = l0 + np.arctan2(
        np.sin(az) * np.sin(d) * np.cos(p0), np.cos(d) - np.sin(p0) * np.sin(lat)
    )
    ring = [[round(float(np.degrees(b)), 7), round(float(np.degrees(a)), 7)]
            for a, b in zip(lat, lon, strict=True)]  # fmt: skip
    ring[-1] = ring[0]
    return {"type": "Feature", "id": name,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "radius_m": radius_m, **props}}  # fmt: skip


def collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection of ``features``."""
    return {"type": "FeatureCollection", "features": list(features)}


def ring_area(ring: Sequence[Sequence[float]]) -> float:
    """Signed area of a closed ring of [lon, lat] in square degrees (shoelace): > 0 when
    counter-clockwise."""
    a = np.asarray(ring, dtype=np.float64)[:, :2]
    return float(0.5 * np.sum(a[:-1, 0] * a[1:, 1] - a[1:, 0] * a[:-1, 1]))


def ccw(ring: Sequence[Sequence[float]]) -> list[list[float]]:
    """``ring`` closed and counter-clockwise, as RFC 7946 §3.1.6 wants exterior rings."""
    r = [list(p) for p in ring]
    if r and r[0] != r[-1]:
        r.append(r[0])
    return r if ring_area(r) >= 0 else r[::-1]
