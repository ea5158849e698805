"""Engagement figures of a run: what was engaged, intercepted and spent, and what leaked.

From the ``launch`` and ``intercept`` events the simulated interceptors record and the
truth table. Per threat class: objects engaged (at least one round fired at them),
intercepted (killed), leakers (reached their target area: arrived within the run and
not killed before), interceptors spent (rounds fired at objects of the class; rounds at
no object count under ``none``), spent per kill and their cost; double engagements:
objects with rounds from two different units in the air at once (a planned second round
follows the first's miss, so it never counts). Per defended area: leakers.

A round is fired at the object nearest the threat estimate at launch (the launch event's
``truth``): that decides what was engaged and spent. For double engagements what counts
is where it went: the object its seeker found in its basket at the intercept (the
intercept event's ``truth``; none: it met nothing, so it doubled no one's round), or,
while it has not arrived when the run ends, the one it was fired at. An air patrol's round
flies up to a quarter of an hour under midcourse guidance on its track, and in a drone
stream 3 km apart that track may by then follow the next drone, which nobody else
engages; a round at a poor track that wandered off finds nothing. Counted by launch alone,
either is two units on one object, which it is not. That count is given too
(``double_engagements_by_launch``): it also catches two units launching at one object on
tracks so poor that neither round met anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from mead.events import Event, Intercept, Launch
from mead.sim.base import TruthTable

THREATS = ("ballistic", "rocket", "cruise", "drone")


def engagement_figures(
    truth: TruthTable, events: Sequence[Event], epoch_s: float, duration_s: float
) -> dict[str, Any]:
    """The engagement summary of one run (see the module doc)."""
    index = {tid: i for i, tid in enumerate(truth.ids)}
    kind = np.asarray(truth.kind)
    launches = [e for e in events if isinstance(e, Launch)]
    t_kill = np.full(len(truth), np.inf)
    met: dict[tuple[str, str, float, int], str | None] = {}  # round → what its seeker found
    for e in events:
        if isinstance(e, Intercept):
            met[(e.node, e.unit, e.t_launch, e.shot)] = e.truth
            if e.killed and e.truth is not None:
                i = index[e.truth]
                t_kill[i] = min(t_kill[i], e.t - epoch_s)
    engaged = np.zeros(len(truth), bool)
    spent: dict[str, int] = defaultdict(int)
    cost: dict[str, float] = defaultdict(float)
    went: dict[int, list[Launch]] = defaultdict(list)  # rounds by the object each went for
    fired: dict[int, list[Launch]] = defaultdict(list)  # … and by the one it was fired at
    for e in launches:
        i = index.get(e.truth, -1) if e.truth is not None else -1
        c = str(kind[i]) if i >= 0 else "none"
        spent[c] += 1
        cost[c] += e.cost_usd
        if i >= 0:
            engaged[i] = True
            fired[i].append(e)
        j = index.get(met.get((e.node, e.unit, e.t, e.shot), e.truth) or "", -1)
        if j >= 0:
            went[j].append(e)
    double, double_fired = (_doubled(by, len(truth)) for by in (went, fired))
    threat = np.isin(kind, THREATS)
    killed = np.isfinite(t_kill)
    arrived = threat & (truth.t_end <= duration_s) & ~(t_kill < truth.t_end)
    by_class: dict[str, Any] = {}
    for c in THREATS:
        sel = kind == c
        if not sel.any():
            continue
        k = int((sel & killed).sum())
        by_class[c] = {
            "threats": int(sel.sum()),
            "engaged": int((sel & engaged).sum()),
            "intercepted": k,
            "leakers": int((sel & arrived).sum()),
            "interceptors_spent": spent.get(c, 0),
            "spent_per_kill": round(spent.get(c, 0) / k, 2) if k else None,
            "cost_usd": cost.get(c, 0.0),
            "double_engagements": int((sel & double).sum()),
        }
    target = np.asarray(truth.target_area)
    by_area = {
        str(a): {"threats": int((threat & (target == a)).sum()),
                 "leakers": int((arrived & (target == a)).sum())}
        for a in sorted(set(target[threat].tolist()))
    }  # fmt: skip
    total_spent = sum(spent.values())
    return {
        "engaged": int((threat & engaged).sum()),
        "intercepted": int((threat & killed).sum()),
        "leakers": int(arrived.sum()),
        "interceptors_spent": total_spent,
        "rounds_at_nothing": spent.get("none", 0),
        "cost_usd": float(sum(cost.values())),
        "double_engagements": int((threat & double).sum()),
        "double_engagements_by_launch": int((threat & double_fired).sum()),
        "by_class": by_class,
        "by_area": by_area,
    }


def _doubled(rounds: dict[int, list[Launch]], n: int) -> np.ndarray:
    """(n,) bool: the objects whose rounds (object → rounds) overlap (:func:`_overlapping`)."""
    out = np.zeros(n, bool)
    for i, rs in rounds.items():
        out[i] = _overlapping(rs)
    return out


def _overlapping(rounds: list[Launch]) -> bool:
    """Two rounds from different units in the air at once."""
    rs = sorted(rounds, key=lambda e: e.t)
    for a in range(len(rs)):
        for b in range(a + 1, len(rs)):
            if rs[b].t >= rs[a].t_intercept:
                break
            if rs[b].unit != rs[a].unit:
                return True
    return False


def format_engagement(eng: dict[str, Any]) -> list[str]:
    """The summary's engagement section as text lines (alliance vs national-only)."""
    a, n = eng["alliance"], eng["national"]
    out = [
        "engagements, alliance vs national-only (A/N):",
        f"{'class':<10}{'threats':>8}{'engaged':>10}{'killed':>10}{'leakers':>10}"
        f"{'rounds':>10}{'per kill':>11}{'double':>8}",
    ]
    for c, r in a["by_class"].items():
        q = n["by_class"][c]

        def pk(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        out.append(
            f"{c:<10}{r['threats']:>8}{_ab(r, q, 'engaged'):>10}{_ab(r, q, 'intercepted'):>10}"
            f"{_ab(r, q, 'leakers'):>10}{_ab(r, q, 'interceptors_spent'):>10}"
            f"{pk(r['spent_per_kill']) + '/' + pk(q['spent_per_kill']):>11}"
            f"{_ab(r, q, 'double_engagements'):>8}"
        )
    fewer = n["leakers"] - a["leakers"]
    out.append(
        f"leakers: alliance {a['leakers']}, national-only {n['leakers']} "
        f"({f'{fewer} fewer' if fewer >= 0 else f'{-fewer} more'} with the alliance); "
        f"interceptors {a['interceptors_spent']}/{n['interceptors_spent']} "
        f"(${a['cost_usd'] / 1e6:.1f} M / ${n['cost_usd'] / 1e6:.1f} M), "
        f"rounds that met nothing {a['rounds_at_nothing']}/{n['rounds_at_nothing']}, "
        f"double engagements {a['double_engagements']}/{n['double_engagements']} (counted "
        f"by the object nearest each launch's estimate instead of where the round went: "
        f"{a['double_engagements_by_launch']}/{n['double_engagements_by_launch']})"
    )
    leaky = [f"{k} {v['leakers']}/{n['by_area'][k]['leakers']}" for k, v in a["by_area"].items()]
    out.append("leakers per defended area (A/N): " + ", ".join(leaky))
    return out


def _ab(a: dict[str, Any], n: dict[str, Any], key: str) -> str:
    return f"{a[key]}/{n[key]}"
