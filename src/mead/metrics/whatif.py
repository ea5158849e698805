"""What-if: a scenario against a variant of it — a partner joins, a radar goes down, a partner
leaves — compared on covered area per layer and on warnings per class and area.

A variant is the same scenario with one change (:func:`variant`):

- ``add_partner``: a partner entry (the YAML of one ``partners[]`` item) joins;
- ``remove_radar``: a sensor is taken off its partner (a partner left with no radar becomes
  receive-only: it still gets the picture and its warnings);
- ``remove_partner``: a partner leaves, with its radars and its defended areas; raids lose
  those targets (a raid left without a target is dropped), so the threats aimed at it are
  no longer in the variant's figures.

Both scenarios run the same seeds (:func:`mead.metrics.campaign.run_campaign`) and get the
same coverage computation (:func:`mead.coverage.compute`); :func:`compare` puts the two
side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from mead.errors import ConfigError
from mead.scenario.schema import Partner, Scenario


def variant(
    sc: Scenario,
    *,
    add_partner: Partner | None = None,
    remove_radar: str | None = None,
    remove_partner: str | None = None,
) -> Scenario:
    """``sc`` with one change (see the module docstring), validated like a loaded file
    (``ConfigError`` naming what is wrong)."""
    if sum(x is not None for x in (add_partner, remove_radar, remove_partner)) != 1:
        raise ConfigError(
            "whatif", "give exactly one of add_partner, remove_radar, remove_partner"
        )
    data = msgspec.to_builtins(sc)
    if add_partner is not None:
        data["partners"].append(msgspec.to_builtins(add_partner))
    elif remove_radar is not None:
        _remove_radar(data, remove_radar)
    elif remove_partner is not None:
        _remove_partner(data, remove_partner)
    data["name"] = f"{sc.name}-whatif"
    try:
        return msgspec.convert(data, type=Scenario)
    except msgspec.ValidationError as e:
        raise ConfigError("whatif variant", str(e)) from None


def _remove_radar(data: dict[str, Any], radar: str) -> None:
    ids = [s["id"] for p in data["partners"] for s in p.get("sensors", [])]
    if radar not in ids:
        raise ConfigError("--remove-radar", f"no radar {radar!r} (known: {', '.join(ids)})")
    for p in data["partners"]:
        p["sensors"] = [s for s in p.get("sensors", []) if s["id"] != radar]
        if not p["sensors"] and p.get("role") == "contributing":
            p["role"] = None  # nothing left to contribute: derived, receive-only


def _remove_partner(data: dict[str, Any], name: str) -> None:
    names = [p["name"] for p in data["partners"]]
    if name not in names:
        raise ConfigError("--remove-partner", f"no partner {name!r} (known: {', '.join(names)})")
    data["partners"] = [p for p in data["partners"] if p["name"] != name]
    gone = {a["name"] for a in data.get("defended_areas", []) if a["owner"] == name}
    data["defended_areas"] = [a for a in data.get("defended_areas", []) if a["owner"] != name]
    raids = []
    for r in data.get("raids", []):
        r["targets"] = [t for t in r["targets"] if t not in gone]
        if r["targets"]:
            raids.append(r)
    data["raids"] = raids


def load_partner(path: Path) -> Partner:
    """One partner entry (as an item of a scenario's ``partners:``) from a YAML file."""
    try:
        return msgspec.yaml.decode(path.read_bytes(), type=Partner)
    except OSError as e:
        raise ConfigError(str(path), f"cannot read the partner file ({e.strerror})") from None
    except msgspec.ValidationError as e:
        raise ConfigError(str(path), str(e)) from None


def compare(
    base_cov: dict[str, Any], var_cov: dict[str, Any],
    base_agg: list[dict[str, Any]], var_agg: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Side by side: per layer the km² the alliance covers and the gaps (base, variant,
    change; both coverages computed on one grid and region, ``compute(watch=…)``); per class
    and defended area (alliance run) the mean over the seeds of warned and of the mean
    warning time (base, variant, change; None where one side lacks it)."""
    layers = {
        name: {
            f: _triple(row[f], var_cov["layers"].get(name, {}).get(f))
            for f in ("alliance_km2", "gaps_km2")
        }
        for name, row in base_cov["layers"].items()
    }
    b = _by_name(base_agg)
    v = _by_name(var_agg)
    warnings: dict[str, dict[str, Any]] = {}
    for key in sorted(set(b) | set(v)):
        group, name = key
        warnings[f"{group}:{name}"] = {
            f: _triple(b.get(key, {}).get(f), v.get(key, {}).get(f))
            for f in ("threats", "warned", "mean_warning_s")
        }
    return {"layers": layers, "warnings": warnings}


def _by_name(agg: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["group"], a["name"]): a for a in agg
            if a["mode"] == "alliance" and a["group"] in ("class", "area")}  # fmt: skip


def _triple(base: float | None, var: float | None) -> dict[str, float | None]:
    change = None if base is None or var is None else round(var - base, 3)
    return {"base": base, "variant": var, "change": change}


def format_compare(c: dict[str, Any], what: str) -> str:
    """The comparison as a text table."""
    lines = [f"what-if: {what}", "", "covered area per layer (km²): base → variant (change)"]
    for name, row in c["layers"].items():
        lines.append(
            f"  {name:<7} alliance {_t(row['alliance_km2'], 0)}   gaps {_t(row['gaps_km2'], 0)}"
        )
    lines += ["", "alliance warnings, mean over the seeds: base → variant (change)"]
    for key, row in c["warnings"].items():
        lines.append(f"  {key:<26} warned {_t(row['warned'], 2)}   "
                     f"warning time s {_t(row['mean_warning_s'], 0)}")  # fmt: skip
    return "\n".join(lines)


def _t(x: dict[str, float | None], nd: int) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:,.{nd}f}"

    ch = x["change"]
    return f"{f(x['base'])} → {f(x['variant'])} ({'-' if ch is None else f'{ch:+,.{nd}f}'})"
