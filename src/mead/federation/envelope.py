"""Signed envelopes: sealing a message for the network and opening (verifying) what arrives.

``seal`` wraps one encoded :data:`mead.messages.Message` in an :class:`~mead.messages.Envelope`
signed with the sender's Ed25519 key over a canonical encoding of
``(sender, seq, t, schema, payload)``. ``Opener.open`` checks, in this order, and rejects
with :class:`~mead.errors.RejectedMessage` whose ``reason`` is one of

==================  ==============================================================
``malformed``       not an envelope, non-finite time, or a payload that is not a Message
``schema``          an envelope schema version this node does not speak
``unknown_sender``  the pseudonym is not in the key registry
``bad_signature``   the signature does not verify (forged or tampered)
``stale``           sent more than ``max_age_s`` ago, or more than ``max_skew_s`` ahead
``duplicate``       this exact (sender, seq) was already accepted (at-least-once redelivery)
``replayed``        seq too far below the sender's newest to be told from a replay
==================  ==============================================================

Sequence numbers are checked with a sliding window (as IPsec and DTLS do): a seq above the
sender's newest is accepted; one within ``window`` below it is accepted once, so messages
of one sender that arrive reordered across streams or subjects are not lost; anything
older is ``replayed``. Only accepted envelopes advance the window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import msgspec
import nacl.exceptions

from mead.errors import RejectedMessage, check
from mead.federation.identity import Identity, KeyRegistry
from mead.messages import SCHEMA_VERSION, Envelope, Message, decode, encode

SIG_DOMAIN = b"MEAD envelope v1\x00"
"""Prefix of every signed byte string, so a MEAD signature is never valid for anything else."""
REASONS: tuple[str, ...] = (
    "malformed",
    "schema",
    "unknown_sender",
    "bad_signature",
    "stale",
    "duplicate",
    "replayed",
)

_ENV_ENCODER = msgspec.msgpack.Encoder()
_ENV_DECODER = msgspec.msgpack.Decoder(Envelope)


def signed_bytes(sender: str, seq: int, t: float, schema: int, payload: bytes) -> bytes:
    """The canonical bytes an envelope signature covers: domain ‖ msgpack array of fields."""
    return SIG_DOMAIN + _ENV_ENCODER.encode((sender, seq, float(t), schema, payload))


def seal(identity: Identity, msg: Message, t: float) -> bytes:
    """Encode, sequence and sign ``msg`` from ``identity`` at send time ``t`` (UTC s).

    Returns the msgpack bytes of the :class:`~mead.messages.Envelope`.
    """
    payload = encode(msg)
    seq = identity.next_seq()
    sig = identity.sign(signed_bytes(identity.name, seq, t, SCHEMA_VERSION, payload))
    env = Envelope(
        sender=identity.name, seq=seq, t=float(t), schema=SCHEMA_VERSION, payload=payload, sig=sig
    )
    return _ENV_ENCODER.encode(env)


class _Window:
    """Anti-replay window of one sender: newest accepted seq and a bitmask of those below it."""

    __slots__ = ("top", "mask")

    def __init__(self) -> None:
        self.top = 0  # newest accepted seq (0: none yet; seq starts at 1)
        self.mask = 0  # bit i set ⇔ seq top − i was accepted

    def check(self, seq: int, window: int) -> str | None:
        """The rejection reason for ``seq``, or None when it is new."""
        if seq > self.top:
            return None
        off = self.top - seq
        if off >= window:
            return "replayed"
        return "duplicate" if (self.mask >> off) & 1 else None

    def accept(self, seq: int, window: int) -> None:
        if seq > self.top:
            shift = seq - self.top
            self.mask = ((self.mask << shift) | 1) & ((1 << window) - 1)
            self.top = seq
        else:
            self.mask |= 1 << (self.top - seq)


class Opener:
    """Verifies and unwraps envelopes for one node, counting every rejection by reason.

    Parameters
    ----------
    registry
        Verify keys of the senders this node accepts.
    max_age_s
        Reject envelopes sent longer ago than this, s.
    clock
        Wire time now, UTC s (the scenario clock in simulation, wall clock live).
    max_skew_s
        Reject envelopes stamped further than this in the future, s.
    window
        How many sequence numbers below a sender's newest are still accepted once.
    """

    def __init__(
        self,
        registry: KeyRegistry,
        max_age_s: float,
        clock: Callable[[], float],
        max_skew_s: float = 5.0,
        window: int = 1024,
    ) -> None:
        check(max_age_s > 0, "max_age_s", "> 0 s", max_age_s)
        check(max_skew_s >= 0, "max_skew_s", ">= 0 s", max_skew_s)
        check(window >= 1, "window", ">= 1", window)
        self.registry, self.clock = registry, clock
        self.max_age_s, self.max_skew_s, self.window = max_age_s, max_skew_s, window
        self.accepted = 0  # envelopes opened successfully
        self.rejected: Counter[str] = Counter()  # reason → envelopes rejected
        self._windows: dict[str, _Window] = {}

    def open(self, data: bytes) -> tuple[Envelope, Message]:
        """Verify ``data`` and return the envelope and its message.

        Raises ``RejectedMessage`` (and nothing else) when the envelope fails any check.
        """
        try:
            env, msg = self._open(data)
        except RejectedMessage as e:
            self.rejected[e.reason] += 1
            raise
        self.accepted += 1
        return env, msg

    def _open(self, data: bytes) -> tuple[Envelope, Message]:
        env = _decode_envelope(data)
        origin = env.sender[:64]
        if env.schema != SCHEMA_VERSION:
            raise RejectedMessage(
                "schema", origin, f"schema {env.schema}, this node speaks {SCHEMA_VERSION}"
            )
        key = self.registry.get(env.sender)
        if key is None:
            raise RejectedMessage("unknown_sender", origin)
        try:
            key.verify(signed_bytes(env.sender, env.seq, env.t, env.schema, env.payload), env.sig)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            raise RejectedMessage("bad_signature", origin) from None
        self._check_time(env, origin)
        win = self._windows.get(env.sender) or _Window()
        why = win.check(env.seq, self.window)
        if why is not None:
            raise RejectedMessage(why, origin, f"seq {env.seq}, newest {win.top}")
        try:
            msg = decode(env.payload)
        except msgspec.DecodeError as e:
            raise RejectedMessage("malformed", origin, f"payload: {e}") from None
        win.accept(env.seq, self.window)
        self._windows[env.sender] = win
        return env, msg

    def _check_time(self, env: Envelope, origin: str) -> None:
        now = self.clock()
        if env.t < now - self.max_age_s:
            raise RejectedMessage(
                "stale", origin, f"sent {now - env.t:.1f} s ago, max {self.max_age_s:g} s"
            )
        if env.t > now + self.max_skew_s:
            raise RejectedMessage(
                "stale",
                origin,
                f"stamped {env.t - now:.1f} s in the future, max {self.max_skew_s:g} s",
            )


def _decode_envelope(data: bytes) -> Envelope:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RejectedMessage("malformed", "?", f"expected bytes, got {type(data).__name__}")
    try:
        env = _ENV_DECODER.decode(data)
    except msgspec.DecodeError as e:
        raise RejectedMessage("malformed", "?", str(e)[:200]) from None
    if not math.isfinite(env.t) or env.seq < 1 or len(env.sig) != 64:
        raise RejectedMessage(
            "malformed", env.sender[:64], "non-finite time, seq < 1 or signature not 64 bytes"
        )
    return env
