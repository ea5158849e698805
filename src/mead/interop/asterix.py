"""ASTERIX out: a node's picture as CAT062 system tracks and its plots as CAT048, on UDP.

Encoding is libasterix's (editions of :data:`mead.sensors.asterix.EDITIONS`); the
functions here are pure (arrays in, bytes out) and :class:`UdpSender` only moves bytes.
Resolutions of the format: I062/105 position 180/2²⁵ deg (≈ 0.6 m), I062/070 time 1/128 s,
I062/185 velocity 0.25 m/s, I062/220 rate of climb 6.25 ft/min, I062/500 accuracies 0.5 m
(position σ, √|Cov(x, y)|), 6.25 ft (altitude σ), 0.25 m/s (velocity σ), 6.25 ft/min
(rate-of-climb σ); I048/040 range 1/256 NM and azimuth 360/2¹⁶ deg.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from msgspec import Meta, Struct

from mead import geo
from mead.errors import ParameterError
from mead.sensors.adsb_replay import AdsbRecording
from mead.sensors.asterix import EDITIONS, _generated, el2alt_m
from mead.sensors.base import Scan
from mead.threat.base import track_number
from mead.types import Array

MAX_BLOCK_BYTES = 1400
"""Records go into data blocks of at most this size, so one block fits one UDP datagram
on an Ethernet path."""


def _tod(t_utc_s: float) -> float:
    """Time of day, s, of a UTC time (s since the epoch), at the format's 1/128 s."""
    return round((t_utc_s % 86400.0) * 128.0) / 128.0


def _blocks(cat: int, records: Sequence[object]) -> bytes:
    """Records packed into data blocks of at most :data:`MAX_BLOCK_BYTES` each."""
    spec = getattr(_generated(), EDITIONS[cat])
    out: list[bytes] = []
    group: list[object] = []
    size = 3
    for rec in records:
        n = len(rec.unparse().to_bytes())  # type: ignore[attr-defined]
        if group and size + n > MAX_BLOCK_BYTES:
            out.append(spec.create(group).unparse().to_bytes())
            group, size = [], 3
        group.append(rec)
        size += n
    if group:
        out.append(spec.create(group).unparse().to_bytes())
    return b"".join(out)


def encode062(
    track_number: np.ndarray,
    t_utc_s: Array,
    states: Array,
    sac_sic: tuple[int, int],
    callsign: Sequence[str] | None = None,
    P: Array | None = None,
) -> bytes:
    """N system tracks as CAT062 data blocks.

    Parameters
    ----------
    track_number : (N,) int, 0..4095 (I062/040).
    t_utc_s : (N,) time of each state, UTC s since the epoch (I062/070 time of day).
    states : (N, 6) ECEF [m m m m/s m/s m/s]; position goes to I062/105 (WGS84 lat/lon),
        the east/north velocity at the track to I062/185, the altitude to I062/130, the
        vertical velocity to I062/220 (rate of climb).
    sac_sic : the sending node's system area and identification codes (I062/010).
    callsign : (N,) optional target identification (I062/380 ID), up to 8 characters.
    P : (N, 6, 6) optional ECEF covariances of ``states`` (m², m²/s²); written as I062/500
        estimated accuracies (:func:`enu_accuracies`).
    """
    states = np.asarray(states, dtype=np.float64)
    n = len(states)
    if states.shape != (n, 6) or not np.all(np.isfinite(states)):
        raise ParameterError("states", "(N, 6) finite ECEF", states.shape)
    acc = None if P is None else enu_accuracies(states, P)
    tn = np.asarray(track_number)
    if tn.shape != (n,) or np.any((tn < 0) | (tn > 4095)):
        raise ParameterError("track_number", "(N,) in 0..4095", tn)
    lat, lon, alt = geo.ecef2geodetic(states[:, :3])
    lat, lon, alt = np.atleast_1d(lat), np.atleast_1d(lon), np.atleast_1d(alt)
    spec = getattr(_generated(), EDITIONS[62])
    records = []
    for i in range(n):
        enu_v = geo.enu_rotation(float(lat[i]), float(lon[i])) @ states[i, 3:]
        items: dict[str, object] = {
            "010": (("SAC", sac_sic[0]), ("SIC", sac_sic[1])),
            "015": 0,
            "070": (_tod(float(t_utc_s[i])), "s"),
            "105": (("LAT", (float(lat[i]), "°")), ("LON", (float(lon[i]), "°"))),
            "185": (("VX", (float(enu_v[0]), "m/s")), ("VY", (float(enu_v[1]), "m/s"))),
            "130": (float(alt[i]) / 0.3048, "ft"),
            "220": (float(enu_v[2]) / 0.3048 * 60.0, "ft/min"),
            "040": int(tn[i]),
        }
        if callsign is not None and callsign[i]:
            items["380"] = {"ID": callsign[i][:8].ljust(8)}
        if acc is not None:
            items["500"] = _i500(acc[i])
        records.append(spec.cv_record.create(items))
    return _blocks(62, records)


# the largest value of each I062/500 subfield MEAD writes ("maximum value or above")
_MAX_APC_M, _MAX_COV_M, _MAX_AGA_FT = 65535 * 0.5, 32767 * 0.5, 255 * 6.25
_MAX_ATV_MPS, _MAX_ARC_FPM = 255 * 0.25, 255 * 6.25


def enu_accuracies(states: Array, P: Array) -> Array:
    """The I062/500 accuracies of N tracks from their ECEF covariances ``P`` (N, 6, 6):
    (N, 6) [σe m, σn m, Cov(e, n) m², σu m, σve, σvn m/s, σvu m/s] in each track's local
    east/north/up frame (``states`` (N, 6) ECEF gives where). The rest of ``P`` — the
    position/velocity and horizontal/vertical cross terms — has no place in I500."""
    P = np.asarray(P, dtype=np.float64)
    n = len(states)
    if P.shape != (n, 6, 6) or not np.all(np.isfinite(P)):
        raise ParameterError("P", "(N, 6, 6) finite ECEF covariances", P.shape)
    lat, lon, _ = geo.ecef2geodetic(states[:, :3])
    R = geo.enu_rotations(np.atleast_1d(lat), np.atleast_1d(lon)).reshape(n, 3, 3)
    Rt = R.swapaxes(-1, -2)
    cp, cv = R @ P[:, :3, :3] @ Rt, R @ P[:, 3:, 3:] @ Rt
    var = np.concatenate([np.diagonal(cp, axis1=1, axis2=2), np.diagonal(cv, axis1=1, axis2=2)],
                         axis=1)  # fmt: skip
    if np.any(var < 0.0):
        raise ParameterError("P", "covariances with variances >= 0", float(var.min()))
    s = np.sqrt(var)
    return np.column_stack([s[:, 0], s[:, 1], cp[:, 0, 1], s[:, 2], s[:, 3:]])


def _i500(a: Array) -> dict[str, object]:
    """One track's I062/500 (APC, COV, AGA, ATV, ARC) from its :func:`enu_accuracies` row,
    each subfield capped at its largest value (which reads "that or more")."""
    cov = float(np.copysign(np.sqrt(abs(a[2])), a[2]))
    return {
        "APC": (("X", (min(float(a[0]), _MAX_APC_M), "m")),
                ("Y", (min(float(a[1]), _MAX_APC_M), "m"))),
        "COV": (float(np.clip(cov, -_MAX_COV_M, _MAX_COV_M)), "m"),
        "AGA": (min(float(a[3]) / 0.3048, _MAX_AGA_FT), "ft"),
        "ATV": (("X", (min(float(a[4]), _MAX_ATV_MPS), "m/s")),
                ("Y", (min(float(a[5]), _MAX_ATV_MPS), "m/s"))),
        "ARC": (min(float(a[6]) / 0.3048 * 60.0, _MAX_ARC_FPM), "ft/min"),
    }  # fmt: skip


def encode048(
    t_utc_s: Array,
    z: Array,
    sac_sic: tuple[int, int],
    fl: Array | None = None,
    address: np.ndarray | None = None,
) -> bytes:
    """M radar plots as CAT048 data blocks (I010, I140, I040 and, where given, I090
    flight level and I220 Mode S address).

    Parameters
    ----------
    t_utc_s : (M,) plot times, UTC s since the epoch.
    z : (M, ≥2) [range m, azimuth rad (from north, clockwise), ...] as in a Scan.
    fl : (M,) flight level (100 ft), NaN: none.
    address : (M,) 24-bit Mode S address, < 0: none.
    """
    z = np.asarray(z, dtype=np.float64)
    m = len(z)
    if z.ndim != 2 or z.shape[1] < 2 or not np.all(np.isfinite(z[:, :2])):
        raise ParameterError("z", "(M, >=2) finite [range m, az rad]", z.shape)
    rho_nm = z[:, 0] / 1852.0
    if np.any((rho_nm < 0) | (rho_nm >= 256)):
        raise ParameterError("z[:, 0]", "a range in [0, 256 NM)", float(rho_nm.max()))
    theta_deg = np.degrees(z[:, 1]) % 360.0
    spec = getattr(_generated(), EDITIONS[48])
    records = []
    for i in range(m):
        items: dict[str, object] = {
            "010": (("SAC", sac_sic[0]), ("SIC", sac_sic[1])),
            "140": (_tod(float(t_utc_s[i])), "s"),
            "040": (("RHO", (float(rho_nm[i]), "NM")), ("THETA", (float(theta_deg[i]), "°"))),
        }
        if fl is not None and np.isfinite(fl[i]):
            items["090"] = (0, 0, ("FL", (float(fl[i]), "FL")))
        if address is not None and address[i] >= 0:
            items["220"] = int(address[i])
        records.append(spec.cv_record.create(items))
    return _blocks(48, records)


I050_ELEMENTS = {
    "COM": ("NOGO", "RDPC", "RDPR", "OVLRDP", "OVLXMT", "MSC", "TSV"),
    "PSR": ("ANT", "CHAB", "OVL", "MSC"),
    "SSR": ("ANT", "CHAB", "OVL", "MSC"),
    "MDS": ("ANT", "CHAB", "OVLSUR", "MSC", "SCF", "DLF", "OVLSCF", "OVLDLF"),
}
"""I034/050 subfields and their elements (CAT034 edition 1.29), in the item's order."""


def encode034(
    t_utc_s: float,
    sac_sic: tuple[int, int],
    message_type: int = 1,
    status: Mapping[str, Mapping[str, int]] | None = None,
    sector_deg: float | None = None,
) -> bytes:
    """One CAT034 radar service message as a data block: I010, I000 message type (1 north
    marker, 2 sector crossing, …), I030 time of day, and, where given, I020 sector azimuth
    and I034/050 system status — ``status`` maps subfields (``COM``, ``PSR``, ``SSR``,
    ``MDS``) to element values (:data:`I050_ELEMENTS`; an element not given is 0)."""
    items: dict[str, object] = {
        "010": (("SAC", sac_sic[0]), ("SIC", sac_sic[1])),
        "000": int(message_type),
        "030": (_tod(float(t_utc_s)), "s"),
    }
    if sector_deg is not None:
        items["020"] = (float(sector_deg) % 360.0, "°")
    if status is not None:
        bad = set(status) - set(I050_ELEMENTS)
        if bad:
            raise ParameterError("status", f"subfields of {sorted(I050_ELEMENTS)}", sorted(bad))
        items["050"] = {
            sub: (*((e, int(vals.get(e, 0))) for e in I050_ELEMENTS[sub]), 0)
            for sub, vals in status.items()
        }
    spec = getattr(_generated(), EDITIONS[34])
    return _blocks(34, [spec.cv_record.create(items)])


def encode021(rec: AdsbRecording, sac_sic: tuple[int, int]) -> bytes:
    """K ADS-B reports (a recording's rows) as CAT021 ed 2.6 data blocks: I010, I071 time
    of applicability (time of day of ``rec.t``), I080 address, I131 high-resolution
    position, and where known I145 flight level (the altitude), I160 ground vector, I155
    barometric vertical rate and I170 callsign. Used to relay a recorded picture to an
    ASTERIX consumer, and by the tests of the CAT021 reader."""
    spec = getattr(_generated(), EDITIONS[21])
    records = []
    for k in range(len(rec)):
        items: dict[str, object] = {
            "010": (("SAC", sac_sic[0]), ("SIC", sac_sic[1])),
            "071": (_tod(float(rec.t[k])), "s"),
            "080": int(rec.icao[k]),
            "131": (("LAT", (float(rec.lat_deg[k]), "°")), ("LON", (float(rec.lon_deg[k]), "°"))),
        }
        if np.isfinite(rec.alt_m[k]):
            items["145"] = (float(rec.alt_m[k]) / 30.48, "FL")
        if np.isfinite(rec.gs_mps[k]) and np.isfinite(rec.track_deg[k]):
            gs = ("GS", (float(rec.gs_mps[k]) / 1852.0, "NM/s"))
            items["160"] = (("RE", 0), gs, ("TA", (float(rec.track_deg[k]) % 360.0, "°")))
        if np.isfinite(rec.vrate_mps[k]):
            fpm = float(rec.vrate_mps[k]) * 60.0 / 0.3048
            items["155"] = (("RE", 0), ("BVR", (fpm, "ft/min")))
        if rec.callsign[k]:
            items["170"] = str(rec.callsign[k])[:8].ljust(8)
        records.append(spec.cv_record.create(items))
    return _blocks(21, records)


class UdpSender:
    """Sends ASTERIX bytes (whole data blocks, one or more per datagram) to ``address``
    (host, port), unicast or multicast; it knows nothing of the format."""

    def __init__(self, address: tuple[str, int], ttl: int = 1) -> None:
        self.address = address  # (host, port) of the receiver or multicast group
        self.sent = 0  # datagrams sent
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)

    def send(self, data: bytes) -> None:
        """Send ``data``, split at block boundaries into datagrams of ≤ 1400 bytes."""
        pos, start = 0, 0
        while pos < len(data):
            length = (data[pos + 1] << 8) | data[pos + 2]
            if pos + length - start > MAX_BLOCK_BYTES and pos > start:
                self._send(data[start:pos])
                start = pos
            pos += length
        if start < len(data):
            self._send(data[start:])

    def _send(self, datagram: bytes) -> None:
        self._sock.sendto(datagram, self.address)
        self.sent += 1

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class AsterixTarget(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a live node sends ASTERIX on UDP, e.g. ``{udp: "239.1.2.3:8600", sac: 25,
    sic: 1}``: what it holds as CAT062 system tracks (node config ``asterix_out``), or its
    radars' plots as CAT048 (``asterix_plots_out``: the partner's k-th radar, in scenario
    order, is SIC ``sic`` + k)."""

    udp: str  # host:port of the receiver or multicast group
    sac: Annotated[int, Meta(ge=0, le=255)]  # system area code of this node (I010)
    sic: Annotated[int, Meta(ge=0, le=255)]  # system identification code
    ttl: Annotated[int, Meta(ge=1, le=255)] = 1  # multicast hops

    def __post_init__(self) -> None:
        host, _, port = self.udp.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"udp must be host:port (got {self.udp!r})")

    def address(self) -> tuple[str, int]:
        """(host, port) to send to."""
        host, _, port = self.udp.rpartition(":")
        return host, int(port)


def _sendable(z: Array) -> np.ndarray:
    """(M,) plots CAT048 can carry: finite, and within I048/040's 256 NM."""
    return np.isfinite(z[:, :3]).all(axis=1) & (z[:, 0] < 256.0 * 1852.0)


def scan2cat048(scan: Scan, epoch_s: float, sac_sic: tuple[int, int]) -> bytes:
    """One radar scan's plots as CAT048 data blocks: time ``epoch_s`` + ``scan.t`` (UTC s),
    ρ/θ from ``z``, and the flight level of the altitude the elevation gives (geometric
    altitude stands for the pressure altitude a Mode C reply would give; a reader inverts
    it with :func:`mead.sensors.asterix.fl2el_rad`). Plots beyond 256 NM are left out."""
    z = np.asarray(scan.z, dtype=np.float64)
    z = z[_sendable(z)]
    alt_m = el2alt_m(z[:, 0], z[:, 2], scan.site_alt_m)
    fl = np.clip(alt_m / 0.3048 / 100.0, -12.0, 1270.0)
    t = np.full(len(z), epoch_s + scan.t)
    return encode048(t, z, sac_sic, fl) if len(z) else b""


class Cat048Output:
    """Sends the plots of every scan a partner's tracker takes as CAT048, to each target:
    its k-th radar (``radars``, in scenario order) as SAC ``sac``, SIC ``sic`` + k. It is
    the node's ``on_scan`` hook, so it sends what the partner's radars (simulated, recorded
    or live) gave its tracker; a send error is counted, never raised."""

    def __init__(
        self, targets: Sequence[AsterixTarget], radars: Sequence[str], epoch_s: float
    ) -> None:
        self.targets = list(targets)
        self.radars = {r: k for k, r in enumerate(radars)}  # sensor id → index
        self.epoch_s = epoch_s  # wire time of scenario t = 0, UTC s
        self._senders = [UdpSender(t.address(), t.ttl) for t in self.targets]
        self.counters: Counter[str] = Counter()

    def send(self, scan: Scan) -> None:
        """Send ``scan``'s plots to every target."""
        k = self.radars.get(scan.sensor_id, 0)
        for target, sender in zip(self.targets, self._senders, strict=True):
            try:
                data = scan2cat048(scan, self.epoch_s, (target.sac, min(target.sic + k, 255)))
                if data:
                    sender.send(data)
            except (OSError, ParameterError) as e:
                self.counters["cat048_errors"] += 1
                self.counters[f"cat048_error_{type(e).__name__}"] += 1
                continue
            self.counters["cat048_plots"] += int(_sendable(np.asarray(scan.z)).sum())
        self.counters["cat048_scans"] += 1

    def close(self) -> dict[str, int]:
        """Close the sockets; the counters (plots sent, datagrams, errors)."""
        for s in self._senders:
            self.counters["cat048_datagrams"] += s.sent
            s.close()
        return dict(self.counters)


class Cat062Output:
    """Sends, every cycle, the tracks a node holds as CAT062 to each target.

    It is given what the node's operator's map is given (:class:`mead.runtime.node.Held`:
    a partner's own tracks, the coordinator's fused ones), so a node sends only what it
    holds; a partner does not pass on the coordinator's picture. Track numbers are the
    ids' numbers modulo 4096 (I062/040 holds 12 bits here); the tracks' covariances, where
    held, go as I062/500 estimated accuracies; an empty cycle sends nothing.
    """

    def __init__(self, targets: Sequence[AsterixTarget]) -> None:
        self.targets = list(targets)
        self._senders = [UdpSender(t.address(), t.ttl) for t in self.targets]
        self.counters: Counter[str] = Counter()

    def show(self, held: Any) -> None:
        """Send ``held`` (a ``Held``): one CAT062 record per track, to every target."""
        n = len(held.ids)
        if n == 0:
            return
        tn = np.array([track_number(i) % 4096 for i in held.ids])
        t = np.full(n, held.t)
        for target, sender in zip(self.targets, self._senders, strict=True):
            try:
                data = encode062(tn, t, held.x, (target.sac, target.sic), P=held.P)
                sender.send(data)
            except (OSError, ParameterError) as e:  # a bad state or a down route: counted
                self.counters["cat062_errors"] += 1
                self.counters[f"cat062_error_{type(e).__name__}"] += 1
                continue
            self.counters["cat062_tracks"] += n
        self.counters["cat062_cycles"] += 1

    def close(self) -> dict[str, int]:
        """Close the sockets; the counters (tracks sent, datagrams, errors)."""
        for s in self._senders:
            self.counters["cat062_datagrams"] += s.sent
            s.close()
        return dict(self.counters)
