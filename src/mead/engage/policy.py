"""A partner's engagement policy: when its own units fire, as data beside its release policy.

The coordinator only advises; what a partner's units do is decided here, by the partner:

- ``defend_own``: engage threats to its own areas — accepting the coordinator's advice
  for them, and on its own tracks when it has no advice (no coordinator, or a silent one);
- ``help_others`` / ``help_areas``: accept advice against threats to other partners'
  areas (all of them, only the areas listed, or none);
- ``hold_classes`` / ``hold_regions``: never fire on these classes, nor at an intercept
  point inside these regions (own areas included).

Decisions are made per advice item by :meth:`EngagementPolicy.decide`; the reason for a
decline travels back to the coordinator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from msgspec import Struct

from mead import geo
from mead.federation.policy import Region, in_region
from mead.scenario.loader import decode_yaml, load_yaml
from mead.scenario.schema import Name, ThreatKind


class EngagementPolicy(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a partner's fire units may engage (see the module doc)."""

    partner: Name  # the partner the policy belongs to
    defend_own: bool = True  # engage threats to own areas (advised, and on own tracks)
    help_others: bool = True  # accept advice against threats to others' areas
    help_areas: list[Name] | None = None  # only these areas of others (None: any)
    hold_classes: list[ThreatKind] = []  # never engage these classes
    hold_regions: list[Region] = []  # never intercept inside these

    @staticmethod
    def default(partner: str) -> EngagementPolicy:
        """Defend own areas, help every other partner, hold fire on nothing."""
        return EngagementPolicy(partner=partner)

    def decide(
        self, threat_class: str, area: str, own_area: bool, intercept_ecef: tuple[float, ...]
    ) -> str:
        """ "" to engage, else the reason to decline."""
        if threat_class in self.hold_classes:
            return f"policy: hold fire on {threat_class}"
        if own_area and not self.defend_own:
            return "policy: own areas not defended"
        if not own_area and not self.help_others:
            return "policy: no help for other partners"
        if not own_area and self.help_areas is not None and area not in self.help_areas:
            return f"policy: area {area} not helped"
        if self.hold_regions and len(intercept_ecef) == 3:
            lat, lon, _ = geo.ecef2geodetic(np.asarray(intercept_ecef, dtype=np.float64)[None])
            for k, r in enumerate(self.hold_regions):
                if in_region(lat, lon, r)[0]:
                    return f"policy: hold region {k}"
        return ""


def load_engagement_policy(path: str | Path) -> EngagementPolicy:
    """Load an engagement policy file; errors are ``ConfigError`` naming file and field."""
    return load_yaml(path, EngagementPolicy)


def decode_engagement_policy(text: bytes | str, source: str = "<string>") -> EngagementPolicy:
    """Decode engagement-policy YAML text; errors name ``source`` and the field path."""
    return decode_yaml(text, EngagementPolicy, source=source)
