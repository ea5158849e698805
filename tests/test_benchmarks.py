"""Smoke tests of the benchmarks: each runs once at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", module, *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_bench_tracking_tiny(tmp_path: Path) -> None:
    """Both trackers (Stone Soup only if installed) on the same generated 4-target scenario."""
    got = run_module(
        "benchmarks.bench_tracking", "--sizes", "4", "--scans", "8", "--data", str(tmp_path)
    )
    assert got["peer"] == (find_spec("stonesoup") is not None)
    (row,) = got["results"]
    assert row["N"] == 4 and "generated" in row["source"]
    trackers = ["mead", "stonesoup"] if got["peer"] else ["mead"]
    for name in trackers:
        r = row[name]
        assert r["scans"] == 8 and r["truths_last_scan"] == 4
        assert r["gospa_mean_m"] > 0 and r["plots_per_s"] > 0
    assert got["machine"]["versions"]["numpy"]


def test_bench_tracking_without_peer(tmp_path: Path) -> None:
    got = run_module(
        "benchmarks.bench_tracking", "--sizes", "3", "--scans", "5", "--data", str(tmp_path),
        "--no-peer",
    )  # fmt: skip
    assert got["peer"] is False and "stonesoup" not in got["results"][0]


def test_bench_scaling_tiny() -> None:
    got = run_module("benchmarks.bench_scaling", "--sizes", "20", "40", "--scans", "6")
    assert [r["N"] for r in got["results"]] == [20, 40]
    assert all(r["steady_time_per_scan_s"] > 0 for r in got["results"])
    assert isinstance(got["exponent"], float)


def test_bench_warning_tiny(tmp_path: Path) -> None:
    """Runs MEAD on the small scenario and reads the folder back: every figure is there."""
    out = subprocess.run(
        [sys.executable, "-m", "mead.cli", "run", "scenarios/small.yaml", "--out", str(tmp_path),
         "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert "efficiency" in out.stdout
    got = run_module(
        "benchmarks.bench_warning", "--scenario", "scenarios/small.yaml", f"now={tmp_path}"
    )
    now = got["results"]["now"]
    assert set(now) == {"alliance", "national"}
    assert now["alliance"]["classes"]["ballistic"]["alerts"] > 0
    assert all(0.0 <= r["inside_95"] <= 1.0 for r in now["alliance"]["impact"])


def test_bench_calibration_tiny() -> None:
    got = run_module("benchmarks.bench_calibration", "--seeds", "1", "--missiles", "1")
    assert set(got["results"]) == {"fit", "track"}
    assert got["results"]["fit"] and got["meta"]["beta_kg_m2"]


def test_bench_seeds_one_seed_of_the_airport() -> None:
    """One seed of the airport scenario: civil flights and false tracks are counted, and
    every threat class the scenario launches has its row."""
    got = run_module("benchmarks.bench_seeds", "--scenario", "scenarios/airport.yaml",
                     "--seeds", "3")  # fmt: skip
    (row,) = got["rows"]
    assert row["seed"] == 3
    assert set(row["civil_alerted"]) == {"alliance", "national"}
    assert {"ballistic", "cruise", "drone"} <= set(row)
    assert got["pooled"]["seeds"] == 1


def test_bench_asterix_tiny() -> None:
    shared = Path("/work/shared/data/asterix/cat_034_048.pcap")
    if not shared.exists():
        import pytest

        pytest.skip("shared recording not present")
    got = run_module(
        "benchmarks.bench_asterix", "--records", "500", "--lib-records", "50", "--fuzz", "20",
        "--cat062-records", "200",
    )
    assert got["fast"]["records"] >= 500 and got["libasterix"]["records"] >= 50
    assert got["fuzz"]["inputs"] == 20 and got["fuzz"]["fast_rejects_only"] == 0
    assert got["cat062_fast"]["records"] >= 200 and got["cat062_libasterix"]["records"] >= 20


def test_bench_fuzz_tiny() -> None:
    if not Path("/work/shared/data/asterix").exists():
        import pytest

        pytest.skip("shared recordings not present")
    got = run_module("benchmarks.bench_fuzz", "--n", "30")
    assert len(got["decoders"]) == 13
    for name, r in got["decoders"].items():
        assert r["inputs"] == 30 and r["crashes"] == 0, name


def test_bench_engage_tiny() -> None:
    """Exact and greedy assignment on a few tiny instances, against enumeration."""
    got = run_module("benchmarks.bench_engage", "--small", "4x3", "--sizes", "20x5",
                     "--seeds", "3")  # fmt: skip
    q = got["quality"]
    assert q["instances"] >= 1 and q["milp_min_pct"] <= 100.0 + 1e-6
    assert q["greedy_min_pct"] <= q["milp_mean_pct"] + 1e-6
    (row,) = got["timing"]
    assert row["N"] == 20 and row["U"] == 5 and row["milp_ms"] > 0


def test_bench_trust_tiny() -> None:
    """One short checked run of the lying-partner scenario: every figure is there."""
    got = run_module(
        "benchmarks.bench_trust", "--seeds", "7", "--variants", "checked", "--duration-s", "60"
    )
    (row,) = got["results"]
    assert row["variant"] == "checked" and row["true_offset_m"]["P3"] > 1_900
    assert {"ghost_alerts", "alerts_about_nothing", "estimated_offset_m", "classes"} <= set(row)


def test_bench_sim_stages_tiny() -> None:
    """One mode of a 30 s shortened reference under the stage timers."""
    got = run_module("benchmarks.bench_sim_stages", "--duration", "30", "--shift", "0")
    (run,) = got["runs"]
    assert run["mode"] == "alliance" and run["run_s"] > 0
    assert {"partners", "coordinator", "tracker"} <= set(run["stages_s"])
    assert got["events_check"] is None


def test_bench_runs_tiny() -> None:
    """Both runs of a 120 s shortened reference, two processes against lockstep: the same."""
    got = run_module("benchmarks.bench_runs", "--duration", "120", "--json")
    assert got["identical"] is True
    assert got["lockstep"]["wall_s"] > 0 and got["two processes"]["wall_s"] > 0


def test_sim_stages_compares_events_apart_from_a_new_field(tmp_path: Path) -> None:
    """A field only one side's events have (a new message field) is named, not a
    difference; a changed value still is."""
    from benchmarks.bench_sim_stages import first_difference

    old, new, changed = tmp_path / "old", tmp_path / "new", tmp_path / "changed"
    old.write_text('{"kind":"alert","t":1.0}\n{"n":2}')
    new.write_text('{"kind":"alert","t":1.0,"held":false}\n{"n":2}')
    changed.write_text('{"kind":"alert","t":2.0,"held":false}\n{"n":2}')
    assert first_difference(old, old) == "identical"
    assert first_difference(old, new) == "identical apart from fields only one side has: held"
    assert first_difference(old, changed).startswith("DIFFER: 1 vs 1 events, 1 lines differ")
