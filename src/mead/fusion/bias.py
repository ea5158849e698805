"""Registration bias of each partner, from the objects several partners hold (fuse stage).

A partner whose radar site, north alignment or navigation is off reports every track
displaced by about the same offset; so does a partner that lies about positions. The
offset shows where partners' tracks of one object meet: for two sources a and b, the
median of (position reported by a − position reported by b) over the objects both hold
estimates ``b_a − b_b``. With the pairwise medians ``D_ab`` of every pair of sources the
per-source biases solve, in the least-squares sense weighted by the number of objects,

    b_a − b_b = D_ab   for every pair (a, b) with enough common objects,

which fixes the biases up to a common shift. That shift is set so that the **median**
source has no bias: the majority of partners is taken to be right, and one partner that is
off (or lying) is not averaged into the others. With fewer than three sources linked by
common objects the majority is undefined and no bias is estimated (NaN).

An **absolute reference** removes the shift: aircraft that broadcast their own satellite
position (ADS-B) are where they say, to tens of metres, whoever's radar sees them. Their
positions enter as one more source, index ``n_src``, whose bias is 0 by definition
(:func:`reference_offsets`); the sources linked to it, directly or through other sources,
are then solved against it rather than against their median, so two partners — or a
majority that is off together — are estimated too. A source that reaches the reference
only through fewer than ``min_pairs`` pooled pairings is not linked to it. (An aircraft
whose ADS-B lies, a spoofer, is one of many pairings under a median; the caller asks for
several distinct aircraft per source, ``SystemTracker.registration``.)

Offsets gathered at several times can be pooled (:func:`solve_biases`): each pair's
median is then taken over every pairing of the window, which quiets the estimate when few
objects are shared at any one time (tracks hundreds of kilometres from a radar are off
by hundreds of metres across the beam).

Tracks of one object are paired by mutual nearest neighbours within ``gate_m`` whose
velocities differ by less than ``vel_gate_mps`` — wider than the fuser's association gate,
since a biased partner's tracks may be too far off to be fused at all. Offsets are in
ECEF metres; over a theatre a few hundred kilometres across, a constant local offset is
close to a constant ECEF vector.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from mead.errors import check
from mead.types import Array, Index, States


def pair_objects(
    xa: States, xb: States, gate_m: float, vel_gate_mps: float
) -> tuple[Index, Index]:
    """Rows (ia, ib) of ``xa`` (A, 6) and ``xb`` (B, 6) that are mutual nearest neighbours
    in position within ``gate_m`` with velocities closer than ``vel_gate_mps``."""
    if not len(xa) or not len(xb):
        return np.empty(0, np.intp), np.empty(0, np.intp)
    d_ab, j = cKDTree(xb[:, :3]).query(xa[:, :3], distance_upper_bound=gate_m)
    _, i = cKDTree(xa[:, :3]).query(xb[:, :3], distance_upper_bound=gate_m)
    ia = np.flatnonzero(np.isfinite(d_ab))
    ib = j[ia]
    mutual = i[ib] == ia
    ia, ib = ia[mutual], ib[mutual]
    close = np.linalg.norm(xa[ia, 3:] - xb[ib, 3:], axis=1) < vel_gate_mps
    return ia[close], ib[close]


PairOffsets = list[tuple[int, int, Array]]
"""(a, b, (k, 3) ECEF offsets x_a − x_b [m] of the k objects sources a < b both hold)."""


def pair_offsets(
    x: States, src: Index, n_src: int, *, gate_m: float = 10_000.0, vel_gate_mps: float = 100.0
) -> PairOffsets:
    """The offsets between every two sources' tracks of the objects both hold, from source
    tracks ``x`` (C, 6) at one common time with source indices ``src`` (C,)."""
    check(gate_m > 0, "gate_m", "> 0 m", gate_m)
    rows = [np.flatnonzero(src == k) for k in range(n_src)]
    out: PairOffsets = []
    for a in range(n_src):
        for b in range(a + 1, n_src):
            ia, ib = pair_objects(x[rows[a]], x[rows[b]], gate_m, vel_gate_mps)
            if ia.size:
                out.append((a, b, x[rows[a][ia], :3] - x[rows[b][ib], :3]))
    return out


def reference_offsets(
    x: States,
    src: Index,
    n_src: int,
    ref: States,
    *,
    gate_m: float = 10_000.0,
    vel_gate_mps: float = 100.0,
) -> tuple[PairOffsets, list[Index]]:
    """The offsets of every source's tracks from reference states ``ref`` (M, 6) of
    absolute registration (ADS-B), at the same time as ``x`` (C, 6): pairs
    ``(a, n_src, x_a − ref)`` for :func:`solve_biases` with ``reference=True``, and per
    source the rows of ``ref`` it was paired with."""
    check(gate_m > 0, "gate_m", "> 0 m", gate_m)
    out: PairOffsets = []
    rows_of: list[Index] = []
    for a in range(n_src):
        rows = np.flatnonzero(src == a)
        ia, ir = pair_objects(x[rows], ref, gate_m, vel_gate_mps)
        rows_of.append(ir)
        if ia.size:
            out.append((a, n_src, x[rows[ia], :3] - ref[ir, :3]))
    return out, rows_of


def solve_biases(
    pairs: PairOffsets, n_src: int, min_pairs: int = 5, reference: bool = False
) -> tuple[Array, Index]:
    """Per-source biases from pairwise offsets (see the module docstring).

    ``pairs`` may hold one pair of sources several times (offsets gathered at several
    times): each pair's offsets are pooled before its median is taken. With
    ``reference``, index ``n_src`` in ``pairs`` is the absolute reference (bias 0).
    Returns ``bias`` (n_src, 3) ECEF m (NaN: not estimated) and ``shared`` (n_src,) pooled
    pairings that entered the estimate, as :func:`registration_biases` does.
    """
    check(min_pairs >= 1, "min_pairs", ">= 1", min_pairs)
    n = n_src + 1 if reference else n_src
    pooled: dict[tuple[int, int], list[Array]] = {}
    for a, b, d in pairs:
        pooled.setdefault((a, b), []).append(d)
    eqs: list[tuple[int, int, Array, int]] = []
    shared = np.zeros(n, np.int64)
    for (a, b), ds in sorted(pooled.items()):
        d = np.concatenate(ds)
        if len(d) < min_pairs:
            continue
        eqs.append((a, b, np.median(d, axis=0), len(d)))
        shared[[a, b]] += len(d)
    bias = np.full((n, 3), np.nan)
    if not eqs:
        return bias[:n_src], shared[:n_src]
    A = np.zeros((len(eqs), n))
    D = np.empty((len(eqs), 3))
    for k, (a, b, d, m) in enumerate(eqs):
        w = np.sqrt(m)
        A[k, a], A[k, b], D[k] = w, -w, w * d
    ea, eb = np.array([e[0] for e in eqs]), np.array([e[1] for e in eqs])
    graph = coo_matrix((np.ones(len(eqs)), (ea, eb)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    for c in np.unique(comp[shared > 0]).tolist():
        members = np.flatnonzero((comp == c) & (shared > 0))
        rows = np.flatnonzero(comp[ea] == c)
        if reference and n_src in members:  # solved against the reference, bias 0
            free = members[members != n_src]
            bias[free] = np.linalg.lstsq(A[np.ix_(rows, free)], D[rows], rcond=None)[0]
        elif members.size >= 3:  # minimum norm, then the median source has no bias
            sol = np.linalg.lstsq(A[np.ix_(rows, members)], D[rows], rcond=None)[0]
            bias[members] = sol - np.median(sol, axis=0)
    return bias[:n_src], shared[:n_src]


def registration_biases(
    x: States,
    src: Index,
    n_src: int,
    *,
    gate_m: float = 10_000.0,
    vel_gate_mps: float = 100.0,
    min_pairs: int = 5,
) -> tuple[Array, Index]:
    """Per-source registration bias from source tracks at one common time.

    Parameters
    ----------
    x : (C, 6) ECEF states of every source track, all at the same time [m, m/s].
    src : (C,) source index 0 … ``n_src`` − 1 of each row.
    n_src : number of sources.
    gate_m, vel_gate_mps : pairing gates (see the module docstring).
    min_pairs : objects two sources must share for their offset to count.

    Returns
    -------
    bias : (n_src, 3) ECEF offset of each source [m]: what it reports minus where the
        majority puts the object; NaN for a source linked to no other, or for all when
        fewer than three sources are linked.
    shared : (n_src,) objects each source shares with the others (over all pairs).
    """
    pairs = pair_offsets(x, src, n_src, gate_m=gate_m, vel_gate_mps=vel_gate_mps)
    return solve_biases(pairs, n_src, min_pairs)


__all__ = [
    "PairOffsets",
    "pair_objects",
    "pair_offsets",
    "reference_offsets",
    "registration_biases",
    "solve_biases",
]
