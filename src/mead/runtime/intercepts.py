"""Simulated interceptors: where a launched round meets truth, and what it kills.

One :class:`Intercepts` per run is the :class:`~mead.engage.fire_control.Effector` of
every partner's fire control. A round flies to its aim point, which the fire control
updates in flight from its newest estimate of the threat (midcourse guidance); at the
intercept time its seeker finds the threat object nearest the aim point within its
basket, among those still flying, and a seeded draw against the unit's kill probability
for that object's class decides the kill. The draws are common to the two runs of a seed
(common random numbers): the k-th round to meet an object uses that object's k-th draw,
so a round fired at the same object in both runs has the same outcome, and the alliance
and national runs differ by their decisions, not by their dice. Rounds are settled in
intercept-time order at the start of each tick (:meth:`Intercepts.settle`). A killed
object stops in this run's truth from the intercept time on: :meth:`Intercepts.visible`
drops its later plots from the scans, so the alliance and national runs diverge
honestly. (A partner's node holds its next scan before it is due; a kill settled after
that scan was fetched does not remove the object from it: at most one scan per partner
keeps a plot of a killed object.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from mead.engage.fire_control import Shot
from mead.events import Emit, Intercept, Launch
from mead.sensors.base import Scan
from mead.sim.base import TruthTable

INTENDED_GATE_M = 30_000.0
"""A launch is attributed (for scoring) to the object nearest the threat estimate, if within
this distance."""
_THREATS = ("ballistic", "rocket", "cruise", "drone")
KILL_DRAWS = 8
"""Kill draws held per object (common to both runs of a seed); a ninth round to meet one
object, and later ones, draw from the run's stream."""


@dataclass
class _Round:
    shot: Shot
    aim: np.ndarray  # (3,) ECEF aim point, newest
    t_hit_s: float  # scenario s
    killed: bool | None = None  # None until settled
    obj: int = -1  # truth row met, −1 none


class Intercepts:
    """The interceptors of one run against its truth (see the module doc)."""

    def __init__(
        self, truth: TruthTable, epoch_s: float, rng: np.random.Generator, emit: Emit
    ) -> None:
        self.truth, self.epoch_s, self.rng, self.emit = truth, epoch_s, rng, emit
        self.is_threat = np.isin(np.asarray(truth.kind), _THREATS)
        self.t_kill = np.full(len(truth), np.inf)  # scenario s, per object
        self.draws = rng.random((len(truth), KILL_DRAWS))  # the k-th round at an object
        self.met = np.zeros(len(truth), dtype=np.intp)  # rounds that met each object
        self.rounds: list[_Round] = []
        self._open: list[int] = []  # rounds not yet settled

    def launch(self, shot: Shot) -> int:
        """Fly one round (recorded as a ``launch`` event with the object it was meant for)."""
        intended = self._nearest(
            shot.t - self.epoch_s, np.asarray(shot.threat_pos), INTENDED_GATE_M
        )
        self.emit(
            Launch(
                node=shot.node, unit=shot.unit, t=shot.t, t_intercept=shot.t_intercept,
                shot=shot.shot, advice_id=shot.advice_id, threat_class=shot.threat_class,
                cost_usd=shot.cost_usd, truth=self.truth.ids[intended] if intended >= 0 else None,
            )
        )  # fmt: skip
        self.rounds.append(
            _Round(shot, np.asarray(shot.aim, float), shot.t_intercept - self.epoch_s)
        )
        self._open.append(len(self.rounds) - 1)
        return len(self.rounds) - 1

    def update(self, handle: int, aim: tuple[float, float, float]) -> None:
        """Midcourse guidance: a new aim point for a round in flight."""
        r = self.rounds[handle]
        if r.killed is None:
            r.aim = np.asarray(aim, dtype=np.float64)

    def settle(self, now: float) -> None:
        """Resolve every round whose intercept time (UTC s) is past, earliest first."""
        due = sorted(
            (self.rounds[h].t_hit_s, h)
            for h in self._open
            if self.rounds[h].shot.t_intercept <= now
        )
        if not due:
            return
        done = {h for _, h in due}
        self._open = [h for h in self._open if h not in done]
        for t_hit, h in due:
            r = self.rounds[h]
            near, miss = self._nearest_any(t_hit, r.aim)
            r.obj = near if miss <= r.shot.basket_m else -1
            kind = str(self.truth.kind[r.obj]) if r.obj >= 0 else ""
            r.killed = bool(r.obj >= 0 and self._draw(r.obj) < r.shot.pk.get(kind, 0.0))
            if r.killed:
                self.t_kill[r.obj] = t_hit
            self.emit(
                Intercept(
                    node=r.shot.node, unit=r.shot.unit, t=r.shot.t_intercept, t_launch=r.shot.t,
                    shot=r.shot.shot, advice_id=r.shot.advice_id,
                    truth=self.truth.ids[r.obj] if r.obj >= 0 else None, killed=r.killed,
                    miss_m=round(miss, 1),
                )
            )  # fmt: skip

    def _draw(self, obj: int) -> float:
        """The kill draw of the next round to meet truth row ``obj``."""
        k = int(self.met[obj])
        self.met[obj] += 1
        return float(self.draws[obj, k]) if k < KILL_DRAWS else float(self.rng.random())

    def outcome(self, handle: int, now: float) -> bool | None:
        """Whether round ``handle`` killed its object; None before its intercept time."""
        self.settle(now)
        return self.rounds[handle].killed

    def _nearest(self, t_s: float, p: np.ndarray, gate_m: float) -> int:
        """The threat object alive and not killed at ``t_s`` nearest ``p``, within
        ``gate_m`` (−1: none)."""
        obj, d = self._nearest_any(t_s, p)
        return obj if d <= gate_m else -1

    def _nearest_any(self, t_s: float, p: np.ndarray) -> tuple[int, float]:
        """The threat object alive and not killed at ``t_s`` nearest ``p``, and its
        distance, m (−1, inf: none)."""
        alive, x = self.truth.states_at(t_s)
        ok = self.is_threat[alive] & (self.t_kill[alive] > t_s)
        if not ok.any():
            return -1, np.inf
        d = np.linalg.norm(x[ok, :3] - p, axis=1)
        k = int(np.argmin(d))
        return int(alive[ok][k]), float(d[k])

    def visible(self, scans: Iterator[Scan]) -> Iterator[Scan]:
        """The scans without the plots of objects killed before each scan's time."""
        for s in scans:
            if np.isfinite(self.t_kill).any() and s.truth.size:
                obj = np.maximum(s.truth, 0)
                gone = (s.truth >= 0) & (self.t_kill[obj] <= s.t)
                if gone.any():
                    s = replace(s, z=s.z[~gone], truth=s.truth[~gone])
            yield s

    def killed(self) -> dict[str, float]:
        """Object id → scenario time it was killed."""
        return {
            self.truth.ids[i]: float(self.t_kill[i])
            for i in np.flatnonzero(np.isfinite(self.t_kill))
        }
