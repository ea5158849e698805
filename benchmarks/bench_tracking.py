"""MEAD's local tracker against Stone Soup's standard GNN tracker on identical recorded plots.

Run as ``python -m benchmarks.bench_tracking [--json] [--sizes 10 100 300 1000]``.

For each size N the recording ``mtt_N{N}_s1.npz`` of ``--data`` is used (or, if absent, one
generated in memory with the same recipe, ``mead.metrics.trackeval.simulate_recording``); both
trackers get the same plots, scan by scan, and are scored the same way: GOSPA (c = 1000 m,
p = 1, α = 2) between the true positions and the tracks each reports at each scan, plus
time per scan and plots per second (tracker time only, one core).

- **MEAD** (MEAD-GNN): ``mead.metrics.trackeval.mtt_tracker`` — the production ``Tracker`` (EKF in
  ECEF with the Cartesian measurement model, k-d tree + χ² gate, GNN on likelihood-ratio
  costs, 3-of-5 confirmation, deletion after 5 misses in a row, the recording's q).
- **MEAD-JPDA** and **MEAD-JPDA\***: the same tracker with ``mead.tracking.jpda.JPDA`` (same
  P_D and clutter density; PDA update; JPDA* keeps only the likeliest permutation of each
  joint event) in place of GNN (``--associators`` picks which run).
- **Stone Soup** (``stonesoup``, optional): its standard GNN tracker as in its tutorials —
  ``MultiTargetTracker`` with a 2D nearly-constant-velocity model (``ConstantVelocity`` per
  axis, q as recorded), ``KalmanPredictor`` / ``KalmanUpdater``, ``LinearGaussian`` position
  measurements, ``DistanceHypothesiser`` with ``Mahalanobis`` (gate √χ²₂(0.999) = 3.72),
  ``GNNWith2DAssignment``, ``MultiMeasurementInitiator`` (3 updates to confirm, velocity
  prior σ 250 m/s as MEAD's) and ``UpdateTimeStepsDeleter`` (5 scans without an update,
  as MEAD; 2 for tentative tracks, Stone Soup's tutorial setting). It is slow at large N,
  so by default it runs only the first ``--ss-max-scans`` scans from N = 1000 on; MEAD is
  then also scored on those same scans for the GOSPA comparison, and the output says so.

MEAD's settings for recordings (``mtt_tracker``) were chosen on these files; Stone Soup got
the same settings wherever it has a counterpart (q, gate, velocity prior, confirmation
after 3 plots, deletion after 5 misses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chi2

from benchmarks._machine import machine, pin_one_core
from mead.metrics.trackeval import (
    Recording,
    load_recording,
    mtt_tracker,
    run_mead,
    score,
    simulate_recording,
)
from mead.tracking.association import GNN
from mead.tracking.jpda import JPDA

DATA = Path("/work/shared/data/mtt")
SIZES = (10, 100, 300, 1000)
SS_FULL_BELOW = 1000  # sizes below this run Stone Soup on every scan by default
SS_MAX_SCANS = 6  # scans Stone Soup runs at N >= SS_FULL_BELOW by default
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = {  # --associators name → (result key, title)
    "gnn": ("mead", "MEAD-GNN"),
    "jpda": ("mead_jpda", "MEAD-JPDA"),
    "jpda*": ("mead_jpda_star", "MEAD-JPDA*"),
}


def recording(n: int, data: Path, scans: int | None, dense: bool = False) -> tuple[Recording, str]:
    """The recording of size ``n`` (file if present, else generated) and where it came from.

    ``dense``: generated instead, with the recipe of the files but 1 target and 0.5 false
    plots per km² (the 1,000-target file: 0.025 and 0.0005), so association is ambiguous.
    """
    path = data / f"mtt_N{n}_s1.npz"
    if dense:
        side_m, clutter = 1_000.0 * np.sqrt(n), 0.5 * n
        rec = simulate_recording(n, seed=1, side_m=side_m, clutter_rate=clutter)
        src = (
            f"generated dense (seed 1, N={n}, {side_m / 1e3:.0f} km side, {clutter:g} false/scan)"
        )
    elif path.exists():
        rec, src = load_recording(path), str(path)
    else:
        rec, src = simulate_recording(n, seed=1), f"generated in memory (seed 1, N={n})"
    if scans is not None:
        rec = truncate(rec, scans)
    return rec, src


def truncate(rec: Recording, scans: int) -> Recording:
    """The first ``scans`` scans of a recording."""
    keep = rec.det_scan < scans
    return replace(rec, truth=rec.truth[:scans], det_scan=rec.det_scan[keep],
                   det_xy=rec.det_xy[keep])  # fmt: skip


def stonesoup_available() -> bool:
    """True if the optional peer ``stonesoup`` is installed."""
    try:
        import stonesoup  # noqa: F401
    except ImportError:
        return False
    return True


def run_stonesoup(rec: Recording, max_scans: int | None) -> tuple[list[np.ndarray], float]:
    """Stone Soup's GNN tracker on the recording; tracks' x, y (K_k, 2) per scan, seconds."""
    from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
    from stonesoup.deleter.time import UpdateTimeStepsDeleter
    from stonesoup.hypothesiser.distance import DistanceHypothesiser
    from stonesoup.initiator.simple import MultiMeasurementInitiator
    from stonesoup.measures import Mahalanobis
    from stonesoup.models.measurement.linear import LinearGaussian
    from stonesoup.models.transition.linear import (
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import KalmanPredictor
    from stonesoup.tracker.simple import MultiTargetTracker
    from stonesoup.types.detection import Detection
    from stonesoup.types.state import GaussianState
    from stonesoup.updater.kalman import KalmanUpdater

    motion = CombinedLinearGaussianTransitionModel([ConstantVelocity(rec.q)] * 2)
    sensor = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * rec.sigma**2)
    predictor = KalmanPredictor(motion)
    updater = KalmanUpdater(sensor)
    gate = float(np.sqrt(chi2.ppf(0.999, 2)))
    hypothesiser = DistanceHypothesiser(predictor, updater, Mahalanobis(), missed_distance=gate)
    associator = GNNWith2DAssignment(hypothesiser)
    initiator = MultiMeasurementInitiator(
        prior_state=GaussianState(np.zeros((4, 1)), np.diag([0.0, 250.0**2, 0.0, 250.0**2])),
        measurement_model=sensor,
        deleter=UpdateTimeStepsDeleter(2),
        data_associator=associator,
        updater=updater,
        min_points=3,
    )
    tracker = MultiTargetTracker(
        initiator=initiator,
        deleter=UpdateTimeStepsDeleter(5),
        detector=None,
        data_associator=associator,
        updater=updater,
    )
    out, busy = [], 0.0
    for k, (t, xy) in enumerate(rec.plots()):
        if max_scans is not None and k >= max_scans:
            break
        stamp = EPOCH + timedelta(seconds=t)
        dets = {Detection(p.reshape(2, 1), timestamp=stamp, measurement_model=sensor) for p in xy}
        t0 = time.perf_counter()
        _, tracks = tracker.update_tracker(stamp, dets)
        busy += time.perf_counter() - t0
        out.append(np.array([np.ravel(tr.state_vector)[[0, 2]] for tr in tracks]).reshape(-1, 2))
    return out, busy


def run_mead_jpda(rec: Recording, star: bool) -> tuple[list[np.ndarray], float]:
    """``run_mead`` with JPDA (or JPDA*) in place of GNN, same P_D and clutter density."""
    tracker = mtt_tracker(rec)
    gnn = tracker.associator
    assert isinstance(gnn, GNN)
    tracker.associator = JPDA(pd=gnn.pd, clutter_density=gnn.clutter_density, star=star)
    return run_mead(rec, tracker=tracker)


def bench_size(
    n: int,
    data: Path,
    scans: int | None,
    ss_max: int | None,
    peer: bool,
    variants: tuple[str, ...] = ("gnn",),
    dense: bool = False,
) -> dict:
    """MEAD's variants and Stone Soup on size ``n``; one result row each (Stone Soup's may be
    on fewer scans)."""
    rec, src = recording(n, data, scans, dense)
    rows: dict[str, Any] = {"N": n, "source": src}
    runs = {}
    for v in variants:
        est, sec = run_mead(rec) if v == "gnn" else run_mead_jpda(rec, star=v == "jpda*")
        runs[VARIANTS[v][0]] = est, sec
        rows[VARIANTS[v][0]] = score(rec, est, sec)
    if not peer:
        return rows
    if ss_max is None and n >= SS_FULL_BELOW:
        ss_max = SS_MAX_SCANS
    ss_scans = rec.n_scans if ss_max is None else min(ss_max, rec.n_scans)
    ss_est, ss_sec = run_stonesoup(rec, ss_scans)
    rows["stonesoup"] = score(rec, ss_est, ss_sec)
    if ss_scans < rec.n_scans:  # GOSPA on the same scans, for the comparison
        for key, (est, sec) in runs.items():
            same = score(truncate(rec, ss_scans), est[:ss_scans], sec)
            rows[f"{key}_same_scans"] = same | {"time_per_scan_s": None, "plots_per_s": None}
    return rows


COLUMNS = (
    ("N", "{:>5}"), ("scans", "{:>5}"), ("plots/s", "{:>10.0f}"), ("ms/scan", "{:>9.2f}"),
    ("GOSPA mean m", "{:>12.0f}"), ("GOSPA last20 m", "{:>14.0f}"),
    ("tracks/truths", "{:>13}"),
)  # fmt: skip


def format_table(title: str, rows: list[tuple[int, dict]]) -> str:
    """One tracker's rows as a fixed-width table."""
    head = "  ".join(f"{name:>{len(fmt.format(0) if 'f' not in fmt else fmt.format(0.0))}}"
                     for name, fmt in COLUMNS)  # fmt: skip
    lines = [title, head]
    for n, r in rows:
        tps = r["time_per_scan_s"]
        vals = [
            n, r["scans"], r["plots_per_s"] or float("nan"),
            1e3 * tps if tps is not None else float("nan"), r["gospa_mean_m"],
            r["gospa_last20_mean_m"], f"{r['tracks_last_scan']}/{r['truths_last_scan']}",
        ]  # fmt: skip
        lines.append("  ".join(fmt.format(v) for (_, fmt), v in zip(COLUMNS, vals, strict=True)))
    return "\n".join(lines)


def side_by_side(results: list[dict]) -> str:
    """Every tracker at every size in one table, with throughput and GOSPA against Stone Soup.

    ``×SS`` is plots/s over Stone Soup's; ``SS-scans GOSPA`` is the mean GOSPA on the scans
    Stone Soup ran (all of them below N = ``SS_FULL_BELOW`` by default).
    """
    names = [(key, title) for key, title in VARIANTS.values()]
    names.append(("stonesoup", "Stone Soup GNN"))
    lines = [
        "Side by side (same plots):",
        f"{'N':>5}  {'tracker':<14}  {'scans':>5}  {'plots/s':>10}  {'ms/scan':>9}  "
        f"{'GOSPA mean m':>12}  {'GOSPA last20 m':>14}  {'tracks/truths':>13}  {'×SS':>7}  "
        f"{'SS-scans GOSPA m':>16}",
    ]
    for r in results:
        ss = r.get("stonesoup")
        for key, title in names:
            if key not in r:
                continue
            m = r[key]
            same = r.get(f"{key}_same_scans", m) if ss else None
            speed = m["plots_per_s"] / ss["plots_per_s"] if ss else float("nan")
            lines.append(
                f"{r['N']:>5}  {title:<14}  {m['scans']:>5}  {m['plots_per_s']:>10.0f}  "
                f"{1e3 * m['time_per_scan_s']:>9.2f}  {m['gospa_mean_m']:>12.0f}  "
                f"{m['gospa_last20_mean_m']:>14.0f}  "
                f"{str(m['tracks_last_scan']) + '/' + str(m['truths_last_scan']):>13}  "
                f"{speed:>7.0f}  " + (f"{same['gospa_mean_m']:>16.0f}" if same else f"{'-':>16}")
            )
    return "\n".join(lines)


def report(results: list[dict], info: dict[str, Any]) -> str:
    """The human-readable report: one table per tracker, the comparison and the machine."""
    out = [
        f"machine: {info['cpu']}, pinned to 1 of {info['cpus_total']} cpus; {info['os']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
        format_table("MEAD (mead.tracking.Tracker)", [(r["N"], r["mead"]) for r in results]),
    ]
    ss = [r for r in results if "stonesoup" in r]
    if ss:
        out += ["", format_table("Stone Soup GNN (MultiTargetTracker)",
                                 [(r["N"], r["stonesoup"]) for r in ss])]  # fmt: skip
        same = [r for r in ss if "mead_same_scans" in r]
        if same:
            out += ["", format_table("MEAD scored on Stone Soup's scans (GOSPA comparison)",
                                     [(r["N"], r["mead_same_scans"]) for r in same])]  # fmt: skip
        out += ["", "MEAD vs Stone Soup (same scans):"]
        for r in ss:
            m = r.get("mead_same_scans", r["mead"])
            s = r["stonesoup"]
            speed = r["mead"]["plots_per_s"] / s["plots_per_s"]
            out.append(
                f"  N={r['N']:>5}: GOSPA mean {m['gospa_mean_m']:.0f} vs "
                f"{s['gospa_mean_m']:.0f} m,"
                f" last {min(20, s['scans'])} {m['gospa_last20_mean_m']:.0f} vs "
                f"{s['gospa_last20_mean_m']:.0f} m; throughput ×{speed:.0f}"
                + (
                    f" (Stone Soup on the first {s['scans']} scans only)"
                    if s["scans"] < r["mead"]["scans"]
                    else ""
                )  # fmt: skip
            )
    else:
        out += ["", "Stone Soup not installed (pip install 'mead[bench]'): peer skipped."]
    if len(VARIANTS) > 1 and any(k in r for r in results for k in ("mead_jpda", "stonesoup")):
        out += ["", side_by_side(results)]
    for r in results:
        out.append(f"N={r['N']}: {r['source']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_tracking",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of targets")
    p.add_argument("--data", type=Path, default=DATA, help="folder of mtt_N*_s1.npz recordings")
    p.add_argument("--scans", type=int, default=None, help="use only the first SCANS scans")
    p.add_argument("--ss-max-scans", type=int, default=None,
                   help=f"scans Stone Soup runs (default: all below N={SS_FULL_BELOW}, "
                   f"else {SS_MAX_SCANS})")  # fmt: skip
    p.add_argument("--associators", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                   help="MEAD variants to run (default: all)")  # fmt: skip
    p.add_argument("--dense", action="store_true",
                   help="generated scenes: 1 target, 0.5 false plots per km²")  # fmt: skip
    p.add_argument("--no-peer", action="store_true", help="run MEAD only")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    pin_one_core()
    peer = not args.no_peer and stonesoup_available()
    info = machine("stonesoup")
    results = []
    for n in args.sizes:
        if not args.json:
            print(f"N={n} …", file=sys.stderr)
        variants = tuple(dict.fromkeys(["gnn", *args.associators]))  # GNN always: "mead"
        results.append(
            bench_size(n, args.data, args.scans, args.ss_max_scans, peer, variants, args.dense)
        )
    if args.json:
        print(json.dumps({"machine": info, "peer": peer, "results": results}, indent=2))
    else:
        print(report(results, info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
