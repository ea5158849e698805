"""Threat stage: classification, impact / arrival prediction, threat evaluation, alerts.

A node runs the stage through one component, :class:`Assessor`, once per assessment cycle
on the tracks it holds (fused system tracks at the coordinator, its own local tracks at a
partner)::

    assessment = assessor.step(now, ids, x, P, deleted=gone_ids)
    send(assessment.alerts)

Its parts are usable alone: :class:`Classifier` (``classify``/``step``), :func:`assess`
with :class:`ThreatRules`, :class:`AlertManager`. Nothing depends on who runs them.
"""

from __future__ import annotations

from mead.threat.alerts import AlertManager
from mead.threat.assessor import Assessment, Assessor
from mead.threat.base import Threat, track_number
from mead.threat.classify import Classification, Classifier, Rules, classify_kinematics
from mead.threat.evaluate import AreaSet, ThreatRules, assess
from mead.threat.impact import predict_impact, propagate_to_ground, straight_line_approach

__all__ = [
    "AlertManager",
    "AreaSet",
    "Assessment",
    "Assessor",
    "Classification",
    "Classifier",
    "Rules",
    "Threat",
    "ThreatRules",
    "assess",
    "classify_kinematics",
    "predict_impact",
    "propagate_to_ground",
    "straight_line_approach",
    "track_number",
]
