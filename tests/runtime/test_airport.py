"""End to end on the airport scenario: a busy airport inside a defended area, departures
and arrivals every few minutes, and a small raid: no civil flight is ever alerted, no alert
is about nothing, and every threat aimed at the capital is warned."""

from __future__ import annotations

from pathlib import Path

import pytest

from mead.metrics.evaluation import run_scored, summarize
from mead.runtime.simulation import World, prepare
from mead.scenario import load_scenario

AIRPORT = Path(__file__).resolve().parents[2] / "scenarios" / "airport.yaml"


@pytest.fixture(scope="module")
def summary() -> dict:
    sc = load_scenario(AIRPORT)
    world: World = prepare(sc, sc.seed, AIRPORT)
    results = run_scored(world, jobs=2)
    return summarize(world, results, wall_s=1.0)


def test_civil_traffic_is_never_alerted(summary: dict) -> None:
    assert summary["civil"]["flights"] > 20
    assert summary["civil"]["alerted"] == {"alliance": 0, "national": 0}
    assert summary["alerts_about_nothing"] == {"alliance": 0, "national": 0}


def test_every_threat_is_still_warned_in_the_alliance(summary: dict) -> None:
    for c, r in summary["classes"].items():
        assert r["warned"]["alliance"] == r["launched"], c
