"""Fire-unit types: defaults, overrides and the errors that name the unit and field."""

from __future__ import annotations

import pytest

from mead.engage.policy import decode_engagement_policy
from mead.engage.units import DEFAULTS, UnitTable, unit_class
from mead.errors import ConfigError
from mead.scenario import Scenario, decode_yaml

BASE = (
    "name: t\npartners:\n  - name: P1\n    fire_units:\n"
    "      - {id: u1, type: TYPE, site: {lat_deg: 31, lon_deg: 35}PARAMS}\n"
)


def scenario(type_: str = "lower_tier", params: str = "") -> Scenario:
    return decode_yaml(BASE.replace("TYPE", type_).replace("PARAMS", params), Scenario)


@pytest.mark.parametrize("type_", sorted(DEFAULTS))
def test_every_type_has_a_consistent_envelope(type_: str) -> None:
    c = unit_class(scenario(type_).partners[0].fire_units[0])
    assert c.min_range_m < c.max_range_m and c.min_alt_m < c.max_alt_m
    assert c.speed_mps > 0 and c.rounds > 0 and 0 < max(c.pk.values()) <= 1


def test_overrides_apply_in_si_units() -> None:
    sc = scenario(params=", params: {max_range_km: 40, pk: {drone: 0.5}, launchers: 2}")
    t = UnitTable.of_scenario(sc)
    assert t.max_range_m[0] == 40_000.0 and t.pk[0, 3] == 0.5 and t.pk[0, 0] == 0.0
    assert t.classes[0].launchers == 2 and t.owners == ["P1"]


BAD = [
    (None, "laser", "", "Invalid enum value 'laser'", "fire_units[0].type"),
    (None, "lower_tier", ", params: {speed_mps: -1}", "> 0.0", "params.speed_mps"),
    (None, "lower_tier", ", params: {pk: {drone: 1.5}}", "<= 1.0", "params.pk"),
    (None, "lower_tier", ", params: {rnage_km: 3}", "unknown field `rnage_km`", "params"),
    (None, "lower_tier", ", params: {pk: {plane: 0.5}}", "Invalid enum value 'plane'", "pk"),
]


@pytest.mark.parametrize(("_", "type_", "params", "text", "field"), BAD)
def test_bad_fire_units_name_the_field(_: object, type_: str, params: str, text: str,
                                       field: str) -> None:  # fmt: skip
    with pytest.raises(ConfigError) as e:
        scenario(type_, params)
    assert text in str(e.value) and field in str(e.value)


def test_duplicate_unit_ids_are_refused() -> None:
    text = BASE.replace("TYPE", "upper_tier").replace("PARAMS", "")
    text += "      - {id: u1, type: short_range, site: {lat_deg: 31, lon_deg: 35}}\n"
    with pytest.raises(ConfigError, match=r"fire_units\[\]\.id must be unique"):
        decode_yaml(text, Scenario)


def test_an_override_that_inverts_the_envelope_names_the_unit() -> None:
    sc = scenario(params=", params: {max_range_km: 2}")  # the default minimum is 3 km
    with pytest.raises(ConfigError, match=r"fire unit 'u1'.*min_range_km \(3\) must be below"):
        UnitTable.of_scenario(sc)


def test_engagement_policy_decisions() -> None:
    pol = decode_engagement_policy(
        "partner: P1\nhelp_areas: [Amman]\nhold_classes: [rocket]\n"
        "hold_regions: [{circle: {lat_deg: 31.0, lon_deg: 35.0, radius_km: 20}}]\n"
    )
    import numpy as np

    from mead import geo

    far = tuple(geo.geodetic2ecef(np.array([33.0]), np.array([36.0]), np.zeros(1))[0])
    near = tuple(geo.geodetic2ecef(np.array([31.05]), np.array([35.0]), np.zeros(1))[0])
    assert pol.decide("drone", "Amman", False, far) == ""
    assert pol.decide("drone", "Haifa", False, far) == "policy: area Haifa not helped"
    assert pol.decide("rocket", "Own", True, far) == "policy: hold fire on rocket"
    assert pol.decide("drone", "Own", True, near) == "policy: hold region 0"
    with pytest.raises(ConfigError, match="defend_own"):
        decode_engagement_policy("partner: P1\ndefend_own: maybe\n", "e.yaml")
