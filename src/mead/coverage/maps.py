"""Coverage out: GeoJSON layers, PNG maps, km² per layer (JSON and a text table).

The covered cells of a layer become polygons with holes by a filled contour at Pd-mask
level ½ (``contourpy``, matplotlib's contouring engine), so a GIS tool or the operator's
map draws them as areas; rings are counter-clockwise outside and clockwise around holes
(RFC 7946 §3.1.6).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import contourpy
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from mead import geo
from mead.coverage.layers import Coverage, layer_name
from mead.interop.geojson import collection
from mead.metrics.basemap import border_lines
from mead.scenario.schema import Scenario
from mead.types import Array, Mask

PARTNER_COLORS = ("tab:blue", "tab:orange", "tab:purple", "tab:cyan", "tab:olive", "tab:pink",
                  "tab:brown", "tab:gray")  # fmt: skip


def mask2multipolygon(mask: Mask, lat_deg: Array, lon_deg: Array) -> list[Any]:
    """GeoJSON MultiPolygon coordinates of the ``True`` cells of ``mask`` (ny, nx) on the
    grid of cell centres (``lat_deg`` (ny,), ``lon_deg`` (nx,)): [[outer, hole, …], …],
    each ring [[lon, lat], …] closed."""
    if not mask.any():
        return []
    z = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2))  # a margin closes edge polygons
    z[1:-1, 1:-1] = mask
    dy = lat_deg[1] - lat_deg[0] if lat_deg.size > 1 else 0.01
    dx = lon_deg[1] - lon_deg[0] if lon_deg.size > 1 else 0.01
    y = np.concatenate([[lat_deg[0] - dy], lat_deg, [lat_deg[-1] + dy]])
    x = np.concatenate([[lon_deg[0] - dx], lon_deg, [lon_deg[-1] + dx]])
    gen = contourpy.contour_generator(x, y, z, fill_type=contourpy.FillType.OuterOffset)
    filled: Any = gen.filled(0.5, 1.5)
    points, offsets = filled[0], filled[1]
    polys = []
    for pts, off in zip(points, offsets, strict=True):
        rings = [np.round(pts[a:b], 5).tolist() for a, b in zip(off[:-1], off[1:], strict=True)]
        polys.append(rings)
    return polys


def features(cov: Coverage) -> list[dict[str, Any]]:
    """Every layer's alliance, partner and gap areas as GeoJSON features, with ``layer``,
    ``agl_m``, ``kind`` (alliance | partner | gaps), ``partner`` and ``area_km2``."""
    areas = cov.areas_km2()
    lat, lon = cov.grid.lat_deg, cov.grid.lon_deg
    alliance, gaps = cov.alliance(), cov.gaps()
    out: list[dict[str, Any]] = []
    for k, h in enumerate(cov.layers_m):
        name = layer_name(h)
        a = areas[name]
        parts: list[tuple[str, str | None, Mask, float]] = [
            ("alliance", None, alliance[k], float(a["alliance_km2"])),  # type: ignore[arg-type]
            ("gaps", None, gaps[k], float(a["gaps_km2"])),  # type: ignore[arg-type]
        ]
        km2: dict[str, float] = a["partners_km2"]  # type: ignore[assignment]
        parts += [("partner", p, cov.partner(p)[k], km2[p]) for p in cov.partners]
        for kind, partner, mask, area in parts:
            out.append({
                "type": "Feature",
                "id": f"{name}-{partner or kind}",
                "geometry": {"type": "MultiPolygon",
                             "coordinates": mask2multipolygon(mask, lat, lon)},
                "properties": {"layer": name, "agl_m": h, "kind": kind, "partner": partner,
                               "role": cov.roles.get(partner) if partner else None,
                               "area_km2": area, "threat": cov.threat, "rcs_m2": cov.rcs_m2,
                               "pd_min": cov.pd_min},
            })  # fmt: skip
    return out


def summary(cov: Coverage, sc: Scenario) -> dict[str, Any]:
    """What ``coverage.json`` holds: the parameters and :meth:`Coverage.areas_km2`."""
    ny, nx = cov.grid.shape
    return {
        "scenario": sc.name,
        "threat": cov.threat,
        "rcs_m2": cov.rcs_m2,
        "pd_min": cov.pd_min,
        "terrain": sc.dem_dir,
        "grid": {"ny": ny, "nx": nx,
                 "lat_deg": [float(cov.grid.lat_deg[0]), float(cov.grid.lat_deg[-1])],
                 "lon_deg": [float(cov.grid.lon_deg[0]), float(cov.grid.lon_deg[-1])]},
        "roles": cov.roles,
        "notes": cov.notes,
        "layers": cov.areas_km2(),
    }  # fmt: skip


def format_table(s: dict[str, Any]) -> str:
    """km² per layer: alliance, gaps, each partner; roles below."""
    partners = list(s["roles"])
    head = f"{'layer':<7}{'alliance km²':>14}{'gaps km²':>12}" + "".join(
        f"{p:>12}" for p in partners
    )
    lines = [
        f"coverage of {s['scenario']!r}: {s['threat']} (RCS {s['rcs_m2']:g} m²), single-look "
        f"Pd ≥ {s['pd_min']:g}, terrain: {s['terrain'] or 'smooth earth'}",
        head,
    ]
    for name, row in s["layers"].items():
        lines.append(
            f"{name:<7}{row['alliance_km2']:>14,.0f}{row['gaps_km2']:>12,.0f}"
            + "".join(f"{row['partners_km2'][p]:>12,.0f}" for p in partners)
        )
    lines.append("roles: " + ", ".join(f"{p} {r}" for p, r in s["roles"].items()))
    lines += s["notes"]
    return "\n".join(lines)


def write_coverage(out: Path, cov: Coverage, sc: Scenario) -> list[Path]:
    """``coverage.json``, ``coverage.geojson`` and one ``coverage_<layer>.png`` per layer
    into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    js = out / "coverage.json"
    js.write_text(json.dumps(summary(cov, sc), indent=2) + "\n")
    gj = out / "coverage.geojson"
    gj.write_text(json.dumps(collection(features(cov))))
    return [js, gj, *(plot_layer(out, cov, sc, k) for k in range(len(cov.layers_m)))]


def plot_layer(out: Path, cov: Coverage, sc: Scenario, k: int) -> Path:
    """One layer's map: the alliance's best Pd, the gaps in red, each partner's own
    coverage outlined, radars, defended areas and borders."""
    name = layer_name(cov.layers_m[k])
    g = cov.grid
    extent = (g.lon_deg[0], g.lon_deg[-1], g.lat_deg[0], g.lat_deg[-1])
    fig = Figure(figsize=(10, 8))
    ax = fig.subplots()
    pd = cov.max_pd(cov.contributing_radars())[k]
    img = ax.imshow(np.where(pd >= cov.pd_min, pd, np.nan), origin="lower", extent=extent,
                    cmap="Greens", vmin=0.0, vmax=1.0, alpha=0.8, aspect="auto")  # fmt: skip
    gaps = cov.gaps()[k]
    ax.imshow(np.where(gaps, 1.0, np.nan), origin="lower", extent=extent,
              cmap=ListedColormap(["tab:red"]), alpha=0.35, aspect="auto")  # fmt: skip
    fig.colorbar(img, ax=ax, shrink=0.6, label="alliance: best single-look Pd")
    for line in border_lines():
        ax.plot(line[:, 0], line[:, 1], color="0.4", lw=0.6)
    for i, p in enumerate(sc.partners):
        col = PARTNER_COLORS[i % len(PARTNER_COLORS)]
        mine = cov.partner(p.name)[k]
        if mine.any():
            ax.contour(g.lon_deg, g.lat_deg, mine.astype(float), levels=[0.5], colors=[col],
                       linewidths=1.0)  # fmt: skip
        for s in p.sensors:
            ax.plot(s.site.lon_deg, s.site.lat_deg, "^", color=col, mec="k", ms=7)
        role = "" if cov.roles[p.name] == "contributing" else " (receive-only)"
        ax.plot([], [], color=col, label=f"{p.name}{role}")
    ax.fill([], [], color="tab:red", alpha=0.35, label="gaps")
    for a in sc.defended_areas:
        if a.circle is not None:
            la, lo = geo.destination(a.circle.lat_deg, a.circle.lon_deg, np.arange(0, 361, 10),
                                     a.circle.radius_km * 1e3)  # fmt: skip
        else:
            pts = np.array([*(a.polygon or ()), *(a.polygon or ())[:1]])
            la, lo = pts[:, 0], pts[:, 1]
        ax.plot(lo, la, color="k", lw=1.0)
        ax.annotate(a.name, (float(np.mean(lo)), float(np.mean(la))), fontsize=7)
    row = cov.areas_km2()[name]
    ax.set_title(
        f"{sc.name}: {name} above ground, {cov.threat} (RCS {cov.rcs_m2:g} m²), Pd ≥ "
        f"{cov.pd_min:g}\nalliance {row['alliance_km2']:,.0f} km², "
        f"gaps {row['gaps_km2']:,.0f} km²",
        fontsize=10,
    )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect(1 / np.cos(np.radians(np.mean(extent[2:]))))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = out / f"coverage_{name}.png"
    fig.savefig(path, dpi=100)
    return path
