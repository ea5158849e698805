"""Tests of GOSPA: hand-computed cases and brute force over assignments (the definition)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mead.metrics.gospa import gospa


def test_hand_computed_cases() -> None:
    t = np.array([[0.0, 0.0], [100.0, 0.0]])
    # one track 30-40-50 from truth 0, truth 1 missed: 50 + 1000/2
    g = gospa(t, np.array([[30.0, 40.0]]), c=1000, p=1, alpha=2)
    assert g.distance == pytest.approx(550.0)
    assert (g.localisation, g.missed, g.false) == (50.0, 1, 0)
    # plus a false track far away: + 500
    g = gospa(t, np.array([[30.0, 40.0], [5000.0, 0.0]]))
    assert g.distance == pytest.approx(1050.0)
    assert (g.missed, g.false) == (1, 1)
    # empty sets
    assert gospa(t, np.empty((0, 2))).distance == pytest.approx(1000.0)
    assert gospa(np.empty((0, 2)), np.empty((0, 2))).distance == 0.0
    # p = 2: sqrt(3² + 4² + 2 · 10²/2) with c = 10
    g = gospa(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [50.0, 0.0]]), c=10, p=2)
    assert g.distance == pytest.approx(np.sqrt(25 + 100 / 2))


def test_assignment_prefers_global_optimum() -> None:
    """Greedy nearest neighbour would pair truth 0 with track 0 (distance 1) and pay more."""
    t = np.array([[0.0], [2.0]])
    e = np.array([[1.0], [-0.5]])
    # optimal: 0↔-0.5 (0.5), 2↔1 (1) = 1.5; greedy: 0↔1 (1), 2↔-0.5 (2.5) = 3.5
    assert gospa(t, e, c=10).distance == pytest.approx(1.5)


def brute_alpha2(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> float:
    """min over partial assignments of pairs closer than c (the α = 2 form), exhaustively."""
    best = np.inf
    m, n = len(X), len(Y)
    for k in range(min(m, n) + 1):
        for rows in itertools.combinations(range(m), k):
            for cols in itertools.permutations(range(n), k):
                d = np.linalg.norm(X[list(rows)] - Y[list(cols)], axis=1) if k else np.empty(0)
                if (d >= c).any():
                    continue
                best = min(best, float((d**p).sum() + c**p / 2 * (m + n - 2 * k)))
    return best ** (1 / p)


def brute_definition(X: np.ndarray, Y: np.ndarray, c: float, p: float, alpha: float) -> float:
    """min over injections π of the smaller set into the larger (the general definition)."""
    if len(X) > len(Y):
        X, Y = Y, X
    m, n = len(X), len(Y)
    best = min(
        float(sum(min(np.linalg.norm(X[i] - Y[j]), c) ** p for i, j in enumerate(perm)))
        for perm in itertools.permutations(range(n), m)
    )
    return (best + c**p / alpha * (n - m)) ** (1 / p)


@pytest.mark.parametrize("seed", range(6))
def test_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = rng.integers(0, 5, 2)
    X, Y = rng.uniform(0, 30, (m, 2)), rng.uniform(0, 30, (n, 2))
    for c, p in [(10.0, 1.0), (15.0, 2.0), (1e9, 1.0)]:
        got = gospa(X, Y, c=c, p=p, alpha=2)
        assert got.distance == pytest.approx(brute_alpha2(X, Y, c, p), rel=1e-12)
        for alpha in (0.5, 1.0, 2.0):
            want = brute_definition(X, Y, c, p, alpha)
            assert gospa(X, Y, c=c, p=p, alpha=alpha).distance == pytest.approx(want, rel=1e-12)
        assert got.missed - got.false == m - n


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"c": 0.0}, "c"), ({"p": 0.5}, "p"), ({"alpha": 3.0}, "alpha")]
)
def test_bad_parameters(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        gospa(np.zeros((1, 2)), np.zeros((1, 2)), **kwargs)


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="truth and est"):
        gospa(np.zeros((2, 2)), np.zeros((2, 3)))
