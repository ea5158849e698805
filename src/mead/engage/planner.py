"""The coordinator's engagement advice: a weapon–target plan per cycle, deconflicted.

Every assessment cycle :meth:`Planner.plan` takes the threats the coordinator assessed,
predicts their paths, computes the launch windows of every (threat, unit) pair
(:mod:`mead.engage.windows`) and assigns units (:func:`mead.engage.assign.assign`) to the
threats nobody is advised on yet, each round valued by what the threat would do past every
other unit that could still engage it (:func:`past_others`: a layered defence). The
advice for each partner lists only that partner's own units (an
:class:`~mead.messages.Advice` to its owner alone), so no partner learns another's units
from it.

Deconfliction lives in the planner's book, fed by the partners' statuses
(:meth:`Planner.take`): a threat advised to a unit stays with it (its window and intercept
re-planned as the track changes) until the partner declines, runs out of rounds, misses,
or the pair's window is gone — then the threat is offered again, to another unit; a
declined (threat, unit) pair is never offered again. The book is about objects, not
track numbers: when an advised system track ends and another of the same class appears
where its object now is (within :func:`~mead.engage.windows.same_object_m`), the pairing,
its advice id and the units that declined move to the new number; an advised threat the
assessment misses for a moment keeps its pairing for ``HOLD_S``. A threat being engaged is not
offered to anyone else, so two partners are never on one object unless the plan itself
asked for a second round (shoot-look-shoot, by the same unit, after the first missed).
The race between this plan and a partner's own defence, which decide apart, is closed on
both sides: a partner launches on new advice to defend another's area — or its own, when
the object threatens another partner's area too (the item is ``contested``) — and on a
second round after a miss, only once a plan ``CONFIRM_S`` later still lists it (the other
partner's own engagement, reported at once, withdraws it first), and each advice lists the
objects others' advice may launch on ``CONFIRM_S`` before it may, so a partner's own
defence leaves them alone (:mod:`mead.engage.fire_control`). ``contested`` tells the
recipient only that some other partner's area (the names are public) is threatened too;
so does ``contested_tracks``, its own tracks of such objects, which its own defence then
leaves to this plan (two owners' own defences would otherwise race for them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
import numpy as np

from mead import geo
from mead.engage.assign import DEADLINE_S, assign
from mead.engage.fire_control import CONFIRM_S, EARLY_S, KILLED_S
from mead.engage.units import THREAT_KINDS, UnitTable
from mead.engage.windows import (
    LOOK_S,
    Windows,
    engagement_windows,
    predict_paths,
    same_object_m,
    within_reach,
)
from mead.messages import Advice, AdviceItem, Engagement, TrackClass
from mead.scenario.schema import DefendedArea
from mead.threat.base import Threat
from mead.threat.evaluate import AreaSet
from mead.types import Array, Covs, Index, States

OWN_STALE_S = 30.0
"""A partner's own engagement not reported again for this long is forgotten, s (partners
report theirs at every release while they last; a round in flight may outlast its track,
so it is the report's age that counts, not its threat state's)."""
NEIGHBOUR_KM = 20.0
"""Areas of two owners whose edges lie this close are *neighbours*: an object threatening
one may be judged by the other owner's own assessment, on its own tracks, to threaten its
area too (a drone's predicted path misses an area by a median 5.5 km where it misses), so
an object threatening either is contested between both owners, km."""
FLIGHT_HORIZON_S = 6 * 3_600.0
"""Paths are followed this far ahead (s) to find which units could engage a threat later
in its flight (:func:`past_others`); a drone is planned against from hours out."""
HOLD_S = 15.0
"""An advised threat missing from the assessment (its track lost a moment, or judged no
threat for a cycle) keeps its pairing, and its advice, this long, s."""


class FusedTracks(Protocol):
    """Which partner tracks the coordinator fused into which system track (its fuser,
    :class:`~mead.fusion.siap.SystemTracker`): who engages what is then known exactly,
    not only by where two estimates of it lie."""

    def stns_of(self, source: str, track_ids: Sequence[str]) -> Index: ...

    def source_tracks(self, source: str, stns: Collection[int]) -> list[str]: ...

    def source_states(self, source: str, t: float) -> tuple[list[str], States, Covs]: ...


@dataclass
class _Advised:
    """One (threat, unit) pairing the coordinator has advised and not given up."""

    item: AdviceItem
    unit: int  # row in the unit table
    state: str = "advised"  # or a partner's EngageState
    t_x: float = 0.0  # time of validity of item.x, UTC s


class Planner:
    """Plans and deconflicts engagement advice for all fire units of a coalition.

    Parameters
    ----------
    units : every fire unit the partners declared to the coordinator.
    look_s : kill assessment time before a second round, s.
    deadline_s : time the exact assignment may take per cycle, s.
    method : "milp" (greedy fallback at the deadline) or "greedy".
    samples : samples per predicted path.
    tracks : the coordinator's fuser, to know which system track a partner's own
        engagement is on (its track as released) and to name back to each partner its own
        tracks of objects engaged (None: by position alone).
    neighbours : area → the other owners of areas beside it (:func:`neighbour_owners`):
        their own defences may take an object threatening that area for a threat to
        theirs, so it is contested between them.
    """

    def __init__(
        self,
        units: UnitTable,
        *,
        look_s: float = LOOK_S,
        deadline_s: float = DEADLINE_S,
        method: str = "milp",
        samples: int = 48,
        tracks: FusedTracks | None = None,
        neighbours: dict[str, set[str]] | None = None,
    ) -> None:
        self.units, self.tracks = units, tracks
        self.neighbours = neighbours or {}  # area → other owners of areas beside it
        self.look_s, self.deadline_s, self.method, self.samples = (
            look_s,
            deadline_s,
            method,
            samples,
        )
        self.rounds_left = np.array([c.rounds for c in units.classes], dtype=np.int64)
        self.channels = np.array([c.channels for c in units.classes], dtype=np.int64)
        self.owners = sorted(set(units.owners))
        self.advised: dict[int, _Advised] = {}  # STN → its pairing
        self.declined: set[tuple[int, int]] = set()  # (STN, unit row) never offered again
        self.done: set[int] = set()  # STNs reported intercepted
        self.counters: Counter[str] = Counter()
        self.offers: Counter[tuple[int, int]] = Counter()  # (STN, unit row) → offers made
        # engagements partners started on their own tracks:
        # (partner, id) → (threat state, its time, time of the report)
        self.own: dict[tuple[str, str], tuple[np.ndarray, float, float]] = {}
        # objects partners' rounds killed, whose tracks may coast on:
        # (state, its time, kill time, its system track or 0)
        self.killed: list[tuple[np.ndarray, float, float, int]] = []
        # owners of the areas each track threatens, as this cycle's assessment found them
        self.threatened: dict[str, set[str]] = {}

    def take(self, sender: str, msg: Engagement) -> None:
        """Book a partner's statuses; statuses about another partner's unit are ignored
        and counted (``foreign_unit``)."""
        for s in msg.statuses:
            try:
                u = self.units.index(s.unit)
            except ValueError:
                u = -1
            if u < 0 or self.units.owners[u] != sender:
                self.counters["foreign_unit"] += 1
                continue
            self.rounds_left[u] = s.rounds_left
            if s.advice_id.startswith("own:"):
                key = (sender, s.advice_id)
                if s.state in ("assigned", "engaging") and len(s.x) == 6:
                    self.own[key] = (np.asarray(s.x, dtype=np.float64), s.t_x, msg.t)
                else:
                    was = self.own.pop(key, None)
                    if s.state == "intercepted" and was is not None:
                        stn = min(self._own_stns([key]), default=0)
                        self.killed.append((*was[:2], s.t, stn))
                        self.done |= {stn} - {0}
                continue
            stn = self._stn_of(s.advice_id, s.system_track)  # it may have been renumbered
            a = self.advised.get(stn)
            mine = a is not None and a.item.advice_id == s.advice_id
            if s.state in ("declined", "out_of_rounds"):
                if (stn, u) not in self.declined:
                    self.counters[s.state] += 1
                self.declined.add((stn, u))
                if mine:
                    del self.advised[stn]
            elif s.state == "intercepted":
                self.done.add(stn)
                if mine and a is not None:
                    self.killed.append((np.asarray(a.item.x, dtype=np.float64), a.t_x, s.t, stn))
                    del self.advised[stn]
            elif s.state == "missed" and mine:
                del self.advised[stn]  # offered again next cycle
            elif mine and a is not None:
                a.state = s.state

    def _stn_of(self, advice_id: str, stn: int) -> int:
        """The system track an advice id is booked under now (``stn`` if none)."""
        for k, a in self.advised.items():
            if a.item.advice_id == advice_id:
                return k
        return stn

    def plan(
        self,
        t: float,
        threats: Sequence[Threat],
        ids: Sequence[str],
        x: States,
        P: Covs | None = None,
    ) -> dict[str, Advice]:
        """The advice of cycle ``t`` (UTC s) for each owner of units: re-plans what is
        advised, offers the rest. ``threats`` as assessed; ``ids`` (N,), ``x`` (N, 6) and
        their covariances ``P`` (N, 6, 6; None: not known) the system tracks they refer to
        (the covariance widens the same-object distance of poorly held tracks)."""
        best = _worst_first(threats)
        self.threatened = _owners_threatened(threats, self.neighbours)
        rows = {tid: i for i, tid in enumerate(ids)}
        best = [b for b in best if b.track_id in rows and b.system_track not in self.done]
        self._renumber(t, best, rows, x)
        taken = self._engaged(t)
        own = self._own_stns(self.own)  # system tracks partners engage on their own tracks
        if (len(taken) or own) and best:  # engaged already: by a partner, or in flight
            hit = np.isin([b.system_track for b in best], list(own))
            if len(taken):
                r = [rows[b.track_id] for b in best]
                d = np.linalg.norm(x[r, None, :3] - taken[None, :, :3], axis=2)  # (B, K)
                hit |= d.min(axis=1) < same_object_m(x[r], None if P is None else P[r])
            hit &= ~np.array([self._in_flight(b.system_track) for b in best])  # its own round
            for b in np.asarray(best, dtype=object)[hit]:
                if b.system_track in self.advised:  # advised, nothing launched: withdrawn
                    del self.advised[b.system_track]
                    self.counters["withdrawn_engaged_elsewhere"] += 1
            self.counters["left_to_others"] += int(np.count_nonzero(hit))
            best = [b for b, h in zip(best, hit, strict=True) if not h]
        best = self._one_per_object(best, rows, x, P)
        gone = set(self.advised) - {b.system_track for b in best}
        for stn in gone:  # track lost or no longer a threat: withdraw unless in flight
            a = self.advised[stn]  # (at once if its object was killed: no second round)
            if a.state != "engaging" and (t - a.t_x > HOLD_S or stn in self.done):
                del self.advised[stn]
        items = {s: self.advised[s].item for s in gone if s in self.advised}
        if best and len(self.units):
            xs = np.stack([x[rows[b.track_id]] for b in best])
            near = within_reach(xs, self.units) | np.array(
                [b.system_track in self.advised for b in best]
            )
            if near.any():
                best = [b for b, k in zip(best, near, strict=True) if k]
                items |= self._plan(t, best, xs[near])
        out: dict[str, list[AdviceItem]] = {o: [] for o in self.owners}
        for stn in sorted(items):
            out[self.units.owners[self.advised[stn].unit]].append(items[stn])
        self.counters["plans"] += 1
        soon = self._engaged(t, soon=True)
        flying = tuple(tuple(r) for r in soon.tolist())
        stns = self._engaged_stns(t) | own
        adv = {}
        for o, v in out.items():
            mine = self._contested(o, threats)
            where = sorted({rows[b.track_id] for b in mine if b.track_id in rows})
            adv[o] = Advice(
                recipient=o, t=t, items=tuple(v), engaged=flying,
                engaged_tracks=self._tracks_of(o, t, stns, soon),
                contested_tracks=self._contested_tracks(o, mine),
                contested=tuple(tuple(r) for r in x[where].tolist()),
            )  # fmt: skip
        return adv

    def _contested(self, owner: str, threats: Sequence[Threat]) -> list[Threat]:
        """The threats to an area of ``owner``'s own and another partner's too: two owners'
        own defences could each fire at that object within a plan cycle of each other, so
        it is left to this plan."""
        return [
            b for b in threats
            if len(owners := self.threatened.get(b.track_id, set())) > 1 and owner in owners
        ]  # fmt: skip

    def _contested_tracks(self, owner: str, contested: list[Threat]) -> tuple[str, ...]:
        """``owner``'s own tracks fused into the system tracks of ``contested``."""
        if self.tracks is None or not contested:
            return ()
        stns = {b.system_track for b in contested}
        return tuple(sorted(self.tracks.source_tracks(owner, stns)))

    def _tracks_of(self, owner: str, t: float, stns: set[int], x: States) -> tuple[str, ...]:
        """``owner``'s own tracks of engaged objects: those the fuser put in system tracks
        ``stns``, and those within the same-object distance of an engaged state ``x``
        (K, 6) — widened by the track's own uncertainty, which the coordinator knows
        from its release — which catches a second system track of one object."""
        if self.tracks is None:
            return ()
        out = set(self.tracks.source_tracks(owner, stns))
        if len(x):
            ids, xs, Ps = self.tracks.source_states(owner, t)
            if ids:
                d = np.linalg.norm(xs[:, None, :3] - x[None, :, :3], axis=2).min(axis=1)
                near = d < same_object_m(xs, Ps)
                out |= {i for i, k in zip(ids, near.tolist(), strict=True) if k}
        return tuple(sorted(out))

    def _own_stns(self, keys: Collection[tuple[str, str]]) -> set[int]:
        """The system tracks the partners' own engagements ``keys`` ((partner, "own:<its
        track>")) are on: where the fuser put those tracks (none without one)."""
        if self.tracks is None:
            return set()
        by: dict[str, list[str]] = {}
        for p, aid in keys:
            by.setdefault(p, []).append(aid.removeprefix("own:"))
        return {int(s) for p, tids in by.items() for s in self.tracks.stns_of(p, tids) if s}

    def _engaged_stns(self, t: float) -> set[int]:
        """System tracks a round flies at or advice is about to launch on (as ``_engaged``
        with ``soon``), and those of objects killed in the last ``KILLED_S``."""
        return {
            k for k, a in self.advised.items()
            if a.state == "engaging" or a.item.launch_open - EARLY_S - CONFIRM_S <= t
        } | {k[3] for k in self.killed if k[3]}  # fmt: skip

    def _renumber(self, t: float, best: list[Threat], rows: dict[str, int], x: States) -> None:
        """Move each pairing whose system track is not assessed this cycle to the unadvised
        threat of the same class nearest where its object is now (straight line from the
        pairing's state), within :func:`~mead.engage.windows.same_object_m`."""
        now_stns = {b.system_track for b in best}
        lost = [k for k in self.advised if k not in now_stns]
        free = [b for b in best if b.system_track not in self.advised]
        if not lost or not free:
            return
        xf = np.stack([x[rows[b.track_id]] for b in free])
        cls = np.array([b.threat_class for b in free])
        for k in lost:
            a = self.advised[k]
            xa = np.asarray(a.item.x, dtype=np.float64)
            d = np.linalg.norm(xf[:, :3] - (xa[:3] + xa[3:] * (t - a.t_x)), axis=1)
            d[cls != a.item.threat_class] = np.inf
            n = int(np.argmin(d))
            if d[n] >= same_object_m(xa[None])[0]:
                continue
            new = free[n].system_track
            self.advised[new] = self.advised.pop(k)
            self.declined |= {(new, u) for (s, u) in self.declined if s == k}
            cls[n] = ""  # taken: one object, one pairing
            self.counters["renumbered"] += 1

    def _one_per_object(
        self, best: list[Threat], rows: dict[str, int], x: States, P: Covs | None
    ) -> list[Threat]:
        """One system track per object: a track within
        :func:`~mead.engage.windows.same_object_m` of one kept before it (advised first,
        then by value) is a duplicate of that object in the fused picture, never advised
        on its own — two units would fire at one object."""
        if len(best) < 2:
            return best
        order = sorted(
            range(len(best)),
            key=lambda n: (
                best[n].system_track not in self.advised,
                -best[n].value * best[n].p_area,
            ),
        )
        r = [rows[b.track_id] for b in best]
        xs = x[r]
        gate = same_object_m(xs, None if P is None else P[r])
        kept: list[int] = []
        for n in order:
            if kept and np.linalg.norm(xs[kept, :3] - xs[n, :3], axis=1).min() < gate[n]:
                self.counters["duplicate_tracks"] += 1
                continue
            kept.append(n)
        return [best[n] for n in sorted(kept)]

    def _in_flight(self, stn: int) -> bool:
        """Whether a round advised against system track ``stn`` is in flight."""
        a = self.advised.get(stn)
        return a is not None and a.state == "engaging"

    def _engaged(self, t: float, soon: bool = False) -> np.ndarray:
        """(K, 6) ECEF states at ``t`` of the objects already engaged, which this cycle's
        STNs may not show as such: partners' own engagements, rounds in flight (a fused
        track can change number under an engagement) and objects killed in the last
        ``KILLED_S`` (their tracks coast on), each flown on in a straight line.
        With ``soon``, also the objects advice is about to launch on: its window opens
        within ``EARLY_S`` (when the partner may launch) and ``CONFIRM_S`` more, so a
        partner's own defence hears of it a plan before and leaves it to the coalition's
        plan."""
        self.own = {k: v for k, v in self.own.items() if t - v[2] <= OWN_STALE_S}
        self.killed = [k for k in self.killed if t - k[2] <= KILLED_S]
        states: list[tuple[np.ndarray, float]] = [(x, tx) for x, tx, _ in self.own.values()]
        states += [(x, tx) for x, tx, _, _ in self.killed]
        states += [
            (np.asarray(a.item.x, dtype=np.float64), a.t_x)
            for a in self.advised.values()
            if a.state == "engaging" or (soon and a.item.launch_open - EARLY_S - CONFIRM_S <= t)
        ]
        out = np.array([np.r_[x[:3] + x[3:] * (t - tx), x[3:]] for x, tx in states])
        return out.reshape(-1, 6)

    def _plan(self, t: float, threats: list[Threat], x: States) -> dict[int, AdviceItem]:
        """Windows of every candidate against every unit; keep the advised pairs that still
        have one, assign the rest."""
        kind = np.array([THREAT_KINDS.index(b.threat_class) for b in threats])
        fast = kind < 2
        tgo = np.array([b.tgo_s for b in threats])
        aim_lat = np.array([b.impact_lat_deg for b in threats])
        aim_lon = np.array([b.impact_lon_deg for b in threats])
        paths = predict_paths(x, fast, tgo, aim_lat, aim_lon, samples=self.samples)
        w = engagement_windows(paths, kind, self.units, self.look_s)
        pk = self.units.pk[:, kind].T
        declined = np.zeros(w.feasible.shape, bool)
        for n, b in enumerate(threats):
            for u in range(len(self.units)):
                declined[n, u] = (b.system_track, u) in self.declined
        feasible = w.feasible & ~declined
        rounds, free = self.rounds_left.copy(), self.channels.copy()
        busy = [a.unit for a in self.advised.values() if a.state == "engaging"]
        np.subtract.at(free, busy, 1)
        out: dict[int, AdviceItem] = {}
        keep = np.zeros(len(threats), bool)
        for n, b in enumerate(threats):  # advised pairs keep their unit while it can
            a = self.advised.get(b.system_track)
            if a is None:
                continue
            u, s = a.unit, a.item.shots
            if a.state == "engaging":  # in flight: keep, with the newest threat data
                keep[n] = True
                a.item = msgspec.structs.replace(
                    a.item, x=tuple(float(v) for v in x[n]), t_arrival=b.t_impact,
                    aim_lat_deg=b.impact_lat_deg, aim_lon_deg=b.impact_lon_deg,
                )  # fmt: skip
                out[b.system_track], a.t_x = a.item, t
            elif feasible[n, u] and (s == 1 or w.sls[n, u]) and rounds[u] >= s and free[u] >= 1:
                keep[n] = True
                rounds[u] -= s
                free[u] -= 1
                out[b.system_track] = self._item(
                    t, b, x[n], w, n, u, s, pk[n, u], a.item.advice_id
                )
                a.item, a.t_x = out[b.system_track], t
            else:
                del self.advised[b.system_track]
        value = np.array([b.value * min(b.p_area, 1.0) for b in threats])
        value[keep] = 0.0  # already placed
        later = w.feasible.copy()  # … or later in the flight than the planning horizon
        cut = np.nan_to_num(tgo) > paths.tau_s[:, -1] + 1.0
        if cut.any():
            rest = predict_paths(
                x[cut], fast[cut], tgo[cut], aim_lat[cut], aim_lon[cut],
                samples=self.samples, horizon_s=FLIGHT_HORIZON_S,
            )  # fmt: skip
            later[cut] |= engagement_windows(rest, kind[cut], self.units, self.look_s).feasible
        value = value[:, None] * past_others(pk, later & ~declined, rounds)
        plan = assign(
            value, pk, feasible, w.sls, np.maximum(rounds, 0), np.maximum(free, 0),
            self.units.cost_usd, deadline_s=self.deadline_s, method=self.method,
        )  # fmt: skip
        self.counters[f"plan_{plan.method}"] += 1
        for n in np.flatnonzero(plan.unit >= 0).tolist():
            b, u, s = threats[n], int(plan.unit[n]), int(plan.shots[n])
            self.offers[(b.system_track, u)] += 1  # a new offer gets a new advice id
            item = self._item(t, b, x[n], w, n, u, s, pk[n, u])
            out[b.system_track] = item
            self.advised[b.system_track] = _Advised(item, u, t_x=t)
            self.counters["advised"] += 1
        return out

    def _item(
        self,
        t: float,
        b: Threat,
        x: np.ndarray,
        w: Windows,
        n: int,
        u: int,
        s: int,
        p: float,
        advice_id: str = "",
    ) -> AdviceItem:
        """The advice item of threat ``b`` (row ``n``) for unit ``u``, ``s`` rounds; a new
        offer's id unless the pairing's ``advice_id`` is given."""
        uid = self.units.ids[u]
        cls: TrackClass = b.threat_class
        return AdviceItem(
            advice_id=advice_id or f"{b.system_track}/{uid}/{self.offers[(b.system_track, u)]}",
            system_track=b.system_track,
            unit=uid,
            shots=s,
            launch_open=t + float(w.open_s[n, u]),
            launch_close=t + float(w.close_s[n, u]),
            t_intercept=t + float(w.hit_s[n, u]),
            intercept=tuple(float(v) for v in w.hit_pos[n, u]),  # type: ignore[arg-type]
            launch2=t + float(w.launch2_s[n, u]) if s == 2 else 0.0,
            t_intercept2=t + float(w.hit2_s[n, u]) if s == 2 else 0.0,
            x=tuple(float(v) for v in x),
            t_arrival=b.t_impact,
            aim_lat_deg=b.impact_lat_deg,
            aim_lon_deg=b.impact_lon_deg,
            threat_class=cls,
            area=b.area,
            own_area=b.owner == self.units.owners[u],
            contested=bool(self.threatened.get(b.track_id, set()) - {self.units.owners[u]}),
            p_kill=float(1.0 - (1.0 - p) ** s),
            value=float(b.value * min(b.p_area, 1.0)),
        )


def past_others(pk: Array, can: np.ndarray, rounds: np.ndarray) -> Array:
    """(N, U) the chance that threat n gets past every unit but u that can still engage
    it before it arrives: the share of a round's value that unit u adds to the defence.

    ``pk`` (N, U) single-shot kill probabilities, ``can`` (N, U) bool: unit u has a window
    on threat n anywhere along its predicted flight (now or later), ``rounds`` (U,) rounds
    left. A unit with fewer rounds than threats it can reach is counted at that share of
    its kill probability (it cannot fire at them all), so a saturated defender protects
    little and a threat only it can reach keeps its full value for the others too.

    A layered defence spends its long-reach rounds (air patrols on the routes, upper tiers)
    where nobody after them could engage the threat — a drone bound for an area whose own
    short-range battery will meet it anyway is worth less to a patrol than one bound for
    an area nobody defends. Each unit's chance is taken as independent of the others'."""
    can = np.asarray(can, bool)
    demand = np.maximum(can.sum(axis=0), 1)
    share = np.minimum(np.maximum(rounds, 0) / demand, 1.0)  # (U,)
    kill = np.where(can, np.clip(pk, 0.0, 1.0) * share[None, :], 0.0)
    survive = np.log1p(-np.minimum(kill, 1.0 - 1e-12))  # (N, U), log of each unit's miss
    return np.exp(survive.sum(axis=1, keepdims=True) - survive)


def _owners_threatened(
    threats: Sequence[Threat], neighbours: dict[str, set[str]]
) -> dict[str, set[str]]:
    """Track id → the owners of the areas it threatens, and of their neighbours."""
    out: dict[str, set[str]] = {}
    for b in threats:
        if b.threat_class in THREAT_KINDS:
            out.setdefault(b.track_id, set()).update({b.owner}, neighbours.get(b.area, ()))
    return out


def neighbour_owners(
    areas: Sequence[DefendedArea], km: float = NEIGHBOUR_KM
) -> dict[str, set[str]]:
    """Area name → the owners (other than its own) of areas whose edge lies within ``km``
    of its edge (a polygon by its bounding circle)."""
    a = AreaSet.from_areas(areas)
    d = geo.great_circle_distance_m(
        a.lat_deg[:, None], a.lon_deg[:, None], a.lat_deg[None], a.lon_deg[None]
    )
    near = d - a.radius_m[:, None] - a.radius_m[None] <= km * 1e3
    owner = [ar.owner for ar in areas]
    return {
        n: {owner[j] for j in np.flatnonzero(near[i]) if owner[j] != owner[i]}
        for i, n in enumerate(a.names)
    }


def _worst_first(threats: Sequence[Threat]) -> list[Threat]:
    """One threat per track: the area it most endangers (value × probability)."""
    best: dict[str, Threat] = {}
    for b in threats:
        if b.threat_class not in THREAT_KINDS:
            continue
        cur = best.get(b.track_id)
        if cur is None or b.value * b.p_area > cur.value * cur.p_area:
            best[b.track_id] = b
    return list(best.values())
