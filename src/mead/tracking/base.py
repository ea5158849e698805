"""The tracking contract: scans in, a partner's current local tracks out, as arrays.

A tracker takes radar ``Scan``s (``mead.sensors.base``, polar plots at a site) and
``CartesianScan``s (plots already as local Cartesian positions). Each kind of scan gives
the tracker its measurement model: a scan with a ``model`` attribute carries it; a
radar scan's model is its ``Site``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead.tracking.measurement import CartesianFrame
from mead.types import Array, Covs, Meas, States


@dataclass(frozen=True)
class CartesianScan:
    """Plots of one sensor revisit as Cartesian positions in a local ENU frame, at time ``t``.

    For a 2D sensor, set up = 0 in ``z`` and give ``sigma[2]`` a small value (e.g. 1 m): the
    tracks then stay on the frame's tangent plane (see ``CartesianFrame``).
    """

    sensor_id: str
    partner: str  # owning partner's pseudonym
    t: float  # scenario s
    frame: CartesianFrame  # the local ENU frame of ``z``
    z: Meas  # (M, 3) [east m, north m, up m]
    sigma: Array  # (3,) 1-σ noise per component, m
    truth: np.ndarray  # (M,) int, −1 for clutter (scoring only; trackers must not read it)

    @property
    def model(self) -> CartesianFrame:
        """The measurement model of the plots."""
        return self.frame


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


class TrackSource(Protocol):
    """Tracks a partner holds besides its own tracker's: e.g. its national tracker's system
    tracks received as ASTERIX CAT062 (:mod:`mead.tracking.external`)."""

    def report(self, t: float) -> TrackReport:
        """Its tracks predicted to scenario time ``t`` (s), and those dropped since the
        previous report."""
        ...


def merge_reports(reports: list[TrackReport]) -> TrackReport:
    """One report of the tracks of several (same time ``t``: the first's)."""
    if len(reports) == 1:
        return reports[0]
    return TrackReport(
        reports[0].t,
        [i for r in reports for i in r.ids],
        np.concatenate([r.x for r in reports]),
        np.concatenate([r.P for r in reports]),
        np.concatenate([r.quality for r in reports]),
        [s for r in reports for s in r.sensors],
        [d for r in reports for d in r.deleted],
    )
