"""Cursor-on-Target out: tracks and alerts as CoT 2.0 events (XML) for TAK clients.

Pure functions, bytes out; sending (and the TAK protocol v1 protobuf framing) is the
transport's job (:mod:`mead.interop.tak`). CoT types follow the 2525-style tree:
``a-<affiliation>-A`` for an air object, refined by MEAD's classification.
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

AFFILIATIONS = {"hostile": "h", "suspect": "s", "unknown": "u", "neutral": "n", "friend": "f"}
"""The map's standard identities (``mead.server.rows.AFFILIATIONS``) as CoT affiliations."""

ALERT_TYPES = {"issued": "b-a-o-tbl", "updated": "b-a-o-tbl", "cancelled": "b-a-o-can"}
"""CoT types of an early warning: the emergency alert TAK clients raise, and its cancel."""

SIGMA_PER_R95 = 1.0 / 2.4477
"""1-σ per 95 % radius of a circular normal error (√(−2 ln 0.05) = 2.4477)."""


def cot_type(track_class: TrackClass, affiliation: str) -> str:
    """The CoT type of a track, e.g. ``a-h-A-W-M-S-S`` for a hostile ballistic missile."""
    if affiliation not in AFFILIATIONS:
        raise ParameterError("affiliation", f"one of {sorted(AFFILIATIONS)}", affiliation)
    if track_class not in COT_TYPES:
        raise ParameterError("track_class", f"one of {sorted(COT_TYPES)}", track_class)
    return f"a-{AFFILIATIONS[affiliation]}-{COT_TYPES[track_class]}"


def cot_time(t_utc_s: float) -> str:
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
        "version": "2.0", "uid": uid, "type": cot, "how": "m-f", "time": cot_time(t_utc_s),
        "start": cot_time(t_utc_s), "stale": cot_time(t_utc_s + stale_s),
    })  # fmt: skip
    point = {"lat": lat_deg, "lon": lon_deg, "hae": hae_m, "ce": ce_m, "le": le_m}
    ET.SubElement(ev, "point", {k: repr(float(v)) for k, v in point.items()})
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "contact", {"callsign": callsign})
    track = {"course": repr(float(course_deg)), "speed": repr(float(speed_mps))}
    ET.SubElement(detail, "track", track)
    if remarks:
        ET.SubElement(detail, "remarks").text = remarks
    return cot_bytes(ev)


def cot_bytes(ev: ET.Element) -> bytes:
    """A CoT event element as the bytes TAK clients take: XML declaration and the event."""
    head = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return head + ET.tostring(ev, encoding="unicode").encode()


def alert2cot(
    uid: str,
    state: str,
    t_utc_s: float,
    t_impact_utc_s: float,
    lat_deg: float,
    lon_deg: float,
    radius95_m: float,
    track_uid: str,
    remarks: str,
) -> bytes:
    """One early warning as a CoT event (XML bytes) at the predicted impact point:
    ``b-a-o-tbl`` (an emergency alert) while issued or updated, ``b-a-o-can`` once
    cancelled; ``ce`` is the 1-σ of the 95 % impact radius; stale one minute after the
    predicted impact (a cancel is stale at once); a ``link`` names the threat's track."""
    if state not in ALERT_TYPES:
        raise ParameterError("state", f"one of {sorted(ALERT_TYPES)}", state)
    for name, v in {"t_utc_s": t_utc_s, "t_impact_utc_s": t_impact_utc_s, "lat_deg": lat_deg,
                    "lon_deg": lon_deg, "radius95_m": radius95_m}.items():  # fmt: skip
        if not math.isfinite(v):
            raise ParameterError(name, "finite", v)
    stale = t_utc_s + 1.0 if state == "cancelled" else max(t_impact_utc_s, t_utc_s) + 60.0
    ev = ET.Element("event", {
        "version": "2.0", "uid": uid, "type": ALERT_TYPES[state], "how": "m-f",
        "time": cot_time(t_utc_s), "start": cot_time(t_utc_s), "stale": cot_time(stale),
    })  # fmt: skip
    point = {"lat": lat_deg, "lon": lon_deg, "hae": 0.0, "ce": radius95_m * SIGMA_PER_R95,
             "le": 9999999.0}  # fmt: skip
    ET.SubElement(ev, "point", {k: repr(float(v)) for k, v in point.items()})
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "contact", {"callsign": uid})
    ET.SubElement(detail, "link", {"uid": track_uid, "relation": "p-p", "type": "a-h-A"})
    ET.SubElement(detail, "remarks").text = remarks
    return cot_bytes(ev)
