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

Tracks of one object are paired by mutual nearest neighbours within ``gate_m`` whose
velocities differ by less than ``vel_gate_mps`` — wider than the fuser's association gate,
since a biased partner's tracks may be too far off to be fused at all. Offsets are in
ECEF metres; over a theatre a few hundred kilometres across, a constant local offset is
close to a constant ECEF vector.
"""

from __future__ import annotations

import numpy as np
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
    check(gate_m > 0, "gate_m", "> 0 m", gate_m)
    check(min_pairs >= 1, "min_pairs", ">= 1", min_pairs)
    rows = [np.flatnonzero(src == k) for k in range(n_src)]
    eqs: list[tuple[int, int, Array, int]] = []
    shared = np.zeros(n_src, np.int64)
    for a in range(n_src):
        for b in range(a + 1, n_src):
            ia, ib = pair_objects(x[rows[a]], x[rows[b]], gate_m, vel_gate_mps)
            if ia.size < min_pairs:
                continue
            d = x[rows[a][ia], :3] - x[rows[b][ib], :3]
            eqs.append((a, b, np.median(d, axis=0), int(ia.size)))
            shared[[a, b]] += ia.size
    bias = np.full((n_src, 3), np.nan)
    linked = np.flatnonzero(shared > 0)
    if linked.size < 3:
        return bias, shared
    A = np.zeros((len(eqs), n_src))
    D = np.empty((len(eqs), 3))
    for k, (a, b, d, n) in enumerate(eqs):
        w = np.sqrt(n)
        A[k, a], A[k, b], D[k] = w, -w, w * d
    sol = np.linalg.lstsq(A[:, linked], D, rcond=None)[0]  # minimum norm: mean shift 0
    bias[linked] = sol - np.median(sol, axis=0)
    return bias, shared


__all__ = ["pair_objects", "registration_biases"]
