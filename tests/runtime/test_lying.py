"""End to end on scenarios/lying.yaml: one partner 2 km off, one releasing ghost ballistic
missiles at another partner's capital. With the coordinator checking partners' data: no
alert caused by a ghost, the offset estimated within 20 %, every real threat still warned
as in the same world without the liars (``mead.metrics.trust``,
``python -m benchmarks.bench_trust``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from mead.events import Trust
from mead.metrics.trust import VARIANTS, run_variant, true_offsets_m
from mead.runtime.simulation import prepare, run_mode
from mead.scenario import load_scenario

LYING = Path(__file__).resolve().parents[2] / "scenarios" / "lying.yaml"
QUICK_S = 660.0
"""The ghosts fly from 420 s (the last from 500 s: judged suspect 90 s after it appears)
and are alerted on within a minute when believed; the missiles' warnings all come before
300 s (arrivals are judged from the truth)."""


def _check(run: dict[str, dict[str, Any]]) -> None:
    checked, honest, believed = run["checked"], run["honest"], run["believed"]
    assert believed["ghost_alerts"] >= 1  # the lie works on a coordinator that believes
    assert checked["ghost_alerts"] == 0 and checked["alerts_about_nothing"] == 0
    assert checked["suspect_tracks"]["ghost"] == 3  # each ghost judged
    est = checked["estimated_offset_m"]
    true = checked["true_offset_m"]["P3"]
    assert set(est) == {"P3"}  # no honest partner estimated off
    assert all(abs(e - true) < 0.2 * true for e in est["P3"])
    for c, f in honest["classes"].items():
        got = checked["classes"][c]
        assert got["warned"] == f["warned"], c
        assert got["mean_warning_s"] >= f["mean_warning_s"] - 30.0, c


@pytest.fixture(scope="module")
def seed7() -> dict[str, dict[str, Any]]:
    return {v: run_variant(LYING, 7, v, QUICK_S) for v in VARIANTS}


def test_no_ghost_alerts_bias_within_20_percent_real_threats_warned(
    seed7: dict[str, dict[str, Any]],
) -> None:
    _check(seed7)


def test_a_believed_liar_costs_duplicate_and_ghost_alerts(
    seed7: dict[str, dict[str, Any]],
) -> None:
    honest, believed, checked = seed7["honest"], seed7["believed"], seed7["checked"]
    assert believed["estimated_offset_m"]["P3"]  # measured, but not acted on
    # P3's tracks unfused with the others' (duplicates) and the ghosts; checked, at most a
    # duplicate where a track held back joined late (7 honest, 8 checked, 15 believed)
    assert believed["alerts_issued"] >= checked["alerts_issued"] + 5
    assert checked["alerts_issued"] <= honest["alerts_issued"] + 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_more_seeds(seed: int) -> None:
    _check({v: run_variant(LYING, seed, v) for v in VARIANTS})


def test_two_partners_are_registered_against_adsb() -> None:
    """Only P1 and P3 release tracks (P2 and P4 receive only, and P4 tells no lies): two
    partners cannot say which of them is off, but the aircraft whose ADS-B they forward
    can. P3 is found 2 km off within 20 %, and corrected; P1 is not."""
    sc = load_scenario(LYING)
    parts = [
        p if p.name in ("P1", "P3") else msgspec.structs.replace(p, sensors=[], deception=None)
        for p in sc.partners
    ]
    sc = msgspec.structs.replace(sc, partners=parts, duration_s=QUICK_S)
    world = prepare(sc, 7, LYING)
    trust = [e for e in run_mode(world, "alliance").events if isinstance(e, Trust)]
    assert {e.partner for e in trust} == {"P3"}
    first = trust[0]
    assert first.suspect and first.corrected
    true = true_offsets_m(world)["P3"]
    assert abs(first.offset_m - true) < 0.2 * true
