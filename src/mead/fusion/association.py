"""Track-to-track association: KD-tree pre-gating, χ² gating and global nearest neighbour.

Two tracks a and b (both predicted to one time) are candidates for the same object when

    d² = (x_a − x_b)ᵀ (P_a + P_b)⁻¹ (x_a − x_b) ≤ γ,

with γ a χ² quantile for the compared dimensions (3 for position, 6 for position and
velocity). Summing the covariances treats the two errors as independent; when partners'
errors are positively correlated (the usual case) the true covariance of the difference is
smaller, so this gate is conservative.

Scaling: since d² ≤ γ implies |Δp|² ≤ γ (λ_a + λ_b), λ the largest eigenvalue of a track's
position covariance (the position part of d² alone is at least |Δp|² / λmax(P_a + P_b)),
KD-trees over positions find the few candidates per track first (radius capped at
``max_gate_m``); only those pairs get the Mahalanobis test. The assignment is global
nearest neighbour (GNN): minimise Σ d² over assigned pairs plus ``miss_cost`` for each
track left unassigned, solved by ``scipy.optimize.linear_sum_assignment`` on each
connected component of the gated pair graph (most components are a single pair, resolved
without a solver).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import chi2

from mead.linalg import max_eigenvalue_3x3
from mead.types import Array, Covs, Index, Positions, States


def chi2_gate(p: float, dof: int) -> float:
    """The χ² quantile γ with P(d² ≤ γ) = ``p`` for ``dof`` dimensions."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"gate probability 'p' must be in (0, 1) (got {p})")
    if dof not in (3, 6):
        raise ValueError(f"'dof' must be 3 (position) or 6 (position and velocity), got {dof}")
    return float(chi2.ppf(p, dof))


def mahalanobis2(dx: Array, S: Covs) -> Array:
    """(K,) squared Mahalanobis distances dxᵀ S⁻¹ dx for (K, d) ``dx`` and (K, d, d) ``S``."""
    if dx.ndim != 2 or S.shape != (*dx.shape, dx.shape[1]):
        raise ValueError(f"'dx' (K, d) and 'S' (K, d, d) disagree: {dx.shape} vs {S.shape}")
    if dx.shape[0] == 0:
        return np.empty(0)
    return np.einsum("ki,ki->k", dx, np.linalg.solve(S, dx[:, :, None])[:, :, 0])


def pair_distance2(
    xa: States,
    Pa: Covs,
    xb: States,
    Pb: Covs,
    ia: Index,
    ib: Index,
    dof: int = 6,
) -> Array:
    """(K,) d² of the pairs (ia[k], ib[k]) with the combined covariance P_a + P_b.

    Parameters
    ----------
    xa, Pa : (Na, 6), (Na, 6, 6) tracks a, ECEF, at the same time as b.
    xb, Pb : (Nb, 6), (Nb, 6, 6) tracks b.
    ia, ib : (K,) row indices into a and b.
    dof : 3 compares positions only, 6 positions and velocities.
    """
    if dof not in (3, 6):
        raise ValueError(f"'dof' must be 3 (position) or 6 (position and velocity), got {dof}")
    dx = xa[ia, :dof] - xb[ib, :dof]
    return mahalanobis2(dx, Pa[ia, :dof, :dof] + Pb[ib, :dof, :dof])


def gate_radius_m(P: Covs, gate: float) -> Array:
    """(N,) r = √(γ λmax(P_pos)): two tracks farther apart than √(r_a² + r_b²) (so than
    r_a + r_b) cannot pass the gate γ (see the module doc)."""
    lam = max_eigenvalue_3x3(P[:, :3, :3])
    return np.sqrt(gate * np.maximum(lam, 0.0))


def candidate_pairs(pa: Positions, pb: Positions, radius_m: Array | float) -> tuple[Index, Index]:
    """All (ia, ib) with |pa[ia] − pb[ib]| ≤ radius_m[ia], found with a KD-tree over ``pb``.

    Parameters
    ----------
    pa : (Na, 3) ECEF positions, m.
    pb : (Nb, 3) ECEF positions, m.
    radius_m : scalar or (Na,) search radius per a-point, m.
    """
    if pa.shape[0] == 0 or pb.shape[0] == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    hits = cKDTree(pb).query_ball_point(pa, np.broadcast_to(radius_m, (pa.shape[0],)))
    lens = np.fromiter(map(len, hits), dtype=np.intp, count=len(hits))
    ib = np.fromiter(itertools.chain.from_iterable(hits), dtype=np.intp, count=int(lens.sum()))
    return np.repeat(np.arange(pa.shape[0]), lens), ib


def close_pairs(p: Positions, r: Array, max_m: float, classes: int = 6) -> tuple[Index, Index]:
    """All pairs (i, j), i < j, of one set with |p[i] − p[j]|² ≤ r[i]² + r[j]² and
    |p[i] − p[j]| ≤ ``max_m``, sorted by (i, j) (with r from :func:`gate_radius_m`: every
    pair that may pass the gate).

    The points are put in ``classes`` radius classes, each half as wide as the one above
    (the last takes everything narrower), and each pair of classes is searched once with
    KD-trees within √(w_a² + w_b²) of the two classes' widest radii; the pairs come back as
    arrays, not a Python list per point. One uncertain track then widens only its own
    class's searches: in a dense drone stream a search of every point within twice the
    widest radius finds millions of pairs a cycle.

    Parameters
    ----------
    p : (N, 3) ECEF positions, m.
    r : (N,) radii, m (NaN: near nothing).
    max_m : no pair farther apart than this, m.
    classes : radius classes (1: one search within min(2 max r, max_m)).
    """
    ok = np.flatnonzero(r >= 0.0)
    if ok.size < 2:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    rr = np.minimum(r[ok], max_m)  # no pair is farther than max_m anyway
    top = max(float(rr.max()), 1e-9)
    with np.errstate(invalid="ignore"):  # inf / inf (no cap): the widest class
        halvings = np.nan_to_num(np.floor(np.log2(top / np.maximum(rr, 1e-300))), nan=0.0)
    cls = np.minimum(halvings, classes - 1).astype(int)
    groups = [np.flatnonzero(cls == c) for c in range(classes)]
    groups = [g for g in groups if g.size]
    trees = [cKDTree(p[ok[g]]) for g in groups]
    widest = [float(rr[g].max()) for g in groups]
    found_i, found_j = [], []
    for a, ga in enumerate(groups):
        for b in range(a, len(groups)):
            reach = min(float(np.hypot(widest[a], widest[b])), max_m)
            if a == b:
                ij = trees[a].query_pairs(reach, output_type="ndarray")
                i, j = ga[ij[:, 0]], ga[ij[:, 1]]
            else:
                m = trees[a].sparse_distance_matrix(trees[b], reach, output_type="ndarray")
                i, j = ga[m["i"]], groups[b][m["j"]]
            found_i.append(i)
            found_j.append(j)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    i, j = np.minimum(i, j), np.maximum(i, j)
    d2 = np.square(p[ok[i]] - p[ok[j]]).sum(axis=1)
    keep = (d2 <= rr[i] ** 2 + rr[j] ** 2) & (d2 <= max_m**2)
    i, j = ok[i[keep]], ok[j[keep]]
    order = np.lexsort((j, i))
    return i[order].astype(np.intp), j[order].astype(np.intp)


def gnn(ia: Index, ib: Index, cost: Array, n_a: int, n_b: int, miss_cost: float) -> Index:
    """Global nearest neighbour over sparse candidate pairs.

    Minimises Σ cost over assigned pairs + ``miss_cost`` per unassigned a, each a and b used
    at most once; pairs with cost > ``miss_cost`` are never assigned.

    Parameters
    ----------
    ia, ib : (K,) candidate pairs (rows of a, rows of b); no duplicates.
    cost : (K,) their costs (e.g. d²).
    n_a, n_b : numbers of a and b rows.
    miss_cost : cost of leaving one a unassigned (e.g. the gate γ).

    Returns
    -------
    (n_a,) index into b for each a, or -1.
    """
    assign = np.full(n_a, -1, dtype=np.intp)
    keep = cost <= miss_cost
    ia, ib, cost = ia[keep], ib[keep], cost[keep]
    if ia.size == 0:
        return assign
    graph = coo_matrix((np.ones(ia.size), (ia, n_a + ib)), shape=(n_a + n_b, n_a + n_b))
    _, label = connected_components(graph, directed=False)
    comp = label[ia]
    single = np.bincount(comp)[comp] == 1
    assign[ia[single]] = ib[single]
    multi = np.flatnonzero(~single)
    multi = multi[np.argsort(comp[multi], kind="stable")]
    cuts = np.flatnonzero(np.diff(comp[multi])) + 1
    for sel in np.split(multi, cuts) if multi.size else []:
        rows, r = np.unique(ia[sel], return_inverse=True)
        cols, c = np.unique(ib[sel], return_inverse=True)
        m = np.full((rows.size, cols.size + rows.size), np.inf)
        m[r, c] = cost[sel]
        m[np.arange(rows.size), cols.size + np.arange(rows.size)] = miss_cost
        ri, ci = linear_sum_assignment(m)
        hit = ci < cols.size
        assign[rows[ri[hit]]] = cols[ci[hit]]
    return assign


def associate(
    xa: States,
    Pa: Covs,
    xb: States,
    Pb: Covs,
    gate: float,
    max_gate_m: float,
    allowed: Array | None = None,
    dof: int = 6,
) -> Index:
    """Assign each track a to at most one track b (GNN on gated d²), all at one time.

    Parameters
    ----------
    xa, Pa : (Na, 6), (Na, 6, 6) tracks to assign (ECEF).
    xb, Pb : (Nb, 6), (Nb, 6, 6) tracks they may join (ECEF, same time).
    gate : χ² gate γ on d²; also the cost of leaving an a unassigned.
    max_gate_m : no pair farther apart than this (m) is considered, whatever the covariances.
    allowed : (Nb,) bool, the b rows that may be used at all (None: every row).
    dof : 3 (position) or 6 (position and velocity).

    Returns
    -------
    (Na,) row of b for each a, or -1.
    """
    if xa.shape[0] == 0 or xb.shape[0] == 0:
        return np.full(xa.shape[0], -1, dtype=np.intp)
    rb = gate_radius_m(Pb, gate)
    if allowed is not None:
        rb = np.where(allowed, rb, 0.0)
    radius = np.minimum(gate_radius_m(Pa, gate) + rb.max(), max_gate_m)
    ia, ib = candidate_pairs(xa[:, :3], xb[:, :3], radius)
    if allowed is not None:
        ok = allowed[ib]
        ia, ib = ia[ok], ib[ok]
    d2 = pair_distance2(xa, Pa, xb, Pb, ia, ib, dof)
    return gnn(ia, ib, d2, xa.shape[0], xb.shape[0], gate)
