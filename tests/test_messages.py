"""Wire messages: round trips, the array edge, and tolerance of unknown fields."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from mead import messages as m


def test_track_batch_round_trip_through_arrays() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6))
    A = rng.normal(size=(3, 6, 6))
    P = A @ A.swapaxes(1, 2)
    tracks = m.arrays_to_tracks(["a", "b", "c"], 12.5, x, P, ["drone", "cruise", "unknown"])
    batch = m.TrackBatch(source="P1", t=12.5, tracks=tuple(tracks))
    back = m.decode(m.encode(batch))
    assert back == batch
    x2, P2, t2 = m.tracks_to_arrays(back.tracks)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(P2, P)
    np.testing.assert_array_equal(t2, 12.5)


def test_unknown_fields_from_a_newer_partner_are_tolerated() -> None:
    raw = msgspec.msgpack.encode({"type": "status", "node": "P1", "t": 1.0, "future": [1, 2]})
    assert m.decode(raw) == m.Status(node="P1", t=1.0)


def test_malformed_bytes_raise_msgspec_errors() -> None:
    with pytest.raises(msgspec.DecodeError):
        m.decode(b"\xc1garbage")
    with pytest.raises(msgspec.ValidationError, match=r"Invalid value 'nope' - at `\$.type`"):
        m.decode(msgspec.msgpack.encode({"type": "nope"}))
