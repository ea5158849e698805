"""Engagement planning: windows and weapon–target assignment, exact (MILP) beside greedy.

Instances are drawn from geometry: U fire units of the four types around a defended
region, N threats (ballistic, rocket, cruise, drone) heading at it from 50–400 km; their
launch windows come from :func:`mead.engage.windows.engagement_windows` and the
assignment from :func:`mead.engage.assign.assign`. Inventories are small (2–9 loaded
rounds, 1–6 channels per unit) so that they bind. On small instances the objective of
each method is compared with the exact optimum by enumeration; on large ones the time of
each step is printed, on one core.

    python -m benchmarks.bench_engage                  # 6×4 quality, 300×40 timing
    python -m benchmarks.bench_engage --sizes 100x20 300x40 --seeds 50 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from benchmarks._machine import machine, pin_one_core
from mead import geo
from mead.engage.assign import assign, enumerate_best
from mead.engage.units import THREAT_KINDS, UnitTable
from mead.engage.windows import engagement_windows, predict_paths
from mead.scenario.schema import FireUnit, Point

CENTRE = (32.0, 35.5)
TYPES = ("upper_tier", "lower_tier", "short_range", "air_patrol")
SPEED = {"ballistic": 2_000.0, "rocket": 900.0, "cruise": 250.0, "drone": 51.0}


def instance(n: int, u: int, seed: int) -> dict[str, Any]:
    """A geometric instance: units, threats' paths, windows and the assignment inputs."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = CENTRE
    d, b = rng.uniform(0, 120e3, u), rng.uniform(0, 360, u)
    ulat, ulon = geo.destination(lat0, lon0, b, d)
    units = UnitTable.build(
        [
            ("P", FireUnit(id=f"u{j}", type=TYPES[j % 4],  # type: ignore[arg-type]
                           site=Point(lat_deg=float(ulat[j]), lon_deg=float(ulon[j]))))
            for j in range(u)
        ]
    )  # fmt: skip
    kind = rng.integers(0, 4, n)
    alat, alon = geo.destination(lat0, lon0, rng.uniform(0, 360, n), rng.uniform(0, 60e3, n))
    rng_m = rng.uniform(50e3, 400e3, n)
    tlat, tlon = geo.destination(alat, alon, rng.uniform(30, 150, n), rng_m)
    brg = geo.initial_bearing_deg(tlat, tlon, alat, alon)
    speed = np.array([SPEED[THREAT_KINDS[k]] for k in kind])
    fast = kind < 2
    alt = np.where(fast, np.minimum(rng_m / 4, 150e3), np.where(kind == 2, 100.0, 1000.0))
    climb = np.where(fast, -0.6 * speed, 0.0)
    p = geo.geodetic2ecef(tlat, tlon, alt)
    ve, vn = speed * np.sin(np.radians(brg)), speed * np.cos(np.radians(brg))
    R = geo.enu_rotations(tlat, tlon)  # (N, 3, 3) ECEF → ENU
    v = np.einsum("nji,nj->ni", R, np.stack([ve, vn, climb], axis=1))
    x = np.hstack([p, v])
    tgo = np.where(fast, alt / (0.6 * speed), rng_m / speed)
    t0 = time.perf_counter()
    w = engagement_windows(predict_paths(x, fast, tgo, alat, alon), kind, units)
    windows_s = time.perf_counter() - t0
    pk = units.pk[:, kind].T
    return {
        "args": (
            rng.uniform(1.0, 10.0, n), pk, w.feasible, w.sls,
            rng.integers(2, 10, u), rng.integers(1, 7, u), units.cost_usd,
        ),
        "windows_s": windows_s,
        "pairs": int(w.feasible.sum()),
    }  # fmt: skip


def quality(n: int, u: int, seeds: int) -> dict[str, Any]:
    """Objective of milp and greedy as a share of the enumerated optimum, over seeds."""
    share: dict[str, list[float]] = {"milp": [], "greedy": []}
    for s in range(seeds):
        args = instance(n, u, s)["args"]
        best = enumerate_best(*args)
        if best <= 0:
            continue
        for m in share:
            share[m].append(assign(*args, method=m, deadline_s=5.0).objective / best)
    return {
        "N": n, "U": u, "instances": len(share["milp"]),
        **{f"{m}_mean_pct": 100 * float(np.mean(v)) for m, v in share.items()},
        **{f"{m}_min_pct": 100 * float(np.min(v)) for m, v in share.items()},
    }  # fmt: skip


def timing(n: int, u: int, seeds: int) -> dict[str, Any]:
    """Median ms of the windows, milp and greedy, and greedy's objective relative to milp."""
    win, ms, ratio, pairs, methods = [], {"milp": [], "greedy": []}, [], [], []
    for s in range(seeds):
        inst = instance(n, u, 1000 + s)
        win.append(inst["windows_s"])
        pairs.append(inst["pairs"])
        plans = {m: assign(*inst["args"], method=m) for m in ms}
        for m, p in plans.items():
            ms[m].append(p.solve_s)
        methods.append(plans["milp"].method)
        ratio.append(plans["greedy"].objective / max(plans["milp"].objective, 1e-12))
    return {
        "N": n, "U": u, "runs": seeds, "pairs_with_window": int(np.median(pairs)),
        "windows_ms": 1e3 * float(np.median(win)),
        "milp_ms": 1e3 * float(np.median(ms["milp"])),
        "milp_max_ms": 1e3 * float(np.max(ms["milp"])),
        "milp_fell_back": methods.count("greedy"),
        "greedy_ms": 1e3 * float(np.median(ms["greedy"])),
        "greedy_vs_milp_pct": 100 * float(np.mean(ratio)),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_engage",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--small", default="6x4", help="quality instance size NxU (default 6x4)")
    p.add_argument("--sizes", nargs="+", default=["300x40"], help="timing sizes NxU")
    p.add_argument("--seeds", type=int, default=30, help="instances per size (default 30)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    pin_one_core()
    n, u = (int(v) for v in args.small.split("x"))
    q = quality(n, u, args.seeds)
    rows = [timing(*(int(v) for v in s.split("x")), max(3, args.seeds // 3)) for s in args.sizes]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "quality": q, "timing": rows}, indent=2))
        return 0
    print(f"machine: {info['cpu']}, 1 core; numpy {info['versions']['numpy']}, "
          f"scipy {info['versions']['scipy']}", file=sys.stdout)  # fmt: skip
    print(f"\nshare of the enumerated optimum, {q['instances']} instances of "
          f"{q['N']} threats × {q['U']} units:")  # fmt: skip
    print(f"{'method':<8}{'mean %':>9}{'min %':>9}")
    for m in ("milp", "greedy"):
        print(f"{m:<8}{q[m + '_mean_pct']:>9.2f}{q[m + '_min_pct']:>9.2f}")
    print(f"\n{'N×U':<9}{'pairs':>7}{'windows ms':>12}{'milp ms':>9}{'max ms':>8}"
          f"{'fallback':>9}{'greedy ms':>11}{'greedy/milp %':>15}")  # fmt: skip
    for r in rows:
        print(f"{r['N']}×{r['U']:<5}{r['pairs_with_window']:>7}{r['windows_ms']:>12.1f}"
              f"{r['milp_ms']:>9.1f}{r['milp_max_ms']:>8.1f}{r['milp_fell_back']:>9}"
              f"{r['greedy_ms']:>11.1f}{r['greedy_vs_milp_pct']:>15.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
