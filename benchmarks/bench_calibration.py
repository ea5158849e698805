"""Calibration of ballistic impact prediction: many seeds of a one-raid scenario, by time to go.

Run as ``python -m benchmarks.bench_calibration [--seeds 20] [--missiles 4] [--json]
[--scenario scenarios/small.yaml] [--partner P1]``.

For each seed the scenario is reduced to its first ballistic raid (``--missiles`` of them,
no civil traffic, no other raids), its truth and radar plots are simulated, and one
partner's tracker runs over its own scans. Every ``--every-s`` the threat stage's pieces
run on the confirmed tracks as a node runs them — classification, the free-flight fit of
tracks declared ballistic (a boost fails its residual test), sigma-point impact
prediction — and each
prediction is compared with the true impact of the object the track is on (nearest within
25 km). Printed per 1-minute bin of true time to go: predictions, median error, median
stated 95 % radius, and the share of true impacts inside it (calibrated: 0.90–0.98), for
the fit and, side by side, for the chord-smoothed track state with the default drag.
Each seed draws its missiles' ballistic coefficient from ``BETA_RANGE``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from scipy.spatial import cKDTree

from mead import geo
from mead.metrics.warning import ImpactErrors
from mead.runtime.simulation import prepare
from mead.scenario import load_scenario
from mead.scenario.schema import Scenario
from mead.threat.classify import Classifier
from mead.threat.evaluate import DEFAULT_RULES, with_drag
from mead.threat.impact import predict_impact
from mead.threat.trajectory import FreeFlightFit
from mead.tracking.tracker import Tracker

BETA_RANGE = (2_500.0, 15_000.0)
"""Each seed's missiles fly with a ballistic coefficient drawn log-uniformly from this
range, kg/m², so that the drag the fit estimates is not the prior it starts from."""


def one_raid(sc: Scenario, missiles: int, beta_kg_m2: float | None = None) -> Scenario:
    """The scenario with only its first ballistic raid (``missiles`` of them, ballistic
    coefficient ``beta_kg_m2`` if given), no civil traffic."""
    raid = next(r for r in sc.raids if r.threat in ("ballistic", "rocket"))
    params = raid.params
    if beta_kg_m2 is not None:
        params = msgspec.structs.replace(params, ballistic_coeff_kg_m2=beta_kg_m2)
    raid = msgspec.structs.replace(raid, count=missiles, params=params)
    civil = msgspec.structs.replace(sc.civil, flights=0)
    return msgspec.structs.replace(sc, raids=[raid], civil=civil)


def run_seed(
    sc: Scenario, seed: int, partner: str, every_s: float, noise_scale: float | None = None
) -> dict[str, list[Any]]:
    """(tgo, error, radius) rows of the fit and of the smoothed state, for one seed."""
    world = prepare(sc, seed)
    truth = world.truth
    lat, lon, _ = geo.ecef2geodetic(truth.impact_ecef)
    fit = FreeFlightFit() if noise_scale is None else FreeFlightFit(noise_scale=noise_scale)
    tracker, clf = Tracker(partner), Classifier()
    scans = iter(s for s in world.scans if s.partner == partner)
    nxt = next(scans, None)
    rows: dict[str, list[Any]] = {"fit": [], "track": []}
    for t in np.arange(every_s, sc.duration_s, every_s):
        while nxt is not None and nxt.t_arrival <= t:
            tracker.step(nxt)
            nxt = next(scans, None)
        rep = tracker.report(float(t))
        clf.forget(rep.deleted)
        fit.forget(rep.deleted)
        if not rep.ids:
            continue
        c = clf.step(rep.ids, rep.x, rep.P, float(t))
        free = np.isin(c.classes, ("ballistic", "rocket"))  # as the Assessor does
        ff = fit.step(float(t), rep.ids, rep.x, rep.P, free)
        alive, states = truth.states_at(float(t))
        if not free.any() or alive.size == 0:
            continue
        d, k = cKDTree(states[:, :3]).query(rep.x[:, :3], distance_upper_bound=25e3)
        on = free & np.isfinite(d)
        obj = alive[np.minimum(k, alive.size - 1)]
        x7, P7 = with_drag(c.x, c.P, DEFAULT_RULES.beta_kg_m2)
        for name, (xs, Ps, ok) in {
            "fit": (ff.x, ff.P, on & ff.ok),
            "track": (x7, P7, on & ff.ok),  # same rows, for a fair comparison
        }.items():
            if not ok.any():
                continue
            imp = predict_impact(xs[ok], Ps[ok])
            o = obj[ok]
            err = geo.great_circle_distance_m(imp.lat_deg, imp.lon_deg, lat[o], lon[o])
            good = imp.ok
            for tg, e, r in zip(
                (truth.t_end[o] - t)[good], err[good], imp.radius_m[good], strict=True
            ):
                rows[name].append((float(tg), float(e), float(r)))
    return rows


def summarize(rows: list[Any]) -> list[dict[str, Any]]:
    a = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return ImpactErrors(a[:, 0], a[:, 1], a[:, 2]).by_minute(12)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/small.yaml"))
    ap.add_argument("--partner", default="P1")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--missiles", type=int, default=4)
    ap.add_argument("--every-s", type=float, default=5.0)
    ap.add_argument("--noise-scale", type=float, default=None, help="FreeFlightFit's")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    base = load_scenario(args.scenario)
    rows: dict[str, list[Any]] = {"fit": [], "track": []}
    betas = []
    for seed in range(args.seeds):
        beta = float(np.exp(np.random.default_rng(seed).uniform(*np.log(BETA_RANGE))))
        betas.append(round(beta))
        sc = one_raid(base, args.missiles, beta)
        for k, v in run_seed(sc, seed, args.partner, args.every_s, args.noise_scale).items():
            rows[k] += v
    res = {k: summarize(v) for k, v in rows.items()}
    meta: dict[str, Any] = {
        "scenario": str(args.scenario),
        "seeds": args.seeds,
        "missiles": args.missiles,
        "beta_kg_m2": betas,
    }
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps({"meta": meta, "results": res}, indent=2))
        return 0
    print(f"impact calibration — {meta}")
    print(
        f"{'tgo min':<8}{'n':>6}"
        + "".join(f"{k + ' err km':>13}{'r95 km':>8}{'inside':>8}" for k in res)
    )
    bins = [r["tgo_min"] for r in res["fit"]]
    for b in bins:
        line = f"{b:<8}{next(r['n'] for r in res['fit'] if r['tgo_min'] == b):>6}"
        for k in res:
            r = next((x for x in res[k] if x["tgo_min"] == b), None)
            line += (
                f"{r['median_error_m'] / 1e3:>13.2f}{r['median_radius_m'] / 1e3:>8.1f}"
                f"{r['inside_95']:>8.2f}"
                if r
                else f"{'-':>13}{'-':>8}{'-':>8}"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
