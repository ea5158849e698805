"""A layered defence: long-reach rounds go where no later defender could engage."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.engage.planner import Planner, past_others
from mead.engage.units import UnitTable
from mead.scenario import Scenario, decode_yaml
from mead.threat.base import Threat

T0 = 1_713_038_400.0


def test_a_threat_only_one_unit_reaches_keeps_its_whole_value_for_it() -> None:
    pk = np.array([[0.9, 0.8], [0.9, 0.8]])
    can = np.array([[True, False], [True, True]])
    got = past_others(pk, can, np.array([10, 10]))
    assert got[0, 0] == pytest.approx(1.0)  # nobody else can engage threat 0
    assert got[1] == pytest.approx([1.0 - 0.8, 1.0 - 0.9])  # each leaves it to the other


def test_a_saturated_defender_counts_at_its_share_of_the_threats() -> None:
    """Unit 1 has 1 round for 4 threats it can reach: it stops a quarter of its pk."""
    pk = np.full((4, 2), 0.8)
    can = np.ones((4, 2), bool)
    got = past_others(pk, can, np.array([10, 1]))
    assert got[:, 0] == pytest.approx(1.0 - 0.8 / 4)
    assert got[:, 1] == pytest.approx(1.0 - 0.8)  # unit 0 has rounds for all four
    empty = past_others(pk, can, np.array([10, 0]))
    assert empty[:, 0] == pytest.approx(1.0)  # a unit without rounds defends nothing


def _scenario(defended: bool) -> Scenario:
    """A patrol with one round 300 km east of two areas 145 km apart; X has a short-range
    battery of its own (when ``defended``), which cannot reach Y."""
    battery = (
        "\n    fire_units:\n      - {id: B-SR, type: short_range, "
        "site: {lat_deg: 31.3, lon_deg: 35.0}}"
        if defended
        else ""
    )
    return decode_yaml(
        f"""
name: layers
partners:
  - name: A
    fire_units:
      - {{id: A-CAP, type: air_patrol, site: {{lat_deg: 30.65, lon_deg: 38.0, alt_m: 8000}},
         params: {{launchers: 1, rounds_per_launcher: 1, reloads: 0, channels: 1}}}}
  - name: B{battery}
  - name: C
defended_areas:
  - {{name: X, owner: B, value: 10, circle: {{lat_deg: 31.3, lon_deg: 35.0, radius_km: 10}}}}
  - {{name: Y, owner: C, value: 8, circle: {{lat_deg: 30.0, lon_deg: 35.0, radius_km: 10}}}}
""",
        Scenario,
    )


def _drones(t: float) -> tuple[list[Threat], list[str], np.ndarray]:
    """Two drones 300 km east of X and of Y, flying due west at 51 m/s at 1,000 m: more
    than an hour out, so their last stretch lies beyond the planning horizon."""
    threats, xs = [], []
    for stn, (lat, area, owner, value) in enumerate(
        [(31.3, "X", "B", 10.0), (30.0, "Y", "C", 8.0)], start=1
    ):
        lon = 35.0 + np.degrees(300e3 / (geo.R_MEAN_M * np.cos(np.radians(lat))))
        p = geo.geodetic2ecef(np.array([lat]), np.array([lon]), np.array([1000.0]))[0]
        v = geo.enu_rotation(lat, lon).T @ np.array([-51.0, 0.0, 0.0])
        xs.append(np.r_[p, v])
        threats.append(
            Threat(
                t=t, track_id=str(stn), system_track=stn, area=area, owner=owner,
                threat_class="drone", impact_lat_deg=lat, impact_lon_deg=35.0,
                impact_radius_m=1e3, t_impact=t + 5_900.0, tgo_s=5_900.0, miss_m=0.0,
                track_lat_deg=lat, track_lon_deg=lon, track_alt_m=1000.0, value=value,
            )  # fmt: skip
        )
    return threats, [b.track_id for b in threats], np.stack(xs)


@pytest.mark.parametrize(("defended", "area"), [(True, "Y"), (False, "X")])
def test_the_patrol_s_one_round_goes_where_no_later_defender_waits(
    defended: bool, area: str
) -> None:
    """X is worth more, but its own battery will meet X's drone on its last 70 km: the
    patrol's only round protects more on Y's, which nobody else can engage. Without the
    battery, the patrol takes X's."""
    planner = Planner(UnitTable.of_scenario(_scenario(defended)), method="milp")
    advice = planner.plan(T0, *_drones(T0))
    items = [it for it in advice["A"].items if it.unit == "A-CAP"]
    assert [it.area for it in items] == [area]
