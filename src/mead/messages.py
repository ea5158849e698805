"""Typed wire messages (msgspec): what crosses a stage or partner boundary, and its array edge.

Every message that travels on a bus is one of the tagged structs in ``Message``; it is
encoded to bytes with :func:`encode` and decoded with :func:`decode`, so no stage depends
on another's Python objects. Wire structs tolerate unknown fields (an older partner keeps
working when a newer one adds a field with a default).

A track's state and covariance travel as packed little-endian float64 (msgpack ``bin``,
on the wire under the names ``x`` and ``P``): thousands of tracks per batch or picture
then cost one bytes object each instead of 42 Python floats, both ways, and become arrays
with one ``np.frombuffer``. In Python they are the fields ``x_f64`` / ``P_f64``; the
properties ``x`` and ``P`` give them as tuples of floats, and ``Track.of`` /
``SystemTrack.of`` build a struct from values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from itertools import chain
from typing import Any, Literal

import msgspec
import numpy as np

from mead.types import Covs, States

TrackClass = Literal["ballistic", "rocket", "cruise", "drone", "aircraft", "unknown"]
TRACK_CLASSES: tuple[TrackClass, ...] = (
    "ballistic",
    "rocket",
    "cruise",
    "drone",
    "aircraft",
    "unknown",
)
THREAT_CLASSES: frozenset[str] = frozenset({"ballistic", "rocket", "cruise", "drone"})
THREAT_ORDER: tuple[TrackClass, ...] = (
    "aircraft",
    "unknown",
    "drone",
    "cruise",
    "rocket",
    "ballistic",
)
"""Classes from least to most threatening. Where two classes of one object meet (fusion of
partners' classes, the coordinator's own against the fused one) the later wins: early
warning prefers a false alarm to a missed threat, so "unknown" outranks "aircraft". The
classifier's hysteresis (a declared class only moves up) uses the same order, with
"unknown" meaning *not yet declared*."""


def most_threatening(a: TrackClass, b: TrackClass) -> TrackClass:
    """The more threatening of two classes (see :data:`THREAT_ORDER`)."""
    return a if THREAT_ORDER.index(a) >= THREAT_ORDER.index(b) else b


SCHEMA_VERSION = 2
"""2: states and covariances as packed float64 (``x_f64``, ``P_f64``), 1: as float arrays."""

_F64 = np.dtype("<f8")
X_BYTES, P_BYTES = 6 * 8, 36 * 8  # a packed state's and covariance's length, bytes


def packed(values: Iterable[float] | np.ndarray) -> bytes:
    """Values as packed little-endian float64, the wire form of a state or covariance."""
    return np.asarray(values, dtype=_F64).tobytes()


def unpacked(buf: bytes) -> tuple[float, ...]:
    """Packed little-endian float64 → floats; ``ValueError`` when the length is not a whole
    number of float64."""
    n, rest = divmod(len(buf), 8)
    if rest:
        raise ValueError(f"{len(buf)} bytes are not a whole number of float64 values")
    return struct.unpack(f"<{n}d", buf)


def packed_rows(a: np.ndarray) -> list[bytes]:
    """(N, …) array → its N rows, each as packed little-endian float64."""
    n = a.shape[0]
    if n == 0:
        return []
    buf = np.ascontiguousarray(a, dtype=_F64).tobytes()
    k = len(buf) // n
    return [buf[i : i + k] for i in range(0, n * k, k)]


def unpacked_rows(rows: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """N packed little-endian float64 rows → a writable (N, *shape) float64 array in native
    order (the inverse of :func:`packed_rows`; the caller has checked each row's length)."""
    flat = np.frombuffer(b"".join(rows), _F64)
    return flat.reshape(len(rows), *shape).astype(np.float64)


class Track(msgspec.Struct, frozen=True, kw_only=True, tag="track"):
    """A releasable track in the shared ECEF frame."""

    track_id: str  # pseudonymous, stable per source
    t: float  # time of validity, UTC s since epoch
    x_f64: bytes = msgspec.field(name="x")  # ECEF [m m m m/s m/s m/s], packed float64
    P_f64: bytes = msgspec.field(name="P")  # 6×6 covariance, row-major, packed float64
    cls: TrackClass = "unknown"  # classification at the source
    quality: float = 1.0  # 0..1, the source's confidence in the track
    confirmed: bool = True  # False for tentative tracks
    sensor_ids: tuple[str, ...] = ()  # contributing sensors; stripped unless policy allows
    sensor_sites: tuple[
        float, ...
    ] = ()  # contributing sensor sites, flat [lat deg, lon deg, alt m]*

    @property
    def x(self) -> tuple[float, ...]:
        """The ECEF state [m m m m/s m/s m/s]."""
        return unpacked(self.x_f64)

    @property
    def P(self) -> tuple[float, ...]:
        """The 6×6 covariance, row-major."""
        return unpacked(self.P_f64)

    @classmethod
    def of(cls, /, *, x: Iterable[float], P: Iterable[float], **fields: Any) -> Track:
        """A track from its state and covariance values (any iterable of floats)."""
        return cls(x_f64=packed(x), P_f64=packed(P), **fields)


class TrackBatch(msgspec.Struct, frozen=True, kw_only=True, tag="tracks"):
    """All tracks one source releases at one instant (one message per release)."""

    source: str  # pseudonym of the sender ("" when anonymised)
    t: float  # release time, UTC s
    tracks: tuple[Track, ...] = ()
    dropped: tuple[str, ...] = ()  # track_ids the source has deleted since its last batch


class SystemTrack(msgspec.Struct, frozen=True, kw_only=True):
    """One object of the coordinator's fused picture, as redistributed to partners.

    It carries no source track ids, sensor ids or sensor sites, and names only the
    contributors whose policy allows naming; see ``docs/architecture.md`` (the picture).
    Its covariance is diag(pos_var_m2 × 3, vel_var_m2s2 × 3): an upper bound of the fused
    one that points nowhere (a radar's error ellipsoid points at the radar). Untagged:
    it only travels inside a ``Picture``, never alone, and a picture holds hundreds.
    """

    stn: int  # system track number at the coordinator, stable per object, never reused
    x_f64: bytes = msgspec.field(name="x")  # ECEF [m m m m/s m/s m/s] at ``t``, packed float64
    pos_var_m2: float  # variance of each ECEF position axis, m²
    vel_var_m2s2: float  # variance of each ECEF velocity axis, m²/s²
    cls: TrackClass = "unknown"  # the coordinator's classification
    quality: float = 1.0  # 0..1, best contributor's quality, to 0.1
    sources: tuple[str, ...] = ()  # pseudonyms of contributors that allow naming, sorted

    @property
    def x(self) -> tuple[float, ...]:
        """The ECEF state [m m m m/s m/s m/s] at the picture's ``t``."""
        return unpacked(self.x_f64)

    @classmethod
    def of(cls, /, *, x: Iterable[float], **fields: Any) -> SystemTrack:
        """A row from its state values (any iterable of floats)."""
        return cls(x_f64=packed(x), **fields)


class Picture(msgspec.Struct, frozen=True, kw_only=True, tag="picture"):
    """The fused system picture the coordinator sends one partner each assessment cycle.

    Latest-value data: each picture replaces the previous one whole (no ``dropped``).
    """

    recipient: str  # pseudonym of the partner it is for
    t: float  # time of validity of every row, UTC s
    tracks: tuple[SystemTrack, ...] = ()  # ascending STN


AlertState = Literal["issued", "updated", "cancelled"]
AlertLevel = Literal["pre", "alert"]
"""``pre``: a pre-alert — the area lies in the threat's wide predicted region, minutes
ahead; ``alert``: the threat is likely to land in (or reach) the area."""


class AlertFields(msgspec.Struct, frozen=True, kw_only=True):
    """The content of an early warning (untagged; :class:`Alert` is what travels, and the
    alert events of ``mead.events`` record it)."""

    alert_id: str  # stable over issue → updates → cancel
    state: AlertState
    t: float  # time of this alert state, UTC s
    recipient: str  # pseudonym of the warned partner
    area: str  # threatened defended area
    system_track: int  # system track number at the issuer
    threat_class: TrackClass
    impact_lat_deg: float  # predicted impact / arrival point
    impact_lon_deg: float
    impact_radius_m: float  # ~95 % radius of the predicted impact area
    t_impact: float  # predicted impact time, UTC s
    tgo_s: float  # time-to-go at ``t``
    track_lat_deg: float = 0.0  # threat position when the alert was made
    track_lon_deg: float = 0.0
    track_alt_m: float = 0.0
    issuer: str = ""  # pseudonym of the issuer (coordinator or the partner itself)
    level: AlertLevel = "alert"  # "pre"-alert to a wide region, or the area "alert" itself
    p_area: float = 1.0  # probability the threat lands in (or reaches) the area
    salvo: str = ""  # alert_id of the first alert of its salvo ("": none), for display
    # every radar that held the threat's track lost its coverage (down, degraded, or its
    # partner silent): the alert stands on its last prediction made with plots until the
    # arrival, however the track coasts or ends
    held: bool = False


class Alert(AlertFields, frozen=True, kw_only=True, tag="alert"):
    """An early warning to the partner owning a threatened defended area."""


class RadarStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Health of one radar, as its partner's policy lets it be told."""

    radar: str  # the radar's id if the policy keeps sensor ids, else "radar-<k>"
    state: str  # "operational", "degraded" (reduced range) or "down"
    reach: float = 1.0  # fraction of its range it still covers (0 down)
    lat_deg: float | None = None  # coverage centre, if the policy keeps sensor sites
    lon_deg: float | None = None
    range_km: float | None = None  # instrumented range, same condition


class Status(msgspec.Struct, frozen=True, kw_only=True, tag="status"):
    """Periodic health of a node: its own state, its radars', and counters.

    A partner sends it to the coordinator when a radar's state changes and every
    ``status_s`` otherwise, so silence itself says the node is down."""

    node: str
    t: float
    counters: dict[str, int] = {}
    state: str = "operational"  # "operational", or "degraded" when a radar is not
    radars: tuple[RadarStatus, ...] = ()
    # track classes its policy may release to the recipient (empty: not said): silence
    # about an object of another class is no evidence against whoever reports it
    releases: tuple[str, ...] = ()


EngageState = Literal["assigned", "engaging", "intercepted", "missed", "declined", "out_of_rounds"]
"""Where one engagement stands at the partner that owns the unit: ``assigned`` (advice
accepted, waiting for its launch window), ``engaging`` (interceptor in flight),
``intercepted``, ``missed`` (no round left in the plan), ``declined`` (by the partner's
engagement policy, or its window closed) or ``out_of_rounds``."""


class AdviceItem(msgspec.Struct, frozen=True, kw_only=True):
    """One recommended engagement: a unit of the recipient's own against a system track.

    Untagged: it only travels inside an :class:`Advice`. It names no other partner and
    none of their units; the threat's state is the coordinator's fused estimate.
    """

    advice_id: str  # stable while the coordinator keeps this (track, unit) pairing
    system_track: int  # STN at the coordinator
    unit: str  # the recipient's own fire-unit id
    shots: int = 1  # 1, or 2: shoot-look-shoot (the second only if the first missed)
    launch_open: float  # earliest launch that meets the threat in the envelope, UTC s
    launch_close: float  # latest such launch, UTC s
    t_intercept: float  # intercept time of a launch at ``launch_open``, UTC s
    intercept: tuple[float, float, float]  # ECEF intercept point of that launch, m
    launch2: float = 0.0  # earliest launch of the second round, UTC s (0: one shot)
    t_intercept2: float = 0.0  # its intercept time, UTC s
    x: tuple[float, ...] = ()  # the threat's fused ECEF state at the advice's ``t``
    t_arrival: float = 0.0  # predicted arrival at the area, UTC s (end of its path)
    aim_lat_deg: float = 0.0  # predicted arrival point (route end, or impact)
    aim_lon_deg: float = 0.0
    threat_class: TrackClass = "unknown"
    area: str = ""  # the defended area it threatens
    own_area: bool = False  # the area is the recipient's own
    # the object threatens another partner's (public) area too, whose owner may defend it
    # on its own: the recipient launches only once a later plan confirms the advice
    contested: bool = False
    p_kill: float = 0.0  # expected kill probability of the advised shots
    value: float = 0.0  # the area's value × probability the threat reaches it


class Advice(msgspec.Struct, frozen=True, kw_only=True, tag="advice"):
    """Everything the coordinator currently advises one partner's units to engage.

    Latest-value data, like the picture: each replaces the previous whole (an item no
    longer listed is withdrawn). Sent every assessment cycle in which the coordinator
    holds a picture, so an empty one still says the coordinator is planning.
    """

    recipient: str  # pseudonym of the partner owning every unit named
    t: float  # time of the plan, UTC s
    items: tuple[AdviceItem, ...] = ()
    # objects some partner's round is already flying at, or advice is about to launch on
    # (by whom is not said): the fused ECEF state [m, m/s] of each, at ``t``, so a partner
    # defending its own areas on its own tracks leaves them alone
    engaged: tuple[tuple[float, ...], ...] = ()
    # the recipient's own released tracks that the coordinator fused into those objects
    # (its own ids back, nothing of anyone else's): left alone by its own defence exactly,
    # however far its estimate lies from the fused one
    engaged_tracks: tuple[str, ...] = ()
    # the recipient's own released tracks of objects that threaten its areas and another
    # partner's too (two owners' own defences could fire at once): its own defence leaves
    # them to the coordinator's plan, which sees both areas, while advice comes
    contested_tracks: tuple[str, ...] = ()
    # the fused ECEF states [m, m/s] at ``t`` of those objects, so that a track of one the
    # recipient started since its last release (tracks of a drone in a dense stream change
    # number often) is left alone too, by where it lies
    contested: tuple[tuple[float, ...], ...] = ()


class EngagementStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where one engagement of a partner's unit stands (untagged, inside ``Engagement``)."""

    advice_id: str  # the advice it answers
    system_track: int  # STN the advice named
    unit: str  # the partner's unit
    state: EngageState
    t: float  # when it entered this state, UTC s
    rounds_left: int = 0  # loaded and reserve rounds the unit has left
    reason: str = ""  # why declined: "policy: hold class drone", "window closed", …
    # an engagement on the partner's own initiative (advice_id "own:…", system_track 0):
    # the threat's ECEF state [m, m/s] at ``t_x``, so the coordinator offers it to nobody else
    x: tuple[float, ...] = ()
    t_x: float = 0.0


class Engagement(msgspec.Struct, frozen=True, kw_only=True, tag="engagement"):
    """A partner's decisions and engagement states for the coordinator's advice.

    Latest-value: each lists every engagement of the last minutes, so a lost one is
    repaired by the next.
    """

    source: str  # the partner's pseudonym
    t: float  # UTC s
    statuses: tuple[EngagementStatus, ...] = ()


Message = TrackBatch | Alert | Status | Picture | Advice | Engagement
"""Every message kind. A new kind (tagged) does not change ``SCHEMA_VERSION``: a node that
does not know it never subscribes to its subject, and one that meets it anyway rejects it
as ``malformed``. The version changes when an existing struct changes incompatibly."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True, tag="env"):
    """What actually travels: a signed, sequenced wrapper around one encoded message."""

    sender: str  # pseudonym
    seq: int  # per-sender, strictly increasing
    t: float  # send time, UTC s
    schema: int = SCHEMA_VERSION
    payload: bytes  # msgpack of one ``Message``
    sig: bytes = b""  # Ed25519 over (sender, seq, t, schema, payload)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Message)


def encode(msg: Message) -> bytes:
    """Encode one message to msgpack bytes."""
    return _ENCODER.encode(msg)


def decode(buf: bytes) -> Message:
    """Decode bytes to a message; malformed input raises msgspec's DecodeError/ValidationError."""
    return _DECODER.decode(buf)


def tracks_to_arrays(tracks: tuple[Track, ...] | list[Track]) -> tuple[States, Covs, np.ndarray]:
    """Tracks → (x (N, 6) ECEF, P (N, 6, 6), t (N,) s), for kernels.

    Raises ``ValueError`` when a track's x does not hold 6 values or its P 36.
    """
    n = len(tracks)
    if any(len(tr.x_f64) != X_BYTES or len(tr.P_f64) != P_BYTES for tr in tracks):
        raise ValueError("tracks: every track needs a state x of 6 values and a P of 36")
    x = unpacked_rows([tr.x_f64 for tr in tracks], (6,))
    P = unpacked_rows([tr.P_f64 for tr in tracks], (6, 6))
    t = np.fromiter((tr.t for tr in tracks), np.float64, count=n)
    return x, P, t


def arrays_to_tracks(
    ids: list[str],
    t: float,
    x: States,
    P: Covs,
    cls: list[TrackClass] | None = None,
    quality: np.ndarray | None = None,
    sensors: list[tuple[str, ...]] | None = None,
    sites: list[tuple[float, ...]] | None = None,
) -> list[Track]:
    """(N, 6) states and (N, 6, 6) covariances at time ``t`` → Track structs.

    ``cls``, ``quality`` (N,), ``sensors`` (N,) contributing sensor ids and ``sites`` (N,)
    their flat [lat deg, lon deg, alt m]* are optional (defaults: unknown, 1.0, none).
    """
    n = len(ids)
    xs, Ps = packed_rows(x), packed_rows(P)
    cl: list[TrackClass] = cls if cls is not None else ["unknown"] * n
    q = quality.tolist() if quality is not None else [1.0] * n
    sens = sensors if sensors is not None else [()] * n
    st = sites if sites is not None else [()] * n
    return [
        Track(
            track_id=i,
            t=t,
            x_f64=a,
            P_f64=b,
            cls=c,
            quality=float(qq),
            sensor_ids=s,
            sensor_sites=ss,
        )
        for i, a, b, c, qq, s, ss in zip(ids, xs, Ps, cl, q, sens, st, strict=True)
    ]


def picture_to_arrays(pic: Picture) -> tuple[np.ndarray, States, Covs]:
    """Picture → (stn (N,) int64, x (N, 6) ECEF, P (N, 6, 6) diagonal), for kernels.

    Raises ``ValueError`` when a row's state has the wrong length, a value is not finite
    or a variance is negative (a malformed picture; the receiver rejects and counts it).
    """
    rows = pic.tracks
    n = len(rows)
    if any(len(tr.x_f64) != X_BYTES for tr in rows):
        raise ValueError("picture: every row needs a state x of 6 values")
    stn = np.fromiter((tr.stn for tr in rows), np.int64, count=n)
    x = unpacked_rows([tr.x_f64 for tr in rows], (6,))
    var = np.fromiter(
        chain.from_iterable((tr.pos_var_m2, tr.vel_var_m2s2) for tr in rows), np.float64, 2 * n
    ).reshape(n, 2)
    if not (np.isfinite(x).all() and np.isfinite(var).all() and np.isfinite(pic.t)):
        raise ValueError("picture: states, variances and time must be finite")
    if (var < 0).any():
        raise ValueError("picture: variances must be >= 0")
    P = np.repeat(var, 3, axis=1)[:, :, None] * np.eye(6)
    return stn, x, P
