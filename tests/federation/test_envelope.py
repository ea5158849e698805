"""Envelopes: round trip, and every kind of bad message rejected with its reason and counted."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from mead.errors import RejectedMessage
from mead.federation.envelope import REASONS, Opener, seal, signed_bytes
from mead.federation.identity import Identity, KeyRegistry
from mead.messages import SCHEMA_VERSION, Alert, Envelope, Status, Track, TrackBatch

T0 = 1_713_038_400.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def ident(name: str, k: int) -> Identity:
    return Identity.generate(name, seed=bytes([k]) * 32)


@pytest.fixture
def world() -> tuple[Identity, Identity, Opener, Clock]:
    p1, c0 = ident("P1", 1), ident("C0", 2)
    clock = Clock()
    reg = KeyRegistry({i.name: i.verify_key for i in (p1, c0)})
    return p1, c0, Opener(reg, max_age_s=60.0, clock=clock), clock


def batch(n: int = 2) -> TrackBatch:
    tracks = tuple(
        Track.of(track_id=f"T{i}", t=T0, x=(1e6 * i, 2.0, 3.0, 4.0, 5.0, 6.0), P=(1.0,) * 36)
        for i in range(n)
    )
    return TrackBatch(source="P1", t=T0, tracks=tracks)


def reject(opener: Opener, data: object) -> RejectedMessage:
    with pytest.raises(RejectedMessage) as e:
        opener.open(data)  # type: ignore[arg-type]
    return e.value


def raw(data: bytes) -> Envelope:
    return msgspec.msgpack.decode(data, type=Envelope)


def resign(env: Envelope, signer: Identity, **changes: object) -> bytes:
    """Re-encode ``env`` with ``changes``, signed (validly) by ``signer``."""
    env = msgspec.structs.replace(env, **changes)
    sig = signer.sign(signed_bytes(env.sender, env.seq, env.t, env.schema, env.payload))
    return msgspec.msgpack.encode(msgspec.structs.replace(env, sig=sig))


def test_round_trip_of_every_message_kind(world) -> None:
    p1, c0, opener, _ = world
    alert = Alert(
        alert_id="a1",
        state="issued",
        t=T0,
        recipient="P1",
        area="HQ",
        system_track=7,
        threat_class="ballistic",
        impact_lat_deg=31.0,
        impact_lon_deg=35.0,
        impact_radius_m=900.0,
        t_impact=T0 + 300,
        tgo_s=300.0,
    )
    for sender, msg in ((p1, batch()), (c0, alert), (p1, Status(node="P1", t=T0))):
        env, got = opener.open(seal(sender, msg, T0))
        assert got == msg
        assert (env.sender, env.schema, env.t) == (sender.name, SCHEMA_VERSION, T0)
    assert opener.accepted == 3 and not opener.rejected


def test_seq_increases_per_identity(world) -> None:
    p1, c0, opener, _ = world
    seqs = [opener.open(seal(p1, batch(), T0))[0].seq for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert opener.open(seal(c0, batch(), T0))[0].seq == 1


def test_forged_by_an_unregistered_key_claiming_a_pseudonym(world) -> None:
    _, _, opener, _ = world
    mallory = Identity.generate("P1", seed=b"m" * 32)  # claims P1 with her own key
    e = reject(opener, seal(mallory, batch(), T0))
    assert (e.reason, e.origin) == ("bad_signature", "P1")
    assert opener.rejected == {"bad_signature": 1}


def test_tampered_payload_and_fields_are_bad_signatures(world) -> None:
    p1, _, opener, _ = world
    good = seal(p1, batch(), T0)
    env = raw(good)
    flipped = bytearray(env.payload)
    flipped[len(flipped) // 2] ^= 0x01
    cases = [
        msgspec.structs.replace(env, payload=bytes(flipped)),
        msgspec.structs.replace(env, seq=env.seq + 1),
        msgspec.structs.replace(env, t=env.t + 1.0),
        msgspec.structs.replace(env, sender="C0"),  # re-attributed to another registered node
    ]
    for bad in cases:
        assert reject(opener, msgspec.msgpack.encode(bad)).reason == "bad_signature"
    assert opener.rejected == {"bad_signature": 4}
    assert opener.open(good)[1] == batch()  # the untouched original still opens


def test_every_single_byte_flip_is_rejected_or_harmless(world) -> None:
    """A flip either is rejected with a known reason or leaves every signed field intact
    (e.g. it renamed the optional ``type`` key, which wire structs ignore)."""
    p1, _, opener, _ = world
    good = seal(p1, batch(1), T0)
    want = (raw(good), batch(1))
    harmless = 0
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x20
        try:
            got = opener.open(bytes(bad))
        except RejectedMessage as e:
            assert e.reason in REASONS
        else:
            assert got == want
            harmless += 1
    assert sum(opener.rejected.values()) + harmless == len(good)
    assert harmless <= 4 and opener.rejected["bad_signature"] > len(good) // 2


def test_same_bytes_twice_is_a_duplicate(world) -> None:
    p1, _, opener, _ = world
    data = seal(p1, batch(), T0)
    opener.open(data)
    e = reject(opener, data)
    assert (e.reason, e.origin) == ("duplicate", "P1")
    assert opener.rejected == {"duplicate": 1} and opener.accepted == 1


def test_reordered_within_the_window_is_accepted_older_is_replayed() -> None:
    p1 = ident("P1", 1)
    clock = Clock()
    opener = Opener(KeyRegistry({"P1": p1.verify_key}), max_age_s=60.0, clock=clock, window=8)
    sealed = [seal(p1, Status(node="P1", t=T0), T0) for _ in range(20)]
    for k in (0, 2, 1, 5, 3, 4):  # reordered across streams, all new
        assert opener.open(sealed[k])[0].seq == k + 1
    opener.open(sealed[19])  # newest seq 20; the window of 8 holds 13..20
    assert opener.open(sealed[12])[0].seq == 13  # in the window, not seen yet
    assert reject(opener, sealed[12]).reason == "duplicate"
    assert reject(opener, sealed[19]).reason == "duplicate"
    assert reject(opener, sealed[6]).reason == "replayed"  # seq 7, never seen, below the window
    assert reject(opener, sealed[5]).reason == "replayed"  # seq 6, accepted long ago
    assert opener.rejected == {"duplicate": 2, "replayed": 2} and opener.accepted == 8


def test_stale_and_future_messages(world) -> None:
    p1, _, opener, clock = world
    old, future, ok = (
        seal(p1, batch(), T0 - 61.0),
        seal(p1, batch(), T0 + 6.0),
        seal(p1, batch(), T0 - 59.0),
    )
    assert "s ago" in reject(opener, old).detail
    assert "future" in reject(opener, future).detail
    assert opener.rejected == {"stale": 2}
    opener.open(ok)
    clock.t = T0 + 2.0
    opener.open(future)  # within the 5 s skew now, and its seq is newer
    assert opener.accepted == 2


def test_unknown_sender_and_removed_sender(world) -> None:
    p1, _, opener, _ = world
    stranger = Identity.generate("P9", seed=b"s" * 32)
    e = reject(opener, seal(stranger, batch(), T0))
    assert (e.reason, e.origin) == ("unknown_sender", "P9")
    opener.registry.remove("P1")
    assert reject(opener, seal(p1, batch(), T0)).reason == "unknown_sender"
    assert opener.rejected == {"unknown_sender": 2}


def test_unsupported_schema(world) -> None:
    p1, _, opener, _ = world
    data = resign(raw(seal(p1, batch(), T0)), p1, schema=SCHEMA_VERSION + 1)
    e = reject(opener, data)
    assert e.reason == "schema" and f"schema {SCHEMA_VERSION + 1}" in e.detail


def test_validly_signed_garbage_payload_is_malformed(world) -> None:
    p1, _, opener, _ = world
    env = raw(seal(p1, batch(), T0))
    for payload in (b"\xc1", msgspec.msgpack.encode({"type": "nope"}), b""):
        assert reject(opener, resign(env, p1, payload=payload)).reason == "malformed"
    assert opener.open(resign(env, p1, seq=env.seq))[1] == batch()  # seq not used up


def test_garbage_bytes_are_malformed(world) -> None:
    p1, _, opener, _ = world
    rng = np.random.default_rng(5)
    good = seal(p1, batch(), T0)
    env = raw(good)
    garbage: list[object] = [
        b"",
        b"\x00",
        b"\xff" * 10,
        "a string",
        None,
        42,
        good[: len(good) // 2],
        msgspec.msgpack.encode([1, 2, 3]),
        msgspec.msgpack.encode({"type": "env", "sender": "P1"}),
        msgspec.msgpack.encode(msgspec.structs.replace(env, sig=env.sig[:10])),
        msgspec.msgpack.encode(msgspec.structs.replace(env, t=float("nan"))),
        msgspec.msgpack.encode(msgspec.structs.replace(env, seq=0)),
        *(rng.bytes(int(n)) for n in rng.integers(1, 400, 200)),
    ]
    for g in garbage:
        assert reject(opener, g).reason == "malformed"
    assert opener.rejected == {"malformed": len(garbage)}


def test_opener_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="'max_age_s' must be > 0 s"):
        Opener(KeyRegistry(), max_age_s=0.0, clock=lambda: 0.0)
