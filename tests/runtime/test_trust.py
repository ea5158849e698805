"""The coordinator marks a partner whose tracks are consistently offset from the others'."""

from __future__ import annotations

import numpy as np

from fusion._fakes import at, batch, noisy, random_cov, truth
from fusion.test_bias import OFFSET
from mead.events import Trust
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.fusion.siap import SystemTracker
from mead.runtime.node import CoordinatorNode
from mead.runtime.simulation import SimClock
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
