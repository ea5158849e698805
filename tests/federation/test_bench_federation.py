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
         "--batches", "30", "--batch-tracks", "5", "--load-tps", "2000",
         "--load-batch-tracks", "10", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        env={"NATS_SERVER_BIN": nats_server_bin, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    got = json.loads(out.stdout)
    la, lo, th = got["latency"], got["loaded"], got["throughput"]
    for run in (la, lo, got["latency_mtls"]):
        assert run["alerts"] == run["detections"] == 20 and run["duplicates"] == 0
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
    # 20 detections at 200/s take 0.1 s (+ warm-up): 2000 tracks/s in 10-track batches
    assert lo["load_batches_sent"] > 0
    assert lo["load_tracks_verified"] == lo["load_batches_sent"] * 10
    assert set(got["target"]) >= {"met", "sustained", "p99_met"}
    assert th["received_batches"] == th["batches"] == 60 and th["tracks_per_s"] > 0
    assert got["nats_server"].count(".") == 2
