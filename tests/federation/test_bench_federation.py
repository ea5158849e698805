"""Smoke test of benchmarks/bench_federation.py at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_federation_tiny(nats_server_bin: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_federation", "--alerts", "20", "--rate", "200",
         "--batches", "30", "--batch-tracks", "5", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        env={"NATS_SERVER_BIN": nats_server_bin, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    got = json.loads(out.stdout)
    la, th = got["latency"], got["throughput"]
    assert la["alerts"] == la["detections"] == 20 and la["duplicates"] == 0
    assert 0 < la["p50_ms"] <= la["p99_ms"] <= la["max_ms"]
    assert th["received_batches"] == th["batches"] == 60 and th["tracks_per_s"] > 0
    assert got["nats_server"].count(".") == 2
