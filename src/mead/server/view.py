"""What one node holds, as its operator's map sees it: tracks, alerts and acknowledgements.

A :class:`NodeView` is fed on the node's own thread — :meth:`NodeView.show` after each cycle
(the node's ``show`` hook) and :meth:`NodeView.on_event` for every event the node emits —
and read by the web server's handlers on theirs. It keeps only what the node itself holds
(a partner: its own tracks, its own alerts and the coordinator's picture; the coordinator:
the fused picture and the alerts it sent), so the server cannot give away more than the node
knows. Each change is published once as an encoded delta to every subscriber
(:class:`Broadcast`); a subscriber that falls behind gets a fresh snapshot instead.

An operator's acknowledgement arrives on a server thread (:meth:`NodeView.ack`), waits in a
queue and is recorded by the node's thread (:meth:`NodeView.drain`) as an
``AlertAcknowledged`` event, so events are only ever emitted by the node's loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from mead.events import AlertAcknowledged, AlertReceived, AlertSent, Emit, Event
from mead.messages import Picture, RadarStatus, picture_to_arrays
from mead.runtime.node import Held
from mead.server.overlays import circle_ring
from mead.server.rows import Rows, diff
from mead.threat.base import track_number

_ENCODER = msgspec.json.Encoder()

SUBSCRIBER_QUEUE = 32
"""Messages a WebSocket subscriber may have waiting before it is resynchronised."""


def lost_coverage(lost: tuple[tuple[str, RadarStatus], ...]) -> dict[str, Any]:
    """The coverage partners reported lost, as GeoJSON for the map: one feature per radar
    not operational, with ``partner``, ``radar``, ``state`` and ``reach``; where its partner's
    policy released the radar's site and range, its geometry is the ground no longer
    covered — the disc of its range for a radar down, the ring between its kept reach and
    its range for one degraded — else none (the page lists it)."""
    feats = []
    for partner, r in lost:
        geom = None
        if r.lat_deg is not None and r.lon_deg is not None and r.range_km:
            rings = [
                circle_ring(r.lat_deg, r.lon_deg, d * 1e3)
                for d in (r.range_km, r.reach * r.range_km)
                if d > 0
            ]
            rings[1:] = [ring[::-1] for ring in rings[1:]]  # a hole winds the other way
            geom = {"type": "Polygon", "coordinates": rings}
        props = {"partner": partner, "radar": r.radar, "state": r.state, "reach": r.reach}
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def picture_rows(pic: Picture | None) -> Rows:
    """Rows of the coordinator's picture as a partner holds it (keys ``S<stn>``)."""
    if pic is None or not pic.tracks:
        return Rows.empty()
    stn, x, _ = picture_to_arrays(pic)  # a picture a partner holds is well formed
    return Rows.from_states(
        [f"S{s}" for s in stn.tolist()],
        x,
        [r.cls for r in pic.tracks],
        np.array([r.quality for r in pic.tracks]),
    )


class AckError(Exception):
    """An acknowledgement the view refuses: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(detail)


@dataclass(eq=False)
class Subscriber:
    """One WebSocket's queue of encoded messages, fed from the node's thread."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[int, bytes]] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE)
    )
    behind: bool = False  # a message was dropped: send a snapshot next
    dropped: int = 0

    def offer(self, item: tuple[int, bytes]) -> None:
        """Queue ``item`` (on the subscriber's loop); when full, mark the subscriber behind."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.behind = True
            self.dropped += 1


class Broadcast:
    """Subscribers of one view: each published message is handed to every one's loop."""

    def __init__(self) -> None:
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()

    def attach(self) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def detach(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, seq: int, data: bytes) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, (seq, data))
            except RuntimeError:  # the subscriber's loop has closed
                self.detach(sub)

    def __len__(self) -> int:
        return len(self._subs)


class NodeView:
    """The map's view of one node (see the module docstring).

    Parameters
    ----------
    info : the static part of the map (``overlays.map_info``): node, role, areas, coverage.
    emit : the node's event sink, for acknowledgements.
    rate : wire seconds per wall second of the node's clock (``speed`` live).
    """

    def __init__(self, info: dict[str, Any], emit: Emit | None = None, rate: float = 1.0) -> None:
        self.info = dict(info)
        self.node: str = info["node"]
        self.emit = emit
        self.rate = rate
        self.broadcast = Broadcast()
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rows = Rows.empty()
        self._alerts: dict[str, dict[str, Any]] = {}
        self._acks: list[tuple[str, str, float]] = []  # (alert_id, by, t_wall)
        self._numbers: dict[int, str] = {}  # own track number → own track id
        self._lost_of: tuple[tuple[str, RadarStatus], ...] = ()  # as the node reported it
        self._lost = lost_coverage(())  # ... and drawn for the map (coordinator)
        self._t = 0.0  # wire time of the newest cycle
        self._wall = 0.0  # wall time it was shown
        self._seq = 0

    # -- the node's thread -------------------------------------------------------------

    def show(self, held: Held) -> None:
        """Take what the node holds after a cycle; publish what changed. Never raises."""
        try:
            self._show(held)
        except Exception as e:  # noqa: BLE001 - a map must never stop the node
            self._failed("show", e)

    def _show(self, held: Held) -> None:
        wall = time.time()
        coordinator = self.info.get("role") == "coordinator"
        keys = [f"S{i}" for i in held.ids] if coordinator else held.ids
        own = Rows.from_states(keys, held.x, held.classes, held.quality, held.ident)
        rows = own.concat(picture_rows(held.picture)) if held.picture is not None else own
        with self._lock:
            if not coordinator:
                self._numbers = {track_number(k): k for k in held.ids}
            upd, gone = diff(self._rows, rows)
            self._rows, self._t, self._wall = rows, held.t, wall
            msg = {"type": "delta", "upd": upd.columns(), "del": gone, "alerts": []}
            if held.coverage_lost != self._lost_of:  # drawn again only when it changed
                self._lost_of = held.coverage_lost
                self._lost = msg["lost"] = lost_coverage(held.coverage_lost)
            self._publish(msg)
        self.counters["cycles"] += 1

    def on_event(self, ev: Event) -> None:
        """Take an event the node emitted: alerts it holds or sent are kept. Never raises."""
        try:
            if isinstance(ev, AlertReceived | AlertSent) and ev.node == self.node:
                self._take_alert(ev)
        except Exception as e:  # noqa: BLE001 - a map must never stop the node
            self._failed("event", e)

    def _take_alert(self, ev: AlertReceived | AlertSent) -> None:
        rec = msgspec.structs.asdict(ev)
        via = ev.via if isinstance(ev, AlertReceived) else ev.node
        rec.pop("truth", None)
        rec.pop("run", None)
        rec["via"] = via
        with self._lock:
            rec["key"] = self._track_key(ev.system_track, via)
            old = self._alerts.get(ev.alert_id)
            rec["acked"] = old["acked"] if old else None
            self._alerts[ev.alert_id] = rec
            self._publish({"type": "delta", "upd": None, "del": [], "alerts": [rec]})

    def _track_key(self, number: int, via: str) -> str:
        """The key, on this map, of the track an alert is about."""
        if via == self.node and self.info.get("role") != "coordinator":
            return self._numbers.get(number, f"{self.node}-T{number:06d}")
        return f"S{number}"

    def drain(self, now: float) -> int:
        """Record the acknowledgements waiting (as events, at wire time ``now``); returns
        how many. Called by the node's loop after each step. Never raises."""
        with self._lock:
            acks, self._acks = self._acks, []
        for alert_id, by, t_wall in acks:
            try:
                self._record_ack(now, alert_id, by, t_wall)
            except Exception as e:  # noqa: BLE001 - a map must never stop the node
                self._failed("ack", e)
        return len(acks)

    def _record_ack(self, now: float, alert_id: str, by: str, t_wall: float) -> None:
        with self._lock:
            rec = self._alerts[alert_id]
            ev = AlertAcknowledged(
                node=self.node,
                alert_id=alert_id,
                t=now,
                area=rec["area"],
                system_track=rec["system_track"],
                via=rec["via"],
                by=by,
                t_wall=t_wall,
            )
            rec["acked"] = {"t": now, "by": by}
            self._publish({"type": "delta", "upd": None, "del": [], "alerts": [rec]})
        if self.emit is not None:
            self.emit(ev)
        self.counters["acks"] += 1

    def _failed(self, where: str, e: Exception) -> None:
        if not self.counters[f"errors_{where}"]:
            import sys

            print(f"mead map of {self.node}: {where} failed: {e!r}", file=sys.stderr)
        self.counters[f"errors_{where}"] += 1

    def _publish(self, msg: dict[str, Any]) -> None:
        """Stamp and encode ``msg`` and hand it to every subscriber (caller holds the lock)."""
        self._seq += 1
        msg |= {"node": self.node, "seq": self._seq, "t": self._t, "wall": self._wall}
        msg["rate"] = self.rate
        msg["sent"] = time.time()
        self.broadcast.publish(self._seq, _ENCODER.encode(msg))

    # -- the server's threads ------------------------------------------------------------

    def snapshot(self) -> tuple[int, bytes]:
        """(sequence number, encoded snapshot): every track and alert the node holds now."""
        with self._lock:
            msg = {
                "type": "snapshot",
                "node": self.node,
                "seq": self._seq,
                "t": self._t,
                "wall": self._wall,
                "rate": self.rate,
                "sent": time.time(),
                "tracks": self._rows.columns(),
                "alerts": list(self._alerts.values()),
                "lost": self._lost,
            }
            return self._seq, _ENCODER.encode(msg)

    def ack(self, alert_id: str, by: str = "") -> dict[str, Any]:
        """Queue an operator's acknowledgement of ``alert_id`` for the node to record.

        Raises :class:`AckError` (404) for an alert the node does not hold and (409) for a
        cancelled one; acknowledging twice is answered with the first acknowledgement."""
        with self._lock:
            rec = self._alerts.get(alert_id)
            if rec is None:
                raise AckError(404, f"node {self.node} holds no alert {alert_id!r}")
            if rec["acked"]:
                return {"alert_id": alert_id, "status": "acknowledged", **rec["acked"]}
            if rec["state"] == "cancelled":
                raise AckError(409, f"alert {alert_id!r} is cancelled; nothing to acknowledge")
            if all(a != alert_id for a, _, _ in self._acks):
                self._acks.append((alert_id, by, time.time()))
        return {"alert_id": alert_id, "status": "pending"}

    def tee(self, emit: Emit) -> Emit:
        """An event sink that shows each event on this view, then passes it to ``emit``."""

        def both(ev: Event) -> None:
            self.on_event(ev)
            emit(ev)

        return both


__all__ = ["AckError", "Broadcast", "NodeView", "Subscriber", "picture_rows"]
