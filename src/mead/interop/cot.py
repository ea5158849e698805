"""Cursor-on-Target out: a track as a CoT 2.0 event (XML) for TAK clients.

A pure function, bytes out; sending is a transport's job. CoT types follow the 2525-style
tree: ``a-<affiliation>-A`` for an air object, refined by MEAD's classification.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from mead.errors import ParameterError
from mead.messages import TrackClass

COT_TYPES: dict[str, str] = {
    "ballistic": "A-W-M-S-S",  # weapon / missile / surface-to-surface
    "rocket": "A-W-M-S-S",
    "cruise": "A-W-M-S-S",
    "drone": "A-M-F-Q",  # military fixed wing, unmanned (RPV/drone)
    "aircraft": "A-C-F",  # civil fixed wing
    "unknown": "A",
}
"""The CoT type after ``a-<affiliation>-`` for each track class."""

AFFILIATIONS = {"hostile": "h", "unknown": "u", "neutral": "n", "friend": "f"}


def cot_type(track_class: TrackClass, affiliation: str) -> str:
    """The CoT type of a track, e.g. ``a-h-A-W-M-S-S`` for a hostile ballistic missile."""
    if affiliation not in AFFILIATIONS:
        raise ParameterError("affiliation", f"one of {sorted(AFFILIATIONS)}", affiliation)
    if track_class not in COT_TYPES:
        raise ParameterError("track_class", f"one of {sorted(COT_TYPES)}", track_class)
    return f"a-{AFFILIATIONS[affiliation]}-{COT_TYPES[track_class]}"


def _iso(t_utc_s: float) -> str:
    """CoT time: ISO 8601 UTC with milliseconds and a Z."""
    return datetime.fromtimestamp(t_utc_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def track2cot(
    uid: str,
    cot: str,
    t_utc_s: float,
    stale_s: float,
    lat_deg: float,
    lon_deg: float,
    hae_m: float,
    ce_m: float,
    le_m: float,
    course_deg: float,
    speed_mps: float,
    callsign: str,
    remarks: str = "",
) -> bytes:
    """One CoT event (XML bytes): ``time`` = ``start`` = ``t_utc_s``, ``stale`` that much
    later (s); ``ce``/``le`` are the 1-σ circular and linear errors, m; ``how="m-f"``
    (machine, fused)."""
    vals = {"t_utc_s": t_utc_s, "stale_s": stale_s, "lat_deg": lat_deg, "lon_deg": lon_deg,
            "hae_m": hae_m, "ce_m": ce_m, "le_m": le_m, "course_deg": course_deg,
            "speed_mps": speed_mps}  # fmt: skip
    for name, v in vals.items():
        if not math.isfinite(v):
            raise ParameterError(name, "finite", v)
    if stale_s <= 0:
        raise ParameterError("stale_s", "> 0", stale_s)
    if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180):
        raise ParameterError("lat_deg/lon_deg", "on the globe", (lat_deg, lon_deg))
    ev = ET.Element("event", {
        "version": "2.0", "uid": uid, "type": cot, "how": "m-f", "time": _iso(t_utc_s),
        "start": _iso(t_utc_s), "stale": _iso(t_utc_s + stale_s),
    })  # fmt: skip
    point = {"lat": lat_deg, "lon": lon_deg, "hae": hae_m, "ce": ce_m, "le": le_m}
    ET.SubElement(ev, "point", {k: repr(float(v)) for k, v in point.items()})
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "contact", {"callsign": callsign})
    track = {"course": repr(float(course_deg)), "speed": repr(float(speed_mps))}
    ET.SubElement(detail, "track", track)
    if remarks:
        ET.SubElement(detail, "remarks").text = remarks
    head = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return head + ET.tostring(ev, encoding="unicode").encode()
