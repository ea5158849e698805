"""Tests of node plumbing that needs no bus: release chunking."""

from __future__ import annotations

import numpy as np

from mead.federation.envelope import seal
from mead.federation.identity import Identity
from mead.messages import Track, TrackBatch
from mead.runtime.node import MAX_BATCH_TRACKS, chunks

NATS_MAX_PAYLOAD = 1024 * 1024  # nats-server's default max_payload, bytes


def batch(n: int) -> TrackBatch:
    rng = np.random.default_rng(0)
    tracks = tuple(
        Track.of(
            track_id=f"P1-T{i:06d}",
            t=1.7e9,
            x=tuple((rng.random(6) * 1e6).tolist()),
            P=tuple(rng.random(36).tolist()),
            cls="ballistic",
            quality=0.9,
            sensor_ids=("P1-EW1", "P1-S1"),
            sensor_sites=(33.1, 44.2, 100.0, 34.0, 45.0, 120.0),
        )
        for i in range(n)
    )
    return TrackBatch(source="P1", t=1.7e9, tracks=tracks, dropped=("P1-T999999",))


def test_a_large_release_goes_as_messages_under_the_server_payload_limit() -> None:
    big = batch(2 * MAX_BATCH_TRACKS + 500)
    parts = list(chunks(big, MAX_BATCH_TRACKS))
    assert [len(p.tracks) for p in parts] == [MAX_BATCH_TRACKS, MAX_BATCH_TRACKS, 500]
    assert sum((p.tracks for p in parts), ()) == big.tracks
    assert parts[0].dropped == big.dropped and not parts[1].dropped and not parts[2].dropped
    me = Identity.generate("P1")
    assert all(len(seal(me, p, 1.7e9)) < NATS_MAX_PAYLOAD for p in parts)
    assert len(seal(me, big, 1.7e9)) > NATS_MAX_PAYLOAD  # why chunking is needed


def test_a_small_release_is_one_message() -> None:
    small = batch(3)
    assert list(chunks(small, MAX_BATCH_TRACKS)) == [small]
