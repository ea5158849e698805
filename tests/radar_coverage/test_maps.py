"""Coverage out: GeoJSON polygons that hold exactly the covered cells, files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from mead.cli import main
from mead.coverage import compute
from mead.coverage.maps import mask2multipolygon, write_coverage
from mead.scenario import load_scenario

ROOT = Path(__file__).parents[2]
MOUNTAINS = ROOT / "scenarios" / "mountains.yaml"
# the scenario names its DEM relative to a checkout beside shared/; the test reads the
# shared data where it is, wherever the checkout is
DEM_DIR = next(
    (d for d in ((ROOT / "../shared/data/dem").resolve(), Path("/work/shared/data/dem"))
     if (d / "N44W072.hgt").exists()),
    None,
)  # fmt: skip
needs_dem = pytest.mark.skipif(DEM_DIR is None, reason="shared SRTM tile not present")


def test_multipolygon_holds_exactly_the_true_cells() -> None:
    rng = np.random.default_rng(5)
    mask = rng.random((30, 40)) < 0.4
    mask[10:20, 10:20] = True
    mask[13:17, 13:17] = False  # a hole
    lat, lon = np.linspace(40.0, 41.0, 30), np.linspace(10.0, 12.0, 40)
    polys = mask2multipolygon(mask, lat, lon)
    LON, LAT = np.meshgrid(lon, lat)
    pts = np.column_stack([LON.ravel(), LAT.ravel()])
    inside = np.zeros(pts.shape[0], dtype=bool)
    for rings in polys:
        r = MplPath(np.asarray(rings[0])).contains_points(pts)
        for hole in rings[1:]:
            r &= ~MplPath(np.asarray(hole)).contains_points(pts)
        inside |= r
    np.testing.assert_array_equal(inside.reshape(mask.shape), mask)
    assert mask2multipolygon(np.zeros((3, 3), dtype=bool), lat[:3], lon[:3]) == []


@needs_dem
def test_write_coverage_files(tmp_path: Path) -> None:
    text = MOUNTAINS.read_text()
    assert "dem_dir: ../../shared/data/dem" in text
    scenario = tmp_path / "mountains.yaml"
    scenario.write_text(text.replace("../../shared/data/dem", str(DEM_DIR)))
    sc = load_scenario(scenario)
    cov = compute(sc, scenario_path=scenario, layers_m=(50.0, 1000.0), cell_km=2.0)
    files = write_coverage(tmp_path, cov, sc)
    assert [f.name for f in files] == ["coverage.json", "coverage.geojson",
                                       "coverage_50m.png", "coverage_1km.png"]  # fmt: skip
    gj = json.loads((tmp_path / "coverage.geojson").read_text())
    kinds = [(f["properties"]["layer"], f["properties"]["kind"], f["properties"]["partner"])
             for f in gj["features"]]  # fmt: skip
    assert len(kinds) == 2 * (2 + 3)  # alliance, gaps and the three partners per layer
    s = json.loads((tmp_path / "coverage.json").read_text())
    assert s["roles"]["P3"] == "receive_only"
    lay = s["layers"]["1km"]
    assert lay["partners_km2"]["P3"] == 0.0
    assert lay["alliance_km2"] <= lay["partners_km2"]["P1"] + lay["partners_km2"]["P2"]
    assert lay["alliance_km2"] >= max(lay["partners_km2"].values())
    assert lay["alliance_km2"] + lay["gaps_km2"] >= lay["region_km2"] * 0.99
    assert s["layers"]["50m"]["alliance_km2"] < lay["alliance_km2"]  # terrain hides low


def test_cli_coverage_bad_layers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", str(ROOT / "scenarios" / "small.yaml"), "--layers", "50,x"]) == 2
    assert "--layers" in capsys.readouterr().err
