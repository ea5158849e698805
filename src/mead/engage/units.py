"""Fire-unit types and their public-figure defaults, and a scenario's units as arrays.

The figures are round public numbers for four classes of system, good enough to plan
against an air picture, not for engineering (sources: manufacturers' brochures, US DoD
budget justification books FY2023–24, CSIS Missile Threat):

- ``upper_tier``, exo-atmospheric / high endo ballistic-missile defence (THAAD / Arrow-3
  class): intercepts at 40–150 km altitude out to ~200 km, hit-to-kill interceptor at
  ~2,800 m/s (Mach 8), 6 launchers × 8 rounds, one reload, ~$12.7 M per interceptor
  (THAAD, FY2023); engages ballistic missiles only;
- ``lower_tier``, endo-atmospheric (Patriot PAC-3 MSE / David's Sling class): 3–60 km,
  50 m – 24 km altitude, ~1,500 m/s, 6 launchers × 12 rounds (MSE), reload about an hour,
  ~$4.1 M (PAC-3 MSE, FY2024); engages every threat class;
- ``short_range``, rocket / drone defence (Iron Dome class): 4–70 km, up to 10 km
  altitude, ~700 m/s (Mach 2), 3 launchers × 20 rounds, ~$50 k per interceptor;
  rockets, drones and cruise missiles;
- ``air_patrol``, a combat air patrol (two fighters with AIM-120 / AIM-9X) on a station:
  reaches 300 km from the station at an effective ~300 m/s (transit and missile), 2 × 6
  missiles, back to base to rearm in ~1.5 h, ~$1.1 M per missile (AIM-120D); drones and
  cruise missiles only.

Single-shot kill probabilities are the round 0.8–0.9 planners use for such systems
against the classes they are built for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mead import geo
from mead.errors import ConfigError
from mead.scenario.schema import FireUnit, Scenario
from mead.types import Array, Positions

THREAT_KINDS: tuple[str, ...] = ("ballistic", "rocket", "cruise", "drone")
"""Threat classes in the order of the columns of ``UnitTable.pk`` (and the first four
``mead.messages.TRACK_CLASSES``)."""


@dataclass(frozen=True)
class UnitClass:
    """A fire-unit type's figures, SI units."""

    type: str
    min_range_m: float  # closest intercept, slant range from the site
    max_range_m: float  # farthest intercept
    min_alt_m: float  # lowest intercept altitude
    max_alt_m: float  # highest intercept altitude
    speed_mps: float  # mean interceptor fly-out speed
    launchers: int
    rounds_per_launcher: int
    reloads: int  # reloads per launcher held by the unit
    reload_s: float  # time to reload an empty launcher
    channels: int  # engagements the unit can guide at once
    reaction_s: float  # from the decision to the launch
    basket_m: float  # the interceptor's seeker acquires a threat within this of its aim
    cost_usd: float  # per interceptor
    pk: dict[str, float]  # single-shot kill probability per threat class (0: may not engage)

    @property
    def rounds(self) -> int:
        """All the rounds the unit holds: loaded and in reserve."""
        return self.launchers * self.rounds_per_launcher * (1 + self.reloads)


UPPER_TIER = UnitClass(
    "upper_tier", 30e3, 200e3, 40e3, 150e3, 2_800.0, 6, 8, 1, 1_800.0, 12, 10.0, 10e3,
    12.7e6, {"ballistic": 0.85},
)  # fmt: skip
LOWER_TIER = UnitClass(
    "lower_tier", 3e3, 60e3, 50.0, 24e3, 1_500.0, 6, 12, 1, 3_600.0, 9, 9.0, 3e3,
    4.1e6, {"ballistic": 0.8, "rocket": 0.8, "cruise": 0.9, "drone": 0.9},
)  # fmt: skip
SHORT_RANGE = UnitClass(
    "short_range", 4e3, 70e3, 0.0, 10e3, 700.0, 3, 20, 2, 900.0, 20, 5.0, 2e3,
    5e4, {"rocket": 0.9, "cruise": 0.8, "drone": 0.85},
)  # fmt: skip
AIR_PATROL = UnitClass(
    "air_patrol", 0.0, 300e3, 30.0, 15e3, 300.0, 2, 6, 2, 5_400.0, 2, 30.0, 20e3,
    1.1e6, {"cruise": 0.8, "drone": 0.9},
)  # fmt: skip

DEFAULTS: dict[str, UnitClass] = {
    c.type: c for c in (UPPER_TIER, LOWER_TIER, SHORT_RANGE, AIR_PATROL)
}

_KM = {"min_range_km": "min_range_m", "max_range_km": "max_range_m", "min_alt_km": "min_alt_m",
       "max_alt_km": "max_alt_m", "basket_km": "basket_m"}  # fmt: skip


def unit_class(unit: FireUnit) -> UnitClass:
    """The defaults of ``unit.type`` with the unit's overrides applied (km → m).

    Raises ``ConfigError`` naming the unit when an override leaves a minimum at or above
    its maximum.
    """
    base = DEFAULTS[unit.type]
    over: dict[str, object] = {}
    for name in unit.params.__struct_fields__:
        v = getattr(unit.params, name)
        if v is None:
            continue
        if name in _KM:
            over[_KM[name]] = float(v) * 1e3
        elif name == "pk":
            over["pk"] = dict(v)
        else:
            over[name] = v
    c = dataclasses.replace(base, **over)  # type: ignore[arg-type]
    for lo, hi in (("min_range_m", "max_range_m"), ("min_alt_m", "max_alt_m")):
        if getattr(c, lo) >= getattr(c, hi):
            raise ConfigError(
                f"fire unit {unit.id!r}",
                f"{lo.replace('_m', '_km')} ({getattr(c, lo) / 1e3:g}) must be below "
                f"{hi.replace('_m', '_km')} ({getattr(c, hi) / 1e3:g})",
                "params",
            )
    return c


@dataclass(frozen=True)
class UnitTable:
    """U fire units as arrays, for the window and assignment kernels."""

    ids: list[str]  # (U,) unit ids
    owners: list[str]  # (U,) owning partner pseudonyms
    classes: list[UnitClass]  # (U,)
    site: Positions  # (U, 3) ECEF, m
    lat_deg: Array  # (U,)
    lon_deg: Array  # (U,)
    min_range_m: Array  # (U,)
    max_range_m: Array
    min_alt_m: Array
    max_alt_m: Array
    speed_mps: Array
    reaction_s: Array
    basket_m: Array
    cost_usd: Array
    pk: Array  # (U, 4) single-shot kill probability per class of ``THREAT_KINDS``

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, unit_id: str) -> int:
        """Row of ``unit_id``."""
        return self.ids.index(unit_id)

    def subset(self, rows: Sequence[int]) -> UnitTable:
        """The table restricted to ``rows``."""
        r = np.asarray(rows, dtype=np.intp)
        kw: dict[str, object] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[r] if isinstance(v, np.ndarray) else [v[i] for i in r.tolist()]
        return UnitTable(**kw)  # type: ignore[arg-type]

    @staticmethod
    def build(units: Sequence[tuple[str, FireUnit]]) -> UnitTable:
        """A table of (owner, unit) pairs."""
        cls = [unit_class(u) for _, u in units]
        lat = np.array([u.site.lat_deg for _, u in units], dtype=np.float64)
        lon = np.array([u.site.lon_deg for _, u in units], dtype=np.float64)
        alt = np.array([u.site.alt_m for _, u in units], dtype=np.float64)

        def col(name: str) -> Array:
            return np.array([getattr(c, name) for c in cls], dtype=np.float64)

        return UnitTable(
            ids=[u.id for _, u in units],
            owners=[o for o, _ in units],
            classes=cls,
            site=geo.geodetic2ecef(lat, lon, alt).reshape(len(units), 3),
            lat_deg=lat,
            lon_deg=lon,
            min_range_m=col("min_range_m"),
            max_range_m=col("max_range_m"),
            min_alt_m=col("min_alt_m"),
            max_alt_m=col("max_alt_m"),
            speed_mps=col("speed_mps"),
            reaction_s=col("reaction_s"),
            basket_m=col("basket_m"),
            cost_usd=col("cost_usd"),
            pk=np.array(
                [[c.pk.get(k, 0.0) for k in THREAT_KINDS] for c in cls], dtype=np.float64
            ).reshape(len(units), len(THREAT_KINDS)),
        )

    @staticmethod
    def of_scenario(sc: Scenario, owner: str | None = None) -> UnitTable:
        """Every fire unit of ``sc`` (or only ``owner``'s)."""
        return UnitTable.build(
            [(p.name, u) for p in sc.partners if owner in (None, p.name) for u in p.fire_units]
        )
