"""Alert lifecycle: issue, update and cancel early warnings to the owners of threatened areas.

One alert lifecycle per (track, area) pair, addressed to the area's owner:

* **issued** once the pair has been threatened in ``confirm`` consecutive steps with
  predictions that agree (impact points within the larger impact radius, impact times
  within ``max(dt_impact_s, tgo_frac × tgo)``): a boosting missile's predicted impact
  sweeps along its ground track and is not news until it settles;
* **updated** while it stays threatened, only on a change an operator acts on:
  - a ballistic or rocket impact point leaves the region last sent (moves by more than
    ``max(move_m, r)``, r the radius last sent; for cruise missiles and drones the point
    is a closest approach, and whether they reach the area is the lifecycle itself);
  - a ballistic or rocket impact region shrinks by more than ``shrink_frac`` of r while
    it is still wider than the area (a region inside the area changes nothing for the
    area's owner; a cruise missile's or drone's region is the margin of its path, which
    narrows on every step as it closes in, and its news is the level);
  - the impact time moves by more than ``max(dt_impact_s, tgo_frac × tgo, 2σ)`` (a minute
    matters less an hour out; σ is the prediction's own time-to-go uncertainty, so noise
    is not news; none once the threat is at the area);
  - the class or the level changes (a pre-alert becomes an area alert, or back — but an
    area alert is held while its threat says ``hold``: hysteresis on the probability);
  - and, if ``update_s`` is set, that long has passed since the last alert.
  For cruise missiles and drones such a change is sent only once it has held for
  ``slow_persist`` consecutive steps (an upgrade to an area alert or a new class at
  once): their estimates wander around a threshold from step to step (a drone's chord
  heading by ±10°, its speed by ±10 %), and an alert that flips between pre-alert and
  alert, or moves its arrival back and forth, every few seconds is noise to an operator.
  A receiver counts down from ``t_impact`` itself, so no periodic refresh is needed;
* **cancelled** when the pair has not been threatened for ``cancel_after`` consecutive
  steps (and, for cruise missiles and drones, for ``slow_cancel_s``), at once when the
  track is gone, or when the last predicted impact time lies more
  than ``grace_s`` in the past (the threat has arrived);
* **held** instead while its track is *blind*: every radar that held it lost its coverage
  (the caller says which tracks, see :meth:`AlertManager.step`), so a coasting estimate
  that drifts away, or a track that ends, is no evidence that the threat is gone. The
  alert falls back on its last prediction made with plots: one update with ``held`` set,
  then it stands — while the track coasts blind, and after it ends — until the arrival
  has passed by ``grace_s`` (cancelled then). If the track's radars see it again, the
  next update clears ``held``; a new track of the object warns on its own.

A *marginal* threat (just outside the threat threshold, see ``assess(stay_factor=…)``)
keeps an open alert alive and may update it, but never issues one: hysteresis against
predictions that hover at the edge of an area.

*Salvos*: an alert issued while a salvo to the same area is open — an open alert whose
group's first alert predicted an arrival within ``salvo_s`` of this one's — joins it:
``salvo`` is the ``alert_id`` of the salvo's first alert (empty for the first, or for an
alert alone), so a display can group them; each object keeps its own alert. A salvo
spans at most ``salvo_s`` of arrivals: a raid's next wave is a salvo of its own.

``alert_id`` is ``f"{issuer}-{track_id}-{area}"`` and stays the same from issue to cancel;
if the same pair is threatened again after a cancel, the new lifecycle gets a ``-2``,
``-3``… suffix. The manager keeps no state about who runs it beyond ``issuer``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from mead import geo
from mead.errors import ThreatInputError, check
from mead.messages import Alert, AlertState
from mead.scenario.schema import DefendedArea
from mead.threat.base import Threat
from mead.threat.evaluate import AreaSet


@dataclass
class _Open:
    """An open alert lifecycle: what was last sent and how many steps it went unconfirmed."""

    last: Alert
    misses: int = 0
    seen_t: float = 0.0  # last time the pair was threatened (or marginal), s
    news: int = 0  # consecutive steps a cruise/drone change has held (``slow_persist``)


class AlertManager:
    """Turns each step's threats into Alert messages for the owners of threatened areas.

    Parameters
    ----------
    issuer : pseudonym of the node issuing the alerts (coordinator or the partner itself).
    areas : the defended areas this node warns for (their owners are the recipients).
    update_s : if set, send an update at least this often while a pair stays threatened, s
        (default ``None``: only on news).
    move_m : update when the predicted impact point moves more than this and out of the
        region last sent, m.
    dt_impact_s : update when the predicted impact time moves more than this, s …
    tgo_frac : … and more than this fraction of the last time-to-go.
    shrink_frac : update when the region's radius shrinks by more than this fraction.
    confirm : consecutive agreeing steps needed to issue (1: issue at once).
    cancel_after : cancel after this many consecutive steps without the threat …
    slow_cancel_s : … and, for cruise missiles and drones (hours of flight, uncertain
        heading far out), only once this long has passed without it, s.
    grace_s : cancel once the last predicted impact time is this far in the past, s.
    min_issue_tgo_s : never issue an alert with less time to go than this, s: nobody can act
        on it, and such late threats are mostly tracks coasting past their object's end.
    salvo_s : alerts to one area whose predicted arrivals lie this close form a salvo, s.
    slow_persist : consecutive steps a cruise missile's or drone's change must hold before
        it is sent (1: at once); an upgrade to an area alert or a class change is sent at
        once.
    """

    def __init__(
        self,
        issuer: str,
        areas: Sequence[DefendedArea],
        *,
        update_s: float | None = None,
        move_m: float = 2_000.0,
        dt_impact_s: float = 30.0,
        shrink_frac: float = 0.25,
        tgo_frac: float = 0.1,
        confirm: int = 2,
        cancel_after: int = 3,
        slow_cancel_s: float = 120.0,
        grace_s: float = 30.0,
        min_issue_tgo_s: float = 15.0,
        salvo_s: float = 60.0,
        slow_persist: int = 3,
    ) -> None:
        check(cancel_after >= 1, "cancel_after", ">= 1", cancel_after)
        check(confirm >= 1, "confirm", ">= 1", confirm)
        check(slow_persist >= 1, "slow_persist", ">= 1", slow_persist)
        check(update_s is None or update_s > 0, "update_s", "> 0 s or None", update_s)
        check(0.0 < shrink_frac < 1.0, "shrink_frac", "in (0, 1)", shrink_frac)
        self.issuer = issuer  # pseudonym written into every alert
        self.owner = {a.name: a.owner for a in areas}  # area name → recipient pseudonym
        aset = AreaSet.from_areas(areas)
        self.area_radius_m = dict(zip(aset.names, aset.radius_m.tolist(), strict=True))  # m
        self.update_s = update_s  # s, or None: no periodic update
        self.move_m = move_m  # m
        self.dt_impact_s = dt_impact_s  # s
        self.shrink_frac = shrink_frac  # fraction of the last radius
        self.tgo_frac = tgo_frac  # fraction of the last time-to-go
        self.confirm = confirm  # steps
        self.cancel_after = cancel_after  # steps
        self.slow_cancel_s = slow_cancel_s  # s
        self.grace_s = grace_s  # s
        self.min_issue_tgo_s = min_issue_tgo_s  # s
        self.salvo_s = salvo_s  # s
        self.slow_persist = slow_persist  # steps
        self._salvo_t: dict[str, float] = {}  # salvo (first alert id) → its arrival time
        self._open: dict[tuple[str, str], _Open] = {}
        # the same lifecycles per area, in the same order (a new alert's salvo is looked up
        # among its area's only: a swarm holds thousands open over a dozen areas)
        self._open_at: dict[str, dict[tuple[str, str], _Open]] = {}
        self._pending: dict[tuple[str, str], tuple[Threat, int]] = {}  # not yet issued
        self._cycles: Counter[tuple[str, str]] = Counter()

    def adopt(self, alert_id: str, theirs: Alert) -> bool:
        """Go on with the open lifecycle ``alert_id`` as alert ``theirs`` (another issuer
        instance's id, salvo and — if newer than this one's last — last state), so that
        its later states update the alert its recipient holds: a standby taking over a
        threat the previous active alerted under another id. False if none is open."""
        return self.relabel({alert_id: theirs}, {}) > 0

    def rename(self, alert_id: str, new_id: str) -> bool:
        """Go on with the open lifecycle ``alert_id`` as ``new_id`` (its id named another
        threat at another issuer instance). False if none is open."""
        return self.relabel({}, {alert_id: new_id}) > 0

    def relabel(self, adopted: Mapping[str, Alert], fresh: Mapping[str, str]) -> int:
        """:meth:`adopt` every ``adopted`` (this issuer's id → the other instance's alert)
        and :meth:`rename` every ``fresh`` (id → new id) at once: each lifecycle is found
        under the id it had before any of them changes (a standby that numbered two threats
        the other way round adopts each as the other's id; one after the other, the second
        would find the first under its new id). Returns how many were open."""
        ops = {i: self._lifecycle(i) for i in [*adopted, *fresh]}
        for i, theirs in adopted.items():
            if (op := ops[i]) is not None:
                if op.last.t > theirs.t:  # this one computed a newer state, sent as theirs
                    theirs = msgspec.structs.replace(
                        op.last, alert_id=theirs.alert_id, salvo=theirs.salvo
                    )
                op.last = theirs
        for i, new in fresh.items():
            if (op := ops[i]) is not None:
                op.last = msgspec.structs.replace(op.last, alert_id=new)
        return sum(op is not None for op in ops.values())

    def _lifecycle(self, alert_id: str) -> _Open | None:
        """The open lifecycle whose alert is ``alert_id``."""
        return next((op for op in self._open.values() if op.last.alert_id == alert_id), None)

    @property
    def open_alerts(self) -> list[Alert]:
        """The last alert sent for every open lifecycle."""
        return [o.last for o in self._open.values()]

    def step(
        self,
        t: float,
        threats: Iterable[Threat],
        live_ids: Iterable[str],
        blind: Collection[str] = (),
    ) -> list[Alert]:
        """Alerts to send after one assessment at time ``t``.

        Parameters
        ----------
        t : assessment time, s (same base as the threats' ``t_impact``).
        threats : this step's threatened (track, area) pairs, from :func:`assess`.
        live_ids : ids of all tracks that still exist (a track missing here is gone).
        blind : ids of tracks (live, or gone this step) all of whose radars lost their
            coverage: their open alerts are held on the last prediction until the arrival.
        """
        live, blind = set(live_ids), set(blind)
        out: list[Alert] = []
        seen: set[tuple[str, str]] = set()
        for th in threats:
            key = (th.track_id, th.area)
            if key in seen or (th.track_id in blind and key in self._open):
                continue  # a blind track's coasting estimate is no news: held below
            seen.add(key)
            alert = self._threatened(t, key, th)
            if alert is not None:
                out.append(alert)
        self._pending = {k: v for k, v in self._pending.items() if k in seen}
        for key, op in list(self._open.items()):
            if key in seen:
                continue
            op.misses += 1
            gone = key[0] not in live
            arrived = t - op.last.t_impact > self.grace_s
            if not arrived and (key[0] in blind or (gone and op.last.held)):
                if not op.last.held:  # the operator is told once: now on the last prediction
                    op.last = self._restated(t, op.last, "updated", held=True)
                    out.append(op.last)
                continue
            slow = op.last.threat_class in ("cruise", "drone")
            quiet = t - op.seen_t >= (self.slow_cancel_s if slow else 0.0)
            if gone or arrived or (op.misses >= self.cancel_after and quiet):
                del self._open[key], self._open_at[key[1]][key]
                out.append(self._restated(t, op.last, "cancelled"))
        for key in [k for k in self._cycles if k[0] not in live and k not in self._open]:
            del self._cycles[key]
        if self._salvo_t:  # salvos whose arrivals are long past
            past = t - 2.0 * self.salvo_s - self.grace_s
            self._salvo_t = {k: v for k, v in self._salvo_t.items() if v >= past}
        return out

    def _threatened(self, t: float, key: tuple[str, str], th: Threat) -> Alert | None:
        if th.area not in self.owner:
            raise ThreatInputError(
                f"threat names area {th.area!r}, not one of this manager's areas "
                f"(known: {', '.join(self.owner)})"
            )
        op = self._open.get(key)
        if op is None:
            if th.marginal or th.t_impact - t < self.min_issue_tgo_s:
                self._pending.pop(key, None)
                return None
            prev, n = self._pending.get(key, (None, 0))
            n = n + 1 if prev is not None and self._agree(t, prev, th) else 1
            if n < self.confirm:
                self._pending[key] = (th, n)
                return None
            self._pending.pop(key, None)
            self._cycles[key] += 1
            n = self._cycles[key]
            alert_id = f"{self.issuer}-{th.track_id}-{th.area}" + (f"-{n}" if n > 1 else "")
            alert = self._alert(t, th, alert_id, "issued", self._salvo(th, alert_id))
            self._open[key] = self._open_at.setdefault(th.area, {})[key] = _Open(alert, seen_t=t)
            return alert
        op.misses, op.seen_t = 0, t
        if th.level == "pre" and th.hold and op.last.level == "alert":
            th = msgspec.structs.replace(th, level="alert")  # held: hysteresis on the level
        if not self._changed(t, op.last, th):
            op.news = 0
            return None
        slow = th.threat_class in ("cruise", "drone")
        upgrade = th.level == "alert" != op.last.level or th.threat_class != op.last.threat_class
        if slow and not upgrade:
            op.news += 1
            if op.news < self.slow_persist:
                return None
        op.news = 0
        op.last = self._alert(t, th, op.last.alert_id, "updated", op.last.salvo)
        return op.last

    def _salvo(self, th: Threat, alert_id: str) -> str:
        """The salvo a new alert joins (its first alert's id), or "" if it starts one."""
        for op in self._open_at.get(th.area, {}).values():
            last = op.last
            first = last.salvo or last.alert_id
            t0 = self._salvo_t.get(first)
            if t0 is not None and abs(t0 - th.t_impact) <= self.salvo_s:
                return first
        self._salvo_t[alert_id] = th.t_impact
        return ""

    def _agree(self, t: float, prev: Threat, th: Threat) -> bool:
        """Two successive predictions of a pair describe the same impact."""
        return self.gap(prev, th, prev.t_impact - t) < math.inf

    def gap(self, a: Alert | Threat, b: Alert | Threat, tgo_s: float) -> float:
        """How far apart two predictions of one impact are, in units of the tolerances by
        which an issue is confirmed — impact points over the larger region or ``move_m``,
        plus impact times over ``max(dt_impact_s, tgo_frac × tgo_s)`` — or inf if either
        is beyond its tolerance (not the same impact)."""
        moved = geo.great_circle_distance_m(
            a.impact_lat_deg, a.impact_lon_deg, b.impact_lat_deg, b.impact_lon_deg
        )
        near = max(self.move_m, a.impact_radius_m, b.impact_radius_m)
        dt = max(self.dt_impact_s, self.tgo_frac * tgo_s)
        off = abs(b.t_impact - a.t_impact)
        return float(moved / near + off / dt) if moved <= near and off <= dt else math.inf

    def _changed(self, t: float, last: Alert, th: Threat) -> bool:
        """The threat differs from the last alert sent in a way an operator acts on."""
        fast = last.threat_class in ("ballistic", "rocket")
        ahead = th.t_impact > t or last.t_impact > t  # not yet at the area: ETA is news
        tgo_news = max(self.dt_impact_s, self.tgo_frac * (last.t_impact - t), 2 * th.sigma_tgo_s)
        return bool(
            (self.update_s is not None and t - last.t >= self.update_s)
            or (
                fast  # (the distance only when it counts: thousands of drones per cycle)
                and geo.great_circle_distance_m(
                    last.impact_lat_deg, last.impact_lon_deg, th.impact_lat_deg,
                    th.impact_lon_deg,
                ) > max(self.move_m, last.impact_radius_m)
            )  # fmt: skip
            or (
                fast
                and th.impact_radius_m < (1.0 - self.shrink_frac) * last.impact_radius_m
                and last.impact_radius_m > self.area_radius_m[last.area]
            )
            or (ahead and abs(th.t_impact - last.t_impact) > tgo_news)
            or th.threat_class != last.threat_class
            or th.level != last.level
            or last.held  # its radars see it again: the operator is told it is tracked
        )

    def _alert(self, t: float, th: Threat, alert_id: str, state: str, salvo: str) -> Alert:
        return Alert(
            alert_id=alert_id,
            state=state,  # type: ignore[arg-type]
            t=t,
            recipient=self.owner[th.area],
            area=th.area,
            system_track=th.system_track,
            threat_class=th.threat_class,
            impact_lat_deg=round(th.impact_lat_deg, 6),  # 0.1 m
            impact_lon_deg=round(th.impact_lon_deg, 6),
            impact_radius_m=round(th.impact_radius_m, 1),
            t_impact=round(th.t_impact, 2),
            tgo_s=round(th.t_impact - t, 2),
            track_lat_deg=round(th.track_lat_deg, 6),
            track_lon_deg=round(th.track_lon_deg, 6),
            track_alt_m=round(th.track_alt_m, 1),
            issuer=self.issuer,
            level=th.level,
            p_area=round(th.p_area, 3),
            salvo=salvo,
        )

    @staticmethod
    def _restated(t: float, last: Alert, state: AlertState, held: bool = False) -> Alert:
        """The last alert sent, as it stands at ``t`` in ``state`` (its prediction kept)."""
        held = held or last.held
        return msgspec.structs.replace(
            last, state=state, t=t, tgo_s=round(last.t_impact - t, 2), held=held
        )
