"""Trust figures of a run with a lying partner: what its lies cost the coalition.

For one alliance run (events attributed to truth, :func:`~mead.metrics.evaluation.
attribute_alerts`):

* **ghost alerts** — alerts the coordinator issued about no real object (``truth`` None)
  whose track was within ``GHOST_GATE_M`` of a ghost of a lying partner
  (:func:`~mead.federation.deception.ghost_truth`): warnings the lie caused;
* **bias estimates** — every offset the coordinator reported for each partner in its
  ``trust`` events, beside the partner's true offset (0 for an honest one);
* **real threats warned** — per threat class, the threats whose target's owner held an
  area alert before they arrived, and the mean warning time (unwarned: 0 s);
* **suspect tracks** — ``suspect_track`` judgements near a ghost and near nothing else.

Everything here reads the world and the events; nothing runs a node.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np

from mead import geo
from mead.events import AlertSent, SuspectTrack, Trust
from mead.federation.deception import ghost_truth
from mead.metrics.evaluation import Scorer, attribute_alerts, first_warning
from mead.metrics.warning import THREATS
from mead.runtime.simulation import ModeResult, World, prepare, run_mode
from mead.scenario import load_scenario
from mead.scenario.schema import Scenario
from mead.sim.base import TruthTable

GHOST_GATE_M = 30_000.0
"""An alert or a suspect track is about a ghost when its track lies this close to one."""

Variant = Literal["honest", "believed", "checked"]
VARIANTS: tuple[Variant, ...] = ("honest", "believed", "checked")
"""How a scenario with liars is run for comparison: ``honest`` — nobody lies and the
coordinator believes everyone (the coalition as it was); ``believed`` — the liars lie and
the coordinator believes everyone; ``checked`` — the liars lie and the coordinator checks
partners' data (the default)."""


def variant(sc: Scenario, name: Variant) -> Scenario:
    """``sc`` as run by variant ``name`` (see :data:`VARIANTS`)."""
    if name == "honest":
        sc = msgspec.structs.replace(
            sc, partners=[msgspec.structs.replace(p, deception=None) for p in sc.partners]
        )
    coord = msgspec.structs.replace(sc.coordinator, check_partners=name == "checked")
    return msgspec.structs.replace(sc, coordinator=coord)


def _near(table: TruthTable, t: float, lat: float, lon: float, alt: float) -> bool:
    """Whether an object of ``table`` alive at scenario time ``t`` lies within the gate."""
    _, x = table.states_at(t)
    if not len(x):
        return False
    d = np.linalg.norm(x[:, :3] - geo.geodetic2ecef(lat, lon, alt), axis=1)
    return bool(d.min() <= GHOST_GATE_M)


def true_offsets_m(world: World) -> dict[str, float]:
    """Partner → size of the offset it puts on its releases, m (0: honest)."""
    out = {}
    for p in world.scenario.partners:
        d = p.deception
        off = (d.offset_east_m, d.offset_north_m, d.offset_up_m) if d else (0.0, 0.0, 0.0)
        out[p.name] = float(np.linalg.norm(off))
    return out


def trust_figures(world: World, res: ModeResult) -> dict[str, Any]:
    """The figures of the module docstring for one alliance run ``res`` of ``world``."""
    sc, truth = world.scenario, world.truth
    epoch = sc.start_epoch_s()
    ghosts = [ghost_truth(sc, p.name, world.seed) for p in sc.partners if p.deception]
    issued = [e for e in res.events if isinstance(e, AlertSent) and e.state == "issued"]
    nothing = [e for e in issued if e.truth is None]
    ghost_alerts = [
        e
        for e in nothing
        if any(
            _near(g, e.t - epoch, e.track_lat_deg, e.track_lon_deg, e.track_alt_m) for g in ghosts
        )
    ]
    estimates: dict[str, list[float]] = {}
    for e in res.events:
        if isinstance(e, Trust):
            estimates.setdefault(e.partner, []).append(round(e.offset_m, 1))
    judged = [e for e in res.events if isinstance(e, SuspectTrack) and e.suspect]
    on_ghost = sum(
        any(_near(g, e.t - epoch, e.lat_deg, e.lon_deg, e.alt_m) for g in ghosts) for e in judged
    )
    warn = first_warning(world, res)
    kind = np.asarray(truth.kind)
    warned = np.isfinite(warn) & (warn < truth.t_end)
    wait = np.where(warned, truth.t_end - warn, 0.0)
    classes = {
        c: {
            "launched": int((kind == c).sum()),
            "warned": int((warned & (kind == c)).sum()),
            "mean_warning_s": round(float(wait[kind == c].mean()), 1),
        }
        for c in THREATS
        if (kind == c).any()
    }
    return {
        "alerts_issued": len(issued),
        "alerts_about_nothing": len(nothing),
        "ghost_alerts": len(ghost_alerts),
        "true_offset_m": true_offsets_m(world),
        "estimated_offset_m": estimates,
        "suspect_tracks": {"ghost": on_ghost, "other": len(judged) - on_ghost},
        "classes": classes,
    }


def run_variant(
    path: Path, seed: int, name: Variant, duration_s: float | None = None
) -> dict[str, Any]:
    """The seed's world for the scenario file ``path`` run by variant ``name`` (alliance
    mode; optionally for ``duration_s`` only): its :func:`trust_figures`, with the seed,
    the variant and the wall time."""
    sc = variant(load_scenario(path), name)
    if duration_s is not None:
        sc = msgspec.structs.replace(sc, duration_s=duration_s)
    t0 = time.perf_counter()
    world = prepare(sc, seed, path)
    res = run_mode(world, "alliance", observer=Scorer)
    res.events = attribute_alerts(world, res.events)
    fig = trust_figures(world, res)
    return {"seed": seed, "variant": name, "wall_s": round(time.perf_counter() - t0, 1)} | fig


__all__ = [
    "GHOST_GATE_M",
    "VARIANTS",
    "Variant",
    "run_variant",
    "true_offsets_m",
    "trust_figures",
    "variant",
]
