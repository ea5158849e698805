"""Coordinator failover: which coordinator instance speaks for the coalition, and how a
standby takes over with the alerts continuing (live mode, ``mead coordinator``).

Two or more instances of the coordinator — the same pseudonym and key, each with its own
durable consumers on the hub's inbox streams — run the same
:class:`~mead.runtime.node.CoordinatorNode` on the same tick grid. One of them is *active*:
it holds the **lease**, a key in the hub's NATS KV bucket ``MEAD_LEASE`` that it renews
every ``renew_s`` with a compare-and-set on the key's revision. The others are *standbys*:
they consume the same released tracks, fuse, assess and compute the same alerts, but their
:class:`ShadowEndpoint` publishes nothing — alerts are held, pictures dropped. A standby
takes the lease once its revision has stood still for ``lease_ttl_s`` (or the bucket's TTL
removed it): a compare-and-set on the revision it saw, so of several standbys exactly one
wins. After looks that failed (the hub unreachable, or the bucket's JetStream leader being
elected) a standby waits ``lease_ttl_s`` more once it can look again, so that an active
that could not renew meanwhile takes its own lease back first. An active that cannot renew
stops publishing ``lease_ttl_s`` − ``renew_s``/2 after its last renewal began, before any
standby can have taken over.

On taking over, :class:`FailoverCoordinator` reads what the previous active sent from the
hub's ``ALERTS_OUT`` stream and :func:`reconcile` picks, among the alerts held in standby,
those it never sent; they are resealed and sent at once. A threat the shadow numbered
otherwise (it fell behind, or started late, and grouped batches differently) goes on
under the previous active's alert id (:func:`alias_diverged`, ``AlertManager.adopt``), so
it is not alerted twice. Each recipient's sequence numbers continue just above the
previous active's (:func:`continued_sequences`), so the previous active's last messages,
still in the streams, are not taken for replays. Alert ids, system
track numbers and alert states continue, because the shadow node saw the same batches at
the same ticks (verified by ``tests/federation/test_failover.py``). While no instance is
active, partners keep warning themselves from their own tracks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nacl.exceptions
import nacl.signing
from nats.aio.client import Client
from nats.js import api
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from mead import geo
from mead.errors import NatsError
from mead.events import AlertSent, CoordinatorStatus, Emit, Event, Leadership
from mead.federation.envelope import signed_bytes
from mead.federation.nats import ConnSpec, NatsBus
from mead.messages import Alert, Envelope, decode
from mead.runtime.node import CoordinatorNode, PartnerNode
from mead.scenario.schema import Scenario
from mead.threat.alerts import AlertManager

LEASE_BUCKET = "MEAD_LEASE"
"""The hub's KV bucket (``HUB`` account) holding one lease per coordinator pseudonym."""
ALERTS_STREAM = "ALERTS_OUT"
"""The hub stream that stores every alert the coordinator published (``alerts.>``)."""
KV_TIMEOUT_S = 2.0
"""A lease read or write not answered within this long counts as failed (tried again)."""


class Lease:
    """The coordinator's leadership: one key of :data:`LEASE_BUCKET`, held by one instance.

    Parameters
    ----------
    bus
        The instance's bus; the lease runs on its event loop and connection to ``conn``.
    conn
        The hub account holding the bucket (the coordinator's ``HUB``).
    key
        The coordinator's pseudonym (one lease per coordinator).
    instance
        This instance's name, written as the holder.
    ttl_s
        Lease time to live, wall s: a revision that stood still this long is taken over;
        also the bucket's TTL (set by whichever instance creates the bucket).
    renew_s
        Wall s between renewals (and between a standby's looks at the lease).
    standby
        Take a vacant lease only after ``ttl_s`` (a primary started at the same time wins).
    replicas
        Copies of the bucket, if this instance creates it: the hub cluster's servers.
    """

    def __init__(
        self,
        bus: NatsBus,
        conn: ConnSpec,
        *,
        key: str,
        instance: str,
        ttl_s: float,
        renew_s: float,
        standby: bool,
        replicas: int = 1,
    ) -> None:
        self.bus, self.conn = bus, conn
        self.key, self.instance = key, instance
        self.ttl_s, self.renew_s = ttl_s, renew_s
        self.replicas, self.standby = replicas, standby
        self.holder = ""  # the holder last seen ("" unknown or vacant)
        self.last_holder = ""  # the last holder seen, kept while the lease is vacant
        self.previous = ""  # at this instance's latest acquisition: the holder seen before
        self.errors: Counter[str] = Counter()  # failed lease operations by kind
        self._kv: KeyValue | None = None
        self._rev: int | None = None  # revision we last wrote while we hold it
        self._valid_until = 0.0  # monotonic s until which we may act as the active
        self._seen: tuple[int, float] | None = None  # (revision, monotonic s first seen)
        self._patient_until = time.monotonic() + (ttl_s if standby else 0.0)
        self._unanswered = False  # the last look at the lease failed (hub down, election)
        self._task: concurrent.futures.Future[None] | None = None
        self._stopped = False  # stop() was called: never act again

    @property
    def leader(self) -> bool:
        """True while this instance holds a lease it renewed recently enough to act on (and
        has not been stopped: a renewal in flight on the bus's loop may still land after)."""
        return not self._stopped and time.monotonic() < self._valid_until

    def start(self) -> Lease:
        """Open (or create) the bucket, try once now, then keep renewing or watching.

        Raises ``NatsError`` naming the server and account if the bucket cannot be opened.
        """
        self._stopped = False
        try:
            self.bus.loop.run(self._open())
        except Exception as e:
            raise NatsError(
                f"lease bucket {LEASE_BUCKET} at {self.conn.url} ({self.conn.user}): {e!r}"
            ) from None
        self.bus.loop.run(self._attempt())
        self._task = asyncio.run_coroutine_threadsafe(self._keep(), self.bus.loop.loop)
        return self

    def stop(self) -> None:
        """Stop renewing; a lease still held is released so a standby takes over at once."""
        held = self.leader
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        if self._rev is not None and held and self._kv is not None:
            kv, rev = self._kv, self._rev
            self._rev, self._valid_until = None, 0.0
            with contextlib.suppress(Exception):
                self.bus.loop.run(asyncio.wait_for(kv.delete(self.key, last=rev), KV_TIMEOUT_S))

    async def _open(self) -> None:
        js = (await self.bus.connection(self.conn, "lease")).jetstream()
        try:
            self._kv = await js.key_value(LEASE_BUCKET)
        except BucketNotFoundError:
            try:
                self._kv = await js.create_key_value(
                    bucket=LEASE_BUCKET,
                    history=1,
                    ttl=self.ttl_s,
                    replicas=self.replicas,
                    description="MEAD leases",
                )
            except BadRequestError:  # another instance created it first
                self._kv = await js.key_value(LEASE_BUCKET)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            await self._attempt()

    async def _attempt(self) -> None:
        t0 = time.monotonic()
        try:
            if self._rev is not None:
                await self._renew(t0)
            else:
                await self._campaign(t0)
        except asyncio.CancelledError:
            raise
        except KeyWrongLastSequenceError:  # someone else wrote the key first
            self._rev, self._valid_until = None, 0.0
            self.errors["lost"] += 1
        except Exception as e:  # hub slow or down: the lease lapses unless renewed in time
            self.errors[type(e).__name__] += 1
            self._unanswered = self.standby and self._rev is None  # a standby could not look

    def _value(self) -> bytes:
        return json.dumps({"holder": self.instance}).encode()

    async def _write(self, t0: float, last: int | None) -> None:
        """Write the lease as ours if its revision is still ``last`` (None: if vacant)."""
        assert self._kv is not None
        kv, value = self._kv, self._value()
        op = kv.create(self.key, value) if last is None else kv.update(self.key, value, last)
        rev = await asyncio.wait_for(op, KV_TIMEOUT_S)
        if self._rev is None:  # acquired, not renewed
            self.previous = self.last_holder
        self._rev, self.holder, self.last_holder = rev, self.instance, self.instance
        self._valid_until = t0 + self.ttl_s - self.renew_s / 2

    def _answered(self, t0: float) -> None:
        """A look at the lease succeeded. After looks that failed, a standby waits
        ``ttl_s`` more before taking a lease that stands still or is vacant: the active,
        which could not renew while the bucket was unreachable (the hub down, or its
        JetStream leader being elected), takes its own lease back at its next look instead
        of racing. A primary does not wait: started with its standby while the bucket is
        still being created (a hub cluster electing its leader for seconds), it takes the
        vacant lease at its first answered look, as it would have without the wait."""
        if self._unanswered:
            self._unanswered = False
            self._patient_until = max(self._patient_until, t0 + self.ttl_s)

    async def _renew(self, t0: float) -> None:
        assert self._rev is not None
        await self._write(t0, self._rev)

    async def _campaign(self, t0: float) -> None:
        assert self._kv is not None
        try:
            entry = await asyncio.wait_for(self._kv.get(self.key), KV_TIMEOUT_S)
        except KeyNotFoundError:  # vacant: never taken, released, or expired (bucket TTL)
            self._answered(t0)
            self.holder = ""
            if t0 >= self._patient_until:
                await self._write(t0, None)
            return
        assert entry.revision is not None
        self._answered(t0)
        self.holder = self.last_holder = _holder(entry.value)
        if self._seen is None or self._seen[0] != entry.revision:
            self._seen = (entry.revision, t0)
        stale = t0 - self._seen[1] >= self.ttl_s and t0 >= self._patient_until
        if stale or self.holder == self.instance:  # ours: this instance was restarted
            await self._write(t0, entry.revision)


class LeaderPlacement:
    """On a hub cluster, keep the JetStream leaders the coordinator depends on on one hub
    server that no coordinator instance works through (``target``: a third site, the
    cluster's witness), so that losing either instance's site costs the other no election.

    A stream or consumer whose leader is lost elects a new one only after JetStream's
    election timeout (4–9 s on nats-server 2.15), and until then stores or delivers
    nothing; the lease cannot be renewed meanwhile, and an active that cannot renew for
    ``lease_ttl_s`` (5 s) stands down. With every leader on the witness — the lease bucket,
    ``ALERTS_OUT``, the inboxes, the alert stores and each instance's own durable consumers
    — losing the active's site leaves the standby only the lease's TTL to wait, and losing
    the standby's site does not touch the active. Losing the witness costs one election,
    after which the lease may change hands (whichever instance looks first). Every
    ``every_s`` wall s each instance asks every such leader elsewhere to step down in
    favour of ``target`` (JetStream's ``LEADER.STEPDOWN`` with a preferred server), once
    ``target`` is a current follower. Failures are counted (``leaders_<error>``), never raised.

    Parameters
    ----------
    bus
        The instance's bus (its loop and connections).
    target
        The hub server's name (``server_name``, e.g. ``C0-3``) to hold the leaders.
    streams
        (account, stream) of every hub stream to place.
    consumers
        (account, stream, consumer) of the instance's own durable consumers.
    """

    def __init__(
        self,
        bus: NatsBus,
        target: str,
        streams: Sequence[tuple[ConnSpec, str]],
        consumers: Sequence[tuple[ConnSpec, str, str]],
        every_s: float = 5.0,
    ) -> None:
        self.bus, self.target = bus, target
        self.streams, self.consumers = list(streams), list(consumers)
        self.every_s = every_s
        self.counts: Counter[str] = Counter()  # leaders_moved, leaders_<error>
        self._task: concurrent.futures.Future[None] | None = None

    def start(self) -> LeaderPlacement:
        self._task = asyncio.run_coroutine_threadsafe(self._keep(), self.bus.loop.loop)
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.place()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the hub is down or slow: try again next round
                self.counts[f"leaders_{type(e).__name__}"] += 1

    async def place(self) -> int:
        """One round: ask the leaders held elsewhere to step down in favour of ``target``;
        returns how many were asked."""
        moved = 0
        body = json.dumps({"placement": {"preferred": self.target}}).encode()
        todo = [(c, s, None) for c, s in self.streams] + list(self.consumers)
        for spec, stream, consumer in todo:
            nc = await self.bus.connection(spec, "leaders")
            js = nc.jetstream()
            if consumer is None:
                cluster = (await js.stream_info(stream)).cluster
                api_subject = f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"
            else:
                cluster = (await js.consumer_info(stream, consumer)).cluster
                api_subject = f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{consumer}"
            if cluster is None or cluster.leader in (None, self.target):
                continue
            if not any(r.name == self.target and r.current for r in cluster.replicas or []):
                continue  # the target is not a current follower: it cannot lead yet
            await nc.request(api_subject, body, timeout=KV_TIMEOUT_S)
            moved += 1
        self.counts["leaders_moved"] += moved
        return moved


def _holder(value: bytes | None) -> str:
    try:
        return str(json.loads(value or b"{}").get("holder", ""))
    except (ValueError, AttributeError):
        return ""


class ShadowEndpoint:
    """The coordinator's endpoint behind the lease.

    While ``active`` it publishes, and keeps each sealed alert in ``sent`` (a publish may
    be lost with the hub; :class:`FailoverCoordinator` checks them against the stream). In
    standby it holds each sealed alert, for the takeover, and drops the rest (pictures are
    replaced every cycle). Each list keeps at most ``limit`` alerts (the oldest are
    dropped and counted).
    """

    def __init__(self, endpoint: Any, limit: int = 100_000) -> None:
        self.endpoint = endpoint  # the real endpoint (a NatsEndpoint)
        self.active = False
        self.limit = limit
        self.held: deque[bytes] = deque()  # sealed alerts computed in standby, in order
        self.sent: deque[tuple[float, bytes]] = deque()  # (wall s, alert) published as active
        self.counters: Counter[str] = Counter()  # held, held_dropped, withheld

    def publish(self, subject: str, data: bytes) -> None:
        """Publish while active; hold alerts and drop everything else in standby."""
        if self.active:
            self.endpoint.publish(subject, data)
            if subject.startswith("alerts."):
                self._keep(self.sent, (time.time(), data), "sent_dropped")
        elif subject.startswith("alerts."):
            self._keep(self.held, data, "held_dropped")
            self.counters["held"] += 1
        else:
            self.counters["withheld"] += 1

    def _keep(self, q: deque[Any], data: Any, overflow: str) -> None:
        if len(q) >= self.limit:
            q.popleft()
            self.counters[overflow] += 1
        q.append(data)

    def subscribe(self, pattern: str, limit: int = 100_000) -> Any:
        """Subscribe on the real endpoint (standbys consume as the active does)."""
        return self.endpoint.subscribe(pattern, limit)

    def quiet(self, emit: Emit) -> Emit:
        """``emit`` without the ``AlertSent`` events of alerts held in standby."""

        def out(ev: Event) -> None:
            if self.active or not isinstance(ev, AlertSent):
                emit(ev)

        return out


def open_own(
    data: bytes, key: nacl.signing.VerifyKey, sender: str
) -> tuple[Envelope, Alert] | None:
    """The envelope and alert ``sender`` sealed with ``key``; None if it is anything else
    (another message kind, another sender, a bad signature or a malformed envelope)."""
    try:
        env = msgspec.msgpack.decode(data, type=Envelope)
        if env.sender != sender:
            return None
        key.verify(signed_bytes(env.sender, env.seq, env.t, env.schema, env.payload), env.sig)
        msg = decode(env.payload)
    except (msgspec.DecodeError, msgspec.ValidationError, nacl.exceptions.BadSignatureError):
        return None
    return (env, msg) if isinstance(msg, Alert) else None


@dataclass(frozen=True)
class Lineage:
    """How a standby's alert lifecycles go on when the previous active numbered the same
    threats otherwise (:func:`alias_diverged`)."""

    adopted: dict[str, Alert] = field(default_factory=dict)
    """Standby's id → the previous active's last stored state of the same threat: the
    lifecycle goes on as that alert."""
    fresh: dict[str, str] = field(default_factory=dict)
    """Standby's id → a new id: the previous active used the id for another threat."""

    def __len__(self) -> int:
        return len(self.adopted) + len(self.fresh)


FRESH_SUFFIX = "-s"
"""Appended to a standby's alert id that the previous active used for another threat."""


def reconcile(
    held: Sequence[Alert], sent: Iterable[Alert], lineage: Lineage | None = None
) -> tuple[list[Alert], int]:
    """Which alerts computed in standby a new active sends: (to send, in order; suppressed).

    ``sent`` are the alerts stored as published (``ALERTS_OUT``). A held alert is
    suppressed if the same state — alert id, state and time — was stored, or if the
    alert's ``issued`` or ``cancelled`` state was (an alert is issued and cancelled once,
    even if the shadow computed it a tick apart); everything else — the states computed
    after the previous active stopped, and those it computed but never got stored — is
    sent, also a state older than one stored for the same alert (late, but not lost).

    With ``lineage`` (:func:`alias_diverged`), a held alert of a threat the previous
    active alerted under another id is suppressed up to that alert's last stored state
    (and its ``issued`` always), and sent under the previous active's id after it (its
    partners hold that alert, not this one); a held alert under an id the previous active
    used for another threat is sent under its fresh id.
    """
    lineage = lineage or Lineage()
    stored = {(a.alert_id, a.state, a.t) for a in sent}
    once = {(a.alert_id, a.state) for a in sent if a.state != "updated"}
    out = []
    for a in held:
        if (its := lineage.adopted.get(a.alert_id)) is not None:
            if a.state == "issued" or a.t <= its.t:
                continue
            a = msgspec.structs.replace(a, alert_id=its.alert_id, salvo=its.salvo)
        elif (new := lineage.fresh.get(a.alert_id)) is not None:
            a = msgspec.structs.replace(a, alert_id=new)
        if (a.alert_id, a.state, a.t) not in stored and (a.alert_id, a.state) not in once:
            out.append(a)
    return out, len(held) - len(out)


def alias_diverged(held: Sequence[Alert], sent: Iterable[Alert], alerts: AlertManager) -> Lineage:
    """Match the standby's alert lifecycles with the previous active's by threat, not id.

    A shadow that fell behind (its ticks late: a busy machine, or started mid-raid) takes
    in the inboxes' batches in other groupings than the active did, and its picture can
    number system tracks differently — so its alert ids (``<issuer>-<track>-<area>``) can
    name another threat than the active's did, or the same threat another way. Two
    lifecycles are of one threat when they go to the same recipient and area with the same
    class, and a state of each agrees with one of the other as ``alerts`` (the standby's
    :class:`~mead.threat.alerts.AlertManager`) confirms an issue (``AlertManager.gap``);
    the closer, in units of its tolerances, the better the match (a standby started late
    may have computed its first states only after the active's last). A cruise missile's or
    drone's arrival time is the weak part of its prediction (a young track's speed is off
    by tens of per cent, minutes over an hour's flight), so two of its states whose
    predictions disagree still describe one threat when the object was where the other
    predicted it (:func:`track_gap`).

    Each open alert of the previous active (last stored state not ``cancelled``) is
    matched with one lifecycle of the standby, best match first (on a tie, the one under
    the same id): matched under another id, the standby's is *adopted* (goes on as the
    previous active's alert). A lifecycle of the standby left unmatched under an id the
    previous active used gets a *fresh* id (its own with :data:`FRESH_SUFFIX`) when that id
    now goes on through another of the standby's lifecycles or named another threat; one
    of the same threat (an alert both closed) goes on as it is.
    """

    def gap(a: Alert, b: Alert) -> float:
        if (a.recipient, a.area, a.threat_class) != (b.recipient, b.area, b.threat_class):
            return math.inf
        d = alerts.gap(a, b, a.t_impact - a.t)
        if d == math.inf and a.threat_class in ("cruise", "drone"):
            return track_gap(a, b, alerts.move_m)
        return d

    def of_one_threat(xs: list[Alert], ys: list[Alert]) -> float:
        return min((gap(x, y) for x in xs for y in ys), default=math.inf)

    theirs: dict[str, list[Alert]] = {}
    for a in sent:
        theirs.setdefault(a.alert_id, []).append(a)
    mine: dict[str, list[Alert]] = {}
    for a in held:
        mine.setdefault(a.alert_id, []).append(a)
    last = {i: max(states, key=lambda a: a.t) for i, states in theirs.items()}
    open_ = [i for i, a in last.items() if a.state != "cancelled"]
    cands = sorted(  # best first; on a tie, the lifecycle under the same id
        (d, i != j, j, i)
        for i in open_
        for j in mine
        if (d := of_one_threat(theirs[i], mine[j])) < math.inf
    )
    out = Lineage()
    matched: dict[str, str] = {}  # standby's id → the previous active's it continues
    for _, _, j, i in cands:
        if j not in matched and i not in matched.values():
            matched[j] = i
    for j, i in matched.items():
        if i != j:
            out.adopted[j] = last[i]
    for j in mine:
        if j in theirs and j not in matched:  # its id is the previous active's too: the
            # same threat (an alert both closed) unless another of the standby's goes on as
            # it, or it is not of that threat at all
            if j in matched.values() or of_one_threat(theirs[j], mine[j]) == math.inf:
                out.fresh[j] = j + FRESH_SUFFIX
    return out


def track_gap(a: Alert, b: Alert, tol_m: float) -> float:
    """How far apart the objects of two alert states of a cruise missile or drone were, in
    units of the tolerance, or inf beyond it (or when either state has no track position).

    ``a``'s track position is carried to ``b``'s time along ``a``'s predicted path — towards
    its arrival point, at the speed that reaches it at ``a.t_impact`` — and compared with
    ``b``'s. The tolerance is ``tol_m``, or a fifth of the distance carried if larger (the
    speed of a young track is off by up to that much).
    """
    if not (a.track_lat_deg or a.track_lon_deg) or not (b.track_lat_deg or b.track_lon_deg):
        return math.inf
    left = a.t_impact - a.t
    f = min(max((b.t - a.t) / left, -1.0), 1.0) if left > 0 else 0.0
    lat = a.track_lat_deg + f * (a.impact_lat_deg - a.track_lat_deg)
    lon = a.track_lon_deg + f * (a.impact_lon_deg - a.track_lon_deg)
    carried = float(geo.great_circle_distance_m(a.track_lat_deg, a.track_lon_deg, lat, lon))
    tol = max(tol_m, 0.2 * carried)
    d = float(geo.great_circle_distance_m(lat, lon, b.track_lat_deg, b.track_lon_deg))
    return d / tol if d <= tol else math.inf


SETTLE_S = 2.0
"""Wall s after which an alert published as active should be in ``ALERTS_OUT`` (its ack
comes within milliseconds); younger ones are left for the next check."""

SEQ_MARGIN = 64
"""Sequence numbers a new active skips beyond the previous active's continued count, in case
that one sealed a few messages more than the shadow did (the receivers' anti-replay window,
1024, still accepts the previous active's last messages arriving after the new one's)."""


def continued_sequences(
    sent: Sequence[tuple[Envelope, Alert]],
    held: Sequence[tuple[Envelope, Alert]],
    shadow: Mapping[str, int],
    margin: int = SEQ_MARGIN,
) -> dict[str, int]:
    """Per recipient, the sequence number a new active continues from.

    The shadow sealed the same messages to each recipient as the previous active (one
    picture per cycle, the same alerts), each instance counting from its own start; an
    alert both sealed — the same (alert id, state, time) in ``sent`` and ``held`` — gives
    the offset between the two counts. The result is the shadow's count (``shadow``) plus
    that offset plus ``margin``: just above anything the previous active used, so its last
    messages, still in the streams when the new active starts, are not taken for replays
    (a jump to the wall clock would put them below the receivers' window). Recipients
    without such an alert are left out (the caller continues above the wall clock).
    """
    held_seq = {(a.alert_id, a.state, a.t): env.seq for env, a in held}
    out: dict[str, int] = {}
    for env, a in sent:  # in stream order: the newest anchor per recipient wins
        seq = held_seq.get((a.alert_id, a.state, a.t))
        if seq is not None and a.recipient in shadow:
            out[a.recipient] = shadow[a.recipient] + (env.seq - seq) + margin
    return out


async def stored_alerts(nc: Client, since_wall: float, stream: str = ALERTS_STREAM) -> list[bytes]:
    """Every message ``stream`` stored since ``since_wall`` (UTC s), in order.

    Reads, through an ephemeral pull consumer (removed by the server when idle), the
    messages pending when the consumer is made.
    """
    js = nc.jetstream()
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    cfg = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.BY_START_TIME,
        opt_start_time=datetime.datetime.fromtimestamp(since_wall, datetime.UTC),
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=10.0,
    )
    sub = await js.pull_subscribe("alerts.>", stream=stream, config=cfg)
    out: list[bytes] = []
    try:
        n = (await sub.consumer_info()).num_pending or 0
        while len(out) < n:
            msgs = await sub.fetch(min(512, n - len(out)), timeout=2.0)
            out += [m.data for m in msgs]
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


class FailoverCoordinator:
    """A coordinator node behind the lease: steps it, and switches it between standby and
    active when the lease says so.

    Parameters
    ----------
    node
        The coordinator, built on ``gate`` (and with ``gate.quiet(emit)`` as its sink).
    gate
        The node's endpoint.
    lease
        Started; decides whether this instance is the active one.
    read_sent
        Returns the envelopes the coordinator published since this instance started
        (and ``lookback_s`` before, see :func:`failover_coordinator`)
        (from ``ALERTS_OUT``); raises if the hub cannot be read.
    emit
        The instance's event sink (``Leadership`` and resent ``AlertSent`` events).
    placement
        On a hub cluster with a witness server, the instance's :class:`LeaderPlacement`
        (started; stopped with the instance).
    """

    def __init__(
        self,
        node: CoordinatorNode,
        gate: ShadowEndpoint,
        lease: Lease,
        read_sent: Callable[[], list[bytes]],
        emit: Emit,
        placement: LeaderPlacement | None = None,
    ) -> None:
        self.node, self.gate, self.lease = node, gate, lease
        self.placement = placement
        self.read_sent, self.emit = read_sent, emit
        self.inbox = node.inbox
        self._counts: Counter[str] = Counter()  # takeovers, stand_downs, resent, suppressed
        self._errors = 0  # publish errors of the endpoint seen so far
        self._audit_due = False  # check the alerts published as active against the stream

    @property
    def counters(self) -> Counter[str]:
        """The node's counters, the gate's and the failover's own."""
        lease = Counter({f"lease_{k}": v for k, v in self.lease.errors.items()})
        placed = self.placement.counts if self.placement is not None else Counter()
        return self.node.counters + self.gate.counters + self._counts + lease + placed

    def step(self, now: float) -> None:
        """Follow the lease (take over or stand down), then step the node."""
        leader = self.lease.leader
        errors = getattr(self.gate.endpoint, "counters", {}).get("publish_errors", 0)
        if errors > self._errors:  # a publish went unacked: the hub may have lost alerts
            self._errors, self._audit_due = errors, True
        if leader and not self.gate.active:
            self._take_over(now)
        elif not leader and self.gate.active:
            self.gate.active = False
            self._counts["stand_downs"] += 1
            self._announce(now, "standby")
        elif self.gate.active and self._audit_due:
            self._audit(now)
        self.node.step(now)

    def _take_over(self, now: float) -> None:
        ident = self.node.identity
        try:
            sent_raw = self.read_sent()
        except Exception as e:  # the hub cannot be read now: try again next step
            self._counts[f"read_sent_{type(e).__name__}"] += 1
            return
        sent = [o for d in sent_raw if (o := open_own(d, ident.verify_key, ident.name))]
        held = [o for d in self.gate.held if (o := open_own(d, ident.verify_key, ident.name))]
        held_alerts, sent_alerts = [a for _, a in held], [a for _, a in sent]
        alerts = self.node.assessor.alerts
        lineage = alias_diverged(held_alerts, sent_alerts, alerts)
        todo, suppressed = reconcile(held_alerts, sent_alerts, lineage)
        alerts.relabel(lineage.adopted, lineage.fresh)  # go on as the alerts partners hold
        self.gate.held.clear()
        if self.lease.previous != self.lease.instance:
            seqs = continued_sequences(sent, held, self.node.sequences())
            self.node.resume_sequences(seqs, default=time.time_ns() // 1000)
            self._counts["continued_sequences"] += len(seqs)
        # else this instance takes back its own lease (lost while the hub could not be
        # reached): it sealed everything sent since, its counts are already above it all,
        # and a jump would make its own alerts still waiting in the streams replays
        self.gate.active = True
        for alert in todo:
            self.node.resend(alert, now)
            self.emit(AlertSent(node=ident.name, **msgspec.structs.asdict(alert)))
        self._counts["takeovers"] += 1
        self._counts["resent"] += len(todo)
        self._counts["suppressed"] += suppressed
        self._counts["adopted"] += len(lineage.adopted)
        self._counts["renamed"] += len(lineage.fresh)
        self._announce(now, "active", len(todo), suppressed)
        self._republish(now, [a for _, a in sent])  # this instance's own, when active before

    def _audit(self, now: float) -> None:
        """Check the alerts this instance published against the stream; resend the lost."""
        ident = self.node.identity
        try:
            stored = [
                o[1] for d in self.read_sent() if (o := open_own(d, ident.verify_key, ident.name))
            ]
        except Exception as e:  # the hub cannot be read yet: try again next step
            self._counts[f"read_sent_{type(e).__name__}"] += 1
            return
        self._audit_due = False
        self._republish(now, stored)

    def _republish(self, now: float, stored: list[Alert]) -> None:
        """Publish again the alerts of ``gate.sent`` that ``stored`` lacks (those published
        more than ``SETTLE_S`` ago: younger ones may still be on their way)."""
        ident, keep = self.node.identity, time.time() - SETTLE_S
        have = {(a.alert_id, a.state, a.t) for a in stored}
        old = [d for t, d in self.gate.sent if t < keep]
        young = [(t, d) for t, d in self.gate.sent if t >= keep]
        self.gate.sent = deque(young)
        lost: dict[tuple[str, str, float], Alert] = {}
        for d in old:
            if (o := open_own(d, ident.verify_key, ident.name)) is not None:
                k = (o[1].alert_id, o[1].state, o[1].t)
                if k not in have:
                    lost.setdefault(k, o[1])
        for alert in lost.values():
            self.node.resend(alert, now)  # kept in gate.sent again, until it is stored
        self._counts["republished"] += len(lost)

    def _announce(self, now: float, role: str, resent: int = 0, suppressed: int = 0) -> None:
        self.emit(
            Leadership(
                node=self.node.name,
                instance=self.lease.instance,
                role=role,
                t=now,
                t_wall=time.time(),
                resent=resent,
                suppressed=suppressed,
            )
        )

    def close(self) -> None:
        """Stop the lease (releasing it if held) and the leader placement."""
        if self.placement is not None:
            self.placement.stop()
        self.lease.stop()


SILENT_CYCLES = 3
"""A partner calls the coordinator silent after this many assessment cycles without a picture."""


def silent_after_s(sc: Scenario) -> float:
    """Wire s without a coordinator picture after which a partner of ``sc`` calls it silent."""
    return SILENT_CYCLES * sc.coordinator.assess_s + sc.tick_s


class CoordinatorWatch:
    """A partner's view of the coordinator: *silent* once no picture has come for
    ``grace_s`` wire s (the coordinator sends one every assessment cycle), *running*
    again when a newer one comes. Each change is an event (``CoordinatorStatus``) and a
    silence is counted in the partner's ``coordinator_silent``; the partner warns itself
    from its own tracks all along. Call it after each step with the step's wire time.
    """

    def __init__(self, node: PartnerNode, coordinator: str, grace_s: float, emit: Emit) -> None:
        self.node, self.coordinator = node, coordinator
        self.grace_s, self.emit = grace_s, emit
        self.running = True
        self._start: float | None = None

    def __call__(self, now: float) -> None:
        """Check the newest picture at wire time ``now``; report a change."""
        if self._start is None:
            self._start = now
        last = self.node.picture.t if self.node.picture is not None else self._start
        running = now - last <= self.grace_s
        if running == self.running:
            return
        self.running = running
        self.node.counters["coordinator_silent"] += not running
        self.emit(
            CoordinatorStatus(
                node=self.node.name,
                t=now,
                coordinator=self.coordinator,
                running=running,
                last_picture=last,
            )
        )


def failover_coordinator(
    bus: NatsBus,
    conn: ConnSpec,
    endpoint: Any,
    build: Callable[[ShadowEndpoint, Emit], CoordinatorNode],
    emit: Emit,
    *,
    instance: str,
    standby: bool,
    ttl_s: float,
    renew_s: float,
    replicas: int = 1,
    inboxes: Sequence[tuple[ConnSpec, str]] = (),
    leaders_on: str = "",
    lookback_s: float = 0.0,
) -> FailoverCoordinator:
    """A coordinator instance on ``bus`` behind the lease of its pseudonym.

    ``build(endpoint, emit)`` makes the :class:`CoordinatorNode` (as
    :func:`~mead.runtime.wiring.build_coordinator` does); ``conn`` is the hub account
    (``HUB``) with the lease bucket and ``ALERTS_OUT``; ``replicas``: the bucket's copies
    on a hub cluster; ``leaders_on``: the hub server to hold the JetStream leaders
    (:class:`LeaderPlacement`; "": leave them where JetStream puts them), with
    ``inboxes``: (partner account, ``<P>_INBOX``) of every partner it reads.

    At a takeover the instance reads what the coordinator published since it started, and
    ``lookback_s`` wall seconds before: an instance started mid-raid computes its alerts
    from the inboxes' backlog, messages up to the nodes' maximum message age old, so the
    previous active's alerts from that long ago are the ones its own must be matched with
    (:func:`alias_diverged`; without them its alerts went out as they were, under ids the
    previous active had used for other threats).
    """
    since = time.time() - lookback_s
    gate = ShadowEndpoint(endpoint)
    node = build(gate, gate.quiet(emit))
    lease = Lease(
        bus,
        conn,
        key=node.name,
        instance=instance,
        ttl_s=ttl_s,
        renew_s=renew_s,
        standby=standby,
        replicas=replicas,
    )

    def read_sent() -> list[bytes]:
        async def _read() -> list[bytes]:
            return await stored_alerts(await bus.connection(conn, "failover"), since)

        return bus.loop.run(_read(), timeout=10.0)

    placement = None
    if leaders_on:
        streams = [(conn, f"KV_{LEASE_BUCKET}"), (conn, ALERTS_STREAM)]
        for acct, inbox in inboxes:
            streams += [(acct, inbox), (acct, inbox.removesuffix("_INBOX") + "_ALERTS")]
        consumers = [(acct, inbox, instance) for acct, inbox in inboxes]
        placement = LeaderPlacement(bus, leaders_on, streams, consumers).start()
    return FailoverCoordinator(node, gate, lease.start(), read_sent, emit, placement)


__all__ = [
    "ALERTS_STREAM",
    "LEASE_BUCKET",
    "CoordinatorWatch",
    "FailoverCoordinator",
    "LeaderPlacement",
    "Lease",
    "SEQ_MARGIN",
    "ShadowEndpoint",
    "continued_sequences",
    "failover_coordinator",
    "open_own",
    "reconcile",
    "silent_after_s",
    "stored_alerts",
]
