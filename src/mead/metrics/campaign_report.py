"""A campaign on disk: per-seed rows and aggregates as Parquet, a JSON, plots and a page."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from mead.runtime.simulation import MODES


def write_campaign(
    out: Path, scenario: str, seeds: Sequence[int], rows: list[dict[str, Any]],
    agg: list[dict[str, Any]],
) -> list[Path]:  # fmt: skip
    """``seeds.parquet`` (one row per seed, mode and group), ``aggregate.parquet``,
    ``campaign.json``, two plots, ``report.md`` and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    per_seed, aggregate = out / "seeds.parquet", out / "aggregate.parquet"
    pq.write_table(pa.Table.from_pylist(rows), per_seed)
    pq.write_table(pa.Table.from_pylist(agg), aggregate)
    js = out / "campaign.json"
    js.write_text(json.dumps({"scenario": scenario, "seeds": list(seeds), "aggregate": agg},
                             indent=2) + "\n")  # fmt: skip
    plots = [
        plot_groups(out / "efficiency_by_class.png", agg, "class", "warning_efficiency",
                    "warning efficiency (warning time / physical limit)"),
        plot_groups(out / "warning_time_by_area.png", agg, "area", "mean_warning_s",
                    "mean warning time, s (unwarned threats count 0)"),
    ]  # fmt: skip
    text = format_aggregate(scenario, seeds, agg)
    md = out / "report.md"
    md.write_text(
        f"# MEAD campaign: {scenario}, {len(seeds)} seeds\n\n```\n{text}\n```\n\n"
        + "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    )
    page = out / "report.html"
    page.write_text(
        f"<!doctype html><meta charset=utf-8><title>MEAD campaign {html.escape(scenario)}"
        f"</title><h1>MEAD campaign: {html.escape(scenario)}, {len(seeds)} seeds</h1>"
        f"<pre>{html.escape(text)}</pre>"
        + "".join(f'<p><img src="{p.name}" alt="{p.stem}"></p>' for p in plots)
    )
    return [per_seed, aggregate, js, *plots, md, page]


def plot_groups(
    path: Path, agg: list[dict[str, Any]], group: str, figure: str, label: str
) -> Path:
    """Horizontal bars of ``figure``'s mean per name of ``group``, alliance beside
    national-only, with the 95 % interval as error bars."""
    names = sorted({a["name"] for a in agg if a["group"] == group})
    fig = Figure(figsize=(9, 1.5 + 0.45 * max(len(names), 1)))
    ax = fig.subplots()
    y = np.arange(len(names))
    for k, m in enumerate(MODES):
        by = {a["name"]: a for a in agg if a["group"] == group and a["mode"] == m}
        mean = np.array([by[n][figure] if by[n][figure] is not None else np.nan for n in names])
        lo = np.array([_or(by[n][f"{figure}_lo"], by[n][figure]) for n in names])
        hi = np.array([_or(by[n][f"{figure}_hi"], by[n][figure]) for n in names])
        err = np.nan_to_num(np.vstack([mean - lo, hi - mean]))
        ax.barh(y + (k - 0.5) * 0.4, np.nan_to_num(mean), height=0.4, xerr=err, capsize=3,
                label=m)  # fmt: skip
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel(label + "; bars: mean over seeds, whiskers: 95 % interval of the mean")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _or(v: float | None, default: float | None) -> float:
    x = v if v is not None else default
    return float("nan") if x is None else float(x)


def format_aggregate(scenario: str, seeds: Sequence[int], agg: list[dict[str, Any]]) -> str:
    """The aggregates as a text table: per class and area, alliance and national-only."""
    lines = [
        f"campaign {scenario!r}: {len(seeds)} seeds ({_span(seeds)}); mean over the seeds "
        "[95 % interval of the mean]",
        f"{'group':<7}{'name':<18}{'mode':<10}{'threats':>8}{'warned':>16}"
        f"{'warning time s':>24}{'efficiency':>22}",
    ]
    for a in sorted(agg, key=lambda a: (a["group"] != "class", a["group"], a["name"], a["mode"])):
        if a["group"] == "civil":
            continue
        lines.append(
            f"{a['group']:<7}{a['name']:<18}{a['mode']:<10}{_v(a, 'threats', 1):>8}"
            f"{_ci(a, 'warned', 1):>16}{_ci(a, 'mean_warning_s', 0):>24}"
            f"{_ci(a, 'warning_efficiency', 2):>22}"
        )
    for a in agg:
        if a["group"] == "civil":
            lines.append(f"civil flights alerted ({a['mode']}): {_ci(a, 'civil_alerted', 2)} "
                         f"per seed, of {_v(a, 'threats', 1)} flights")  # fmt: skip
    return "\n".join(lines)


def _v(a: dict[str, Any], f: str, nd: int) -> str:
    return "-" if a[f] is None else f"{a[f]:.{nd}f}"


def _ci(a: dict[str, Any], f: str, nd: int) -> str:
    if a[f] is None:
        return "-"
    if a[f"{f}_lo"] is None:
        return f"{a[f]:.{nd}f}"
    return f"{a[f]:.{nd}f} [{a[f + '_lo']:.{nd}f}, {a[f + '_hi']:.{nd}f}]"


def _span(seeds: Sequence[int]) -> str:
    s = sorted(seeds)
    return f"{s[0]}-{s[-1]}" if s == list(range(s[0], s[-1] + 1)) else ",".join(map(str, s))
