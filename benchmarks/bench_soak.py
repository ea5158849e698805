"""Memory over a day: a simulated 24-hour soak of one mode, its RSS sampled every hour.

Run as ``python -m benchmarks.bench_soak [--hours 24] [--mode alliance] [--json]``.

The scenario is ``scenarios/small.yaml``'s coalition, radars and areas stretched to
``--hours``: civil traffic all day (``--flights-per-hour``), a drone raid every 2 hours and
a ballistic salvo every 3 hours, each like the one in small.yaml. The whole day's truth and
plots are simulated first (``prepare``, the input, held for the run); then one mode runs
with its events counted by a sink and not kept (a live node writes them to its log as they
come), so what can grow during the run is the nodes' own state: track tables, classifier
and fit histories, alert lifecycles, the coordinator's picture and replay checkpoints.

Printed, one row per simulated hour: the process's resident memory (RSS) and its part
above what the prepared input held before the run ("run MB"), the Python objects alive
(``gc``), the tracks the nodes released that hour and the events so far;
then the growth after the first hour, ``max(RSS, hours 1…) / RSS(hour 1) − 1``, against
the target of issue 14 (≤ 10 %), and the run's speed. A full day takes ~15 minutes on
one core; ``--hours 4`` is a quick look.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import psutil

from benchmarks._machine import machine, pin_one_core

ROOT = Path(__file__).resolve().parents[1]
TARGET_GROWTH = 0.10  # issue 14: RSS flat within 10 % after the first hour


def soak_scenario(path: Path, hours: float, flights_per_hour: float) -> Any:
    """``path``'s scenario stretched to ``hours``, its raids repeated through the day."""
    from mead.scenario.loader import load_scenario

    sc = load_scenario(path)
    duration = hours * 3600.0
    raids = []
    for r in sc.raids:
        every = 7200.0 if r.threat == "drone" else 10800.0
        starts = np.arange(r.first_launch_s, duration - 3600.0, every)
        raids += [
            msgspec.structs.replace(r, name=f"{r.name}-{k:02d}", first_launch_s=float(s))
            for k, s in enumerate(starts)
        ]
    civil = msgspec.structs.replace(sc.civil, flights=round(flights_per_hour * hours))
    return msgspec.structs.replace(
        sc, name=f"{sc.name}-soak", duration_s=duration, raids=raids, civil=civil
    )


class HourlyMemory:
    """An observer that samples RSS and live objects the first time a node's release falls
    in each new simulated hour, and counts the tracks released per hour."""

    def __init__(self, epoch_s: float) -> None:
        self.epoch_s = epoch_s
        self.proc = psutil.Process()
        self.rows: list[dict[str, float]] = []
        self.tracks = 0
        self.events: Counter[str] = Counter()
        self.t0 = time.process_time()

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        hour = int((t_wire - self.epoch_s) // 3600.0)
        if hour > len(self.rows):
            self.sample(hour)
        self.tracks += len(ids)

    def sink(self, event: Any) -> None:
        self.events[type(event).__name__] += 1

    def sample(self, hour: int) -> None:
        gc.collect()
        self.rows.append(
            {
                "hour": float(hour),
                "rss_mb": self.proc.memory_info().rss / 2**20,
                "objects": float(len(gc.get_objects())),
                "tracks_released": float(self.tracks),
                "events": float(sum(self.events.values())),
                "cpu_s": time.process_time() - self.t0,
            }
        )
        self.tracks = 0

    def result(self) -> list[dict[str, float]]:
        return self.rows


def soak(path: Path, hours: float, flights_per_hour: float, mode: str) -> dict[str, Any]:
    """Prepare the day, run ``mode`` with the hourly sampler; the samples and totals."""
    from mead.runtime.simulation import prepare, run_mode

    sc = soak_scenario(path, hours, flights_per_hour)
    t0 = time.perf_counter()
    world = prepare(sc, sc.seed, path)
    prepare_s = time.perf_counter() - t0
    mem = HourlyMemory(sc.start_epoch_s())
    rss_prepared = mem.proc.memory_info().rss / 2**20
    t0 = time.process_time()
    run_mode(world, mode, observer=lambda _w: mem, sink=mem.sink)  # type: ignore[arg-type]
    run_s = time.process_time() - t0
    if mem.rows[-1]["hour"] < np.ceil(hours):  # the last hour, unless a release sampled it
        mem.sample(int(np.ceil(hours)))
    rows = mem.rows
    first = next((r["rss_mb"] for r in rows if r["hour"] >= 1), rows[-1]["rss_mb"])
    growth = max(r["rss_mb"] for r in rows if r["hour"] >= 1) / first - 1.0
    return {
        "scenario": sc.name,
        "hours": hours,
        "mode": mode,
        "raids": len(sc.raids),
        "threats": sum(r.count for r in sc.raids),
        "civil_flights": sc.civil.flights,
        "scans": len(world.scans),
        "prepare_s": prepare_s,
        "rss_prepared_mb": rss_prepared,
        "run_cpu_s": run_s,
        "x_real_time": sc.duration_s / run_s,
        "rows": rows,
        "events": dict(mem.events),
        "growth_after_hour_1": growth,
    }


def report(res: dict[str, Any], info: dict[str, Any]) -> str:
    out = [
        f"machine: {info['cpu']}, pinned to 1 of {info['cpus_total']} cpus; {info['os']}",
        f"soak: {res['scenario']}, {res['hours']:g} h, mode {res['mode']}: {res['raids']} raids "
        f"({res['threats']} threats), {res['civil_flights']} civil flights, "
        f"{res['scans']} scans; prepared in {res['prepare_s']:.0f} s, "
        f"RSS {res['rss_prepared_mb']:.0f} MB before the run",
        "",
        f"{'hour':>5}{'RSS MB':>10}{'run MB':>9}{'objects':>11}{'tracks/h':>10}{'events':>9}"
        f"{'CPU s':>8}",
    ]
    base = res["rss_prepared_mb"]
    for r in res["rows"]:
        out.append(
            f"{r['hour']:>5.0f}{r['rss_mb']:>10.1f}{r['rss_mb'] - base:>9.1f}"
            f"{r['objects']:>11.0f}{r['tracks_released']:>10.0f}{r['events']:>9.0f}"
            f"{r['cpu_s']:>8.0f}"
        )
    g = res["growth_after_hour_1"]
    verdict = "within" if g <= TARGET_GROWTH else "OVER"
    later = [r for r in res["rows"] if r["hour"] >= 1]
    out += [
        "",
        f"RSS growth after hour 1: {100 * g:+.1f} % ({verdict} the {100 * TARGET_GROWTH:.0f} % "
        f"target); the run's own memory (RSS above the prepared input, 'run MB') "
        f"{later[0]['rss_mb'] - base:.1f} MB at hour 1, at most "
        f"{max(r['rss_mb'] for r in later) - base:.1f} MB after; live objects "
        f"{later[-1]['objects'] - later[0]['objects']:+.0f} from hour 1 to the end",
        f"run {res['run_cpu_s']:.0f} CPU s, {res['x_real_time']:.0f}× real time",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_soak",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "small.yaml")
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--flights-per-hour", type=float, default=20.0)
    p.add_argument("--mode", choices=("alliance", "national"), default="alliance")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if not args.hours >= 2:
        p.error(f"--hours must be at least 2 (got {args.hours})")
    pin_one_core()
    info = machine("numpy", "psutil")
    res = soak(args.scenario.resolve(), args.hours, args.flights_per_hour, args.mode)
    print(json.dumps({"machine": info} | res, indent=2) if args.json else report(res, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
