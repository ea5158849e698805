"""Simulation mode: build a coalition for a scenario, drive it on the scenario clock, score it.

``run_scenario`` simulates the truth and every radar scan once, then runs the coalition
twice on those same plots — ``alliance`` (each partner releases under its policy) and
``national`` (nothing leaves any partner) — and hands both to ``mead.metrics`` for the
summary. Both runs are deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

from mead.federation.envelope import Opener
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.federation.policy import Policy, Releaser, load_policy, validate_recipients
from mead.node import CoordinatorNode, PartnerNode, site_table
from mead.scenario.schema import Scenario
from mead.sensors.base import Scan
from mead.sensors.simulate import simulate_scans
from mead.sim.base import TruthTable
from mead.sim.truth import simulate_truth
from mead.tracking.tracker import Tracker

Mode = Literal["alliance", "national"]
MODES: tuple[Mode, ...] = ("alliance", "national")
TRACK_GATE_M = 25_000.0
"""A track counts as holding a truth object when its position is within this distance."""


@dataclass
class World:
    """What both runs share: the scenario, its truth and every scan of every radar."""

    scenario: Scenario
    scenario_path: Path | None
    seed: int
    truth: TruthTable
    scans: list[Scan]
    prepare_s: float


@dataclass
class ModeResult:
    """Everything one run produced, for scoring: events, tracked truth, counters, timing."""

    mode: Mode
    events: list[dict[str, Any]] = field(default_factory=list)
    tracked_by: dict[str, np.ndarray] = field(default_factory=dict)  # node → (N,) first t or NaN
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = 0.0


def prepare(scenario: Scenario, seed: int, scenario_path: Path | None = None) -> World:
    """Simulate truth and all radar scans once (independent random streams per stage)."""
    t0 = time.perf_counter()
    truth_ss, sensor_ss = np.random.SeedSequence(seed).spawn(2)
    truth = simulate_truth(scenario, np.random.default_rng(truth_ss))
    scans = simulate_scans(scenario, truth, np.random.default_rng(sensor_ss))
    return World(scenario, scenario_path, seed, truth, scans, time.perf_counter() - t0)


class SimClock:
    """The scenario clock: wire time (UTC s) = scenario start + scenario seconds."""

    def __init__(self, epoch_s: float) -> None:
        self.epoch_s, self.t = epoch_s, 0.0

    def __call__(self) -> float:
        return self.epoch_s + self.t


class TruthMatcher:
    """Scoring hook: which truth object each node's tracks hold, and since when."""

    def __init__(self, truth: TruthTable, epoch_s: float) -> None:
        self.truth, self.epoch_s = truth, epoch_s
        self.first: dict[str, np.ndarray] = {}

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        if not ids:
            return
        t = t_wire - self.epoch_s
        alive, states = self.truth.states_at(t)
        if alive.size == 0:
            return
        d, k = cKDTree(states[:, :3]).query(x[:, :3], distance_upper_bound=TRACK_GATE_M)
        held = alive[k[np.isfinite(d)]]
        first = self.first.setdefault(node, np.full(len(self.truth), np.nan))
        new = held[np.isnan(first[held])]
        first[new] = t


def identities(scenario: Scenario, seed: int) -> dict[str, Identity]:
    """A deterministic Ed25519 identity per node (simulation only; live nodes load keys)."""
    names = [p.name for p in scenario.partners] + [scenario.coordinator.name]
    return {
        n: Identity.generate(n, seed=hashlib.sha256(f"{seed}:{n}".encode()).digest())
        for n in names
    }


def policies(sc: Scenario, scenario_path: Path | None, mode: Mode) -> dict[str, Policy]:
    """Each partner's releasability policy; in national mode nobody releases anything.

    Policy paths are relative to the scenario file; recipients must be known nodes.
    """
    known = {p.name for p in sc.partners} | {sc.coordinator.name}
    out: dict[str, Policy] = {}
    for p in sc.partners:
        if mode == "national":
            out[p.name] = Policy.nothing(p.name)
        elif p.policy is None:
            out[p.name] = Policy.default(p.name, sc.coordinator.name)
        else:
            base = scenario_path.parent if scenario_path else Path.cwd()
            path = base / p.policy
            pol = load_policy(path)
            validate_recipients(pol, known, str(path), partner=p.name)
            out[p.name] = pol
    return out


def run_mode(world: World, mode: Mode, progress: bool = False) -> ModeResult:
    """Run the coalition once on the world's plots, in ``mode``."""
    sc = world.scenario
    epoch = sc.start_epoch_s()
    clock = SimClock(epoch)
    bus_ss = np.random.SeedSequence([world.seed, 1 + MODES.index(mode)])
    bus = InProcessBus(clock, list(sc.links), np.random.default_rng(bus_ss))
    ids = identities(sc, world.seed)
    registry = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    result = ModeResult(mode)
    matcher = TruthMatcher(world.truth, epoch)
    emit = result.events.append
    pols = policies(sc, world.scenario_path, mode)
    known = {p.name for p in sc.partners} | {sc.coordinator.name}

    partners = []
    for p in sc.partners:
        own = [a for a in sc.defended_areas if a.owner == p.name]
        partners.append(
            PartnerNode(
                identity=ids[p.name],
                endpoint=bus.connect(p.name),
                opener=Opener(registry, max_age_s=300.0, clock=clock),
                scans=_scans_of(world.scans, p.name),
                tracker=Tracker(p.name),
                releaser=Releaser(pols[p.name], recipients=known),
                areas=own,
                release_s=p.release_s,
                epoch_s=epoch,
                sensor_sites=site_table(p.sensors),
                emit=emit,
                observe=matcher,
            )
        )
    coord = CoordinatorNode(
        identity=ids[sc.coordinator.name],
        endpoint=bus.connect(sc.coordinator.name),
        opener=Opener(registry, max_age_s=300.0, clock=clock),
        areas=list(sc.defended_areas),
        assess_s=sc.coordinator.assess_s,
        emit=emit,
        observe=matcher,
    )
    t0 = time.perf_counter()
    for t in _ticks(sc.duration_s, sc.tick_s, f"{mode:>8}", progress):
        clock.t = t
        for node in partners:
            node.step(clock())
        coord.step(clock())
    result.wall_s = time.perf_counter() - t0
    result.tracked_by = matcher.first
    result.counters = {
        n.name: dict(n.counters) | _prefixed(n.inbox.rejected, "rejected_")
        for n in [*partners, coord]
    }
    for node in partners:  # how the tracker dealt with scans that arrived out of order
        late = {k: v for k, v in node.tracker.counters.items() if k.startswith("scans_")}
        result.counters[node.name] |= _prefixed(late, "tracker_")
    return result


def _prefixed(c: dict[str, int], prefix: str) -> dict[str, int]:
    return {prefix + k: v for k, v in c.items()}


def _scans_of(scans: list[Scan], partner: str) -> Iterator[Scan]:
    return (s for s in scans if s.partner == partner)


def _ticks(duration_s: float, tick_s: float, label: str, progress: bool) -> Iterator[float]:
    n = int(np.ceil(duration_s / tick_s))
    ticks = (k * tick_s for k in range(n + 1))
    if not progress:
        return ticks
    from tqdm import tqdm

    return iter(
        tqdm(
            ticks,
            total=n + 1,
            desc=label,
            unit="tick",
            mininterval=0.5,
            bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}<{remaining}",
        )
    )


def run_both(world: World, progress: bool = False, jobs: int = 2) -> dict[Mode, ModeResult]:
    """Run alliance and national on the same world, in parallel processes when jobs > 1."""
    if jobs <= 1:
        return {m: run_mode(world, m, progress) for m in MODES}
    global _FORKED_WORLD
    _FORKED_WORLD = world  # children inherit it through fork instead of a pickled copy
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(MODES)), mp_context=ctx) as pool:
            futures = {m: pool.submit(_run_forked, m, progress) for m in MODES}
            return {m: f.result() for m, f in futures.items()}
    finally:
        _FORKED_WORLD = None


_FORKED_WORLD: World | None = None


def _run_forked(mode: Mode, progress: bool) -> ModeResult:
    assert _FORKED_WORLD is not None
    return run_mode(_FORKED_WORLD, mode, progress)
