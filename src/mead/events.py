"""Evaluation events: what a node did that a person or a scorer reads later, as typed structs.

Nodes emit events through an injected ``Emit`` sink; the simulation keeps them per run and
writes them to ``events.jsonl.gz`` (one JSON object per line, ``kind`` first, gzip), live
nodes write
them to their ``--events`` file. ``Event`` is the tagged union, decoded with :data:`DECODER`.

Field names are those of the log's first format (``kind``, ``run``, ``node``, ``state``,
``area``, ``truth``, …), so tools that read the log keep working. An alert event carries
every field of the :class:`~mead.messages.Alert` it records. ``docs/events.md`` shows one
line of each kind.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from mead.messages import AlertFields


class AlertReceived(AlertFields, frozen=True, kw_only=True, tag_field="kind", tag="alert"):
    """A partner held an alert: from the coordinator (``via`` = its pseudonym) or its own."""

    node: str  # the partner that holds the alert
    t_recv: float  # when it reached the node, UTC s
    via: str  # who sent it: the coordinator, or the partner itself
    run: str = ""  # "alliance" or "national" in simulation; "" live
    truth: str | None = None  # scoring only: the object the alert is about (None: none near)


class AlertSent(AlertFields, frozen=True, kw_only=True, tag_field="kind", tag="alert_sent"):
    """The coordinator sent an alert to the owner of the threatened area."""

    node: str  # the coordinator
    run: str = ""
    truth: str | None = None


class Rejected(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="rejected"):
    """The first message a node rejected for a reason (later ones are only counted)."""

    node: str
    reason: str  # counter key, e.g. "bad_signature", "replayed", "unexpected"
    origin: str  # claimed sender
    run: str = ""


class PictureReceived(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="picture"):
    """A partner took in the coordinator's fused picture."""

    node: str
    t_recv: float  # UTC s
    t: float  # the picture's time of validity, UTC s
    via: str  # sender (the coordinator)
    tracks: int  # rows in the picture
    run: str = ""


class AlertAcknowledged(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="alert_ack"
):
    """An operator acknowledged an alert on the node's map (``mead.server``)."""

    node: str  # the node whose operator acknowledged
    alert_id: str
    t: float  # wire time at the node when it recorded the acknowledgement, UTC s
    area: str  # the alert's defended area
    system_track: int  # the alert's track number at its issuer
    via: str  # who sent the alert: the coordinator, or the partner itself
    by: str = ""  # operator name given with the acknowledgement ("" if none)
    t_wall: float = 0.0  # wall time the operator pressed acknowledge, UTC s
    run: str = ""


class Counters(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="counters"):
    """A live node's counters when it stops (processed, sent, rejected, timing)."""

    node: str
    counters: dict[str, int | float] = {}
    run: str = ""


class Leadership(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="leadership"):
    """A coordinator instance became the active coordinator or stood down (live failover)."""

    node: str  # the coordinator's pseudonym (shared by its instances)
    instance: str  # which instance, e.g. "C0" or "C0-standby"
    role: str  # "active" or "standby"
    t: float  # wire time of the step it changed at, UTC s
    t_wall: float  # wall time of the change, UTC s
    resent: int = 0  # alerts computed in standby that the previous active never sent
    suppressed: int = 0  # alerts computed in standby that the previous active had sent
    run: str = ""


class CoordinatorStatus(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="coordinator"
):
    """A partner found the coordinator silent (no picture for a while) or back (live)."""

    node: str  # the partner
    t: float  # wire time it noticed, UTC s
    coordinator: str  # the coordinator's pseudonym
    running: bool  # False: silent, the partner warns only from its own tracks
    last_picture: float  # wire time of the newest picture it holds (start time if none)
    run: str = ""


Event = (
    AlertReceived
    | AlertSent
    | Rejected
    | PictureReceived
    | Counters
    | AlertAcknowledged
    | Leadership
    | CoordinatorStatus
)
"""Every event kind."""

AlertEvent = AlertReceived | AlertSent

Emit = Callable[[Event], None]
"""Sink for events."""

DECODER = msgspec.json.Decoder(Event)
"""Decodes one line of an events file."""

_ENCODER = msgspec.json.Encoder()


def encode_line(ev: Event) -> bytes:
    """One event as a JSON line (with its newline)."""
    return _ENCODER.encode(ev) + b"\n"


def read_events(lines: bytes | str) -> list[Event]:
    """Events from the text of an events file (blank lines skipped)."""
    text = lines.decode() if isinstance(lines, bytes) else lines
    return [DECODER.decode(ln) for ln in text.splitlines() if ln.strip()]


def read_events_file(path: str | Path) -> list[Event]:
    """Events from a file: JSON lines, gzip-compressed when the name ends in ``.gz``."""
    path = Path(path)
    raw = path.read_bytes()
    return read_events(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def write_events_file(path: str | Path, events: Iterable[Event]) -> None:
    """Write events as JSON lines, gzip-compressed when the name ends in ``.gz``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        for ev in events:
            f.write(encode_line(ev))


__all__ = [
    "AlertAcknowledged",
    "AlertEvent",
    "AlertReceived",
    "AlertSent",
    "CoordinatorStatus",
    "Counters",
    "DECODER",
    "Emit",
    "Event",
    "Leadership",
    "PictureReceived",
    "Rejected",
    "encode_line",
    "read_events",
    "read_events_file",
    "write_events_file",
]
