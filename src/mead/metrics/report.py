"""The evaluation report on disk: events and truth (JSON lines), summary (JSON), plots, a page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from matplotlib.figure import Figure

from mead import geo
from mead.events import write_events_file
from mead.metrics.basemap import border_lines
from mead.metrics.evaluation import format_summary
from mead.metrics.warning import first_plot_times, truth_rows
from mead.runtime.simulation import MODES, Mode, ModeResult, World

COLORS = {
    "ballistic": "tab:red",
    "rocket": "tab:orange",
    "cruise": "tab:purple",
    "drone": "tab:brown",
    "aircraft": "0.75",
}


def write_report(
    out: Path, world: World, results: Mapping[Mode, ModeResult], summary: dict[str, Any]
) -> list[Path]:
    """Write everything into ``out`` and return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    events = out / "events.jsonl.gz"
    write_events_file(
        events, (msgspec.structs.replace(ev, run=m) for m in MODES for ev in results[m].events)
    )
    truth = out / "truth.jsonl"
    rows = truth_rows(world.truth, first_plot_times(world.truth, world.scans))
    truth.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))
    summ = out / "summary.json"
    summ.write_text(json.dumps(summary, indent=2, default=_jsonable) + "\n")
    files = [events, truth, summ, plot_warning_times(out, summary), plot_map(out, world)]
    md = out / "report.md"
    md.write_text(
        f"# MEAD evaluation: {summary['scenario']}\n\n```\n{format_summary(summary)}\n```\n\n"
        "![warning efficiency per class and defended area](warning_time.png)\n\n"
        "![scenario map](map.png)\n"
    )
    return [*files, md]


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes | tuple):
        return list(v)
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def plot_warning_times(out: Path, summary: dict[str, Any]) -> Path:
    """Warning efficiency (warning time / physical limit) per defended area, one panel per
    threat class, alliance vs national-only: drones' hours and missiles' minutes apart."""
    classes = [(c, r) for c, r in summary["classes"].items() if r["alliance"]["area_efficiency"]]
    fig = Figure(figsize=(11, 2.2 + 2.0 * max(len(classes), 1)))
    axes = fig.subplots(max(len(classes), 1), 1, squeeze=False)[:, 0]
    for ax, (c, r) in zip(axes, classes, strict=False):
        names = sorted(r["alliance"]["area_efficiency"])
        y = np.arange(len(names))
        for k, m in enumerate(MODES):
            vals = [r[m]["area_efficiency"].get(n) or 0.0 for n in names]
            ax.barh(y + (k - 0.5) * 0.4, vals, height=0.4, label=m)
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlim(0, 1.05)
        a, n = r["alliance"], r["national"]
        ax.set_title(
            f"{c}: efficiency {_f(a['warning_efficiency'])} alliance, "
            f"{_f(n['warning_efficiency'])} national; limit {_f(a['limit_s'] / 60, 1)} min",
            fontsize=9,
        )
        ax.grid(axis="x", alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:  # a run without threats has nothing to label
        axes[0].legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("warning time / physical limit (1 = warned at the first plot)")
    fig.tight_layout()
    path = out / "warning_time.png"
    fig.savefig(path, dpi=110)
    return path


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def plot_map(out: Path, world: World) -> Path:
    """Map of the scenario: truth paths by class, radars and their range, defended areas,
    and the partners' fire units (black diamonds, with their ids)."""
    truth, sc = world.truth, world.scenario
    fig = Figure(figsize=(10, 8))
    ax = fig.subplots()
    for line in border_lines():
        ax.plot(line[:, 0], line[:, 1], color="0.55", lw=0.6, zorder=0)
    for i in range(len(truth)):
        rows = slice(truth.offset[i], truth.offset[i] + truth.count[i])
        lat, lon, _ = geo.ecef2geodetic(truth.samples[rows, :3][::4])
        ax.plot(lon, lat, color=COLORS.get(str(truth.kind[i]), "k"), lw=0.5, alpha=0.6)
    for p in sc.partners:
        for s in p.sensors:
            ax.plot(s.site.lon_deg, s.site.lat_deg, "^", color="tab:blue")
            ax.annotate(f"{p.name}", (s.site.lon_deg, s.site.lat_deg), fontsize=7)
            la, lo = geo.destination(
                s.site.lat_deg, s.site.lon_deg, np.arange(0, 361, 5), s.range_km * 1e3
            )
            ax.plot(lo, la, color="tab:blue", lw=0.4, alpha=0.5)
    units = [u for p in sc.partners for u in p.fire_units]
    for u in units:
        ax.plot(u.site.lon_deg, u.site.lat_deg, "D", color="black", ms=3.5, zorder=3)
        ax.annotate(u.id, (u.site.lon_deg, u.site.lat_deg), fontsize=5.5,
                    xytext=(3, -7), textcoords="offset points")  # fmt: skip
    for a in sc.defended_areas:
        if a.circle is not None:
            la, lo = geo.destination(
                a.circle.lat_deg, a.circle.lon_deg, np.arange(0, 361, 10), a.circle.radius_km * 1e3
            )
        else:
            poly: tuple[tuple[float, float], ...] = a.polygon or ()
            pts = np.array([*poly, *poly[:1]])
            la, lo = pts[:, 0], pts[:, 1]
        ax.fill(lo, la, color="tab:green", alpha=0.5)
        ax.annotate(a.name, (lo.mean(), la.mean()), fontsize=7, color="darkgreen")
    for c, col in COLORS.items():
        ax.plot([], [], color=col, label=c)
    if units:
        ax.plot([], [], "D", color="black", ms=3.5, label="fire unit")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    units_title = ", fire units" if units else ""
    ax.set_title(f"Scenario {sc.name}: truth, radars (range rings), defended areas{units_title}")
    lon_lim, lat_lim = _extent(world)
    ax.set_xlim(*lon_lim)
    ax.set_ylim(*lat_lim)
    ax.set_aspect(1 / np.cos(np.radians(np.mean(lat_lim))))
    fig.tight_layout()
    path = out / "map.png"
    fig.savefig(path, dpi=110)
    return path


def _extent(world: World) -> tuple[tuple[float, float], tuple[float, float]]:
    """Lon and lat limits around every radar site, area and truth path, with a margin."""
    lat, lon, _ = geo.ecef2geodetic(world.truth.samples[::50, :3])
    sites = [(s.site.lat_deg, s.site.lon_deg) for p in world.scenario.partners for s in p.sensors]
    la = np.concatenate([lat, [s[0] for s in sites]])
    lo = np.concatenate([lon, [s[1] for s in sites]])
    if lo.size == 0:  # nothing placed (e.g. a partner fed only recorded system tracks)
        return (-180.0, 180.0), (-80.0, 80.0)
    return (lo.min() - 2, lo.max() + 2), (la.min() - 2, la.max() + 2)
