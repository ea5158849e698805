"""What-if variants: removing the only radar that sees the drones leaves them unwarned."""

from __future__ import annotations

from pathlib import Path

import pytest

from mead.coverage import compute
from mead.errors import ConfigError
from mead.metrics.campaign import run_seed
from mead.metrics.whatif import compare, load_partner, variant
from mead.scenario import load_scenario

TINY = Path(__file__).parents[1] / "data" / "scenarios" / "tiny.yaml"


def test_removing_the_only_radar_on_the_drone_route_drops_their_warnings_to_zero() -> None:
    sc = load_scenario(TINY)
    var = variant(sc, remove_radar="P2-S1")
    assert [s.id for p in var.partners for s in p.sensors] == ["P1-EW1"]
    base, after = run_seed(sc, TINY, 1, jobs=2), run_seed(var, TINY, 1, jobs=2)
    assert base["classes"]["drone"]["warned"]["alliance"] >= 2
    assert after["classes"]["drone"]["warned"]["alliance"] == 0
    assert after["areas"]["Town"]["alliance"]["warned"] == 0  # only drones aim at Town
    # the ballistic missiles are still seen by P1's early-warning radar, and warned
    assert after["classes"]["ballistic"]["warned"]["alliance"] >= 1
    assert after["roles"]["P2"] == "receive_only"


def test_remove_partner_takes_its_areas_and_their_threats() -> None:
    sc = load_scenario(TINY)
    var = variant(sc, remove_partner="P3")
    assert [p.name for p in var.partners] == ["P1", "P2"]
    assert [a.name for a in var.defended_areas] == ["Capital"]
    assert [r.targets for r in var.raids] == [["Capital"], ["Capital"]]


def test_add_partner_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "p4.yaml"
    f.write_text("name: P4\nsensors:\n  - {id: P4-S1, site: {lat_deg: 32.0, lon_deg: 36.0}}\n")
    var = variant(load_scenario(TINY), add_partner=load_partner(f))
    assert var.partner("P4").sensors[0].id == "P4-S1"
    f.write_text("name: P1\n")
    with pytest.raises(ConfigError, match="partners"):
        variant(load_scenario(TINY), add_partner=load_partner(f))  # name taken
    f.write_text("name: P9\nsensors: [{id: X, site: {lat_deg: 95, lon_deg: 0}}]\n")
    with pytest.raises(ConfigError, match=r"lat_deg"):
        load_partner(f)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"remove_radar": "R9"}, "no radar 'R9'"), ({"remove_partner": "P9"}, "no partner 'P9'"),
     ({}, "exactly one")],
)  # fmt: skip
def test_bad_changes_name_what_is_wrong(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        variant(load_scenario(TINY), **change)


def test_compare_reports_changes() -> None:
    cov = {"layers": {"50m": {"alliance_km2": 10.0, "gaps_km2": 5.0}}}
    agg = [{"mode": "alliance", "group": "area", "name": "A", "threats": 2.0, "warned": 2.0,
            "mean_warning_s": 100.0}]  # fmt: skip
    var = [{**agg[0], "warned": 0.0, "mean_warning_s": 0.0}]
    c = compare(cov, {"layers": {"50m": {"alliance_km2": 4.0, "gaps_km2": 11.0}}}, agg, var)
    assert c["layers"]["50m"]["alliance_km2"]["change"] == -6.0
    assert c["layers"]["50m"]["gaps_km2"]["change"] == 6.0
    assert c["warnings"]["area:A"]["warned"] == {"base": 2.0, "variant": 0.0, "change": -2.0}


def test_coverage_of_both_on_one_region_moves_lost_area_into_the_gaps() -> None:
    sc = load_scenario(TINY)
    var = variant(sc, remove_radar="P2-S1")
    kw = {"scenario_path": TINY, "layers_m": (300.0,), "cell_km": 10.0, "watch": sc}
    base, after = (compute(s, **kw).areas_km2()["300m"] for s in (sc, var))  # type: ignore[arg-type]
    assert base["region_km2"] == after["region_km2"]
    lost = base["alliance_km2"] - after["alliance_km2"]
    assert lost > 1_000.0
    assert after["gaps_km2"] - base["gaps_km2"] == pytest.approx(lost, rel=0.02)
