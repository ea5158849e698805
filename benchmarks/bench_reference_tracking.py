"""How well each partner's local tracker holds the reference raid, per threat class.

Run as ``python -m benchmarks.bench_reference_tracking [--json] [--verbose]
[--scenario scenarios/reference.yaml] [--seed N] [--duration-s S] [--match one-to-one]``.

The scenario's truth and scans are simulated once (``mead.runtime.simulation.prepare``).
Each partner's ``Tracker`` then runs over that partner's scans in order, as in
``mead.runtime.node``; after every scan its confirmed tracks (``report(scan.t)``) are
matched to the nearest alive truth object within ``TRACK_GATE_M`` (25 km, as the
evaluation scores). Per (object, partner) this gives:

- **detectable flight**: from the object's first to its last plot on that partner's radars
  (``scan.truth``); pairs with no plot are left out;
- **coverage**: the share of that window during which a confirmed track holds the object
  (each scan's match counts until the partner's next scan); "best" takes, per object, the
  partner that covers it most; the window spans any gap in the partner's coverage (a
  drone that leaves it for hours and comes back), so "plots" also gives the share of the
  object's plots at whose scan a confirmed track held it;
- **id changes**: distinct confirmed track ids that held the object in its window, minus 1
  (over pairs held at least once);
- **scans to confirm**: the scans of the radars that plot the object (its *looks*: a
  partner's other radars, which never see it, are not counted) from the one with its first
  plot to the one where a confirmed track first holds it, both counted, so three hits in a
  row give 3; "≤3" is the share of detectable pairs confirmed within 3 looks (never
  confirmed counts as not). An object at the edge of a radar's coverage is plotted on some
  looks only, and no rule that needs more than one plot can confirm it in 3 looks, so
  "≤3 clean" gives the same share over the pairs whose first three looks all plot it, and
  "≤3 any" the share of objects that at least one partner confirmed within 3 of its looks.

Matching by nearest position can credit an object with a neighbour's track (salvos from
one launch area, drones flying one route a few km apart), which inflates id changes and
shortens scans to confirm; only matches inside the object's own window are counted.
``--match one-to-one`` instead pairs tracks and alive objects one to one (least total
distance within the gate, ``scipy.optimize.linear_sum_assignment``), so a duplicate or a
neighbour's track is not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from benchmarks._machine import machine
from mead.metrics.matching import TRACK_GATE_M
from mead.runtime.simulation import World, prepare
from mead.scenario import load_scenario
from mead.sensors.base import Scan
from mead.sim.base import KINDS, TruthTable
from mead.tracking.association import GNN
from mead.tracking.imm import IMM
from mead.tracking.jpda import JPDA
from mead.tracking.management import MOfNManager
from mead.tracking.score import confirm_threshold
from mead.tracking.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "reference.yaml"
QUICK_SCANS = 3  # "confirmed within this many scans"


@dataclass
class Trace:
    """What one partner's tracker did to every truth object (arrays are (N,), N objects)."""

    partner: str
    first_plot: np.ndarray  # first plot time on this partner's radars, s (NaN: never)
    last_plot: np.ndarray  # last plot time, s (NaN: never)
    held_s: np.ndarray  # time held by a confirmed track inside [first_plot, last_plot], s
    first_held: np.ndarray  # first scan time held, at or after first_plot, s (NaN: never)
    plots: np.ndarray  # plots of the object on this partner's radars
    held_plots: np.ndarray  # of those, plots at whose scan a confirmed track held it
    n_ids: np.ndarray  # distinct confirmed track ids that held it in its window
    scan_t: np.ndarray  # (K,) times of the partner's scans, s
    scan_sensor: np.ndarray  # (K,) index of each scan's radar among the partner's
    looked: np.ndarray  # (N,) bit s set: radar s plotted the object at least once
    third_plot: np.ndarray  # (N,) time of the object's third plot, s (NaN: fewer)
    tracker_s: float  # time spent in Tracker.step + report, s
    tracks: int = 0  # confirmed track ids reported
    false_tracks: int = 0  # of those, never within the match gate of any live object


def plot_windows(scans: list[Scan], n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last plot time of each of ``n`` truth objects over ``scans`` (NaN: none)."""
    first, last = np.full(n, np.inf), np.full(n, -np.inf)
    if scans:
        idx = np.concatenate([s.truth for s in scans])
        t = np.concatenate([np.full(len(s.truth), s.t) for s in scans])
        real = idx >= 0
        np.minimum.at(first, idx[real], t[real])
        np.maximum.at(last, idx[real], t[real])
    never = ~np.isfinite(first)
    first[never], last[never] = np.nan, np.nan
    return first, last


def nearest_truth(truth: TruthTable, t: float, x: np.ndarray) -> np.ndarray:
    """Index of the nearest alive truth object to each track position (−1: none in gate)."""
    out = np.full(len(x), -1)
    alive, states = truth.states_at(t)
    if alive.size == 0 or len(x) == 0:
        return out
    d, k = cKDTree(states[:, :3]).query(x[:, :3], distance_upper_bound=TRACK_GATE_M)
    ok = np.isfinite(d)
    out[ok] = alive[k[ok]]
    return out


def assigned_truth(truth: TruthTable, t: float, x: np.ndarray) -> np.ndarray:
    """Like ``nearest_truth`` but one track per object: least total distance within the gate."""
    out = np.full(len(x), -1)
    alive, states = truth.states_at(t)
    if alive.size == 0 or len(x) == 0:
        return out
    d = cKDTree(x[:, :3]).sparse_distance_matrix(
        cKDTree(states[:, :3]), TRACK_GATE_M, output_type="coo_matrix"
    )
    if d.nnz == 0:
        return out
    cost = np.full(d.shape, 10 * TRACK_GATE_M)
    cost[d.row, d.col] = d.data
    r, c = linear_sum_assignment(cost)
    ok = cost[r, c] <= TRACK_GATE_M
    out[r[ok]] = alive[c[ok]]
    return out


MATCHERS = {"nearest": nearest_truth, "one-to-one": assigned_truth}


def _score_tracker(partner: str, alpha: float) -> Tracker:
    """The default tracker, also confirming on a track score of ln((1 − 10⁻³) / α)."""
    return Tracker(partner, manager=MOfNManager(confirm_llr=confirm_threshold(alpha, 1e-3)))


TRACKERS: dict[str, Callable[[str], Tracker]] = {
    "default": Tracker,
    "imm": lambda p: Tracker(p, motion=IMM()),
    "jpda": lambda p: Tracker(p, associator=JPDA()),
    "gnn-confirmed-first": lambda p: Tracker(p, associator=GNN(confirmed_first=True)),
    "score-3": lambda p: _score_tracker(p, 1e-3),
    "score-4": lambda p: _score_tracker(p, 1e-4),
    "score-5": lambda p: _score_tracker(p, 1e-5),
    "mofn": lambda p: Tracker(p, manager=MOfNManager(confirm_llr=None)),
}
"""Tracker set-ups to compare (``--tracker``): the default (adaptive CV, GNN over all tracks
at once, confirming on 3 of 4 or the track score), the IMM, JPDA, GNN with the confirmed
tracks choosing first, score confirmation at other false-track probabilities α, and 3-of-4
alone (``mofn``)."""


def trace_partner(
    truth: TruthTable,
    scans: list[Scan],
    partner: str,
    match: str = "nearest",
    setup: str = "default",
) -> Trace:
    """Run ``partner``'s tracker over its scans and record which objects its tracks hold."""
    n = len(truth)
    first, last = plot_windows(scans, n)
    held_s, first_held = np.zeros(n), np.full(n, np.nan)
    plots, held_plots = np.zeros(n, np.int64), np.zeros(n, np.int64)
    pairs: set[tuple[int, str]] = set()
    sensors = sorted({s.sensor_id for s in scans})
    scan_sensor = np.array([sensors.index(s.sensor_id) for s in scans], np.int64)
    looked, third_plot = np.zeros(n, np.int64), np.full(n, np.nan)
    tracker, busy, matcher = TRACKERS[setup](partner), 0.0, MATCHERS[match]
    prev_t, prev = 0.0, np.empty(0, np.int64)
    ids: set[str] = set()
    matched: set[str] = set()
    for scan in scans:
        t = scan.t
        t0 = time.perf_counter()
        tracker.step(scan)
        rep = tracker.report(t)
        busy += time.perf_counter() - t0
        # the previous scan's matches hold until this scan, clipped to each window
        lo, hi = np.maximum(prev_t, first[prev]), np.minimum(t, last[prev])
        held_s[prev] += np.clip(hi - lo, 0.0, None)
        obj = matcher(truth, t, rep.x)
        ok = obj >= 0
        ids.update(rep.ids)
        matched.update(compress(rep.ids, ok))
        ok[ok] = (first[obj[ok]] <= t) & (t <= last[obj[ok]])
        pairs.update(zip(obj[ok].tolist(), compress(rep.ids, ok), strict=True))
        prev, prev_t = np.unique(obj[ok]), t
        first_held[prev[np.isnan(first_held[prev])]] = t
        seen = scan.truth[scan.truth >= 0]
        looked[seen] |= 1 << sensors.index(scan.sensor_id)
        third_plot[seen[(plots[seen] == 2) & np.isnan(third_plot[seen])]] = t
        np.add.at(plots, seen, 1)
        np.add.at(held_plots, seen[np.isin(seen, prev)], 1)
    n_ids = np.zeros(n, np.int64)
    for o, c in Counter(o for o, _ in pairs).items():
        n_ids[o] = c
    scan_t = np.array([s.t for s in scans])
    return Trace(partner, first, last, held_s, first_held, plots, held_plots, n_ids, scan_t,
                 scan_sensor, looked, third_plot, busy, len(ids),
                 len(ids - matched))  # fmt: skip


def coverage(tr: Trace) -> np.ndarray:
    """Share of each object's detectable window held (NaN: never detectable).

    A one-plot window counts as held if a track holds the object at that plot.
    """
    dur = tr.last_plot - tr.first_plot
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(dur > 0, tr.held_s / dur, (tr.first_held == tr.first_plot) * 1.0)
    cov[np.isnan(tr.first_plot)] = np.nan
    return np.clip(cov, 0.0, 1.0)


def plot_coverage(tr: Trace) -> np.ndarray:
    """Share of each object's plots at whose scan a track held it (NaN: never detectable)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tr.plots > 0, tr.held_plots / tr.plots, np.nan)


def looks_between(tr: Trace, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Scans in [t0, t1] (s, (N,), NaN → NaN) of the radars that plot each object."""
    out = np.zeros(len(t0))
    for k in range(int(tr.scan_sensor.max(initial=-1)) + 1):
        t_k = tr.scan_t[tr.scan_sensor == k]
        n = np.searchsorted(t_k, t1, side="right") - np.searchsorted(t_k, t0, side="left")
        out += np.where((tr.looked >> k) & 1 == 1, n, 0)
    out[np.isnan(t0) | np.isnan(t1)] = np.nan
    return out


def scans_to_confirm(tr: Trace) -> np.ndarray:
    """Looks from the first plot to the first held scan, both counted (NaN: never held)."""
    return looks_between(tr, tr.first_plot, tr.first_held)


def clean_start(tr: Trace) -> np.ndarray:
    """(N,) True where the object's first three looks all plot it."""
    return looks_between(tr, tr.first_plot, tr.third_plot) == 3


def _mean(v: np.ndarray) -> float | None:
    return float(np.mean(v)) if v.size else None


def pair_stats(
    cov: np.ndarray, pcov: np.ndarray, ids: np.ndarray, conf: np.ndarray, clean: np.ndarray
) -> dict[str, Any]:
    """Statistics over detectable (object, partner) pairs (1-D arrays, NaN cov dropped)."""
    det = ~np.isnan(cov)
    cov, pcov, ids, conf, clean = cov[det], pcov[det], ids[det], conf[det], clean[det] > 0
    held = ids > 0
    quick = np.nan_to_num(conf, nan=np.inf) <= QUICK_SCANS
    confirmed = conf[~np.isnan(conf)]
    return {
        "pairs": int(det.sum()),
        "held_once": int(held.sum()),
        "coverage_mean": _mean(cov),
        "coverage_plots_mean": _mean(pcov),
        "id_changes_mean": _mean(ids[held] - 1.0),
        "id_changes_max": int(ids[held].max() - 1) if held.any() else None,
        "scans_to_confirm_median": float(np.median(confirmed)) if confirmed.size else None,
        "scans_to_confirm_mean": _mean(confirmed),
        "confirmed_within_3": _mean(quick * 1.0),
        "clean_pairs": int(clean.sum()),
        "confirmed_within_3_clean": _mean(quick[clean] * 1.0),
    }


def summarize(truth: TruthTable, traces: list[Trace]) -> dict[str, Any]:
    """Per class: pooled over partners and best partner per object; and per partner."""
    cov = np.stack([coverage(tr) for tr in traces])  # (P, N)
    pcov = np.stack([plot_coverage(tr) for tr in traces])
    ids = np.stack([tr.n_ids for tr in traces])
    conf = np.stack([scans_to_confirm(tr) for tr in traces])
    clean = np.stack([clean_start(tr) for tr in traces]) * 1.0
    kind = np.asarray(truth.kind)
    with np.errstate(all="ignore"):
        any_det = ~np.all(np.isnan(cov), axis=0)
        best = np.where(any_det, np.nanmax(np.where(any_det, cov, 0.0), axis=0), np.nan)
        # per object: some partner confirmed it within 3 of its own looks
        quick_any = np.any(np.nan_to_num(conf, nan=np.inf) <= QUICK_SCANS, axis=0)
    classes: dict[str, dict[str, Any]] = {}
    partners: dict[str, dict[str, Any]] = {tr.partner: {} for tr in traces}
    for c in KINDS:
        m = kind == c
        row: dict[str, Any] = {"objects": int(m.sum()), "detectable": int(any_det[m].sum())}
        row |= pair_stats(*(a[:, m].ravel() for a in (cov, pcov, ids, conf, clean)))
        row["coverage_best_mean"] = _mean(best[m & any_det])
        row["confirmed_within_3_any"] = _mean(quick_any[m & any_det] * 1.0)
        classes[c] = row
        for p, tr in enumerate(traces):
            partners[tr.partner][c] = pair_stats(*(a[p, m] for a in (cov, pcov, ids, conf, clean)))
    return {"classes": classes, "partners": partners}


def run(world: World, match: str = "nearest", setup: str = "default") -> dict[str, Any]:
    """Trace every partner of the world and summarize; adds per-partner tracker times."""
    traces = []
    for p in world.scenario.partners:
        scans = [s for s in world.scans if s.partner == p.name]
        traces.append(trace_partner(world.truth, scans, p.name, match, setup))
    out = summarize(world.truth, traces)
    out["tracker_s"] = {tr.partner: tr.tracker_s for tr in traces}
    out["scans"] = {tr.partner: len(tr.scan_t) for tr in traces}
    out["tracks"] = sum(tr.tracks for tr in traces)
    out["false_tracks"] = sum(tr.false_tracks for tr in traces)
    return out


COLUMNS = (
    ("class", "{:<9}"), ("objects", "{:>7}"), ("pairs", "{:>5}"), ("held", "{:>5}"),
    ("cover", "{:>6}"), ("best", "{:>6}"), ("plots", "{:>6}"), ("id chg", "{:>6}"),
    ("max", "{:>4}"), ("looks→conf", "{:>10}"), ("≤3", "{:>6}"), ("clean", "{:>5}"),
    ("≤3 clean", "{:>8}"), ("≤3 any", "{:>6}"),
)  # fmt: skip


LEGEND = (
    "  pairs: detectable (object, partner) pairs; held: held at least once",
    "  cover: mean share of the detectable flight held by a confirmed track",
    "  plots: mean share of the object's plots at whose scan a confirmed track held it",
    "  id chg: mean (max) distinct track ids that held an object, minus 1",
    "  looks→conf: median scans of the radars that plot the object, from its first plot to",
    "    its first confirmed track, both counted",
    "  ≤3: share of pairs confirmed within 3 looks; clean: pairs whose first 3 looks all plot",
    "    the object; ≤3 clean: share of those confirmed within 3 looks; ≤3 any: share of",
    "    objects that some partner confirmed within 3 of its own looks",
)


def _fmt(fmt: str, v: Any, pct: bool = False) -> str:
    width = int("".join(ch for ch in fmt if ch.isdigit()))
    if v is None:
        return f"{'–':>{width}}"
    if pct:
        return f"{100 * v:>{width - 1}.1f}%"
    if isinstance(v, float):
        return f"{v:>{width}.2f}"
    return fmt.format(v)


def format_rows(rows: dict[str, dict[str, Any]], title: str) -> str:
    """A fixed-width table, one row per class."""
    head = "  ".join(fmt.format(name) for name, fmt in COLUMNS)
    lines = [title, head]
    for c, r in rows.items():
        vals = [
            f"{c:<9}", _fmt("{:>7}", r.get("objects")), _fmt("{:>5}", r["pairs"]),
            _fmt("{:>5}", r["held_once"]), _fmt("{:>6}", r["coverage_mean"], pct=True),
            _fmt("{:>6}", r.get("coverage_best_mean"), pct=True),
            _fmt("{:>6}", r["coverage_plots_mean"], pct=True),
            _fmt("{:>6}", r["id_changes_mean"]), _fmt("{:>4}", r["id_changes_max"]),
            _fmt("{:>10}", r["scans_to_confirm_median"]),
            _fmt("{:>6}", r["confirmed_within_3"], pct=True), _fmt("{:>5}", r["clean_pairs"]),
            _fmt("{:>8}", r["confirmed_within_3_clean"], pct=True),
            _fmt("{:>6}", r.get("confirmed_within_3_any"), pct=True),
        ]  # fmt: skip
        lines.append("  ".join(vals))
    return "\n".join(lines)


COMPARE = (
    ("cover", "coverage_mean", True), ("id chg", "id_changes_mean", False),
    ("looks→conf", "scans_to_confirm_median", False), ("≤3", "confirmed_within_3", True),
    ("≤3 clean", "confirmed_within_3_clean", True), ("≤3 any", "confirmed_within_3_any", True),
)  # fmt: skip


def format_compare(runs: dict[str, dict[str, Any]]) -> str:
    """Per class, the key figures of each tracker set-up side by side."""
    names = list(runs)
    head = f"{'class':<9}  " + "  ".join(
        f"{label + ' ' + n:>{max(12, len(label) + len(n) + 1)}}" for label, _, _ in COMPARE
        for n in names
    )  # fmt: skip
    lines = ["tracker set-ups side by side (pooled over partners)", head]
    for c in runs[names[0]]["classes"]:
        cells = []
        for label, key, pct in COMPARE:
            for n in names:
                w = max(12, len(label) + len(n) + 1)
                cells.append(_fmt(f"{{:>{w}}}", runs[n]["classes"][c][key], pct=pct))
        lines.append(f"{c:<9}  " + "  ".join(cells))
    lines.append("tracker time: " + ", ".join(
        f"{n} {sum(r['tracker_s'].values()):.1f} s" for n, r in runs.items()
    ))  # fmt: skip
    lines.append("confirmed track ids (never near an object): " + ", ".join(
        f"{n} {r['tracks']} ({r['false_tracks']})" for n, r in runs.items()
    ))  # fmt: skip
    return "\n".join(lines)


def report(res: dict[str, Any], verbose: bool) -> str:
    """The human-readable report: the class table, optionally per partner, and the machine."""
    info = res["machine"]
    out = [
        f"scenario {res['scenario']} (seed {res['seed']}, {res['duration_s']:.0f} s simulated,"
        f" {res['match']} matching, tracker {res['tracker']})",
        format_rows(res["classes"], "per class, pooled over partners (best: best partner)"),
        *LEGEND,
        f"confirmed track ids: {res['tracks']}, of which never within "
        f"{TRACK_GATE_M / 1e3:.0f} km of a live object: {res['false_tracks']}",
    ]
    if res.get("others"):
        out += ["", format_compare({res["tracker"]: res} | res["others"])]
    if verbose:
        for p, rows in res["partners"].items():
            out += ["", format_rows(rows, f"partner {p} ({res['scans'][p]} scans, "
                                          f"tracker {res['tracker_s'][p]:.1f} s)")]  # fmt: skip
    out += [
        "",
        f"wall {res['wall_s']:.1f} s (prepare {res['prepare_s']:.1f} s, trackers "
        f"{sum(res['tracker_s'].values()):.1f} s)",
        f"machine: {info['cpu']}, {info['cpus_available']} of {info['cpus_total']} cpus;"
        f" {info['os']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_reference_tracking",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--scenario", type=Path, default=REFERENCE, help="scenario YAML")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    p.add_argument("--duration-s", type=float, default=None, help="cut the scenario short")
    p.add_argument("--match", choices=list(MATCHERS), default="nearest",
                   help="track → truth: nearest object (default), or one track per object "
                   "(least total distance)")  # fmt: skip
    p.add_argument("--tracker", nargs="+", choices=list(TRACKERS), default=["default"],
                   help="tracker set-up(s): the first is reported in full, the others side by "
                   "side with it")  # fmt: skip
    p.add_argument("--verbose", action="store_true", help="also one table per partner")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    if args.duration_s is not None:
        sc = msgspec.structs.replace(sc, duration_s=args.duration_s)
    seed = sc.seed if args.seed is None else args.seed
    if not args.json:
        print(f"simulating {args.scenario} …", file=sys.stderr)
    world = prepare(sc, seed, args.scenario)
    if not args.json:
        print(f"tracking {len(sc.partners)} partners …", file=sys.stderr)
    res: dict[str, Any] = {
        "scenario": str(args.scenario), "seed": seed, "duration_s": sc.duration_s,
        "prepare_s": world.prepare_s, "match": args.match, "tracker": args.tracker[0],
    }  # fmt: skip
    res |= run(world, args.match, args.tracker[0])
    res["others"] = {m: run(world, args.match, m) for m in dict.fromkeys(args.tracker[1:])}
    res["wall_s"] = time.perf_counter() - t0
    res["machine"] = machine()
    print(json.dumps(res, indent=2) if args.json else report(res, args.verbose))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
