"""ASTERIX in: a real radar's CAT048 plots (and CAT034/062/021 items) as MEAD sensor input.

Bytes come from a raw ``.ast`` stream, a pcap capture (UDP payloads sliced by the UDP
length) or a UDP socket; :func:`iter_blocks` cuts them into data blocks. CAT048 records
take a fast path (:func:`decode048`, FSPEC-driven, reading only the items MEAD uses);
:func:`decode_library` decodes any record with ``libasterix`` (MIT), which is the reference
the fast path is checked against. :func:`plots2scans` turns plots into the tracker's
:class:`~mead.sensors.base.Scan`.

A corrupt or truncated block is reported as an :class:`~mead.errors.AsterixError` that
names its byte offset, and skipped; the rest of the stream goes on.
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mead.errors import AsterixError
from mead.sensors.base import Scan
from mead.types import Array

NM_M = 1852.0
"""One nautical mile, m."""
FT_M = 0.3048
"""One foot, m."""
EARTH_R_M = 6371000.0 * 4.0 / 3.0
"""Effective earth radius on a 4/3 earth, m (radar elevation from flight level)."""

# Sizes of CAT048 items by FRN (1-based, editions 1.27-1.32): an int is a fixed length,
# "x" a variable (FX-extended) item, "r8" repetitive of 8-byte elements, "c130"/"c120"
# compound items, "e" explicit length.
_UAP048: tuple[int | str, ...] = (
    2, 3, "x", 4, 2, 2, "c130",
    3, 6, "r8", 2, 4, 4, "x",
    4, "x", 2, 4, 2, "c120", 2,
    7, 1, 2, 1, 2, "e", "e",
)  # fmt: skip


@dataclass(frozen=True)
class Block:
    """One ASTERIX data block: its category, its records' bytes and where it started."""

    offset: int  # byte offset of the block in its stream (or packet)
    category: int
    data: bytes  # the records (the block without its 3-byte header)
    packet: int = -1  # pcap packet index, −1 for a raw stream


def iter_blocks(buf: bytes, packet: int = -1) -> Iterator[Block | AsterixError]:
    """Cut ``buf`` into data blocks (CAT 1 byte, LEN 2 bytes big-endian, then records).

    A block whose LEN is under 3 or runs past the end of ``buf`` yields an
    :class:`AsterixError` with its offset; nothing after it can be framed, so it ends the
    buffer (a pcap packet or a UDP datagram: the next one starts afresh).
    """
    pos, n = 0, len(buf)
    while pos < n:
        if n - pos < 3:
            yield AsterixError(pos, f"truncated block header ({n - pos} of 3 bytes)")
            return
        cat, length = buf[pos], (buf[pos + 1] << 8) | buf[pos + 2]
        if length < 3 or pos + length > n:
            yield AsterixError(
                pos, f"block length {length} does not fit (3..{n - pos} bytes left)", cat
            )
            return
        yield Block(pos, cat, buf[pos + 3 : pos + length], packet)
        pos += length


PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
"""The first four bytes of a pcap file (µs or ns time stamps, either byte order)."""


def pcap_payloads(buf: bytes) -> Iterator[tuple[int, float, bytes] | AsterixError]:
    """UDP payloads of a pcap capture as ``(packet index, time s, payload)``.

    Ethernet (with or without one 802.1Q tag), Linux cooked and raw-IP link types are
    read; each payload is sliced by the UDP length field (frames may carry trailer bytes
    past it). Non-UDP packets are skipped; a truncated packet yields an error.
    """
    if len(buf) < 24:
        yield AsterixError(0, f"pcap global header truncated ({len(buf)} of 24 bytes)")
        return
    magic = buf[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(magic)
    nano = {b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None and nano is None:
        yield AsterixError(0, f"not a pcap file (magic {magic.hex()})")
        return
    e = endian or nano or "<"
    frac = 1e-9 if nano else 1e-6
    link = struct.unpack_from(e + "I", buf, 20)[0]
    pos, index = 24, 0
    while pos < len(buf):
        if len(buf) - pos < 16:
            yield AsterixError(pos, "pcap packet header truncated")
            return
        sec, sub, incl, _ = struct.unpack_from(e + "IIII", buf, pos)
        frame = buf[pos + 16 : pos + 16 + incl]
        if len(frame) < incl:
            yield AsterixError(pos, f"pcap packet {index} truncated ({len(frame)} of {incl})")
            return
        payload = _udp_payload(frame, link)
        if payload is not None:
            yield index, sec + sub * frac, payload
        pos += 16 + incl
        index += 1


def _udp_payload(frame: bytes, link: int) -> bytes | None:
    """The UDP payload of one captured frame, or None if it is not IPv4/UDP."""
    if link == 1:  # Ethernet
        ip, ethertype = 14, frame[12:14]
        if ethertype == b"\x81\x00":
            ip, ethertype = 18, frame[16:18]
        if ethertype != b"\x08\x00":
            return None
    elif link == 113:  # Linux cooked
        ip = 16
    elif link in (101, 228):  # raw IPv4
        ip = 0
    else:
        return None
    if len(frame) < ip + 20 or frame[ip] >> 4 != 4 or frame[ip + 9] != 17:
        return None
    udp = ip + (frame[ip] & 0x0F) * 4
    if len(frame) < udp + 8:
        return None
    ulen = (frame[udp + 4] << 8) | frame[udp + 5]
    return frame[udp + 8 : udp + max(ulen, 8)]


def read_blocks(path: str | Path) -> Iterator[Block | AsterixError]:
    """Every data block (or framing error) of a ``.pcap`` capture or a raw ASTERIX file."""
    buf = Path(path).read_bytes()
    if buf[:4] in PCAP_MAGICS:
        for item in pcap_payloads(buf):
            if isinstance(item, AsterixError):
                yield item
                return
            index, _, payload = item
            yield from iter_blocks(payload, index)
    else:
        yield from iter_blocks(buf)


def udp_blocks(
    sock: socket.socket, max_datagrams: int | None = None
) -> Iterator[Block | AsterixError]:
    """Data blocks from datagrams on a bound UDP socket (one datagram is one buffer);
    stops after ``max_datagrams`` datagrams or when the socket times out or closes."""
    count = 0
    while max_datagrams is None or count < max_datagrams:
        try:
            data = sock.recv(65535)
        except (TimeoutError, OSError):
            return
        yield from iter_blocks(data, count)
        count += 1


# ---------------------------------------------------------------------------- CAT048 fast


@dataclass
class Plots048:
    """CAT048 target reports as columns (R records); −1 / NaN where an item is absent."""

    sac: list[int] = field(default_factory=list)
    sic: list[int] = field(default_factory=list)
    tod_s: list[float] = field(default_factory=list)  # time of day, UTC s
    rho_nm: list[float] = field(default_factory=list)  # slant range, NM
    theta_deg: list[float] = field(default_factory=list)  # azimuth from north, deg
    mode3a: list[int] = field(default_factory=list)  # Mode 3/A code (int of its octal digits)
    address: list[int] = field(default_factory=list)  # 24-bit Mode S address
    fl: list[float] = field(default_factory=list)  # flight level (100 ft)
    track: list[int] = field(default_factory=list)  # radar track number
    errors: list[AsterixError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sac)


def _skip_x(data: bytes, p: int) -> int:
    """Past a variable (FX-extended) field starting at ``p``."""
    while data[p] & 1:
        p += 1
    return p + 1


def compound_bits(data: bytes, p: int) -> tuple[list[int], int]:
    """The presence bits of a compound item's subfields (its primary subfield at ``p``,
    extended while the FX bit is set), and the byte after them."""
    bits: list[int] = []
    while True:
        b = data[p]
        p += 1
        bits.extend((b >> s) & 1 for s in range(7, 0, -1))
        if not b & 1:
            return bits, p


def _skip_compound(data: bytes, p: int, sizes: tuple[int, ...]) -> int:
    """Past a compound item whose subfields have the given sizes (0: repetitive of 6)."""
    bits, p = compound_bits(data, p)
    for i, on in enumerate(bits):
        if on:
            if i >= len(sizes):
                raise IndexError("unknown compound subfield")
            p += sizes[i] if sizes[i] else 1 + 6 * data[p]
    return p


_SIZES_130 = (1, 1, 1, 1, 1, 1, 1)
_SIZES_120 = (2, 0)


def decode048(data: bytes, offset: int = 0, out: Plots048 | None = None) -> Plots048:
    """Decode every CAT048 record of one block's ``data`` into ``out`` (fast path).

    Reads I010, I140, I040, I070, I090, I220 and I161; skips the other items by their
    size. A truncated or malformed record ends the block: an :class:`AsterixError` naming
    ``offset`` (the block's) and the record's byte position is appended to ``out.errors``.
    """
    out = Plots048() if out is None else out
    p, n = 0, len(data)
    while p < n:
        start = p
        try:
            p = _record048(data, p, out)  # appends only once the whole record is read
        except (IndexError, struct.error) as err:
            detail = f"record at byte {start + 3} is truncated or malformed ({err})"
            out.errors.append(AsterixError(offset, detail, 48))
            return out
    return out


def _record048(d: bytes, p: int, out: Plots048) -> int:
    """Decode one record at ``p``; return the position after it."""
    frns: list[int] = []
    frn = 1
    while True:
        b = d[p]
        p += 1
        for s in range(7, 0, -1):
            if (b >> s) & 1:
                frns.append(frn)
            frn += 1
        if not b & 1:
            break
    sac = sic = mode3a = address = track = -1
    tod = rho = theta = fl = math.nan
    for f in frns:
        if f > 28:
            raise IndexError(f"FRN {f} beyond the UAP")
        if f == 1:
            sac, sic = d[p], d[p + 1]
            p += 2
        elif f == 2:
            tod = ((d[p] << 16) | (d[p + 1] << 8) | d[p + 2]) / 128.0
            p += 3
        elif f == 4:
            r, t = struct.unpack_from(">HH", d, p)
            rho, theta = r / 256.0, t * (360.0 / 65536.0)
            p += 4
        elif f == 5:
            code = ((d[p] << 8) | d[p + 1]) & 0x0FFF
            mode3a = int(f"{code:o}")
            p += 2
        elif f == 6:
            v = ((d[p] << 8) | d[p + 1]) & 0x3FFF
            fl = (v - 0x4000 if v & 0x2000 else v) / 4.0
            p += 2
        elif f == 8:
            address = (d[p] << 16) | (d[p + 1] << 8) | d[p + 2]
            p += 3
        elif f == 11:
            track = ((d[p] << 8) | d[p + 1]) & 0x0FFF
            p += 2
        else:
            p = _skip048(d, p, _UAP048[f - 1])
    if p > len(d):
        raise IndexError(f"record needs {p} bytes, block has {len(d)}")
    out.sac.append(sac)
    out.sic.append(sic)
    out.tod_s.append(tod)
    out.rho_nm.append(rho)
    out.theta_deg.append(theta)
    out.mode3a.append(mode3a)
    out.address.append(address)
    out.fl.append(fl)
    out.track.append(track)
    return p


def _skip048(d: bytes, p: int, kind: int | str) -> int:
    """Past one item of the given kind (see ``_UAP048``)."""
    if isinstance(kind, int):
        return p + kind
    if kind == "x":
        return _skip_x(d, p)
    if kind == "r8":
        return p + 1 + 8 * d[p]
    if kind == "e":
        if d[p] < 1:
            raise IndexError("explicit item of length 0")
        return p + d[p]
    return _skip_compound(d, p, _SIZES_130 if kind == "c130" else _SIZES_120)


def decode048_blocks(blocks: Iterable[Block | AsterixError]) -> Plots048:
    """Every CAT048 record of ``blocks`` (other categories skipped, framing errors kept)."""
    out = Plots048()
    for b in blocks:
        if isinstance(b, AsterixError):
            out.errors.append(b)
        elif b.category == 48:
            decode048(b.data, b.offset, out)
    return out


# ------------------------------------------------------------------------- libasterix


EDITIONS = {48: "Cat_048_1_32", 34: "Cat_034_1_29", 62: "Cat_062_1_18", 21: "Cat_021_2_6"}
"""The libasterix edition MEAD reads each category with."""

# Item values MEAD reads per category: name -> (item, subitem path, kind), kind one of
# "q" (quantity in the spec's unit), "u" (unsigned), "s" (string), "o" (octal string).
FIELDS: dict[int, dict[str, tuple[str, tuple[str, ...], str]]] = {
    48: {
        "sac": ("010", ("SAC",), "u"), "sic": ("010", ("SIC",), "u"),
        "tod_s": ("140", (), "q"), "rho_nm": ("040", ("RHO",), "q"),
        "theta_deg": ("040", ("THETA",), "q"), "mode3a": ("070", ("MODE3A",), "o"),
        "fl": ("090", ("FL",), "q"), "address": ("220", (), "u"),
        "callsign": ("240", (), "s"), "track": ("161", ("TRN",), "u"),
    },
    34: {
        "sac": ("010", ("SAC",), "u"), "sic": ("010", ("SIC",), "u"),
        "message_type": ("000", (), "u"), "tod_s": ("030", (), "q"),
        "sector_deg": ("020", (), "q"),
        # I034/050 system configuration and status (absent subfields: None)
        "nogo": ("050", ("COM", "NOGO"), "u"), "ovl_rdp": ("050", ("COM", "OVLRDP"), "u"),
        "ovl_xmt": ("050", ("COM", "OVLXMT"), "u"), "tsv": ("050", ("COM", "TSV"), "u"),
        "psr_chab": ("050", ("PSR", "CHAB"), "u"), "psr_ovl": ("050", ("PSR", "OVL"), "u"),
        "ssr_chab": ("050", ("SSR", "CHAB"), "u"), "ssr_ovl": ("050", ("SSR", "OVL"), "u"),
        "mds_chab": ("050", ("MDS", "CHAB"), "u"), "mds_ovl": ("050", ("MDS", "OVLSUR"), "u"),
    },
    62: {
        "sac": ("010", ("SAC",), "u"), "sic": ("010", ("SIC",), "u"),
        "tod_s": ("070", (), "q"), "lat_deg": ("105", ("LAT",), "q"),
        "lon_deg": ("105", ("LON",), "q"), "track": ("040", (), "u"),
        "mode3a": ("060", ("MODE3A",), "o"), "fl": ("136", (), "q"),
        "address": ("380", ("ADR",), "u"), "callsign": ("380", ("ID",), "s"),
        "vx_mps": ("185", ("VX",), "q"), "vy_mps": ("185", ("VY",), "q"),
        "alt_ft": ("130", (), "q"), "roc_fpm": ("220", (), "q"),
        "csn": ("390", ("CSN",), "s"),
        "apc_x_m": ("500", ("APC", "X"), "q"), "apc_y_m": ("500", ("APC", "Y"), "q"),
        "cov_m": ("500", ("COV",), "q"), "apw_lat_deg": ("500", ("APW", "LAT"), "q"),
        "apw_lon_deg": ("500", ("APW", "LON"), "q"), "aga_ft": ("500", ("AGA",), "q"),
        "aba_fl": ("500", ("ABA",), "q"), "atv_x_mps": ("500", ("ATV", "X"), "q"),
        "atv_y_mps": ("500", ("ATV", "Y"), "q"), "arc_fpm": ("500", ("ARC",), "q"),
    },
    21: {
        "sac": ("010", ("SAC",), "u"), "sic": ("010", ("SIC",), "u"),
        "address": ("080", (), "u"), "lat_deg": ("130", ("LAT",), "q"),
        "lon_deg": ("130", ("LON",), "q"), "lat_hr_deg": ("131", ("LAT",), "q"),
        "lon_hr_deg": ("131", ("LON",), "q"), "callsign": ("170", (), "s"),
        "fl": ("145", (), "q"), "track": ("161", ("TRNUM",), "u"),
        "tod_pos_s": ("071", (), "q"), "tod_rx_s": ("073", (), "q"),
        "gs_nmps": ("160", ("GS",), "q"), "ta_deg": ("160", ("TA",), "q"),
        "bvr_fpm": ("155", ("BVR",), "q"), "gvr_fpm": ("157", ("GVR",), "q"),
    },
}  # fmt: skip


@cache
def _generated() -> Any:
    """The libasterix generated module (a 4 MiB import, about 1 s): loaded once, lazily."""
    import asterix.generated as generated

    return generated


def library_records(block: Block) -> list[Any] | AsterixError:
    """The block's records parsed by libasterix in MEAD's edition, or an error."""
    from asterix.base import Bits

    name = EDITIONS.get(block.category)
    if name is None:
        return AsterixError(block.offset, "category not read by MEAD", block.category)
    spec = getattr(_generated(), name)
    recs = spec.cv_uap.parse(Bits.from_bytes(block.data))
    if isinstance(recs, ValueError):
        return AsterixError(block.offset, f"libasterix {name}: {recs}", block.category)
    return list(recs)


def _value(rec: Any, item: str, path: tuple[str, ...], kind: str) -> Any:
    """One item value of a libasterix record, None where absent."""
    node = rec.get_item(item)
    for name in path:
        if node is None:
            return None
        node = node.variation.get_item(name)
    if node is None:
        return None
    content = node.variation.content
    if kind == "q":
        return float(content.as_quantity())
    if kind == "u":
        return int(content.as_uint())
    text = str(content.as_string())
    return int(text) if kind == "o" else text.rstrip()


def decode_library(block: Block) -> list[dict[str, Any]] | AsterixError:
    """The items of :data:`FIELDS` of every record of ``block``, decoded by libasterix."""
    recs = library_records(block)
    if isinstance(recs, AsterixError):
        return recs
    fields = FIELDS[block.category]
    return [{k: _value(r, *spec) for k, spec in fields.items()} for r in recs]


# ----------------------------------------------------------------------- plots to scans

EARTH_MEAN_R_M = 6371008.8
"""Mean earth radius, m: elevation from altitude on straight lines of sight, as the
simulator's and tracker's geometric polar frame has it."""


def fl2el_rad(range_m: Array, alt_m: Array, site_alt_m: float) -> Array:
    """Elevation (rad) of a plot at slant ``range_m`` and altitude ``alt_m`` (both (M,), m)
    seen from a site at ``site_alt_m``, on a spherical earth with straight lines of sight:
    sin el = ((R+h)² − (R+h₀)² − r²) / (2 r (R+h₀)). NaN altitude gives 0 (horizon)."""
    r0 = EARTH_MEAN_R_M + site_alt_m
    rh = EARTH_MEAN_R_M + np.nan_to_num(alt_m, nan=site_alt_m)
    r = np.maximum(range_m, 1.0)
    s = (rh * rh - r0 * r0 - r * r) / (2.0 * r * r0)
    return np.where(np.isnan(alt_m), 0.0, np.arcsin(np.clip(s, -1.0, 1.0)))


def el2alt_m(range_m: Array, el_rad: Array, site_alt_m: float) -> Array:
    """Altitude (m) of plots at slant ``range_m`` and elevation ``el_rad`` (both (M,)) seen
    from a site at ``site_alt_m``: the inverse of :func:`fl2el_rad`,
    R + h = √(r² + (R+h₀)² + 2 r (R+h₀) sin el) on the same spherical earth."""
    r0 = EARTH_MEAN_R_M + site_alt_m
    r = np.asarray(range_m, dtype=np.float64)
    return np.sqrt(r * r + r0 * r0 + 2.0 * r * r0 * np.sin(el_rad)) - EARTH_MEAN_R_M


def unwrap_tod(tod_s: Array) -> Array:
    """Times of day (M,) made monotone across midnight: a drop of more than 12 h is taken
    as the next day (+86,400 s)."""
    tod = np.asarray(tod_s, dtype=np.float64)
    if tod.size == 0:
        return tod
    jumps = np.concatenate([[0.0], np.diff(tod)]) < -43200.0
    return tod + 86400.0 * np.cumsum(jumps)


def plots2scans(
    plots: Plots048,
    sensor_id: str,
    partner: str,
    site: tuple[float, float, float],
    sigma: Array,
    t0_s: float | None = None,
    max_spread_s: float = 0.5,
    sac_sic: tuple[int, int] | None = None,
) -> list[Scan]:
    """CAT048 plots as the tracker's scans, in time order.

    Only the radar ``sac_sic`` is read if given (a feed may carry several radars). Plots
    are sorted by time of day; consecutive plots within ``max_spread_s`` of the first one
    form one scan, stamped with their mean time (a sector of a rotating radar); plots
    without time or position are dropped. Scenario time is time of day minus ``t0_s`` (default: the
    first plot's). Elevation comes from the flight level (pressure altitude taken as
    geometric; none: 0 rad).

    Parameters
    ----------
    site : radar (lat deg, lon deg, alt m) — ASTERIX names the radar (SAC/SIC), not where
        it stands.
    sigma : (3,) 1-σ [range m, azimuth rad, elevation rad] of the radar.
    """
    tod = np.asarray(plots.tod_s, dtype=np.float64)
    rho = np.asarray(plots.rho_nm, dtype=np.float64) * NM_M
    az = np.radians(np.asarray(plots.theta_deg, dtype=np.float64))
    alt = np.asarray(plots.fl, dtype=np.float64) * 100.0 * FT_M
    ok = np.isfinite(tod) & np.isfinite(rho) & np.isfinite(az)
    if sac_sic is not None:
        ok &= (np.asarray(plots.sac) == sac_sic[0]) & (np.asarray(plots.sic) == sac_sic[1])
    tod, rho, az, alt = tod[ok], rho[ok], az[ok], alt[ok]
    if tod.size == 0:
        return []
    order = np.argsort(unwrap_tod(tod), kind="stable")
    tod, rho, az, alt = unwrap_tod(tod)[order], rho[order], az[order], alt[order]
    t0 = float(tod[0]) if t0_s is None else t0_s
    el = fl2el_rad(rho, alt, site[2])
    z = np.column_stack([rho, az, el])
    scans, start = [], 0
    for i in range(1, tod.size + 1):
        if i == tod.size or abs(tod[i] - tod[start]) > max_spread_s:
            scans.append(
                Scan(
                    sensor_id=sensor_id,
                    partner=partner,
                    t=float(tod[start:i].mean()) - t0,
                    site_lat_deg=site[0],
                    site_lon_deg=site[1],
                    site_alt_m=site[2],
                    z=z[start:i],
                    sigma=np.asarray(sigma, dtype=np.float64).copy(),
                    truth=np.full(i - start, -1, dtype=np.int64),
                )
            )
            start = i
    return scans


def summarise(path: str | Path, edition062: str = "1.18") -> tuple[dict[str, Any], Plots048]:
    """Blocks and records per category of a recording, its errors (with offsets), and its
    CAT048 plots; CAT062 is read by its fast path in ``edition062``; categories MEAD does
    not read are counted as blocks only."""
    from mead.sensors.asterix062 import Tracks062, decode062

    blocks: dict[str, int] = {}
    records: dict[str, int] = {}
    errors: list[str] = []
    plots = Plots048()
    for b in read_blocks(path):
        if isinstance(b, AsterixError):
            errors.append(str(b))
            continue
        key = f"{b.category:03d}"
        blocks[key] = blocks.get(key, 0) + 1
        if b.category == 48:
            n0 = len(plots)
            decode048(b.data, b.offset, plots)
            got = len(plots) - n0
        elif b.category == 62:
            tracks = decode062(b.data, b.offset, Tracks062(), edition062)  # type: ignore[arg-type]
            errors += [str(e) for e in tracks.errors]
            got = len(tracks)
        elif b.category in EDITIONS:
            recs = decode_library(b)
            if isinstance(recs, AsterixError):
                errors.append(str(recs))
                continue
            got = len(recs)
        else:
            continue
        records[key] = records.get(key, 0) + got
    errors += [str(e) for e in plots.errors]
    return {"file": str(path), "blocks": blocks, "records": records, "errors": errors}, plots
