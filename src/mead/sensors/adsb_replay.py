"""Recorded ADS-B in: OpenSky state vectors (CSV) as MEAD's ADS-B reports, and screening of
a recording for implausible reports — jumps no aircraft can fly, positions drifting away
from the aircraft's own reported velocity (GNSS spoofing and jamming look so).

The CSV columns are those of the shared ``adsb/`` recordings: time (unix s), icao24 (hex),
callsign, lat, lon (deg), altitude_ft, velocity_kt, heading_deg, vertical_rate_fpm,
onground, squawk; empty fields mean no value. :func:`csv2reports` gives the
:class:`~mead.sensors.adsb.AdsbReports` the cooperative identification reads.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mead import geo
from mead.errors import ConfigError
from mead.sensors.adsb import AdsbReports
from mead.sensors.adsb_drift import DriftLimits, drift_windows
from mead.types import Array

KT_MPS = 1852.0 / 3600.0
"""One knot, m/s."""
FT_M = 0.3048
"""One foot, m."""
COLUMNS = ("time", "icao24", "callsign", "lat", "lon", "altitude_ft", "velocity_kt",
           "heading_deg", "vertical_rate_fpm", "onground")  # fmt: skip


@dataclass(frozen=True)
class AdsbRecording:
    """K recorded ADS-B state vectors as columns, sorted by aircraft then time; NaN: none."""

    t: Array  # (K,) unix s, UTC
    icao: np.ndarray  # (K,) uint32 24-bit address
    callsign: np.ndarray  # (K,) <U8
    lat_deg: Array  # (K,)
    lon_deg: Array  # (K,)
    alt_m: Array  # (K,) barometric altitude, m
    gs_mps: Array  # (K,) ground speed, m/s
    track_deg: Array  # (K,) track over ground, deg from north
    vrate_mps: Array  # (K,) vertical rate, m/s
    onground: np.ndarray  # (K,) bool

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _num(text: str, path: str, line: int, col: str) -> float:
    """A float field (empty: NaN), or a ConfigError naming file, line and column."""
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            path, f"expected a number (got {text!r})", f"line {line}, {col}"
        ) from None


def read_adsb_csv(path: str | Path) -> AdsbRecording:
    """Read a recording; a bad header, address or number raises a ConfigError naming the
    file, the line and the column. Rows without a position are dropped."""
    name = str(path)
    try:
        f = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise ConfigError(name, f"cannot open ({e.strerror})") from None
    rows: list[tuple[float, ...]] = []
    calls: list[str] = []
    with f:
        try:
            _read_rows(csv.DictReader(f), name, rows, calls)
        except UnicodeDecodeError as e:
            raise ConfigError(name, f"not UTF-8 text (byte {e.start}: {e.reason})") from None
        except csv.Error as e:
            raise ConfigError(name, f"not CSV ({e})") from None
    a = np.array(rows, dtype=np.float64).reshape(-1, 9)
    order = np.lexsort((a[:, 0], a[:, 1]))
    a = a[order]
    return AdsbRecording(
        t=a[:, 0], icao=a[:, 1].astype(np.uint32),
        callsign=np.array(calls, dtype="<U8")[order] if calls else np.empty(0, "<U8"),
        lat_deg=a[:, 2], lon_deg=a[:, 3], alt_m=a[:, 4] * FT_M, gs_mps=a[:, 5] * KT_MPS,
        track_deg=a[:, 6], vrate_mps=a[:, 7] * FT_M / 60.0, onground=a[:, 8] == 1,
    )  # fmt: skip


def _read_rows(
    reader: csv.DictReader[str], name: str, rows: list[tuple[float, ...]], calls: list[str]
) -> None:
    """The rows of a recording into ``rows`` and ``calls``; ConfigError at the first bad one."""
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(name, f"missing columns {missing} (expected {list(COLUMNS)})")
    for line, r in enumerate(reader, start=2):
        short = [c for c in COLUMNS if r.get(c) is None]
        if short:
            raise ConfigError(name, f"row has too few fields (no {short[0]})", f"line {line}")
        try:
            icao = int(r["icao24"], 16)
        except ValueError:
            icao = -1
        if not 0 <= icao < 1 << 24:
            raise ConfigError(name, f"expected a 24-bit hex address (got {r['icao24']!r})",
                              f"line {line}, icao24")  # fmt: skip
        vals = [_num(r[c], name, line, c) for c in COLUMNS if c not in ("icao24", "callsign")]
        if math.isnan(vals[1]) or math.isnan(vals[2]):
            continue
        if not (-90 <= vals[1] <= 90 and -180 <= vals[2] <= 180):
            raise ConfigError(name, f"lat/lon out of range ({vals[1]}, {vals[2]})",
                              f"line {line}, lat")  # fmt: skip
        rows.append((vals[0], float(icao), *vals[1:]))
        calls.append((r["callsign"] or "").strip()[:8])


def csv2reports(rec: AdsbRecording, partner: str, t0_s: float, sigma_m: float = 30.0,
                sigma_alt_m: float = 15.0, sigma_vel_mps: float = 2.0) -> AdsbReports:  # fmt: skip
    """The recording as reports received by ``partner``, at scenario time ``t − t0_s``, in
    time order (rows without altitude are dropped; no truth: −1)."""
    ok = np.isfinite(rec.alt_m)
    order = np.flatnonzero(ok)[np.argsort(rec.t[ok], kind="stable")]
    lat, lon, alt = rec.lat_deg[order], rec.lon_deg[order], rec.alt_m[order]
    gs = np.nan_to_num(rec.gs_mps[order])
    trk = np.radians(np.nan_to_num(rec.track_deg[order]))
    enu_v = np.column_stack([gs * np.sin(trk), gs * np.cos(trk),
                             np.nan_to_num(rec.vrate_mps[order])])  # fmt: skip
    vel = np.einsum("kji,kj->ki", geo.enu_rotations(lat, lon), enu_v)
    k = order.size
    return AdsbReports(
        (partner,), rec.t[order] - t0_s, np.zeros(k, np.int16), rec.icao[order],
        rec.callsign[order], geo.geodetic2ecef(lat, lon, alt).reshape(k, 3), vel,
        np.full(k, sigma_m), np.full(k, sigma_alt_m), np.full(k, sigma_vel_mps),
        np.full(k, -1, np.int64),
    )  # fmt: skip


@dataclass(frozen=True)
class Flag:
    """An interval of one aircraft's reports judged implausible, and why."""

    icao: str  # hex address
    callsign: str
    t0: float  # unix s, first report of the interval
    t1: float  # unix s, last report of the interval
    reason: str


def screen(rec: AdsbRecording, max_speed_mps: float = 400.0, tol_m: float = 500.0,
           drift: DriftLimits | None = None) -> list[Flag]:  # fmt: skip
    """Intervals of implausible reports, per aircraft: :func:`jumps` no aircraft can fly and
    :func:`drifts` of the position away from the reported velocity, by aircraft then time."""
    flags = jumps(rec, max_speed_mps, tol_m) + drifts(rec, drift or DriftLimits())
    return sorted(flags, key=lambda f: (f.icao, f.t0, f.t1))


def jumps(rec: AdsbRecording, max_speed_mps: float = 400.0, tol_m: float = 500.0) -> list[Flag]:
    """Intervals of reports no aircraft can have flown, per aircraft.

    Between consecutive reports of one aircraft (dt s apart, d m apart on the great circle)
    the segment is flagged as a *jump* when d > max_speed_mps·dt + tol_m (``tol_m`` covers
    position error and quantisation). Flagged segments that touch merge into one interval.
    """
    same = rec.icao[1:] == rec.icao[:-1]
    dt = np.diff(rec.t)
    d = geo.great_circle_distance_m(rec.lat_deg[:-1], rec.lon_deg[:-1],
                                    rec.lat_deg[1:], rec.lon_deg[1:])  # fmt: skip
    idx = np.flatnonzero(same & (d > max_speed_mps * dt + tol_m))
    reason = f"position jump faster than {max_speed_mps:.0f} m/s"
    flags: list[Flag] = []
    start = 0
    while start < idx.size:
        end = start
        while end + 1 < idx.size and idx[end + 1] == idx[end] + 1:
            end += 1
        i0, i1 = idx[start], idx[end] + 1
        flags.append(Flag(f"{int(rec.icao[i0]):06x}", str(rec.callsign[i0]),
                          float(rec.t[i0]), float(rec.t[i1]), reason))  # fmt: skip
        start = end + 1
    return flags


def _checked(rec: AdsbRecording, lim: DriftLimits) -> np.ndarray:
    """(K,) bool: the reports the drift check reads — airborne at ``min_speed_mps`` or more
    (and so was the aircraft's previous report), with a velocity, a position other than the
    previous report's (a repeated position is a state held by the receiver, not a new fix),
    a velocity other than the two previous
    reports' while climbing or descending (a receiver holds the last velocity when velocity
    messages stop; in level cruise the same ground speed and track are common), and not a
    fill: a report within ``fill_tol_deg`` of the straight line through its two neighbours
    at equal steps is a gap filled by interpolation (as in the 2019 El Al recording), while
    a measured position jitters by more (the airborne CPR encoding's resolution is ~5 m)."""
    same = np.concatenate([[False], rec.icao[1:] == rec.icao[:-1]])
    moved = ~(same & (rec.lat_deg == np.roll(rec.lat_deg, 1))
              & (rec.lon_deg == np.roll(rec.lon_deg, 1)))  # fmt: skip
    vel = np.column_stack([rec.gs_mps, rec.track_deg, rec.vrate_mps])
    rep = same & np.all(vel == np.roll(vel, 1, axis=0), axis=1)
    held = rep & np.roll(rep, 1) & (rec.vrate_mps != 0.0)
    held[0] = False
    same2 = same & np.roll(same, -1)
    same2[-1] = False
    lat_dd = np.roll(rec.lat_deg, -1) - 2.0 * rec.lat_deg + np.roll(rec.lat_deg, 1)
    lon_dd = np.roll(rec.lon_deg, -1) - 2.0 * rec.lon_deg + np.roll(rec.lon_deg, 1)
    filled = same2 & (np.abs(lat_dd) <= lim.fill_tol_deg) & (np.abs(lon_dd) <= lim.fill_tol_deg)
    fine = np.isfinite(rec.gs_mps) & np.isfinite(rec.track_deg) & np.isfinite(rec.alt_m)
    air = fine & ~rec.onground & (np.nan_to_num(rec.gs_mps) >= lim.min_speed_mps)
    air &= same & np.roll(air, 1)  # a lone airborne report among ground ones is a flicker
    return air & moved & ~held & ~filled


def drifts(rec: AdsbRecording, lim: DriftLimits | None = None) -> list[Flag]:
    """Intervals where an aircraft's positions drift away from the motion its own reported
    velocity describes, beyond the error terms of ``lim`` (:mod:`mead.sensors.adsb_drift`).

    Each checked report ends a window of ``lim.window_s`` (over a stretch of one aircraft
    without gaps over ``lim.max_gap_s``); windows that flag and overlap merge into one
    interval, reported with the largest drift seen in it.
    """
    lim = lim or DriftLimits()
    k = np.flatnonzero(_checked(rec, lim))
    if k.size < 2:
        return []
    t, lat, lon = rec.t[k], rec.lat_deg[k], rec.lon_deg[k]
    gap = (rec.icao[k][1:] != rec.icao[k][:-1]) | (np.diff(t) > lim.max_gap_s)
    stretch = np.concatenate([[0], np.cumsum(gap)])
    rot = geo.enu_rotations(lat, lon)  # (K, 3, 3), rows E, N, U in ECEF
    trk = np.radians(rec.track_deg[k])
    enu = np.column_stack([rec.gs_mps[k] * np.sin(trk), rec.gs_mps[k] * np.cos(trk),
                           np.zeros(k.size)])  # fmt: skip
    v = np.einsum("kji,kj->ki", rot, enu)
    p = geo.geodetic2ecef(lat, lon, rec.alt_m[k]).reshape(-1, 3)
    j, drift_m, excess_m = drift_windows(t, stretch, p, v, rot[:, 2, :], lim)
    return _merge_windows(rec, k, j, drift_m, np.flatnonzero(excess_m > 0))


def _merge_windows(
    rec: AdsbRecording, k: np.ndarray, j: np.ndarray, drift_m: Array, hit: np.ndarray
) -> list[Flag]:
    """Flagged windows (report j[i] to report i, of the checked reports k) merged into one
    Flag per run of overlapping windows of one aircraft."""
    flags: list[Flag] = []
    n = 0
    while n < hit.size:
        i = hit[n]
        t0, t1, worst, span = rec.t[k[j[i]]], rec.t[k[i]], drift_m[i], rec.t[k[i]] - rec.t[k[j[i]]]
        icao = rec.icao[k[i]]
        n += 1
        while n < hit.size and rec.icao[k[hit[n]]] == icao and rec.t[k[j[hit[n]]]] <= t1:
            i = hit[n]
            t1 = rec.t[k[i]]
            if drift_m[i] > worst:
                worst, span = drift_m[i], rec.t[k[i]] - rec.t[k[j[i]]]
            n += 1
        reason = (
            f"position drifts {worst / 1000:.1f} km from the reported velocity over {span:.0f} s"
        )
        flags.append(Flag(f"{int(icao):06x}", str(rec.callsign[k[j[i]]]), float(t0), float(t1),
                          reason))  # fmt: skip
    return flags
