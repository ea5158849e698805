"""The threat stage as one component: classify → impact prediction → threat evaluation → alerts.

Both kinds of node call :meth:`Assessor.step` once per assessment cycle on the tracks they
hold (a partner its own local tracks, the coordinator the fused system tracks); nothing in
it depends on who runs it. The order of the stage's parts lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mead.messages import Alert, TrackClass, most_threatening
from mead.scenario.schema import DefendedArea
from mead.sensors.adsb import AdsbReports
from mead.threat.alerts import AlertManager
from mead.threat.base import Threat
from mead.threat.classify import Classifier
from mead.threat.cooperative import CIVIL, NONE, CooperativeId
from mead.threat.evaluate import DEFAULT_RULES, AreaSet, ThreatRules, assess, heading_towards
from mead.threat.local import local
from mead.threat.trajectory import FreeFlightFit
from mead.types import Covs, States


@dataclass(frozen=True)
class Assessment:
    """One cycle's outcome for N tracks."""

    classes: list[TrackClass]  # (N,) the node's classes (after ``prior`` where given)
    threats: list[Threat] = field(default_factory=list)  # threatened (track, area) pairs
    alerts: list[Alert] = field(default_factory=list)  # to send: issued, updated, cancelled
    ident: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="<U7"))  # (N,) ADS-B


class Assessor:
    """Classifies a node's tracks, judges which areas they threaten and keeps the alerts.

    Parameters
    ----------
    classifier : per-track classification with history (chords, hysteresis).
    alerts : the alert lifecycle of this node's areas.
    areas : the defended areas this node warns for (a partner: its own; the coordinator:
        all). With none, tracks are only classified.
    rules : thresholds of the threat evaluation.
    fit : free-flight fits of ballistic and rocket tracks after their boost (impact
        prediction from the whole unpowered arc, drag estimated).
    cooperative : identification of tracks by the ADS-B reports the node receives: a track
        identified civil is classed aircraft and never threatens, and the threat evidence
        its classifier gathered before is void (``Classifier.identified``); a suspect one,
        whose ADS-B claim the radar contradicts, is judged on its kinematics alone.
    """

    def __init__(
        self,
        classifier: Classifier,
        alerts: AlertManager,
        areas: Sequence[DefendedArea],
        rules: ThreatRules = DEFAULT_RULES,
        fit: FreeFlightFit | None = None,
        cooperative: CooperativeId | None = None,
    ) -> None:
        self.classifier = classifier
        self.alerts = alerts
        self.areas = AreaSet.from_areas(areas)
        self.rules = rules
        self.fit = fit if fit is not None else FreeFlightFit()
        self.cooperative = cooperative if cooperative is not None else CooperativeId()

    def step(
        self,
        t: float,
        ids: Sequence[str],
        x: States,
        P: Covs,
        *,
        deleted: Iterable[str] = (),
        prior: Sequence[TrackClass] | None = None,
        adsb: AdsbReports | None = None,
        withheld: Sequence[str] = (),
        blind: Collection[str] = (),
    ) -> Assessment:
        """Assess N tracks at wire time ``t``.

        ``ids`` (N,), ``x`` (N, 6) ECEF, ``P`` (N, 6, 6). ``deleted``: ids gone since the
        last cycle (their history is dropped). ``prior`` (N,): classes known from elsewhere
        (the fused class at the coordinator); the more threatening of it and the node's own
        is used (``mead.messages.THREAT_ORDER``). ``adsb``: the ADS-B reports the node
        has received (times in the same base as ``t``); without, nothing is identified.
        ``withheld``: ids whose threats are not warned this cycle (tracks the coordinator
        does not believe yet): they are classified and fitted as usual, but raise no alert
        and keep none open, and are left out of ``threats``. ``blind``: ids of tracks gone
        where their radars lost coverage: their alerts are held, not cancelled
        (:class:`~mead.threat.alerts.AlertManager`).
        """
        deleted = list(deleted)
        self.classifier.forget(deleted)
        self.fit.forget(deleted)
        self.cooperative.forget(deleted)
        c = self.classifier.step(ids, x, P, t)
        classes = c.classes
        if prior is not None:
            classes = [most_threatening(a, b) for a, b in zip(classes, prior, strict=True)]
        ident = np.full(len(ids), NONE)
        if adsb is not None and len(ids):
            ident = self.cooperative.step(t, ids, x, P, adsb).ident
            self.classifier.identified([i for i, k in zip(ids, ident, strict=True) if k == CIVIL])
            classes = [
                "aircraft" if i == CIVIL else cl for i, cl in zip(ident, classes, strict=True)
            ]
        if not len(self.areas):
            return Assessment(classes, ident=ident)
        # a boost in a track's window fails the fit's residual test, so the fit can start
        # before the classifier has judged the boost over: warnings come sooner
        fast = np.isin(classes, ("ballistic", "rocket"))
        flight = self.fit.step(t, ids, x, P, fast, fit=self._towards(c.x, c.P, fast))
        threats = assess(
            t,
            ids,
            c.x,
            c.P,
            classes,
            self.areas,
            rules=self.rules,
            powered=c.powered & ~flight.ok,
            flight=flight,
        )
        if withheld:
            out = set(withheld)
            threats = [th for th in threats if th.track_id not in out]
        return Assessment(classes, threats, self.alerts.step(t, threats, ids, blind), ident)

    def _towards(self, x: States, P: Covs, rows: np.ndarray) -> np.ndarray:
        """(N,) the ``rows`` heading towards one of this node's areas (the only ones whose
        impact it predicts; see :func:`~mead.threat.evaluate.heading_towards`)."""
        out = np.zeros(len(rows), bool)
        sel = np.flatnonzero(rows)
        if sel.size:
            out[sel] = heading_towards(local(x[sel], P[sel]), self.areas)
        return out

    @classmethod
    def for_areas(cls, issuer: str, areas: Sequence[DefendedArea]) -> Assessor:
        """An assessor with the default classifier, alert rules and threat rules."""
        return cls(Classifier(), AlertManager(issuer, areas), areas)

    @property
    def open_alerts(self) -> list[Alert]:
        """The last alert sent for every open lifecycle."""
        return self.alerts.open_alerts
