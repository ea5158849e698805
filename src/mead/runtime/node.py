"""One partner's (or the coordinator's) runtime: plumbing between the stages it is given.

A node is plumbing: on each ``step(now)`` it hands what arrived since the last step to the
stages it was built with (tracker, releaser, fuser, assessor) and publishes what they
produce. It builds no stage itself: :mod:`mead.runtime.wiring` is the one place that
does, for simulation and live mode alike. Besides alerts, the coordinator sends each
partner the fused picture every assessment cycle on ``picture.<partner>``, anonymised by
``policy.picture_rows``.

The clock and the bus are injected, so the same nodes run in simulation (a scenario clock
and the in-process bus) and live (wall clock and NATS).

Times: everything on the wire is UTC seconds since the epoch. A partner's sensors and
tracker may use a local time base; ``epoch_s`` is added at the wire (in simulation it is
the scenario start, live it is 0).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Protocol

import msgspec
import numpy as np

from mead import geo
from mead.engage.fire_control import FireControl
from mead.engage.planner import Planner
from mead.errors import RejectedMessage
from mead.events import (
    AlertReceived,
    AlertSent,
    Emit,
    Health,
    PictureReceived,
    Rejected,
    SuspectTrack,
    Trust,
)
from mead.federation.base import Endpoint
from mead.federation.deception import Falsifier
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity
from mead.federation.policy import Releaser, picture_rows
from mead.fusion.base import SystemPicture
from mead.fusion.siap import SystemTracker
from mead.fusion.trust import Corroboration, DeclaredCoverage, class_rcs
from mead.messages import (
    Advice,
    Alert,
    Engagement,
    Message,
    Picture,
    RadarStatus,
    Status,
    TrackBatch,
    TrackClass,
    arrays_to_tracks,
    picture_to_arrays,
)
from mead.sensors.adsb import AdsbFeed, AdsbReports, empty_reports
from mead.sensors.adsb import merge_reports as merge_adsb
from mead.sensors.base import Scan, ScanFeed
from mead.sensors.health import RadarHealth, node_state
from mead.threat.assessor import Assessment, Assessor
from mead.threat.cooperative import extrapolate, latest_per_icao
from mead.tracking.base import TrackReport, TrackSource, merge_reports


class PartnerTracker(Protocol):
    """What a partner node needs of its tracker (:class:`~mead.tracking.tracker.Tracker`)."""

    counters: Counter[str]

    def step(self, scan: Scan) -> None: ...

    def report(self, t: float) -> TrackReport: ...


class PartnerAssessor(Protocol):
    """What a partner node needs of its assessor (:class:`~mead.threat.assessor.Assessor`)."""

    def step(
        self,
        t: float,
        ids: Sequence[str],
        x: np.ndarray,
        P: np.ndarray,
        *,
        deleted: Iterable[str] = (),
        adsb: AdsbReports | None = None,
        blind: Collection[str] = (),
    ) -> Assessment: ...


Observe = Callable[[str, float, list[str], np.ndarray], None]
"""Hook that sees every track picture a node forms: (node, t_wire, ids, x (N, 6))."""


@dataclasses.dataclass(frozen=True)
class Held:
    """What a node holds after one cycle, as its operator's map shows it (``mead.server``)."""

    node: str  # the node's pseudonym
    t: float  # wire time of the cycle, UTC s
    ids: list[str]  # (N,) track ids (partner: its own; coordinator: system track numbers)
    x: np.ndarray  # (N, 6) ECEF m, m/s
    classes: list[str]  # (N,) the node's classes
    quality: np.ndarray  # (N,) 0..1
    ident: np.ndarray  # (N,) ADS-B identification: "civil", "suspect" or ""
    picture: Picture | None = None  # partner: the coordinator's newest picture it holds
    P: np.ndarray | None = None  # (N, 6, 6) ECEF covariances of ``x``, m², m²/s²
    coverage_lost: tuple[tuple[str, RadarStatus], ...] = ()  # coordinator: (partner, radar)
    # of radars reported degraded or down, with their coverage when released


Show = Callable[[Held], None]
"""Hook that sees what a node holds after each release (partner) or assessment (coordinator)."""


ADSB_KEEP_S = 600.0
"""Live ADS-B reports a partner keeps, s (its identification reads the last 30 s)."""

MAX_BATCH_TRACKS = 1_000
"""Tracks per released message. A 1,000-track batch with sensor fields encodes to ≈ 0.53 MB,
under nats-server's default 1 MB payload limit; larger releases go as several messages."""


def chunks(batch: TrackBatch, size: int) -> Iterator[TrackBatch]:
    """The batch as messages of at most ``size`` tracks (batches are incremental: each
    updates its tracks; ``dropped`` rides on the first)."""
    if len(batch.tracks) <= size:
        yield batch
        return
    for k in range(0, len(batch.tracks), size):
        yield msgspec.structs.replace(
            batch, tracks=batch.tracks[k : k + size], dropped=batch.dropped if k == 0 else ()
        )


def _ignore(*_: Any) -> None:
    return None


def _fields(alert: Alert) -> dict[str, Any]:
    """An alert's fields, for the event that records it."""
    return msgspec.structs.asdict(alert)


class _Inbox:
    """Opens envelopes from a node's subscriptions; rejects are counted by reason, never raised."""

    def __init__(
        self, endpoint: Endpoint, patterns: tuple[str, ...], opener: Opener, node: str, emit: Emit
    ) -> None:
        self.subs = [endpoint.subscribe(p) for p in patterns]
        self.opener, self.node, self.emit = opener, node, emit
        self.rejected: Counter[str] = Counter()

    def messages(self) -> Iterator[tuple[str, Message]]:
        """(sender, message) for every valid envelope delivered by now."""
        for sub in self.subs:
            for _subject, data in sub.drain():
                try:
                    env, msg = self.opener.open(data)
                except RejectedMessage as e:
                    self.reject(e.reason, e.origin)
                    continue
                yield env.sender, msg

    def reject(self, reason: str, origin: str) -> None:
        """Count one rejected message; the first of each reason is also an event."""
        if not self.rejected[reason]:
            self.emit(Rejected(node=self.node, reason=reason, origin=origin))
        self.rejected[reason] += 1


class PartnerNode:
    """A sovereign partner: its sensors' scans → its tracker → its policy → the network.

    Scans come from ``scans`` (known in advance, in arrival order: simulated radars and
    recorded feeds) and from ``feeds`` (live sensors, polled each step). Its national
    tracker's system tracks (``track_sources``, e.g. ASTERIX CAT062) are its tracks too:
    each release reports them beside its tracker's, under the same policy. ADS-B reports
    (its cooperative identification's civil picture) come from ``adsb`` (known in advance)
    and from ``adsb_feeds`` (live, e.g. CAT021 on UDP: polled each step, added to ``adsb``
    before each release and assessment).

    It also assesses its own tracks against its own defended areas and warns itself, so a
    partner is never worse off for being in the coalition; warnings from the coordinator
    arrive on ``alerts.<name>`` and the coordinator's fused picture on ``picture.<name>``
    (the newest valid one is kept in ``picture``).
    """

    def __init__(
        self,
        *,
        identity: Identity,
        endpoint: Endpoint,
        opener: Opener,
        scans: Iterator[Scan],
        tracker: PartnerTracker,
        releaser: Releaser,
        assessor: PartnerAssessor,
        release_s: float,
        epoch_s: float = 0.0,
        sensor_sites: dict[str, tuple[float, float, float]] | None = None,
        adsb: AdsbReports | None = None,
        feeds: Sequence[ScanFeed] = (),
        adsb_feeds: Sequence[AdsbFeed] = (),
        track_sources: Sequence[TrackSource] = (),
        fire: FireControl | None = None,
        coordinator: str = "C0",
        emit: Emit = _ignore,
        observe: Observe = _ignore,
        show: Show = _ignore,
        on_scan: Callable[[Scan], None] = _ignore,
        health: RadarHealth | None = None,
        status_to: str | None = None,
        status_s: float = 30.0,
        falsifier: Falsifier | None = None,
    ) -> None:
        self.name = identity.name
        self.falsifier = falsifier  # a lying partner's changes to what it releases (or None)
        self.feeds = tuple(feeds)  # live sensors: their scans arrive while the node runs
        # its national tracker's system tracks (ASTERIX CAT062), released beside its own
        self.track_sources = tuple(track_sources)
        self.identity, self.endpoint = identity, endpoint
        self.tracker, self.releaser = tracker, releaser
        self.health = health  # its radars' states (None: not reported)
        self.status_to = status_to  # who gets its Status (the coordinator), if released to
        self.status_s = status_s  # Status at least this often, s (and on every change)
        self._radar_states: tuple[tuple[str, float], ...] | None = None
        self._sensors_of: dict[str, tuple[str, ...]] = {}  # track → its radars, last release
        self._next_status = 0.0
        self.fire = fire  # the partner's own fire units and engagement policy (or None)
        self.coordinator = coordinator  # where engagement statuses go
        self.adsb = adsb  # ADS-B reports the partner's receivers get, wire time
        self.adsb_feeds = tuple(adsb_feeds)  # live ADS-B: reports added to adsb as they come
        self._adsb_new: list[AdsbReports] = []  # live reports not yet in adsb (scenario s)
        self.sensor_sites = sensor_sites or {}  # id → (lat, lon, alt); policy strips
        self.assessor = assessor  # own areas only
        self.release_s, self.epoch_s = release_s, epoch_s
        self.emit, self.observe, self.show = emit, observe, show
        self.on_scan = on_scan  # sees every scan the tracker takes (its radars' plots)
        self._scans = scans
        self._next_scan: Scan | None = next(scans, None)
        self._next_release = 0.0
        subjects = ("alerts", "picture", *(("advice",) if fire is not None else ()))
        self.inbox = _Inbox(
            endpoint, tuple(f"{s}.{self.name}" for s in subjects), opener, self.name, emit
        )
        self.picture: Picture | None = None  # the coordinator's newest picture
        self.counters: Counter[str] = Counter()

    def step(self, now: float) -> None:
        """Advance to wire time ``now``: track, release, self-assess, take in alerts and
        the coordinator's picture."""
        t_local = now - self.epoch_s
        while self._next_scan is not None and self._next_scan.t_arrival <= t_local:
            self._track(self._next_scan)
            self._next_scan = next(self._scans, None)
        for feed in self.feeds:
            for scan in feed.ready(t_local):
                self._track(scan)
        for af in self.adsb_feeds:
            if len(new := af.ready()):
                self._adsb_new.append(new)
        released = now >= self._next_release
        if released:
            self._next_release = now + self.release_s
            self._take_adsb(now)
            self._report_health(now, t_local)
            self._release(now, self._report(t_local))
        for sender, msg in self.inbox.messages():
            match msg:
                case Alert() if msg.recipient == self.name:
                    self._record_alert(now, msg, via=sender)
                case Picture() if msg.recipient == self.name:
                    self._take_picture(now, msg, via=sender)
                case Advice() if msg.recipient == self.name and self.fire is not None:
                    self.fire.advise(now, msg)
                    self.counters["advice"] += 1
                case _:
                    self.inbox.reject("unexpected", sender)
        if self.fire is not None and not released:
            self._engage(now, self.fire.step(now))

    def next_publish(self) -> float:
        """No publication before this wire time, whatever it receives: tracks and status
        go out at releases; a fire control may report at any step (−inf)."""
        return self._next_release if self.fire is None else -np.inf

    def _take_adsb(self, now: float) -> None:
        """Add the live ADS-B reports received since the last release to ``adsb`` (wire
        time), where the cooperative identification reads them; reports older than
        ``ADSB_KEEP_S`` are dropped then, so a node fed for days holds minutes of them."""
        if not self._adsb_new:
            return
        new = functools.reduce(merge_adsb, self._adsb_new)
        self._adsb_new.clear()
        held = self.adsb if self.adsb is not None else empty_reports((self.name,))
        held = held.take(held.t >= now - ADSB_KEEP_S)
        self.adsb = merge_adsb(held, dataclasses.replace(new, t=new.t + self.epoch_s))
        self.counters["adsb_live_reports"] += len(new)

    def _track(self, scan: Scan) -> None:
        """One scan to the tracker, and to the plot hook (e.g. CAT048 out)."""
        self.tracker.step(scan)
        self.counters["scans"] += 1
        self.on_scan(scan)

    def _report(self, t_local: float) -> TrackReport:
        """Its tracker's tracks and its track sources' (national system tracks), as one."""
        rep = self.tracker.report(t_local)
        if not self.track_sources:
            return rep
        others = [src.report(t_local) for src in self.track_sources]
        self.counters["system_tracks"] += sum(len(r.ids) for r in others)
        return merge_reports([rep, *others])

    def _engage(self, now: float, report: Engagement | None) -> None:
        """Send the fire control's statuses to the coordinator."""
        if report is not None:
            self.endpoint.publish(f"engage.{self.coordinator}", seal(self.identity, report, now))
            self.counters["engagement_reports"] += 1

    def _take_picture(self, now: float, pic: Picture, via: str) -> None:
        """Keep ``pic`` if it is well formed and newer than the one held; else count it."""
        try:
            picture_to_arrays(pic)
        except ValueError:
            self.inbox.reject("bad_picture", via)
            return
        if self.picture is not None and pic.t <= self.picture.t:
            self.inbox.reject("old_picture", via)
            return
        self.picture = pic
        self.counters["pictures"] += 1
        self.emit(
            PictureReceived(node=self.name, t_recv=now, t=pic.t, via=via, tracks=len(pic.tracks))
        )

    def _release(self, now: float, rep: TrackReport) -> None:
        self.observe(self.name, now, rep.ids, rep.x)
        a = self.assessor.step(
            now, rep.ids, rep.x, rep.P, deleted=rep.deleted, adsb=self.adsb,
            blind=self._blind(rep),
        )  # fmt: skip
        cls: list[str] = list(a.classes)
        self.show(
            Held(self.name, now, rep.ids, rep.x, cls, rep.quality, a.ident, self.picture, rep.P)
        )
        for alert in a.alerts:
            self._record_alert(now, alert, via=self.name)
        if self.fire is not None:
            self._engage(now, self.fire.step(now, a.threats, rep.ids, rep.x, report=True))
        out: list[TrackClass] = list(a.classes)
        if self.falsifier is not None:  # a lying partner lies here, after its own warnings
            rep, out = self.falsifier.falsify(now, rep, out)
        sites = [self._sites(s) for s in rep.sensors]
        tracks = arrays_to_tracks(
            rep.ids, now, rep.x, rep.P, out, rep.quality, list(rep.sensors), sites
        )
        released = self.releaser.release(tracks, now, dropped=rep.deleted, arrays=(rep.x, rep.P))
        for recipient, batch in released.items():
            for part in chunks(batch, MAX_BATCH_TRACKS):
                self.endpoint.publish(f"tracks.{recipient}", seal(self.identity, part, now))
            self.counters["released_tracks"] += len(batch.tracks)

    def _blind(self, rep: TrackReport) -> list[str]:
        """The tracks whose radars all lost their coverage, by their newest states: their
        alerts are held on the last prediction, not cancelled or updated from a coasting
        estimate. A track deleted since the last release counts when each radar that fed
        it is down or degraded (reduced reach); a live one only when each is down (a
        degraded radar may still be feeding it)."""
        now_of = dict(zip(rep.ids, rep.sensors, strict=True))
        held, self._sensors_of = self._sensors_of | now_of, now_of
        if self.health is None or not self._radar_states:
            return []
        states = dict(zip((r.id for r in self.health.radars), self._radar_states, strict=True))
        lost = {r for r, (state, _) in states.items() if state != "operational"}
        if not lost:
            return []
        down = {r for r, (state, _) in states.items() if state == "down"}
        out = [i for i in rep.deleted if held.get(i) and lost.issuperset(held[i])]
        return out + [i for i in rep.ids if held.get(i) and down.issuperset(held[i])]

    def _report_health(self, now: float, t_local: float) -> None:
        """Radar state changes become ``health`` events; the Status goes to the coordinator
        on a change and every ``status_s`` (with ids and coverage as the policy allows)."""
        if self.health is None:
            return
        states = self.health.states(t_local)
        changed = states != self._radar_states
        if changed:
            old = self._radar_states or (("operational", 1.0),) * len(states)
            told = self.health.told(states, True, True)
            for r, new, was in zip(told, states, old, strict=True):
                if new != was:
                    self.emit(_health(self.name, now, self.name, r))
            self._radar_states = states
        to = self.status_to
        if to is None or to not in self.releaser.recipients:
            return
        if changed or now >= self._next_status:
            self._next_status = now + self.status_s
            keeps = self.releaser.keeps
            radars = self.health.told(states, keeps(to, "sensor_ids"), keeps(to, "sensor_sites"))
            status = Status(
                node=self.name, t=now, state=node_state(radars), radars=radars,
                releases=self.releaser.classes(to),
            )  # fmt: skip
            self.endpoint.publish(f"status.{to}", seal(self.identity, status, now))
            self.counters["status_sent"] += 1

    def _sites(self, sensor_ids: tuple[str, ...]) -> tuple[float, ...]:
        return tuple(v for s in sensor_ids for v in self.sensor_sites.get(s, ()))

    def _record_alert(self, now: float, alert: Alert, via: str) -> None:
        self.counters[f"alerts_{alert.state}"] += 1
        self.emit(AlertReceived(node=self.name, t_recv=now, via=via, **_fields(alert)))


class CoordinatorNode:
    """The sponsor: fuses released tracks into one picture, assesses, warns the threatened.

    Every assessment cycle it also sends each partner the picture (``picture.<partner>``)
    built by :func:`~mead.federation.policy.picture_rows`: no source track ids, sensor ids
    or sites, and a contributor's pseudonym only if that partner's batches arrive named
    (every rule of its policy for the coordinator has ``name_source: true``). ``partners``
    are the picture's recipients (default: every pseudonym of the opener's key registry
    but the coordinator's own).

    Partners' data is checked before it is believed (unless ``check_partners`` is off):
    every ``bias_s`` each partner's registration bias is estimated from the objects several
    partners hold and the aircraft whose ADS-B the partners forward (absolute positions:
    ``SystemTracker.registration``), and a partner offset more than ``correct_m`` has its
    positions shifted back before fusion (``trust`` events); every cycle a system track
    inside the declared radar ``coverage`` of another contributing partner that no other
    partner holds is held back from warnings, and after ``corroborate_s`` judged suspect
    (``suspect_track`` events, :mod:`mead.fusion.trust`).

    Messages to each partner are sealed with a sequence counter of that partner's own, so
    the sequence numbers a partner sees do not count the alerts and pictures sent to others
    (which would tell it how many partners there are and when the others are warned).
    """

    def __init__(
        self,
        *,
        identity: Identity,
        endpoint: Endpoint,
        opener: Opener,
        assessor: Assessor,
        assess_s: float,
        fuser: SystemTracker,
        partners: Iterable[str] | None = None,
        adsb: AdsbReports | None = None,
        planner: Planner | None = None,
        emit: Emit = _ignore,
        observe: Observe = _ignore,
        show: Show = _ignore,
        silent_s: float = 90.0,
        bias_s: float = 30.0,
        suspect_m: float = 1_000.0,
        min_shared: int = 10,
        reference_age_s: float = 10.0,
        coverage: DeclaredCoverage | None = None,
        check_partners: bool = True,
        corroborate_s: float = 90.0,
        correct_m: float = 1_000.0,
        hold_gate_m: float = 20_000.0,
        hold_vel_gate_mps: float = 500.0,
    ) -> None:
        self.name = identity.name
        self.planner = planner  # engagement advice to the owners of fire units (or None)
        self.identity, self.endpoint = identity, endpoint
        self._opener = opener
        self.silent_s = silent_s  # a partner without Status this long is "silent", s
        self.bias_s = bias_s  # registration biases estimated this often, s
        self.suspect_m = suspect_m  # a partner offset more than this is suspect, m
        self.min_shared = min_shared  # pairings with others (objects, pooled over the
        # fuser's ``bias_window``) before judging a partner
        self.reference_age_s = reference_age_s  # ADS-B reports at most this old anchor
        # the biases (moved on at their velocity), s
        self.biases: dict[str, tuple[np.ndarray, int]] = {}  # partner → (ECEF m, shared)
        self.suspect: set[str] = set()  # partners whose tracks are consistently offset
        self._next_bias = 0.0
        self.check_partners = check_partners  # correct biases, hold back uncorroborated tracks
        self.correct_m = correct_m  # a partner offset more than this is corrected (until
        # its offset falls below half this), m
        self.corrected: set[str] = set()  # partners whose positions are corrected
        self.coverage = coverage  # partners' declared radar coverage (None: no ghost check)
        self.corroboration = Corroboration(corroborate_s)
        self.hold_gate_m = hold_gate_m  # a partner's track this close holds a system track, m
        self.hold_vel_gate_mps = hold_vel_gate_mps  # … with a velocity this close, m/s
        self._batch_t: dict[str, float] = {}  # partner → when its last batch arrived
        self.status: dict[str, Status] = {}  # partner → its newest Status
        self._status_t: dict[str, float] = {}  # partner → when it arrived (wire s)
        self._silent: set[str] = set()
        self._sources_of: dict[str, tuple[str, ...]] = {}  # STN → contributors, last cycle
        self._given = None if partners is None else tuple(sorted(set(partners) - {self.name}))
        self.fuser = fuser
        self.assessor = assessor  # every defended area
        self.adsb = adsb  # ADS-B reports forwarded by the partners, wire time
        self.assess_s = assess_s
        self.emit, self.observe, self.show = emit, observe, show
        # over NATS a partner's statuses arrive stamped with its origin (``from.P.``)
        subjects = [f"tracks.{self.name}", f"status.{self.name}"]
        if planner is not None:
            subjects += [f"engage.{self.name}", f"from.*.engage.{self.name}"]
        self.inbox = _Inbox(endpoint, tuple(subjects), opener, self.name, emit)
        self._next_assess = 0.0
        self._live: set[str] = set()
        self._nameable: dict[str, bool] = {}  # source → its latest batch came named
        self._sealers: dict[str, Identity] = {}  # recipient → its sequence counter
        self.counters: Counter[str] = Counter()

    @property
    def partners(self) -> tuple[str, ...]:
        """The picture's recipients: those given, else every pseudonym of the key registry
        but the coordinator's own — now (a partner that joins or is revoked while the node
        runs gains or loses its picture at the next cycle)."""
        if self._given is not None:
            return self._given
        return tuple(sorted(set(self._opener.registry) - {self.name}))

    def step(self, now: float) -> None:
        """Take in released tracks; every ``assess_s`` fuse, assess and warn."""
        for sender, msg in self.inbox.messages():
            if isinstance(msg, TrackBatch) and msg.source in ("", sender):
                self._nameable[sender] = bool(msg.source)
                self._batch_t[sender] = now
                self.fuser.ingest(msg if msg.source else _named(msg, sender))
                self.counters["batches"] += 1
            elif isinstance(msg, Status) and msg.node == sender:
                self._take_status(now, sender, msg)
            elif isinstance(msg, Engagement) and msg.source == sender and self.planner:
                self.planner.take(sender, msg)
                self.counters["engagement_reports"] += 1
            else:
                self.inbox.reject("unexpected", sender)
        if now >= self._next_assess:
            self._next_assess = now + self.assess_s
            self._assess(now)

    def next_publish(self) -> float:
        """No publication before this wire time, whatever it receives: alerts, pictures
        and advice go out at assessments (a live node's :meth:`resend` aside)."""
        return self._next_assess

    def _take_status(self, now: float, sender: str, st: Status) -> None:
        """Keep a partner's newest Status; each radar whose state changed is an event."""
        old = self.status.get(sender)
        if old is not None and st.t <= old.t:
            return
        before = {r.radar: (r.state, r.reach) for r in (old.radars if old else ())}
        for r in st.radars:
            if before.get(r.radar, ("operational", 1.0)) != (r.state, r.reach):
                self.emit(_health(self.name, now, sender, r))
        self.status[sender], self._status_t[sender] = st, now
        self.counters["status"] += 1
        if sender in self._silent:
            self._silent.discard(sender)
            self.emit(Health(node=self.name, t=now, partner=sender, radar="", state=st.state))

    def _watch_silence(self, now: float) -> None:
        """A partner whose Status stopped for ``silent_s`` is marked ``silent`` (once)."""
        for p, t in self._status_t.items():
            if p not in self._silent and now - t > self.silent_s:
                self._silent.add(p)
                self.emit(Health(node=self.name, t=now, partner=p, radar="", state="silent"))

    def _check_registration(self, now: float) -> None:
        """Estimate partners' registration biases. A partner offset more than ``correct_m``
        is corrected before fusion (when ``check_partners``; until its offset falls below
        half that); one beyond ``suspect_m`` is marked suspect. A change of either is a
        ``trust`` event. A partner whose offset can no longer be estimated keeps its last
        correction."""
        ref = ids = None
        if self.adsb is not None and len(self.adsb):  # aircraft are where they broadcast
            pic = extrapolate(latest_per_icao(self.adsb, now, self.reference_age_s), now)
            ref, ids = np.hstack([pic.pos, pic.vel]), pic.icao
        self.biases = {
            p: (b, n)
            for p, (b, n) in self.fuser.registration(now, ref, ids).items()
            if np.isfinite(b).all() and n >= self.min_shared
        }
        for p, (b, n) in sorted(self.biases.items()):
            size = float(np.linalg.norm(b))
            bad = size > self.suspect_m
            # hysteresis: corrected above correct_m, until the estimate falls below half
            limit = self.correct_m / 2 if p in self.corrected else self.correct_m
            fix = self.check_partners and size > limit
            self.fuser.correct(p, b if fix else None)
            was = (p in self.suspect, p in self.corrected)
            _mark(self.suspect, p, bad)
            _mark(self.corrected, p, fix)
            if (bad, fix) != was:
                ecef = (float(b[0]), float(b[1]), float(b[2]))
                self.emit(Trust(node=self.name, t=now, partner=p, suspect=bad, offset_m=size,
                                offset_ecef=ecef, shared=n, corrected=fix))  # fmt: skip

    def _corroborate(self, now: float, pic: SystemPicture) -> np.ndarray:
        """(G,) bool: system tracks held back from warnings — inside the declared coverage
        of another contributing partner (releasing, not silent, its radars serving) that
        does not hold them (``fusion.trust``); newly suspect and cleared ones are events."""
        if not self.check_partners or self.coverage is None or not len(pic):
            return np.zeros(len(pic), bool)
        names = self.fuser.sources
        held = self.fuser.holders(now, pic.x, self.hold_gate_m, self.hold_vel_gate_mps)
        live = [
            now - self._batch_t.get(n, -np.inf) <= self.fuser.max_age_s and n not in self._silent
            for n in names
        ]
        rcs = class_rcs(pic.cls)  # a radar witnesses only what it could detect there
        covers = self.coverage.covers(pic.x, names, self._reach(), rcs) & np.array(live, bool)
        for s, n in enumerate(names):  # … and a partner only for classes it releases
            said = self.status.get(n)
            if said is not None and said.releases:
                covers[:, s] &= np.isin(pic.cls, said.releases)
        v = self.corroboration.step(now, pic.stn, held, covers, names)
        row = {s: i for i, s in enumerate(pic.stn.tolist())}
        lat, lon, alt = (a.tolist() for a in geo.ecef2geodetic(pic.x[:, :3]))
        for stn, wit, since in v.suspect:
            i = row[stn]
            why = (f"held only by {', '.join(pic.sources[i])} for {now - since:.0f} s "
                   f"inside the radar coverage of {', '.join(wit)}, "
                   "which hold nothing there")  # fmt: skip
            self.emit(SuspectTrack(
                node=self.name, t=now, system_track=stn, suspect=True, lat_deg=lat[i],
                lon_deg=lon[i], alt_m=alt[i], sources=pic.sources[i], witnesses=wit,
                since=since, reason=why,
            ))  # fmt: skip
        for stn, holders in v.cleared:
            i = row[stn]
            self.emit(SuspectTrack(
                node=self.name, t=now, system_track=stn, suspect=False, lat_deg=lat[i],
                lon_deg=lon[i], alt_m=alt[i], sources=holders,
                reason=f"now held by {', '.join(holders)}",
            ))  # fmt: skip
        self.counters["withheld_track_cycles"] += int(np.count_nonzero(v.withheld))
        return v.withheld

    def _reach(self) -> dict[str, np.ndarray]:
        """Partner → (R,) fraction of each radar's range it keeps, by its newest Status."""
        return {
            p: np.array([0.0 if r.state == "down" else r.reach for r in st.radars])
            for p, st in self.status.items()
        }

    def coverage_lost(self) -> tuple[tuple[str, RadarStatus], ...]:
        """(partner, radar) of every radar last reported degraded or down; a partner gone
        silent counts with all its radars down."""
        out = []
        for p, st in sorted(self.status.items()):
            for r in st.radars:
                if p in self._silent:
                    r = msgspec.structs.replace(r, state="down", reach=0.0)
                if r.state != "operational":
                    out.append((p, r))
        return tuple(out)

    def _assess(self, now: float) -> None:
        pic = self.fuser.picture(now)
        ids = [str(s) for s in pic.stn.tolist()]
        self.observe(self.name, now, ids, pic.x)
        withheld = self._corroborate(now, pic)
        if withheld.any():  # the picture shows them with quality 0
            pic = dataclasses.replace(pic, quality=np.where(withheld, 0.0, pic.quality))
        gone = self._gone(ids)
        a = self.assessor.step(
            now,
            ids,
            pic.x,
            pic.P,
            deleted=gone,
            blind=self._blind(gone, ids, pic.sources),
            prior=pic.cls,  # type: ignore[arg-type]  # fused classes are TrackClass names
            adsb=self.adsb,
            withheld=[i for i, w in zip(ids, withheld.tolist(), strict=True) if w],
        )
        for alert in a.alerts:
            self.endpoint.publish(f"alerts.{alert.recipient}", self._seal(alert, now))
            self.counters[f"alerts_{alert.state}"] += 1
            self.emit(AlertSent(node=self.name, **_fields(alert)))
        if self.planner is not None and ids:
            for owner, advice in self.planner.plan(now, a.threats, ids, pic.x, pic.P).items():
                self.endpoint.publish(f"advice.{owner}", self._seal(advice, now))
                self.counters["advice_items"] += len(advice.items)
        classes: list[str] = list(a.classes)
        self._send_picture(now, pic, classes)
        self._watch_silence(now)
        if now >= self._next_bias:
            self._next_bias = now + self.bias_s
            self._check_registration(now)
        lost = self.coverage_lost()
        self.show(
            Held(
                self.name, now, ids, pic.x, classes, pic.quality, a.ident,
                P=pic.P, coverage_lost=lost,
            )
        )

    def _send_picture(self, now: float, pic: SystemPicture, classes: list[str]) -> None:
        """Send every partner the picture as it may leave the coordinator (``picture_rows``)."""
        named = {s for s, ok in self._nameable.items() if ok}
        rows = picture_rows(pic.stn, pic.x, pic.P, classes, pic.quality, pic.sources, named)
        for p in self.partners:
            self.endpoint.publish(
                f"picture.{p}", self._seal(Picture(recipient=p, t=now, tracks=rows), now)
            )
        self.counters["pictures_sent"] += len(self.partners)

    def _seal(self, msg: Alert | Picture | Advice, now: float) -> bytes:
        """Seal ``msg`` with its recipient's own sequence counter (see the class docstring)."""
        return seal(self._sealer(msg.recipient), msg, now)

    def _sealer(self, recipient: str) -> Identity:
        sealer = self._sealers.get(recipient)
        if sealer is None:
            ident = self.identity
            sealer = Identity(ident.name, ident.signing_key, seq=ident.seq)
            self._sealers[recipient] = sealer
        return sealer

    def sequences(self) -> dict[str, int]:
        """The last sequence number sealed for each recipient so far."""
        return {r: s.seq for r, s in self._sealers.items()}

    def resume_sequences(self, seqs: dict[str, int], default: int) -> None:
        """Seal each recipient's next message above ``seqs[recipient]``, or above
        ``default`` for a recipient not in ``seqs`` (a standby taking over continues the
        previous active's sequences, so partners take its messages for neither replays
        nor duplicates)."""
        self.identity.seq = max(self.identity.seq, default)
        for r, sealer in self._sealers.items():
            sealer.seq = seqs.get(r, default)
        for r, seq in seqs.items():
            self._sealer(r).seq = seq

    def resend(self, alert: Alert, now: float) -> None:
        """Publish ``alert`` again, sealed at ``now`` (a standby sending what it computed
        while the active coordinator had stopped)."""
        self.endpoint.publish(f"alerts.{alert.recipient}", self._seal(alert, now))

    def _blind(
        self, gone: list[str], ids: list[str], sources: list[tuple[str, ...]]
    ) -> list[str]:
        """System tracks whose contributors all lost radar coverage: their alerts are held
        on the last prediction, not cancelled or updated from a coasting estimate. Which
        radar held a track a partner need not say, so a track gone this cycle counts when
        each contributor has some radar down or degraded (or went silent); a live one, only
        when each has every radar down (or went silent): it is coasting, whatever radar
        held it."""
        held, self._sources_of = self._sources_of, dict(zip(ids, sources, strict=True))
        lost = self.coverage_lost()
        if not lost:
            return []
        some = {p for p, _ in lost}
        every = {
            p for p in some
            if p in self._silent or all(r.state == "down" for r in self.status[p].radars)
        }  # fmt: skip
        out = [g for g in gone if held.get(g) and some.issuperset(held[g])]
        return out + [i for i, s in zip(ids, sources, strict=True) if s and every.issuperset(s)]

    def _gone(self, ids: list[str]) -> list[str]:
        gone = self._live.difference(ids)
        self._live = set(ids)
        return sorted(gone)


def _health(node: str, t: float, partner: str, r: RadarStatus) -> Health:
    return Health(
        node=node, t=t, partner=partner, radar=r.radar, state=r.state, reach=r.reach,
        lat_deg=r.lat_deg, lon_deg=r.lon_deg, range_km=r.range_km,
    )  # fmt: skip


def _mark(members: set[str], name: str, on: bool) -> None:
    """Add ``name`` to ``members`` if ``on``, else remove it."""
    if on:
        members.add(name)
    else:
        members.discard(name)


def _named(batch: TrackBatch, sender: str) -> TrackBatch:
    """Stamp an anonymous batch with the authenticated sender, for the coordinator's books."""
    return msgspec.structs.replace(batch, source=sender)


def site_table(sensors: list[Any]) -> dict[str, tuple[float, float, float]]:
    """Sensor id → (lat deg, lon deg, alt m), the data a policy may strip from tracks."""
    return {s.id: (s.site.lat_deg, s.site.lon_deg, s.site.alt_m) for s in sensors}


__all__ = ["CoordinatorNode", "Held", "PartnerNode", "Show", "site_table"]
