"""Smoke test of benchmarks/bench_failover.py at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_failover_tiny(nats_server_bin: str) -> None:
    """One short drill: the active killed 20 s in, before any alert; the standby takes over."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_failover", "--kill-at", "20",
         "--duration", "100", "--speed", "10", "--no-hub", "--no-site", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        env={**os.environ, "NATS_SERVER_BIN": nats_server_bin},
    )  # fmt: skip
    got = json.loads(out.stdout)
    (row,) = got["results"]
    assert row["ok"] and row["kill_at_s"] == 20 and row["killed"] == "coordinator"
    assert row["takeover_s"] is not None and row["lost"] == 0 and row["duplicated"] == 0
    assert got["machine"]["nats_server"].count(".") == 2
