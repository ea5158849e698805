"""`mead export DIR --geojson`: a recorded run's picture, areas, impact regions and radar
coverage as RFC 7946 GeoJSON, checked against the replay it was made from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mead.cli import main
from mead.server.replay import Replay


def _shoelace(ring: list[list[float]]) -> float:
    x, y = np.array(ring).T
    return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) / 2)


def _check_rfc7946(fc: dict[str, Any]) -> None:
    assert fc["type"] == "FeatureCollection"
    for f in fc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        g = f["geometry"]
        if g["type"] == "Point":
            lon, lat, _alt = g["coordinates"]
            assert -180 <= lon <= 180 and -90 <= lat <= 90
            continue
        assert g["type"] == "Polygon"
        for ring in g["coordinates"]:
            assert len(ring) >= 4 and ring[0] == ring[-1]  # closed linear ring
            assert _shoelace(ring) > 0  # exterior ring counter-clockwise (§3.1.6)
            assert all(-180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in ring)


def _alerting_time(recorded: Path) -> float:
    """Seconds into the run when the coordinator holds a live (not cancelled) alert."""
    run = Replay(recorded).run("alliance")
    for t in np.arange(run.t0, run.t1, 5.0):
        if any(a["state"] != "cancelled" for a in run.alerts("C0", float(t))):
            return float(t - run.t0)
    raise AssertionError("the recorded run has no alert")


def test_export_writes_the_picture_areas_impacts_and_coverage(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = _alerting_time(recorded)
    out = tmp_path / "c0.geojson"
    assert main(["export", str(recorded), "--geojson", "--at", str(at), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    fc = json.loads(out.read_text())
    _check_rfc7946(fc)
    by: dict[str, list[dict[str, Any]]] = {}
    for f in fc["features"]:
        by.setdefault(f["properties"]["layer"], []).append(f)
    run = Replay(recorded).run("alliance")
    t = run.t0 + at
    # tracks: exactly the coordinator's picture then, [lon, lat, alt] in that order
    rows = run.rows("C0", t)
    assert len(rows) > 0 and len(by["track"]) == len(rows)
    got = {f["properties"]["key"]: f["geometry"]["coordinates"] for f in by["track"]}
    for i, k in enumerate(rows.key.tolist()):
        assert got[k] == pytest.approx([rows.lon[i], rows.lat[i], rows.alt[i]])
    # areas of small.yaml, centred where the scenario puts them (lon first)
    areas = {f["properties"]["name"]: f for f in by["defended_area"]}
    assert set(areas) == {"Capital", "Base"}
    ring = np.array(areas["Capital"]["geometry"]["coordinates"][0][:-1])
    assert ring.mean(axis=0) == pytest.approx([35.21, 31.77], abs=0.01)
    # impact regions: the live alerts the coordinator held
    live = [a for a in run.alerts("C0", t) if a["state"] != "cancelled"]
    assert {f["properties"]["alert_id"] for f in by["impact_region"]} == {
        a["alert_id"] for a in live
    }
    # coverage: both partners' radars, P1's a 900 km ring
    cov = {f["properties"]["id"]: f for f in by["radar_coverage"]}
    assert set(cov) == {"P1-EW1", "P2-S1"}
    assert cov["P1-EW1"]["properties"]["range_km"] == 900
    assert fc["mead"] | {"t_utc_s": 0} == {"scenario": "small", "run": "alliance", "node": "C0",
                                          "t_utc_s": 0, "at_s": at, "layers": [
                                              "track", "defended_area", "impact_region",
                                              "radar_coverage"]}  # fmt: skip


def test_export_of_a_partner_and_bad_requests(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p2.geojson"
    args = ["export", str(recorded), "--geojson", "--node", "P2", "--out", str(out)]
    assert main(args) == 0
    fc = json.loads(out.read_text())
    _check_rfc7946(fc)
    areas = [f for f in fc["features"] if f["properties"]["layer"] == "defended_area"]
    assert [a["properties"]["name"] for a in areas] == ["Capital"]  # only what P2's map has
    capsys.readouterr()
    assert main(["export", str(recorded), "--geojson", "--at", "99999"]) == 2
    assert "--at must be within the run" in capsys.readouterr().err
    assert main(["export", str(recorded), "--geojson", "--node", "P9"]) == 2
    assert "no node 'P9'" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--geojson"]) == 2
    assert "no recorded runs" in capsys.readouterr().err


def test_sector_radar_coverage_is_a_counter_clockwise_wedge() -> None:
    import msgspec

    from mead.scenario.schema import Sensor
    from mead.server.overlays import coverage_ring

    s = msgspec.convert({"id": "R", "site": {"lat_deg": 30.0, "lon_deg": 40.0}, "range_km": 100,
                         "sector": {"min_az_deg": 0, "max_az_deg": 90}}, Sensor)  # fmt: skip
    ring = coverage_ring(s)
    assert ring[0] == ring[-1] == [40.0, 30.0]  # from the site
    assert _shoelace(ring) > 0
    pts = np.array(ring[1:-1])
    # north-east of the site (a great circle due east dips a little south of its parallel)
    assert np.all(pts[:, 0] >= 40.0 - 1e-9) and np.all(pts[:, 1] >= 30.0 - 0.01)
