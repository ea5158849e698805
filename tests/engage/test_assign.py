"""Weapon–target assignment against exhaustive enumeration of small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mead.engage.assign import assign, candidates, enumerate_best
from mead.errors import ParameterError


def _instance(seed: int, n: int, u: int) -> tuple:
    rng = np.random.default_rng(seed)
    value = rng.uniform(1.0, 10.0, n)
    feasible = rng.random((n, u)) < 0.6
    pk = rng.uniform(0.5, 0.95, (n, u))
    sls = feasible & (rng.random((n, u)) < 0.5)
    rounds = rng.integers(1, 4, u)
    channels = rng.integers(1, 3, u)
    cost = rng.choice([5e4, 1.1e6, 4.1e6], u)
    return value, pk, feasible, sls, rounds, channels, cost


def _exhaustive(value, pk, feasible, sls, rounds, channels, cost) -> float:
    """The best objective over every choice of (none | unit, shots) per threat, looped."""
    c = candidates(value, pk, feasible, sls, cost)
    n = len(value)
    per = [[-1] + [k for k in range(c.threat.size) if c.threat[k] == i] for i in range(n)]
    best = 0.0
    for choice in itertools.product(*per):
        ks = [k for k in choice if k >= 0]
        used_r = np.zeros(len(rounds), int)
        used_c = np.zeros(len(rounds), int)
        for k in ks:
            used_r[c.unit[k]] += c.shots[k]
            used_c[c.unit[k]] += 1
        if (used_r <= rounds).all() and (used_c <= channels).all():
            best = max(best, float(sum(c.gain[k] for k in ks)))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_milp_equals_exhaustive_and_greedy_is_feasible(seed: int) -> None:
    inst = _instance(seed, n=5, u=3)
    opt = _exhaustive(*inst)
    assert enumerate_best(*inst) == pytest.approx(opt)
    plan = assign(*inst, deadline_s=5.0)
    assert plan.method in ("milp", "none")
    assert plan.objective == pytest.approx(opt, rel=1e-6, abs=1e-9)
    greedy = assign(*inst, method="greedy")
    assert greedy.objective <= opt + 1e-9
    for p in (plan, greedy):
        _check_feasible(p, *inst)


def _check_feasible(plan, value, pk, feasible, sls, rounds, channels, cost) -> None:
    got = plan.unit >= 0
    assert (plan.shots[got] >= 1).all() and (plan.shots[~got] == 0).all()
    for n in np.flatnonzero(got):
        u = plan.unit[n]
        assert feasible[n, u]
        assert plan.shots[n] == 1 or sls[n, u]
    for u in range(len(rounds)):
        mine = plan.unit == u
        assert plan.shots[mine].sum() <= rounds[u]
        assert mine.sum() <= channels[u]


def test_shoot_look_shoot_when_rounds_are_plenty() -> None:
    value = np.array([10.0])
    pk = np.array([[0.7]])
    one = assign(value, pk, np.ones((1, 1), bool), np.ones((1, 1), bool), [4], [2], [1e6])
    assert one.shots[0] == 2
    assert one.protected == pytest.approx(10.0 * (1 - 0.3**2))
    # with one round left the same threat gets one shot
    lim = assign(value, pk, np.ones((1, 1), bool), np.ones((1, 1), bool), [1], [2], [1e6])
    assert lim.shots[0] == 1


def test_cheaper_interceptor_breaks_a_tie() -> None:
    plan = assign(
        np.array([5.0]), np.array([[0.9, 0.9]]), np.ones((1, 2), bool),
        np.zeros((1, 2), bool), [5, 5], [1, 1], [4.1e6, 5e4],
    )  # fmt: skip
    assert plan.unit[0] == 1


def test_nothing_to_assign() -> None:
    plan = assign(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2), bool),
                  np.zeros((0, 2), bool), [1, 1], [1, 1], [1.0, 1.0])  # fmt: skip
    assert plan.method == "none" and plan.unit.size == 0


@pytest.mark.parametrize(("kw", "field"), [({"method": "lp"}, "method"),
                                           ({"deadline_s": 0.0}, "deadline_s")])  # fmt: skip
def test_bad_parameters_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ParameterError, match=field):
        assign(np.ones(1), np.ones((1, 1)), np.ones((1, 1), bool), np.ones((1, 1), bool),
               [1], [1], [1.0], **kw)  # fmt: skip
