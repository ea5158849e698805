"""A warning officer's figures over many seeds of one scenario, one row per seed.

Run as::

    python -m benchmarks.bench_seeds --scenario scenarios/airport.yaml --seeds 1-10
    python -m benchmarks.bench_seeds --scenario scenarios/reference.yaml --seeds 2024,7 [--json]

Each seed is a whole ``mead run`` (truth, radars, both runs — alliance ``A`` and
national-only ``N`` — and the summary) without the report: ``mead.metrics.campaign.run_seed``,
the piece ``mead campaign`` runs on Dask. Printed per seed: civil flights
alerted (must be 0), alerts about no object (must be 0), and per threat class: threats
warned of those launched, area-alert precision, warning efficiency and updates per alert,
alliance beside national-only; then the same figures pooled over the seeds (sums, and
efficiency and precision recomputed from the pooled sums where the summary gives their
parts, else the median over the seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from mead.metrics.campaign import parse_seeds, run_seed
from mead.runtime.simulation import MODES
from mead.scenario import load_scenario

CLASSES = ("ballistic", "rocket", "cruise", "drone")


def run_seed_file(path: Path, seed: int, jobs: int) -> dict[str, Any]:
    """The summary of one seed's run (as ``mead run --json`` prints it), timing the load."""
    t0 = time.perf_counter()
    s = run_seed(load_scenario(path), path, seed, jobs)
    s["timing"]["wall_s"] = round(time.perf_counter() - t0, 2)
    return s


def row(seed: int, s: dict[str, Any]) -> dict[str, Any]:
    """The figures of one seed's summary."""
    out: dict[str, Any] = {
        "seed": seed,
        "wall_s": s["timing"]["wall_s"],
        "civil_alerted": s["civil"]["alerted"],
        "alerts_about_nothing": s["alerts_about_nothing"],
    }
    for c in CLASSES:
        k = s["classes"].get(c)
        if not k or not k.get("launched"):
            continue
        out[c] = {
            "launched": k["launched"],
            "warned": k["warned"],
            **{
                m: {
                    f: k[m].get(f)
                    for f in ("alert_precision", "warning_efficiency", "updates_per_alert")
                }
                for m in MODES
            },
        }
    return out


def _pair(d: dict[str, Any], f: str) -> str:
    a, n = d["alliance"].get(f), d["national"].get(f)
    return f"{'-' if a is None else f'{a:.2f}'}/{'-' if n is None else f'{n:.2f}'}"


def table(rows: list[dict[str, Any]]) -> str:
    """One line per seed and class, figures as alliance/national."""
    lines = [
        "seed   civil A/N  nothing A/N  class      warned A/N      precision  efficiency"
        "  upd/alert"
    ]
    for r in rows:
        head = (
            f"{r['seed']:<6} {r['civil_alerted']['alliance']}/{r['civil_alerted']['national']:<8}"
            f" {r['alerts_about_nothing']['alliance']}/{r['alerts_about_nothing']['national']:<10}"
        )
        for c in CLASSES:
            if c not in r:
                continue
            d = r[c]
            w = f"{d['warned']['alliance']}/{d['warned']['national']} of {d['launched']}"
            lines.append(
                f"{head} {c:<10} {w:<15} {_pair(d, 'alert_precision'):<10} "
                f"{_pair(d, 'warning_efficiency'):<11} {_pair(d, 'updates_per_alert')}"
            )
            head = " " * len(head)
    return "\n".join(lines)


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the seeds, and the median of each per-seed ratio."""
    out: dict[str, Any] = {
        "seeds": len(rows),
        "civil_alerted": {m: sum(r["civil_alerted"][m] for r in rows) for m in MODES},
        "alerts_about_nothing": {
            m: sum(r["alerts_about_nothing"][m] for r in rows) for m in MODES
        },
    }
    for c in CLASSES:
        have = [r[c] for r in rows if c in r]
        if not have:
            continue
        out[c] = {
            "launched": sum(d["launched"] for d in have),
            "warned": {m: sum(d["warned"][m] for d in have) for m in MODES},
            **{
                m: {
                    f"median_{f}": round(median(v), 3)
                    if (v := [d[m][f] for d in have if d[m][f] is not None])
                    else None
                    for f in ("alert_precision", "warning_efficiency", "updates_per_alert")
                }
                for m in MODES
            },
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/airport.yaml"))
    ap.add_argument("--seeds", default="1-10", help="e.g. 1-10 or 2024,7")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the two runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for seed in parse_seeds(args.seeds):
        rows.append(row(seed, run_seed_file(args.scenario, seed, args.jobs)))
        if not args.json:
            print(f"seed {seed}: {rows[-1]['wall_s']:.0f} s", file=sys.stderr)
    result = {"scenario": str(args.scenario), "rows": rows, "pooled": pooled(rows)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.scenario}, seeds {args.seeds} (figures alliance/national)\n")
    print(table(rows))
    p = result["pooled"]
    print(
        f"\npooled over {p['seeds']} seeds: civil flights alerted "
        f"{p['civil_alerted']['alliance']}/{p['civil_alerted']['national']}, alerts about "
        f"no object {p['alerts_about_nothing']['alliance']}/"
        f"{p['alerts_about_nothing']['national']}"
    )
    for c in CLASSES:
        if c in p:
            d = p[c]
            a, n = d["alliance"], d["national"]
            print(
                f"  {c:<10} warned {d['warned']['alliance']}/{d['warned']['national']} of "
                f"{d['launched']}; median precision {a['median_alert_precision']}/"
                f"{n['median_alert_precision']}, efficiency {a['median_warning_efficiency']}/"
                f"{n['median_warning_efficiency']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
