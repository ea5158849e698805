"""Data association for tracking: which gated plots update which track (GNN; JPDA in ``jpda``).

GNN picks the one joint assignment (each track at most one plot, each plot at most one
track) of least total cost, where the cost of pairing track i with plot j is the negative
log-likelihood ratio of "j is i's target" against "i missed its target and j is clutter
or a new target":

    c_ij = d²_ij + ln|S_i| + m ln 2π − 2 ln(P_D / (1 − P_D)) + 2 ln β_m,

d² the Mahalanobis distance, S_i the innovation covariance (in the plot units), m the
plot size (3; 4 with range rate), P_D the detection probability and β_m the density of
clutter and new targets per unit volume of the plot space (polar plots: m·rad²;
Cartesian plots: m³; polar plots with range rate: m·rad²·m/s, taken as β / Δṙ with
``range_rate_span_mps`` Δṙ the width of the clutter's range-rate spread). Only pairs with
c_ij < 0 are worth making, so the problem is solved as an assignment on min(c, 0): the
pairs left with cost 0 mean "not assigned".

The gated pairs form a sparse bipartite graph; it is split into connected clusters. A
cluster of one track and one plot (most of them) is settled directly, vectorised; all
larger clusters are solved together by one sparse linear assignment (LAPJVsp), which
measured 2–6× faster than a loop of dense ``linear_sum_assignment`` per cluster once
clusters are large (thousands of new tracks with wide gates) and no slower otherwise.

An ``Associator`` (GNN) chooses pairs; a ``SoftAssociator`` (``mead.tracking.jpda.JPDA``)
returns ``Marginals``: the probability β of every gated pair, β_0 per track, which tracks
count a hit and which plots are used, for the tracker's PDA update. JPDA's pair weight is
this cost's likelihood ratio, w_ij = exp(−c_ij / 2) (with 1 − P_D P_G for 1 − P_D).

Choosing the default (``benchmarks/bench_tracking.py``, one run, the same plots; MEAD's
variants differ only in the associator; 2 shared cores, so times vary by ±30 %):

        N  MEAD-GNN          MEAD-JPDA         MEAD-JPDA*        Stone Soup GNN
           ms/scan  GOSPA m  ms/scan  GOSPA m  ms/scan  GOSPA m  ms/scan    GOSPA m
       10     0.72      505     0.89      505     0.91      505     26.9        505
      100     1.16    5,085     1.26    5,085     1.33    5,085      183      5,110
      300     1.96   15,139     2.19   15,144     2.23   15,144    1,167     15,219
    1,000     4.41   49,952     5.02   49,894     5.10   49,898    9,390  228,268 *
    dense recipe (``--dense``: 1 target and 0.5 false plots per km², generated):
      100     1.89   27,986     2.95   32,467     3.06   31,757      358     31,661
    1,000     13.2  297,384     22.4  366,697     22.6  366,818   21,428  335,787 *

    GOSPA: mean over the 60 scans (p = 1, α = 2, c = 1 km). * Stone Soup on the first 6
    scans only; MEAD-GNN on those scans: 226,506 m (recording), 332,592 m (dense).

**GNN stays the default.** On the recordings GNN and JPDA are equally accurate (GOSPA
within 0.12 % either way, both at or below Stone Soup's) and GNN is 9–24 % faster. On the
dense scenes GNN is the more accurate (JPDA confirms 24–42 % more false tracks) and
1.3–1.7× faster. On the reference raid (``benchmarks/bench_reference_tracking.py``) JPDA
changes drone track ids less (38.6 against 54.2 per drone) but holds drones for less of
their detectable flight (73.4 % against 78.6 %) and confirms them later (median 6 looks
against 4); ballistic, cruise and aircraft are unchanged. JPDA meets both speed bounds
(×1,859 Stone Soup's throughput at 1,000 targets; 56 ms per scan at 10,000 objects in
``bench_scaling``'s scene, GNN 48 ms). It stays available as ``JPDA(star=True)``, for
example where fewer id changes matter more than confirmation latency; plain JPDA
(without ``star``) lets crossing tracks coalesce. An earlier JPDA variant that held new
tracks to a stricter rule (a plot only with β ≥ 0.5 in the joint marginals) had 17–41 %
lower mean GOSPA than GNN on the dense scenes, from half the false tracks, but held
reference-raid drones for 60.0 % of their flight and confirmed them in 8 looks: the gain
was stricter confirmation, a matter for track management rather than association.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

from mead.tracking.gating import Gated
from mead.tracking.score import LN_2PI
from mead.types import Array, Index, Mask

RANGE_RATE_SPAN_MPS = 3_000.0
"""Default width Δṙ (m/s) over which clutter range rates spread (the simulated radar's
clutter is uniform in ±1,500 m/s): a range-rate plot's density is β / Δṙ."""


def log_density(clutter_density: float, range_rate_span_mps: float, dim: int) -> float:
    """ln β_m of the clutter density in an m-component plot space (module doc).

    ``clutter_density`` β is per unit of the 3-component plot space; a 4th component
    (range rate) spreads it over ``range_rate_span_mps`` m/s.
    """
    log_b = float(np.log(clutter_density))
    return log_b - float(np.log(range_rate_span_mps)) if dim == 4 else log_b


SMALL_GRAPH = 256
"""Pair lists up to this long are clustered by label propagation, longer ones by scipy."""


def pair_clusters(track: Index, plot: Index) -> tuple[Index, Index, Index]:
    """Connected clusters of a bipartite pair list.

    Returns, for K pairs, the cluster label of each pair (K,) and the number of distinct
    tracks and plots in each cluster (C,), (C,).
    """
    if len(track) == 0:
        e = np.empty(0, np.intp)
        return e, e, e
    k = len(track)
    if np.bincount(track).max() == 1 and np.bincount(plot).max() == 1:
        one = np.ones(k, np.intp)  # every pair alone: the usual case in sparse scenes
        return np.arange(k, dtype=np.intp), one, one
    tu, ti = np.unique(track, return_inverse=True)
    pu, pi = np.unique(plot, return_inverse=True)
    nt = len(tu)
    if k <= SMALL_GRAPH:  # min-label propagation: a few passes, no sparse-graph set-up
        lab = np.arange(nt)
        while True:
            lab_p = np.full(len(pu), nt)
            np.minimum.at(lab_p, pi, lab[ti])
            new = lab.copy()
            np.minimum.at(new, ti, lab_p[pi])
            if np.array_equal(new, lab):
                break
            lab = new
        roots, labels_t = np.unique(lab, return_inverse=True)
        labels_p = np.searchsorted(roots, lab_p)  # converged: a plot holds its cluster's root
        n = len(roots)
        n_tracks, n_plots = np.bincount(labels_t, minlength=n), np.bincount(labels_p, minlength=n)
        return labels_t[ti].astype(np.intp), n_tracks, n_plots
    graph = coo_array((np.ones(k), (ti, nt + pi)), shape=(nt + len(pu),) * 2)
    n, labels = connected_components(graph, directed=False)
    n_tracks = np.bincount(labels[:nt], minlength=n)
    n_plots = np.bincount(labels[nt:], minlength=n)
    return labels[ti].astype(np.intp), n_tracks, n_plots


def gnn_solve(track: Index, plot: Index, cost: Array) -> Index:
    """Indices of the chosen pairs (sorted) in the least-cost assignment using only cost < 0.

    ``track``, ``plot`` and ``cost`` (K,) describe the candidate pairs; a track or plot
    appears in at most one chosen pair.
    """
    good = np.flatnonzero(cost < 0.0)
    if len(good) == 0:
        return good
    label, n_tracks, n_plots = pair_clusters(track[good], plot[good])
    single = ((n_tracks == 1) & (n_plots == 1))[label]  # one track, one plot: take the pair
    rest = good[~single]
    chosen = [good[single]]
    if len(rest):
        chosen.append(rest[sparse_assignment(track[rest], plot[rest], cost[rest])])
    return np.sort(np.concatenate(chosen))


def sparse_assignment(track: Index, plot: Index, cost: Array) -> Index:
    """Least-cost partial assignment over K candidate pairs of negative cost; chosen pair indices.

    Solved as one sparse full matching of the tracks (LAPJVsp,
    ``scipy.sparse.csgraph.min_weight_full_bipartite_matching``), each track given a
    private "no plot" column of cost 0; all costs are shifted by the same positive amount,
    which adds the same constant to every full matching. Equivalent to a dense
    ``linear_sum_assignment`` per cluster, but one call however many clusters there are.
    """
    tu, ti = np.unique(track, return_inverse=True)
    pu, pj = np.unique(plot, return_inverse=True)
    nt, npl = len(tu), len(pu)
    shift = 1.0 - min(float(cost.min()), 0.0)
    rows = np.concatenate([ti, np.arange(nt)])
    cols = np.concatenate([pj, npl + np.arange(nt)])
    weight = np.concatenate([cost + shift, np.full(nt, shift)])
    graph = csr_array((weight, (rows, cols)), shape=(nt, npl + nt))
    r, c = min_weight_full_bipartite_matching(graph)
    real = c < npl
    key = ti.astype(np.int64) * npl + pj  # pair → (row, column) key
    order = np.argsort(key)
    found = order[np.searchsorted(key[order], r[real].astype(np.int64) * npl + c[real])]
    return np.sort(found)


class Associator(Protocol):
    """Chooses which gated pairs update their tracks."""

    def associate(self, gated: Gated, confirmed: Mask | None = None) -> Index:
        """Indices (sorted) of the chosen pairs of ``gated``; each track and plot at most once.

        ``confirmed`` (C,) flags the confirmed tracks among the rows of ``gated.pred``
        (None: treat all alike).
        """
        ...


@dataclass(frozen=True)
class Marginals:
    """Soft association of one scan: marginals over the gated pairs and what they imply."""

    beta: Array  # (K,) probability that pair k's plot is its track's target
    beta0: Array  # (C,) probability that no plot is, per row of ``gated.pred``
    hit: Mask  # (C,) rows of ``gated.pred`` counted as detected (track management)
    used: Index  # plot indices (sorted) taken by tracks: they start no new track


@runtime_checkable
class SoftAssociator(Protocol):
    """Weighs every gated plot of a track (JPDA) instead of choosing one."""

    def marginals(self, gated: Gated, confirmed: Mask) -> Marginals:
        """Association probabilities of the gated pairs, per-track β_0, hits and used plots.

        ``confirmed`` (C,) flags the confirmed tracks among the rows of ``gated.pred``.
        """
        ...


@dataclass(frozen=True)
class GNN:
    """Global nearest neighbour on the gated likelihood-ratio cost."""

    pd: float = 0.9  # detection probability assumed per scan
    clutter_density: float = 1e-6  # β: clutter + new-target plots per m·rad² (polar; m³ Cartesian)
    range_rate_span_mps: float = RANGE_RATE_SPAN_MPS  # m/s, Δṙ of clutter (plots with ṙ)
    # True: confirmed tracks choose first, tentative ones take the rest. On the reference
    # raid that cuts drone track-id changes (47 against 54 per drone) but confirms drones
    # later (6 looks against 4) and holds them less (76.8 % against 78.6 %): off.
    confirmed_first: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.pd < 1.0:
            raise ValueError(f"GNN.pd must be in (0, 1) (got {self.pd})")
        if not (np.isfinite(self.clutter_density) and self.clutter_density > 0.0):
            raise ValueError(f"GNN.clutter_density must be > 0 (got {self.clutter_density})")
        if not (np.isfinite(self.range_rate_span_mps) and self.range_rate_span_mps > 0.0):
            raise ValueError(
                f"GNN.range_rate_span_mps must be > 0 (got {self.range_rate_span_mps})"
            )

    def cost(self, gated: Gated) -> Array:
        """Negative log-likelihood ratio c_ij (K,) of each gated pair (see module doc)."""
        m = gated.pred.dim
        log_b = log_density(self.clutter_density, self.range_rate_span_mps, m)
        offset = m * LN_2PI - 2 * np.log(self.pd / (1 - self.pd)) + 2 * log_b
        return gated.d2 + gated.logdet + offset

    def associate(self, gated: Gated, confirmed: Mask | None = None) -> Index:
        """Indices (sorted) of the gated pairs chosen: each track and plot at most once.

        With ``confirmed`` (C,) and ``confirmed_first``, the confirmed tracks are assigned
        first and the tentative tracks share the plots they leave: a new track, whose gate
        is wide while its velocity is unknown, cannot take a plot from an established one.
        """
        cost = self.cost(gated)
        if confirmed is None or not self.confirmed_first:
            return gnn_solve(gated.track, gated.plot, cost)
        first = confirmed[gated.row]
        a = np.flatnonzero(first)
        chosen_a = a[gnn_solve(gated.track[a], gated.plot[a], cost[a])]
        b = np.flatnonzero(~first & ~np.isin(gated.plot, gated.plot[chosen_a]))
        chosen_b = b[gnn_solve(gated.track[b], gated.plot[b], cost[b])]
        return np.sort(np.concatenate([chosen_a, chosen_b]))
