"""Campaigns: one scenario over many seeds, run in parallel on a Dask cluster, aggregated.

Each seed is a whole ``mead run`` without the report (:func:`run_seed`: truth, radars, the
alliance and national-only runs, :func:`~mead.metrics.evaluation.summarize`). Its summary
becomes tidy rows (:func:`seed_rows`): one per (mode, class), (mode, defended area) and
(mode, civil traffic), with the threats, the warned, the mean warning time (an unwarned
threat counts 0 s), the warning efficiency, the area-alert precision and the civil flights
alerted. :func:`aggregate` gives, per (mode, group, name), the mean over the seeds of each
figure and the 95 % confidence interval of that mean (Student's t on the seeds' values),
which says how much of one seed's result is luck.

:func:`run_campaign` sends the seeds to a ``dask.distributed`` cluster: a ``LocalCluster``
of ``jobs`` single-threaded worker processes by default, or an existing scheduler
(``tcp://host:8786``) whose workers can read the scenario's files at the same paths.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mead.errors import ParameterError
from mead.metrics.evaluation import run_scored, summarize
from mead.runtime.simulation import MODES, prepare
from mead.runtime.wiring import policies
from mead.scenario.schema import Scenario

FIGURES = (
    "threats",
    "warned",
    "mean_warning_s",
    "warning_efficiency",
    "alert_precision",
    "civil_alerted",
)
"""The per-seed figures of a row that :func:`aggregate` averages (None: not defined)."""

MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"1-10"``, ``"2024,7"`` or a mix → the list of seeds (``ParameterError`` if bad)."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise ParameterError("--seeds", "like 1-20 or 2024,7", repr(text)) from None
    if not seeds or len(seeds) > MAX_SEEDS:
        raise ParameterError("--seeds", f"1 to {MAX_SEEDS} seeds, like 1-20", repr(text))
    return seeds


def run_seed(sc: Scenario, path: Path | None, seed: int, jobs: int = 1) -> dict[str, Any]:
    """The summary of one seed's run of ``sc`` (as ``mead run --json`` prints it).

    ``path``: the scenario file, to find its policy files; ``jobs`` > 1 runs the radars
    and then the alliance and national runs on forked processes (not inside a daemonic
    Dask worker)."""
    t0 = time.perf_counter()
    policies(sc, path)
    world = prepare(sc, seed, path, jobs=jobs)
    return summarize(world, run_scored(world, jobs=jobs), time.perf_counter() - t0)


def seed_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One summary as tidy rows: per mode, one row per threat class, per defended area and
    one for civil traffic; every figure of :data:`FIGURES` present (None where undefined)."""
    seed = summary["seed"]
    rows = []
    for m in MODES:
        for c, r in summary["classes"].items():
            k = r[m]
            rows.append(_row(seed, m, "class", c, r["launched"], r["warned"][m],
                             k["mean_warning_s"], k["warning_efficiency"], k["alert_precision"],
                             None))  # fmt: skip
        for a, r in summary["areas"].items():
            k = r[m]
            rows.append(_row(seed, m, "area", a, r["threats"], k["warned"], k["mean_warning_s"],
                             k["warning_efficiency"], None, None))  # fmt: skip
        civil = summary["civil"]
        rows.append(_row(seed, m, "civil", "civil", civil["flights"], None, None, None, None,
                         civil["alerted"][m]))  # fmt: skip
    return rows


def _row(seed: int, mode: str, group: str, name: str, *figures: Any) -> dict[str, Any]:
    return {"seed": seed, "mode": mode, "group": group, "name": name,
            **dict(zip(FIGURES, figures, strict=True))}  # fmt: skip


def mean_interval(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean of ``values`` and its 95 % confidence interval (Student's t with n − 1 degrees
    of freedom); the interval is None for fewer than two values."""
    from scipy.stats import t

    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def aggregate(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (mode, group, name): ``seeds`` and, for each figure ``f`` of :data:`FIGURES`
    defined in some seed, ``f`` (the mean over those seeds), ``f_lo`` and ``f_hi`` (its
    95 % confidence interval) and ``f_n`` (how many seeds defined it)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["mode"], r["group"], r["name"]), []).append(r)
    out = []
    for (mode, group, name), rs in groups.items():
        agg: dict[str, Any] = {"mode": mode, "group": group, "name": name, "seeds": len(rs)}
        for f in FIGURES:
            vals = [float(r[f]) for r in rs if r[f] is not None]
            mean, lo, hi = mean_interval(vals) if vals else (None, None, None)
            agg |= {f: mean, f"{f}_lo": lo, f"{f}_hi": hi, f"{f}_n": len(vals)}
        out.append(agg)
    return out


def run_campaign(
    sc: Scenario,
    path: Path | None,
    seeds: Sequence[int],
    *,
    jobs: int = 2,
    scheduler: str | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Every seed's summary (in seed order), the seeds run in parallel on Dask.

    ``scheduler``: address of a running Dask scheduler; None: a ``LocalCluster`` of
    ``jobs`` worker processes with one thread each, closed at the end."""
    from dask.distributed import Client, LocalCluster, as_completed

    if jobs < 1:
        raise ParameterError("jobs", ">= 1", jobs)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")  # fmt: skip
    try:
        with Client(scheduler or cluster) as client:
            futures = client.map(run_seed, [sc] * len(seeds), [path] * len(seeds), list(seeds),
                                 pure=False)  # fmt: skip
            by_seed = {}
            done = as_completed(futures, with_results=True)
            for _, summary in _bar(done, len(seeds), progress):
                by_seed[summary["seed"]] = summary
    finally:
        if cluster is not None:
            cluster.close()
    return [by_seed[s] for s in seeds]


def _bar(it: Iterable[Any], total: int, progress: bool) -> Iterable[Any]:
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="seeds", unit="seed", file=sys.stderr)
