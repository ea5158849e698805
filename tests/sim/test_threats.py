"""Threat classes: public-figure defaults, raid overrides and the range-dependent boost."""

from __future__ import annotations

import numpy as np
import pytest

from mead.scenario.schema import Circle, Civil, Raid, ThreatParams
from mead.sim.threats import (
    BALLISTIC,
    DRONE,
    ROCKET,
    airliner_class,
    ballistic_class,
    flight_class,
)


def _raid(threat: str, **params) -> Raid:
    return Raid(
        name="r",
        threat=threat,
        count=1,
        launch=Circle(lat_deg=0, lon_deg=0, radius_km=1),
        targets=["T"],
        params=ThreatParams(**params),
    )


def test_defaults_follow_public_figures() -> None:
    assert DRONE.speed_mps == pytest.approx(185 / 3.6, abs=0.5)
    assert DRONE.turn_radius_m() == pytest.approx(51.0**2 / (9.80665 * np.tan(np.radians(25))))
    np.testing.assert_allclose(
        BALLISTIC.burn_for(np.array([500e3, 1_500e3, 3_000e3])), [60.0, 75.0, 90.0]
    )
    np.testing.assert_allclose(ROCKET.burn_for(np.array([10e3, 160e3, 400e3])), [2, 6, 10])
    assert ballistic_class(_raid("ballistic")) == BALLISTIC
    assert flight_class(_raid("drone")) == DRONE


def test_raid_overrides_replace_defaults() -> None:
    b = ballistic_class(
        _raid("rocket", burn_s=4.0, gamma_deg=30.0, ballistic_coeff_kg_m2=2e3, rcs_m2=0.2)
    )
    assert (b.gamma_deg, b.beta_kg_m2, b.rcs_m2) == (30.0, 2e3, 0.2)
    np.testing.assert_allclose(b.burn_for(np.array([20e3, 300e3])), [4.0, 4.0])
    f = flight_class(_raid("cruise", speed_mps=200.0, altitude_m=30.0, rcs_m2=0.05))
    assert (f.speed_mps, f.start_speed_mps, f.altitude_m, f.rcs_m2) == (200.0, 200.0, 30.0, 0.05)
    a = airliner_class(Civil(cruise_alt_m=9_000.0, cruise_speed_mps=200.0, rcs_m2=20.0))
    assert (a.altitude_m, a.speed_mps, a.rcs_m2, a.start_speed_mps) == (9e3, 200.0, 20.0, 80.0)


def test_wrong_family_is_named() -> None:
    with pytest.raises(ValueError, match="not ballistic"):
        ballistic_class(_raid("drone"))
    with pytest.raises(ValueError, match="does not fly a route"):
        flight_class(_raid("rocket"))
