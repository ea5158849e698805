"""The fusion contract: partners' released track batches in, one system picture out.

A fuser sits at the coordinator (or any partner allowed to fuse). It ingests
``TrackBatch`` messages as they arrive, in any interleaving of sources, and on request
forms the *system picture*: one row per object, keyed by a stable system track number
(STN), fused from every partner track currently mapped to that STN.

Class fusion rule (documented here because every implementation must follow it): the
fused class of a system track is the **most threatening** class reported by any live
contributor, with the order ``ballistic > rocket > cruise > drone > unknown > aircraft``.
Early warning prefers a false alarm on one object over a missed threat, so one partner's
"ballistic" is never outvoted by two partners' "aircraft".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead.messages import THREAT_ORDER, TrackBatch
from mead.types import Array, Covs, States

THREAT_RANK: dict[str, int] = {c: i for i, c in enumerate(THREAT_ORDER)}
"""Class → rank in :data:`mead.messages.THREAT_ORDER`; the fused class is the highest."""

RANK_CLASS: tuple[str, ...] = THREAT_ORDER
"""Rank → class (inverse of ``THREAT_RANK``)."""


@dataclass(frozen=True)
class SystemPicture:
    """The fused air picture at time ``t``: one row per system track, ordered by STN.

    ``sources`` names the contributing partners' pseudonyms; it is internal to the
    coordinator and must never be released (it would tell partners who the others are).
    """

    t: float  # time of validity, UTC s
    stn: np.ndarray  # (N,) int64 system track numbers, ascending, never reused
    x: States  # (N, 6) fused ECEF state [m m m m/s m/s m/s]
    P: Covs  # (N, 6, 6) fused covariance (covariance intersection)
    cls: list[str]  # (N,) most threatening class reported by a contributor
    quality: Array  # (N,) 0..1, the best contributor's quality
    sources: list[tuple[str, ...]]  # (N,) sorted pseudonyms of the contributors (internal)
    n_sources: np.ndarray  # (N,) int64 number of contributing source tracks

    def __len__(self) -> int:
        return int(self.stn.shape[0])

    @staticmethod
    def empty(t: float) -> SystemPicture:
        """A picture with no system tracks at time ``t``."""
        return SystemPicture(
            t,
            np.empty(0, np.int64),
            np.empty((0, 6)),
            np.empty((0, 6, 6)),
            [],
            np.empty(0),
            [],
            np.empty(0, np.int64),
        )


class Fuser(Protocol):
    """Anything that turns partners' track batches into a system picture."""

    def ingest(self, batch: TrackBatch) -> None:
        """Take in one source's released tracks (and the ids it dropped); never raises on
        malformed tracks — they are skipped and counted."""
        ...

    def picture(self, t: float) -> SystemPicture:
        """The system picture predicted to time ``t`` (UTC s)."""
        ...
