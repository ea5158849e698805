"""Tests of track-to-track association: gating, KD-tree candidates and GNN."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from mead.fusion.association import (
    associate,
    candidate_pairs,
    chi2_gate,
    close_pairs,
    gate_radius_m,
    gnn,
    mahalanobis2,
    pair_distance2,
)

from ._fakes import noisy, random_cov, truth


def test_mahalanobis_batched_equals_looped() -> None:
    rng = np.random.default_rng(0)
    dx = rng.normal(size=(7, 6))
    S = random_cov(7, rng, 2.0, 1.0)
    d2 = mahalanobis2(dx, S)
    for k in range(7):
        assert d2[k] == pytest.approx(dx[k] @ np.linalg.inv(S[k]) @ dx[k], rel=1e-10)
    with pytest.raises(ValueError, match="'dx'"):
        mahalanobis2(dx, S[:, :3, :3])


def test_gate_radius_bounds_the_mahalanobis_gate() -> None:
    """Any pair inside the χ² gate is within √(r_a² + r_b²) in position (pre-gating is
    lossless)."""
    rng = np.random.default_rng(1)
    Pa, Pb = random_cov(500, rng, 300.0, 10.0), random_cov(500, rng, 100.0, 10.0)
    xa = rng.normal(size=(500, 6)) * np.r_[[600.0] * 3, [10.0] * 3]
    xb = np.zeros((500, 6))
    gate = chi2_gate(0.9999, 6)
    idx = np.arange(500)
    inside = pair_distance2(xa, Pa, xb, Pb, idx, idx) <= gate
    assert inside.sum() > 50  # the test exercises the gate
    dist = np.linalg.norm(xa[:, :3], axis=1)
    bound = np.hypot(gate_radius_m(Pa, gate), gate_radius_m(Pb, gate))
    assert np.all(dist[inside] <= bound[inside])


def test_candidate_pairs_equal_brute_force() -> None:
    rng = np.random.default_rng(2)
    pa, pb = rng.uniform(0, 1e4, (60, 3)), rng.uniform(0, 1e4, (80, 3))
    r = rng.uniform(500, 2500, 60)
    ia, ib = candidate_pairs(pa, pb, r)
    dist = np.linalg.norm(pa[:, None] - pb[None], axis=2)
    expect = set(zip(*np.nonzero(dist <= r[:, None]), strict=True))
    assert set(zip(ia.tolist(), ib.tolist(), strict=True)) == expect
    assert candidate_pairs(pa[:0], pb, 1.0)[0].size == 0


def test_close_pairs_equal_brute_force() -> None:
    """Every pair (i < j) within √(r_i² + r_j²) (and the cap), and no other — with one wide
    track among narrow ones."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 2e4, (90, 3))
    r = rng.uniform(100, 1500, 90)
    r[7] = 9_000.0  # one uncertain track
    dist = np.linalg.norm(p[:, None] - p[None], axis=2)
    r[11] = 0.0  # one exact
    for cap in (np.inf, 2_500.0):
        for classes in (1, 3, 6):
            i, j = close_pairs(p, r, cap, classes)
            near = (dist**2 <= r[:, None] ** 2 + r[None] ** 2) & (dist <= cap)
            expect = np.nonzero(np.triu(near, k=1))
            assert i.tolist() == expect[0].tolist() and j.tolist() == expect[1].tolist()
    r[5] = np.nan  # near nothing
    i, j = close_pairs(p, r, np.inf)
    assert i.size > 0 and 5 not in i and 5 not in j
    assert close_pairs(p[:1], r[:1], np.inf)[0].size == 0
    r[3] = np.inf  # near everything (no cap)
    i, j = close_pairs(p, r, np.inf)
    assert sorted(j[i == 3].tolist() + i[j == 3].tolist()) == [
        k for k in range(90) if k not in (3, 5)
    ]


def _brute_gnn(cost: np.ndarray, miss: float) -> float:
    """Minimum of Σ assigned cost + miss per unassigned row, by enumeration (small sizes)."""
    na, nb = cost.shape
    best = na * miss
    for cols in itertools.product(range(-1, nb), repeat=na):
        used = [c for c in cols if c >= 0]
        if len(used) != len(set(used)):
            continue
        total = sum(miss if c < 0 else cost[r, c] for r, c in enumerate(cols))
        best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_gnn_is_optimal_against_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    na, nb, miss = 4, 4, 5.0
    cost = rng.uniform(0, 9, (na, nb))
    cost[rng.random((na, nb)) < 0.3] = np.inf  # not candidates
    ia, ib = np.nonzero(np.isfinite(cost))
    assign = gnn(ia, ib, cost[ia, ib], na, nb, miss)
    used = assign[assign >= 0]
    assert len(used) == len(set(used.tolist()))
    total = sum(miss if c < 0 else cost[r, c] for r, c in enumerate(assign))
    assert total == pytest.approx(_brute_gnn(cost, miss))


def test_gnn_resolves_single_pairs_and_empty_input() -> None:
    assign = gnn(np.array([0, 2]), np.array([1, 0]), np.array([1.0, 9.0]), 3, 2, 5.0)
    np.testing.assert_array_equal(assign, [1, -1, -1])  # 9 > miss cost: left unassigned
    empty = np.empty(0, np.intp)
    np.testing.assert_array_equal(gnn(empty, empty, np.empty(0), 2, 0, 1.0), [-1, -1])


def test_associate_recovers_a_permutation_of_noisy_tracks() -> None:
    rng = np.random.default_rng(5)
    x0 = truth(300, rng, spread_m=100_000)
    Pa, Pb = random_cov(300, rng, 150.0, 8.0), random_cov(300, rng, 250.0, 12.0)
    perm = rng.permutation(300)
    xa, xb = noisy(x0, Pa, rng), noisy(x0[perm], Pb[perm], rng)
    assign = associate(xa, Pa, xb, Pb[perm], chi2_gate(0.9999, 6), 30_000.0)
    inv = np.argsort(perm)
    assert np.mean(assign == inv) > 0.99
    allowed = np.ones(300, bool)
    allowed[inv[:10]] = False  # the right partners of the first 10 tracks are excluded
    assign = associate(xa, Pa, xb, Pb[perm], chi2_gate(0.9999, 6), 30_000.0, allowed)
    assert not np.isin(assign, inv[:10]).any()


def test_chi2_gate_values_and_bad_input() -> None:
    assert chi2_gate(0.99, 6) == pytest.approx(chi2.ppf(0.99, 6))
    with pytest.raises(ValueError, match="'p'"):
        chi2_gate(1.0, 6)
    with pytest.raises(ValueError, match="'dof'"):
        chi2_gate(0.9, 4)
