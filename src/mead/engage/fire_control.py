"""A partner's fire control: its own units, its own decisions, the interceptors it launches.

The partner is sovereign: the coordinator's :class:`~mead.messages.Advice` is only
advice. :meth:`FireControl.advise` decides each new item by the partner's
:class:`~mead.engage.policy.EngagementPolicy` (accept → ``assigned``, or ``declined``
with the reason); :meth:`FireControl.step` then, every cycle, launches the accepted
engagements whose window is open, follows the interceptors in flight
(``engaging`` → ``intercepted`` or ``missed``; a planned second round after a miss),
reloads launchers and reports every status back (:class:`~mead.messages.Engagement`).

A partner that defends its own areas also plans on its own every cycle, advice or not: the
same windows and assignment over the threats its own assessment found against its own
areas, with its own units — except against an object a round already flies at or advice is
about to launch on (its own advice, or what the coordinator's advice lists as ``engaged``,
within :func:`~mead.engage.windows.same_object_m`; and, exactly, its own tracks the advice
lists as ``engaged_tracks``, those the coordinator fused into such objects), or that its
rounds killed (its tracks coast on for a while). Advice about an object it engages that
way, on which nothing was launched yet, it declines ("engaged on own tracks"): a round now
beats a plan for later. It reports these engagements too, with the threat's state, so the
coordinator offers that object to nobody else.

Two deciders, the coordinator's plan and a partner's own defence, can pick one object
within a message's latency of each other. So a round on advice to defend another
partner's area — whose owner may be defending it on its own — waits for the advice to be
*confirmed*: listed again in a plan made at least ``CONFIRM_S`` after the plan that first
offered it. By then the coordinator has heard any partner's own engagement of that object
(reported at once) and withdrawn the advice. So does advice for the partner's own area
when the object threatens another partner's area too (``contested``: two neighbours'
areas under one stream), and a second round after a miss (confirmed anew from the
miss: someone may have engaged the object on its own while the first round flew). Advice
for an area only the partner's own, and its own defence, fire at once: its own area is
its own to defend, and a conflict with its own plan is settled here. But two owners' own
defences may pick one object within a plan cycle of each other (neighbours' areas under
one stream), neither hearing of the other in time: so an object that threatens another
partner's area too — the coordinator names the partner's own tracks of such objects
(``contested_tracks``) and where they are (``contested``), and an object the partner's own
assessment finds bound for its own area beside another partner's is one by the same rule
(``shared_areas``) — is left to the coordinator's plan, which sees both areas, while its
advice comes (``ENGAGED_S``); an own engagement not launched yet that becomes contested
is withdrawn.

Firing solutions are the partner's own: at launch the window of the unit against the
threat's predicted path (from the advice's fused state, or the partner's own track) is
computed again from now, so a launch a cycle after the advice still aims right. Where the
interceptor goes is the :class:`Effector`'s business: the simulation flies it against
truth (:mod:`mead.runtime.intercepts`); live, nothing is simulated.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import numpy as np

from mead.engage.assign import assign
from mead.engage.policy import EngagementPolicy
from mead.engage.units import THREAT_KINDS, UnitClass, UnitTable
from mead.engage.windows import (
    LOOK_S,
    Paths,
    engagement_windows,
    predict_paths,
    same_object_m,
    within_reach,
)
from mead.events import Decision, Emit
from mead.messages import Advice, AdviceItem, Engagement, EngagementStatus, EngageState
from mead.threat.base import Threat
from mead.types import Array, States

SOLUTION_SAMPLES = 192
"""Samples per predicted path of a firing solution (a launch now meets the threat at the
first sample it can reach, so the spacing is the most it waits)."""
EARLY_S = 60.0
"""A firing solution is tried this long before the advised window opens (the advice's
window edges are as coarse as the coordinator's path samples), s."""
CONFIRM_S = 10.0
"""Advice (but for an area only the recipient's own) is launched on only once a plan this
much newer than its offer, or than the miss before a second round, still lists it (the
coordinator heard every partner's own engagements in between), s."""
KILLED_S = 90.0
"""A killed object's tracks coast on until their trackers drop them (60 s without a plot,
then the fused track's age limit): for this long after the kill no round goes at a track
where the object would be now, s."""
ENGAGED_S = 30.0
"""What the newest advice lists as engaged is left alone for at most this long after it (a
coordinator gone silent no longer holds anything off), s."""
RETRY_S = 2.0
"""Period of the firing-solution tries of an engagement waiting for its window, s."""
REPORT_S = 120.0
"""Statuses of finished engagements are repeated in every report for this long after their
last change, s (those still going, in every report while they last)."""


class Effector(Protocol):
    """Where a launched interceptor goes: ``launch`` returns a handle, ``outcome`` says
    whether it killed its target once the intercept time is past (None: not known)."""

    def launch(self, shot: Shot) -> int: ...

    def update(self, handle: int, aim: tuple[float, float, float]) -> None: ...

    def outcome(self, handle: int, now: float) -> bool | None: ...


@dataclass(frozen=True)
class Shot:
    """One interceptor launch, as the fire control hands it to the effector."""

    node: str  # the partner
    unit: str
    t: float  # launch, UTC s
    t_intercept: float  # planned, UTC s
    aim: tuple[float, float, float]  # ECEF intercept point, m
    threat_pos: tuple[float, float, float]  # the threat's estimated ECEF position now, m
    threat_class: str
    basket_m: float  # the seeker finds a target within this of the aim point
    pk: dict[str, float]  # single-shot kill probability per class
    cost_usd: float
    shot: int  # 1, or 2 (second round of shoot-look-shoot)
    advice_id: str  # "" on the partner's own initiative


class NoEffector:
    """Live mode: launches are recorded, their outcome is never known here."""

    def __init__(self) -> None:
        self.shots: list[Shot] = []

    def launch(self, shot: Shot) -> int:
        self.shots.append(shot)
        return len(self.shots) - 1

    def update(self, handle: int, aim: tuple[float, float, float]) -> None:
        return None

    def outcome(self, handle: int, now: float) -> bool | None:
        return None


@dataclass
class UnitState:
    """Rounds, launchers and channels of one unit.

    The loaded rounds sit on ``ceil(loaded / rounds_per_launcher)`` launchers; each
    launcher left empty is reloaded from the reserve, which takes ``reload_s``.
    """

    cls: UnitClass
    loaded: int  # rounds on the launchers
    reserve: int  # rounds not yet loaded
    reloading: list[tuple[float, int]] = field(default_factory=list)  # (done UTC s, rounds)
    in_flight: int = 0  # interceptors being guided

    @classmethod
    def full(cls, c: UnitClass) -> UnitState:
        per = c.launchers * c.rounds_per_launcher
        return cls(c, per, per * c.reloads)

    @property
    def rounds_left(self) -> int:
        return self.loaded + self.reserve + sum(n for _, n in self.reloading)

    def tick(self, now: float) -> None:
        """Finish due reloads; start one for each launcher that is empty."""
        self.loaded += sum(n for t, n in self.reloading if t <= now)
        self.reloading = [(t, n) for t, n in self.reloading if t > now]
        rpl = self.cls.rounds_per_launcher
        empty = self.cls.launchers - -(-self.loaded // rpl) - len(self.reloading)
        while empty > 0 and self.reserve > 0:
            n = min(rpl, self.reserve)
            self.reserve -= n
            self.reloading.append((now + self.cls.reload_s, n))
            empty -= 1

    def can_fire(self) -> bool:
        return self.loaded > 0 and self.in_flight < self.cls.channels


@dataclass
class _Job:
    """One engagement at this partner: from advice, or on its own tracks."""

    item: AdviceItem
    unit: int
    state: EngageState
    t: float  # of the last change, UTC s
    reason: str = ""
    fired: int = 0
    handle: int | None = None
    t_hit: float = 0.0
    t_state: float = 0.0  # time of validity of item.x
    listed: bool = True  # still in the coordinator's newest advice (own jobs: always)
    guided: float = -1.0  # t_state of the last guidance update
    next_try: float = -np.inf  # no firing solution before this, UTC s
    t_offer: float = 0.0  # time of the plan that first offered it, UTC s
    t_listed: float = 0.0  # time of the newest plan that lists it, UTC s


class FireControl:
    """One partner's units and engagement decisions (see the module doc).

    Parameters
    ----------
    name : the partner's pseudonym.
    units : the partner's own fire units.
    policy : its engagement policy.
    effector : where interceptors go (simulation: against truth).
    emit : sink for decision events.
    shared_areas : its own areas beside another partner's
        (:func:`~mead.engage.planner.neighbour_owners`): the coordinator counts every
        object bound for one as contested, and so, by the same rule on its own assessment,
        does its own defence — whether or not the coordinator has its track yet.
    """

    def __init__(
        self,
        name: str,
        units: UnitTable,
        policy: EngagementPolicy,
        effector: Effector,
        emit: Emit,
        look_s: float = LOOK_S,
        shared_areas: Collection[str] = (),
    ) -> None:
        self.name, self.units, self.policy = name, units, policy
        self.shared_areas = frozenset(shared_areas)
        self.effector, self.emit, self.look_s = effector, emit, look_s
        self.state = [UnitState.full(c) for c in units.classes]
        self.jobs: dict[str, _Job] = {}
        self.decided: set[str] = set()  # advice ids decided once (a decision is not redone)
        self.last_advice = -np.inf
        self.engaged = np.empty((0, 6))  # objects the newest advice says rounds fly at
        self.engaged_tracks: set[str] = set()  # own tracks the advice says are of those
        self.contested_tracks: set[str] = set()  # own tracks of objects also at others' areas
        self.contested = np.empty((0, 6))  # those objects' fused states at ``t_engaged``
        self.t_engaged = 0.0  # the time of validity of ``engaged``, UTC s
        self.killed: list[tuple[np.ndarray, float, float]] = []  # (state, its time, kill time)
        self.killed_tracks: set[str] = set()  # own tracks of objects own rounds killed
        self.counters: dict[str, int] = {}

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def advise(self, now: float, adv: Advice) -> None:
        """Take the coordinator's current advice: decide each new item once, update the
        threat data of the rest (guidance of rounds in flight too); items it no longer
        lists are not launched."""
        self.last_advice = now
        self.engaged, self.t_engaged = _states(adv.engaged), adv.t
        self.engaged_tracks = {str(t) for t in adv.engaged_tracks}
        self.contested_tracks = {str(t) for t in adv.contested_tracks}
        self.contested = _states(adv.contested)
        if len(self.engaged) < len(adv.engaged):
            self._count("advice_bad_engaged")  # rows not a finite 6-vector are dropped
        if len(self.contested) < len(adv.contested):
            self._count("advice_bad_contested")
        listed = {it.advice_id for it in adv.items}
        for j in self.jobs.values():
            if not _on_own_tracks(j):
                j.listed = j.item.advice_id in listed
        for it in adv.items:
            job = self.jobs.get(it.advice_id)
            if job is not None:
                job.t_listed = max(job.t_listed, adv.t)
                if job.state in ("assigned", "engaging"):
                    job.item, job.t_state = it, adv.t
                continue
            if it.advice_id in self.decided:
                continue
            try:
                u = self.units.index(it.unit)
            except ValueError:
                self._count("advice_unknown_unit")
                continue
            reason = self.policy.decide(it.threat_class, it.area, it.own_area, it.intercept)
            state: EngageState = "declined" if reason else "assigned"
            self.jobs[it.advice_id] = _Job(
                it, u, state, now, reason, t_state=adv.t, t_offer=adv.t, t_listed=adv.t
            )
            self.decided.add(it.advice_id)
            self._count(f"advice_{'declined' if reason else 'accepted'}")
            self.emit(
                Decision(
                    node=self.name, t=now, advice_id=it.advice_id, unit=it.unit,
                    system_track=it.system_track, area=it.area, own_area=it.own_area,
                    accepted=not reason, reason=reason,
                )
            )  # fmt: skip

    def step(
        self,
        now: float,
        threats: Sequence[Threat] = (),
        ids: Sequence[str] = (),
        x: States | None = None,
        *,
        report: bool = False,
    ) -> Engagement | None:
        """Advance to ``now`` (UTC s): reloads, outcomes, launches; on its own tracks too
        when uncoordinated. Returns the statuses to report when ``report`` or when one
        changed (None: nothing to report)."""
        before = self._states()
        for s in self.state:
            s.tick(now)
        if x is not None:
            self._own_tracks(now, ids, x)
        self._follow(now)
        if self.policy.defend_own and x is not None and len(threats) and len(self.units):
            self._own(now, threats, ids, x)
        self._launch_due(now)
        self._guide()
        if not report and self._states() == before:
            return None
        rows = [
            EngagementStatus(
                advice_id=a, system_track=j.item.system_track, unit=j.item.unit,
                state=j.state, t=j.t, rounds_left=self.state[j.unit].rounds_left,
                reason=j.reason, **_own_state(a, j),
            )
            for a, j in self.jobs.items()
            if _active(j) or now - j.t <= REPORT_S
        ]  # fmt: skip
        self.jobs = {a: j for a, j in self.jobs.items() if _active(j) or now - j.t <= 4 * REPORT_S}
        return Engagement(source=self.name, t=now, statuses=tuple(rows)) if rows else None

    def _states(self) -> list[tuple[str, str]]:
        return [(a, j.state) for a, j in self.jobs.items()]

    def _own_tracks(self, now: float, ids: Sequence[str], x: States) -> None:
        """Refresh the threat state of engagements on the partner's own tracks."""
        rows = {t: i for i, t in enumerate(ids)}
        for a, j in self.jobs.items():
            r = rows.get(a[4:]) if a.startswith("own:") else None
            if r is not None and j.state in ("assigned", "engaging"):
                j.item = msgspec.structs.replace(j.item, x=tuple(float(v) for v in x[r]))
                j.t_state = now

    def _guide(self) -> None:
        """Midcourse guidance: each round in flight aims where the newest estimate of its
        threat will be at the intercept time."""
        fly = [
            j for j in self.jobs.values()
            if j.state == "engaging" and j.handle is not None and j.guided != j.t_state
        ]  # fmt: skip
        if not fly:
            return
        t0 = np.array([j.t_state for j in fly])
        paths, _ = _job_paths(fly, np.maximum(np.array([j.t_hit for j in fly]) - t0, 0.0), 16)
        for n, j in enumerate(fly):
            j.guided = j.t_state
            if paths.valid[n, -1] and j.handle is not None:
                p = paths.pos[n, -1]
                self.effector.update(j.handle, (float(p[0]), float(p[1]), float(p[2])))

    def _follow(self, now: float) -> None:
        """Interceptors past their intercept time: hit, miss, or the planned second round."""
        for j in self.jobs.values():
            if j.state != "engaging" or j.handle is None or now < j.t_hit:
                continue
            hit = self.effector.outcome(j.handle, now)
            if hit is None:
                continue
            self.state[j.unit].in_flight -= 1
            if hit:
                j.state, j.t = "intercepted", now
                self.killed.append((np.asarray(j.item.x, dtype=np.float64), j.t_state, now))
                if _on_own_tracks(j):
                    self.killed_tracks.add(j.item.advice_id[4:])
            elif j.item.shots > j.fired:
                j.state, j.t, j.handle = "assigned", now, None  # look, then shoot again
                j.t_offer = now  # a second round of advice is confirmed anew
                self._count("second_rounds")
            else:
                j.state, j.t = "missed", now

    def _contested(
        self, now: float
    ) -> tuple[set[str], list[tuple[float, float, float]], frozenset[str]]:
        """What is contested, the coordinator's plan's to assign: own tracks the newest
        advice names, where the objects it lists are now (flown on from the plan), and the
        own areas beside another partner's — nothing once the advice is older than
        ``ENGAGED_S`` (a coordinator gone silent holds nothing off)."""
        if now - self.last_advice > ENGAGED_S:
            return set(), [], frozenset()
        where = _flown_on(self.contested, now - self.t_engaged)
        return self.contested_tracks, where, self.shared_areas

    def _launch_due(self, now: float) -> None:
        """Launch every accepted engagement whose window is open and whose unit can fire.

        An engagement on its own tracks is an intention until its round leaves: one whose
        track the newest advice names ``contested`` is withdrawn here (``declined``, "left
        to the coalition's plan"), however it was planned before — its unit may have been
        busy for a minute, long enough for another owner's defence to pick the object too,
        and the coordinator's plan, which sees both areas, now assigns it."""
        tracks, where, areas = self._contested(now)
        for j in self.jobs.values():
            if j.state != "assigned" or not _on_own_tracks(j):
                continue
            if (
                j.item.advice_id[4:] in tracks or j.item.area in areas
                or (where and _near(j.item.x, where, now - j.t_state))
            ):  # fmt: skip
                j.state, j.t, j.reason = "declined", now, "left to the coalition's plan"
                self._count("own_withdrawn_contested")
        due = [
            j for j in self.jobs.values()
            if j.state == "assigned" and j.listed and now >= j.next_try
            and now >= (j.item.launch2 if j.fired else j.item.launch_open) - EARLY_S
            and _confirmed(j)
        ]  # fmt: skip
        if not due:
            return
        sol = self._solutions(now, due)
        for j, (ok, t_hit, aim) in zip(due, sol, strict=True):
            st = self.state[j.unit]
            j.next_try = now + RETRY_S
            if not ok:
                self._count("no_solution_yet")
                if now > j.item.launch_close:
                    j.state, j.t, j.reason = (
                        "missed" if j.fired else "declined",
                        now,
                        "window closed",
                    )
                    self._count("window_closed")
                continue
            if st.rounds_left == 0:
                j.state, j.t, j.reason = "out_of_rounds", now, "no rounds left"
                continue
            if not st.can_fire():
                self._count("unit_busy")
                continue  # reloading or every channel busy: try next cycle
            st.loaded -= 1
            st.in_flight += 1
            j.fired += 1
            j.t_hit, j.state, j.t = t_hit, "engaging", now
            c = st.cls
            j.handle = self.effector.launch(
                Shot(
                    node=self.name, unit=j.item.unit, t=now, t_intercept=t_hit, aim=aim,
                    threat_pos=_position_now(j, now), threat_class=j.item.threat_class,
                    basket_m=c.basket_m, pk=dict(c.pk), cost_usd=c.cost_usd, shot=j.fired,
                    advice_id="" if _on_own_tracks(j) else j.item.advice_id,
                )
            )  # fmt: skip
            self._count("launches")

    def _solutions(
        self, now: float, jobs: list[_Job]
    ) -> list[tuple[bool, float, tuple[float, float, float]]]:
        """The firing solution of each job's unit from now: (window open now, intercept
        time UTC s, ECEF aim point), from the threat's path predicted from its state."""
        t0 = np.array([j.t_state for j in jobs])
        horizon = np.array([j.item.t_arrival for j in jobs]) - t0
        paths, kind = _job_paths(jobs, horizon, SOLUTION_SAMPLES)
        late = np.maximum(now - t0, 0.0)
        w = engagement_windows(paths, kind, self.units, self.look_s, earliest_s=late)
        out = []
        for n, j in enumerate(jobs):
            u = j.unit
            ok = bool(np.isfinite(w.open_s[n, u]) and w.first_s[n, u] <= late[n] + 1.0)
            aim = tuple(float(v) for v in w.hit_pos[n, u])
            out.append((ok, float(t0[n] + np.nan_to_num(w.hit_s[n, u])), aim))
        return out  # type: ignore[return-value]

    def _own(self, now: float, threats: Sequence[Threat], ids: Sequence[str], x: States) -> None:
        """Plan the partner's own units against threats to its own areas, on own tracks —
        always, advice or not (its own areas are its own to defend), but never against an
        object an accepted advice of the coordinator already covers, nor one its own
        engagement of another track holds (two own tracks of one object): a threat within
        :func:`~mead.engage.windows.same_object_m` of such an engagement's threat is left
        to it. Nor at a track of an object its rounds killed (the track coasts on for a
        while): not that track again, nor any where the object would be, for ``KILLED_S``.
        Nor, while advice comes, at a track the coordinator names ``contested`` (its object
        threatens another partner's area too): the coalition's plan assigns it."""
        rows = {t: i for i, t in enumerate(ids)}
        active = [j for j in self.jobs.values() if j.state in ("assigned", "engaging")]
        busy = {j.item.advice_id for j in active}
        advised = [_position_now(j, now) for j in active if _covers(j, now) or _on_own_tracks(j)]
        e, taken = self.engaged, self.engaged_tracks  # others' rounds (or advice) at them
        contested, where, areas = self._contested(now)  # the coordinator's plan assigns these
        if now - self.last_advice > ENGAGED_S:
            e, taken = e[:0], set()
        advised += _flown_on(e, now - self.t_engaged)
        self.killed = [k for k in self.killed if now - k[2] <= KILLED_S]
        advised += [tuple((xk[:3] + xk[3:] * (now - tk)).tolist()) for xk, tk, _ in self.killed]
        self.killed_tracks &= set(ids)
        best: dict[str, Threat] = {}
        for b in threats:
            if b.threat_class not in THREAT_KINDS or b.track_id not in rows:
                continue
            if b.track_id in self.killed_tracks:
                continue
            if b.track_id in taken:
                self._count("own_left_to_advice")
                continue
            if (
                b.track_id in contested or b.area in areas
                or (where and _near(x[rows[b.track_id]], where))
            ):  # fmt: skip
                self._count("own_left_contested")
                continue
            if f"own:{b.track_id}" in busy or b.threat_class in self.policy.hold_classes:
                continue
            if advised and _near(x[rows[b.track_id]], advised):
                self._count("own_left_to_advice")
                continue
            cur = best.get(b.track_id)
            if cur is None or b.value * b.p_area > cur.value * cur.p_area:
                best[b.track_id] = b
        cand = list(best.values())
        if cand:
            near = within_reach(np.stack([x[rows[b.track_id]] for b in cand]), self.units)
            cand = [b for b, k in zip(cand, near, strict=True) if k]
        if not cand:
            return
        kind = np.array([THREAT_KINDS.index(b.threat_class) for b in cand])
        xs = np.stack([x[rows[b.track_id]] for b in cand])
        paths = predict_paths(
            xs, kind < 2, np.array([b.tgo_s for b in cand]),
            np.array([b.impact_lat_deg for b in cand]), np.array([b.impact_lon_deg for b in cand]),
        )  # fmt: skip
        w = engagement_windows(paths, kind, self.units, self.look_s)
        pk = self.units.pk[:, kind].T
        rounds = np.array([s.loaded for s in self.state])
        free = np.array([s.cls.channels - s.in_flight for s in self.state])
        now_open = w.feasible & (w.first_s <= 1.0)  # the window is open: launch now
        plan = assign(
            np.array([b.value * min(b.p_area, 1.0) for b in cand]), pk, now_open, w.sls,
            rounds, np.maximum(free, 0), self.units.cost_usd, method="greedy",
        )  # fmt: skip
        for n in np.flatnonzero(plan.unit >= 0).tolist():
            b, u = cand[n], int(plan.unit[n])
            aid = f"own:{b.track_id}"
            item = AdviceItem(
                advice_id=aid, system_track=0, unit=self.units.ids[u], shots=int(plan.shots[n]),
                launch_open=now + float(w.open_s[n, u]), launch_close=now + float(w.close_s[n, u]),
                t_intercept=now + float(w.hit_s[n, u]),
                intercept=tuple(float(v) for v in w.hit_pos[n, u]),  # type: ignore[arg-type]
                launch2=now + float(np.nan_to_num(w.launch2_s[n, u])),
                x=tuple(float(v) for v in xs[n]), threat_class=b.threat_class, area=b.area,
                own_area=True, t_arrival=b.t_impact, aim_lat_deg=b.impact_lat_deg,
                aim_lon_deg=b.impact_lon_deg,
            )  # fmt: skip
            reason = self.policy.decide(b.threat_class, b.area, True, item.intercept)
            if reason:
                continue
            self.jobs[aid] = _Job(item, u, "assigned", now, t_state=now)
            self._yield_advice(now, xs[n])

    def _yield_advice(self, now: float, x: Array) -> None:
        """Advice on the object at ``x`` (6,) that nothing was launched on yet is declined:
        the partner engages that object now, on its own tracks."""
        for j in self.jobs.values():
            if (
                j.state == "assigned" and not j.fired
                and not _on_own_tracks(j)
                and _near(x, [_position_now(j, now)])
            ):  # fmt: skip
                j.state, j.t, j.reason = "declined", now, "engaged on own tracks"
                self._count("advice_yielded_to_own")


def _states(rows: Sequence[Sequence[float]]) -> States:
    """(K, 6) of the rows that are finite ECEF states (6 numbers); the others dropped."""
    ok = [r for r in rows if len(r) == 6]
    x = np.array(ok, dtype=np.float64).reshape(-1, 6)
    return x[np.isfinite(x).all(axis=1)]


def _active(j: _Job) -> bool:
    """Whether engagement ``j`` is still going: a round in flight (which may fly for many
    minutes), or accepted and still wanted. Its status is reported, and it is kept, for as
    long as it is; a finished one for ``REPORT_S`` (kept four times that)."""
    return j.state == "engaging" or (j.state == "assigned" and j.listed)


def _confirmed(j: _Job) -> bool:
    """Whether engagement ``j`` may launch as far as deconfliction goes: its own (the
    partner's own defence), advice for its own area that threatens no other partner's
    (``contested``), or advice a plan ``CONFIRM_S`` newer than its offer still lists —
    for a second round, newer than the first round's miss: another partner may have
    engaged the object on its own meanwhile, and the coordinator withdraws it then."""
    if j.item.own_area and not j.item.contested:
        return True
    return j.t_listed - j.t_offer >= CONFIRM_S


def _on_own_tracks(j: _Job) -> bool:
    """Whether ``j`` is an engagement on the partner's own initiative (its own tracks)."""
    return j.item.advice_id.startswith("own:")


def _covers(j: _Job, now: float) -> bool:
    """Whether accepted advice ``j`` leaves its object to itself: a round of it is in
    flight, or the coordinator still lists it and its window opens within ``EARLY_S``. An
    engagement planned for later yields to a partner able to defend its area now."""
    if _on_own_tracks(j):
        return False
    if j.state == "engaging":
        return True
    return j.listed and now >= (j.item.launch2 if j.fired else j.item.launch_open) - EARLY_S


def _near(x: Any, others: Sequence[tuple[float, float, float]], ahead_s: float = 0.0) -> bool:
    """Whether threat state ``x`` (6,), flown on ``ahead_s`` in a straight line, is the same
    object as one of the positions ``others`` (:func:`~mead.engage.windows.same_object_m`)."""
    x = np.asarray(x, dtype=np.float64)
    d = np.linalg.norm(np.asarray(others, dtype=np.float64) - (x[:3] + x[3:] * ahead_s), axis=1)
    return bool(np.min(d) < same_object_m(x[None])[0])


def _own_state(advice_id: str, j: _Job) -> dict[str, Any]:
    """The threat state an own-initiative engagement reports to the coordinator."""
    if not advice_id.startswith("own:"):
        return {}
    return {"x": tuple(float(v) for v in j.item.x), "t_x": j.t_state}


def _job_paths(jobs: Sequence[_Job], horizon_s: Array, samples: int) -> tuple[Paths, np.ndarray]:
    """The predicted paths of the jobs' threats from each job's threat state, ``horizon_s``
    (J,) s ahead, and their class indices (J,) in ``THREAT_KINDS``."""
    it = [j.item for j in jobs]
    kind = np.array([THREAT_KINDS.index(i.threat_class) for i in it])
    paths = predict_paths(
        np.array([i.x for i in it], dtype=np.float64).reshape(len(it), 6),
        kind < 2,
        horizon_s,
        np.array([i.aim_lat_deg for i in it]),
        np.array([i.aim_lon_deg for i in it]),
        samples=samples,
    )
    return paths, kind


def _flown_on(x: States, dt_s: float) -> list[tuple[float, float, float]]:
    """The positions of states ``x`` (K, 6) flown on ``dt_s`` in a straight line."""
    return [tuple(p) for p in (x[:, :3] + x[:, 3:] * dt_s).tolist()]


def _position_now(j: _Job, now: float) -> tuple[float, float, float]:
    """The threat's position extrapolated from its state to ``now`` (straight line)."""
    x = np.asarray(j.item.x, dtype=np.float64)
    p = x[:3] + x[3:] * (now - j.t_state)
    return (float(p[0]), float(p[1]), float(p[2]))
