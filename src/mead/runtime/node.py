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

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from mead.errors import RejectedMessage
from mead.events import AlertReceived, AlertSent, Emit, PictureReceived, Rejected
from mead.federation.base import Endpoint
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity
from mead.federation.policy import Releaser, picture_rows
from mead.fusion.base import SystemPicture
from mead.fusion.siap import SystemTracker
from mead.messages import (
    Alert,
    Message,
    Picture,
    TrackBatch,
    arrays_to_tracks,
    picture_to_arrays,
)
from mead.sensors.adsb import AdsbReports
from mead.sensors.base import Scan
from mead.threat.assessor import Assessor
from mead.tracking.base import TrackReport
from mead.tracking.tracker import Tracker

Observe = Callable[[str, float, list[str], np.ndarray], None]
"""Hook that sees every track picture a node forms: (node, t_wire, ids, x (N, 6))."""


@dataclass(frozen=True)
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


Show = Callable[[Held], None]
"""Hook that sees what a node holds after each release (partner) or assessment (coordinator)."""


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
        tracker: Tracker,
        releaser: Releaser,
        assessor: Assessor,
        release_s: float,
        epoch_s: float = 0.0,
        sensor_sites: dict[str, tuple[float, float, float]] | None = None,
        adsb: AdsbReports | None = None,
        emit: Emit = _ignore,
        observe: Observe = _ignore,
        show: Show = _ignore,
    ) -> None:
        self.name = identity.name
        self.identity, self.endpoint = identity, endpoint
        self.tracker, self.releaser = tracker, releaser
        self.adsb = adsb  # ADS-B reports the partner's receivers get, wire time
        self.sensor_sites = sensor_sites or {}  # id → (lat, lon, alt); policy strips
        self.assessor = assessor  # own areas only
        self.release_s, self.epoch_s = release_s, epoch_s
        self.emit, self.observe, self.show = emit, observe, show
        self._scans = scans
        self._next_scan: Scan | None = next(scans, None)
        self._next_release = 0.0
        self.inbox = _Inbox(
            endpoint, (f"alerts.{self.name}", f"picture.{self.name}"), opener, self.name, emit
        )
        self.picture: Picture | None = None  # the coordinator's newest picture
        self.counters: Counter[str] = Counter()

    def step(self, now: float) -> None:
        """Advance to wire time ``now``: track, release, self-assess, take in alerts and
        the coordinator's picture."""
        t_local = now - self.epoch_s
        while self._next_scan is not None and self._next_scan.t_arrival <= t_local:
            self.tracker.step(self._next_scan)
            self.counters["scans"] += 1
            self._next_scan = next(self._scans, None)
        if now >= self._next_release:
            self._next_release = now + self.release_s
            self._release(now, self.tracker.report(t_local))
        for sender, msg in self.inbox.messages():
            match msg:
                case Alert() if msg.recipient == self.name:
                    self._record_alert(now, msg, via=sender)
                case Picture() if msg.recipient == self.name:
                    self._take_picture(now, msg, via=sender)
                case _:
                    self.inbox.reject("unexpected", sender)

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
        a = self.assessor.step(now, rep.ids, rep.x, rep.P, deleted=rep.deleted, adsb=self.adsb)
        cls: list[str] = list(a.classes)
        self.show(Held(self.name, now, rep.ids, rep.x, cls, rep.quality, a.ident, self.picture))
        for alert in a.alerts:
            self._record_alert(now, alert, via=self.name)
        sites = [self._sites(s) for s in rep.sensors]
        tracks = arrays_to_tracks(
            rep.ids, now, rep.x, rep.P, a.classes, rep.quality, list(rep.sensors), sites
        )
        for recipient, batch in self.releaser.release(tracks, now, dropped=rep.deleted).items():
            for part in chunks(batch, MAX_BATCH_TRACKS):
                self.endpoint.publish(f"tracks.{recipient}", seal(self.identity, part, now))
            self.counters["released_tracks"] += len(batch.tracks)

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
        emit: Emit = _ignore,
        observe: Observe = _ignore,
        show: Show = _ignore,
    ) -> None:
        self.name = identity.name
        self.identity, self.endpoint = identity, endpoint
        names = opener.registry if partners is None else partners
        self.partners = tuple(sorted(set(names) - {self.name}))  # picture recipients
        self.fuser = fuser
        self.assessor = assessor  # every defended area
        self.adsb = adsb  # ADS-B reports forwarded by the partners, wire time
        self.assess_s = assess_s
        self.emit, self.observe, self.show = emit, observe, show
        self.inbox = _Inbox(endpoint, (f"tracks.{self.name}",), opener, self.name, emit)
        self._next_assess = 0.0
        self._live: set[str] = set()
        self._nameable: dict[str, bool] = {}  # source → its latest batch came named
        self._sealers: dict[str, Identity] = {}  # recipient → its sequence counter
        self.counters: Counter[str] = Counter()

    def step(self, now: float) -> None:
        """Take in released tracks; every ``assess_s`` fuse, assess and warn."""
        for sender, msg in self.inbox.messages():
            if isinstance(msg, TrackBatch) and msg.source in ("", sender):
                self._nameable[sender] = bool(msg.source)
                self.fuser.ingest(msg if msg.source else _named(msg, sender))
                self.counters["batches"] += 1
            else:
                self.inbox.reject("unexpected", sender)
        if now >= self._next_assess:
            self._next_assess = now + self.assess_s
            self._assess(now)

    def _assess(self, now: float) -> None:
        pic = self.fuser.picture(now)
        ids = [str(s) for s in pic.stn.tolist()]
        self.observe(self.name, now, ids, pic.x)
        a = self.assessor.step(
            now,
            ids,
            pic.x,
            pic.P,
            deleted=self._gone(ids),
            prior=pic.cls,  # type: ignore[arg-type]  # fused classes are TrackClass names
            adsb=self.adsb,
        )
        for alert in a.alerts:
            self.endpoint.publish(f"alerts.{alert.recipient}", self._seal(alert, now))
            self.counters[f"alerts_{alert.state}"] += 1
            self.emit(AlertSent(node=self.name, **_fields(alert)))
        classes: list[str] = list(a.classes)
        self._send_picture(now, pic, classes)
        self.show(Held(self.name, now, ids, pic.x, classes, pic.quality, a.ident))

    def _send_picture(self, now: float, pic: SystemPicture, classes: list[str]) -> None:
        """Send every partner the picture as it may leave the coordinator (``picture_rows``)."""
        named = {s for s, ok in self._nameable.items() if ok}
        rows = picture_rows(pic.stn, pic.x, pic.P, classes, pic.quality, pic.sources, named)
        for p in self.partners:
            self.endpoint.publish(
                f"picture.{p}", self._seal(Picture(recipient=p, t=now, tracks=rows), now)
            )
        self.counters["pictures_sent"] += len(self.partners)

    def _seal(self, msg: Alert | Picture, now: float) -> bytes:
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

    def _gone(self, ids: list[str]) -> list[str]:
        gone = self._live.difference(ids)
        self._live = set(ids)
        return sorted(gone)


def _named(batch: TrackBatch, sender: str) -> TrackBatch:
    """Stamp an anonymous batch with the authenticated sender, for the coordinator's books."""
    return msgspec.structs.replace(batch, source=sender)


def site_table(sensors: list[Any]) -> dict[str, tuple[float, float, float]]:
    """Sensor id → (lat deg, lon deg, alt m), the data a policy may strip from tracks."""
    return {s.id: (s.site.lat_deg, s.site.lon_deg, s.site.alt_m) for s in sensors}


__all__ = ["CoordinatorNode", "Held", "PartnerNode", "Show", "site_table"]
