"""Engagement figures: a double engagement is two units' rounds going for one object."""

from __future__ import annotations

import numpy as np

from mead.events import Intercept, Launch
from mead.metrics.engagement import engagement_figures
from mead.sim.base import TruthTable

EPOCH = 1_700_000_000.0


def _two_drones() -> TruthTable:
    """Two drones 3 km apart in one stream, both flying for an hour (nothing else needed)."""
    p = np.array([[4.0e6, 3.0e6, 3.6e6], [4.0e6, 3.003e6, 3.6e6]])
    return TruthTable(
        ids=["drone-1", "drone-2"],
        kind=np.array(["drone", "drone"]),
        raid=["r", "r"],
        rcs_m2=np.array([0.1, 0.1]),
        t_start=np.zeros(2),
        t_end=np.full(2, 3_600.0),
        target_area=["A", "A"],
        impact_ecef=p,
        dt=np.full(2, 3_600.0),
        offset=np.array([0, 2]),
        count=np.array([2, 2]),
        samples=np.concatenate([np.repeat(p, 2, axis=0), np.zeros((4, 3))], axis=1),
    )


def _round(unit: str, t: float, fired_at: str, met: str | None) -> list:
    """A round of ``unit`` launched at ``t`` (scenario s) at ``fired_at``, whose seeker
    found ``met`` 600 s later (None: nothing in its basket)."""
    launch = Launch(
        node=unit[:2], unit=unit, t=EPOCH + t, t_intercept=EPOCH + t + 600.0, shot=1,
        advice_id="", threat_class="drone", cost_usd=1.0, truth=fired_at,
    )  # fmt: skip
    hit = Intercept(
        node=unit[:2], unit=unit, t=EPOCH + t + 600.0, t_launch=EPOCH + t, shot=1,
        advice_id="", truth=met, killed=False, miss_m=100.0 if met else 5_000.0,
    )  # fmt: skip
    return [launch, hit]


def _double(*rounds: list) -> int:
    events = [e for r in rounds for e in r]
    return engagement_figures(_two_drones(), events, EPOCH, 7_200.0)["double_engagements"]


def test_a_round_counts_where_its_seeker_went_not_where_it_was_first_aimed() -> None:
    # both fired at drone 1; the patrol's round, guided for ten minutes on a track that
    # moved to drone 2, met drone 2: two rounds, two objects
    assert (
        _double(
            _round("P1-CAP", 0.0, "drone-1", "drone-2"),
            _round("P2-SR", 60.0, "drone-1", "drone-1"),
        )
        == 0
    )
    # both met drone 1 while both flew: a double engagement
    assert (
        _double(
            _round("P1-CAP", 0.0, "drone-2", "drone-1"),
            _round("P2-SR", 60.0, "drone-1", "drone-1"),
        )
        == 1
    )
    # a round whose seeker found nothing met no object: it doubled no one's round
    assert (
        _double(_round("P1-CAP", 0.0, "drone-1", None), _round("P2-SR", 60.0, "drone-1", None))
        == 0
    )
    # one still flying when the run ends counts at the object it was fired at
    flying = _round("P1-CAP", 0.0, "drone-1", None)[:1]
    assert _double(flying, _round("P2-SR", 60.0, "drone-1", "drone-1")) == 1
    # one unit's two rounds, or two units' rounds one after the other, are no double
    d = "drone-1"
    assert _double(_round("P2-SR", 0.0, d, d), _round("P2-SR", 60.0, d, d)) == 0
    assert _double(_round("P1-CAP", 0.0, d, d), _round("P2-SR", 601.0, d, d)) == 0
    # what each round was fired at still decides what was engaged and spent, and the
    # count by launch estimate alone is given beside
    two = _round("P1-CAP", 0.0, "drone-1", "drone-2") + _round("P2-SR", 60.0, "drone-1", None)
    fig = engagement_figures(_two_drones(), two, EPOCH, 7_200.0)
    assert fig["engaged"] == 1 and fig["by_class"]["drone"]["interceptors_spent"] == 2
    assert fig["double_engagements"] == 0 and fig["double_engagements_by_launch"] == 1
