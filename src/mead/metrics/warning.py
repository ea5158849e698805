"""Warning quality: how close warnings come to the physical limit, and how right they are.

The figures a warning officer asks of a run, per threat class (and per defended area):

* **limit** — the earliest any warning could have come: arrival − the first plot of the
  object by any coalition radar (``t_first_plot``). Nobody can warn before that.
* **warning efficiency** — Σ warning time / Σ limit over the class's threats, where the
  warning time is arrival − the first alert the target area's owner held about the object
  (0 when never warned). 1.0 means every threat was warned the moment it was first seen.
* **alert precision** — area alerts whose area is the object's target / area alerts about
  objects of the class (every alert a partner received, from the coordinator or its own;
  pre-alerts, sent minutes ahead to the areas of a wide predicted region, are counted
  apart). A siren sounded for the wrong town counts against it.
* **on-path precision** (cruise missiles and drones) — area alerts whose area is the
  object's target *or an area its true path crossed after the alert* / area alerts. A
  drone or cruise missile that flies over a defended area on its way to another threatens
  the one it overflies, and no prediction can tell a waypoint from a target; where areas
  lie on the routes (or overlap) strict precision cannot reach 1, and this figure says how
  many of the "wrong" alerts were such overflights and how many warned an area the object
  never reached.
* **updates per alert** — ``updated`` events / ``issued`` events.
* **alerts about nothing** — issued alerts whose track no object was near (``truth``
  None).
* **impact error** — for ballistic and rocket alerts, the distance from the predicted
  impact point in force (the last alert state sent) to the true one, sampled every 10 s
  by true time to go, with the share of true impacts inside the stated (95 %) region:
  calibration.

Everything here reads arrays and events; nothing runs a node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mead import geo
from mead.events import AlertReceived, AlertSent, Event
from mead.sensors.base import Scan
from mead.sim.base import TruthTable
from mead.threat.evaluate import AreaSet

THREATS = ("ballistic", "rocket", "cruise", "drone")


def first_plot_times(truth: TruthTable, scans: Sequence[Scan]) -> np.ndarray:
    """(N,) scenario time of each object's first plot on any radar (NaN: never plotted)."""
    first = np.full(len(truth), np.inf)
    for s in scans:
        k = s.truth[s.truth >= 0]
        if k.size:
            np.minimum.at(first, k, s.t)
    return np.where(np.isfinite(first), first, np.nan)


def efficiency(
    truth: TruthTable, t_first_plot: np.ndarray, t_warn: np.ndarray, sel: np.ndarray
) -> tuple[float | None, float | None]:
    """(mean limit s, warning efficiency) over the objects ``sel`` that were plotted.

    ``t_warn`` (N,) is the first warning of the target's owner (NaN: never); a warning
    after arrival counts 0.
    """
    sel = sel & np.isfinite(t_first_plot)
    if not sel.any():
        return None, None
    limit = np.maximum(truth.t_end[sel] - t_first_plot[sel], 0.0)
    warned = np.isfinite(t_warn[sel]) & (t_warn[sel] < truth.t_end[sel])
    wt = np.where(warned, truth.t_end[sel] - np.nan_to_num(t_warn[sel]), 0.0)
    total = float(limit.sum())
    return float(limit.mean()), (float(wt.sum()) / total if total > 0 else None)


@dataclass(frozen=True)
class AlertCounts:
    """Alert lifecycles received by partners about objects of one class (or about nothing).

    A lifecycle is one ``alert_id``; it is an *area alert* once a state of it has level
    ``alert`` (issued so, or a pre-alert upgraded), a *pre-alert* if issued at level ``pre``.
    """

    issued: int = 0  # area alerts
    on_target: int = 0  # area alerts for the object's target area
    overflown: int = 0  # other area alerts whose area the object's path crossed afterwards
    updated: int = 0  # ``updated`` events
    lifecycles: int = 0  # issued events, either level
    pre: int = 0  # lifecycles issued as pre-alerts

    @property
    def precision(self) -> float | None:
        return self.on_target / self.issued if self.issued else None

    @property
    def path_precision(self) -> float | None:
        """Area alerts for the target or an area the object then flew over / area alerts."""
        return (self.on_target + self.overflown) / self.issued if self.issued else None

    @property
    def updates_per_alert(self) -> float | None:
        return self.updated / self.lifecycles if self.lifecycles else None


OVERFLIGHT = ("cruise", "drone")
"""Classes that threaten the areas they fly over (a ballistic missile threatens only where
it lands: its path is in space)."""


@dataclass(frozen=True)
class Overflights:
    """When each cruise missile and drone was last over each defended area (its true path)."""

    areas: dict[str, int]  # area name → column
    last_inside_s: np.ndarray  # (N, A) last scenario time inside the area (NaN: never)

    @staticmethod
    def of(truth: TruthTable, areas: AreaSet) -> Overflights:
        """From every truth sample of the ``OVERFLIGHT`` classes (circles by their radius,
        polygons by their outline)."""
        last = np.full((len(truth), len(areas)), np.nan)
        for i in np.flatnonzero(np.isin(truth.kind, OVERFLIGHT)).tolist():
            o, n = int(truth.offset[i]), int(truth.count[i])
            lat, lon, _ = geo.ecef2geodetic(truth.samples[o : o + n, :3])
            t = truth.t_start[i] + truth.dt[i] * np.arange(n)
            inside = areas.distance_m(lat, lon) <= 0.0
            for j in np.flatnonzero(inside.any(axis=0)).tolist():
                last[i, j] = t[inside[:, j]].max()
        return Overflights({n: j for j, n in enumerate(areas.names)}, last)

    def crossed(self, obj: int, area: str, t: float) -> bool:
        """The object's path was over ``area`` at scenario time ``t`` or later."""
        j = self.areas.get(area)
        return j is not None and bool(self.last_inside_s[obj, j] >= t)


def alert_counts(
    truth: TruthTable,
    events: Sequence[Event],
    overflights: Overflights | None = None,
    epoch_s: float = 0.0,
) -> dict[str, AlertCounts]:
    """Per truth kind (and ``"nothing"``): alert lifecycles partners received, by level.

    With ``overflights`` (and the scenario's ``epoch_s``), an area alert that is not for the
    object's target counts as ``overflown`` when the object's path crossed that area at or
    after the alert's time."""
    index = {tid: i for i, tid in enumerate(truth.ids)}
    kind = truth.kind.tolist()
    acc: dict[str, list[int]] = {}
    alerted: set[tuple[str, str]] = set()
    for ev in events:
        if not isinstance(ev, AlertReceived) or ev.state == "cancelled":
            continue
        i = None if ev.truth is None else index[ev.truth]
        k = "nothing" if i is None else kind[i]
        row = acc.setdefault(k, [0, 0, 0, 0, 0, 0])
        if ev.state == "issued":
            row[4] += 1
            row[5] += ev.level == "pre"
        else:
            row[3] += 1
        key = (ev.node, ev.alert_id)
        if ev.level != "alert" or key in alerted:
            continue
        alerted.add(key)
        row[0] += 1
        if i is not None and ev.area == truth.target_area[i]:
            row[1] += 1
        elif i is not None and overflights and overflights.crossed(i, ev.area, ev.t - epoch_s):
            row[2] += 1
    return {k: AlertCounts(*v) for k, v in acc.items()}


@dataclass(frozen=True)
class ImpactErrors:
    """Predicted against true impact, one row per ballistic/rocket alert state sent."""

    tgo_s: np.ndarray  # (K,) true time to go when the alert was made, s
    error_m: np.ndarray  # (K,) predicted to true impact point, m
    radius_m: np.ndarray  # (K,) stated 95 % region radius, m

    def by_minute(self, max_min: int = 10) -> list[dict[str, Any]]:
        """Median error, median radius and share inside the region per 1-min tgo bin."""
        rows = []
        b = np.floor(self.tgo_s / 60.0)
        for m in range(max_min):
            sel = b == m
            if not sel.any():
                continue
            rows.append(
                {
                    "tgo_min": f"{m}-{m + 1}",
                    "n": int(sel.sum()),
                    "median_error_m": round(float(np.median(self.error_m[sel])), 0),
                    "median_radius_m": round(float(np.median(self.radius_m[sel])), 0),
                    "inside_95": round(float(np.mean(self.error_m[sel] <= self.radius_m[sel])), 3),
                }
            )
        return rows


def impact_errors(
    truth: TruthTable,
    events: Sequence[Event],
    epoch_s: float,
    issuer: str | None = None,
    every_s: float = 10.0,
) -> ImpactErrors:
    """Impact errors of the alerts in force about ballistic missiles and rockets.

    ``issuer``: the alerts this node sent (``alert_sent``, the coordinator); ``None``: the
    alerts partners issued themselves (``alert`` events with ``via`` = the node). Every
    ``every_s`` from an alert's issue until its cancel or the object's arrival, the
    prediction in force is the last state sent (what the receiver holds), so the figures
    do not depend on how often updates are sent.
    """
    index = {tid: i for i, tid in enumerate(truth.ids)}
    states: dict[str, list[AlertSent | AlertReceived]] = {}
    for ev in events:
        if not isinstance(ev, AlertSent | AlertReceived) or ev.truth is None:
            continue
        if ev.threat_class not in ("ballistic", "rocket"):
            continue
        if issuer is not None:
            mine = isinstance(ev, AlertSent) and ev.node == issuer
        else:
            mine = isinstance(ev, AlertReceived) and ev.via == ev.node
        if mine and truth.kind[index[ev.truth]] in ("ballistic", "rocket"):
            states.setdefault(ev.alert_id, []).append(ev)
    rows = []
    for seq in states.values():
        i = index[seq[0].truth]  # type: ignore[index]
        t_end = truth.t_end[i] + epoch_s
        stop = min(t_end, *(e.t for e in seq if e.state == "cancelled"), t_end)
        t_s = np.arange(seq[0].t, stop, every_s)
        k = np.searchsorted([e.t for e in seq], t_s, side="right") - 1
        for ts, kk in zip(t_s.tolist(), k.tolist(), strict=True):
            e = seq[kk]
            rows.append((i, t_end - ts, e.impact_lat_deg, e.impact_lon_deg, e.impact_radius_m))
    if not rows:
        z = np.empty(0)
        return ImpactErrors(z, z, z)
    a = np.array(rows, dtype=np.float64)
    obj = a[:, 0].astype(np.intp)
    lat, lon, _ = geo.ecef2geodetic(truth.impact_ecef[obj])
    err = geo.great_circle_distance_m(a[:, 2], a[:, 3], lat, lon)
    return ImpactErrors(a[:, 1], np.asarray(err, dtype=np.float64), a[:, 4])


def truth_rows(truth: TruthTable, t_first_plot: np.ndarray) -> list[dict[str, Any]]:
    """One JSON-able row per object, as ``truth.jsonl`` holds them."""
    lat, lon, _ = geo.ecef2geodetic(truth.impact_ecef)
    lat, lon = np.atleast_1d(lat), np.atleast_1d(lon)
    return [
        {
            "id": truth.ids[i],
            "class": str(truth.kind[i]),
            "target_area": truth.target_area[i],
            "t_launch": round(float(truth.t_start[i]), 3),
            "t_arrival": round(float(truth.t_end[i]), 3),
            "arrival_lat_deg": round(float(lat[i]), 6),
            "arrival_lon_deg": round(float(lon[i]), 6),
            "t_first_plot": None
            if np.isnan(t_first_plot[i])
            else round(float(t_first_plot[i]), 3),
        }
        for i in range(len(truth))
    ]
