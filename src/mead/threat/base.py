"""The threat-stage contract: a ``Threat`` is one track predicted to reach one defended area."""

from __future__ import annotations

import re
import zlib

import msgspec

from mead.messages import AlertLevel, TrackClass


class Threat(msgspec.Struct, frozen=True, kw_only=True):
    """One (track, defended area) pair judged threatened at time ``t``.

    For ballistic and rocket tracks the impact point is the predicted impact of the mean
    state; for cruise missiles and drones it is the closest approach of the straight-line
    path to the area (its centre), and ``t_impact`` the time of that approach.

    A struct, not a dataclass: a swarm makes thousands each cycle, and a frozen dataclass
    took several times longer to build.
    """

    t: float  # time of the assessment, s (the caller's time base: UTC s on the wire)
    track_id: str  # the assessing node's track id (an STN at the coordinator)
    system_track: int  # integer form of track_id (see ``track_number``)
    area: str  # defended-area name
    owner: str  # pseudonym of the area's owner, the alert's recipient
    threat_class: TrackClass
    impact_lat_deg: float  # predicted impact / closest-approach point
    impact_lon_deg: float
    impact_radius_m: float  # ~95 % radius of the predicted impact area, m
    t_impact: float  # predicted impact / arrival time, s (same base as t)
    tgo_s: float  # t_impact − t, s
    miss_m: float  # predicted distance from the impact point to the area's edge (0 inside), m
    track_lat_deg: float  # track position at t
    track_lon_deg: float
    track_alt_m: float
    value: float = 1.0  # the area's value (0..100), for ranking
    marginal: bool = False  # just outside the threat threshold: keeps an open alert alive
    level: AlertLevel = "alert"  # "pre": the area is in the wide region, not yet likely
    hold: bool = False  # a "pre" likely enough to keep an open area alert an area alert
    p_area: float = 1.0  # probability that the object lands in (or reaches) the area
    sigma_tgo_s: float = 0.0  # 1-σ of the time to go, s


_TRAILING_DIGITS = re.compile(r"(\d+)$")


def track_number(track_id: str) -> int:
    """Integer track number for an id: the id itself if numeric ("42"), else its trailing
    digits ("P1-T000042" → 42), else a stable CRC-32 of the id."""
    if track_id.isdigit():
        return int(track_id)
    m = _TRAILING_DIGITS.search(track_id)
    return int(m.group(1)) if m else zlib.crc32(track_id.encode())
