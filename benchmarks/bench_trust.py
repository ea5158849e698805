"""A lying partner, before and after the coordinator checks partners' data, over seeds.

Run as::

    python -m benchmarks.bench_trust --seeds 7,3,11 [--scenario scenarios/lying.yaml] [--json]

For each seed the same world (truth and plots) is run three times, alliance mode only
(``mead.metrics.trust.VARIANTS``): ``honest`` — nobody lies and the coordinator believes
everyone (the coalition as it was); ``believed`` — the scenario's liars lie and the
coordinator believes everyone (``coordinator.check_partners: false``); ``checked`` — the
liars lie and the coordinator checks (the default).

Printed per run (``mead.metrics.trust``): alerts the coordinator issued, those about no
object and those caused by ghosts; each lying partner's estimated offset beside the true
one; suspect-track judgements on ghosts and on anything else; threats warned of those
launched and the mean warning time per class; wall time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks._machine import machine
from mead.metrics.campaign import parse_seeds
from mead.metrics.trust import VARIANTS, run_variant


def format_row(r: dict[str, Any]) -> str:
    """One run as a line of the table."""
    est = []
    for p, v in r["true_offset_m"].items():
        if v > 0:
            seen = [f"{e / 1e3:.2f}" for e in r["estimated_offset_m"].get(p, [])]
            est.append(f"{p} {v / 1e3:.2f} → {', '.join(seen) or '-'}")
    cls = "  ".join(
        f"{c} {f['warned']}/{f['launched']} {f['mean_warning_s']:.0f} s"
        for c, f in r["classes"].items()
    )
    st = r["suspect_tracks"]
    return (
        f"{r['seed']:>5} {r['variant']:<9} {r['alerts_issued']:>6} {r['alerts_about_nothing']:>7}"
        f" {r['ghost_alerts']:>6} {st['ghost']:>5}/{st['other']:<5} {'; '.join(est) or '-':<22}"
        f" {cls}  {r['wall_s']:.0f} s"
    )


HEADER = (
    f"{'seed':>5} {'variant':<9} {'alerts':>6} {'nothing':>7} {'ghost':>6} {'suspect g/o':<11}"
    f" {'offset km → estimated':<22} threats warned / launched, mean warning time"
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/lying.yaml"))
    ap.add_argument("--seeds", default="7")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--duration-s", type=float, default=None, help="override the duration")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = [v for v in VARIANTS if v in args.variants.split(",")]
    bad = set(args.variants.split(",")) - set(VARIANTS)
    if bad:
        ap.error(f"--variants: unknown {sorted(bad)[0]!r} (known: {', '.join(VARIANTS)})")
    rows = []
    if not args.json:
        print(HEADER)
    for seed in parse_seeds(args.seeds):
        for name in names:
            r = run_variant(args.scenario, seed, name, args.duration_s)
            rows.append(r)
            if not args.json:
                print(format_row(r), flush=True)
    if args.json:
        print(json.dumps({"scenario": str(args.scenario), "results": rows, "machine": machine()}))
    else:
        m = machine()
        print(f"\n{m.get('cpu', '')} · {m.get('python', '')}")


if __name__ == "__main__":
    main()
