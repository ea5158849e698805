"""Threat and traffic classes for truth motion: public-figure defaults and a raid's overrides.

The figures are round public numbers, good enough for an air picture, not for engineering:

- medium-range ballistic missile (Shahab-3 / Ghadr class, 1,000–2,000 km): boost 60–90 s,
  apogee a few hundred km, re-entry vehicle ballistic coefficient ~5,000 kg/m², RCS ~0.5 m²;
- artillery rocket (Grad ~40 km to Fateh-110 ~300 km): boost 2–10 s, RCS ~0.05 m²;
- cruise missile (Paveh / Kh-101 class): ~250 m/s at ~100 m, RCS ~0.1 m²;
- one-way attack drone (Shahed-136 class): 185 km/h = 51 m/s, ~1,000 m, RCS ~0.1 m²;
- airliner: climb ~10 m/s with speed ramping from ~80 m/s, descend ~8 m/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.scenario.schema import Civil, Raid
from mead.types import Array


@dataclass(frozen=True)
class BallisticClass:
    """A threat flown by the powered-launch + ballistic model (``ballistic``, ``rocket``)."""

    kind: str
    gamma_deg: float  # elevation of the fixed thrust direction at launch, deg
    beta_kg_m2: float  # ballistic coefficient m/(Cd·A), kg/m²
    rcs_m2: float  # mean radar cross-section, m²
    burn_s: tuple[float, float]  # boost duration at the short and long end of range_km, s
    range_km: tuple[float, float]  # ground range over which burn_s is interpolated, km
    dt_s: float = 1.0  # nominal sample (and integration) step, s

    def burn_for(self, range_m: Array) -> Array:
        """Boost duration (N,) s for ground ranges (N,) m: linear in range, clamped at the ends."""
        return np.interp(np.asarray(range_m) / 1e3, self.range_km, self.burn_s)


@dataclass(frozen=True)
class FlightClass:
    """An object flown along a waypoint route (cruise missile, drone, airliner)."""

    kind: str
    speed_mps: float  # cruise ground speed, m/s
    altitude_m: float  # cruise height above the WGS84 ellipsoid, m
    start_speed_mps: float  # speed at take-off and touchdown (ramps to speed_mps), m/s
    climb_mps: float  # climb rate after launch / take-off, m/s
    descent_mps: float  # descent (dive) rate towards the end point, m/s
    rcs_m2: float  # mean radar cross-section, m²
    bank_deg: float  # bank angle of the coordinated turns at waypoints, deg
    dt_s: float  # nominal sample spacing, s

    def turn_radius_m(self) -> float:
        """Radius of a coordinated level turn, v²/(g·tan φ), m."""
        return self.speed_mps**2 / (9.80665 * np.tan(np.radians(self.bank_deg)))


BALLISTIC = BallisticClass("ballistic", 45.0, 5_000.0, 0.5, (60.0, 90.0), (1_000.0, 2_000.0))
ROCKET = BallisticClass("rocket", 40.0, 10_000.0, 0.05, (2.0, 10.0), (20.0, 300.0))
CRUISE = FlightClass("cruise", 250.0, 100.0, 250.0, 3.5, 40.0, 0.1, 30.0, 2.0)
DRONE = FlightClass("drone", 51.0, 1_000.0, 51.0, 5.0, 25.0, 0.1, 25.0, 5.0)
AIRLINER = FlightClass("aircraft", 230.0, 10_700.0, 80.0, 10.0, 8.0, 30.0, 25.0, 5.0)

DEFAULTS: dict[str, BallisticClass | FlightClass] = {
    "ballistic": BALLISTIC,
    "rocket": ROCKET,
    "cruise": CRUISE,
    "drone": DRONE,
}


def ballistic_class(raid: Raid) -> BallisticClass:
    """The defaults of ``raid.threat`` (ballistic or rocket) with the raid's overrides applied."""
    base = DEFAULTS[raid.threat]
    if not isinstance(base, BallisticClass):
        raise ValueError(f"raid {raid.name!r}: threat {raid.threat!r} is not ballistic")
    p = raid.params
    burn = base.burn_s if p.burn_s is None else (p.burn_s, p.burn_s)
    return BallisticClass(
        kind=base.kind,
        gamma_deg=base.gamma_deg if p.gamma_deg is None else p.gamma_deg,
        beta_kg_m2=base.beta_kg_m2 if p.ballistic_coeff_kg_m2 is None else p.ballistic_coeff_kg_m2,
        rcs_m2=base.rcs_m2 if p.rcs_m2 is None else p.rcs_m2,
        burn_s=burn,
        range_km=base.range_km,
        dt_s=base.dt_s,
    )


def flight_class(raid: Raid) -> FlightClass:
    """The defaults of ``raid.threat`` (cruise or drone) with the raid's overrides applied."""
    base = DEFAULTS[raid.threat]
    if not isinstance(base, FlightClass):
        raise ValueError(f"raid {raid.name!r}: threat {raid.threat!r} does not fly a route")
    p = raid.params
    speed = base.speed_mps if p.speed_mps is None else p.speed_mps
    return FlightClass(
        kind=base.kind,
        speed_mps=speed,
        altitude_m=base.altitude_m if p.altitude_m is None else p.altitude_m,
        start_speed_mps=speed,
        climb_mps=base.climb_mps,
        descent_mps=base.descent_mps,
        rcs_m2=base.rcs_m2 if p.rcs_m2 is None else p.rcs_m2,
        bank_deg=base.bank_deg,
        dt_s=base.dt_s,
    )


def airliner_class(civil: Civil) -> FlightClass:
    """The airliner class with the scenario's civil cruise level, speeds, rates and RCS."""
    return FlightClass(
        kind=AIRLINER.kind,
        speed_mps=civil.cruise_speed_mps,
        altitude_m=civil.cruise_alt_m,
        start_speed_mps=min(civil.takeoff_speed_mps, civil.cruise_speed_mps),
        climb_mps=civil.climb_mps,
        descent_mps=civil.descent_mps,
        rcs_m2=civil.rcs_m2,
        bank_deg=AIRLINER.bank_deg,
        dt_s=AIRLINER.dt_s,
    )
