"""The tracking contract: scans in, a partner's current local tracks out, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.types import Array, Covs, States


@dataclass(frozen=True)
class TrackReport:
    """A partner's confirmed local tracks, all predicted to time ``t`` (scenario s)."""

    t: float
    ids: list[str]  # (N,) stable local track ids, e.g. "P1-T000042"
    x: States  # (N, 6) ECEF
    P: Covs  # (N, 6, 6)
    quality: Array  # (N,) 0..1
    sensors: list[tuple[str, ...]]  # (N,) ids of the sensors that contributed plots
    deleted: list[str]  # ids of confirmed tracks deleted since the previous report

    @staticmethod
    def empty(t: float) -> TrackReport:
        return TrackReport(t, [], np.empty((0, 6)), np.empty((0, 6, 6)), np.empty(0), [], [])
