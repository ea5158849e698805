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


class Health(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="health"):
    """A radar's or a node's state changed, as a node saw it: a partner for its own
    radars, the coordinator for what partners report (and for a partner gone silent)."""

    node: str  # who records it
    t: float  # wire time, UTC s
    partner: str  # whose radar or node
    radar: str  # radar label ("" for the node itself)
    state: str  # "operational", "degraded", "down" (radar); "operational", "degraded",
    # "silent" (node)
    reach: float = 1.0  # fraction of the radar's range still covered
    lat_deg: float | None = None  # coverage centre, if the partner releases it
    lon_deg: float | None = None
    range_km: float | None = None
    run: str = ""


class Trust(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="trust"):
    """The coordinator's view of a partner's registration changed: its tracks are
    consistently offset from the others' by more (suspect) or again less than the limit,
    or the coordinator started or stopped correcting them by the offset before fusion."""

    node: str  # the coordinator
    t: float  # wire time, UTC s
    partner: str
    suspect: bool  # offset beyond the coordinator's limit
    offset_m: float  # size of the estimated offset
    offset_ecef: tuple[float, float, float]  # the estimated offset, ECEF m
    shared: int  # objects it shared with other partners in the estimate
    corrected: bool = False  # its positions are shifted by −offset_ecef before fusion
    run: str = ""


class SuspectTrack(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="suspect_track"
):
    """The coordinator judged a system track suspect (a likely ghost) and withholds it from
    warnings, or cleared it once another partner held it."""

    node: str  # the coordinator
    t: float  # wire time, UTC s
    system_track: int
    suspect: bool  # True: judged suspect; False: cleared
    lat_deg: float  # where the track is, deg
    lon_deg: float
    alt_m: float  # height above the WGS84 ellipsoid, m
    sources: tuple[str, ...]  # suspect: the partners reporting it; cleared: those holding it
    witnesses: tuple[str, ...] = ()  # partners whose declared coverage holds it, not holding it
    since: float = 0.0  # suspect: when it was first uncorroborated in their coverage, UTC s
    reason: str = ""  # in words
    run: str = ""


class Membership(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="membership"
):
    """A running live node re-read its key registry or config: who it accepts changed
    (a partner joined, left or had its key revoked), or the new file was refused."""

    node: str
    source: str  # "registry" or "config"
    detail: str  # e.g. "registry reloaded; added: P3" or why the file was not loaded
    t_wall: float  # wall time of the reload, UTC s
    run: str = ""


class Counters(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="counters"):
    """A live node's counters when it stops (processed, sent, rejected, timing)."""

    node: str
    counters: dict[str, int | float] = {}
    run: str = ""


class Decision(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="decision"):
    """A partner decided on one item of the coordinator's advice, by its engagement policy."""

    node: str  # the partner
    t: float  # UTC s
    advice_id: str
    unit: str  # the partner's own unit
    system_track: int
    area: str
    own_area: bool
    accepted: bool
    reason: str = ""  # why declined
    run: str = ""


class Launch(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="launch"):
    """An interceptor left a partner's unit (recorded by the simulation, which knows truth)."""

    node: str  # the partner owning the unit
    unit: str
    t: float  # launch, UTC s
    t_intercept: float  # planned intercept, UTC s
    shot: int  # 1, or 2 for the second round of shoot-look-shoot
    advice_id: str  # "" when the partner engaged on its own tracks
    threat_class: str  # as the partner's fire control saw it
    cost_usd: float
    truth: str | None = None  # scoring: the object nearest the threat estimate at launch
    run: str = ""


class Intercept(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="intercept"):
    """An interceptor reached its planned intercept point (simulation)."""

    node: str
    unit: str
    t: float  # intercept, UTC s
    t_launch: float  # UTC s
    shot: int
    advice_id: str
    truth: str | None = None  # the object the seeker found in its basket (None: none)
    killed: bool = False
    miss_m: float = float("inf")  # from the aim point to the nearest threat object, m
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
    | Membership
    | Health
    | Trust
    | SuspectTrack
    | Decision
    | Launch
    | Intercept
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
    "Health",
    "Membership",
    "DECODER",
    "Decision",
    "Intercept",
    "Launch",
    "Emit",
    "Event",
    "Leadership",
    "PictureReceived",
    "Rejected",
    "Trust",
    "encode_line",
    "read_events",
    "read_events_file",
    "write_events_file",
]
