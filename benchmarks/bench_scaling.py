"""How MEAD's local tracker's time per scan grows with the number of targets, on one core.

Run as ``python -m benchmarks.bench_scaling [--json] [--sizes 100 300 … 10000]``.

Each size gets a seeded scenario made in memory with the recipe of the recorded ones
(``mead.metrics.trackeval.simulate_recording``: 1 s scans, Pd 0.9, σ 50 m, nearly-constant
velocity at 50–300 m/s, Poisson clutter). The area grows with N so that the densities stay
those of the 1,000-target recording — 1,000 targets and 20 false plots per scan on
200 km × 200 km — and time per scan measures the tracker, not a changing crowding.

Reported per N: mean time per scan over all scans and over the steady second half (after
initiation), plots per second, tracks vs truths at the last scan and the share of truths
with a confirmed track within 3σ; then the exponent b of a least-squares fit
time ≈ a N^b over the steady times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from benchmarks._machine import machine, pin_one_core
from mead.metrics.trackeval import (
    FRAME,
    Recording,
    cartesian_scan,
    mtt_tracker,
    simulate_recording,
)

SIZES = (100, 300, 1000, 3000, 10000)
REF_N, REF_SIDE_M, REF_CLUTTER = 1000, 200_000.0, 20.0  # the densities kept at every N


def scenario(n: int, scans: int, seed: int = 1) -> Recording:
    """A seeded N-target scenario at the reference target and clutter densities."""
    scale = n / REF_N
    return simulate_recording(
        n, seed, n_scans=scans, side_m=REF_SIDE_M * np.sqrt(scale),
        clutter_rate=REF_CLUTTER * scale,
    )  # fmt: skip


def run(rec: Recording) -> dict[str, Any]:
    """Track the scenario; timing per scan and the last scan's tracks against truth."""
    tracker, times = mtt_tracker(rec), []
    for t, xy in rec.plots():
        scan = cartesian_scan(t, xy, rec.sigma)
        t0 = time.perf_counter()
        tracker.step(scan)
        rep = tracker.report(t)
        times.append(time.perf_counter() - t0)
    est = FRAME.from_ecef(rep.x[:, :3])[:, :2]
    truth = rec.truth_xy(rec.n_scans - 1)
    d, _ = cKDTree(est).query(truth) if len(est) else (np.full(len(truth), np.inf), None)
    steady = np.array(times[len(times) // 2 :])
    return {
        "N": int(rec.truth.shape[1]),
        "scans": rec.n_scans,
        "plots_per_scan": len(rec.det_xy) / rec.n_scans,
        "time_per_scan_s": float(np.mean(times)),
        "steady_time_per_scan_s": float(steady.mean()),
        "steady_max_time_per_scan_s": float(steady.max()),
        "plots_per_s": len(rec.det_xy) / float(np.sum(times)),
        "tracks_last_scan": len(est),
        "truths_last_scan": len(truth),
        "held_fraction": float(np.mean(d < 3 * rec.sigma)),
    }


def fit_exponent(n: list[int], t: list[float]) -> float:
    """b of the least-squares fit log t = log a + b log N."""
    return float(np.polyfit(np.log(n), np.log(t), 1)[0]) if len(n) > 1 else float("nan")


def report(rows: list[dict[str, Any]], b: float, info: dict[str, Any]) -> str:
    """The table, the fitted exponent and the machine."""
    out = [
        f"machine: {info['cpu']}, pinned to 1 of {info['cpus_total']} cpus; {info['os']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
        f"{'N':>6}  {'plots/scan':>10}  {'ms/scan':>8}  {'steady ms':>9}  {'max ms':>7}  "
        f"{'plots/s':>9}  {'tracks/truths':>13}  {'held':>6}",
    ]
    for r in rows:
        out.append(
            f"{r['N']:>6}  {r['plots_per_scan']:>10.0f}  {1e3 * r['time_per_scan_s']:>8.1f}  "
            f"{1e3 * r['steady_time_per_scan_s']:>9.1f}  "
            f"{1e3 * r['steady_max_time_per_scan_s']:>7.1f}  {r['plots_per_s']:>9.0f}  "
            f"{r['tracks_last_scan']:>6}/{r['truths_last_scan']:<6}  {r['held_fraction']:>6.1%}"
        )
    out.append(f"\nsteady time per scan ≈ a · N^{b:.2f} (least squares over the sizes above)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_scaling",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of targets")
    p.add_argument("--scans", type=int, default=30, help="scans per size (default 30)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    pin_one_core()
    info, rows = machine(), []
    for n in args.sizes:
        if not args.json:
            print(f"N={n} …", file=sys.stderr)
        rows.append(run(scenario(n, args.scans)))
    b = fit_exponent([r["N"] for r in rows], [r["steady_time_per_scan_s"] for r in rows])
    if args.json:
        print(json.dumps({"machine": info, "results": rows, "exponent": b}, indent=2))
    else:
        print(report(rows, b, info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
