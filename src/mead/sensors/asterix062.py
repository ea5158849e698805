"""ASTERIX in: CAT062 system tracks (a partner's own tracker's output) as columns, fast.

An FSPEC-driven walker (:func:`walk`) finds where each item of a record starts, given the
edition's UAP as a table of item sizes; :func:`decode062` then reads the items MEAD uses
(I010, I040, I060, I070, I080 TSE, I105, I130, I136, I180/I185, I220 rate of climb,
I380 address and identification, I390 callsign and, in 1.18, I500 estimated accuracies)
and skips the rest by size; :func:`accuracies2enu` turns the I500 columns into 1-σ errors
and covariance in the track's local east/north/up frame. Two editions are tabled:

- ``"1.18"`` (1.x: what current trackers send) — checked record by record against
  ``libasterix``'s ``Cat_062_1_18`` on the shared recordings, on MEAD's own CAT062 output
  and on mutated blocks (tests);
- ``"0.17"`` (2008-era trackers; I105 in 24-bit halves at 180/2²³ deg, velocity as
  I180 polar speed and heading) — ``libasterix`` has no such edition, so it is checked
  against the reference decodes of ``cat062_ed0.17_100pkts.pcap``.

A truncated or malformed record ends its block: an :class:`~mead.errors.AsterixError`
naming the block's offset is appended to ``errors``; records before it are kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mead import geo
from mead.errors import AsterixError
from mead.sensors.asterix import FT_M, Block

Edition = Literal["1.18", "0.17"]
"""The CAT062 editions MEAD reads."""

KT_MPS = 1852.0 / 3600.0
"""One knot, m/s."""
FPM_MPS = 0.3048 / 60.0
"""One foot per minute, m/s."""

# Item size kinds: an int is a fixed length; "x" a variable item of 1-byte extents, "x3" of
# 3-byte extents; ("r", n) repetitive of n-byte elements; "e" explicit length; a tuple of
# kinds a compound item (subfields in order); None an FRN not in the UAP.
Kind = int | str | tuple[object, ...] | None

_I380_118: tuple[Kind, ...] = (3, 6, 2, 2, 2, 2, 2, 1, ("r", 15), 2, 7, 2, 2, 2, 2, 2, 2,
                               1, 8, 1, 6, 2, 1, ("r", 8), 2, 2, 2)  # fmt: skip
_I390_118: tuple[Kind, ...] = (2, 7, 4, 1, 4, 1, 4, 4, 3, 2, 2, ("r", 4), 6, 1, 7, 7, 2, 7)
# I062/500 subfields: APC, COV, APW, AGA, ABA, ATV, AA, ARC
_I500_118: tuple[Kind, ...] = (4, 2, 4, 1, 1, 2, 2, 1)
UAP_118: tuple[Kind, ...] = (
    2, None, 1, 3, 8, 6, 4,
    2, 2, 7, _I380_118, 2, "x", (1, 1, 1, 1, 2, 1, 1, 1, 1, 1),
    1, (1,) * 31, 2, 2, 2, 2, _I390_118,
    "x", 1, (1, 4, 6, 2, 2, 1, 1), 2, "x3", _I500_118, (2, 4, 2, 2, 2, 1),
    None, None, None, None, None, "e", "e",
)  # fmt: skip
"""CAT062 edition 1.18 UAP: item kind by FRN − 1."""

_I390_017: tuple[Kind, ...] = (2, 7, 4, 1, 4, 1, 4, 4, 3, 2, 2, ("r", 4), 6, 1)
UAP_017: tuple[Kind, ...] = (
    2, 1, 3, 2, 6, 4, 2,
    2, 2, 2, 4, 1, 2, 1,
    2, "x", (1, 1, 1, 1, 1, 2, 1, 1, 1), (2, 4, 2, 2, 2, 1), (("r", 8), 3, 6, 2, 7), None,
    _I390_017,
    1, 2, "x3", None, None, "e", "e",
)  # fmt: skip
"""CAT062 edition 0.17 UAP: item kind by FRN − 1 (FRN 20, I062/050, is not read)."""

UAPS: dict[str, tuple[Kind, ...]] = {"1.18": UAP_118, "0.17": UAP_017}

# FRN of each item MEAD reads, per edition
_FRN = {
    "1.18": {"010": 1, "070": 4, "105": 5, "185": 7, "060": 9, "380": 11, "040": 12,
             "080": 13, "136": 17, "130": 18, "220": 20, "390": 21, "500": 27},
    "0.17": {"010": 1, "070": 3, "040": 4, "105": 5, "060": 7, "130": 8, "136": 10,
             "180": 11, "220": 13, "080": 16, "380": 19, "390": 21},
}  # fmt: skip
# where the address and identification sit among I380's subfields (0-based)
_I380_ADR_ID = {"1.18": (0, 1), "0.17": (1, 2)}

_ICAO6 = {k: chr(64 + k) for k in range(1, 27)} | {32: " "} | {48 + k: str(k) for k in range(10)}
"""The 6-bit ICAO character set of aircraft identification (I062/380 ID): A–Z at 1–26,
space at 32, digits at 48–57; unassigned codes give no character (as libasterix reads)."""


@dataclass
class Tracks062:
    """CAT062 system track records as columns (R records); −1 / NaN / "" where absent."""

    sac: list[int] = field(default_factory=list)
    sic: list[int] = field(default_factory=list)
    tod_s: list[float] = field(default_factory=list)  # time of track, UTC s of day
    track: list[int] = field(default_factory=list)  # I040 track number
    lat_deg: list[float] = field(default_factory=list)  # I105 WGS84
    lon_deg: list[float] = field(default_factory=list)
    alt_ft: list[float] = field(default_factory=list)  # I130 geometric altitude, ft
    fl: list[float] = field(default_factory=list)  # I136 measured flight level (100 ft)
    vx_mps: list[float] = field(default_factory=list)  # east velocity, m/s (I185 or I180)
    vy_mps: list[float] = field(default_factory=list)  # north velocity, m/s
    vz_mps: list[float] = field(default_factory=list)  # I220 rate of climb, m/s
    mode3a: list[int] = field(default_factory=list)  # int of its octal digits
    address: list[int] = field(default_factory=list)  # 24-bit Mode S address (I380 ADR)
    callsign: list[str] = field(default_factory=list)  # I380 ID, else I390 CSN
    ended: list[bool] = field(default_factory=list)  # I080 TSE: the track's last message
    # I500 estimated accuracies (1-σ; edition 1.18), in the item's units:
    sigma_x_m: list[float] = field(default_factory=list)  # APC x (east), m
    sigma_y_m: list[float] = field(default_factory=list)  # APC y (north), m
    cov_xy_m2: list[float] = field(default_factory=list)  # COV² with its sign: Cov(x, y), m²
    sigma_lat_deg: list[float] = field(default_factory=list)  # APW latitude, deg
    sigma_lon_deg: list[float] = field(default_factory=list)  # APW longitude, deg
    sigma_alt_ft: list[float] = field(default_factory=list)  # AGA geometric altitude, ft
    sigma_fl: list[float] = field(default_factory=list)  # ABA barometric altitude, FL
    sigma_vx_mps: list[float] = field(default_factory=list)  # ATV x (east), m/s
    sigma_vy_mps: list[float] = field(default_factory=list)  # ATV y (north), m/s
    sigma_roc_fpm: list[float] = field(default_factory=list)  # ARC rate of climb, ft/min
    errors: list[AsterixError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sac)


def _skip(d: bytes, p: int, kind: Kind) -> int:
    """Past one item (or compound subfield) of ``kind`` starting at ``p``."""
    if isinstance(kind, int):
        return p + kind
    if kind == "x" or kind == "x3":
        step = 1 if kind == "x" else 3
        while d[p + step - 1] & 1:
            p += step
        return p + step
    if kind == "e":
        if d[p] < 1:
            raise IndexError("explicit item of length 0")
        return p + d[p]
    if isinstance(kind, tuple) and kind[:1] == ("r",):
        return p + 1 + int(kind[1]) * d[p]  # type: ignore[call-overload]
    if isinstance(kind, tuple):
        return _subfields(d, p, kind)[-1]
    raise IndexError("item not in the UAP")


_BITS = tuple(tuple(k for k in range(7) if (b >> (7 - k)) & 1) for b in range(256))
"""For each FSPEC (or compound primary) byte: the positions 0..6 of its set bits, FX aside."""


def _present(d: bytes, p: int, first: int) -> tuple[list[int], int]:
    """The numbers (from ``first``) of the items an FSPEC-like field at ``p`` marks present
    (extended while the FX bit is set), and the byte after it."""
    on: list[int] = []
    while True:
        b = d[p]
        p += 1
        on.extend([first + k for k in _BITS[b]])
        first += 7
        if not b & 1:
            return on, p


def _subfields(d: bytes, p: int, kinds: tuple[object, ...]) -> list[int]:
    """Start of each subfield of a compound item at ``p`` (−1: absent), then its end."""
    present, p = _present(d, p, 0)
    starts = [-1] * len(kinds)
    for i in present:
        if i >= len(kinds):
            raise IndexError("compound subfield not in the edition")
        starts[i] = p
        k = kinds[i]
        p = p + k if type(k) is int else _skip(d, p, k)  # type: ignore[arg-type]
    return [*starts, p]


def walk(
    d: bytes, p: int, uap: tuple[Kind, ...], subs: dict[int, list[int]] | None = None
) -> tuple[dict[int, int], int]:
    """The items of the record at ``p``: {FRN: start byte}, and the byte after the record;
    the subfield starts of its compound items go into ``subs`` ({FRN: :func:`_subfields`}).

    Raises IndexError on a record that runs past ``d`` or names an FRN not in ``uap``."""
    frns, p = _present(d, p, 1)
    starts: dict[int, int] = {}
    for f in frns:
        kind = uap[f - 1] if f <= len(uap) else None
        if kind is None:
            raise IndexError(f"FRN {f} not in the UAP")
        starts[f] = p
        if type(kind) is int:
            p += kind
        elif type(kind) is tuple and kind[0] != "r":  # compound
            sub = _subfields(d, p, kind)
            p = sub[-1]
            if subs is not None:
                subs[f] = sub
        else:
            p = _skip(d, p, kind)
    if p > len(d):
        raise IndexError(f"record needs {p} bytes, block has {len(d)}")
    return starts, p


def _int(d: bytes, p: int, n: int, signed: bool = False) -> int:
    return int.from_bytes(d[p : p + n], "big", signed=signed)


def _icao6(raw: bytes) -> str:
    """Eight 6-bit ICAO characters from 6 bytes."""
    v = int.from_bytes(raw, "big")
    return "".join(_ICAO6.get((v >> (42 - 6 * k)) & 0x3F, "") for k in range(8)).rstrip()


def _record(d: bytes, p: int, edition: str, out: Tracks062) -> int:
    """Decode one record at ``p`` into ``out``; return the position after it."""
    subs: dict[int, list[int]] = {}
    at, end = walk(d, p, UAPS[edition], subs)
    frn = _FRN[edition]
    got = {k: at[f] for k, f in frn.items() if f in at}
    sac = sic = track = mode3a = address = -1
    tod = lat = lon = alt = fl = vx = vy = vz = math.nan
    callsign, ended = "", False
    acc = _NO_ACCURACY
    if (q := got.get("010")) is not None:
        sac, sic = d[q], d[q + 1]
    if (q := got.get("070")) is not None:
        tod = _int(d, q, 3) / 128.0
    if (q := got.get("040")) is not None:
        track = _int(d, q, 2) & (0xFFFF if edition == "1.18" else 0x7FFF)
    if (q := got.get("105")) is not None:
        n, lsb = (4, 180.0 / 2**25) if edition == "1.18" else (3, 180.0 / 2**23)
        lat, lon = _int(d, q, n, True) * lsb, _int(d, q + n, n, True) * lsb
    if (q := got.get("060")) is not None:
        mode3a = int(f"{_int(d, q, 2) & 0x0FFF:o}")
    if (q := got.get("130")) is not None:
        alt = _int(d, q, 2, True) * 6.25
    if (q := got.get("136")) is not None:
        fl = _int(d, q, 2, True) * 0.25
    if (q := got.get("185")) is not None:
        vx, vy = _int(d, q, 2, True) * 0.25, _int(d, q + 2, 2, True) * 0.25
    if (q := got.get("180")) is not None:
        speed, hdg = _int(d, q, 2) * 0.22 * KT_MPS, math.radians(_int(d, q + 2, 2) * 0.0055)
        vx, vy = speed * math.sin(hdg), speed * math.cos(hdg)
    if (q := got.get("220")) is not None:
        vz = _int(d, q, 2, True) * 6.25 * FPM_MPS
    if (q := got.get("080")) is not None and d[q] & 1:
        ended = bool(d[q + 1] & 0x40)
    if "380" in got:
        sub = subs[frn["380"]]
        i_adr, i_id = _I380_ADR_ID[edition]
        if sub[i_adr] >= 0:
            address = _int(d, sub[i_adr], 3)
        if sub[i_id] >= 0:
            callsign = _icao6(d[sub[i_id] : sub[i_id] + 6])
    if not callsign and "390" in got:
        sub = subs[frn["390"]]
        if sub[1] >= 0:
            callsign = d[sub[1] : sub[1] + 7].decode("ascii", "replace").rstrip()
    if "500" in got:
        acc = _accuracies(d, subs[frn["500"]])
    for col, v in zip(
        (out.sac, out.sic, out.tod_s, out.track, out.lat_deg, out.lon_deg, out.alt_ft, out.fl,
         out.vx_mps, out.vy_mps, out.vz_mps, out.mode3a, out.address, out.callsign, out.ended,
         out.sigma_x_m, out.sigma_y_m, out.cov_xy_m2, out.sigma_lat_deg, out.sigma_lon_deg,
         out.sigma_alt_ft, out.sigma_fl, out.sigma_vx_mps, out.sigma_vy_mps,
         out.sigma_roc_fpm),
        (sac, sic, tod, track, lat, lon, alt, fl, vx, vy, vz, mode3a, address, callsign, ended,
         *acc),
        strict=True,
    ):  # fmt: skip
        col.append(v)  # type: ignore[attr-defined]
    return end


_NO_ACCURACY: tuple[float, ...] = (math.nan,) * 10
LSB_APW_DEG = 180.0 / 2**25
"""I062/500 APW (and I062/105) least significant bit, deg."""


def _accuracies(d: bytes, sub: list[int]) -> tuple[float, ...]:
    """The I062/500 (edition 1.18) subfields MEAD reads (``sub``: their starts, −1 where
    absent), in :class:`Tracks062`'s order and units; NaN where a subfield is absent. COV
    carries sign(Cov)·√|Cov| at 0.5 m: it is squared back with its sign."""
    apc, cov, apw, aga, aba, atv, _, arc, _end = sub
    nan = math.nan
    sx = sy = cxy = slat = slon = salt = sfl = svx = svy = sroc = nan
    if apc >= 0:
        sx, sy = _int(d, apc, 2) * 0.5, _int(d, apc + 2, 2) * 0.5
    if cov >= 0:
        c = _int(d, cov, 2, True) * 0.5
        cxy = math.copysign(c * c, c)
    if apw >= 0:
        slat, slon = _int(d, apw, 2) * LSB_APW_DEG, _int(d, apw + 2, 2) * LSB_APW_DEG
    if aga >= 0:
        salt = d[aga] * 6.25
    if aba >= 0:
        sfl = d[aba] * 0.25
    if atv >= 0:
        svx, svy = d[atv] * 0.25, d[atv + 1] * 0.25
    if arc >= 0:
        sroc = d[arc] * 6.25
    return sx, sy, cxy, slat, slon, salt, sfl, svx, svy, sroc


# the smallest 1-σ each I500 subfield can stand for: half its LSB (a smaller one is sent as 0)
_FLOOR_M, _FLOOR_ALT_M, _FLOOR_FL_M = 0.25, 3.125 * FT_M, 12.5 * FT_M
_FLOOR_V_MPS, _FLOOR_ROC_MPS = 0.125, 3.125 * FPM_MPS
MAX_CORRELATION = 0.999
"""Largest |Cov(x, y)| / (σx σy) taken from I500: COV and APC are rounded apart, and a
covariance must stay positive definite."""


def accuracies2enu(tracks: Tracks062) -> np.ndarray:
    """The I062/500 estimated accuracies of R records as 1-σ errors in the track's local
    east/north/up frame: (R, 8) [σe m, σn m, Cov(e, n) m², σ geometric altitude m,
    σ barometric altitude m, σve, σvn, σvu m/s]; NaN where the record does not give it.

    I500's Cartesian x/y (APC, COV, ATV) are taken as east/north at the track (the SDPS
    plane's axes, as I062/185's velocity is read). Without APC, APW (σ of latitude and
    longitude) gives σn = σlat·R and σe = σlon·R·cos(lat) on a sphere of the mean radius R.
    Each σ is at least half its subfield's LSB (a smaller σ is sent as 0), and |Cov(e, n)|
    at most :data:`MAX_CORRELATION`·σe·σn (COV and APC are rounded apart). COV without a
    position σ is not used.
    """
    col = lambda c: np.asarray(c, dtype=np.float64)  # noqa: E731
    rad_m = np.radians(1.0) * geo.R_MEAN_M  # m per degree of a great circle
    coslat = np.cos(np.radians(col(tracks.lat_deg)))
    sx, sy = col(tracks.sigma_x_m), col(tracks.sigma_y_m)
    apw = ~np.isfinite(sx)
    sx = np.where(apw, col(tracks.sigma_lon_deg) * rad_m * coslat, sx)
    sy = np.where(apw, col(tracks.sigma_lat_deg) * rad_m, sy)
    sx, sy = np.maximum(sx, _FLOOR_M), np.maximum(sy, _FLOOR_M)  # NaN stays NaN
    lim = MAX_CORRELATION * sx * sy
    cxy = np.clip(col(tracks.cov_xy_m2), -lim, lim)
    out = np.column_stack([
        sx, sy, cxy,
        np.maximum(col(tracks.sigma_alt_ft) * FT_M, _FLOOR_ALT_M),
        np.maximum(col(tracks.sigma_fl) * 100.0 * FT_M, _FLOOR_FL_M),
        np.maximum(col(tracks.sigma_vx_mps), _FLOOR_V_MPS),
        np.maximum(col(tracks.sigma_vy_mps), _FLOOR_V_MPS),
        np.maximum(col(tracks.sigma_roc_fpm) * FPM_MPS, _FLOOR_ROC_MPS),
    ])  # fmt: skip
    return out.reshape(len(tracks), 8)


def decode062(
    data: bytes, offset: int = 0, out: Tracks062 | None = None, edition: Edition = "1.18"
) -> Tracks062:
    """Decode every CAT062 record of one block's ``data`` (without its header) into ``out``.

    A truncated or malformed record ends the block: an :class:`AsterixError` naming
    ``offset`` (the block's) and the record's byte position is appended to ``out.errors``.
    """
    out = Tracks062() if out is None else out
    if edition not in UAPS:
        raise ValueError(f"CAT062 edition must be one of {sorted(UAPS)} (got {edition!r})")
    p, n = 0, len(data)
    while p < n:
        start = p
        try:
            p = _record(data, p, edition, out)  # appends only once the record is read
        except (IndexError, ValueError) as err:
            detail = f"record at byte {start + 3} is truncated or malformed ({err})"
            out.errors.append(AsterixError(offset, detail, 62))
            return out
    return out


def decode062_blocks(
    blocks: Iterable[Block | AsterixError], edition: Edition = "1.18"
) -> Tracks062:
    """Every CAT062 record of ``blocks`` (other categories skipped, framing errors kept)."""
    out = Tracks062()
    for b in blocks:
        if isinstance(b, AsterixError):
            out.errors.append(b)
        elif b.category == 62:
            decode062(b.data, b.offset, out, edition)
    return out
