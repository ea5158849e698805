"""A live federation against the wall clock: does every node keep up?

Run as ``python -m benchmarks.bench_live [--scenario scenarios/saturation.yaml] [--speed 4 ...]
[--duration S] [--from S] [--ready-timeout S] [--json]``.

For each ``--speed`` in turn, ``mead up`` runs the scenario on loopback — real nats-servers
with mTLS leaf links, one process per node, the partners' radars simulated in real time
times the speed — and the table puts the runs side by side, per node: ticks stepped, ticks
begun more than a tick late, the worst lag (wall s, and scenario s = wall × speed), the CPU
seconds of its process (set-up included) and, for the partners, the alerts they received
through the coordinator. A node *kept up* when its worst lag stayed under one release
period of the scenario (scenario s): no release or assessment was put off by a whole
cycle. A node that keeps up at speed S keeps up at real time with S times the margin.
Every node sets itself up before the scenario clock starts (``setup s``: the partners
simulate their radars first). ``--from S`` joins the raid at scenario second S: every node
starts cold with what is in the air then, so real time (``--speed 1``) can be measured
through the raid's peak without hours of wall time before it; ``worst lag at t`` says
when each node was furthest behind.

The default is the 5,000-drone saturation raid's first 80 minutes at 4× real time (about
20 minutes of wall time, 4 of them set-up): by then ~3,500 drones are in the air and every
partner tracks hundreds of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._machine import machine
from mead.federation.natsserver import require_nats_server, server_version
from mead.runtime.up import up
from mead.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "saturation.yaml"


def live(
    scenario: Path,
    speed: float,
    duration_s: float | None,
    ready_timeout_s: float,
    from_s: float = 0.0,
) -> dict[str, Any]:
    """One ``mead up`` run in a throw-away work directory: per node its lag and CPU."""
    sc = load_scenario(scenario)
    cycle_s = min(min(p.release_s for p in sc.partners), sc.coordinator.assess_s)
    with tempfile.TemporaryDirectory(prefix="mead-live-") as tmp:
        s = up(scenario, Path(tmp) / "live", duration_s=duration_s, speed=speed, from_s=from_s,
               ready_timeout_s=ready_timeout_s)  # fmt: skip
    nodes = {}
    for n, v in s["nodes"].items():
        ctr = v["counters"]
        lag_s = ctr.get("max_lag_ms", 0) / 1e3
        nodes[n] = {
            "exit": v["exit"],
            "ticks": ctr.get("ticks", 0),
            "late_ticks": ctr.get("late_ticks", 0),
            "max_lag_wall_s": lag_s,
            "max_lag_scenario_s": round(lag_s * speed, 1),
            "max_lag_at_s": ctr.get("max_lag_at_s"),
            "kept_up": v["exit"] == 0 and lag_s * speed < cycle_s,
            "cpu_s": round(ctr.get("cpu_ms", 0) / 1e3, 1),
            "alerts_received": v.get("alerts_from_coordinator"),
        }
    return {
        "speed": speed,
        "from_s": from_s,
        "duration_s": duration_s if duration_s is not None else sc.duration_s - from_s,
        "cycle_s": cycle_s,
        "setup_s": s.get("setup_s"),
        "ok": s["ok"],
        "all_kept_up": all(v["kept_up"] for v in nodes.values()),
        "nodes": nodes,
    }


def table(runs: list[dict[str, Any]]) -> str:
    heads = [f"{r['speed']:g}x" for r in runs]
    lines = [
        f"{len(runs)} run(s) of {runs[0]['duration_s']:g} scenario s from "
        f"t={runs[0]['from_s']:g}; kept up: worst lag < one cycle ({runs[0]['cycle_s']:g} "
        "scenario s)",
        f"{'node':6} {'figure':22} " + " ".join(f"{h:>12}" for h in heads),
    ]
    rows = [
        ("ticks", lambda v: f"{v['ticks']}"),
        ("late ticks", lambda v: f"{v['late_ticks']}"),
        ("worst lag wall s", lambda v: f"{v['max_lag_wall_s']:.2f}"),
        ("worst lag scenario s", lambda v: f"{v['max_lag_scenario_s']:.1f}"),
        ("worst lag at t, s", lambda v: f"{v['max_lag_at_s']}"),
        ("kept up", lambda v: "yes" if v["kept_up"] else "NO"),
        ("CPU s", lambda v: f"{v['cpu_s']:.0f}"),
        ("alerts received", lambda v: "-" if v["alerts_received"] is None else
         f"{v['alerts_received']}"),
    ]  # fmt: skip
    for n in runs[0]["nodes"]:
        for i, (name, f) in enumerate(rows):
            cells = [f(r["nodes"][n]) if n in r["nodes"] else "-" for r in runs]
            head = f"{n if i == 0 else '':6} {name:22} "
            lines.append(head + " ".join(f"{c:>12}" for c in cells))
    lines.append(f"{'':6} {'set-up s':22} " + " ".join(f"{r['setup_s']:>12}" for r in runs))
    kept = ("yes" if r["all_kept_up"] else "NO" for r in runs)
    lines.append(f"{'':6} {'every node kept up':22} " + " ".join(f"{k:>12}" for k in kept))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=SCENARIO)
    ap.add_argument("--speed", type=float, nargs="+", default=[4.0])
    ap.add_argument("--duration", type=float, default=4800.0, help="scenario s per run")
    ap.add_argument("--from", dest="from_s", type=float, default=0.0,
                    help="begin at this scenario s (the raid joined in progress)")
    ap.add_argument("--ready-timeout", type=float, default=900.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    binary = require_nats_server()
    runs = [live(args.scenario, s, args.duration, args.ready_timeout, args.from_s)
            for s in args.speed]  # fmt: skip
    m = machine("nats-py", "msgspec") | {"nats_server": ".".join(map(str, server_version(binary)))}
    if args.json:
        print(json.dumps({"machine": m, "runs": runs}, indent=1))
    else:
        print(f"live: {args.scenario.name}; {m['cpu']}, {m['cpus_available']} cpus, "
              f"nats-server {m['nats_server']}")  # fmt: skip
        print(table(runs))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
