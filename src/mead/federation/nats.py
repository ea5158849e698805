"""The NATS bus: the :mod:`mead.federation.base` contract over real nats-servers (live mode).

The nodes are synchronous (``step(now)`` publishes and drains, never waits), so the bus
runs its own asyncio event loop in a daemon thread and bridges both ways:

* ``publish`` hands (subject, data) to one sender task per endpoint through the loop's
  thread-safe call queue and returns at once; the sender keeps publish order. Subjects
  matching ``stored`` (``tracks.>``, ``alerts.>``) go out as JetStream publishes, so a stream
  of the node's own server stores them and acks (unacked or failed ones are counted);
  anything else is a core publish.
* ``subscribe`` fills a bounded deque from message callbacks. A pattern listed in
  ``durable`` reads instead from durable JetStream consumers (the partner's ``ALERTS_IN``
  stream, the hub's per-partner inboxes) with explicit acks sent when ``drain`` hands the
  messages out, and at most ``limit`` unacked in flight — so a node that was cut off or
  restarted resumes where it stopped, in order. Delivery is at-least-once: the envelope
  :class:`~mead.federation.envelope.Opener` rejects redelivered (sender, seq) as
  ``duplicate`` and counts them.

Stream layout and server configs: :mod:`mead.federation.natsconf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from mead.errors import MeadError
from mead.federation.base import subject_matches
from mead.federation.inprocess import check_subject
from mead.federation.natsconf import StreamSpec

T = TypeVar("T")
ACK_TIMEOUT_S = 5.0
"""A JetStream publish not acked within this long counts as failed."""


class NatsError(MeadError):
    """A NATS connection or stream operation failed (message names server and account)."""


@dataclass(frozen=True)
class ConnSpec:
    """How to reach one account of one nats-server: URL, user and password."""

    url: str
    user: str = ""
    password: str = field(default="", repr=False)


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


async def open_conn(spec: ConnSpec, name: str, errors: Counter[str] | None = None) -> Client:
    """Connect to ``spec`` (reconnecting forever once connected); errors only counted."""
    errs = errors if errors is not None else Counter()

    async def on_error(e: Exception) -> None:
        errs[type(e).__name__] += 1

    async def on_disconnect() -> None:
        errs["disconnected"] += 1

    try:
        return await nats.connect(
            servers=[spec.url],
            user=spec.user or None,
            password=spec.password or None,
            name=name,
            connect_timeout=3,
            reconnect_time_wait=0.25,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
        )
    except Exception as e:  # nats-py raises assorted errors on a failed first connect
        raise NatsError(f"cannot connect to {spec.url} as {spec.user or '-'}: {e!r}") from e


class NatsSubscription:
    """A bounded queue filled by NATS callbacks (core or durable JetStream)."""

    def __init__(self, pattern: str, limit: int, loop: EventLoopThread) -> None:
        self.pattern = pattern  # NATS subject pattern
        self.limit = limit  # most undrained messages held
        self.dropped = 0  # core messages lost to a full queue
        self.delivered = 0  # messages returned by drain()
        self.redelivered = 0  # JetStream redeliveries seen (deduplicated by the Opener)
        self._loop = loop
        self._q: deque[tuple[str, bytes, Msg | None]] = deque()

    @property
    def pending(self) -> int:
        """Messages received and not yet drained."""
        return len(self._q)

    async def _on_core(self, msg: Msg) -> None:
        if len(self._q) >= self.limit:
            self.dropped += 1
            return
        self._q.append((msg.subject, msg.data, None))

    async def _on_js(self, msg: Msg) -> None:
        # max_ack_pending = limit bounds this queue; a message beyond it (a redelivery
        # while undrained) is left unacked, so the server delivers it again later.
        if len(self._q) >= self.limit:
            return
        if msg.metadata.num_delivered > 1:
            self.redelivered += 1
        self._q.append((msg.subject, msg.data, msg))

    def drain(self) -> list[tuple[str, bytes]]:
        """Every (subject, data) received by now, in arrival order; never blocks.

        Durable messages are acked (asynchronously) as they are handed out.
        """
        out: list[tuple[str, bytes]] = []
        acks: list[Msg] = []
        q = self._q
        while q:
            subject, data, msg = q.popleft()
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
    """One node's connection to a :class:`NatsBus`."""

    def __init__(self, bus: NatsBus, name: str, nc: Client) -> None:
        self.name = name  # the node's pseudonym
        self.counters: Counter[str] = Counter()  # published, stored, acked, publish_errors
        self._bus, self._nc = bus, nc
        self._js = nc.jetstream()
        self._out: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._unacked = 0
        self._sender = bus.loop.loop.create_task(self._send_loop())
        self.subscriptions: list[NatsSubscription] = []

    def publish(self, subject: str, data: bytes) -> None:
        """Send ``data`` on ``subject``; returns at once (sent from the bus's loop)."""
        if subject not in self._bus._checked:
            check_subject(subject, wildcards=False)
            self._bus._checked.add(subject)
        self.counters["published"] += 1
        self._bus.loop.call(self._out.put_nowait, (subject, bytes(data)))

    async def _send_loop(self) -> None:
        stored = self._bus.stored
        while True:
            item = await self._out.get()
            if item is None:
                return
            subject, data = item
            try:
                if any(subject_matches(p, subject) for p in stored):
                    fut = await self._js.publish_async(subject, data, wait_stall=ACK_TIMEOUT_S)
                    self._unacked += 1
                    fut.add_done_callback(self._on_ack)
                    asyncio.get_running_loop().call_later(ACK_TIMEOUT_S, fut.cancel)
                    self.counters["stored"] += 1
                else:
                    await self._nc.publish(subject, data)
            except asyncio.CancelledError:
                raise
            except Exception:  # a stalled or closed connection: counted, node goes on
                self.counters["publish_errors"] += 1

    def _on_ack(self, fut: asyncio.Future[Any]) -> None:
        self._unacked -= 1
        if fut.cancelled() or fut.exception() is not None:
            self.counters["publish_errors"] += 1
        else:
            self.counters["acked"] += 1

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

    async def _subscribe(self, sub: NatsSubscription, durables: Sequence[Durable] | None) -> None:
        if not durables:
            await self._nc.subscribe(
                sub.pattern, cb=sub._on_core, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
            await self._nc.flush()
            return
        for d in durables:
            nc = await self._bus._conn(d.conn, self.name)
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
                    cb=sub._on_js,
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

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything published so far is sent and acked (tests, shutdown)."""

        async def _flush() -> None:
            while not self._out.empty() or self._unacked > 0:
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
                    js = (await self._conn(spec, "watch")).jetstream()
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

    async def _conn(self, spec: ConnSpec, name: str) -> Client:
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
                ep._out.put_nowait(None)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ep._sender, 2.0)
            for nc in {
                id(c): c for c in [*self._conns.values(), *(e._nc for e in self.endpoints)]
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


# ----------------------------------------------------------------------------- streams


def _stream_config(spec: StreamSpec) -> api.StreamConfig:
    kw: dict[str, Any] = dict(name=spec.name, storage=api.StorageType.FILE, max_age=spec.max_age_s)
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
    "EventLoopThread",
    "NatsBus",
    "NatsEndpoint",
    "NatsError",
    "NatsSubscription",
    "ensure_streams",
    "ensure_streams_async",
    "open_conn",
]
