"""Tests of GNN association: the sparse solver against dense linear assignment, and the cost."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from mead.tracking.association import GNN, gnn_solve, pair_clusters, sparse_assignment
from mead.tracking.gating import Gated
from mead.tracking.measurement import PolarPrediction


def random_pairs(
    rng: np.random.Generator, n_t: int, n_p: int, density: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mask = rng.random((n_t, n_p)) < density
    t, p = np.nonzero(mask)
    return t, p, rng.normal(-2.0, 3.0, len(t))


def dense_optimum(t: np.ndarray, p: np.ndarray, c: np.ndarray, n_t: int, n_p: int) -> float:
    """Least total of min(c, 0) over all assignments, by dense linear_sum_assignment."""
    C = np.zeros((n_t, n_p))
    C[t, p] = np.minimum(c, 0.0)
    r, k = linear_sum_assignment(C)
    return float(C[r, k].sum())


@pytest.mark.parametrize("seed", range(6))
def test_gnn_solve_is_optimal_and_one_to_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_p = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    t, p, c = random_pairs(rng, n_t, n_p, float(rng.uniform(0.02, 0.3)))
    sel = gnn_solve(t, p, c)
    assert len(np.unique(t[sel])) == len(sel) and len(np.unique(p[sel])) == len(sel)
    assert np.all(c[sel] < 0)
    assert np.isclose(c[sel].sum(), dense_optimum(t, p, c, n_t, n_p))


def test_sparse_assignment_matches_dense_per_cluster() -> None:
    rng = np.random.default_rng(10)
    t, p, c = random_pairs(rng, 40, 40, 0.15)
    neg = c < 0
    t, p, c = t[neg], p[neg], c[neg]
    sel = sparse_assignment(t, p, c)
    assert np.isclose(c[sel].sum(), dense_optimum(t, p, c, 40, 40))


def test_plot_goes_to_the_cheaper_track_and_positive_costs_are_never_taken() -> None:
    t = np.array([0, 1, 1, 2])
    p = np.array([0, 0, 1, 2])
    c = np.array([-5.0, -1.0, -0.5, 3.0])
    sel = gnn_solve(t, p, c)
    # 0→0 and 1→1 (−5.5) beats 1→0 alone (−1); 2→2 costs more than leaving both alone
    assert sel.tolist() == [0, 2]


def test_gnn_solve_empty() -> None:
    e = np.empty(0, np.intp)
    assert len(gnn_solve(e, e, np.empty(0))) == 0
    assert len(gnn_solve(np.array([0]), np.array([0]), np.array([1.0]))) == 0


def test_pair_clusters() -> None:
    # tracks 0,1 share plot 5; track 2 alone with plot 7; track 3 with plots 8, 9
    t = np.array([0, 1, 2, 3, 3])
    p = np.array([5, 5, 7, 8, 9])
    label, n_t, n_p = pair_clusters(t, p)
    assert label[0] == label[1] and len({label[0], label[2], label[3]}) == 3
    assert label[3] == label[4]
    assert sorted(zip(n_t.tolist(), n_p.tolist(), strict=True)) == [(1, 1), (1, 2), (2, 1)]


def gated(d2: list[float], logdet: list[float], m: int = 3) -> Gated:
    k = len(d2)
    pred = PolarPrediction(
        np.arange(k),
        np.zeros((k, m)),
        np.zeros((k, m, 6)),
        np.zeros((k, m, m)),
        np.zeros((k, m, m)),
        np.asarray(logdet),
    )
    return Gated(
        np.arange(k), np.zeros(k, np.intp), np.arange(k), np.asarray(d2), np.zeros((k, m)), pred
    )


def test_gnn_cost_is_the_log_likelihood_ratio() -> None:
    gnn = GNN(pd=0.8, clutter_density=1e-6)
    g = gated([4.0], [-10.0])
    expected = 4.0 - 10.0 + 3 * np.log(2 * np.pi) - 2 * np.log(4.0) + 2 * np.log(1e-6)
    np.testing.assert_allclose(gnn.cost(g), [expected])


def test_gnn_cost_with_range_rate_has_four_dimensions_and_the_density_per_mps() -> None:
    """With ṙ the Gaussian is 4-D and the clutter density is β / Δṙ per m·rad²·m/s."""
    gnn = GNN(pd=0.8, clutter_density=1e-6, range_rate_span_mps=2_000.0)
    g = gated([4.0], [-10.0], m=4)
    beta4 = 1e-6 / 2_000.0
    expected = 4.0 - 10.0 + 4 * np.log(2 * np.pi) - 2 * np.log(4.0) + 2 * np.log(beta4)
    np.testing.assert_allclose(gnn.cost(g), [expected])
    with pytest.raises(ValueError, match="range_rate_span_mps"):
        GNN(range_rate_span_mps=0.0)


def test_precise_track_beats_vague_track_for_a_shared_plot() -> None:
    """A confirmed track (small S) wins a plot over a new track (huge S) at a smaller d²."""
    gnn = GNN()
    g = gated([6.0, 1.0], [-12.0, 8.0])  # both want plot 0
    assert gnn.associate(g).tolist() == [0]


def test_confirmed_track_chooses_before_a_tentative_one() -> None:
    """Jointly, tentative track 1 (d² + ln|S| = −13) takes plot 0 from confirmed track 0
    (−10); with confirmed tracks first, track 0 keeps it and track 1 gets nothing."""
    g = gated([2.0, 1.0], [-12.0, -14.0])  # both want plot 0; track 1 fits it better
    confirmed = np.array([True, False])
    first = GNN(confirmed_first=True)
    assert GNN().associate(g, confirmed).tolist() == [1]  # the default: joint
    assert first.associate(g, confirmed).tolist() == [0]
    assert first.associate(g).tolist() == [1]  # without the flags: joint


def test_tentative_tracks_share_what_confirmed_tracks_leave() -> None:
    """Tracks 0 (confirmed) and 1 (tentative) gate plot 0; track 1 also gates plot 1."""
    pred = gated([1.0, 1.0, 1.0], [-12.0, -12.0, -12.0]).pred
    g = Gated(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([0, 1, 1]),
              np.array([1.0, 0.5, 3.0]), np.zeros((3, 3)), pred)  # fmt: skip
    first = GNN(confirmed_first=True)
    assert first.associate(g, np.array([True, False, False])).tolist() == [0, 2]


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"pd": 1.0}, "pd"), ({"clutter_density": 0.0}, "clutter_density")]
)
def test_bad_gnn_parameters(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        GNN(**kwargs)


@pytest.mark.parametrize("size", [5, 60, 250, 1_000])
def test_pair_clusters_match_scipy_connected_components(size: int) -> None:
    """The fast paths (all-singleton, label propagation) partition as the sparse-graph path."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(size)
    for _ in range(200):
        k = int(rng.integers(1, size + 1))
        t = rng.integers(0, rng.integers(1, 2 * size), k)
        p = rng.integers(0, rng.integers(1, 2 * size), k)
        label, n_t, n_p = pair_clusters(t, p)
        tu, ti = np.unique(t, return_inverse=True)
        pu, pi = np.unique(p, return_inverse=True)
        graph = coo_array((np.ones(k), (ti, len(tu) + pi)), shape=(len(tu) + len(pu),) * 2)
        n, ref = connected_components(graph, directed=False)
        same = set(zip(label.tolist(), ref[ti].tolist(), strict=True))
        assert len(same) == len(set(label.tolist())) == len(set(ref[ti].tolist()))
        for a, b in same:
            assert n_t[a] == np.count_nonzero(ref[: len(tu)] == b)
            assert n_p[a] == np.count_nonzero(ref[len(tu) :] == b)
