"""The system tracker: partners' tracks → one stable system track number (STN) per object.

This is the coordinator's single integrated air picture (SIAP). It keeps the latest state of
every live source track (source pseudonym, track id) and the STN it maps to:

- **Sticky mapping.** Once source track S:T maps to STN n it keeps n while it lives. Each
  time S:T is updated and n has other contributors, S:T is re-checked against the CI of
  the others with a looser gate; after ``split_after`` consecutive failures one of them
  is split off to a new STN (the contributor that was re-checked, except that with two
  contributors the one that joined earlier keeps the number).
- **Association.** A source track not mapped yet is associated (χ² gate + GNN, see
  ``association``) with the system tracks at the batch time, excluding every system track
  that already has a contributor from the same source: a source's two tracks are two
  objects. Unassociated tracks start new STNs from a counter; numbers are never reused.
- **Merging.** Two system tracks with no source in common whose fused estimates stay
  within ``merge_gate_p`` for ``merge_after`` consecutive pictures are merged into the
  older (smaller) STN — this removes redundant system tracks of one object.
- **Deletion.** A dropped source track is removed; a source track older than
  ``max_age_s`` (against the coordinator's clock, the latest ``picture`` time) expires.
  A system track lives exactly as long as it has a contributor.

**Registration.** ``registration(t)`` estimates every source's registration bias from
the objects several sources hold (``bias``); ``correct(source, offset)`` then shifts that
source's positions by −offset wherever tracks are compared or fused (its stored tracks stay
as reported, so the next estimate is again of the whole offset).

``picture(t)`` predicts every contributor to ``t`` (constant velocity; free flight above
``mead.tracking.motion.FREE_FLIGHT_M``) and fuses each STN's
contributors by fast covariance intersection (``ci``); single-contributor system tracks
are the predicted source track itself. The class is the most threatening reported (see
``base``), the quality the best contributor's.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Sequence

import numpy as np

from mead.errors import check
from mead.fusion._table import Contributors
from mead.fusion.association import associate, chi2_gate, close_pairs, gate_radius_m
from mead.fusion.association import pair_distance2 as _d2
from mead.fusion.base import RANK_CLASS, THREAT_RANK, SystemPicture
from mead.fusion.bias import PairOffsets, pair_offsets, reference_offsets, solve_biases
from mead.fusion.ci import ci_fuse, ci_leave_one_out, group_starts, symmetrize
from mead.fusion.trust import held_by
from mead.linalg import max_eigenvalue_3x3
from mead.messages import P_BYTES, X_BYTES, TrackBatch, tracks_to_arrays
from mead.tracking.motion import predict
from mead.types import Array, Covs, Index, Mask, States

_Fused = tuple[Index, Index, Index, States, Covs]
"""(order (C,) contributor rows sorted by STN, starts (G,), counts (G,), x (G, 6), P (G, 6, 6))."""


class SystemTracker:
    """Fuses partners' ``TrackBatch`` messages into a ``SystemPicture`` (implements ``Fuser``).

    Parameters
    ----------
    q : CV process-noise density used to bring tracks to a common time, m²/s³.
    gate_p : χ² probability of the association gate (6-D position + velocity).
    split_gate_p : looser χ² probability for re-checking an existing mapping.
    split_after : consecutive failed re-checks before a contributor is split off.
    merge_gate_p : χ² probability within which two system tracks count as one object.
    merge_after : consecutive pictures within the merge gate before merging (0: never).
    max_gate_m : tracks farther apart than this are never associated or merged, m.
    max_age_s : a source track not updated for this long expires, s.
    bias_window : registration estimates pool the pairings of this many calls of
        :meth:`registration` (the latest included).
    """

    def __init__(
        self,
        *,
        q: float = 100.0,
        gate_p: float = 0.9999,
        split_gate_p: float = 1 - 1e-9,
        split_after: int = 2,
        merge_gate_p: float = 0.99,
        merge_after: int = 3,
        max_gate_m: float = 30_000.0,
        max_age_s: float = 30.0,
        bias_window: int = 1,
    ) -> None:
        for name, v in (("q", q), ("max_gate_m", max_gate_m), ("max_age_s", max_age_s)):
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"SystemTracker: '{name}' must be a finite number > 0 (got {v})")
        check(split_after >= 1, "split_after", ">= 1", split_after)
        check(merge_after >= 0, "merge_after", ">= 0", merge_after)
        check(bias_window >= 1, "bias_window", ">= 1", bias_window)
        self.q, self.max_gate_m, self.max_age_s = q, max_gate_m, max_age_s
        self.gate = chi2_gate(gate_p, 6)  # γ for association
        self.split_gate = chi2_gate(split_gate_p, 6)  # γ for re-checking a mapping
        self.merge_gate = chi2_gate(merge_gate_p, 6)  # γ for merging system tracks
        self.split_after, self.merge_after = split_after, merge_after
        self.counters: Counter[str] = Counter()  # SIAP and input figures, see ``siap``
        self._tab = Contributors()
        self._codes: dict[str, int] = {}  # pseudonym → source code
        self._names: list[str] = []  # source code → pseudonym
        self._offset = np.zeros((0, 3))  # (S, 3) ECEF registration correction per source, m
        self._pairings: deque[PairOffsets] = deque(maxlen=bias_window)  # latest last
        # per call: (source code, offsets from the reference, reference ids paired)
        self._ref: deque[list[tuple[int, Array, set[int]]]] = deque(maxlen=bias_window)
        self._next_stn = 1
        self._seq = 0  # join sequence
        self._now = -np.inf  # coordinator clock: latest picture t
        self._live = np.empty(0, np.int64)  # STNs alive after the last step
        self._streak: dict[tuple[int, int], int] = {}  # (older, newer) STN → merge streak

    # ------------------------------------------------------------------ ingest
    def ingest(self, batch: TrackBatch) -> None:
        """Take in one source's batch: drop, update, re-check and associate its tracks."""
        self.counters["batches"] += 1
        if not np.isfinite(batch.t):
            self.counters["rejected_batch_time"] += 1
            return
        code = self._source(batch.source)
        if batch.dropped:
            rows = self._tab.lookup(code, list(batch.dropped))
            gone = np.zeros(len(self._tab), bool)
            gone[rows[rows >= 0]] = True
            self.counters["dropped"] += self._tab.remove(gone)
        self._expire()
        rows = self._upsert(code, batch)
        if rows.size:
            self._recheck(rows, batch.t)
            self._associate(code, rows, batch.t)
        self._book()

    def _source(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
            self._offset = np.vstack([self._offset, np.zeros(3)])
        return code

    def _upsert(self, code: int, batch: TrackBatch) -> Index:
        """Validate the batch's tracks, update known rows, append new ones; their rows."""
        ids, x, P, t, rank, quality = self._parse(batch)
        rows = self._tab.lookup(code, ids)
        known = rows >= 0
        fresh = known.copy()
        fresh[known] = t[known] >= self._tab.t[rows[known]]
        self.counters["out_of_order"] += int(np.count_nonzero(known & ~fresh))
        self._tab.update(rows[fresh], x[fresh], P[fresh], t[fresh], rank[fresh], quality[fresh])
        new = np.flatnonzero(~known)
        added = self._tab.append(
            code, [ids[i] for i in new], x[new], P[new], t[new], rank[new], quality[new]
        )
        return np.concatenate([rows[fresh], added])

    def _parse(self, batch: TrackBatch) -> tuple[list[str], States, Covs, Array, Index, Array]:
        """Struct → arrays at the edge; malformed, tentative, stale or repeated tracks are
        skipped and counted by reason."""
        self.counters["tracks_in"] += len(batch.tracks)
        seen: set[str] = set()
        good = []
        for tr in batch.tracks:
            if len(tr.x_f64) != X_BYTES or len(tr.P_f64) != P_BYTES:
                self.counters["rejected_shape"] += 1
            elif not tr.confirmed:
                self.counters["tentative"] += 1
            elif tr.track_id in seen:
                self.counters["duplicate_id"] += 1
            else:
                seen.add(tr.track_id)
                good.append(tr)
        x, P, t = tracks_to_arrays(good)
        P = symmetrize(P)
        ok = np.isfinite(x).all(1) & np.isfinite(P).all((1, 2)) & np.isfinite(t)
        self.counters["rejected_nonfinite"] += int(np.count_nonzero(~ok))
        pd = ok.copy()
        try:
            np.linalg.cholesky(P[ok])  # fast path: every covariance positive definite
        except np.linalg.LinAlgError:
            pd[ok] = np.linalg.eigvalsh(P[ok])[:, 0] > 0
        self.counters["rejected_covariance"] += int(np.count_nonzero(ok & ~pd))
        fresh = t >= self._now - self.max_age_s
        self.counters["rejected_too_old"] += int(np.count_nonzero(pd & ~fresh))
        keep = np.flatnonzero(pd & fresh)
        rank = np.array(
            [THREAT_RANK.get(good[i].cls, THREAT_RANK["unknown"]) for i in keep], dtype=np.int64
        )
        quality = np.clip(np.array([good[i].quality for i in keep], dtype=np.float64), 0, 1)
        return [good[i].track_id for i in keep], x[keep], P[keep], t[keep], rank, quality

    def _expire(self) -> None:
        tab = self._tab
        if len(tab):
            self.counters["expired"] += tab.remove(tab.t < self._now - self.max_age_s)

    # ------------------------------------------------------------- re-check
    def _recheck(self, rows: Index, t_ref: float) -> None:
        """Check updated, mapped rows against the CI of their STN's other contributors."""
        stn = self._tab.stn
        u, cnt = np.unique(stn, return_counts=True)
        multi = (stn[rows] > 0) & (cnt[np.searchsorted(u, stn[rows])] >= 2)
        sel = rows[multi]
        if not sel.size:
            return
        members = np.flatnonzero(np.isin(stn, stn[sel]))
        members = members[np.argsort(stn[members], kind="stable")]
        starts, _ = group_starts(stn[members])
        xp, Pp = self._predict(members, t_ref)
        pos = np.empty(len(self._tab), np.intp)
        pos[members] = np.arange(members.size)
        k = pos[sel]
        xo, Po, _ = ci_leave_one_out(xp, Pp, starts, rows=k)
        j = np.arange(k.size)
        fail = _d2(xp, Pp, xo, Po, k, j) > self.split_gate
        misses = self._tab.misses
        misses[sel] = np.where(fail, misses[sel] + 1, 0)
        for r in sel[misses[sel] >= self.split_after].tolist():
            self._split(r)

    def _split(self, r: int) -> None:
        tab = self._tab
        mates = np.flatnonzero(tab.stn == tab.stn[r])
        leaver = r
        if mates.size == 2:
            other = int(mates[mates != r][0])
            if tab.joined[other] > tab.joined[r]:
                leaver = other
        tab.misses[[r, leaver]] = 0
        self._new_stns(np.array([leaver]))
        self.counters["splits"] += 1
        self.counters["stn_changes"] += 1

    # ----------------------------------------------------------- association
    def _associate(self, code: int, rows: Index, t_ref: float) -> None:
        """Map this batch's unmapped rows to system tracks without this source, or new STNs."""
        tab = self._tab
        un = rows[tab.stn[rows] == 0]
        if not un.size:
            return
        assign = np.full(un.size, -1, np.intp)
        mapped = np.flatnonzero(tab.stn > 0)
        if mapped.size:
            order, starts, _, xs, Ps = self._fuse(mapped, t_ref)
            own = np.logical_or.reduceat(tab.src[order] == code, starts)
            xu, Pu = self._predict(un, t_ref)
            assign = associate(xu, Pu, xs, Ps, self.gate, self.max_gate_m, allowed=~own)
            hit = assign >= 0
            tab.stn[un[hit]] = tab.stn[order[starts[assign[hit]]]]
            self._stamp(un[hit])
            self.counters["associated"] += int(np.count_nonzero(hit))
        self._new_stns(un[assign < 0])

    def _new_stns(self, rows: Index) -> None:
        n = rows.size
        self._tab.stn[rows] = np.arange(self._next_stn, self._next_stn + n)
        self._next_stn += n
        self._stamp(rows)
        self.counters["stn_created"] += n

    def _stamp(self, rows: Index) -> None:
        self._tab.joined[rows] = self._seq + 1 + np.arange(rows.size)
        self._seq += rows.size

    # ------------------------------------------------------------ fusion
    def _predict(self, rows: Index, t: float, raw: bool = False) -> tuple[States, Covs]:
        """Rows predicted to ``t``; their positions corrected by their source's registration
        offset unless ``raw``."""
        tab = self._tab
        x = tab.x[rows]
        if not raw:
            x = x.copy()
            x[:, :3] -= self._offset[tab.src[rows]]
        return predict(x, tab.P[rows], t - tab.t[rows], self.q)

    def _fuse(self, rows: Index, t: float) -> _Fused:
        """CI of the given mapped rows per STN at time ``t``; singletons pass through."""
        stn = self._tab.stn
        order = rows[np.argsort(stn[rows], kind="stable")]
        starts, counts = group_starts(stn[order])
        xp, Pp = self._predict(order, t)
        xf, Pf = xp[starts], Pp[starts]
        multi = counts >= 2
        if multi.any():
            mask = np.repeat(multi, counts)
            sub, _ = group_starts(stn[order[mask]])
            xf[multi], Pf[multi] = ci_fuse(xp[mask], Pp[mask], sub)
        return order, starts, counts, xf, Pf

    def picture(self, t: float) -> SystemPicture:
        """The system picture at ``t``: one CI-fused row per STN, ascending STN."""
        self._now = max(self._now, t)
        self._expire()
        mapped = np.flatnonzero(self._tab.stn > 0)
        if not mapped.size:
            self._book()
            return SystemPicture.empty(t)
        fused = self._fuse(mapped, t)
        if self.merge_after and self._merge(fused):
            fused = self._fuse(np.flatnonzero(self._tab.stn > 0), t)
        self._book()
        order, starts, counts, xf, Pf = fused
        tab = self._tab
        cls = [RANK_CLASS[r] for r in np.maximum.reduceat(tab.rank[order], starts).tolist()]
        return SystemPicture(
            t=t,
            stn=tab.stn[order[starts]],
            x=xf,
            P=Pf,
            cls=cls,
            quality=np.maximum.reduceat(tab.quality[order], starts),
            sources=self._sources(order, starts, counts),
            n_sources=counts.astype(np.int64),
        )

    def _sources(self, order: Index, starts: Index, counts: Index) -> list[tuple[str, ...]]:
        names, src = self._names, self._tab.src[order].tolist()
        out: list[tuple[str, ...]] = []
        for s, c in zip(starts.tolist(), counts.tolist(), strict=True):
            if c == 1:
                out.append((names[src[s]],))
            else:
                out.append(tuple(sorted(names[k] for k in src[s : s + c])))
        return out

    # ------------------------------------------------------------- merging
    def _merge(self, fused: _Fused) -> bool:
        """Merge system tracks that persistently look like one object; True if any merged."""
        order, starts, _, xf, Pf = fused
        tab = self._tab
        stns = tab.stn[order[starts]]
        src = tab.src[order]
        bits = np.zeros((order.size, len(self._names) // 64 + 1), np.uint64)
        bits[np.arange(order.size), src // 64] = np.left_shift(
            np.uint64(1), (src % 64).astype(np.uint64)
        )
        masks = np.bitwise_or.reduceat(bits, starts, axis=0)
        r = gate_radius_m(Pf, self.merge_gate)
        ia, ib = close_pairs(xf[:, :3], r, self.max_gate_m)  # ia < ib
        keep = ~np.any(masks[ia] & masks[ib], axis=1)
        ia, ib = ia[keep], ib[keep]
        close = _d2(xf, Pf, xf, Pf, ia, ib) <= self.merge_gate
        pairs = zip(stns[ia[close]].tolist(), stns[ib[close]].tolist(), strict=True)
        self._streak = {p: self._streak.get(p, 0) + 1 for p in pairs}
        busy: set[int] = set()
        merged = False
        for (a, b), n in sorted(self._streak.items()):
            if n < self.merge_after or a in busy or b in busy:
                continue
            moved = np.flatnonzero(tab.stn == b)
            tab.stn[moved] = a
            self._stamp(moved)
            busy.update((a, b))
            self.counters["merges"] += 1
            self.counters["stn_changes"] += moved.size
            merged = True
        return merged

    # ------------------------------------------------------- registration
    def registration(
        self,
        t: float,
        reference: States | None = None,
        reference_ids: np.ndarray | None = None,
        min_aircraft: int = 5,
        max_sigma_m: float = 600.0,
    ) -> dict[str, tuple[Array, int]]:
        """Source → (ECEF registration bias (3,) m, pairings it entered), from every live
        source track predicted to ``t`` as reported (mapped or not, since a biased
        source's tracks may be too far off to be fused), pooled with the pairings of the
        previous ``bias_window`` − 1 calls (``bias.solve_biases``). NaN bias: not enough
        sources share objects to say.

        ``reference`` (M, 6): states at ``t`` of aircraft whose positions are absolute
        (ADS-B), with their ids ``reference_ids`` (M,) (ICAO addresses). Only source tracks
        whose position is known to ``max_sigma_m`` (largest axis, 1σ) are compared with
        them: a registration error worth correcting is a kilometre (``CoordinatorNode``'s
        ``correct_m``), and a track hundreds of kilometres from its radar is off by that
        much across the beam on its own (few noisy pairings moved two honest partners of
        the reference raid 1.2 km before this gate). A source paired with at least
        ``min_aircraft`` distinct aircraft over the window is estimated against them (bias
        0 by definition) instead of against the median source, so two partners, or a
        majority off together, are estimated as well (``bias`` module doc)."""
        tab = self._tab
        x, P = self._predict(np.arange(len(tab)), t, raw=True)
        n = len(self._names)
        self._pairings.append(pair_offsets(x, tab.src, n))
        snap: list[tuple[int, Array, set[int]]] = []
        if reference is not None and len(reference) and len(x):
            ids = np.arange(len(reference)) if reference_ids is None else reference_ids
            sharp = max_eigenvalue_3x3(P[:, :3, :3]) <= max_sigma_m**2
            src = np.where(sharp, tab.src, -1)  # the others are compared with no reference
            offs, rows_of = reference_offsets(x, src, n, reference)
            snap = [(a, d, set(ids[rows_of[a]].tolist())) for a, _, d in offs]
        self._ref.append(snap)
        pooled = [p for snapshot in self._pairings for p in snapshot]
        aircraft: dict[int, set[int]] = {}
        for snapshot in self._ref:
            for a, _, got in snapshot:
                aircraft.setdefault(a, set()).update(got)
        pooled += [
            (a, n, d)
            for snapshot in self._ref
            for a, d, _ in snapshot
            if len(aircraft[a]) >= min_aircraft
        ]
        bias, shared = solve_biases(pooled, n, reference=True)
        return {name: (bias[k], int(shared[k])) for k, name in enumerate(self._names)}

    def correct(self, source: str, offset: Array | None) -> None:
        """From now on shift ``source``'s positions by −``offset`` (3,) ECEF m before they
        are compared or fused (None: no correction); see :meth:`registration`."""
        code = self._source(source)
        self._offset[code] = 0.0 if offset is None else offset

    def holders(self, t: float, x: States, gate_m: float, vel_gate_mps: float) -> Mask:
        """(G, S) bool: which sources (``sources``) hold a track near each state of ``x``
        (G, 6) at ``t``, their positions corrected (``trust.held_by``)."""
        tab = self._tab
        xs, _ = self._predict(np.arange(len(tab)), t)
        return held_by(x, xs, tab.src, len(self._names), gate_m, vel_gate_mps)

    def stns_of(self, source: str, track_ids: Sequence[str]) -> Index:
        """(M,) the system track each of ``source``'s tracks ``track_ids`` is fused into
        now (0: not released to the coordinator, or not fused)."""
        code = self._codes.get(source)
        if code is None or not len(track_ids):
            return np.zeros(len(track_ids), np.int64)
        rows = self._tab.lookup(code, list(track_ids))
        return np.where(rows >= 0, self._tab.stn[np.maximum(rows, 0)], 0)

    def source_tracks(self, source: str, stns: Collection[int]) -> list[str]:
        """``source``'s own track ids fused now into any of the system tracks ``stns``."""
        code = self._codes.get(source)
        if code is None or not stns:
            return []
        tab = self._tab
        rows = np.flatnonzero((tab.src == code) & np.isin(tab.stn, list(stns)))
        return [str(tab.keys[r][1]) for r in rows.tolist()]

    def source_states(self, source: str, t: float) -> tuple[list[str], States, Covs]:
        """``source``'s live tracks as released, predicted to ``t`` (positions corrected
        for its registration offset): ids, states (M, 6) and covariances (M, 6, 6)."""
        code = self._codes.get(source)
        rows = np.flatnonzero(self._tab.src == code) if code is not None else np.zeros(0, int)
        x, P = self._predict(rows, t)
        return [str(self._tab.keys[r][1]) for r in rows.tolist()], x, P

    @property
    def sources(self) -> list[str]:
        """Every source's pseudonym, by source code (the columns of :meth:`holders`)."""
        return list(self._names)

    # ------------------------------------------------------------- figures
    def _book(self) -> None:
        live = np.unique(self._tab.stn[self._tab.stn > 0])
        self.counters["stn_deleted"] += int(np.setdiff1d(self._live, live).size)
        self._live = live

    def siap(self) -> dict[str, float]:
        """Truth-free SIAP figures: current system tracks and contributors, and the counters.

        ``system_tracks``, ``contributors``, ``mean_contributors`` (per system track),
        ``multi_source_fraction`` (system tracks with ≥ 2 contributors), plus every counter:
        ``stn_created``, ``stn_deleted``, ``stn_changes`` (a source track moved STN by a split
        or merge), ``splits``, ``merges``, ``associated``, input rejections by reason, ….
        """
        stn = self._tab.stn[self._tab.stn > 0]
        _, cnt = np.unique(stn, return_counts=True)
        n = int(cnt.size)
        figures: dict[str, float] = {
            "system_tracks": n,
            "contributors": int(stn.size),
            "mean_contributors": float(stn.size / n) if n else 0.0,
            "multi_source_fraction": float(np.count_nonzero(cnt >= 2) / n) if n else 0.0,
        }
        figures.update(self.counters)
        return figures


__all__ = ["SystemTracker"]
