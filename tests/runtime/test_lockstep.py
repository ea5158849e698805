"""Both runs in lockstep workers equal the two runs made one at a time, to the event."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import msgspec
import numpy as np
import pytest

from mead.events import AlertReceived
from mead.messages import Picture, SystemTrack
from mead.metrics.evaluation import Scorer
from mead.runtime import lockstep
from mead.runtime.lockstep import run_lockstep, shareable, spread
from mead.runtime.node import Held, PartnerNode
from mead.runtime.simulation import MODES, World, prepare, run_both, run_mode
from mead.scenario import load_scenario
from mead.scenario.schema import Link
from mead.server.replay import recording

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _world(name: str, duration_s: float) -> World:
    path = SCENARIOS / name
    sc = msgspec.structs.replace(load_scenario(path), duration_s=duration_s)
    return prepare(sc, sc.seed, path)


@pytest.mark.parametrize("name", ["airport.yaml", "lying.yaml"])
def test_lockstep_equals_the_runs_one_at_a_time(name: str) -> None:
    """Events (in order), counters and what the observers gathered (scores, the map's
    recording) are the same."""
    world = _world(name, 600.0)
    assert shareable(world) is None
    one = {m: run_mode(world, m, observer=recording(Scorer)) for m in MODES}
    both = run_lockstep(world, jobs=2, observer=recording(Scorer))
    for m in MODES:
        enc = msgspec.json.encode
        assert [enc(e) for e in both[m].events] == [enc(e) for e in one[m].events], m
        assert both[m].counters == one[m].counters, m
        assert pickle.dumps(both[m].observed) == pickle.dumps(one[m].observed), m
    assert any(isinstance(e, AlertReceived) and e.via == "C0" for e in both["alliance"].events)
    # partners held the coordinator's pictures over several releases: a picture shown again
    # crossed from its worker once and was put back (lockstep._SentOnce)
    held = both["alliance"].observed[1]
    frames = [len(v) for k, v in held.items() if k.endswith(".picture.t")]
    shows = [len(v) for k, v in held.items() if k.startswith("P") and k.endswith(".own.t")]
    assert frames and sum(shows) > sum(frames) > 0


def test_run_both_takes_lockstep_only_where_the_runs_share_their_plots() -> None:
    world = _world("airport.yaml", 300.0)
    assert run_both(world, jobs=2)["alliance"].counters == run_mode(world, "alliance").counters
    small = _world("small.yaml", 60.0)
    assert "fire units" in (shareable(small) or "")
    with pytest.raises(ValueError, match="fire units"):
        run_lockstep(small, jobs=2)
    links = [Link(src="*", dst="*", latency_ms=0.0)]
    instant = dataclasses.replace(
        world, scenario=msgspec.structs.replace(world.scenario, links=links)
    )
    assert "no latency" in (shareable(instant) or "")


def test_spread_puts_every_node_on_one_worker() -> None:
    world = _world("lying.yaml", 60.0)
    names = [p.name for p in world.scenario.partners] + [world.scenario.coordinator.name]
    for jobs in (1, 2, 3, 20):
        groups = spread(world, jobs)
        assert sorted(n for g in groups for n in g) == sorted(names)
        assert 1 <= len(groups) <= min(jobs, len(names))


def test_a_workers_error_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that raises in a worker: the caller gets the error, with where it came from,
    and no worker is left behind."""
    world = _world("airport.yaml", 120.0)
    step = PartnerNode.step

    def broken(self: PartnerNode, now: float) -> None:
        if now - world.scenario.start_epoch_s() >= 30.0:
            raise ZeroDivisionError("a partner's bug")
        step(self, now)

    monkeypatch.setattr(PartnerNode, "step", broken)
    with pytest.raises(ZeroDivisionError, match="a partner's bug") as e:
        run_lockstep(world, jobs=2)
    assert any("raised in worker" in n for n in e.value.__notes__)
    import multiprocessing

    assert not multiprocessing.active_children()


def test_twins_that_diverge_are_an_error() -> None:
    class Fake:
        counters: dict = {}

        def report(self, t: float) -> str:
            return "rep"

    shared = lockstep.SharedTracker.__new__(lockstep.SharedTracker)
    shared.inner, shared.counters, shared.last = Fake(), {}, (5.0, "rep")
    echo = lockstep.EchoTracker(shared)
    assert echo.report(5.0) == "rep"
    with pytest.raises(RuntimeError, match="twins diverged"):
        echo.report(10.0)


def test_a_picture_shown_by_several_partners_crosses_whole_and_is_decoded_once() -> None:
    """What the parent's observer gets back is the picture each partner held; the same rows
    sent by two partners are decoded once, and a repeated show sends no rows at all."""
    rows = tuple(
        SystemTrack.of(stn=i, x=(1.0 * i, 2.0, 3.0, 4.0, 5.0, 6.0), pos_var_m2=9.0,
                    vel_var_m2s2=1.0, cls="drone")
        for i in range(3)
    )  # fmt: skip
    other = rows[:2]

    def held(node: str, pic: Picture | None) -> Held:
        e = np.empty(0)
        return Held(node, 10.0, [], np.empty((0, 6)), [], e, e, picture=pic)

    sent: list = []
    shown: list[Held] = []
    parent = lockstep._Shown(shown.append)
    sends = {n: lockstep._SentOnce(sent.append) for n in ("A", "B")}
    pa, pb = Picture(recipient="A", t=5.0, tracks=rows), Picture(recipient="B", t=5.0, tracks=rows)
    pc = Picture(recipient="A", t=10.0, tracks=other)
    for node, pic in (("A", pa), ("B", pb), ("A", pa), ("B", None), ("A", pc)):
        sends[node](held(node, pic))
        parent(pickle.loads(pickle.dumps(sent[-1])))
    assert [h.picture for h in shown] == [pa, pb, pa, None, pc]
    assert shown[0].picture is not None and shown[1].picture is not None
    assert shown[0].picture.tracks is shown[1].picture.tracks  # one decode for both
    assert sent[2][1] is True and sent[2][2] is None  # shown again: nothing crosses
