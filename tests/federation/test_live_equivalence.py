"""``mead up`` issues the same alerts as ``mead run``: real nats-servers against the simulated bus.

Both runs play the same scenario and seed in alliance mode. System track numbers differ
between runs, so an alert is identified by its recipient, its defended area and the truth
object it is about (:func:`~mead.metrics.evaluation.attribute_alerts`, as ``mead run``
attributes its events); issue and receipt times must agree within :func:`tolerance_s`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mead.errors import MeadError
from mead.events import AlertReceived, Event, read_events
from mead.federation.nats import ConnSpec, NatsBus
from mead.federation.natsserver import NatsServer
from mead.metrics.evaluation import attribute_alerts
from mead.runtime.simulation import World, prepare, run_mode
from mead.runtime.up import up
from mead.scenario import load_scenario
from mead.scenario.schema import Scenario

SCENARIO = Path(__file__).resolve().parent / "data" / "equivalence.yaml"
SPEED = 40.0  # scenario s per wall s: 240 s of raid in 6 s of wall time
JITTER_WALL_S = 0.05
"""A step or a delivery late by this much wall time (a busy 2-core machine) still counts."""

Key = tuple[str, str, str | None]  # (recipient, defended area, truth object)


def tolerance_s(sc: Scenario, speed: float) -> float:
    """Largest allowed issue-time difference between live and simulation, scenario s.

    A live message that misses the tick after it was sent (its sender or the network was
    late by up to ``JITTER_WALL_S`` wall s, i.e. ``JITTER_WALL_S × speed`` scenario s) is
    seen a tick later than in simulation; a batch seen late can miss one coordinator
    assessment (``assess_s``) and one partner release (``release_s``); the simulated link
    delivers at the first tick after its latency, live at the first tick after arrival
    (one ``tick_s`` apart at most while the latency stays below a tick).
    """
    release_s = max(p.release_s for p in sc.partners)
    return sc.coordinator.assess_s + release_s + sc.tick_s + JITTER_WALL_S * speed


def coordinator_alerts(world: World, events: list[Event]) -> dict[Key, list[Any]]:
    """Alerts partners received via the coordinator: key → [(state, t, t_recv), …]."""
    epoch, c = world.scenario.start_epoch_s(), world.scenario.coordinator.name
    out: dict[Key, list[Any]] = {}
    for e in attribute_alerts(world, events):
        if isinstance(e, AlertReceived) and e.via == c:
            key = (e.node, e.area, e.truth)
            out.setdefault(key, []).append((e.state, e.t - epoch, e.t_recv - epoch))
    return out


def issued(alerts: dict[Key, list[Any]]) -> dict[Key, tuple[float, float]]:
    """(issue t, receipt t) of the first ``issued`` alert per key, scenario s."""
    return {k: next((t, r) for s, t, r in v if s == "issued") for k, v in alerts.items()}


def test_up_issues_the_same_alerts_as_run(nats_server_bin: str, tmp_path: Path) -> None:
    sc = load_scenario(SCENARIO)
    world = prepare(sc, sc.seed, SCENARIO)  # what `mead run` (alliance) does
    sim = coordinator_alerts(world, run_mode(world, "alliance").events)

    summary = up(SCENARIO, tmp_path, speed=SPEED)
    assert summary["ok"], summary
    events = [
        e
        for p in sc.partners
        for e in read_events((tmp_path / f"{p.name}.events.jsonl").read_bytes())
    ]
    live = coordinator_alerts(world, events)

    s_iss, l_iss = issued(sim), issued(live)
    lag = {n: v["counters"]["max_lag_ms"] for n, v in summary["nodes"].items()}
    assert len(s_iss) >= 3 and None not in {k[2] for k in s_iss}  # 2 missiles + 1 drone
    assert set(l_iss) == set(s_iss), f"live {sorted(l_iss, key=str)} sim {sorted(s_iss, key=str)}"
    diffs = {k: (l_iss[k][0] - s_iss[k][0], l_iss[k][1] - s_iss[k][1]) for k in s_iss}
    tol = tolerance_s(sc, SPEED)
    worst = max(abs(d) for pair in diffs.values() for d in pair)
    assert worst <= tol, f"issue/receipt time differences {diffs} exceed {tol} s; lags {lag} ms"
    # every node stepped every tick, and nothing was rejected on the way
    for n, v in summary["nodes"].items():
        ctr = v["counters"]
        assert ctr["ticks"] == int(sc.duration_s / sc.tick_s) + 1, n
        assert not any(k.startswith("rejected_") for k in ctr), (n, ctr)


def test_a_step_sees_only_what_arrived_before_its_tick(nats_server: NatsServer) -> None:
    """``until`` holds back what arrived after the tick began, for the next tick."""
    with NatsBus(ConnSpec(nats_server.url)) as bus:
        a, b = bus.connect("A"), bus.connect("B")
        sub = b.subscribe("status.*")
        a.publish("status.A", b"early")
        a.flush()
        deadline = time.monotonic() + 5.0
        while sub.pending < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        sub.until = time.time()  # tick k begins
        a.publish("status.A", b"late")
        a.flush()
        while sub.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sub.drain() == [("status.A", b"early")]  # tick k
        sub.until = time.time()  # tick k + 1
        assert sub.drain() == [("status.A", b"late")]


def test_up_joins_a_raid_in_progress(nats_server_bin: str, tmp_path: Path) -> None:
    """``from_s``: every node begins cold at that scenario second — no scan from before it is
    tracked, no tick stepped before it — and still warns of the missiles in the air then."""
    sc = load_scenario(SCENARIO)
    world = prepare(sc, sc.seed, SCENARIO)
    from_s, run_s = 60.0, sc.duration_s - 60.0
    summary = up(SCENARIO, tmp_path, speed=SPEED, from_s=from_s)
    assert summary["ok"], summary
    epoch = sc.start_epoch_s()
    for n, v in summary["nodes"].items():
        ctr = v["counters"]
        assert ctr["ticks"] == int(run_s / sc.tick_s) + 1, n
        assert from_s <= ctr["max_lag_at_s"] <= sc.duration_s, n
    for p in sc.partners:
        mine = [s for s in world.scans if s.partner == p.name]
        late = [s for s in mine if from_s <= s.t and s.t_arrival <= sc.duration_s]
        assert len(late) < len(mine)  # the partner's radars did scan before from_s
        scans = summary["nodes"][p.name]["counters"]["scans"]
        assert len(late) - len(p.sensors) <= scans <= len(late), p.name
    events = [
        e
        for p in sc.partners
        for e in read_events((tmp_path / f"{p.name}.events.jsonl").read_bytes())
    ]
    assert events and min(e.t for e in events if hasattr(e, "t")) >= epoch + from_s
    warned = {k[2] for k in coordinator_alerts(world, events)}
    tt = world.truth
    missiles = {i for i, k in zip(tt.ids, tt.kind, strict=True) if k == "ballistic"}
    assert missiles and missiles <= warned, (missiles, warned)
    with pytest.raises(MeadError, match="--from must be a whole tick"):
        up(SCENARIO, tmp_path / "bad", from_s=sc.duration_s)
    assert not (tmp_path / "bad").exists()  # refused before anything was set up
