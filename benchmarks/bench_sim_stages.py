"""Where a simulation run spends its time: seconds per stage of one mode of a shortened
reference run, for this checkout and (``--baseline REF``) a git revision side by side.

Run as ``python -m benchmarks.bench_sim_stages [--baseline main] [--json]``.

The shortened run is the busy end of ``scenarios/reference.yaml``: every raid launched
``--shift`` s earlier (clamped at 0; by default 30,500 s, so the cruise missiles, ballistic
missiles and rockets of the raid's last hour all fly, among the drones and civil traffic)
and ``--duration`` s long (default 4,000 s), same seed. One mode (default ``alliance``,
the critical path of ``mead run``) runs on one core with a timer around each stage. Times
are CPU seconds of the process (``time.process_time``), so that other work on a shared
machine inflates them less than wall time:

- ``partners`` / ``coordinator``: the nodes' whole ``step`` (everything below is inside);
- ``tracker``: the partners' trackers (``Tracker.step`` and ``report``);
- ``assess``: every node's ``Assessor.step``, split into ``classify``, ``adsb`` (cooperative
  identification), ``fit`` (free-flight fits) and ``evaluate`` (impact and approach
  prediction against the areas);
- ``fusion``: the coordinator's ``SystemTracker.ingest`` and ``picture``.

Each stage is also shown as its share of the run's CPU time, and the run as simulated
seconds per CPU second (``× real time``). ``--scenario scenarios/saturation.yaml --shift 0
--duration 6000`` times the first 100 minutes of the 5,000-drone saturation raid.

With ``--baseline``, the revision's ``src`` is exported (``git archive``) to a temporary
folder and the same run is timed on it in a child process, then on this checkout; the
table shows both and whether the two runs' events and counters are identical (the check
that a speed-up did not change what is computed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib import import_module
from pathlib import Path
from typing import Any

import msgspec

from benchmarks._machine import machine, pin_one_core

ROOT = Path(__file__).resolve().parents[1]

STAGES: tuple[tuple[str, str, str], ...] = (
    # (label, module, Class.method or function) — nested: a stage's time includes those below
    ("partners", "mead.runtime.node", "PartnerNode.step"),
    ("coordinator", "mead.runtime.node", "CoordinatorNode.step"),
    ("tracker", "mead.tracking.tracker", "Tracker.step"),
    ("tracker", "mead.tracking.tracker", "Tracker.report"),
    ("assess", "mead.threat.assessor", "Assessor.step"),
    ("assess.classify", "mead.threat.classify", "Classifier.step"),
    ("assess.adsb", "mead.threat.cooperative", "CooperativeId.step"),
    ("assess.fit", "mead.threat.trajectory", "FreeFlightFit.step"),
    ("assess.evaluate", "mead.threat.assessor", "assess"),
    ("fusion", "mead.fusion.siap", "SystemTracker.ingest"),
    ("fusion", "mead.fusion.siap", "SystemTracker.picture"),
)


@contextmanager
def stage_timers() -> Iterator[dict[str, float]]:
    """Wrap every stage of ``STAGES`` with a timer for the duration of the block; yields
    label → seconds (a stage missing from the code measured is left out)."""
    spent: dict[str, float] = {}
    undo: list[tuple[Any, str, Any]] = []
    for label, module, name in STAGES:
        owner: Any = import_module(module)
        *cls, attr = name.split(".")
        for c in cls:
            owner = getattr(owner, c, None)
        if owner is None or not hasattr(owner, attr):
            continue
        undo.append((owner, attr, owner.__dict__[attr]))
        setattr(owner, attr, _timed(getattr(owner, attr), label, spent))
    try:
        yield spent
    finally:
        for owner, attr, f in reversed(undo):
            setattr(owner, attr, f)


def _timed(f: Callable[..., Any], label: str, spent: dict[str, float]) -> Callable[..., Any]:
    @wraps(f)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - t0

    return timed


def shortened(path: Path, shift_s: float, duration_s: float) -> Any:
    """The scenario at ``path``, every launch ``shift_s`` earlier (≥ 0), ``duration_s`` long."""
    from mead.scenario.loader import load_scenario

    sc = load_scenario(path)
    raids = [
        msgspec.structs.replace(r, first_launch_s=max(0.0, r.first_launch_s - shift_s))
        for r in sc.raids
    ]
    return msgspec.structs.replace(sc, raids=raids, duration_s=duration_s)


def measure(path: Path, shift_s: float, duration_s: float, mode: str, events: Path) -> dict:
    """Prepare the shortened run, run ``mode`` under the stage timers; events go to ``events``."""
    from mead.runtime.simulation import prepare, run_mode

    sc = shortened(path, shift_s, duration_s)
    t0 = time.process_time()
    world = prepare(sc, sc.seed, path)
    prepare_s = time.process_time() - t0
    with stage_timers() as spent:
        t0, w0 = time.process_time(), time.perf_counter()
        res = run_mode(world, mode)  # type: ignore[arg-type]
        run_s, wall_s = time.process_time() - t0, time.perf_counter() - w0
    lines = [msgspec.json.encode(e) for e in res.events]
    lines.append(msgspec.json.encode(res.counters))
    events.write_bytes(b"\n".join(lines))
    return {
        "mode": mode,
        "prepare_s": prepare_s,
        "run_s": run_s,
        "wall_s": wall_s,
        "stages_s": spent,
        "events": len(res.events),
        "digest": hashlib.sha256(events.read_bytes()).hexdigest()[:16],
    }


def baseline(ref: str, args: argparse.Namespace, events: Path) -> dict:
    """The same measurement on git revision ``ref``'s ``src``, in a child process."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        tar = subprocess.run(
            ["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(tmp, filter="data")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(tmp) / "src"), str(ROOT)]))
        cmd = [sys.executable, "-m", "benchmarks.bench_sim_stages", "--child", str(events),
               "--scenario", str(args.scenario), "--shift", str(args.shift),
               "--duration", str(args.duration), "--mode", args.mode]  # fmt: skip
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    got: dict = json.loads(out.stdout)
    got["ref"] = ref
    return got


def first_difference(a: Path, b: Path) -> str:
    """'identical', or how many lines differ and the first of them. A field only one side
    has (added or removed by the change, e.g. a new message field) is left out of the
    comparison and named: "identical apart from fields only one side has: …"."""
    la, lb = a.read_bytes().split(b"\n"), b.read_bytes().split(b"\n")
    if la == lb:
        return "identical"
    only: set[str] = set()
    diff = [k for k, (x, y) in enumerate(zip(la, lb, strict=False)) if not _same(x, y, only)]
    if not diff and len(la) == len(lb):
        return f"identical apart from fields only one side has: {', '.join(sorted(only))}"
    k = diff[0] if diff else min(len(la), len(lb))
    return (
        f"DIFFER: {len(la) - 1} vs {len(lb) - 1} events, {len(diff)} lines differ; first at "
        f"line {k}:\n  {la[k][:240]!r}\n  {lb[k][:240]!r}"
        if k < min(len(la), len(lb))
        else f"DIFFER: {len(la) - 1} vs {len(lb) - 1} events (one run is a prefix of the other)"
    )


def _same(x: bytes, y: bytes, only: set[str]) -> bool:
    """Two event lines equal, but for keys (collected in ``only``) one side lacks."""
    if x == y:
        return True
    try:
        dx, dy = json.loads(x), json.loads(y)
    except ValueError:
        return False
    if not isinstance(dx, dict) or not isinstance(dy, dict):
        return False
    extra = set(dx) ^ set(dy)
    if not extra or any(dx[k] != dy[k] for k in set(dx) & set(dy)):
        return False
    only |= extra
    return True


def report(runs: list[dict], check: str | None, info: dict[str, Any], args: Any) -> str:
    """The table: one column per run (baseline first), one row per stage."""
    out = [
        f"machine: {info['cpu']}, pinned to 1 of {info['cpus_total']} cpus; {info['os']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"run: {args.scenario.name}, launches {args.shift:g} s earlier, {args.duration:g} s, "
        f"mode {args.mode}",
        "",
        f"{'stage (CPU s)':<18}" + "".join(f"{r.get('ref', 'this checkout'):>16}" for r in runs),
    ]
    labels = dict.fromkeys(["prepare", "run", *dict.fromkeys(s[0] for s in STAGES), "wall"])
    for label in labels:
        key = label + "_s"
        cells = []
        for r in runs:
            v = r.get(key, r["stages_s"].get(label))
            share = f" {100 * v / r['run_s']:3.0f} %" if v is not None and label in r[
                "stages_s"] and r["run_s"] > 0 else "      "  # fmt: skip
            cells.append(f"{'–':>16}" if v is None else f"{f'{v:.1f}{share}':>16}")
        out.append(f"{label:<18}" + "".join(cells))
    out.append(
        f"{'× real time':<18}"
        + "".join(f"{args.duration / r['run_s'] if r['run_s'] > 0 else 0:>15.1f}×" for r in runs)
    )
    if len(runs) == 2 and runs[1]["run_s"] > 0:
        out.append(f"{'speed-up':<18}{'':>16}{runs[0]['run_s'] / runs[1]['run_s']:>15.2f}×")
    out.append(f"{'events':<18}" + "".join(f"{r['events']:>16}" for r in runs))
    if check is not None:
        out.append(f"\nevents and counters of the two runs: {check}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_sim_stages",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "reference.yaml")
    p.add_argument("--shift", type=float, default=30_500.0, help="launches this much earlier, s")
    p.add_argument("--duration", type=float, default=4_000.0, help="run length, s")
    p.add_argument("--mode", choices=("alliance", "national"), default="alliance")
    p.add_argument("--baseline", metavar="REF", help="git revision to time side by side")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # baseline run: events file
    args = p.parse_args(argv)
    args.scenario = args.scenario.resolve()
    pin_one_core()
    if args.child is not None:
        print(json.dumps(measure(args.scenario, args.shift, args.duration, args.mode, args.child)))
        return 0
    info, runs, check = machine("numpy", "scipy", "msgspec"), [], None
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        mine, theirs = Path(tmp) / "this.jsonl", Path(tmp) / "baseline.jsonl"
        print("this checkout …", file=sys.stderr)
        runs.append(measure(args.scenario, args.shift, args.duration, args.mode, mine))
        if args.baseline:
            print(f"baseline {args.baseline} …", file=sys.stderr)
            runs.insert(0, baseline(args.baseline, args, theirs))
            check = first_difference(theirs, mine)
    if args.json:
        print(json.dumps({"machine": info, "runs": runs, "events_check": check}, indent=2))
    else:
        print(report(runs, check, info, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
