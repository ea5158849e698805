"""Smoke test of benchmarks/bench_live.py at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_live_tiny(nats_server_bin: str) -> None:
    """Two short runs of small.yaml side by side: every node's lag and CPU are reported."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_live", "--scenario", "scenarios/small.yaml",
         "--speed", "10", "20", "--duration", "60", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=180,
        env={**os.environ, "NATS_SERVER_BIN": nats_server_bin},
    )  # fmt: skip
    runs = json.loads(out.stdout)["runs"]
    assert [r["speed"] for r in runs] == [10.0, 20.0]
    for r in runs:
        assert r["ok"] and r["setup_s"] > 0 and set(r["nodes"]) == {"C0", "P1", "P2"}
        for v in r["nodes"].values():
            assert v["exit"] == 0 and v["ticks"] == 61 and v["cpu_s"] > 0
            assert v["max_lag_scenario_s"] == round(v["max_lag_wall_s"] * r["speed"], 1)
    from benchmarks.bench_live import table

    assert "every node kept up" in table(runs)
