"""The federation stage end to end: release → seal → bus → open → anonymise, on a sim clock."""

from __future__ import annotations

import numpy as np

from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.federation.policy import Policy, Releaser, anonymise, decode_policy
from mead.messages import Track, TrackBatch
from mead.scenario.schema import Link

T0 = 1_713_038_400.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def test_partner_releases_reach_the_coordinator_signed_and_policed() -> None:
    clock = Clock()
    ids = {n: Identity.generate(n, seed=bytes([k + 1]) * 32) for k, n in enumerate(["P1", "C0"])}
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    bus = InProcessBus(clock, [Link(src="P1", dst="C0", loss=0.1)], np.random.default_rng(2))
    p1, c0 = bus.connect("P1"), bus.connect("C0")
    inbox = c0.subscribe("tracks.C0")
    opener = Opener(reg, max_age_s=30.0, clock=clock)
    rel = Releaser(decode_policy("partner: P1\nrules: [{to: [C0], classes: [ballistic]}]"))
    got: list[TrackBatch] = []
    for k in range(200):
        clock.t = T0 + k
        tracks = [
            Track.of(
                track_id="T1",
                t=clock(),
                x=(6e6 + k, 1.0, 1.0, 0.0, 0.0, 0.0),
                P=(0.0,) * 36,
                cls="ballistic",
                sensor_ids=("P1-S1",),
            ),
            Track.of(
                track_id="T2",
                t=clock(),
                x=(6e6, 2.0, 2.0, 0.0, 0.0, 0.0),
                P=(0.0,) * 36,
                cls="aircraft",
            ),
        ]
        for recipient, batch in rel.release(tracks, clock()).items():
            p1.publish(f"tracks.{recipient}", seal(ids["P1"], batch, clock()))
        for _, data in inbox.drain():
            env, msg = opener.open(data)
            assert env.sender == "P1" and isinstance(msg, TrackBatch)
            got.append(msg)
    lost = bus.lost[("P1", "C0")]
    assert len(got) + lost == 200 - 1  # the last release is still in flight
    assert 0 < lost < 40 and not opener.rejected
    assert all([tr.track_id for tr in b.tracks] == ["T1"] for b in got)
    assert all(tr.sensor_ids == () for b in got for tr in b.tracks)
    assert all(b.source == "" for b in got)
    fwd = anonymise(got[0], key=b"coordinator-secret-key", source="P1")
    assert fwd.source == "" and fwd.tracks[0].track_id != "T1"


def test_national_runs_put_nothing_on_the_bus() -> None:
    clock = Clock()
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    rel = Releaser(Policy.nothing("P1"))
    tr = Track.of(track_id="T", t=T0, x=(6e6, 0.0, 0.0, 0.0, 0.0, 0.0), P=(0.0,) * 36)
    assert rel.release([tr], T0) == {} and bus.published == 0
