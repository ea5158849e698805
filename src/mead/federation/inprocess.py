"""The in-process bus: the simulation's network, with per-link latency, jitter and loss.

Implements the :mod:`mead.federation.base` contract on a deterministic scenario clock.
A message published by node A at clock time t reaches every matching subscription of
every node B at ``t + latency`` (plus jitter), unless the link's Bernoulli loss drops it.

Model choices:

* **Links.** The first ``Link`` whose ``src``/``dst`` patterns match (``*`` and shell
  wildcards such as ``P*``) gives latency, jitter and loss; with none, 150 ms and no loss.
* **Jitter** is an extra delay drawn uniformly in ``[0, jitter_ms]``, so ``latency_ms`` is
  the floor. Each directed link (src → dst) draws its jitter and loss from its own random
  stream (derived from the bus's generator and the two names), so what one link draws does
  not depend on what others carried — nor on which process the nodes of a run live in
  (``mead.runtime.lockstep``). Links are FIFO (as a NATS connection is): a message never
  overtakes an earlier one on the same publisher → subscription path; pass ``fifo=False``
  to let jitter reorder them.
* **Own subscriptions.** A node receives its own publications on matching subjects at
  once (zero latency, never lost): loopback, as NATS does by default.
* **Bounded queues.** A subscription holds at most ``limit`` undrained messages, those in
  flight included; a message arriving at a full queue is dropped (the newest, as a NATS
  slow consumer drops) and counted in ``Subscription.dropped``.
* **Ordering.** ``drain()`` returns what has arrived by ``clock()`` in arrival order, ties
  broken by publish order: (publish time, publisher's rank, its count of publications at
  that time), where a node's rank is its place in the run's step order (by default the
  order the nodes connected) — the order in which one process stepping them would publish.
* **Forwarding.** A run split over processes has one bus per process, holding its own
  nodes' subscriptions; with ``forward=True`` a bus keeps what its nodes published in
  ``outbox`` and another bus takes it in with :meth:`InProcessBus.inject`.
"""

from __future__ import annotations

import heapq
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase

import numpy as np

from mead.federation.base import check_subject, subject_matches
from mead.scenario.schema import Link

DEFAULT_LINK = Link()
"""Used when no link matches: 150 ms, no jitter, no loss."""

Order = tuple[float, int, int]
"""A publication's place in the run: (publish time, publisher's rank, its count at that time)."""
_Item = tuple[float, Order, str, bytes]  # (arrival s, publish order, subject, data)
Sent = tuple[str, str, bytes, Order]
"""A publication for another process's bus: (publisher, subject, data, order)."""


class _Uniforms:
    """Uniform [0, 1) draws from a generator, taken in blocks (a scalar call costs ~1 µs)."""

    def __init__(self, rng: np.random.Generator, block: int = 4096) -> None:
        self.rng, self.block = rng, block
        self._buf: list[float] = []

    def __call__(self) -> float:
        if not self._buf:
            self._buf = self.rng.random(self.block).tolist()
            self._buf.reverse()
        return self._buf.pop()


class InProcessSubscription:
    """A bounded arrival-time heap of the messages that matched one pattern."""

    def __init__(self, owner: str, pattern: str, limit: int, clock: Callable[[], float]) -> None:
        self.owner = owner  # name of the subscribing node
        self.pattern = pattern  # NATS subject pattern
        self.limit = limit  # most undrained messages held, in flight included
        self.dropped = 0  # messages lost to overflow of this queue
        self.delivered = 0  # messages returned by drain()
        self._clock = clock
        self._heap: list[_Item] = []
        self._last: dict[str, float] = {}  # publisher → latest scheduled arrival (FIFO links)

    def _offer(self, item: _Item) -> None:
        if len(self._heap) >= self.limit:
            self.dropped += 1
            return
        heapq.heappush(self._heap, item)

    @property
    def pending(self) -> int:
        """Messages queued (in flight or arrived) and not yet drained."""
        return len(self._heap)

    def drain(self) -> list[tuple[str, bytes]]:
        """Every (subject, data) arrived by ``clock()``, in arrival order; never blocks."""
        now, heap, out = self._clock(), self._heap, []
        while heap and heap[0][0] <= now:
            _, _, subject, data = heapq.heappop(heap)
            out.append((subject, data))
        self.delivered += len(out)
        return out


class InProcessEndpoint:
    """One node's connection to an :class:`InProcessBus`."""

    def __init__(self, bus: InProcessBus, name: str) -> None:
        self.name = name  # the node's pseudonym
        self._bus = bus

    def publish(self, subject: str, data: bytes) -> None:
        """Send ``data`` on ``subject``; delivery is scheduled on the bus's clock."""
        self._bus._publish(self.name, subject, data)

    def subscribe(self, pattern: str, limit: int = 100_000) -> InProcessSubscription:
        """Start receiving messages whose subject matches ``pattern``."""
        check_subject(pattern, wildcards=True)
        if limit < 1:
            raise ValueError(f"subscription limit must be >= 1 (got {limit})")
        sub = InProcessSubscription(self.name, pattern, limit, self._bus.clock)
        self._bus._subs.append(sub)
        return sub

    def unsubscribe(self, sub: InProcessSubscription) -> None:
        """Stop delivering to ``sub`` (what it already holds can still be drained)."""
        self._bus._subs.remove(sub)


class InProcessBus:
    """A deterministic simulated network between the nodes of one run.

    Parameters
    ----------
    clock
        Wire time now, UTC s; the same clock the nodes step on.
    links
        Directed link models, first match wins (``Scenario.links``).
    rng
        Source of jitter and loss draws; the run is reproducible for a given seed.
    fifo
        Keep each publisher → subscription path in order despite jitter.
    ranks
        Each node's place in the run's step order (default: the order they connect).
    forward
        Keep every publication in ``outbox`` too, for the buses of other processes.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        links: Sequence[Link],
        rng: np.random.Generator,
        fifo: bool = True,
        ranks: dict[str, int] | None = None,
        forward: bool = False,
    ) -> None:
        self.clock = clock
        self.links = list(links)
        self.fifo = fifo
        self.published = 0  # publish() calls
        self.sent: Counter[tuple[str, str]] = Counter()  # (src, dst) → copies scheduled
        self.lost: Counter[tuple[str, str]] = Counter()  # (src, dst) → copies lost on the link
        self.outbox: list[Sent] = []  # with ``forward``: publications not yet taken away
        self.forward = forward
        self._entropy = [int(v) for v in rng.integers(0, 2**32, size=4)]
        self._uniforms: dict[tuple[str, str], _Uniforms] = {}
        self._ranks = dict(ranks or {})
        self._count: dict[str, tuple[float, int]] = {}  # publisher → (time, publications then)
        self._subs: list[InProcessSubscription] = []
        self._match: dict[tuple[str, str], bool] = {}
        self._subjects: set[str] = set()
        self._link: dict[tuple[str, str], Link] = {}

    def connect(self, name: str) -> InProcessEndpoint:
        """An endpoint for the node called ``name``."""
        if not name or "." in name or "*" in name or ">" in name:
            raise ValueError(f"node name {name!r} must be a non-empty subject token")
        self._ranks.setdefault(name, len(self._ranks))
        return InProcessEndpoint(self, name)

    def inject(self, sent: Sequence[Sent]) -> None:
        """Take in publications of nodes on another process's bus (its ``outbox``), in their
        publish order: each reaches this bus's matching subscriptions as if published here."""
        for src, subject, data, order in sent:
            for sub in self._subs:
                if sub.owner != src and self._matches(sub.pattern, subject):
                    self._schedule(src, sub, order, subject, data)

    def link(self, src: str, dst: str) -> Link:
        """The link model for ``src`` → ``dst``: the first matching one, else the default."""
        key = (src, dst)
        found = self._link.get(key)
        if found is None:
            found = next(
                (ln for ln in self.links if fnmatchcase(src, ln.src) and fnmatchcase(dst, ln.dst)),
                DEFAULT_LINK,
            )
            self._link[key] = found
        return found

    def dropped(self) -> dict[str, int]:
        """Overflow drops per subscription, keyed ``"<node> <pattern>"`` (non-zero only)."""
        out: Counter[str] = Counter()
        for s in self._subs:
            out[f"{s.owner} {s.pattern}"] += s.dropped
        return {k: v for k, v in out.items() if v}

    def _matches(self, pattern: str, subject: str) -> bool:
        key = (pattern, subject)
        hit = self._match.get(key)
        if hit is None:
            hit = self._match[key] = subject_matches(pattern, subject)
        return hit

    def _publish(self, src: str, subject: str, data: bytes) -> None:
        if subject not in self._subjects:  # validate each new subject once
            check_subject(subject, wildcards=False)
            self._subjects.add(subject)
        now = self.clock()
        self.published += 1
        t, n = self._count.get(src, (now, 0))
        n = n + 1 if t == now else 1
        self._count[src] = (now, n)
        if src not in self._ranks:
            self._ranks[src] = len(self._ranks)
        order = (now, self._ranks[src], n)
        if self.forward:
            self.outbox.append((src, subject, data, order))
        for sub in self._subs:
            if not self._matches(sub.pattern, subject):
                continue
            if sub.owner == src:
                sub._offer((now, order, subject, data))
                continue
            self._schedule(src, sub, order, subject, data)

    def _uniform(self, key: tuple[str, str]) -> float:
        """The next draw of link ``key``'s own stream."""
        u = self._uniforms.get(key)
        if u is None:
            names = [zlib.crc32(k.encode()) for k in key]
            u = self._uniforms[key] = _Uniforms(np.random.default_rng([*self._entropy, *names]))
        return u()

    def _schedule(
        self, src: str, sub: InProcessSubscription, order: Order, subject: str, data: bytes
    ) -> None:
        ln, key = self.link(src, sub.owner), (src, sub.owner)
        self.sent[key] += 1
        if ln.loss > 0.0 and self._uniform(key) < ln.loss:
            self.lost[key] += 1
            return
        delay_s = ln.latency_ms / 1000.0
        if ln.jitter_ms > 0.0:
            delay_s += ln.jitter_ms / 1000.0 * self._uniform(key)
        arrival = order[0] + delay_s
        if self.fifo:
            arrival = max(arrival, sub._last.get(src, arrival))
            sub._last[src] = arrival
        sub._offer((arrival, order, subject, data))
