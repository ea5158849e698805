"""MEAD's SIAP figures against Stone Soup's ``SIAPMetrics`` on one synthetic picture.

Run as ``python -m benchmarks.bench_siap [--json] [--size N] [--steps K]``.

The case (``synthetic``): ``--size`` truth objects in straight lines (ECEF, 150 km apart,
100–300 m/s, classes ballistic / cruise / drone in turn), alive over staggered windows of
``--steps`` assessment times 5 s apart. Each truth has a track (truth + Gaussian noise,
σ 100 m and 5 m/s) from 2 steps after it appears, except that truth 0's track changes its
number half-way, truth 1 is missed for 10 steps and comes back under a new number, and
truth 2 has a second (duplicate) track 3 km off for 15 steps, and truth 3 a wandering one
that is 20 km off (inside the 25 km gate) 2 times in 3 and 40 km off the third, for 24
steps; ``max(1, N // 3)`` spurious tracks fly 1,000 km away from everything. Every run of
a track on a truth lasts ≥ 2 times: Stone Soup (1.9) cannot represent an association at a
single time (``TimeRange`` needs start < end), which MEAD counts.

- **MEAD**: ``mead.metrics.siap.SiapAccumulator`` fed one assessment time at a time.
- **Stone Soup** (optional): ``SIAPMetrics`` (Euclidean position and velocity measures)
  with the ``TrackToTruth`` associator, association threshold the same 25 km gate,
  ``consec_pairs_confirm = 1`` and ``consec_misses_end = 1``, which is MEAD's per-time
  nearest-truth association; per class, ``SIAPMetrics`` on that class's truths with the
  overall association restricted to them (spuriousness is overall only). Its time covers
  the association and the metrics, not building its objects.
- **Stone Soup 3/2** (informative): the same with the associator's defaults (3 matches in
  a row to start an association, 2 misses to end it), which differs by design.

A figure agrees when |MEAD − Stone Soup| ≤ 1e-9 (relative, or absolute near 0).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from benchmarks._machine import machine
from mead.metrics.siap import GATE_M, SiapAccumulator

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DT_S = 5.0
CLASSES = ("ballistic", "cruise", "drone")
FIGURES = (  # result key, Stone Soup metric title, label
    ("completeness", "SIAP Completeness", "completeness C"),
    ("ambiguity", "SIAP Ambiguity", "ambiguity A"),
    ("spuriousness", "SIAP Spuriousness", "spuriousness S"),
    ("position_accuracy_m", "SIAP Position Accuracy", "position acc. m"),
    ("velocity_accuracy_mps", "SIAP Velocity Accuracy", "velocity acc. m/s"),
    ("id_change_rate_per_s", "SIAP Rate of Track Number Change", "id change rate /s"),
    ("longest_segment", "SIAP Longest Track Segment", "longest segment LS"),
)
TOL = 1e-9


@dataclass
class Case:
    """A synthetic run: truth and picture at each of ``len(t)`` times."""

    t: np.ndarray  # (K,) s
    truth_class: np.ndarray  # (T,) str
    truth_alive: list[np.ndarray]  # per time (M_k,) truth indices
    truth_x: list[np.ndarray]  # per time (M_k, 6) ECEF
    track_ids: list[list[str]]  # per time (N_k,)
    track_x: list[np.ndarray]  # per time (N_k, 6) ECEF


def synthetic(n: int, steps: int, seed: int = 1) -> Case:
    """The benchmark's case (module docstring) for ``n`` truths over ``steps`` times."""
    rng = np.random.default_rng(seed)
    p0 = np.array([3.4e6, 1.0e6, 5.2e6])
    pos = p0 + np.outer(np.arange(n), [0.0, 150e3, 0.0])
    u = rng.normal(size=(n, 3))
    vel = u / np.linalg.norm(u, axis=1)[:, None] * rng.uniform(100, 300, (n, 1))
    birth = np.arange(n) * 2 % 10
    death = steps - np.arange(n) * 3 % 7
    t = DT_S * np.arange(steps)
    mid = steps // 2
    case = Case(t, np.array([CLASSES[i % 3] for i in range(n)]), [], [], [], [])
    n_false = max(1, n // 3)
    f_pos = p0 + [1e6, 0, 0] + np.outer(np.arange(n_false), [0.0, 0.0, 100e3])
    for k, tk in enumerate(t):
        alive = np.flatnonzero((birth <= k) & (k < death))
        xt = np.hstack([pos[alive] + tk * vel[alive], vel[alive]])
        ids, xs = [], []
        for row, i in enumerate(alive):
            if k < birth[i] + 2 or (i == 1 and mid - 5 <= k < mid + 5):
                continue
            ids.append(f"S{i:03d}" + ("b" if i in (0, 1) and k >= mid else ""))
            xs.append(xt[row])
            if i == 2 and birth[i] + 5 <= k < birth[i] + 20:
                ids.append("D002")
                xs.append(xt[row] + [3e3, 0, 0, 0, 0, 0])
            wander_end = birth[i] + min(34, 3 * ((death[i] - birth[i]) // 3))
            if i == 3 and birth[i] + 10 <= k < wander_end:  # in the gate 2 times of 3
                ids.append("W003")
                xs.append(xt[row] + [40e3 if (k - birth[i]) % 3 == 0 else 20e3, 0, 0, 0, 0, 0])
        for j in range(n_false):  # spurious tracks fly throughout
            ids.append(f"F{j:02d}")
            xs.append(np.r_[f_pos[j] + tk * np.array([0.0, 200.0, 0.0]), 0.0, 200.0, 0.0])
        x = np.array(xs).reshape(-1, 6)
        x += np.hstack([rng.normal(0, 100.0, (len(x), 3)), rng.normal(0, 5.0, (len(x), 3))])
        case.truth_alive.append(alive)
        case.truth_x.append(xt)
        case.track_ids.append(ids)
        case.track_x.append(x)
    return case


def run_mead(case: Case) -> tuple[dict[str, Any], float]:
    """MEAD's figures on the case and the seconds it took (updates and result)."""
    t0 = time.perf_counter()
    acc = SiapAccumulator(case.truth_class, GATE_M)
    for k, tk in enumerate(case.t):
        acc.update(tk, case.track_ids[k], case.track_x[k], case.truth_alive[k], case.truth_x[k])
    res = acc.result()
    return res, time.perf_counter() - t0


def stonesoup_available() -> bool:
    """True if the optional peer ``stonesoup`` is installed."""
    try:
        import stonesoup  # noqa: F401
    except ImportError:
        return False
    return True


def run_stonesoup(case: Case, confirm: int = 1, misses: int = 2) -> tuple[dict[str, Any], float]:
    """Stone Soup's SIAPMetrics on the case, overall and per class, and its seconds."""
    from stonesoup.dataassociator.tracktotrack import TrackToTruth
    from stonesoup.measures import Euclidean
    from stonesoup.metricgenerator.manager import MultiManager
    from stonesoup.metricgenerator.tracktotruthmetrics import SIAPMetrics
    from stonesoup.types.association import AssociationSet
    from stonesoup.types.groundtruth import GroundTruthPath, GroundTruthState
    from stonesoup.types.state import State
    from stonesoup.types.track import Track

    stamps = [EPOCH + timedelta(seconds=float(s)) for s in case.t]
    truths = [GroundTruthPath() for _ in case.truth_class]
    tracks: dict[str, Track] = {}
    for k, stamp in enumerate(stamps):
        for i, x in zip(case.truth_alive[k], case.truth_x[k], strict=True):
            truths[i].append(GroundTruthState(x.reshape(6, 1), timestamp=stamp))
        for tid, x in zip(case.track_ids[k], case.track_x[k], strict=True):
            tracks.setdefault(tid, Track(id=tid)).append(State(x.reshape(6, 1), timestamp=stamp))
    cls = {c: {p for p, pc in zip(truths, case.truth_class, strict=True) if pc == c and len(p)}
           for c in np.unique(case.truth_class)}  # fmt: skip
    measures = {"position_measure": Euclidean((0, 1, 2)), "velocity_measure": Euclidean((3, 4, 5))}
    overall = SIAPMetrics(**measures)
    associator = TrackToTruth(association_threshold=GATE_M, consec_pairs_confirm=confirm,
                              consec_misses_end=misses)  # fmt: skip
    manager = MultiManager(generators=[overall], associator=associator)
    manager.add_data({"tracks": set(tracks.values()), "groundtruth_paths": {p for p in truths
                      if len(p)}} | {f"truths_{c}": v for c, v in cls.items()})  # fmt: skip
    t0 = time.perf_counter()
    metrics = {"overall": _titles(manager.generate_metrics()["siap_generator"])}
    everything = manager.association_set
    by_class = {}
    for c, paths in cls.items():
        gen = SIAPMetrics(**measures, truths_key=f"truths_{c}", generator_name=f"siap_{c}")
        manager.association_set = AssociationSet(
            {a for a in everything.associations if set(a.objects) & paths}
        )
        by_class[str(c)] = _titles(gen.compute_metric(manager))
    sec = time.perf_counter() - t0
    return metrics | {"by_class": by_class}, sec


def _titles(metrics: Any) -> dict[str, float]:
    """Stone Soup's time-range figures by result key."""
    got = {m.title: m.value for m in (metrics.values() if isinstance(metrics, dict) else metrics)}
    return {key: float(got[title]) for key, title, _ in FIGURES}


def agrees(a: float | None, b: float | None) -> bool:
    """MEAD's figure ``a`` equals Stone Soup's ``b`` within ``TOL``; None is Stone Soup's 0
    (or 1 for ambiguity), so those compare as that."""
    if a is None or b is None:
        return a is b
    return bool(abs(a - b) <= TOL * max(1.0, abs(a), abs(b)))


def compare(mead: dict[str, Any], ss: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (group, figure): MEAD, Stone Soup and whether they agree."""
    rows = []
    groups = [("overall", mead["overall"], ss["overall"])] + [
        (c, mead["by_class"][c], ss["by_class"][c]) for c in mead["by_class"]
    ]
    for group, m, s in groups:
        for key, _, _ in FIGURES:
            if key == "spuriousness" and group != "overall":
                continue
            fallback = 1.0 if key == "ambiguity" else 0.0  # Stone Soup's value for 0/0
            mv = m[key] if m[key] is not None else fallback
            rows.append({"group": group, "figure": key, "mead": m[key], "stonesoup": s[key],
                         "agree": agrees(mv, s[key])})  # fmt: skip
    return rows


def report(res: dict[str, Any]) -> str:
    """The human-readable report: the case, the side-by-side table, timing and machine."""
    info = res["machine"]
    out = [
        f"machine: {info['cpu']}, {info['cpus_total']} cpus; {info['os']}; "
        f"python {info['python']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"case: {res['truths']} truths, {res['steps']} times {DT_S:g} s apart, "
        f"{res['track_ids']} track ids, gate {GATE_M / 1e3:g} km",
        "",
    ]
    m = res["mead"]
    if res["stonesoup"] is None:
        out += ["Stone Soup not installed (pip install stonesoup): MEAD only.", ""]
        out.append(f"{'group':<10} {'figure':<20} {'MEAD':>12}")
        for group, figs in [("overall", m["overall"]), *m["by_class"].items()]:
            for key, _, label in FIGURES:
                out.append(f"{group:<10} {label:<20} {_num(figs[key]):>12}")
    else:
        labels = {key: label for key, _, label in FIGURES}
        ss32 = res["stonesoup_3_2"]["overall"]
        out.append(f"{'group':<10} {'figure':<20} {'MEAD':>12} {'Stone Soup':>12} "
                   f"{'agree':>5}   {'SS 3/2':>10}")  # fmt: skip
        for r in res["rows"]:
            extra = _num(ss32[r["figure"]]) if r["group"] == "overall" else ""
            out.append(
                f"{r['group']:<10} {labels[r['figure']]:<20} {_num(r['mead']):>12} "
                f"{_num(r['stonesoup']):>12} {'yes' if r['agree'] else 'NO':>5}   {extra:>10}"
            )
        n_ok = sum(r["agree"] for r in res["rows"])
        out += ["", f"agree: {n_ok}/{len(res['rows'])} figures within {TOL:g}"]
    o = m["overall"]
    out += [
        f"MEAD track-number changes: {o['id_changes']} ({_num(o['id_changes_per_truth'])} "
        f"per truth held), truths held {o['truths_held']}/{o['truths']}",
        f"time: MEAD {1e3 * res['mead_s']:.2f} ms"
        + (f", Stone Soup {1e3 * res['stonesoup_s']:.1f} ms "
           f"(×{res['stonesoup_s'] / res['mead_s']:.0f})" if res["stonesoup"] else ""),
    ]  # fmt: skip
    return "\n".join(out)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_siap",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--size", type=int, default=6, help="number of truth objects (≥ 1)")
    p.add_argument("--steps", type=int, default=60, help="assessment times (≥ 30)")
    p.add_argument("--no-peer", action="store_true", help="run MEAD only")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.size < 1 or args.steps < 30:
        p.error(f"--size must be ≥ 1 and --steps ≥ 30 (got {args.size}, {args.steps})")
    case = synthetic(args.size, args.steps)
    mead, mead_s = run_mead(case)
    res: dict[str, Any] = {
        "truths": args.size, "steps": args.steps,
        "track_ids": len({i for ids in case.track_ids for i in ids}),
        "mead": mead, "mead_s": mead_s, "stonesoup": None, "stonesoup_s": None,
        "stonesoup_3_2": None, "rows": [], "machine": machine("stonesoup"),
    }  # fmt: skip
    if not args.no_peer and stonesoup_available():
        res["stonesoup"], res["stonesoup_s"] = run_stonesoup(case, 1, 1)
        res["stonesoup_3_2"], _ = run_stonesoup(case, 3, 2)
        res["rows"] = compare(mead, res["stonesoup"])
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
