"""Cursor-on-Target to TAK: a node's tracks and alerts sent to TAK clients and servers.

:class:`TakSender` is the transport: ``pytak`` opens the connection (UDP unicast or
multicast, TCP, or TLS to a TAK server) and frames each event as TAK protocol v1 protobuf
through ``takproto`` (mesh header on multicast, varint-delimited stream otherwise), or
sends plain XML. It runs its own asyncio loop in a thread; the node only queues bytes.

:class:`CotOutput` is what a node is wired to: its ``show`` hook receives what the node
holds after each cycle (:class:`~mead.runtime.node.Held`) and its event sink the alerts
the node holds, so a node sends only what it holds — its own tracks, the picture the
coordinator gave it, the alerts it issued or received — never more. Tracks a node stops
holding are sent once more, stale at once, so TAK clients drop them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from configparser import ConfigParser
from typing import Annotated, Literal
from urllib.parse import urlparse
from xml.etree import ElementTree as ET

import numpy as np
from msgspec import Meta, Struct

from mead import geo
from mead.errors import ConfigError
from mead.events import AlertReceived, AlertSent, Emit, Event
from mead.interop.cot import AFFILIATIONS, alert2cot, cot_bytes, cot_time, cot_type, track2cot
from mead.runtime.node import Held
from mead.server.rows import Rows
from mead.server.view import picture_rows
from mead.threat.base import track_number

MAX_QUEUED = 10_000
"""Events a sender holds while its connection is slow or down; past it new ones are
counted as ``dropped``."""


class CotTarget(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a node sends Cursor-on-Target, and how. Paths are relative to the node config."""

    url: str  # udp://239.2.3.1:6969 (multicast), udp://host:port, tcp://host:port, tls://host:port
    protocol: Literal["protobuf", "xml"] = "protobuf"  # TAK protocol v1, or CoT XML
    stale_s: Annotated[float, Meta(gt=0.0, le=86400.0)] = 30.0  # tracks go stale after this
    cert: str | None = None  # tls: the node's client certificate (PEM)
    key: str | None = None  # tls: its private key (PEM); None: in ``cert``
    ca: str | None = None  # tls: the TAK server's CA (PEM); None: the system's
    verify: bool = True  # tls: check the server's certificate and name
    iface: str | None = None  # udp multicast: address of the interface to send from

    def __post_init__(self) -> None:
        u = urlparse(self.url)
        if u.scheme not in ("udp", "tcp", "tls") or not u.hostname or not u.port:
            raise ValueError(f"url must be udp://, tcp:// or tls://host:port (got {self.url!r})")
        if self.iface is not None:
            try:
                ipaddress.IPv4Address(self.iface)
            except ValueError:
                raise ValueError(f"iface must be an IPv4 address (got {self.iface!r})") from None
            if u.scheme != "udp" or not ipaddress.ip_address(u.hostname).is_multicast:
                raise ValueError(f"iface is for a udp:// multicast url (got {self.url!r})")
        if u.scheme == "tls" and self.cert is None:
            raise ValueError("a tls:// url needs cert (TAK servers authenticate clients)")


def pytak_config(target: CotTarget, base: str = ".") -> dict[str, str]:
    """The ``pytak`` configuration of ``target`` (write-only; TLS files under ``base``)."""
    u = urlparse(target.url)
    cfg = {
        "COT_URL": f"{u.scheme}+wo://{u.netloc}",
        "TAK_PROTO": "1" if target.protocol == "protobuf" else "0",
    }
    if target.iface is not None:  # multicast out of this interface (IP_MULTICAST_IF)
        cfg["PYTAK_MULTICAST_LOCAL_ADDR"] = target.iface
    if u.scheme == "tls":
        cfg["PYTAK_TLS_CLIENT_CERT"] = f"{base}/{target.cert}"
        if target.key:
            cfg["PYTAK_TLS_CLIENT_KEY"] = f"{base}/{target.key}"
        if target.ca:
            cfg["PYTAK_TLS_CLIENT_CAFILE"] = f"{base}/{target.ca}"
        if not target.verify:
            cfg["PYTAK_TLS_DONT_VERIFY"] = "1"
    return cfg


class TakSender:
    """Sends CoT events (XML bytes) to one target with pytak, from a thread of its own."""

    def __init__(self, target: CotTarget, base: str = ".") -> None:
        with warnings.catch_warnings():  # aiohttp serves only certificate enrolment
            warnings.filterwarnings("ignore", "The 'aiohttp' package", UserWarning)
            import pytak

        self.target = target
        self.counters: Counter[str] = Counter()  # sent, dropped, failed
        self.error = ""  # the first transport error, if any
        self._pytak = pytak
        parser = ConfigParser()
        parser["mead"] = pytak_config(target, base)
        self._config = parser["mead"]
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cot-out", daemon=True)

    def start(self, timeout_s: float = 10.0) -> TakSender:
        """Connect (``ConfigError`` if the target cannot be reached) and start sending."""
        self._thread.start()
        self._ready.wait(timeout_s)
        if self.error:
            self._thread.join(1.0)
            raise ConfigError(self.target.url, f"cannot send CoT there ({self.error})")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        pytak = self._pytak
        try:
            with warnings.catch_warnings():  # pytak's TLS context sets deprecated options
                warnings.filterwarnings("ignore", "ssl.OP_NO_", DeprecationWarning)
                _reader, writer = await pytak.protocol_factory(self._config)
        except Exception as e:  # noqa: BLE001 - reported by start(), never raised in the loop
            self.error = f"{type(e).__name__}: {e}"
            self._ready.set()
            return
        self._queue = asyncio.Queue(MAX_QUEUED)
        worker = pytak.TXWorker(self._queue, self._config, writer)
        self._ready.set()
        while True:
            data = await self._queue.get()
            if data is None:
                break
            try:
                await worker.send_data(data)
                self.counters["sent"] += 1
            except (OSError, ConnectionError) as e:
                self.counters["failed"] += 1
                self.error = self.error or f"{type(e).__name__}: {e}"
        if hasattr(writer, "close"):
            writer.close()
        if hasattr(writer, "wait_closed"):
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass

    def send(self, events: Sequence[bytes]) -> None:
        """Queue CoT events (XML bytes) for sending; never blocks, never raises."""
        if self._queue is None or self._loop.is_closed():
            self.counters["dropped"] += len(events)
            return
        self._loop.call_soon_threadsafe(self._put, list(events))

    def _put(self, events: list[bytes]) -> None:
        assert self._queue is not None  # set before the loop serves callbacks
        for e in events:
            try:
                self._queue.put_nowait(e)
            except asyncio.QueueFull:
                self.counters["dropped"] += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``timeout_s``), then close the connection."""
        if self._thread.is_alive() and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._put_end)
            except RuntimeError:
                pass  # the loop has just ended
            self._thread.join(timeout_s)

    def _put_end(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None) if not self._queue.full() else None


def _ce_le(rows: Rows, P: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """1-σ circular (ce) and vertical (le) position errors, m, of N rows from ECEF
    covariances (N, 6, 6); 9999999 (CoT's 'unknown') where none is given."""
    n = len(rows)
    if P is None or len(P) != n:
        return np.full(n, 9999999.0), np.full(n, 9999999.0)
    R = geo.enu_rotations(rows.lat.astype(float), rows.lon.astype(float))  # (N, 3, 3)
    enu = R @ P[:, :3, :3] @ R.swapaxes(-1, -2)
    ce = np.sqrt(np.maximum((enu[:, 0, 0] + enu[:, 1, 1]) / 2.0, 0.0))
    return ce, np.sqrt(np.maximum(enu[:, 2, 2], 0.0))


def held2cot(held: Held, stale_s: float, coordinator: bool) -> dict[str, bytes]:
    """What ``held`` holds as CoT events, uid → XML: the node's own tracks (the
    coordinator's: its system tracks, ``S<stn>``) and, for a partner, the coordinator's
    picture it holds. Types come from class and affiliation, e.g. ``a-h-A-W-M-S-S``."""
    keys = [f"S{i}" for i in held.ids] if coordinator else list(held.ids)
    own = Rows.from_states(keys, held.x, held.classes, held.quality, held.ident)
    ce, le = _ce_le(own, held.P)
    pic = picture_rows(held.picture) if held.picture is not None else Rows.empty()
    if len(pic):
        var = np.array([r.pos_var_m2 for r in held.picture.tracks])  # type: ignore[union-attr]
        ce, le = np.concatenate([ce, np.sqrt(var)]), np.concatenate([le, np.sqrt(var)])
    rows = own.concat(pic)
    out = {}
    for i in range(len(rows)):
        uid = cot_uid(held.node, str(rows.key[i]))
        aff = str(rows.aff[i]) if rows.aff[i] in AFFILIATIONS else "unknown"
        out[uid] = track2cot(
            uid, cot_type(rows.cls[i], aff), held.t, stale_s, float(rows.lat[i]),
            float(rows.lon[i]), float(rows.alt[i]), float(ce[i]), float(le[i]),
            float(rows.crs[i]), float(rows.spd[i]), str(rows.key[i]),
            remarks=f"MEAD {held.node}: {rows.cls[i]}, quality {rows.q[i]:.2f}",
        )  # fmt: skip
    return out


def cot_uid(node: str, key: str) -> str:
    """The CoT uid of a track ``key`` as node ``node`` holds it."""
    return f"MEAD.{node}.{key}"


class CotOutput:
    """A node's Cursor-on-Target output: wired to its ``show`` hook and event sink, it
    sends what the node holds to every target. Never raises into the node."""

    def __init__(self, node: str, coordinator: bool, senders: Sequence[TakSender]) -> None:
        self.node, self.coordinator = node, coordinator
        self.senders = list(senders)
        self.counters: Counter[str] = Counter()
        self._last: dict[str, bytes] = {}  # uid → last event sent (to send it stale)
        self._numbers: dict[int, str] = {}  # partner: track number → own track id

    def show(self, held: Held) -> None:
        """Send the node's tracks; tracks it no longer holds go once more, stale now."""
        try:
            for s in self.senders:
                events = held2cot(held, s.target.stale_s, self.coordinator)
                gone = [_stale_now(self._last[u], held.t) for u in self._last if u not in events]
                s.send([*events.values(), *gone])
            self._last = held2cot(held, 1.0, self.coordinator)
            if not self.coordinator:
                self._numbers = {track_number(k): k for k in held.ids}
            self.counters["cycles"] += 1
        except Exception as e:  # noqa: BLE001 - an output must never stop the node
            self.counters[f"failed_{type(e).__name__}"] += 1

    def on_event(self, ev: Event) -> None:
        """Send the alerts the node issued or received as CoT."""
        if not isinstance(ev, AlertReceived | AlertSent) or ev.node != self.node:
            return
        try:
            via = ev.via if isinstance(ev, AlertReceived) else ev.node
            own = via == self.node and not self.coordinator
            key = self._numbers.get(ev.system_track, "") if own else f"S{ev.system_track}"
            text = (
                f"{ev.level} {ev.state}: {ev.threat_class} at {ev.area} ({ev.recipient}), "
                f"p {ev.p_area:.2f}, time to go {ev.tgo_s:.0f} s, from {ev.issuer or via}"
                + (", held: coverage lost, last prediction" if ev.held else "")
            )
            xml = alert2cot(
                f"MEAD.{self.node}.alert.{ev.alert_id}", ev.state, ev.t, ev.t_impact,
                ev.impact_lat_deg, ev.impact_lon_deg, ev.impact_radius_m,
                cot_uid(self.node, key or f"T{ev.system_track}"), text,
            )  # fmt: skip
            for s in self.senders:
                s.send([xml])
            self.counters["alerts"] += 1
        except Exception as e:  # noqa: BLE001 - an output must never stop the node
            self.counters[f"failed_{type(e).__name__}"] += 1

    def tee(self, emit: Emit) -> Emit:
        """An event sink that feeds this output, then ``emit``."""

        def both(ev: Event) -> None:
            self.on_event(ev)
            emit(ev)

        return both

    def close(self) -> dict[str, int]:
        """Flush and close every sender; their counters, prefixed ``cot_``."""
        out = {f"cot_{k}": v for k, v in self.counters.items()}
        for i, s in enumerate(self.senders):
            s.close()
            out |= {f"cot{i}_{k}": v for k, v in s.counters.items()}
        return out


def _stale_now(event: bytes, t_utc_s: float) -> bytes:
    """``event`` re-stamped so that it is stale at ``t_utc_s`` (clients drop it)."""
    ev = ET.fromstring(event)
    now = cot_time(t_utc_s)
    ev.set("time", now)
    ev.set("start", now)
    ev.set("stale", now)
    return cot_bytes(ev)


def open_outputs(
    node: str, coordinator: bool, targets: Sequence[CotTarget], base: str
) -> CotOutput:
    """Connect a sender per target and the node's :class:`CotOutput` over them."""
    senders: list[TakSender] = []
    try:
        for t in targets:
            senders.append(TakSender(t, base).start())
    except BaseException:
        for s in senders:
            s.close()
        raise
    return CotOutput(node, coordinator, senders)


__all__ = ["CotOutput", "CotTarget", "TakSender", "cot_uid", "held2cot", "open_outputs"]
