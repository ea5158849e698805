"""Joint probabilistic data association (JPDA) for tracking: soft association and PDA update.

Instead of one plot per track (GNN), JPDA weighs every gated plot of a track by the
probability that it is the track's own, marginalised over all joint association events
of the scan (Fortmann, Bar-Shalom & Scheffe 1983). With the likelihood ratio of a pair,

    w_ij = P_D N(y_ij; 0, S_i) / ((1 − P_D P_G) λ),

(λ the spatial density of clutter and new targets, P_G the gate probability; the GNN
cost is c_ij ≈ −2 ln w_ij), a joint event θ that gives track i plot j(i) or none has
weight Π_{i assigned} w_i,j(i), and the marginals are

    β_ij = Σ_{θ ∋ (i, j)} W(θ) / Σ_θ W(θ),   β_i0 = 1 − Σ_j β_ij.

The gated pairs split into connected clusters (``pair_clusters``). A cluster whose joint
events number at most ``max_events`` is enumerated exactly — all small clusters at once,
vectorised over events with a loop only over the (≤ ``MAX_SLOTS``) track slots. Larger
clusters use loopy belief propagation (Williams & Lau 2014, "Approximate evaluation of
marginal association probabilities with belief propagation"), vectorised over the
sparse pairs with ``np.bincount``:

    μ_ij = w_ij / (1 + Σ_{j'≠j} w_ij' ν_j'i),   ν_ji = 1 / (1 + Σ_{i'≠i} μ_i'j),
    β_ij = w_ij ν_ji / (1 + Σ_j' w_ij' ν_j'i),

iterated until no message moves by more than 1e-7. BP is exact on tree-shaped clusters
(1e-12 in the tests); on cyclic ones it is not: over 200 random clusters of ≤ 5 tracks the
median error against enumeration is below 1e-3 but the worst reaches 0.06–0.2, on tight
2 × 2 crossings with strong weights. That is why every cluster small enough is enumerated
(on the recordings of ``benchmarks/bench_tracking.py``, nearly all of them). A term that
dominates its sum is never subtracted from it (``loo_sum``), so weights of 10²⁰ are safe.

JPDA* (``star``, Blom & Bloem 2000) keeps, of the joint events that give the same plots
to the same tracks, only the likeliest permutation: it does not pull two tracks that share
plots towards each other. Plain JPDA does (coalescence): at a 5° crossing its tracks come
up to 1.5 km closer than the targets, JPDA*'s and GNN's 0.4 km (``tests/tracking/test_jpda.py``).
JPDA* applies to enumerated clusters only.

Tentative tracks are not updated softly: the confirmed tracks share the plots by JPDA
first, and the plots they leave (Σ_i β_ij < ``used_prob``) go to the tentative tracks by GNN
on the same likelihood ratios. A PDA update keeps a new track's gate wide, so in clutter
it kept finding plots and was confirmed on clutter (300 targets with 200 false plots per
scan on 60 km × 60 km: 212 false tracks against GNN's 26). Initiation is therefore the
same as with GNN. A track counts a hit (for M-of-N) when 1 − β_0 ≥ ``hit_prob``; a plot is
*used* (it starts no new track) when Σ_i β_ij ≥ ``used_prob``.

The PDA update of each track (Bar-Shalom & Tse 1975) uses the combined innovation
ν = Σ_j β_j ν_j with the gain K = P Hᵀ S⁻¹:

    x⁺ = x + K ν,
    P⁺ = β_0 P + (1 − β_0) P_c + K (Σ_j β_j ν_j ν_jᵀ − ν νᵀ) Kᵀ,

P_c the Kalman (Joseph form) covariance, i.e. P − (1 − β_0) K S Kᵀ + K(…)Kᵀ. With an IMM
(``imm_pda_update``) each mode m gets the PDA update with its own innovations
ν_jm = ν_j − H (x_m − x), the mode-conditioned weights β_jm = β_j (N_jm / N̄_j) / Λ_m,
β_0m = β_0 / Λ_m, and μ_m ← μ_m Λ_m, where N_jm = N(ν_jm; 0, S_m), N̄_j = Σ_m μ_m N_jm and
Λ_m = β_0 + Σ_j β_j N_jm / N̄_j. For one track with β formed from the mode mixture N̄_j
this is the IMM-PDAF (Houles & Bar-Shalom 1989); here the joint β come from the combined
estimate's Gaussian, as the gate forms it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.tracking.association import (
    RANGE_RATE_SPAN_MPS,
    Marginals,
    gnn_solve,
    log_density,
    pair_clusters,
)
from mead.tracking.gating import Gated
from mead.tracking.imm import MU_FLOOR, imm_combine
from mead.tracking.score import LN_2PI, log_likelihood
from mead.types import Array, Covs, Index, Mask, Meas, States

MAX_SLOTS = 10
"""Most tracks in a cluster that is enumerated exactly (else belief propagation)."""

LOGW_MAX = 300.0
"""Cap on ln w of a pair, so that w and its products stay finite in float64."""


def jpda_marginals(
    track: Index,
    plot: Index,
    logw: Array,
    *,
    max_events: int = 1024,
    star: bool = False,
    tol: float = 1e-7,
    max_iter: int = 500,
) -> Array:
    """Marginal association probabilities β (K,) of K gated pairs with ln w ``logw`` (K,).

    Clusters with at most ``max_events`` joint events (and ``MAX_SLOTS`` tracks) are
    enumerated exactly, the others solved by loopy belief propagation (module doc).
    """
    beta = np.zeros(len(track))
    if len(track) == 0:
        return beta
    logw = np.minimum(logw, LOGW_MAX)
    label, n_tracks, _ = pair_clusters(track, plot)
    tu, ti = np.unique(track, return_inverse=True)
    deg = np.bincount(ti, minlength=len(tu))
    ctrack = np.empty(len(tu), np.intp)
    ctrack[ti] = label
    log_events = np.bincount(ctrack, np.log1p(deg), minlength=len(n_tracks))
    small = (log_events <= np.log(max_events) + 1e-9) & (n_tracks <= MAX_SLOTS)
    exact = small[label]
    if exact.any():
        k = np.flatnonzero(exact)
        beta[k] = enumerate_marginals(track[k], plot[k], logw[k], label[k], star=star)
    if not exact.all():
        k = np.flatnonzero(~exact)
        beta[k] = lbp_marginals(track[k], plot[k], np.exp(logw[k]), tol=tol, max_iter=max_iter)
    return beta


def enumerate_marginals(
    track: Index, plot: Index, logw: Array, cluster: Index, *, star: bool = False
) -> Array:
    """Exact JPDA marginals β (K,) of K pairs in small clusters, all clusters at once.

    ``cluster`` (K,) labels each pair's connected cluster (at most ``MAX_SLOTS`` tracks
    each). Every joint event — each track given one of its plots or none — is decoded
    from a mixed-radix event number; events that give a plot to two tracks are dropped.
    With ``star`` (JPDA*), of the events that give the same plots to the same tracks only
    the likeliest permutation is kept (module doc).
    """
    order = np.lexsort((plot, track))
    t, p, lw, c = track[order], plot[order], logw[order], cluster[order]
    tu, first, deg = np.unique(t, return_index=True, return_counts=True)
    _, cl = np.unique(c[first], return_inverse=True)  # cluster of each track, 0..C-1
    n_cl = int(cl.max()) + 1
    by_cl = np.argsort(cl, kind="stable")
    starts = np.searchsorted(cl[by_cl], np.arange(n_cl))
    slot = np.empty(len(tu), np.intp)
    slot[by_cl] = np.arange(len(tu)) - starts[cl[by_cl]]
    n_slots = int(slot.max()) + 1
    radix_deg = np.zeros((n_cl, n_slots), np.intp)  # plots of the track in each slot
    offset = np.zeros((n_cl, n_slots), np.intp)  # its first pair (sorted order)
    radix_deg[cl, slot], offset[cl, slot] = deg, first
    base = np.cumprod(np.column_stack([np.ones(n_cl, np.intp), radix_deg[:, :-1] + 1]), axis=1)
    n_events = np.prod(radix_deg + 1, axis=1)
    ev_cl = np.repeat(np.arange(n_cl), n_events)
    r = np.arange(len(ev_cl)) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    pair = np.full((len(ev_cl), n_slots), -1, np.intp)
    ok = np.ones(len(ev_cl), bool)
    logW = np.zeros(len(ev_cl))
    for s in range(n_slots):
        choice = (r // base[ev_cl, s]) % (radix_deg[ev_cl, s] + 1)
        on = choice > 0
        pair[on, s] = offset[ev_cl[on], s] + choice[on] - 1
        logW[on] += lw[pair[on, s]]
        for s2 in range(s):
            both = on & (pair[:, s2] >= 0)
            ok[both] &= p[pair[both, s]] != p[pair[both, s2]]
    if star:
        ok &= _best_permutation(ev_cl, pair, p, logW, ok)
    top = np.full(n_cl, -np.inf)
    np.maximum.at(top, ev_cl[ok], logW[ok])
    W = np.where(ok, np.exp(logW - top[ev_cl]), 0.0)
    Z = np.bincount(ev_cl, W, minlength=n_cl)
    on = pair >= 0
    mass = np.bincount(pair[on], np.broadcast_to(W[:, None], pair.shape)[on], minlength=len(t))
    beta = np.empty(len(t))
    beta[order] = mass / Z[cl[np.searchsorted(tu, t)]]
    return beta


def _best_permutation(ev_cl: Index, pair: Index, plot: Index, logW: Array, ok: Mask) -> Mask:
    """(E,) True for the likeliest of the feasible events sharing cluster, tracks and plots.

    The set of assigned plots is keyed by the XOR of a 64-bit hash of each plot index
    (collisions have probability ~2⁻⁶⁴); the set of tracks by a bit per slot.
    """
    on = pair >= 0
    h = np.where(on, _splitmix64(plot[np.maximum(pair, 0)].astype(np.uint64)), np.uint64(0))
    plots_key = np.bitwise_xor.reduce(h, axis=1)
    tracks_key = (on * (1 << np.arange(pair.shape[1]))).sum(axis=1)
    order = np.lexsort((-logW, plots_key, tracks_key, ev_cl, ~ok))
    keys = np.column_stack([ev_cl, tracks_key, plots_key.view(np.int64)])[order]
    first = np.ones(len(order), bool)
    first[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    best = np.zeros(len(order), bool)
    best[order] = first
    return best


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 hash of uint64 values (an array; wraps modulo 2⁶⁴)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def lbp_marginals(
    track: Index, plot: Index, w: Array, *, tol: float = 1e-7, max_iter: int = 500
) -> Array:
    """Approximate JPDA marginals β (K,) of K pairs with likelihood ratios w (K,) by loopy BP.

    Williams & Lau's message passing (module doc), vectorised over the pairs; stops when
    no plot→track message moves by more than ``tol`` or after ``max_iter`` rounds.
    """
    _, ti = np.unique(track, return_inverse=True)
    _, pj = np.unique(plot, return_inverse=True)
    n_t, n_p = int(ti.max()) + 1, int(pj.max()) + 1
    size_t, size_p = np.bincount(ti, minlength=n_t), np.bincount(pj, minlength=n_p)
    nu = np.ones(len(w))
    for _ in range(max_iter):
        mu = w / (1.0 + loo_sum(w * nu, ti, n_t, size_t))
        nu_new = 1.0 / (1.0 + loo_sum(mu, pj, n_p, size_p))
        done = np.max(np.abs(nu_new - nu)) <= tol
        nu = nu_new
        if done:
            break
    a = w * nu
    return a / (1.0 + np.bincount(ti, a, minlength=n_t))[ti]


def loo_sum(a: Array, group: Index, n: int, size: Index | None = None) -> Array:
    """Σ of the other members of each element's group: Σ_{k' ∈ g(k), k' ≠ k} a_k' (K,).

    ``a`` ≥ 0. Formed as the group's total minus a_k, except where a_k is nearly the whole
    total (a term may exceed the rest by many orders of magnitude, and the subtraction
    would cancel catastrophically): there the group's largest term is never subtracted,
    its own sum is formed from the other terms directly. ``size`` (n,) is the number of
    members of each group, if known.
    """
    total = np.bincount(group, a, minlength=n)
    out = total[group] - a
    if size is None:
        size = np.bincount(group, minlength=n)
    risky = (out <= 1e-6 * total[group]) & (size[group] > 1)
    if risky.any():
        k = np.flatnonzero(np.isin(group, group[risky]))
        out[k] = _loo_sum_exact(a[k], group[k], n)
    return out


def _loo_sum_exact(a: Array, group: Index, n: int) -> Array:
    """``loo_sum`` that never subtracts a group's largest term (see there)."""
    total = np.bincount(group, a, minlength=n)
    top = np.zeros(n)
    np.maximum.at(top, group, a)
    is_top = a == top[group]
    n_top = np.bincount(group, is_top, minlength=n)
    rest = np.bincount(group, np.where(is_top, 0.0, a), minlength=n)
    g_top = top[group]
    return np.where(is_top, rest[group] + (n_top[group] - 1) * g_top, total[group] - a)


def pda_update(
    x: States, P: Covs, beta0: Array, row: Index, beta: Array, y: Meas, H: Covs, R: Covs
) -> tuple[States, Covs]:
    """PDA update of C tracks (C, n), (C, n, n) from K weighted innovations (module doc).

    ``row`` (K,) gives each innovation's track (0..C−1), ``beta`` (K,) its weight, ``y``
    (K, m) the innovation (m = 3; 4 with range rate); ``beta0`` (C,) = 1 − Σ β of each
    track. ``H`` is (C, m, n), ``R`` (m, m) or per track (C, m, m).
    """
    c, m = len(x), y.shape[1]
    Ht = H.swapaxes(-1, -2)
    PHt = P @ Ht
    S = H @ PHt + R
    K = np.linalg.solve(S, PHt.swapaxes(-1, -2)).swapaxes(-1, -2)  # (C, n, m)
    by = beta[:, None] * y
    nu = np.stack([np.bincount(row, by[:, d], minlength=c) for d in range(m)], axis=1)
    byy = (by[:, :, None] * y[:, None, :]).reshape(-1, m * m)
    spread = np.stack([np.bincount(row, byy[:, d], minlength=c) for d in range(m * m)], axis=1)
    spread = spread.reshape(c, m, m) - nu[:, :, None] * nu[:, None, :]
    IKH = np.eye(x.shape[-1]) - K @ H
    Pc = IKH @ P @ IKH.swapaxes(-1, -2) + K @ R @ K.swapaxes(-1, -2)  # Joseph form
    b0 = beta0[:, None, None]
    P_new = b0 * P + (1.0 - b0) * Pc + K @ spread @ K.swapaxes(-1, -2)
    x_new = x + (K @ nu[..., None])[..., 0]
    return x_new, 0.5 * (P_new + P_new.swapaxes(-1, -2))


def imm_pda_update(
    mu: Array,
    xm: Array,
    Pm: Covs,
    x: States,
    beta0: Array,
    row: Index,
    beta: Array,
    y: Meas,
    H: Covs,
    R: Covs,
) -> tuple[Array, Array, Covs, States, Covs]:
    """IMM-PDA update of C tracks' modes μ (C, r), x_m (C, r, n), P_m (C, r, n, n).

    Modes may carry more states than the combined 6 (e.g. κ, unseen by the plots).
    ``x`` (C, 6) is the combined estimate the innovations ``y`` (K, m) were formed from
    (m = 3; 4 with range rate); ``row``, ``beta``, ``beta0``, ``H`` (C, m, 6) and ``R``
    (m, m) or (C, m, m) as in ``pda_update``. Returns μ, x_m, P_m and the combined x (C, 6),
    P (C, 6, 6) (module doc).
    """
    c, r = mu.shape
    n, m = xm.shape[-1], y.shape[1]
    Hdx = np.einsum("cij,crj->cri", H, xm[..., :6] - x[:, None, :])  # (C, r, m)
    ym = y[:, None, :] - Hdx[row]  # (K, r, m) mode-conditioned innovations
    Hn = np.concatenate([H, np.zeros((c, m, n - 6))], axis=2)  # plots do not see extra states
    Hr = np.repeat(Hn, r, axis=0)  # (C·r, m, n)
    R = np.repeat(R, r, axis=0) if R.ndim == 3 else R  # per track → per mode
    S = (Hr @ Pm.reshape(c * r, n, n) @ Hr.swapaxes(-1, -2) + R).reshape(c, r, m, m)
    _, logdet = np.linalg.slogdet(S)
    Sy = np.linalg.solve(S[row], ym[..., None])[..., 0]
    loglik = -0.5 * (np.einsum("kri,kri->kr", ym, Sy) + logdet[row] + m * LN_2PI)  # (K, r)
    lmix = loglik + np.log(np.maximum(mu[row], 1e-300))
    top = lmix.max(axis=1, keepdims=True)
    lbar = top[:, 0] + np.log(np.exp(lmix - top).sum(axis=1))  # ln N̄_k
    ratio = np.exp(loglik - lbar[:, None])  # (K, r) N_km / N̄_k
    bk = beta[:, None] * ratio
    lam = beta0[:, None] + np.stack(
        [np.bincount(row, bk[:, m], minlength=c) for m in range(r)], axis=1
    )  # (C, r)
    mu1 = np.maximum(mu * lam, MU_FLOOR)
    mu1 /= mu1.sum(axis=1, keepdims=True)
    lam = np.maximum(lam, 1e-300)
    rows_m = (row[:, None] * r + np.arange(r)).reshape(-1)
    xu, Pu = pda_update(
        xm.reshape(c * r, n),
        Pm.reshape(c * r, n, n),
        (beta0[:, None] / lam).reshape(-1),
        rows_m,
        (bk / lam[row]).reshape(-1),
        ym.reshape(-1, m),
        Hr,
        R,
    )
    xm1, Pm1 = xu.reshape(c, r, n), Pu.reshape(c, r, n, n)
    xc, Pc = imm_combine(mu1, xm1[..., :6], Pm1[..., :6, :6])
    return mu1, xm1, Pm1, xc, Pc


@dataclass(frozen=True)
class JPDA:
    """Joint probabilistic data association on the gated pairs' likelihood ratios."""

    pd: float = 0.9  # detection probability assumed per scan
    clutter_density: float = 1e-6  # λ: clutter + new-target plots per m·rad² (polar; m³ Cartesian)
    range_rate_span_mps: float = RANGE_RATE_SPAN_MPS  # m/s, Δṙ of clutter: λ/Δṙ per m/s
    gate_prob: float = 0.999  # P_G: probability that a target's plot passes the gate
    hit_prob: float = 0.5  # 1 − β_0 at or above which a track counts a hit (M-of-N)
    used_prob: float = 0.9  # Σ_i β_ij at or above which plot j starts no new track
    max_events: int = 1024  # joint events up to which a cluster is enumerated exactly
    star: bool = False  # JPDA*: keep only the likeliest permutation (enumerated clusters)
    soft_tentative: bool = False  # JPDA for tentative tracks too (else GNN on what is left)

    def __post_init__(self) -> None:
        if not 0.0 < self.pd < 1.0:
            raise ValueError(f"JPDA.pd must be in (0, 1) (got {self.pd})")
        if not 0.0 < self.gate_prob <= 1.0:
            raise ValueError(f"JPDA.gate_prob must be in (0, 1] (got {self.gate_prob})")
        if not (np.isfinite(self.clutter_density) and self.clutter_density > 0.0):
            raise ValueError(f"JPDA.clutter_density must be > 0 (got {self.clutter_density})")
        if not (np.isfinite(self.range_rate_span_mps) and self.range_rate_span_mps > 0.0):
            raise ValueError(
                f"JPDA.range_rate_span_mps must be > 0 (got {self.range_rate_span_mps})"
            )
        for name in ("hit_prob", "used_prob"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"JPDA.{name} must be in (0, 1] (got {v})")
        if self.max_events < 1:
            raise ValueError(f"JPDA.max_events must be >= 1 (got {self.max_events})")

    def log_weights(self, gated: Gated) -> Array:
        """ln w_ij (K,) of each gated pair: ln [P_D N(y; 0, S) / ((1 − P_D P_G) λ_m)].

        λ_m is λ in the m-component plot space: λ / Δṙ with range rate (m = 4).
        """
        m = gated.pred.dim
        log_lam = log_density(self.clutter_density, self.range_rate_span_mps, m)
        norm = np.log(self.pd / (1.0 - self.pd * self.gate_prob)) - log_lam
        return norm + log_likelihood(gated.d2, gated.logdet, m)

    def marginals(self, gated: Gated, confirmed: Mask | None = None) -> Marginals:
        """β of the gated pairs, β_0 and the hit flag per ``gated.pred`` row, the used plots.

        ``confirmed`` (C,) flags the confirmed tracks (all, if None). Unless
        ``soft_tentative``, the confirmed tracks share the plots by JPDA first; the plots
        they leave (Σβ < ``used_prob``) go to the tentative tracks by GNN on the same
        likelihood ratios (β = 1 for a chosen pair, else 0): a PDA update would keep a new
        track's gate wide, and in dense clutter it would keep finding plots and be
        confirmed on clutter (module doc). A track counts a hit when 1 − β_0 ≥ ``hit_prob``.
        """
        logw = self.log_weights(gated)
        soft = np.ones(len(logw), bool)
        if confirmed is not None and not self.soft_tentative:
            soft = confirmed[gated.row]
        beta = np.zeros(len(logw))
        beta[soft] = jpda_marginals(
            gated.track[soft],
            gated.plot[soft],
            logw[soft],
            max_events=self.max_events,
            star=self.star,
        )
        pu, inv = np.unique(gated.plot, return_inverse=True)
        if not soft.all():
            free = np.bincount(inv, beta, minlength=len(pu)) < self.used_prob
            hard = np.flatnonzero(~soft & free[inv])
            chosen = gnn_solve(gated.track[hard], gated.plot[hard], -2.0 * logw[hard])
            beta[hard[chosen]] = 1.0
        n = len(gated.pred.idx)
        beta0 = np.clip(1.0 - np.bincount(gated.row, beta, minlength=n), 0.0, 1.0)
        taken = np.bincount(inv, beta, minlength=len(pu))
        return Marginals(beta, beta0, 1.0 - beta0 >= self.hit_prob, pu[taken >= self.used_prob])
