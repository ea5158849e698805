"""The NATS bus: the :mod:`mead.federation.base` contract over real nats-servers (live mode).

The nodes are synchronous (``step(now)`` publishes and drains, never waits), so the bus
runs its own asyncio event loop in a daemon thread and bridges both ways:

* ``publish`` appends (subject, data) to the endpoint's queue and returns at once; one
  sender task per endpoint, woken only when idle, writes everything queued in publish
  order in one go (per-message wake-ups and socket writes capped the bus at ~3.5k msg/s).
  Subjects matching ``stored`` (``tracks.>``, ``alerts.>``) go out as JetStream publishes
  with a reply under the endpoint's ack inbox, so a stream of the node's own server
  stores them and acks; failed and overdue acks are counted. Anything else is a core
  publish.
* ``subscribe`` fills a bounded deque from message callbacks. A pattern listed in
  ``durable`` reads instead from durable JetStream consumers (the partner's ``ALERTS_IN``
  stream, the hub's per-partner inboxes) with explicit acks sent when ``drain`` hands the
  messages out, and at most ``limit`` unacked in flight — so a node that was cut off or
  restarted resumes where it stopped, in order. Each message is stamped with its arrival
  (wall) time; live nodes set ``until`` so a step sees only what arrived before its tick
  began. Delivery is at-least-once: the envelope
  :class:`~mead.federation.envelope.Opener` rejects redelivered (sender, seq) as
  ``duplicate`` and counts them.

Stream layout and server configs: :mod:`mead.federation.natsconf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from mead.errors import NatsError
from mead.federation.base import check_subject, subject_matches
from mead.federation.natsconf import StreamSpec
from mead.federation.pki import TlsFiles

T = TypeVar("T")


class _QuietTlsEof(logging.Filter):
    """Drop asyncio's warning that nats-py's stream protocol returns True from
    ``eof_received`` on a TLS transport: harmless (the connection closes either way),
    and logged once per closed TLS connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_QuietTlsEof())
ACK_TIMEOUT_S = 5.0
"""A JetStream publish not acked within this long counts as failed."""


@dataclass(frozen=True)
class ConnSpec:
    """How to reach one account of one nats-server: URL, and user + password or a client
    certificate (``tls``: the server maps the certificate's subject to the user).

    ``url`` may list several servers of one cluster, comma-separated, the preferred one
    first: the connection tries them in that order and fails over between them."""

    url: str
    user: str = ""
    password: str = field(default="", repr=False)
    tls: TlsFiles | None = None


def client_tls(files: TlsFiles) -> ssl.SSLContext:
    """A TLS client context trusting ``files.ca_file`` and presenting the node's certificate."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=files.ca_file)
        ctx.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ssl.SSLError) as e:
        raise NatsError(
            f"TLS files of the connection ({files.cert_file}, {files.key_file}, "
            f"CA {files.ca_file}): {e}"
        ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@dataclass(frozen=True)
class Durable:
    """A durable JetStream consumer to read a subscription from."""

    conn: ConnSpec  # the account holding the stream
    stream: str  # stream name
    consumer: str  # durable consumer name (stable across restarts)


class EventLoopThread:
    """An asyncio loop in a daemon thread; sync code runs coroutines on it."""

    def __init__(self, name: str = "mead-nats") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        """Run ``coro`` on the loop and wait for its result (not from the loop thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop; returns at once."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        """Cancel what still runs, stop the loop and join the thread."""
        if self.loop.is_closed():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(_cancel_all(), timeout=5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.loop.close()


async def open_conn(
    spec: ConnSpec, name: str, errors: Counter[str] | None = None, first_s: float = 10.0
) -> Client:
    """Connect to ``spec`` (reconnecting forever once connected); errors only counted.

    The first connection must succeed within ``first_s`` s, else ``NatsError`` names the
    server, the identity and the last error (a refused certificate, a wrong password, no
    server): a node with credentials the server rejects stops with that message instead
    of retrying in silence.
    """
    errs = errors if errors is not None else Counter()
    last: list[BaseException] = []

    async def on_error(e: Exception) -> None:
        errs[type(e).__name__] += 1
        last[:] = [e]

    async def on_disconnect() -> None:
        errs["disconnected"] += 1

    tls = client_tls(spec.tls) if spec.tls is not None else None
    who = spec.user or (spec.tls.cert_file if spec.tls else "-")
    try:
        connecting = nats.connect(
            servers=spec.url.split(","),
            dont_randomize=True,  # the first listed is the node's own server
            user=spec.user or None,
            password=spec.password or None,
            tls=tls,
            name=name,
            connect_timeout=3,
            reconnect_time_wait=0.25,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
        )
        return await asyncio.wait_for(connecting, first_s)
    except TimeoutError:
        why = repr(last[0]) if last else "no answer"
        raise NatsError(
            f"cannot connect to {spec.url} as {who} within {first_s:g} s: {why} "
            "(refused certificate or credentials, or no server there)"
        ) from None
    except Exception as e:  # nats-py raises assorted errors on a failed first connect
        raise NatsError(f"cannot connect to {spec.url} as {who}: {e!r}") from e


class NatsSubscription:
    """A bounded queue filled by NATS callbacks (core or durable JetStream)."""

    def __init__(self, pattern: str, limit: int, loop: EventLoopThread) -> None:
        self.pattern = pattern  # NATS subject pattern
        self.limit = limit  # most undrained messages held
        self.dropped = 0  # core messages lost to a full queue
        self.delivered = 0  # messages returned by drain()
        self.redelivered = 0  # JetStream redeliveries seen (deduplicated by the Opener)
        self.until: float | None = None  # drain only what arrived by this wall time (UTC s)
        self._loop = loop
        self._q: deque[tuple[str, bytes, Msg | None, float]] = deque()

    @property
    def pending(self) -> int:
        """Messages received and not yet drained."""
        return len(self._q)

    async def on_core(self, msg: Msg) -> None:
        """Callback of a core subscription: queue the message (count it if full)."""
        if len(self._q) >= self.limit:
            self.dropped += 1
            return
        self._q.append((msg.subject, msg.data, None, time.time()))

    async def on_durable(self, msg: Msg) -> None:
        """Callback of a durable (JetStream) subscription: queue the message, to be acked
        when drained."""
        # max_ack_pending = limit bounds this queue; a message beyond it (a redelivery
        # while undrained) is left unacked, so the server delivers it again later.
        if len(self._q) >= self.limit:
            return
        if msg.metadata.num_delivered > 1:
            self.redelivered += 1
        self._q.append((msg.subject, msg.data, msg, time.time()))

    def drain(self) -> list[tuple[str, bytes]]:
        """Every (subject, data) received by now (or by ``until``), in arrival order.

        Never blocks. Durable messages are acked (asynchronously) as they are handed out.
        """
        out: list[tuple[str, bytes]] = []
        acks: list[Msg] = []
        q, until = self._q, self.until
        while q and (until is None or q[0][3] <= until):
            subject, data, msg, _ = q.popleft()
            out.append((subject, data))
            if msg is not None:
                acks.append(msg)
        if acks:
            self._loop.call(_spawn, _ack_all(acks))
        self.delivered += len(out)
        return out


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _ack_all(msgs: list[Msg]) -> None:
    for m in msgs:
        with contextlib.suppress(Exception):  # a lost ack only means a redelivery
            await m.ack()


class NatsEndpoint:
    """One node's connection to a :class:`NatsBus`.

    Publishing is batched: ``publish`` appends to a queue and wakes the sender task only
    when it is idle, and the sender writes everything queued in one go (one socket write
    per wake-up, not per message). JetStream publishes carry a reply subject under the
    endpoint's own ack inbox; one subscription collects the stream acks, and one timer
    sweep counts those not acked within ``ACK_TIMEOUT_S`` — no task, future or timer per
    message. At most ``max_inflight`` publishes wait for their ack; beyond that the sender
    waits (up to ``ACK_TIMEOUT_S``, then the message counts as a publish error).
    """

    def __init__(self, bus: NatsBus, name: str, nc: Client, max_inflight: int = 4096) -> None:
        self.name = name  # the node's pseudonym
        self.counters: Counter[str] = Counter()  # published, stored, acked, publish_errors
        self.max_inflight = max_inflight  # most JetStream publishes awaiting their ack
        self._bus, self._nc = bus, nc
        self._queue: deque[tuple[str, bytes] | None] = deque()  # filled by publish()
        self._kicked = False  # a wake-up of the sender is scheduled
        self._wake = asyncio.Event()
        self._room = asyncio.Event()  # set while fewer than max_inflight await an ack
        self._room.set()
        self._inflight: dict[bytes, float] = {}  # ack token → deadline (monotonic s)
        self._seq = 0
        self._stored: dict[str, bool] = {}  # subject → goes through JetStream
        self._ack_prefix = nc.new_inbox() + "."
        self._sender = bus.loop.loop.create_task(self._send_loop())
        self.subscriptions: list[NatsSubscription] = []

    def publish(self, subject: str, data: bytes) -> None:
        """Send ``data`` on ``subject``; returns at once (sent from the bus's loop)."""
        if subject not in self._bus._checked:
            check_subject(subject, wildcards=False)
            self._bus._checked.add(subject)
        self.counters["published"] += 1
        self._queue.append((subject, bytes(data)))
        if not self._kicked:
            self._kicked = True
            self._bus.loop.call(self._kick)

    def _kick(self) -> None:
        self._kicked = False
        self._wake.set()

    async def _send_loop(self) -> None:
        await self._nc.subscribe(self._ack_prefix + "*", cb=self._on_ack)
        sweep = asyncio.get_running_loop().create_task(self._sweep())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    item = self._queue.popleft()
                    if item is None:
                        return
                    await self._send(*item)
        finally:
            sweep.cancel()

    async def _send(self, subject: str, data: bytes) -> None:
        stored = self._stored.get(subject)
        if stored is None:
            stored = self._stored[subject] = any(
                subject_matches(p, subject) for p in self._bus.stored
            )
        try:
            if not stored:
                await self._nc.publish(subject, data)
                return
            if len(self._inflight) >= self.max_inflight:
                self._room.clear()
                await asyncio.wait_for(self._room.wait(), ACK_TIMEOUT_S)
            self._seq += 1
            token = b"%d" % self._seq
            self._inflight[token] = time.monotonic() + ACK_TIMEOUT_S
            try:
                await self._nc.publish(subject, data, reply=self._ack_prefix + token.decode())
            except Exception:
                self._inflight.pop(token, None)  # never sent: no ack to wait for
                raise
            self.counters["stored"] += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # too large, stalled or a closed connection: counted, node goes on
            self.counters["publish_errors"] += 1

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2].encode()
        if self._inflight.pop(token, None) is None:
            return  # already counted as timed out
        # a PubAck is {"stream":…,"seq":…}; an error or "no responders" (no stream) is not
        if b'"seq"' in msg.data and b'"error"' not in msg.data:
            self.counters["acked"] += 1
        else:
            self.counters["publish_errors"] += 1
        if len(self._inflight) < self.max_inflight:
            self._room.set()

    async def _sweep(self, every_s: float = 0.5) -> None:
        """Count publishes whose ack is overdue as failed (the dict is in send order)."""
        while True:
            await asyncio.sleep(every_s)
            now, late = time.monotonic(), []
            for token, deadline in self._inflight.items():
                if deadline > now:
                    break
                late.append(token)
            for token in late:
                del self._inflight[token]
            self.counters["publish_errors"] += len(late)
            if late and len(self._inflight) < self.max_inflight:
                self._room.set()

    def subscribe(self, pattern: str, limit: int = 100_000) -> NatsSubscription:
        """Start receiving messages whose subject matches ``pattern``.

        Blocks until the server has the subscription (a setup call, not a step call).
        """
        check_subject(pattern, wildcards=True)
        if limit < 1:
            raise ValueError(f"subscription limit must be >= 1 (got {limit})")
        sub = NatsSubscription(pattern, limit, self._bus.loop)
        durables = self._bus.durable.get(pattern)
        self._bus.loop.run(self._subscribe(sub, durables))
        self.subscriptions.append(sub)
        return sub

    def durable_streams(self, pattern: str) -> set[str]:
        """The streams subscription ``pattern`` reads through durable consumers."""
        return {d.stream for d in self._bus.durable.get(pattern, ())}

    def add_durable(self, sub: NatsSubscription, durable: Durable) -> None:
        """Also fill ``sub`` from ``durable`` (a partner that joined: its inbox stream), from
        now on; blocks until the consumer exists (a setup call, e.g. between two steps)."""
        self._bus.durable.setdefault(sub.pattern, [])
        self._bus.durable[sub.pattern] = [*self._bus.durable[sub.pattern], durable]
        self._bus.loop.run(self._subscribe(sub, [durable]))

    async def _subscribe(self, sub: NatsSubscription, durables: Sequence[Durable] | None) -> None:
        if not durables:
            await self._nc.subscribe(
                sub.pattern, cb=sub.on_core, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
            await self._nc.flush()
            return
        for d in durables:
            nc = await self._bus.connection(d.conn, self.name)
            cfg = api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT,
                max_ack_pending=sub.limit,
                ack_wait=30.0,
                deliver_policy=api.DeliverPolicy.ALL,
            )
            try:
                await nc.jetstream().subscribe(
                    sub.pattern,
                    stream=d.stream,
                    durable=d.consumer,
                    cb=sub.on_durable,
                    manual_ack=True,
                    config=cfg,
                    pending_msgs_limit=-1,
                    pending_bytes_limit=-1,
                )
            except (NotFoundError, BadRequestError) as e:
                raise NatsError(
                    f"durable consumer {d.consumer!r} on stream {d.stream!r} at {d.conn.url} "
                    f"({d.conn.user}): {e.description or e}"
                ) from None

    @property
    def client(self) -> Client:
        """The endpoint's own NATS connection."""
        return self._nc

    async def stop_sending(self, timeout_s: float = 2.0) -> None:
        """Let the sender task send what is queued, then end it (the bus is closing)."""
        self._queue.append(None)
        self._wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._sender, timeout_s)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything published so far is sent and acked (tests, shutdown)."""

        async def _flush() -> None:
            while self._queue or self._inflight:
                await asyncio.sleep(0.005)
            await self._nc.flush()

        self._bus.loop.run(_flush(), timeout)


class NatsBus:
    """Connects nodes to NATS; one bus per node process (one event loop thread).

    Parameters
    ----------
    conn
        The node's own account (partner: ``LOCAL``; coordinator: ``HUB``).
    durable
        Subscription pattern → the durable consumers it reads instead of core NATS.
    stored
        Subject patterns published through JetStream (acked by a stream of ``conn``).
    watch
        Streams whose cross-domain sources to keep alive: (account, stream name). After a
        leafnode link comes back, nats-server 2.15 retries a failed source only after a
        backoff of tens of seconds; the bus checks every ``watch_s`` and re-adds a source
        silent for longer than ``stale_s`` (it resumes after the last stored message).
    """

    def __init__(
        self,
        conn: ConnSpec,
        *,
        durable: Mapping[str, Sequence[Durable]] | None = None,
        stored: Iterable[str] = ("tracks.>", "alerts.>"),
        watch: Sequence[tuple[ConnSpec, str]] = (),
        watch_s: float = 1.0,
        stale_s: float = 3.0,
    ) -> None:
        self.conn = conn
        self.durable = dict(durable or {})
        self.stored = tuple(stored)
        self.loop = EventLoopThread()
        self.errors: Counter[str] = Counter()  # connection errors by kind
        self._conns: dict[ConnSpec, Client] = {}
        self._checked: set[str] = set()
        self.endpoints: list[NatsEndpoint] = []
        self.restarted_sources = 0  # sources re-added by the watchdog
        if watch:
            self.loop.call(_spawn, self._watch(list(watch), watch_s, stale_s))

    async def _watch(self, watch: list[tuple[ConnSpec, str]], every: float, stale: float) -> None:
        while True:
            await asyncio.sleep(every)
            for spec, stream in watch:
                try:
                    js = (await self.connection(spec, "watch")).jetstream()
                    info = await js.stream_info(stream)
                    dead = {
                        s.name
                        for s in info.sources or []
                        if s.active is None or not 0 <= s.active <= stale * 1e9
                    }
                    if not dead:
                        continue
                    cfg = info.config
                    full = list(cfg.sources or [])
                    cfg.sources = [s for s in full if s.name not in dead]
                    await js.update_stream(cfg)
                    cfg.sources = full
                    await js.update_stream(cfg)
                    self.restarted_sources += len(dead)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # the hub is down or slow: try again next round
                    self.errors[f"watch_{type(e).__name__}"] += 1

    async def connection(self, spec: ConnSpec, name: str) -> Client:
        nc = self._conns.get(spec)
        if nc is None:
            nc = self._conns[spec] = await open_conn(spec, f"mead-{name}", self.errors)
        return nc

    def connect(self, name: str) -> NatsEndpoint:
        """An endpoint for the node called ``name`` (connects now; raises ``NatsError``)."""
        if not name or "." in name or "*" in name or ">" in name:
            raise ValueError(f"node name {name!r} must be a non-empty subject token")

        async def _make() -> NatsEndpoint:
            nc = await open_conn(self.conn, f"mead-{name}", self.errors)
            self._conns.setdefault(self.conn, nc)
            return NatsEndpoint(self, name, nc)

        ep = self.loop.run(_make())
        self.endpoints.append(ep)
        return ep

    def close(self) -> None:
        """Flush, disconnect and stop the loop thread (once; later calls do nothing)."""
        if self.loop.loop.is_closed():
            return

        async def _close() -> None:
            for ep in self.endpoints:
                await ep.stop_sending()
            for nc in {
                id(c): c for c in [*self._conns.values(), *(e.client for e in self.endpoints)]
            }.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.drain(), 2.0)
                with contextlib.suppress(Exception):
                    await nc.close()

        with contextlib.suppress(Exception):
            self.loop.run(_close(), timeout=10.0)
        self.loop.stop()

    def __enter__(self) -> NatsBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def disconnect_leaves_async(admin: ConnSpec, account: str, timeout: float = 3.0) -> int:
    """Close every leafnode link bound to ``account`` on the servers ``admin`` reaches (a
    single server, or every server of a hub cluster).

    ``admin`` is a user of the server's system account. nats-server re-checks clients on
    a config reload but not leaf links, so after a partner's account is removed its link
    stays up until it reconnects; this disconnects it (the system ``KICK`` request), and
    its reconnection is refused. Returns how many links were closed.
    """
    import json

    nc = await open_conn(admin, "mead-admin")
    try:
        # every server of the cluster answers the ping; gather the answers for a moment
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish("$SYS.REQ.SERVER.PING.LEAFZ", b"{}", reply=inbox)
        answers: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = min(deadline - time.monotonic(), 0.25 if answers else timeout)
            try:
                msg = await sub.next_msg(timeout=max(wait, 0.01))
            except nats.errors.TimeoutError:
                if answers:
                    break
                continue
            if not msg.data:  # a status ("no responders": not a system account user)
                break
            answers.append(json.loads(msg.data))
        await sub.unsubscribe()
        if not answers:
            who = admin.user or (admin.tls.cert_file if admin.tls else "-")
            raise NatsError(
                f"no answer to the leafz request at {admin.url}: {who} is not a user of the "
                "hub's system account (use its admin certificate)"
            )
        kicked = 0
        for info in answers:
            if "error" in info:
                raise NatsError(f"leafz at {admin.url}: {info['error']}")
            server = info["server"]["id"]
            for leaf in info["data"].get("leafs") or []:
                if leaf.get("account") != account:
                    continue
                req = json.dumps({"cid": leaf["id"]}).encode()
                await nc.request(f"$SYS.REQ.SERVER.{server}.KICK", req, timeout=timeout)
                kicked += 1
        return kicked
    finally:
        await nc.close()


async def place_meta_leader_async(admin: ConnSpec, server: str, timeout: float = 5.0) -> bool:
    """Make hub server ``server`` the JetStream cluster's metadata leader (it approves every
    stream and consumer change), if another server leads; ``admin`` is a user of the
    system account. Returns whether it asked the leader to step down."""
    import json

    nc = await open_conn(admin, "mead-admin")
    try:
        r = await nc.request("$SYS.REQ.SERVER.PING.JSZ", b"{}", timeout=timeout)
        meta = json.loads(r.data).get("data", {}).get("meta_cluster") or {}
        if meta.get("leader") in (None, server):
            return False
        body = json.dumps({"placement": {"preferred": server}}).encode()
        r = await nc.request("$JS.API.META.LEADER.STEPDOWN", body, timeout=timeout)
        if b'"error"' in r.data:
            raise NatsError(f"meta leader stepdown to {server}: {r.data.decode()}")
        return True
    finally:
        await nc.close()


def place_meta_leader(admin: ConnSpec, server: str, timeout: float = 10.0) -> bool:
    """Blocking :func:`place_meta_leader_async`."""
    return asyncio.run(asyncio.wait_for(place_meta_leader_async(admin, server), timeout))


def disconnect_leaves(admin: ConnSpec, account: str, timeout: float = 10.0) -> int:
    """Blocking :func:`disconnect_leaves_async`."""
    return asyncio.run(asyncio.wait_for(disconnect_leaves_async(admin, account), timeout))


# ----------------------------------------------------------------------------- streams


def _stream_config(spec: StreamSpec) -> api.StreamConfig:
    kw: dict[str, Any] = dict(
        name=spec.name,
        storage=api.StorageType.FILE,
        max_age=spec.max_age_s,
        num_replicas=spec.replicas,
    )
    if spec.subjects:
        kw["subjects"] = list(spec.subjects)
    if spec.source is not None:
        name, domain = spec.source
        kw["sources"] = [
            api.StreamSource(name=name, external=api.ExternalStream(api=f"$JS.{domain}.API"))
        ]
    if spec.mirror is not None:
        name, domain = spec.mirror
        kw["mirror"] = api.StreamSource(
            name=name, external=api.ExternalStream(api=f"$JS.{domain}.API")
        )
    return api.StreamConfig(**kw)


async def ensure_streams_async(
    specs: Sequence[StreamSpec], accounts: Mapping[str, ConnSpec]
) -> None:
    """Create (or update) each stream of ``specs`` through its account's connection."""
    for acct in {s.account for s in specs}:
        if acct not in accounts:
            raise NatsError(f"no connection given for account {acct!r}")
    conns: dict[str, Client] = {}
    try:
        for spec in specs:
            nc = conns.get(spec.account)
            if nc is None:
                nc = conns[spec.account] = await open_conn(accounts[spec.account], "mead-setup")
            js = nc.jetstream()
            cfg = _stream_config(spec)
            try:
                await js.add_stream(cfg)
            except BadRequestError as e:
                if e.err_code != 10058:  # 10058: stream name in use with another config
                    raise NatsError(f"stream {spec.name} in {spec.account}: {e}") from None
                await js.update_stream(cfg)
    finally:
        for nc in conns.values():
            with contextlib.suppress(Exception):
                await nc.close()


def ensure_streams(
    specs: Sequence[StreamSpec], accounts: Mapping[str, ConnSpec], timeout: float = 20.0
) -> None:
    """Blocking :func:`ensure_streams_async` (runs its own event loop)."""
    asyncio.run(asyncio.wait_for(ensure_streams_async(specs, accounts), timeout))


__all__ = [
    "ConnSpec",
    "Durable",
    "client_tls",
    "disconnect_leaves",
    "EventLoopThread",
    "NatsBus",
    "NatsEndpoint",
    "NatsError",
    "NatsSubscription",
    "ensure_streams",
    "ensure_streams_async",
    "open_conn",
    "place_meta_leader",
]
