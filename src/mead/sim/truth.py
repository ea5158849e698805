"""Truth motion of a whole scenario: every raid and civil flight as one ``TruthTable``.

Random draws (launch points, aim points, airport pairs, flight levels, departures) are
made in scenario order from one generator, so a seed fixes the whole truth. All ballistic
and rocket raids are aimed and flown in one batch (``sim/launch.py``); cruise missiles,
drones and airliners fly their routes (``sim/airbreathing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.errors import ConfigError
from mead.geo import destination, geodetic2ecef, great_circle_distance_m, point_in_polygon
from mead.scenario.schema import Circle, DefendedArea, Raid, Scenario
from mead.sim.airbreathing import fly_routes
from mead.sim.base import TruthTable
from mead.sim.launch import fly_missiles
from mead.sim.threats import airliner_class, ballistic_class, flight_class
from mead.types import Array, Positions

FLIGHT_LEVEL_M = 304.8  # 1,000 ft between civil flight levels
LEVEL_OFFSETS = 2  # civil cruise level drawn from ±this many flight levels


@dataclass(frozen=True)
class _Draw:
    """The random choices of one raid, in launch order."""

    raid: Raid
    launch: Array  # (n, 2) [lat, lon] deg
    aim: Array  # (n, 2) [lat, lon] deg
    t_launch: Array  # (n,) scenario s


def disc_points(rng: np.random.Generator, circle: Circle, n: int) -> Array:
    """n points (n, 2) [lat, lon] deg uniform over a circle's disc (on the mean sphere)."""
    r = circle.radius_km * 1e3 * np.sqrt(rng.random(n))
    lat, lon = destination(circle.lat_deg, circle.lon_deg, 360.0 * rng.random(n), r)
    return np.stack([np.atleast_1d(lat), np.atleast_1d(lon)], axis=1)


def area_points(rng: np.random.Generator, area: DefendedArea, n: int) -> Array:
    """n points (n, 2) [lat, lon] deg uniform over a defended area (circle or polygon)."""
    if area.circle is not None:
        return disc_points(rng, area.circle, n)
    poly = np.asarray(area.polygon, np.float64)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    found = np.empty((0, 2))
    for _ in range(50):
        cand = lo + (hi - lo) * rng.random((max(2 * n, 16), 2))
        found = np.concatenate([found, cand[point_in_polygon(cand[:, 0], cand[:, 1], poly)]])
        if len(found) >= n:
            return found[:n]
    return np.repeat(poly.mean(axis=0)[None, :], n, axis=0)  # degenerate polygon


def _draw_raid(rng: np.random.Generator, raid: Raid, areas: dict[str, DefendedArea]) -> _Draw:
    """Launch points, aim points and launch times of one raid."""
    launch = disc_points(rng, raid.launch, raid.count)
    aim = np.empty((raid.count, 2))
    which = np.arange(raid.count) % len(raid.targets)
    for j, name in enumerate(raid.targets):
        rows = np.flatnonzero(which == j)
        if rows.size:
            aim[rows] = area_points(rng, areas[name], rows.size)
    t = raid.first_launch_s + raid.spacing_s * np.arange(raid.count, dtype=np.float64)
    return _Draw(raid, launch, aim, t)


def _ids(d: _Draw) -> list[str]:
    return [f"{d.raid.name}-{i:03d}" for i in range(d.raid.count)]


def _targets(d: _Draw) -> list[str]:
    return [d.raid.targets[i % len(d.raid.targets)] for i in range(d.raid.count)]


def _table(
    ids: list[str],
    kind: str,
    raid: list[str],
    rcs: Array,
    t0: Array,
    t_flight: Array,
    target: list[str],
    end: Array,
    dt: Array,
    count: np.ndarray,
    samples: Array,
) -> TruthTable:
    """A TruthTable of one family from per-object arrays."""
    n = len(ids)
    count = np.asarray(count, np.int64)
    return TruthTable(
        ids,
        np.full(n, kind, dtype="<U9"),
        raid,
        np.broadcast_to(rcs, (n,)) * 1.0,
        np.asarray(t0, np.float64),
        t0 + t_flight,
        target,
        end[:, :3].copy(),
        np.asarray(dt, np.float64),
        np.cumsum(count) - count,
        count,
        samples,
    )


def concat_tables(parts: list[TruthTable]) -> TruthTable:
    """One TruthTable holding the objects of ``parts`` in order."""
    if not parts:
        return TruthTable(
            [],
            np.empty(0, "<U9"),
            [],
            np.empty(0),
            np.empty(0),
            np.empty(0),
            [],
            np.empty((0, 3)),
            np.empty(0),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, 6)),
        )
    count = np.concatenate([p.count for p in parts])
    return TruthTable(
        [i for p in parts for i in p.ids],
        np.concatenate([p.kind for p in parts]),
        [r for p in parts for r in p.raid],
        np.concatenate([p.rcs_m2 for p in parts]),
        np.concatenate([p.t_start for p in parts]),
        np.concatenate([p.t_end for p in parts]),
        [a for p in parts for a in p.target_area],
        np.concatenate([p.impact_ecef for p in parts]),
        np.concatenate([p.dt for p in parts]),
        np.cumsum(count) - count,
        count,
        np.concatenate([p.samples for p in parts]),
    )


def _missile_tables(draws: list[_Draw], scenario: Scenario) -> dict[str, TruthTable]:
    """Aim and fly every ballistic and rocket raid in one batch; one table per raid."""
    classes = [ballistic_class(d.raid) for d in draws]
    launch = np.concatenate([d.launch for d in draws])
    aim = np.concatenate([d.aim for d in draws])
    rng_m = great_circle_distance_m(launch[:, 0], launch[:, 1], aim[:, 0], aim[:, 1])
    per = [d.raid.count for d in draws]
    gamma = np.repeat([c.gamma_deg for c in classes], per)
    beta = np.repeat([c.beta_kg_m2 for c in classes], per)
    dt = np.repeat([c.dt_s for c in classes], per)
    lo = np.cumsum(per) - per
    burn = np.concatenate(
        [c.burn_for(rng_m[a : a + k]) for c, a, k in zip(classes, lo, per, strict=True)]
    )
    labels = [i for d in draws for i in _ids(d)]
    try:
        f = fly_missiles(
            launch[:, 0],
            launch[:, 1],
            aim[:, 0],
            aim[:, 1],
            gamma,
            burn,
            beta,
            dt_s=dt,
            labels=labels,
        )
    except ValueError as e:
        raise ConfigError(f"scenario {scenario.name!r}", str(e), "$.raids") from None
    first = np.cumsum(f.count) - f.count
    out = {}
    for d, c, a, k in zip(draws, classes, lo, per, strict=True):
        rows = slice(a, a + k)
        s0, s1 = first[a], first[a + k - 1] + f.count[a + k - 1]
        out[d.raid.name] = _table(
            _ids(d),
            c.kind,
            [d.raid.name] * k,
            np.asarray(c.rcs_m2),
            d.t_launch,
            f.t_flight_s[rows],
            _targets(d),
            f.impact[rows],
            f.dt[rows],
            f.count[rows],
            f.samples[s0:s1],
        )
    return out


def _flight_table(d: _Draw) -> TruthTable:
    """Fly one cruise-missile or drone raid along launch → via… → aim routes."""
    cls = flight_class(d.raid)
    via = np.asarray(d.raid.via, np.float64).reshape(-1, 2)
    n = d.raid.count
    pts = np.concatenate(
        [d.launch[:, None], np.broadcast_to(via, (n, len(via), 2)), d.aim[:, None]], axis=1
    )
    f = fly_routes(pts, cls)
    return _table(
        _ids(d),
        cls.kind,
        [d.raid.name] * n,
        np.asarray(cls.rcs_m2),
        d.t_launch,
        f.t_flight_s,
        _targets(d),
        f.end,
        f.dt,
        f.count,
        f.samples,
    )


def _civil_table(rng: np.random.Generator, scenario: Scenario) -> tuple[TruthTable, Positions]:
    """Civil flights between random airport pairs; → table and destination ECEF (F, 3)."""
    civ = scenario.civil
    ap = np.array([[a.lat_deg, a.lon_deg] for a in civ.airports]).reshape(-1, 2)
    d = great_circle_distance_m(ap[:, None, 0], ap[:, None, 1], ap[None, :, 0], ap[None, :, 1])
    pairs = np.flatnonzero(d >= max(civ.min_distance_km * 1e3, 1.0))
    if pairs.size == 0:
        longest = d.max() / 1e3 if d.size else 0.0
        raise ConfigError(
            f"scenario {scenario.name!r}",
            f"no airport pair is at least min_distance_km={civ.min_distance_km:g} "
            f"apart (longest pair: {longest:.0f} km)",
            "$.civil.min_distance_km",
        )
    orig, dest = np.divmod(pairs[rng.integers(pairs.size, size=civ.flights)], len(ap))
    cls = airliner_class(civ)
    level = rng.integers(-LEVEL_OFFSETS, LEVEL_OFFSETS + 1, size=civ.flights) * FLIGHT_LEVEL_M
    top = np.maximum(civ.cruise_alt_m + level, 0.5 * civ.cruise_alt_m)
    f = fly_routes(np.stack([ap[orig], ap[dest]], axis=1), cls, top)
    depart = rng.uniform(-f.t_flight_s, scenario.duration_s)
    ids = [f"civil-{i:04d}" for i in range(civ.flights)]
    table = _table(
        ids,
        "aircraft",
        ["civil"] * civ.flights,
        np.asarray(cls.rcs_m2),
        depart,
        f.t_flight_s,
        [""] * civ.flights,
        f.end,
        f.dt,
        f.count,
        f.samples,
    )
    return table, geodetic2ecef(ap[dest, 0], ap[dest, 1], 0.0).reshape(-1, 3)


def _draw_movements(
    rng: np.random.Generator, scenario: Scenario
) -> tuple[np.ndarray, np.ndarray, Array, np.ndarray]:
    """Origin, destination airport indices (F,), event times (F,) s and departure flags (F,).

    An airport with ``movements_per_hour`` m has round(m · duration / 3600) movements, one
    in each slot of 3600 / m s at a uniform time within it; each is a departure or an
    arrival with even odds, to or from another airport drawn uniformly. The event time is
    the take-off of a departure and the touchdown of an arrival.
    """
    aps = scenario.civil.airports
    orig, dest, when, dep = [], [], [], []
    for hub, a in enumerate(aps):
        if a.movements_per_hour <= 0.0:
            continue
        slot = 3600.0 / a.movements_per_hour
        n = int(round(scenario.duration_s / slot))
        t = slot * (np.arange(n) + rng.random(n))
        other = rng.integers(len(aps) - 1, size=n)
        other = other + (other >= hub)  # any airport but the hub
        departs = rng.random(n) < 0.5
        orig.append(np.where(departs, hub, other))
        dest.append(np.where(departs, other, hub))
        when.append(t)
        dep.append(departs)
    if not when:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, bool)
    cat = np.concatenate
    return cat(orig), cat(dest), cat(when), cat(dep)


def _movements_table(rng: np.random.Generator, scenario: Scenario) -> tuple[TruthTable, Positions]:
    """Departures from and arrivals at busy airports; → table and destination ECEF (F, 3).

    Ids continue the civil numbering after ``civil.flights``. Drawn after the random-pair
    flights, so a scenario without ``movements_per_hour`` keeps its truth.
    """
    civ = scenario.civil
    ap = np.array([[a.lat_deg, a.lon_deg] for a in civ.airports]).reshape(-1, 2)
    orig, dest, when, departs = _draw_movements(rng, scenario)
    n = orig.size
    cls = airliner_class(civ)
    level = rng.integers(-LEVEL_OFFSETS, LEVEL_OFFSETS + 1, size=n) * FLIGHT_LEVEL_M
    top = np.maximum(civ.cruise_alt_m + level, 0.5 * civ.cruise_alt_m)
    f = fly_routes(np.stack([ap[orig], ap[dest]], axis=1), cls, top)
    depart = np.where(departs, when, when - f.t_flight_s)
    ids = [f"civil-{civ.flights + i:04d}" for i in range(n)]
    table = _table(
        ids,
        "aircraft",
        ["civil"] * n,
        np.asarray(cls.rcs_m2),
        depart,
        f.t_flight_s,
        [""] * n,
        f.end,
        f.dt,
        f.count,
        f.samples,
    )
    return table, geodetic2ecef(ap[dest, 0], ap[dest, 1], 0.0).reshape(-1, 3)


def simulate_truth_with_aims(
    scenario: Scenario, rng: np.random.Generator
) -> tuple[TruthTable, Positions]:
    """``simulate_truth`` plus each object's aim point (N, 3) ECEF m (civil: destination).

    ``|impact_ecef − aim|`` is then the miss distance of every threat.
    """
    areas = {a.name: a for a in scenario.defended_areas}
    draws = [_draw_raid(rng, r, areas) for r in scenario.raids]
    missiles = [d for d in draws if d.raid.threat in ("ballistic", "rocket")]
    tables = _missile_tables(missiles, scenario) if missiles else {}
    parts, aims = [], []
    for d in draws:
        parts.append(tables[d.raid.name] if d.raid.name in tables else _flight_table(d))
        aims.append(geodetic2ecef(d.aim[:, 0], d.aim[:, 1], 0.0).reshape(-1, 3))
    if scenario.civil.flights > 0:
        civil, dest = _civil_table(rng, scenario)
        parts.append(civil)
        aims.append(dest)
    if any(a.movements_per_hour > 0.0 for a in scenario.civil.airports):
        moves, dest = _movements_table(rng, scenario)
        parts.append(moves)
        aims.append(dest)
    return concat_tables(parts), np.concatenate(aims) if aims else np.empty((0, 3))


def simulate_truth(scenario: Scenario, rng: np.random.Generator) -> TruthTable:
    """Truth trajectories of every raid and civil flight of ``scenario``.

    Objects come in scenario order: raid after raid (ids ``{raid}-{i:03d}``, launch i at
    ``first_launch_s + i·spacing_s``), then civil flights (``civil-{i:04d}``): random airport
    pairs first, then the movements of busy airports (``_draw_movements``). Deterministic
    for a given ``rng`` state. Each object is sampled uniformly from ``t_start`` (launch or
    take-off; civil flights may start before 0, already airborne) to ``t_end`` (impact or
    touchdown, where ``impact_ecef`` lies); the first sample is the launch point and the
    last the end point.
    """
    return simulate_truth_with_aims(scenario, rng)[0]
