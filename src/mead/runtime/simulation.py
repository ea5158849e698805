"""Simulation mode: a coalition built for a scenario and driven on the scenario clock.

:func:`prepare` simulates the truth and every radar scan once; :func:`run_mode` runs the
coalition on those plots in one mode — ``alliance`` (each partner releases under its
policy) or ``national`` (nothing leaves any partner) — and :func:`run_both` runs both, in
parallel processes (sharing the partners' work where it can: :mod:`mead.runtime.lockstep`).
Both runs are deterministic for a given seed. Scoring is not done here: a caller that
wants it passes an observer factory (``mead.metrics``), whose result comes back in
:attr:`ModeResult.observed`.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from mead.coverage.dem import Dem
from mead.errors import ConfigError
from mead.events import Event
from mead.federation.envelope import Opener
from mead.federation.identity import KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.runtime.intercepts import Intercepts
from mead.runtime.node import CoordinatorNode, Observe, PartnerNode
from mead.runtime.wiring import (
    MAX_MESSAGE_AGE_S,
    build_coordinator,
    build_partner,
    engagement_policies,
    policies,
    sim_identities,
)
from mead.scenario.schema import Scenario
from mead.sensors.adsb import AdsbReports, adsb_rng, merge_reports, simulate_adsb
from mead.sensors.adsb_asterix import scenario_adsb
from mead.sensors.asterix_feed import FileReplay, feed_sensors, replay_files
from mead.sensors.base import Scan
from mead.sensors.simulate import simulate_scans
from mead.sim.base import TruthTable
from mead.sim.truth import simulate_truth
from mead.tracking.external import track_feeds, track_replays
from mead.types import Index, States

Mode = Literal["alliance", "national"]
MODES: tuple[Mode, ...] = ("alliance", "national")


@dataclass
class World:
    """What both runs share: the scenario, its truth and every scan of every radar."""

    scenario: Scenario
    scenario_path: Path | None
    seed: int
    truth: TruthTable
    scans: list[Scan]
    prepare_s: float
    adsb: AdsbReports  # every ADS-B report any partner's receivers got, scenario time
    recorded: list[FileReplay] = field(default_factory=list)  # radars fed by recordings
    _at: dict[float, tuple[Index, States]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    TRUTH_AT_KEPT = 32
    """Instants :meth:`truth_at` remembers: a lockstep round's ticks, asked for by the
    observers of both runs in turn."""

    def truth_at(self, t: float) -> tuple[Index, States]:
        """``truth.states_at(t)`` (read-only arrays), remembered for the last
        ``TRUTH_AT_KEPT`` instants: every observer of both runs asks for the same ones."""
        got = self._at.get(t)
        if got is None:
            alive, x = self.truth.states_at(t)
            alive.setflags(write=False)
            x.setflags(write=False)
            got = self._at[t] = (alive, x)
            if len(self._at) > self.TRUTH_AT_KEPT:
                del self._at[next(iter(self._at))]
        return got


class Observer(Protocol):
    """Sees every track picture a node forms, and reports what it made of them."""

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None: ...

    def result(self) -> Any:
        """What the observer gathered (sent back from the run's process: keep it small)."""
        ...


ObserverFactory = Callable[["World"], Observer]


@dataclass
class ModeResult:
    """Everything one run produced: events, what its observer gathered, counters, timing."""

    mode: Mode
    events: list[Event] = field(default_factory=list)
    observed: Any = None  # the observer's result(), if one was given
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = 0.0


def prepare(
    scenario: Scenario,
    seed: int,
    scenario_path: Path | None = None,
    live: bool = False,
    jobs: int = 1,
    partner: str | None = None,
) -> World:
    """Simulate truth and all radar scans once (independent random streams per stage; the
    radars on ``jobs`` forked processes, the same scans however many).

    A radar fed by an ASTERIX recording gets the recording's scans instead (read here, on
    the scenario clock: ``mead.sensors.asterix_feed``); one fed over UDP is read by its
    live node (``live``), and a simulation cannot have one (``ConfigError``); so too ADS-B
    received by UDP (``partners[].adsb_udp``). With ``partner``, only that partner's radars
    are simulated (a live partner node's: the same scans it would have among all)."""
    t0 = time.perf_counter()
    udp = feed_sensors(scenario, "udp")
    tracks_udp = track_feeds(scenario, "udp")
    if tracks_udp and not live:
        p, f = tracks_udp[0]
        i = next(k for k, q in enumerate(scenario.partners) if q.name == p)
        j = next(k for k, g in enumerate(scenario.partners[i].system_tracks) if g is f)
        raise ConfigError(
            str(scenario_path or scenario.name),
            f"system tracks {f.id!r} come by UDP: only a live node (mead node, mead up) "
            "reads them; a simulation replays CAT062 recordings (file)",
            f"$.partners[{i}].system_tracks[{j}].udp",
        )
    adsb_udp = [i for i, p in enumerate(scenario.partners) if p.adsb_udp]
    if adsb_udp and not live:
        i = adsb_udp[0]
        raise ConfigError(
            str(scenario_path or scenario.name),
            f"partner {scenario.partners[i].name!r} receives ADS-B (CAT021) by UDP: only a "
            "live node (mead node, mead up) reads it; a simulation replays recordings "
            "(adsb_files)",
            f"$.partners[{i}].adsb_udp",
        )
    if udp and not live:
        i, j, _, s = udp[0]
        raise ConfigError(
            str(scenario_path or scenario.name),
            f"sensor {s.id!r} is fed by UDP: only a live node (mead node, mead up) reads it; "
            "a simulation replays ASTERIX recordings (asterix.file)",
            f"$.partners[{i}].sensors[{j}].asterix.udp",
        )
    truth_ss, sensor_ss = np.random.SeedSequence(seed).spawn(2)
    truth = simulate_truth(scenario, np.random.default_rng(truth_ss))
    base = scenario_path.parent if scenario_path is not None else Path.cwd()
    dem = Dem(base / scenario.dem_dir) if scenario.dem_dir is not None else None
    scans = simulate_scans(scenario, truth, np.random.default_rng(sensor_ss), dem, jobs, partner)
    recorded = replay_files(scenario, base)
    if recorded:
        scans += [s for r in recorded for s in r.scans]
        scans.sort(key=lambda s: (s.t_arrival, s.sensor_id))
    adsb = simulate_adsb(scenario, truth, adsb_rng(seed))
    if any(p.adsb_files for p in scenario.partners):  # recorded ADS-B (CSV or CAT021)
        adsb = merge_reports(adsb, scenario_adsb(scenario, base))
    return World(
        scenario, scenario_path, seed, truth, scans, time.perf_counter() - t0, adsb, recorded
    )


def _base(world: World) -> Path:
    """The folder the scenario's files are relative to."""
    return world.scenario_path.parent if world.scenario_path is not None else Path.cwd()


class SimClock:
    """The scenario clock: wire time (UTC s) = scenario start + scenario seconds."""

    def __init__(self, epoch_s: float) -> None:
        self.epoch_s, self.t = epoch_s, 0.0

    def __call__(self) -> float:
        return self.epoch_s + self.t


def run_mode(
    world: World,
    mode: Mode,
    progress: bool = False,
    observer: ObserverFactory | None = None,
    sink: Callable[[Event], None] | None = None,
) -> ModeResult:
    """Run the coalition once on the world's plots, in ``mode``.

    Events are kept in the result's ``events``, or handed to ``sink`` and not kept (a long
    run that writes or counts them as they come, e.g. the soak benchmark)."""
    sc = world.scenario
    epoch = sc.start_epoch_s()
    clock = SimClock(epoch)
    bus = mode_bus(world, mode, clock)
    result = ModeResult(mode)
    obs = observer(world) if observer is not None else None
    emit = sink if sink is not None else result.events.append
    observe: Observe = obs if obs is not None else _no_observer
    show = getattr(obs, "show", _no_observer)  # an observer may also take what nodes hold
    intercepts = run_intercepts(world, emit)
    build = Builder(world, mode, bus, clock, intercepts)
    partners = [build.partner(p.name, emit, observe, show) for p in sc.partners]
    coord = build.coordinator(emit, observe, show)
    t0 = time.perf_counter()
    for t in _ticks(sc.duration_s, sc.tick_s, f"{mode:>8}", progress):
        clock.t = t
        intercepts.settle(clock())
        for node in partners:
            node.step(clock())
        coord.step(clock())
    result.wall_s = time.perf_counter() - t0
    result.observed = obs.result() if obs is not None else None
    result.counters = node_counters([*partners, coord])
    return result


def mode_bus(world: World, mode: Mode, clock: SimClock, forward: bool = False) -> InProcessBus:
    """The run's simulated network: the scenario's links, the mode's own random streams,
    and every node's rank in the step order (partners in scenario order, then the
    coordinator) — the same however the nodes are spread over processes."""
    sc = world.scenario
    bus_ss = np.random.SeedSequence([world.seed, 1 + MODES.index(mode)])
    ranks = {n: i for i, n in enumerate(step_order(sc))}
    return InProcessBus(
        clock, list(sc.links), np.random.default_rng(bus_ss), ranks=ranks, forward=forward
    )


def step_order(sc: Scenario) -> list[str]:
    """The order nodes step in each tick: partners in scenario order, then the coordinator."""
    return [p.name for p in sc.partners] + [sc.coordinator.name]


def run_intercepts(world: World, emit: Callable[[Event], None]) -> Intercepts:
    """A run's simulated interceptors, with the kill draws common to both runs of a seed."""
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 10]))
    return Intercepts(world.truth, world.scenario.start_epoch_s(), rng, emit)


class Builder:
    """Builds one run's nodes on its bus (all of them, or a process's share of them)."""

    def __init__(
        self, world: World, mode: Mode, bus: InProcessBus, clock: SimClock, intercepts: Intercepts
    ) -> None:
        sc = world.scenario
        self.world, self.bus, self.intercepts = world, bus, intercepts
        self.clock, self.epoch = clock, sc.start_epoch_s()
        self.ids = sim_identities(sc, world.seed)
        self.registry = KeyRegistry({n: i.verify_key for n, i in self.ids.items()})
        self.pols = policies(sc, world.scenario_path, national=mode == "national")
        self.engage = engagement_policies(sc, world.scenario_path)

    def _opener(self) -> Opener:
        return Opener(self.registry, max_age_s=MAX_MESSAGE_AGE_S, clock=self.clock)

    def partner(
        self, name: str, emit: Callable[[Event], None], observe: Observe, show: Any
    ) -> PartnerNode:
        """Partner ``name``'s node."""
        w, sc = self.world, self.world.scenario
        return build_partner(
            sc,
            name,
            identity=self.ids[name],
            endpoint=self.bus.connect(name),
            opener=self._opener(),
            policy=self.pols[name],
            scans=self.intercepts.visible(_scans_of(w.scans, name)),
            track_sources=track_replays(sc, _base(w), name),
            reporting=[r for r in w.recorded if r.partner == name],
            epoch_s=self.epoch,
            adsb=w.adsb,
            engagement=self.engage[name],
            effector=self.intercepts,
            emit=emit,
            observe=observe,
            show=show,
            seed=w.seed,
        )

    def coordinator(
        self, emit: Callable[[Event], None], observe: Observe, show: Any
    ) -> CoordinatorNode:
        """The coordinator's node."""
        sc = self.world.scenario
        c = sc.coordinator.name
        return build_coordinator(
            sc,
            identity=self.ids[c],
            endpoint=self.bus.connect(c),
            opener=self._opener(),
            adsb=self.world.adsb,
            emit=emit,
            observe=observe,
            show=show,
        )


def node_counters(nodes: Sequence[PartnerNode | CoordinatorNode]) -> dict[str, dict[str, int]]:
    """Each node's counters, its inbox's rejections, its fire control's and planner's, and
    how its tracker dealt with scans that arrived out of order."""
    out: dict[str, dict[str, int]] = {}
    for n in nodes:
        out[n.name] = dict(n.counters) | _prefixed(n.inbox.rejected, "rejected_")
        if isinstance(n, PartnerNode):
            if n.fire is not None:
                out[n.name] |= _prefixed(n.fire.counters, "fire_")
        elif n.planner is not None:
            out[n.name] |= _prefixed(dict(n.planner.counters), "planner_")
    for n in nodes:
        if isinstance(n, PartnerNode):
            late = {k: v for k, v in n.tracker.counters.items() if k.startswith("scans_")}
            out[n.name] |= _prefixed(late, "tracker_")
    return out


def _no_observer(*_: object) -> None:
    return None


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


def run_both(
    world: World,
    progress: bool = False,
    jobs: int = 2,
    observer: ObserverFactory | None = None,
    lockstep: bool = True,
) -> dict[Mode, ModeResult]:
    """Run alliance and national on the same world; on ``jobs`` forked processes when > 1.

    Where the two runs see the same plots (no fire units), the partners' work is done once
    for both and the nodes are spread over ``jobs`` workers in lockstep
    (:mod:`mead.runtime.lockstep`, the same results; ``lockstep=False``: not); else each
    run is one process. A
    forked child inherits ``world`` from the parent's memory (nothing is pickled on the
    way in); its results come back through a pipe.
    """
    if jobs <= 1:
        return {m: run_mode(world, m, progress, observer) for m in MODES}
    from mead.runtime.lockstep import run_lockstep, shareable

    if lockstep and shareable(world) is None:
        return run_lockstep(world, jobs, progress, observer)
    ctx = multiprocessing.get_context("fork")
    children = []
    for m in MODES:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(send, world, m, progress, observer), name=m)
        proc.start()
        send.close()
        children.append((m, proc, recv))
    out: dict[Mode, ModeResult] = {}
    for m, proc, recv in children:
        try:
            ok, value = recv.recv()
        except EOFError:
            ok, value = False, RuntimeError(f"the {m} run's process died (exit {proc.exitcode})")
        proc.join()
        if not ok:
            raise value
        out[m] = value
    return out


def _child(
    send: Connection,
    world: World,
    mode: Mode,
    progress: bool,
    observer: ObserverFactory | None,
) -> None:
    """Body of a forked run: the result (or the error) goes back through ``send``."""
    try:
        send.send((True, run_mode(world, mode, progress, observer)))
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which re-raises it
        e.add_note(f"raised in the {mode} run's process:\n{traceback.format_exc()}")
        send.send((False, e))
    finally:
        send.close()
