"""The evaluation: alliance versus national-only on the same truth and plots, as one summary.

Per threat class: launched, detected (≥ 1 plot), tracked (held by a track within
``TRACK_GATE_M``), warned (the partner owning the target area got an alert about the
object before it arrived) and the mean warning time (unwarned: 0 s). Per defended area:
mean and minimum warning time over every threat aimed at it (arrival time − first alert
received by the owner; an unwarned threat counts as 0 s), so both runs are compared over
the same threats. Civil flights alerted must be zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
from scipy.spatial import cKDTree

from mead import geo
from mead.events import AlertEvent, AlertReceived, AlertSent, Event
from mead.metrics.engagement import engagement_figures, format_engagement
from mead.metrics.matching import TruthMatcher
from mead.metrics.siap import SiapObserver
from mead.metrics.warning import (
    OVERFLIGHT,
    THREATS,
    AlertCounts,
    Overflights,
    alert_counts,
    efficiency,
    first_plot_times,
)
from mead.runtime.simulation import MODES, Mode, ModeResult, ObserverFactory, World, run_both
from mead.runtime.wiring import partner_roles
from mead.threat.evaluate import AreaSet

ALERT_GATE_M = 30_000.0
"""An alert is about the truth object nearest its track position, if within this distance."""
ENDED_GRACE_S = 30.0
"""An object whose flight ended (arrival, impact, intercept) this recently still counts, at
its last position: a tracker coasts a track for a few scans after its plots stop, and an
alert raised on that track is about the object (a late alert), not about nothing."""


class Scorer:
    """The observer that scores a run against the world's truth (for ``run_both``): which
    objects each node held and since when (:class:`TruthMatcher`), and the SIAP figures of
    the coordinator's picture (:class:`SiapObserver`)."""

    def __init__(self, world: World) -> None:
        epoch = world.scenario.start_epoch_s()
        self.matcher = TruthMatcher(world.truth, epoch, world.truth_at)
        self.siap = SiapObserver(
            world.truth, epoch, world.scenario.coordinator.name, at=world.truth_at
        )

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        self.matcher(node, t_wire, ids, x)
        self.siap(node, t_wire, ids, x)

    def result(self) -> dict[str, Any]:
        """``{"first": node → (N,) first time held, "siap": figures}``."""
        return {"first": self.matcher.result(), "siap": self.siap.result()}


def attribute_alerts(world: World, events: list[Event]) -> list[Event]:
    """The events with ``truth`` (object id or None) set on every alert event.

    An alert is about the object nearest its track position when it was issued (within
    ``ALERT_GATE_M``; an object that ended less than ``ENDED_GRACE_S`` before counts at its
    last position); its updates and cancel are about the same object (a track that later
    drifts past an airliner does not make the alert about the airliner).
    """
    epoch = world.scenario.start_epoch_s()
    about: dict[str, str | None] = {}  # alert_id → object at issue; updates keep it
    near: dict[float, tuple[np.ndarray, cKDTree] | None] = {}  # t → what flew then
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, AlertReceived | AlertSent):
            ev = msgspec.structs.replace(ev, truth=_about(world, epoch, ev, about, near))
        out.append(ev)
    return out


def run_scored(
    world: World, *, jobs: int = 2, progress: bool = False, observer: ObserverFactory | None = None
) -> dict[Mode, ModeResult]:
    """Both runs of ``world`` with ``observer`` (default :class:`Scorer`), each alert event
    attributed to the object it is about (:func:`attribute_alerts`): what :func:`summarize`
    takes."""
    results = run_both(world, progress=progress, jobs=jobs, observer=observer or Scorer)
    for m in MODES:
        results[m].events = attribute_alerts(world, results[m].events)
    return results


def _about(
    world: World,
    epoch: float,
    ev: AlertEvent,
    about: dict[str, str | None],
    near: dict[float, tuple[np.ndarray, cKDTree] | None],
) -> str | None:
    """The object an alert event is about (see :func:`attribute_alerts`); ``near`` keeps
    the objects flying at the time last asked (alerts come many at a time)."""
    if ev.state != "issued" and ev.alert_id in about:
        return about[ev.alert_id]
    t = ev.t - epoch
    if t not in near:  # events come in time order: keep only the newest time's
        near.clear()
        alive, states = world.truth.states_at(t)
        tr = world.truth
        ended = np.flatnonzero((tr.t_end <= t) & (t < tr.t_end + ENDED_GRACE_S))
        if ended.size:
            alive = np.concatenate([alive, ended])
            last = tr.samples[tr.offset[ended] + tr.count[ended] - 1]
            states = np.concatenate([states, last])
        near[t] = (alive, cKDTree(states[:, :3])) if alive.size else None
    flying = near[t]
    if flying is None:
        return None  # nothing flying: a later state of the alert is judged afresh
    alive, tree = flying
    found = None
    p = geo.geodetic2ecef(ev.track_lat_deg, ev.track_lon_deg, ev.track_alt_m)
    d, k = tree.query(p, distance_upper_bound=ALERT_GATE_M)
    if np.isfinite(d):
        found = world.truth.ids[alive[k]]
    about[ev.alert_id] = found
    return found


def first_warning(world: World, res: ModeResult) -> np.ndarray:
    """(N,) scenario time the target area's owner first held an area alert (not a
    pre-alert) about each object."""
    epoch = world.scenario.start_epoch_s()
    owner = {a.name: a.owner for a in world.scenario.defended_areas}
    index = {tid: i for i, tid in enumerate(world.truth.ids)}
    first = np.full(len(world.truth), np.nan)
    for ev in res.events:
        if not isinstance(ev, AlertReceived) or ev.state == "cancelled" or ev.truth is None:
            continue
        if ev.level != "alert":  # a pre-alert is not the warning
            continue
        i = index[ev.truth]
        target = world.truth.target_area[i]
        if target and owner.get(target) == ev.node:
            t = ev.t_recv - epoch
            if not t >= first[i]:
                first[i] = t
    return first


def tracked(world: World, res: ModeResult) -> np.ndarray:
    """(N,) bool: objects held by a track — the coordinator's picture in alliance mode,
    any partner's own tracks in national mode."""
    coord = world.scenario.coordinator.name
    nodes = [coord] if res.mode == "alliance" else [p.name for p in world.scenario.partners]
    held = np.zeros(len(world.truth), dtype=bool)
    first: dict[str, np.ndarray] = (res.observed or {}).get("first", {})
    for n in nodes:
        if n in first:
            held |= np.isfinite(first[n])
    return held


def summarize(world: World, results: Mapping[Mode, ModeResult], wall_s: float) -> dict[str, Any]:
    """The run's summary as plain JSON-able data."""
    truth, sc = world.truth, world.scenario
    kind = np.asarray(truth.kind)
    t_plot = first_plot_times(truth, world.scans)
    detected = np.isfinite(t_plot)
    warn = {m: first_warning(world, results[m]) for m in MODES}
    over = Overflights.of(truth, AreaSet.from_areas(sc.defended_areas))
    epoch = sc.start_epoch_s()
    counts = {m: alert_counts(truth, results[m].events, over, epoch) for m in MODES}
    held = {m: tracked(world, results[m]) for m in MODES}
    warned = {m: np.isfinite(warn[m]) & (warn[m] < truth.t_end) for m in MODES}

    target = np.asarray(truth.target_area)
    classes: dict[str, dict[str, Any]] = {}
    for c in THREATS:
        sel = kind == c
        if not sel.any():
            continue
        classes[c] = {
            "launched": int(sel.sum()),
            "detected": int((sel & detected).sum()),
            "tracked": {m: int((sel & held[m]).sum()) for m in MODES},
            "warned": {m: int((sel & warned[m]).sum()) for m in MODES},
        }
        for m in MODES:
            limit, eff = efficiency(truth, t_plot, warn[m], sel)
            n = counts[m].get(c, AlertCounts())
            per_area = {
                a.name: _r(efficiency(truth, t_plot, warn[m], sel & (target == a.name))[1], 3)
                for a in sc.defended_areas
                if (sel & (target == a.name)).any()
            }
            wt = np.where(warned[m][sel], truth.t_end[sel] - warn[m][sel], 0.0)
            classes[c][m] = {
                "area_efficiency": per_area,
                "mean_warning_s": round(float(wt.mean()), 1),
                "limit_s": _r(limit, 1),
                "warning_efficiency": _r(eff, 3),
                "alerts_issued": n.issued,
                "pre_alerts": n.pre,
                "alert_precision": _r(n.precision, 3),
                "alerts_overflown": n.overflown if c in OVERFLIGHT else None,
                "alert_precision_on_path": _r(n.path_precision, 3) if c in OVERFLIGHT else None,
                "updates_per_alert": _r(n.updates_per_alert, 2),
            }
    areas = {}
    target = np.asarray(truth.target_area)
    for a in sc.defended_areas:
        sel = (target == a.name) & np.isin(kind, THREATS)
        row: dict[str, Any] = {"owner": a.owner, "threats": int(sel.sum())}
        for m in MODES:
            wt = np.where(warned[m][sel], truth.t_end[sel] - warn[m][sel], 0.0)
            row[m] = {
                "warned": int(warned[m][sel].sum()),
                "mean_warning_s": round(float(wt.mean()), 1) if sel.any() else None,
                "min_warning_s": round(float(wt.min()), 1) if sel.any() else None,
                "warning_efficiency": _r(efficiency(truth, t_plot, warn[m], sel)[1], 3),
            }
        areas[a.name] = row
    civil = kind == "aircraft"
    civil_alerted = {m: _civil_alerted(world, results[m]) for m in MODES}
    sim_s = sc.duration_s
    return {
        "scenario": sc.name,
        "seed": world.seed,
        "duration_s": sim_s,
        "classes": classes,
        "areas": areas,
        "civil": {"flights": int(civil.sum()), "alerted": civil_alerted},
        "roles": partner_roles(sc, world.scenario_path),
        "alerts_about_nothing": {m: counts[m].get("nothing", AlertCounts()).issued for m in MODES},
        "salvos": {m: salvos(results[m].events) for m in MODES},
        "siap": (results["alliance"].observed or {}).get("siap"),
        "engagement": {
            m: engagement_figures(truth, results[m].events, sc.start_epoch_s(), sim_s)
            for m in MODES
        },
        "nodes": {m: results[m].counters for m in MODES},
        "timing": {
            "prepare_s": round(world.prepare_s, 2),
            "run_s": {m: round(results[m].wall_s, 2) for m in MODES},
            "wall_s": round(wall_s, 2),
            "speed_x_real_time": round(sim_s / wall_s, 1) if wall_s > 0 else None,
        },
    }


def salvos(events: Sequence[Event]) -> dict[str, int]:
    """Salvos the partners received: groups of two or more alerts from one issuer to one
    area arriving together (``Alert.salvo``), counted per receiving node; and the largest."""
    size: Counter[tuple[str, str]] = Counter()
    for ev in events:
        if isinstance(ev, AlertReceived) and ev.state == "issued":
            size[(ev.node, ev.salvo or ev.alert_id)] += 1
    groups = [n for n in size.values() if n >= 2]
    return {"salvos": len(groups), "largest": max(groups, default=0)}


def _civil_alerted(world: World, res: ModeResult) -> int:
    kind = dict(zip(world.truth.ids, world.truth.kind, strict=True))
    hit = {
        ev.truth
        for ev in res.events
        if isinstance(ev, AlertReceived | AlertSent)
        and ev.state != "cancelled"
        and ev.truth is not None
        and kind[ev.truth] == "aircraft"
    }
    return len(hit)


def format_summary(s: dict[str, Any]) -> str:
    """The summary as a readable text table."""
    out = [
        f"MEAD run: scenario {s['scenario']!r}, seed {s['seed']}, "
        f"{s['duration_s'] / 3600:.1f} h simulated",
        "",
    ]
    out.append(f"{'class':<10}{'launched':>9}{'detected':>9}{'tracked A/N':>13}{'warned A/N':>12}")
    for c, r in s["classes"].items():
        out.append(
            f"{c:<10}{r['launched']:>9}{r['detected']:>9}"
            f"{_pair(r['tracked']):>13}{_pair(r['warned']):>12}"
        )
    out += [
        "",
        "warnings against the physical limit (arrival − first plot by any radar), A/N:",
        f"{'class':<10}{'limit s':>9}{'efficiency':>13}{'alerts':>13}{'precision':>13}"
        f"{'on path':>13}{'upd/alert':>13}",
    ]
    for c, r in s["classes"].items():
        a, n = r["alliance"], r["national"]
        issued = f"{a['alerts_issued']}/{n['alerts_issued']}"
        out.append(
            f"{c:<10}{_n(a['limit_s']):>9}{_pair2(a, n, 'warning_efficiency', 2):>13}"
            f"{issued:>13}{_pair2(a, n, 'alert_precision', 2):>13}"
            f"{_pair2(a, n, 'alert_precision_on_path', 2):>13}"
            f"{_pair2(a, n, 'updates_per_alert', 1):>13}"
        )
    out += [
        "",
        "warning time per defended area (s; unwarned threats count 0), alliance vs national-only:",
        f"{'area':<18}{'owner':<7}{'threats':>8}{'mean A':>9}{'mean N':>9}"
        f"{'min A':>8}{'min N':>8}{'gain':>8}",
    ]
    for name, r in s["areas"].items():
        a, n = r["alliance"], r["national"]
        gain = (a["mean_warning_s"] or 0) - (n["mean_warning_s"] or 0) if r["threats"] else None
        out.append(
            f"{name:<18}{r['owner']:<7}{r['threats']:>8}{_n(a['mean_warning_s']):>9}"
            f"{_n(n['mean_warning_s']):>9}{_n(a['min_warning_s']):>8}"
            f"{_n(n['min_warning_s']):>8}{_n(gain):>8}"
        )
    if s.get("siap"):
        out += ["", "the coordinator's picture (SIAP, alliance run):", _siap_header()]
        for name, f in [("all", s["siap"]["overall"]), *s["siap"]["by_class"].items()]:
            out.append(_siap_row(name, f))
    if s.get("engagement") and any(
        s["engagement"][m]["interceptors_spent"] for m in ("alliance", "national")
    ):
        out += ["", *format_engagement(s["engagement"])]
    c = s["civil"]
    roles = s.get("roles", {})
    out += [
        "",
        "members: " + ", ".join(f"{p} {r.replace('_', '-')}" for p, r in roles.items()),
        f"civil flights: {c['flights']}, alerted: alliance {c['alerted']['alliance']}, "
        f"national {c['alerted']['national']}; alerts about no object: "
        f"alliance {s['alerts_about_nothing']['alliance']}, "
        f"national {s['alerts_about_nothing']['national']}",
        "salvos received (alerts to one area arriving within a minute, grouped): alliance "
        f"{s['salvos']['alliance']['salvos']} (largest {s['salvos']['alliance']['largest']}), "
        f"national {s['salvos']['national']['salvos']} "
        f"(largest {s['salvos']['national']['largest']})",
    ]
    late = {
        k: sum(ctr.get(f"tracker_scans_{k}", 0) for ctr in s["nodes"]["alliance"].values())
        for k in ("out_of_order", "replayed", "too_late")
    }
    out.append(
        f"scans arriving out of order at the partners' trackers: {late['out_of_order']} "
        f"(replayed {late['replayed']} later scans), {late['too_late']} too late to use"
    )
    tm = s["timing"]
    out.append(
        f"wall time {tm['wall_s']:.1f} s (prepare {tm['prepare_s']:.1f} s, runs "
        f"{tm['run_s']['alliance']:.1f} / {tm['run_s']['national']:.1f} s), "
        f"{tm['speed_x_real_time']}× real time"
    )
    return "\n".join(out)


def _siap_header() -> str:
    return (
        f"{'class':<10}{'complete':>9}{'ambig':>7}{'spurious':>9}{'pos m':>8}{'vel m/s':>8}"
        f"{'id chg/obj':>11}"
    )


def _siap_row(name: str, f: dict[str, Any]) -> str:
    def g(k: str, nd: int) -> str:
        v = f.get(k)
        return "-" if v is None else f"{v:.{nd}f}"

    return (
        f"{name:<10}{g('completeness', 2):>9}{g('ambiguity', 2):>7}{g('spuriousness', 2):>9}"
        f"{g('position_accuracy_m', 0):>8}{g('velocity_accuracy_mps', 1):>8}"
        f"{g('id_changes_per_truth', 2):>11}"
    )


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


def _pair2(a: dict[str, Any], n: dict[str, Any], key: str, nd: int) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.{nd}f}"

    return f"{f(a.get(key))}/{f(n.get(key))}"


def _pair(d: dict[str, int]) -> str:
    return f"{d['alliance']}/{d['national']}"


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"
