"""The ``mead`` command: run and check scenarios (simulation mode)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mead.errors import MeadError
from mead.live import add_parsers as add_live_parsers
from mead.trackeval import add_parser as add_track_parser

DESCRIPTION = """\
MEAD: federated coalition air-defence early warning.

Simulation (no server needed):
  run          simulate a scenario twice on the same truth and plots (alliance sharing
               on, then national-only), print the summary and write the report to --out
  check        validate a scenario file and the policies it names, without running it
  track        score the local tracker on a recorded multi-target scenario (.npz)

Live federation over NATS (see docs/operations.md):
  up           start a whole coalition on this machine: one nats-server per site, one
               process per node, the scenario's sensors simulated in real time
  node         run one partner node against its own nats-server
  coordinator  run the coordinator (fusion, assessment, alerts) against the hub
  keygen       make a node's Ed25519 key pair
  natsconf     render the nats-server configs of a federation
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MeadError as e:
        print(f"mead: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mead", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run a scenario: alliance vs national-only, with a report",
        description="Simulate SCENARIO (truth, radars, trackers, sharing, "
        "fusion, threat assessment) twice on the same plots — alliance and "
        "national-only — print the summary and write events.jsonl, "
        "summary.json, plots and report.md into --out.",
    )
    r.add_argument("scenario", type=Path, help="scenario YAML, e.g. scenarios/reference.yaml")
    r.add_argument("--out", type=Path, default=Path("out"), help="report folder (default out/)")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument("--jobs", type=int, default=2, help="processes for the two runs (default 2)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser(
        "check",
        help="validate a scenario file and its policies",
        description="Load SCENARIO and every policy it names; print a one-line "
        "digest, or the first error naming the file and field.",
    )
    c.add_argument("scenario", type=Path)
    c.set_defaults(func=_cmd_check)
    add_track_parser(sub)
    add_live_parsers(sub)
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from mead.metrics.evaluation import attribute_alerts, format_summary, summarize
    from mead.metrics.report import write_report
    from mead.runner import MODES, policies, prepare, run_both
    from mead.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    policies(sc, args.scenario, "alliance")
    seed = sc.seed if args.seed is None else args.seed
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    if not args.json:
        print(f"preparing {sc.name!r} (seed {seed}): truth and radar plots…", file=sys.stderr)
    world = prepare(sc, seed, args.scenario)
    results = run_both(world, progress=progress, jobs=args.jobs)
    for m in MODES:
        attribute_alerts(world, results[m].events)
    summary = summarize(world, results, time.perf_counter() - t0)
    files = write_report(args.out, world, results, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print(f"report: {', '.join(str(f) for f in files)}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from mead.runner import policies
    from mead.scenario import load_scenario

    sc = load_scenario(args.scenario)
    policies(sc, args.scenario, "alliance")
    n_sensors = sum(len(p.sensors) for p in sc.partners)
    n_threats = sum(r.count for r in sc.raids)
    print(
        f"{args.scenario}: ok — {len(sc.partners)} partners, {n_sensors} sensors, "
        f"{len(sc.defended_areas)} defended areas, {n_threats} threats in "
        f"{len(sc.raids)} raids, {sc.civil.flights} civil flights, "
        f"{sc.duration_s / 3600:.1f} h"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
