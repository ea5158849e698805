"""Warning quality of runs side by side: impact error by time to go, calibration, precision,
warning efficiency, updates per alert.

Run as::

    python -m benchmarks.bench_warning --scenario scenarios/reference.yaml \
        before=out/reference-main after=out/reference [--json]
    python -m benchmarks.bench_warning --scenario scenarios/small.yaml --run [--seed 7]

Each ``label=DIR`` is the output folder of a ``mead run`` (its ``events.jsonl.gz``, or
the ``events.jsonl`` of older versions) on the scenario and seed given; ``--run`` first runs
MEAD now (into a temporary folder) and adds it as ``now``. The truth is simulated once
from the scenario and seed (the same for every folder), so folders written by older
versions of MEAD compare on equal terms.

Figures (alliance ``A`` and national-only ``N``):

- impact error: predicted against true impact point of the alerts about ballistic missiles
  and rockets — sent by the coordinator (A) or issued by partners for themselves (N) — per
  1-minute bin of true time to go: median error, median stated 95 % radius, and the share
  of true impacts inside the stated region (calibrated: 0.90–0.98);
- per class: alert precision (issued alerts for the object's target area / issued alerts),
  on-path precision for cruise missiles and drones (the target or an area the object then
  flew over),
  updates per alert, warning efficiency (Σ warning time / Σ (arrival − first plot)).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mead import __version__ as mead_version
from mead.events import read_events_file
from mead.metrics.evaluation import first_warning
from mead.metrics.warning import (
    OVERFLIGHT,
    THREATS,
    AlertCounts,
    Overflights,
    alert_counts,
    efficiency,
    first_plot_times,
    impact_errors,
)
from mead.runtime.simulation import MODES, ModeResult, World, prepare
from mead.scenario import load_scenario
from mead.threat.evaluate import AreaSet


def figures(world: World, folder: Path) -> dict[str, Any]:
    """Every figure of one run folder against the world's truth."""
    gz = folder / "events.jsonl.gz"
    events = read_events_file(gz if gz.exists() else folder / "events.jsonl")
    truth, epoch = world.truth, world.scenario.start_epoch_s()
    t_plot = first_plot_times(truth, world.scans)
    kind = np.asarray(truth.kind)
    over = Overflights.of(truth, AreaSet.from_areas(world.scenario.defended_areas))
    out: dict[str, Any] = {}
    for m in MODES:
        evs = [e for e in events if e.run == m]
        issuer = world.scenario.coordinator.name if m == "alliance" else None
        counts = alert_counts(truth, evs, over, epoch)
        warn = first_warning(world, ModeResult(m, events=evs))
        per_class = {}
        for c in THREATS:
            sel = kind == c
            if not sel.any():
                continue
            n = counts.get(c, AlertCounts())
            per_class[c] = {
                "alerts": n.issued,
                "precision": n.precision,
                "on_path": n.path_precision if c in OVERFLIGHT else None,
                "updates_per_alert": n.updates_per_alert,
                "efficiency": efficiency(truth, t_plot, warn, sel)[1],
            }
        out[m] = {
            "impact": impact_errors(truth, evs, epoch, issuer).by_minute(),
            "classes": per_class,
            "alerts_about_nothing": counts.get("nothing", AlertCounts()).issued,
            "events": len(evs),
        }
    return out


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures of every folder side by side."""
    labels = list(results)
    lines = []
    for m in MODES:
        lines.append(f"\n== {m}: ballistic/rocket impact error by true time to go")
        head = f"{'tgo min':<8}" + "".join(
            f"{lab + ' err km':>14}{'r95 km':>9}{'inside':>8}" for lab in labels
        )
        lines.append(head)
        bins = sorted(
            {r["tgo_min"] for lab in labels for r in results[lab][m]["impact"]},
            key=lambda s: int(s.split("-")[0]),
        )
        for b in bins:
            row = f"{b:<8}"
            for lab in labels:
                r = next((x for x in results[lab][m]["impact"] if x["tgo_min"] == b), None)
                if r is None:
                    row += f"{'-':>14}{'-':>9}{'-':>8}"
                else:
                    row += (
                        f"{r['median_error_m'] / 1e3:>14.1f}{r['median_radius_m'] / 1e3:>9.1f}"
                        f"{r['inside_95']:>8.2f}"
                    )
            lines.append(row)
        lines.append(f"\n== {m}: per class")
        lines.append(
            f"{'class':<10}"
            + "".join(
                f"{lab + ' alerts':>14}{'prec':>7}{'path':>7}{'upd/al':>8}{'eff':>7}"
                for lab in labels
            )
        )
        for c in THREATS:
            row, seen = f"{c:<10}", False
            for lab in labels:
                r = results[lab][m]["classes"].get(c)
                if r is None:
                    row += f"{'-':>14}{'-':>7}{'-':>7}{'-':>8}{'-':>7}"
                    continue
                seen = True
                row += (
                    f"{r['alerts']:>14}{_f(r['precision']):>7}{_f(r.get('on_path')):>7}"
                    f"{_f(r['updates_per_alert'], 1):>8}{_f(r['efficiency']):>7}"
                )
            if seen:
                lines.append(row)
        nothing = "  ".join(f"{lab} {results[lab][m]['alerts_about_nothing']}" for lab in labels)
        events = "  ".join(f"{lab} {results[lab][m]['events']}" for lab in labels)
        lines.append(f"alerts about no object: {nothing};  events: {events}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="*", help="label=DIR of mead run outputs")
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/small.yaml"))
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's")
    ap.add_argument("--run", action="store_true", help="run MEAD now and add it as 'now'")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sc = load_scenario(args.scenario)
    seed = sc.seed if args.seed is None else args.seed
    folders = {}
    for spec in args.folders:
        label, _, path = spec.rpartition("=")
        folders[label or Path(path).name] = Path(path)
    t0 = time.perf_counter()
    tmp = None
    if args.run:
        from mead.cli import main as mead

        tmp = tempfile.TemporaryDirectory()
        with contextlib.redirect_stdout(sys.stderr):
            code = mead(
                ["run", str(args.scenario), "--seed", str(seed), "--out", tmp.name]
                + ["--no-progress"]
            )
        if code:
            return code
        folders["now"] = Path(tmp.name)
    if not folders:
        ap.error("give label=DIR folders or --run")
    world = prepare(sc, seed, args.scenario)
    results = {lab: figures(world, f) for lab, f in folders.items()}
    if tmp is not None:
        tmp.cleanup()
    meta = {
        "scenario": str(args.scenario),
        "seed": seed,
        "mead": mead_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(f"warning quality — {meta}")
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
