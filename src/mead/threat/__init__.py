"""Threat stage: classification, impact / arrival prediction, threat evaluation, alerts.

Per assessment a node runs, on its tracks (fused system tracks at the coordinator, its own
local tracks at a partner)::

    classes = classifier.classify(ids, x, P, t=now)
    xs, Ps, powered = classifier.smoothed(ids, x, P)
    threats = assess(now, ids, xs, Ps, classes, areas, powered=powered)
    alerts = alert_manager.step(now, threats, live_ids=ids)

and ``classifier.forget(deleted_ids)`` when tracks are deleted. Nothing depends on who
runs it.
"""

from __future__ import annotations

from mead.threat.alerts import AlertManager
from mead.threat.base import Threat, track_number
from mead.threat.classify import Classifier, Rules, classify_kinematics
from mead.threat.evaluate import AreaSet, assess
from mead.threat.impact import predict_impact, propagate_to_ground, straight_line_approach

__all__ = [
    "AlertManager",
    "AreaSet",
    "Classifier",
    "Rules",
    "Threat",
    "assess",
    "classify_kinematics",
    "predict_impact",
    "propagate_to_ground",
    "straight_line_approach",
    "track_number",
]
