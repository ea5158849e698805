"""Scenario loading: every built-in scenario loads; every kind of bad file names file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mead.errors import ConfigError
from mead.scenario import Scenario, decode_yaml, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SENSOR = "{id: r1, site: {lat_deg: 31, lon_deg: 35}"
MINIMAL = f"name: t\npartners: [{{name: P1, sensors: [{SENSOR}}}]}}]\n"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=str)
def test_every_builtin_scenario_loads(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.partners and sc.duration_s > 0


def test_minimal_scenario_defaults() -> None:
    sc = decode_yaml(MINIMAL, Scenario)
    assert sc.coordinator.name == "C0"
    assert sc.partners[0].sensors[0].range_km == 400.0
    assert sc.partners[0].sensors[0].sigma_range_rate_mps is None  # no range rate by default
    assert sc.start_epoch_s() == 1713038400.0  # 2024-04-13T20:00:00Z


BAD = [
    # (yaml, expected text in the message, expected field path)
    (
        MINIMAL.replace("lat_deg: 31", "lat_deg: 91"),
        "<= 90.0",
        "$.partners[0].sensors[0].site.lat_deg",
    ),
    (MINIMAL.replace("lat_deg: 31", "lat_deg: north"), "Expected `float`", "site.lat_deg"),
    (
        MINIMAL.replace("{id: r1,", "{id: r1, rnage_km: 3,"),
        "unknown field `rnage_km`",
        "$.partners[0].sensors[0]",
    ),
    (
        MINIMAL.replace("{id: r1,", "{id: r1, kind: laser,"),
        "Invalid enum value 'laser'",
        "sensors[0].kind",
    ),
    (MINIMAL.replace("{id: r1,", "{id: r1, scan_s: -1,"), "> 0.0", "sensors[0].scan_s"),
    (
        MINIMAL.replace("{id: r1,", "{id: r1, sigma_range_rate_mps: -2,"),
        "> 0.0",
        "$.partners[0].sensors[0].sigma_range_rate_mps",
    ),
    (
        MINIMAL.replace("{id: r1,", "{id: r1, sigma_range_rate_mps: 0,"),
        "> 0.0",
        "sensors[0].sigma_range_rate_mps",
    ),
    (
        MINIMAL.replace("{id: r1,", "{id: r1, sector: {min_az_deg: 10, max_az_deg: 5},"),
        "max_az_deg (5.0) must exceed min_az_deg (10.0)",
        "sensors[0].sector",
    ),
    ("name: t\n", "missing required field `partners`", ""),
    (MINIMAL + "start_utc: tomorrow\n", "start_utc must be ISO-8601 UTC", ""),
    (
        MINIMAL + "defended_areas: [{name: A, owner: P9, "
        "circle: {lat_deg: 1, lon_deg: 1, radius_km: 1}}]\n",
        "owner 'P9', not a partner (known: P1)",
        "",
    ),
    (
        MINIMAL + "defended_areas: [{name: A, owner: P1}]\n",
        "exactly one of circle or polygon",
        "$.defended_areas[0]",
    ),
    (
        MINIMAL + "raids: [{name: r, threat: drone, count: 1, launch: {lat_deg: 1, lon_deg: 1, "
        "radius_km: 1}, targets: [Nowhere]}]\n",
        "unknown defended area 'Nowhere'",
        "",
    ),
    (
        MINIMAL + "raids: [{name: r, threat: laser, count: 1, launch: {lat_deg: 1, lon_deg: 1, "
        "radius_km: 1}, targets: [X]}]\n",
        "Invalid enum value 'laser'",
        "$.raids[0].threat",
    ),
    (
        MINIMAL.replace("name: P1, sensors", "name: P1, sensors: [], x"),
        "unknown field `x`",
        "$.partners[0]",
    ),
    ("partners: [1, 2", "not valid YAML", ""),
    (
        MINIMAL.replace("P1, sensors", "P1, deception: {offset_east_m: 200000}, sensors"),
        "<= 100000.0",
        "$.partners[0].deception.offset_east_m",
    ),
    (
        MINIMAL.replace("name: P1, sensors", "name: P1, deception: {offset_up_m: x}, sensors"),
        "Expected `float`",
        "$.partners[0].deception.offset_up_m",
    ),
    (
        MINIMAL.replace("name: P1, sensors", "name: P1, deception: {lie: 1}, sensors"),
        "unknown field `lie`",
        "$.partners[0].deception",
    ),
    (
        MINIMAL.replace("name: P1, sensors", "name: P1, deception: {ghost_sigma_m: 0}, sensors"),
        "> 0.0",
        "$.partners[0].deception.ghost_sigma_m",
    ),
    (
        MINIMAL.replace(
            "name: P1, sensors",
            "name: P1, deception: {ghosts: [{name: g, threat: ballistic, count: 1, "
            "launch: {lat_deg: 1, lon_deg: 1, radius_km: 1}, targets: [Nowhere]}]}, sensors",
        ),
        "unknown defended area 'Nowhere'",
        "$.partners[0].deception.ghosts[0].targets",
    ),
    (
        MINIMAL.replace("}]}]", "}]}, {name: P2, deception: {offset_east_m: 5}}]"),
        "partner 'P2' has no sensors",
        "$.partners[1].deception",
    ),
    (
        MINIMAL + "coordinator: {corroborate_s: 0}\n",
        "> 0.0",
        "$.coordinator.corroborate_s",
    ),
]


@pytest.mark.parametrize(("text", "detail", "path"), BAD)
def test_bad_scenarios_name_file_field_and_expectation(text: str, detail: str, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        decode_yaml(text, Scenario, source="bad.yaml")
    msg = str(err.value)
    assert msg.startswith("bad.yaml: ")
    assert detail in msg
    assert path in err.value.path
    assert isinstance(err.value, ValueError)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read file"):
        load_scenario(tmp_path / "nope.yaml")


def test_the_engagement_reference_is_the_reference_with_fire_units() -> None:
    """scenarios/reference_engage.yaml differs from reference.yaml only by its name and the
    partners' fire units, so its engagement figures are about the reference raid."""
    import msgspec

    scen = ROOT / "scenarios"
    ref = msgspec.to_builtins(load_scenario(scen / "reference.yaml"))
    eng = msgspec.to_builtins(load_scenario(scen / "reference_engage.yaml"))
    units = [p.pop("fire_units", []) for p in eng["partners"]]
    assert all(not p.get("fire_units") for p in ref["partners"]) and sum(map(len, units)) >= 10
    for p in ref["partners"]:
        p.pop("fire_units", None)
    assert eng.pop("name") == "reference_engage" and ref.pop("name") == "reference"
    assert eng == ref


@pytest.mark.parametrize(
    ("name", "raids", "shift_s"),
    [
        (
            "reference_ballistic",
            {"ballistic-k", "ballistic-i", "ballistic-t", "rockets-north"},
            32_300.0,
        ),
        ("reference_drones", {"drones-east"}, 9_500.0),
    ],
)
def test_the_reference_slices_are_the_reference_raids_alone(name, raids, shift_s) -> None:  # type: ignore[no-untyped-def]
    """scenarios/reference_ballistic.yaml and reference_drones.yaml are reference.yaml's
    raids named here (the drones fewer of them), each launched ``shift_s`` earlier, with
    fewer civil flights in a shorter run: everything else is the reference."""
    import msgspec

    scen = ROOT / "scenarios"
    ref = msgspec.to_builtins(load_scenario(scen / "reference.yaml"))
    part = msgspec.to_builtins(load_scenario(scen / f"{name}.yaml"))
    kept = [r for r in ref.pop("raids") if r["name"] in raids]
    got = part.pop("raids")
    assert [r["name"] for r in got] == [r["name"] for r in kept] and len(kept) == len(raids)
    for a, b in zip(got, kept, strict=True):
        assert a.pop("count") <= b.pop("count")
        assert a.pop("first_launch_s") == b.pop("first_launch_s") - shift_s
        assert a == b
    assert part.pop("name") == name and ref.pop("name") == "reference"
    assert part.pop("duration_s") < ref.pop("duration_s")
    assert part["civil"].pop("flights") < ref["civil"].pop("flights")
    assert part == ref


def test_the_saturation_raid_is_the_reference_coalition_against_5000_drones() -> None:
    """scenarios/saturation.yaml: reference.yaml's partners, radars, policies and areas (and
    civil traffic, fewer flights in a shorter run) against 5,000 drones launched within an
    hour, and nothing else."""
    import msgspec

    scen = ROOT / "scenarios"
    ref = msgspec.to_builtins(load_scenario(scen / "reference.yaml"))
    sat = msgspec.to_builtins(load_scenario(scen / "saturation.yaml"))
    raids = sat.pop("raids")
    assert {r["threat"] for r in raids} == {"drone"} and sum(r["count"] for r in raids) == 5000
    assert max(r["first_launch_s"] + r["count"] * r["spacing_s"] for r in raids) <= 3600
    targets = {a["name"] for a in ref["defended_areas"]}
    assert all(set(r["targets"]) <= targets for r in raids)
    ref.pop("raids")
    assert sat.pop("name") == "saturation" and ref.pop("name") == "reference"
    assert sat.pop("duration_s") < ref.pop("duration_s")
    assert sat["civil"].pop("flights") < ref["civil"].pop("flights")
    assert sat == ref
