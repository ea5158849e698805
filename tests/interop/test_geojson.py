"""GeoJSON out: positions read back where they were, circles of the right radius."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mead import geo
from mead.errors import ParameterError
from mead.interop.geojson import circle2feature, collection, tracks2features


def test_track_points_are_lon_lat_alt_and_speed_course() -> None:
    lat, lon, alt = np.array([32.0, -10.0]), np.array([35.0, 170.0]), np.array([9000.0, 50.0])
    pos = geo.geodetic2ecef(lat, lon, alt)
    enu_v = np.array([[100.0, 0.0, 0.0], [0.0, -50.0, 0.0]])  # east 100, south 50
    vel = np.einsum("nji,nj->ni", geo.enu_rotations(lat, lon), enu_v)
    feats = tracks2features(["T1", "T2"], np.hstack([pos, vel]), ["drone", "aircraft"], 1.0)
    doc = json.loads(json.dumps(collection(feats)))
    c = [f["geometry"]["coordinates"] for f in doc["features"]]
    np.testing.assert_allclose(np.array(c), np.column_stack([lon, lat, alt]), atol=1e-6)
    props = [f["properties"] for f in doc["features"]]
    assert [p["course_deg"] for p in props] == [90.0, 180.0]
    assert [p["speed_mps"] for p in props] == [100.0, 50.0]


def test_circle_has_its_radius_and_is_closed() -> None:
    f = circle2feature("TLV", 32.0, 34.8, 20_000.0, kind="defended area")
    ring = np.array(f["geometry"]["coordinates"][0])
    assert (ring[0] == ring[-1]).all() and len(ring) == 65
    d = geo.great_circle_distance_m(32.0, 34.8, ring[:, 1], ring[:, 0])
    np.testing.assert_allclose(d, 20_000.0, rtol=1e-6)
    # counter-clockwise: positive shoelace area in lon/lat
    x, y = ring[:, 0], ring[:, 1]
    assert np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0
    with pytest.raises(ParameterError, match="'radius_m'"):
        circle2feature("x", 0, 0, -1)
    with pytest.raises(ParameterError, match="'states'"):
        tracks2features(["a"], np.zeros((1, 5)), ["drone"], 0.0)
