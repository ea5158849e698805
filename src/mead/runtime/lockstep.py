"""Both runs of a simulation at once, their nodes spread over worker processes in lockstep.

When nothing either run decides can change what the radars see — no partner has fire
units, so no interceptor takes an object out of the truth — a partner's tracker and its
own threat assessment are the same in the alliance and the national-only run: the same
plots, the same ADS-B, the same defended areas. Its work is then done once for both: its
national-only node reads what its alliance node computed in the same tick
(:class:`SharedTracker` / :class:`EchoTracker`, and the same for the assessor); only what
depends on the run — what it releases, what it receives, its counters — is its own.

The nodes of both runs are spread over ``jobs`` worker processes (a partner's two nodes
together), which step in rounds. A message published at t reaches a node of another
process no earlier than t plus its link's latency, and a node says before which time it
will publish nothing (``next_publish``: a partner publishes at its releases, the
coordinator at its assessments); so, when every link has a latency > 0, each worker steps
on alone through every tick before the earliest moment anything published could arrive
(one round per 5-s release cycle on the reference raid), and between rounds the parent
hands each worker what the others published. Every message then arrives when it would
have in one process (the bus's random draws are per link and its tie-break is the run's
step order: :mod:`mead.federation.inprocess`). Events and every observer call go back to
the parent tagged with (run, tick, node rank, sequence) and are replayed there in the
order one process would have made them, while the workers are on the next round; the
observers run in the parent. The results equal
:func:`~mead.runtime.simulation.run_mode`'s, run by run
(``tests/runtime/test_lockstep.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import numpy as np

from mead.federation.inprocess import DEFAULT_LINK, Sent
from mead.messages import Picture, SystemTrack
from mead.runtime.node import CoordinatorNode, Held, PartnerNode
from mead.runtime.simulation import (
    MODES,
    Builder,
    Mode,
    ModeResult,
    ObserverFactory,
    SimClock,
    World,
    _no_observer,
    _ticks,
    mode_bus,
    node_counters,
    run_intercepts,
    step_order,
)
from mead.sensors.base import Scan
from mead.threat.assessor import Assessment, Assessor
from mead.tracking.base import TrackReport
from mead.tracking.tracker import Tracker

COORDINATOR_WEIGHT = 0.35
"""The coordinator's share of the work, relative to all partners' (for spreading nodes over
workers; measured on the reference raid: its coordinator takes about a third as long as its
six partners)."""

_EMIT, _OBSERVE, _SHOW = 0, 1, 2
Call = tuple[int, float, int, int, int, Any]
"""An event or observer call made in a worker: (run, tick, node rank, sequence, kind,
payload)."""


def shareable(world: World) -> str | None:
    """Why the partners' work cannot be shared between the two runs and their nodes spread
    over processes (None: it can)."""
    sc = world.scenario
    if any(p.fire_units for p in sc.partners):
        return "partners have fire units: intercepts make the two runs see different plots"
    if min_latency_s(world) <= 0.0:
        return "a link has no latency: a message could arrive within the tick it was sent"
    return None


class SharedTracker:
    """A partner's tracker whose newest report its twin in the other run reads."""

    def __init__(self, inner: Tracker) -> None:
        self.inner, self.counters = inner, inner.counters
        self.last: tuple[float, TrackReport] | None = None

    def step(self, scan: Scan) -> None:
        self.inner.step(scan)

    def report(self, t: float) -> TrackReport:
        rep = self.inner.report(t)
        self.last = (t, rep)
        return rep


class EchoTracker:
    """The twin's tracker: it takes no scans and reports what its partner's tracker did."""

    def __init__(self, shared: SharedTracker) -> None:
        self.shared, self.counters = shared, shared.counters

    def step(self, scan: Scan) -> None:
        return None

    def report(self, t: float) -> TrackReport:
        return _same(self.shared.last, t, "track report")


class SharedAssessor:
    """A partner's assessor whose newest assessment its twin in the other run reads."""

    def __init__(self, inner: Assessor) -> None:
        self.inner = inner
        self.last: tuple[float, Assessment] | None = None

    def step(self, t: float, *args: Any, **kwargs: Any) -> Assessment:
        """:meth:`Assessor.step` (the node's ``PartnerAssessor`` call), kept for the twin."""
        a = self.inner.step(t, *args, **kwargs)
        self.last = (t, a)
        return a


class EchoAssessor:
    """The twin's assessor: the assessment its partner's assessor made at the same time."""

    def __init__(self, shared: SharedAssessor) -> None:
        self.shared = shared

    def step(self, t: float, *args: Any, **kwargs: Any) -> Assessment:
        return _same(self.shared.last, t, "assessment")


_ROWS = msgspec.msgpack.Encoder()
_ROWS_OF = msgspec.msgpack.Decoder(tuple[SystemTrack, ...])
"""A picture's rows to and from msgpack, between a worker and the parent."""


class _SentOnce:
    """A node's ``show`` hook in a worker: a partner shows the coordinator's newest picture
    with every release, most often the one it showed last; that picture crosses to the
    parent once, its rows as msgpack bytes (``(held without picture, False, (recipient, t,
    bytes))``; a pickled struct per row cost several times more), and later shows of the
    same picture go without it (``(held without picture, True, None)``) — :class:`_Shown`
    puts it back."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        self.send = send
        self.last: Any = None

    def __call__(self, held: Held) -> None:
        pic = held.picture
        same = pic is not None and pic is self.last
        self.last = pic
        bare = dataclasses.replace(held, picture=None)
        rows = None if same or pic is None else (pic.recipient, pic.t, _ROWS.encode(pic.tracks))
        self.send((bare, same, rows))


class _Shown:
    """The parent's side of :class:`_SentOnce` for one run: each node's last picture. The
    coordinator most often sends every partner the same rows; they are decoded once."""

    def __init__(self, show: Callable[[Held], None]) -> None:
        self.show = show
        self.last: dict[str, Any] = {}
        self._rows: tuple[bytes, tuple[SystemTrack, ...]] = (b"", ())

    def __call__(self, v: tuple[Held, bool, tuple[str, float, bytes] | None]) -> None:
        held, same, sent = v
        if not same:
            pic = None
            if sent is not None:
                recipient, t, buf = sent
                if buf != self._rows[0]:
                    self._rows = (buf, _ROWS_OF.decode(buf))
                pic = Picture(recipient=recipient, t=t, tracks=self._rows[1])
            self.last[held.node] = pic
        self.show(dataclasses.replace(held, picture=self.last[held.node]))


def _same(last: tuple[float, Any] | None, t: float, what: str) -> Any:
    if last is None or last[0] != t:
        raise RuntimeError(
            f"a national-only node asked for its {what} at {t} but its alliance twin made "
            f"none then (held: {None if last is None else last[0]}): the twins diverged"
        )
    return last[1]


def spread(world: World, jobs: int) -> list[list[str]]:
    """The node names each of ``jobs`` workers runs: partners weighed by their plots, the
    coordinator by ``COORDINATOR_WEIGHT`` of all of them, heaviest first onto the lightest
    worker."""
    sc = world.scenario
    plots = dict.fromkeys((p.name for p in sc.partners), 0.0)
    for s in world.scans:
        plots[s.partner] += len(s.z) + 1.0  # + 1: a scan costs something even when empty
    weight = plots | {sc.coordinator.name: COORDINATOR_WEIGHT * sum(plots.values())}
    load = [0.0] * jobs
    groups: list[list[str]] = [[] for _ in range(jobs)]
    for name in sorted(weight, key=lambda n: -weight[n]):
        k = int(np.argmin(load))
        groups[k].append(name)
        load[k] += weight[name]
    order = {n: i for i, n in enumerate(weight)}
    return [sorted(g, key=order.__getitem__) for g in groups if g]


class _Worker:
    """One worker's nodes of both runs (a partner's two nodes together)."""

    def __init__(self, world: World, names: list[str], with_show: bool) -> None:
        sc = world.scenario
        self.clock = SimClock(sc.start_epoch_s())
        self.calls: list[Call] = []
        self._seq = itertools.count()
        self.buses = {m: mode_bus(world, m, self.clock, forward=True) for m in MODES}
        intercepts = [run_intercepts(world, self._hook(i, -1, _EMIT)) for i in range(len(MODES))]
        build = {
            m: Builder(world, m, self.buses[m], self.clock, x)
            for m, x in zip(MODES, intercepts, strict=True)
        }
        ranks = {n: i for i, n in enumerate(step_order(sc))}  # the step order of one process
        self.nodes: list[PartnerNode | CoordinatorNode] = []
        self.of_mode: dict[Mode, list[PartnerNode | CoordinatorNode]] = {m: [] for m in MODES}
        for name in names:
            r = ranks[name]
            hooks = [
                (
                    self._hook(i, r, _EMIT),
                    self._hook(i, r, _OBSERVE),
                    self._hook(i, r, _SHOW) if with_show else _no_observer,
                )
                for i in range(len(MODES))
            ]
            nodes: list[PartnerNode | CoordinatorNode]
            if name == sc.coordinator.name:
                nodes = [build[m].coordinator(*h) for m, h in zip(MODES, hooks, strict=True)]
            else:  # the first run's node computes, the second's reads (see the module doc)
                first, second = (
                    build[m].partner(name, *h) for m, h in zip(MODES, hooks, strict=True)
                )
                assert isinstance(first.tracker, Tracker)
                assert isinstance(first.assessor, Assessor)
                tracker, assessor = SharedTracker(first.tracker), SharedAssessor(first.assessor)
                first.tracker, first.assessor = tracker, assessor
                second.tracker, second.assessor = EchoTracker(tracker), EchoAssessor(assessor)
                nodes = [first, second]
            self.nodes += nodes
            for m, node in zip(MODES, nodes, strict=True):
                self.of_mode[m].append(node)

    def _hook(self, mode: int, rank: int, kind: int) -> Callable[..., None]:
        calls, seq, clock = self.calls, self._seq, self.clock
        if kind == _OBSERVE:
            return lambda *args: calls.append((mode, clock.t, rank, next(seq), kind, args))
        if kind == _SHOW:
            return _SentOnce(lambda v: calls.append((mode, clock.t, rank, next(seq), kind, v)))
        return lambda v: calls.append((mode, clock.t, rank, next(seq), kind, v))

    def step(
        self, ticks: list[float], inbound: dict[Mode, list[Sent]]
    ) -> tuple[dict[Mode, list[Sent]], list[Call], float]:
        """Take in what the other workers' nodes published before, step every node through
        the scenario times ``ticks``; what this worker's nodes published and called back,
        and the wire time before which none of them will publish again."""
        for m, sent in inbound.items():
            self.buses[m].inject(sent)
        for t in ticks:
            self.clock.t = t
            now = self.clock()
            for node in self.nodes:
                node.step(now)
        out = {m: b.outbox for m, b in self.buses.items()}
        for b in self.buses.values():
            b.outbox = []
        calls, self.calls[:] = list(self.calls), []
        return out, calls, min(n.next_publish() for n in self.nodes)


def run_lockstep(
    world: World,
    jobs: int = 2,
    progress: bool = False,
    observer: ObserverFactory | None = None,
) -> dict[Mode, ModeResult]:
    """Both runs of ``world`` on ``jobs`` forked workers (see the module doc); the world
    must be :func:`shareable`."""
    why = shareable(world)
    if why is not None:
        raise ValueError(f"the runs cannot share the partners' work: {why}")
    sc = world.scenario
    groups = spread(world, max(1, jobs))
    obs = {m: observer(world) if observer is not None else None for m in MODES}
    with_show = any(hasattr(o, "show") for o in obs.values())
    ctx = multiprocessing.get_context("fork")
    workers: list[tuple[Any, Connection]] = []
    for g in groups:
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(there, world, g, with_show), name="+".join(g))
        proc.start()
        there.close()
        workers.append((proc, here))
    results = {m: ModeResult(m) for m in MODES}
    replay: dict[Mode, tuple[Callable[..., None], ...]] = {
        m: (
            results[m].events.append,
            obs[m] or _no_observer,
            _Shown(getattr(obs[m], "show", _no_observer)),
        )
        for m in MODES
    }
    t0 = time.perf_counter()
    try:
        ticks = list(_ticks(sc.duration_s, sc.tick_s, "", False))
        bar = _bar(len(ticks), progress)
        latency_s = min_latency_s(world)
        epoch = sc.start_epoch_s()

        def send(i: int, quiet: float, sent: list[dict[Mode, list[Sent]]]) -> int:
            """Start a round at tick i: every tick before anything published could
            arrive; the tick after it."""
            j = i + 1
            while j < len(ticks) and epoch + ticks[j] < quiet + latency_s:
                j += 1
            for (_, conn), inbound in zip(workers, sent, strict=True):
                conn.send((ticks[i:j], inbound))
            return j

        i, j = 0, send(0, -np.inf, [{m: [] for m in MODES} for _ in workers])
        while i < len(ticks):
            outs = [_receive(proc, conn) for proc, conn in workers]
            quiet = min(o[2] for o in outs)  # no worker publishes before this wire time
            sent = [
                {m: [s for k, o in enumerate(outs) if k != w for s in o[0][m]] for m in MODES}
                for w in range(len(workers))
            ]
            if bar is not None:
                bar.update(j - i)
            i, j = j, (send(j, quiet, sent) if j < len(ticks) else j)
            # the workers are on the next round while this one's calls are replayed
            calls = sorted((c for o in outs for c in o[1]), key=lambda c: c[:4])
            for mode, _, _, _, kind, v in calls:
                f = replay[MODES[mode]][kind]
                if kind == _OBSERVE:
                    f(*v)
                else:
                    f(v)
        if bar is not None:
            bar.close()
        counters: dict[Mode, dict[str, dict[str, int]]] = {m: {} for m in MODES}
        for proc, conn in workers:
            conn.send(None)
            for m, c in _receive(proc, conn).items():
                counters[m] |= c
    finally:
        for proc, conn in workers:
            conn.close()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    wall = time.perf_counter() - t0
    for m in MODES:
        results[m].counters = {n: counters[m][n] for n in step_order(sc)}
        o = obs[m]
        results[m].observed = o.result() if o is not None else None
        results[m].wall_s = wall
    return results


def min_latency_s(world: World) -> float:
    """The shortest delay any message between two nodes can have, s."""
    lat = [ln.latency_ms for ln in world.scenario.links] + [DEFAULT_LINK.latency_ms]
    return min(lat) / 1000.0


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc="    both",
        unit="tick",
        mininterval=0.5,
        bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}<{remaining}",
    )


def _receive(proc: Any, conn: Connection) -> Any:
    """The worker's next answer; its error re-raised here."""
    try:
        ok, value = conn.recv()
    except EOFError:
        proc.join(timeout=10)
        raise RuntimeError(f"worker {proc.name} died (exit {proc.exitcode})") from None
    if not ok:
        raise value
    return value


def _serve(conn: Connection, world: World, names: list[str], with_show: bool) -> None:
    """A worker's body: step on each tick the parent sends; its counters at the end."""
    try:
        w = _Worker(world, names, with_show)
        while (work := conn.recv()) is not None:
            conn.send((True, w.step(*work)))
        conn.send((True, {m: node_counters(ns) for m, ns in w.of_mode.items()}))
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which re-raises it
        e.add_note(f"raised in worker {'+'.join(names)}:\n{traceback.format_exc()}")
        try:
            conn.send((False, e))
        except (BrokenPipeError, OSError):
            pass
    finally:
        conn.close()


__all__ = [
    "EchoAssessor",
    "EchoTracker",
    "SharedAssessor",
    "SharedTracker",
    "run_lockstep",
    "shareable",
    "spread",
]
