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


def test_states_travel_as_packed_float64_under_their_names() -> None:
    """x and P are msgpack bin of little-endian float64 under the keys "x" and "P", and read
    back bit for bit (NaN, -0.0, subnormals included) as tuples and arrays."""
    x = (6.4e6, -0.0, float("nan"), 5e-324, -312.5, 1e300)
    P = tuple(float(i) for i in range(36))
    tr = m.Track.of(track_id="T1", t=3.0, x=x, P=P, cls="drone")
    raw = msgspec.msgpack.decode(m.encode(m.TrackBatch(source="P1", t=3.0, tracks=(tr,))))
    wire = raw["tracks"][0]
    assert wire["x"] == np.array(x, "<f8").tobytes() and len(wire["P"]) == 36 * 8
    assert "x_f64" not in wire
    back = m.decode(m.encode(m.TrackBatch(source="P1", t=3.0, tracks=(tr,))))
    assert isinstance(back, m.TrackBatch)
    assert back.tracks[0] == tr and back.tracks[0].P == P
    assert np.array_equal(np.array(back.tracks[0].x), np.array(x), equal_nan=True)
    xs, Ps, _ = m.tracks_to_arrays(back.tracks)
    assert xs.flags.writeable and Ps.flags.writeable  # the kernels may work in place
    finite = (6.4e6, -0.0, 1.5, 5e-324, -312.5, 1e300)  # a picture holds finite states only
    row = m.SystemTrack.of(stn=7, x=finite, pos_var_m2=4.0, vel_var_m2s2=1.0)
    pic = m.decode(m.encode(m.Picture(recipient="P2", t=3.0, tracks=(row,))))
    assert isinstance(pic, m.Picture) and pic.tracks == (row,) and row.x == finite
    stn, xp, _ = m.picture_to_arrays(pic)
    assert stn.tolist() == [7] and xp.tolist() == [list(finite)] and xp.flags.writeable


def test_a_state_of_the_wrong_size_or_an_old_float_array_is_named() -> None:
    """A state or covariance whose bytes are not 6 or 36 float64 — even not a whole number
    of them — and a schema-1 sender's float array are errors that say what is wrong."""
    good = m.Track.of(track_id="T1", t=0.0, x=(1.0,) * 6, P=(1.0,) * 36)
    short = msgspec.structs.replace(good, x_f64=good.x_f64[:47])
    with pytest.raises(ValueError, match="6 values and a P of 36"):
        m.tracks_to_arrays([good, short])
    with pytest.raises(ValueError, match="47 bytes are not a whole number of float64"):
        short.x  # noqa: B018
    old = {"type": "tracks", "source": "P1", "t": 0.0,
           "tracks": [{"type": "track", "track_id": "T1", "t": 0.0, "x": [1.0] * 6,
                       "P": [1.0] * 36}]}  # fmt: skip
    with pytest.raises(msgspec.ValidationError, match=r"Expected `bytes`.*`\$.tracks\[0\].x`"):
        m.decode(msgspec.msgpack.encode(old))
