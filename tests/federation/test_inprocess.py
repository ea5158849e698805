"""In-process bus: latency, jitter, FIFO order, loss statistics, wildcards, bounded queues."""

from __future__ import annotations

import numpy as np
import pytest

from mead.federation.base import subject_matches
from mead.federation.inprocess import InProcessBus
from mead.scenario.schema import Link

T0 = 1_713_038_400.0  # a realistic wire epoch, so float rounding is exercised


class Clock:
    """A settable scenario clock."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_bus(
    links: list[Link] | None = None, seed: int = 1, **kw: bool
) -> tuple[InProcessBus, Clock]:
    clock = Clock()
    return InProcessBus(clock, links or [], np.random.default_rng(seed), **kw), clock


def arrivals(sub, clock: Clock, until_s: float, step_s: float = 1e-3) -> list[tuple[float, bytes]]:
    """(arrival offset s, data) of everything drained while stepping the clock."""
    out = []
    for k in range(int(round(until_s / step_s)) + 1):
        clock.t = T0 + k * step_s
        out.extend((k * step_s, d) for _, d in sub.drain())
    return out


def test_default_latency_is_150_ms_and_no_loss() -> None:
    bus, clock = make_bus()
    a, b = bus.connect("A"), bus.connect("B")
    sub = b.subscribe("tracks.B")
    a.publish("tracks.B", b"x")
    clock.t = T0 + 0.149
    assert sub.drain() == []
    clock.t = T0 + 0.150
    assert sub.drain() == [("tracks.B", b"x")]
    assert sub.drain() == []
    assert bus.sent[("A", "B")] == 1 and not bus.lost


def test_first_matching_link_wins_and_wildcards_apply() -> None:
    links = [
        Link(src="A", dst="B", latency_ms=10.0),
        Link(src="A", dst="*", latency_ms=20.0),
        Link(src="P*", dst="*", latency_ms=30.0),
        Link(src="*", dst="*", latency_ms=40.0),
        Link(src="A", dst="C", latency_ms=99.0),  # shadowed by "A" → "*"
    ]
    bus, _ = make_bus(links)
    assert bus.link("A", "B").latency_ms == 10.0
    assert bus.link("A", "C").latency_ms == 20.0
    assert bus.link("P7", "A").latency_ms == 30.0
    assert bus.link("C", "A").latency_ms == 40.0
    bus2, _ = make_bus([Link(src="A", dst="B", latency_ms=5.0)])
    assert bus2.link("B", "A").latency_ms == 150.0 and bus2.link("B", "A").loss == 0.0


def test_arrival_order_across_links_ties_by_publish_order() -> None:
    links = [
        Link(src="slow", latency_ms=500.0),
        Link(src="mid", latency_ms=250.0),
        Link(src="fast", latency_ms=125.0),
    ]
    bus, clock = make_bus(links)
    slow, fast, mid, rx = (bus.connect(n) for n in ("slow", "fast", "mid", "rx"))
    sub = rx.subscribe("x.>")
    slow.publish("x.1", b"slow")  # arrives at 0.5
    clock.t = T0 + 0.125
    mid.publish("x.2", b"mid-first")  # arrives at 0.375
    clock.t = T0 + 0.25
    fast.publish("x.3", b"fast")  # arrives at 0.375 too, published after mid-first
    clock.t = T0 + 0.375 - 1e-6
    assert sub.drain() == []
    clock.t = T0 + 0.375
    assert [d for _, d in sub.drain()] == [b"mid-first", b"fast"]
    clock.t = T0 + 1.0
    assert [d for _, d in sub.drain()] == [b"slow"]


def test_jitter_is_uniform_above_latency_and_links_stay_fifo() -> None:
    bus, clock = make_bus([Link(latency_ms=50.0, jitter_ms=100.0)], seed=7)
    a, b = bus.connect("A"), bus.connect("B")
    sub = b.subscribe("s")
    n = 2000
    for i in range(n):
        a.publish("s", i.to_bytes(4, "big"))
    got = arrivals(sub, clock, until_s=0.2)
    assert len(got) == n
    assert [int.from_bytes(d, "big") for _, d in got] == list(range(n))  # FIFO kept
    # the last message's FIFO-clamped arrival is the max of n uniform draws
    assert 0.140 <= got[-1][0] <= 0.150


def test_jitter_without_fifo_reorders_with_uniform_delays() -> None:
    bus, clock = make_bus([Link(latency_ms=50.0, jitter_ms=100.0)], seed=7, fifo=False)
    a, b = bus.connect("A"), bus.connect("B")
    sub = b.subscribe("s")
    n = 2000
    for i in range(n):
        a.publish("s", i.to_bytes(4, "big"))
    got = arrivals(sub, clock, until_s=0.2)
    delays = np.array([t for t, _ in got])
    order = [int.from_bytes(d, "big") for _, d in got]
    assert sorted(order) == list(range(n)) and order != list(range(n))
    assert delays.min() >= 0.050 and delays.max() <= 0.151
    # U(50, 150) ms, sampled on a 1 ms grid (ceil): mean 100.5 ms, sd 28.9/√n = 0.65 ms
    assert abs(delays.mean() - 0.1005) < 4 * 0.0289 / np.sqrt(n)


def test_loss_rate_is_binomial_and_counted_per_link() -> None:
    bus, clock = make_bus([Link(src="A", dst="B", loss=0.2)], seed=3)
    a, b, c = bus.connect("A"), bus.connect("B"), bus.connect("C")
    sb, sc = b.subscribe("m"), c.subscribe("m")
    n, p = 10_000, 0.2
    for _ in range(n):
        a.publish("m", b"")
    clock.t = T0 + 1.0
    got_b, got_c = len(sb.drain()), len(sc.drain())
    lost = bus.lost[("A", "B")]
    assert got_b + lost == n and bus.sent[("A", "B")] == n
    assert abs(lost - n * p) < 4 * np.sqrt(n * p * (1 - p))  # 4σ = 160
    assert got_c == n and bus.lost[("A", "C")] == 0


def test_same_seed_same_deliveries() -> None:
    def run(seed: int) -> list[tuple[float, bytes]]:
        bus, clock = make_bus([Link(loss=0.3, jitter_ms=40.0)], seed=seed, fifo=False)
        a, b = bus.connect("A"), bus.connect("B")
        sub = b.subscribe(">")
        for i in range(300):
            a.publish("m", bytes([i % 256]))
        return arrivals(sub, clock, until_s=0.2)

    assert run(11) == run(11)
    assert run(11) != run(12)


@pytest.mark.parametrize(
    ("pattern", "subject", "hit"),
    [
        ("tracks.C0", "tracks.C0", True),
        ("tracks.*", "tracks.C0", True),
        ("tracks.*", "tracks.C0.x", False),
        ("tracks.>", "tracks.C0.x", True),
        ("tracks.>", "tracks", False),
        (">", "alerts.P1", True),
        ("*.P1", "alerts.P1", True),
        ("*.P1", "alerts.P2", False),
        ("tracks.C0", "tracks.C01", False),
        ("tracks", "tracks.C0", False),
    ],
)
def test_subject_wildcards_deliver_exactly_the_matches(
    pattern: str, subject: str, hit: bool
) -> None:
    assert subject_matches(pattern, subject) is hit
    bus, clock = make_bus()
    a, b = bus.connect("A"), bus.connect("B")
    sub = b.subscribe(pattern)
    a.publish(subject, b"d")
    clock.t = T0 + 1.0
    assert sub.drain() == ([(subject, b"d")] if hit else [])


def test_own_subscriptions_get_own_messages_at_once() -> None:
    bus, _ = make_bus([Link(loss=1.0)])
    a = bus.connect("A")
    sub = a.subscribe("status.*")
    a.publish("status.A", b"me")
    assert sub.drain() == [("status.A", b"me")]
    assert not bus.lost


def test_bounded_queue_drops_the_newest_and_counts_it() -> None:
    bus, clock = make_bus()
    a, b = bus.connect("A"), bus.connect("B")
    sub = b.subscribe("q", limit=10)
    for i in range(25):
        a.publish("q", bytes([i]))
    assert sub.dropped == 15 and sub.pending == 10
    clock.t = T0 + 1.0
    assert [d for _, d in sub.drain()] == [bytes([i]) for i in range(10)]
    assert bus.dropped() == {"B q": 15}
    a.publish("q", b"again")  # room again once drained
    clock.t = T0 + 2.0
    assert sub.drain() == [("q", b"again")] and sub.dropped == 15


def test_several_subscriptions_each_get_a_copy() -> None:
    bus, clock = make_bus()
    a, b = bus.connect("A"), bus.connect("B")
    s1, s2 = b.subscribe("tracks.B"), b.subscribe("tracks.*")
    a.publish("tracks.B", b"1")
    clock.t = T0 + 1.0
    assert s1.drain() == s2.drain() == [("tracks.B", b"1")]
    b.unsubscribe(s1)
    a.publish("tracks.B", b"2")
    clock.t = T0 + 2.0
    assert s1.drain() == [] and s2.drain() == [("tracks.B", b"2")]


@pytest.mark.parametrize("subject", ["tracks.*", "tracks.>", "tracks..C0", "", "a b"])
def test_bad_publish_subjects_are_refused(subject: str) -> None:
    bus, _ = make_bus()
    with pytest.raises(ValueError, match="subject"):
        bus.connect("A").publish(subject, b"")


@pytest.mark.parametrize("pattern", ["tracks.>.x", "a..b", ""])
def test_bad_patterns_and_limits_are_refused(pattern: str) -> None:
    bus, _ = make_bus()
    ep = bus.connect("A")
    with pytest.raises(ValueError, match="pattern"):
        ep.subscribe(pattern)
    with pytest.raises(ValueError, match="limit must be >= 1"):
        ep.subscribe("ok", limit=0)
    with pytest.raises(ValueError, match="node name"):
        bus.connect("A.B")


def test_each_link_draws_from_its_own_stream() -> None:
    """What one link carries does not change another's jitter (its own random stream)."""
    link = [Link(src="*", dst="*", latency_ms=100, jitter_ms=50)]

    def c0_arrivals(with_p2: bool) -> list[tuple[float, bytes]]:
        bus, clock = make_bus(link, seed=4)
        p1, p2, c0 = bus.connect("P1"), bus.connect("P2"), bus.connect("C0")
        sub = c0.subscribe("tracks.C0")
        other = bus.connect("P3").subscribe("tracks.P3")
        for k in range(20):
            p1.publish("tracks.C0", bytes([k]))
            if with_p2:
                p2.publish("tracks.P3", bytes([k]))
            clock.t += 0.01
        clock.t = T0
        assert other.pending == (20 if with_p2 else 0)
        return arrivals(sub, clock, 1.0)

    assert c0_arrivals(False) == c0_arrivals(True)


def test_forwarded_publications_arrive_as_on_one_bus() -> None:
    """Two buses (two processes' nodes) joined by outbox → inject deliver what one bus
    does: the same arrival times and the same order, ties broken by the step order."""
    links = [Link(src="P1", dst="*", latency_ms=100, jitter_ms=40, loss=0.2)]

    def run(split: bool) -> list[tuple[float, bytes]]:
        clock = Clock()
        ranks = {"P1": 0, "P2": 1, "C0": 2}
        a = InProcessBus(clock, links, np.random.default_rng(9), ranks=ranks, forward=split)
        b = InProcessBus(clock, links, np.random.default_rng(9), ranks=ranks) if split else a
        p1, p2, c0 = a.connect("P1"), b.connect("P2"), b.connect("C0")
        sub = c0.subscribe("tracks.>")
        out = []
        for k in range(50):  # a tick: P1 and P2 publish, then what is due is drained
            clock.t = T0 + k
            b.inject(a.outbox)  # what P1 published last tick (never due within its tick)
            a.outbox = []
            out += [(clock.t, d) for _, d in sub.drain()]
            p1.publish("tracks.C0", b"1-%d" % k)
            p2.publish("tracks.C0", b"2-%d" % k)
            p1.publish("tracks.P2", b"x-%d" % k)
        return out

    one, two = run(False), run(True)
    assert one == two
    assert 100 < len(one) < 150  # of 150: P1's 100 lose ~20 %, P2's 50 none
