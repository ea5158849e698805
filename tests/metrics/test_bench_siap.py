"""Smoke test of benchmarks/bench_siap.py at a tiny size (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_siap", *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.parametrize("no_peer", [False, True])
def test_bench_siap_tiny(no_peer: bool) -> None:
    """MEAD's figures, and Stone Soup's beside them if installed, on a 4-truth case."""
    got = run_bench("--size", "4", "--steps", "30", *(["--no-peer"] if no_peer else []))
    o = got["mead"]["overall"]
    assert (got["truths"], got["steps"], o["times"]) == (4, 30, 30)
    assert 0 < o["completeness"] < 1 and o["ambiguity"] > 1 and 0 < o["spuriousness"] < 1
    assert o["id_changes"] == 2  # truth 0's number change, truth 1's new number after a miss
    assert set(got["mead"]["by_class"]) == {"ballistic", "cruise", "drone"}
    peer = not no_peer and find_spec("stonesoup") is not None
    assert (got["stonesoup"] is not None) == peer
    if peer:
        assert got["rows"] and all(r["agree"] for r in got["rows"])
    assert got["machine"]["versions"]["numpy"]
