"""The coordinator marks a partner whose tracks are consistently offset from the others',
and a track only one partner holds inside the others' declared coverage."""

from __future__ import annotations

import numpy as np
import pytest

from fusion._fakes import LAT0, LON0, at, batch, noisy, place, random_cov, truth
from fusion.test_bias import OFFSET
from mead.events import SuspectTrack, Trust
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.fusion.siap import SystemTracker
from mead.fusion.trust import DeclaredCoverage
from mead.messages import Status
from mead.runtime.node import CoordinatorNode
from mead.runtime.simulation import SimClock
from mead.scenario.schema import Point, Sensor
from mead.sensors.radar import Radar
from mead.threat.assessor import Assessor

T0 = 1_700_000_000.0


def test_offset_partner_is_marked_suspect_and_cleared_when_it_is_fixed() -> None:
    rng = np.random.default_rng(3)
    clock = SimClock(T0)
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    names = ("P1", "P2", "P3", "C0")
    ids = {n: Identity.generate(n, seed=n.encode().ljust(32, b"-")) for n in names}
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    events: list[object] = []
    coord = CoordinatorNode(
        identity=ids["C0"], endpoint=bus.connect("C0"),
        opener=Opener(reg, max_age_s=300, clock=clock), assessor=Assessor.for_areas("C0", []),
        assess_s=2.0, fuser=SystemTracker(), emit=events.append, bias_s=10.0,
    )  # fmt: skip
    ends = {n: bus.connect(n) for n in ("P1", "P2", "P3")}
    x0 = truth(30, rng)
    seen = {n: np.flatnonzero(rng.random(30) < 0.8) for n in ends}
    P = {n: random_cov(seen[n].size, rng, 100.0, 5.0) for n in ends}
    for k in range(60):  # 60 s, a release a second; P3 fixes its registration at 30 s
        clock.t = float(k)
        for n, ep in ends.items():
            x = noisy(at(x0[seen[n]], clock.t), P[n], rng)
            if n == "P3" and k < 30:
                x[:, :3] += OFFSET
            b = batch("", [f"T{i}" for i in seen[n]], x, P[n], clock())
            ep.publish("tracks.C0", seal(ids[n], b, clock()))
        coord.step(clock())
    trust = [e for e in events if isinstance(e, Trust)]
    assert [(e.partner, e.suspect) for e in trust] == [("P3", True), ("P3", False)]
    first = trust[0]
    assert abs(first.offset_m - np.linalg.norm(OFFSET)) < 0.2 * np.linalg.norm(OFFSET)
    # estimates every 10 s: the first with data at 10 s; cleared at the first estimate
    # after P3's corrected tracks replaced its offset ones
    assert first.t - T0 == 10.0 and 30.0 <= trust[1].t - T0 <= 40.0
    assert coord.suspect == set()


@pytest.mark.parametrize("witness_releases", [(), ("drone",)])
def test_a_ghost_inside_the_others_coverage_is_judged_suspect_and_named(
    witness_releases: tuple[str, ...],
) -> None:
    """P3 alone releases a missile 165 km out where P1's and P2's radars would see it: held
    back, then suspect, the witnesses named. Witnesses whose Status says they release only
    drones say nothing by their silence about a missile: then it is not judged."""
    rng = np.random.default_rng(4)
    clock = SimClock(T0)
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    names = ("P1", "P2", "P3", "C0")
    ids = {n: Identity.generate(n, seed=n.encode().ljust(32, b"-")) for n in names}
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    site = Point(lat_deg=LAT0, lon_deg=LON0, alt_m=500.0)
    radars = {n: [Radar(Sensor(id=f"{n}-R", site=site, range_km=400.0), n)] for n in names[:3]}
    events: list[object] = []
    coord = CoordinatorNode(
        identity=ids["C0"], endpoint=bus.connect("C0"),
        opener=Opener(reg, max_age_s=300, clock=clock), assessor=Assessor.for_areas("C0", []),
        assess_s=2.0, fuser=SystemTracker(), emit=events.append,
        coverage=DeclaredCoverage(radars), corroborate_s=20.0,
    )  # fmt: skip
    ends = {n: bus.connect(n) for n in names[:3]}
    x0 = truth(10, rng, spread_m=50_000.0)
    ghost = place(np.array([LAT0 + 1.5]), np.array([LON0]), np.array([9_000.0]),
                  np.array([3.0]), np.array([250.0]))  # fmt: skip
    P = random_cov(11, rng, 100.0, 5.0)
    for n in ("P1", "P2"):
        st = Status(node=n, t=clock(), releases=witness_releases)
        ends[n].publish("status.C0", seal(ids[n], st, clock()))
    for k in range(40):
        clock.t = float(k)
        for n, ep in ends.items():
            x = at(np.vstack([x0, ghost]) if n == "P3" else x0, clock.t)
            m = len(x)
            cls = ["unknown"] * 10 + ["ballistic"] * (m - 10)  # the ghost: a missile
            xn = noisy(x, P[:m], rng)
            b = batch("", [f"T{i}" for i in range(m)], xn, P[:m], clock(), cls=cls)
            ep.publish("tracks.C0", seal(ids[n], b, clock()))
        coord.step(clock())
    if witness_releases:
        assert not [e for e in events if isinstance(e, SuspectTrack)]
        return
    (ev,) = [e for e in events if isinstance(e, SuspectTrack)]
    assert ev.suspect and ev.sources == ("P3",) and ev.witnesses == ("P1", "P2")
    assert 20.0 <= ev.t - ev.since <= 24.0 and "P1, P2" in ev.reason
    assert abs(ev.lat_deg - LAT0 - 1.5) < 0.05 and coord.corroboration.suspect == {ev.system_track}
