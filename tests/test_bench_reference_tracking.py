"""Smoke test of the reference-tracking benchmark on the small scenario (no timing asserts)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from benchmarks import bench_reference_tracking as bench

from mead.sim.base import KINDS

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def result() -> dict:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert bench.main(["--scenario", str(SMALL), "--json"]) == 0
    return json.loads(buf.getvalue())


def test_structure(result: dict) -> None:
    assert list(result["classes"]) == list(KINDS)
    assert set(result["partners"]) == {"P1", "P2"}
    assert all(list(rows) == list(KINDS) for rows in result["partners"].values())
    assert result["classes"]["ballistic"]["objects"] == 6
    assert result["classes"]["drone"]["objects"] == 4
    assert result["machine"]["versions"]["numpy"]
    for row in result["classes"].values():
        assert row["pairs"] <= 2 * row["objects"] and row["held_once"] <= row["pairs"]
        for key in (
            "coverage_mean",
            "coverage_best_mean",
            "coverage_plots_mean",
            "confirmed_within_3",
        ):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
        assert row["id_changes_mean"] is None or row["id_changes_mean"] >= 0.0


def test_ballistic_missiles_are_held_most_of_their_detectable_flight(result: dict) -> None:
    bm = result["classes"]["ballistic"]
    assert bm["detectable"] == 6
    assert bm["coverage_mean"] > 0.5 and bm["coverage_best_mean"] > 0.5
    assert bm["scans_to_confirm_median"] >= 3  # confirmation needs 3 plots


def test_text_report_per_partner(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--scenario", str(SMALL), "--duration-s", "600", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "ballistic" in out and "partner P1" in out and "partner P2" in out
    assert "machine:" in out


def test_one_to_one_matching() -> None:
    buf = io.StringIO()
    with redirect_stdout(buf):
        args = ["--scenario", str(SMALL), "--duration-s", "900", "--match", "one-to-one", "--json"]
        assert bench.main(args) == 0
    got = json.loads(buf.getvalue())
    assert got["match"] == "one-to-one" and list(got["classes"]) == list(KINDS)
    for row in got["classes"].values():
        assert row["held_once"] <= row["pairs"]
