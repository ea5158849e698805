"""The two runs of ``mead run`` (alliance and national-only), two ways side by side: as two
processes, one per run (the way with fire units), and in lockstep workers that share the
partners' work (``mead.runtime.lockstep``, the way without).

Run as ``python -m benchmarks.bench_runs [--scenario S] [--shift S] [--duration S] [--json]``.

Both ways run the same shortened scenario (by default the busy last hour of the reference
raid, as ``bench_sim_stages`` shortens it) with the scorer and the map recording, as
``mead run`` does, on the machine's cores (``--jobs``, default 2). Printed: wall time of
each way, the CPU seconds of the whole process tree, the speed-up, and whether the events,
counters and observed results of the two ways are identical (they must be).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from benchmarks._machine import machine
from benchmarks.bench_sim_stages import shortened
from mead.metrics.evaluation import Scorer
from mead.runtime.lockstep import shareable
from mead.runtime.simulation import MODES, ModeResult, prepare, run_both
from mead.server.replay import recording

ROOT = Path(__file__).resolve().parents[1]


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sc = shortened(args.scenario, args.shift, args.duration)
    world = prepare(sc, sc.seed, args.scenario, jobs=args.jobs)
    why = shareable(world)
    if why is not None:
        raise SystemExit(f"bench_runs: {args.scenario} cannot run in lockstep: {why}")
    out: dict[str, Any] = {"scenario": str(args.scenario), "shift_s": args.shift,
                           "duration_s": args.duration, "jobs": args.jobs}  # fmt: skip
    runs: dict[str, dict[str, ModeResult]] = {}
    for way, lockstep in (("two processes", False), ("lockstep", True)):
        c0, t0 = _cpu_s(), time.perf_counter()
        runs[way] = run_both(world, jobs=args.jobs, observer=recording(Scorer), lockstep=lockstep)
        out[way] = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu_s() - c0, 1)}
    a, b = runs["two processes"], runs["lockstep"]
    enc = msgspec.json.encode
    out["identical"] = all(
        [enc(e) for e in a[m].events] == [enc(e) for e in b[m].events]
        and a[m].counters == b[m].counters
        and pickle.dumps(a[m].observed) == pickle.dumps(b[m].observed)
        for m in MODES
    )
    out["speedup"] = round(out["two processes"]["wall_s"] / out["lockstep"]["wall_s"], 2)
    out["simulated_s_per_wall_s"] = {
        w: round(args.duration / out[w]["wall_s"], 1) for w in ("two processes", "lockstep")
    }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "reference.yaml")
    p.add_argument("--shift", type=float, default=30_500.0, help="launches this much earlier, s")
    p.add_argument("--duration", type=float, default=4_000.0, help="run length, s")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = measure(args) | {"machine": machine("msgspec")}
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{args.scenario.name}: launches {args.shift:g} s earlier, {args.duration:g} s, "
          f"both runs, scorer and map recording, {args.jobs} processes")  # fmt: skip
    print(f"{'':16}{'wall s':>9}{'CPU s':>9}{'× real time':>13}")
    for w in ("two processes", "lockstep"):
        print(f"{w:16}{r[w]['wall_s']:>9.1f}{r[w]['cpu_s']:>9.1f}"
              f"{r['simulated_s_per_wall_s'][w]:>13.1f}")  # fmt: skip
    print(f"speed-up {r['speedup']:.2f}×; events, counters and observed results identical: "
          f"{r['identical']}")  # fmt: skip
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cpus_available']} CPUs, Python {m['python']}")
    return 0 if r["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
