"""Smoke test of benchmarks/bench_map.py at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]


def test_bench_map_tiny() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (./dev setup as root)")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_map", "--tracks", "60", "--seconds", "1",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=240,
    )  # fmt: skip
    got = json.loads(out.stdout)
    assert set(got["results"]) == {"mead", "naive"} and got["tracks"] == 60
    for m in got["results"].values():
        assert m["panning"]["frames"] > 0 and m["still"]["frames"] > 0
        assert m["latency_ms"]["n"] > 0
