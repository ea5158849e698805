"""Simulated interceptors against truth: seeker basket, seeded kills, plots that vanish."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mead.engage.fire_control import Shot
from mead.events import Intercept, Launch
from mead.runtime.intercepts import Intercepts
from mead.runtime.simulation import World, prepare
from mead.scenario import load_scenario

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def world() -> World:
    sc = load_scenario(SMALL)
    return prepare(sc, sc.seed, SMALL)


def _shot(world: World, obj: str, t_hit_s: float, offset_m: float, pk: float) -> Shot:
    """A round aimed ``offset_m`` (east-ish, in ECEF x) off ``obj``'s true position."""
    epoch = world.scenario.start_epoch_s()
    alive, x = world.truth.states_at(t_hit_s)
    i = world.truth.ids.index(obj)
    p = x[list(alive).index(i), :3] + np.array([offset_m, 0.0, 0.0])
    return Shot(
        node="P2", unit="P2-LT1", t=epoch + t_hit_s - 30.0, t_intercept=epoch + t_hit_s,
        aim=(float(p[0]), float(p[1]), float(p[2])), threat_pos=(float(p[0]), float(p[1]),
        float(p[2])), threat_class="drone", basket_m=3_000.0, pk={"drone": pk},
        cost_usd=1.0, shot=1, advice_id="",
    )  # fmt: skip


def _plots_of(scans: list, i: int) -> list[float]:
    return [s.t for s in scans if (s.truth == i).any()]


def test_a_killed_object_vanishes_from_later_scans_only(world: World) -> None:
    i = world.truth.ids.index("uav-001")
    t_hit = 1200.0
    events: list = []
    ic = Intercepts(
        world.truth, world.scenario.start_epoch_s(), np.random.default_rng(1), events.append
    )
    h = ic.launch(_shot(world, "uav-001", t_hit, 500.0, pk=1.0))
    epoch = world.scenario.start_epoch_s()
    assert ic.outcome(h, epoch + t_hit - 1.0) is None  # not known before the intercept
    before = _plots_of(world.scans, i)
    assert any(t < t_hit for t in before) and any(t >= t_hit for t in before)
    ic.settle(epoch + t_hit)
    assert ic.outcome(h, epoch + t_hit) is True
    after = _plots_of(list(ic.visible(iter(world.scans))), i)
    assert after == [t for t in before if t < t_hit]
    other = world.truth.ids.index("uav-000")  # other objects keep every plot
    assert _plots_of(list(ic.visible(iter(world.scans))), other) == _plots_of(world.scans, other)
    (launch,) = [e for e in events if isinstance(e, Launch)]
    (hit,) = [e for e in events if isinstance(e, Intercept)]
    assert launch.truth == "uav-001" and hit.truth == "uav-001" and hit.killed
    assert hit.miss_m == pytest.approx(500.0, abs=1.0)


def test_a_round_outside_the_basket_meets_nothing(world: World) -> None:
    ic = Intercepts(
        world.truth, world.scenario.start_epoch_s(), np.random.default_rng(1), [].append
    )
    h = ic.launch(_shot(world, "uav-001", 1200.0, 4_000.0, pk=1.0))
    assert ic.outcome(h, 1e12) is False
    assert not np.isfinite(ic.t_kill).any()


def test_kills_follow_the_kill_probability(world: World) -> None:
    """Seeded draws: over many independent rounds the kill share is within 4σ of p."""
    p, n = 0.7, 400
    kills = 0
    for k in range(n):
        ic = Intercepts(world.truth, world.scenario.start_epoch_s(), np.random.default_rng(k),
                        [].append)  # fmt: skip
        kills += bool(ic.outcome(ic.launch(_shot(world, "uav-002", 1300.0, 0.0, p)), 1e12))
    assert abs(kills / n - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_the_same_round_at_the_same_object_has_the_same_outcome_in_both_runs(
    world: World,
) -> None:
    """Common random numbers: two runs of a seed (here two effectors on the same stream)
    give the k-th round to meet an object the same draw, whatever else each run fired
    before — so the alliance and national runs differ by decisions, not dice. A second
    round at the same object draws anew."""
    epoch = world.scenario.start_epoch_s()
    p = 0.5
    outcomes = []
    for extra in (0, 3):
        ic = Intercepts(world.truth, epoch, np.random.default_rng(7), [].append)
        for _ in range(extra):  # this run fired other rounds first, at another object
            ic.outcome(ic.launch(_shot(world, "uav-000", 1100.0, 0.0, p)), 1e12)
        first = ic.outcome(ic.launch(_shot(world, "uav-002", 1300.0, 0.0, p)), 1e12)
        second = ic.outcome(ic.launch(_shot(world, "uav-003", 1300.0, 0.0, p)), 1e12)
        outcomes.append((first, second, ic.draws[world.truth.ids.index("uav-002"), 0]))
    assert outcomes[0] == outcomes[1]
    ic = Intercepts(world.truth, epoch, np.random.default_rng(7), [].append)
    i = world.truth.ids.index("uav-002")
    assert ic._draw(i) != ic._draw(i)  # the next round at it: its next draw
