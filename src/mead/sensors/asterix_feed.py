"""ASTERIX feeds as partner radars: a scenario sensor whose plots come from a recording or a
UDP socket instead of the simulator (``Sensor.asterix``), on the scenario clock.

A recording (``file``) is read once, before the run, into the partner's scans: its first
plot is at scenario time ``start_s`` and the others keep their own spacing, so the feed is
replayed at its own pace on the scenario clock (which runs as fast as the simulation can,
or ``speed`` times real time in a live node). A UDP feed (``udp``, live nodes only) is a
:class:`UdpFeed`: a thread only receives datagrams into a bounded queue; the node's step
decodes them and hands whole scans to its tracker (:meth:`UdpFeed.ready`).

CAT034 service messages give the radar's status (:class:`RadarStatus`): north markers and
sector crossings counted, and the antenna period measured from the sector crossings.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from mead.errors import AsterixError, ConfigError
from mead.scenario.schema import Scenario, Sensor
from mead.sensors import asterix as ax
from mead.sensors.base import Scan

MESSAGE_TYPES = {1: "north_marker", 2: "sector_crossing", 3: "geographical_filtering",
                 4: "jamming_strobe", 5: "solar_storm", 6: "ssr_jamming_strobe",
                 7: "mode_s_jamming_strobe"}  # fmt: skip
"""I034/000 message types (CAT034 edition 1.29)."""

MAX_QUEUED_DATAGRAMS = 10_000
"""Datagrams a UDP feed holds between two node steps; past it, new ones are counted and
dropped."""


@dataclass
class RadarStatus:
    """What a radar's CAT034 service messages said: message counts by type, the antenna
    rotation period measured from consecutive sector crossings (NaN: unknown), and the
    radar's state from the newest I034/050 (system configuration and status) it sent,
    with the reason (:func:`judge_i050`)."""

    sac_sic: tuple[int, int] | None
    messages: Counter[str] = field(default_factory=Counter)
    antenna_period_s: float = math.nan
    state: str = "operational"
    why: str = ""
    # (tod, state, why) at each change of state the I034/050s said: bounded by the changes,
    # not the messages (a live feed sends one a turn for days)
    history: list[tuple[float, str, str]] = field(default_factory=list)
    _crossings: dict[float, float] = field(default_factory=dict)  # time of day → sector deg

    def take(self, records: Iterable[dict[str, object]]) -> None:
        """Count CAT034 records (libasterix values, :data:`~mead.sensors.asterix.FIELDS`)
        of this radar; re-measure the antenna period; judge its state from I034/050."""
        for r in records:
            if self.sac_sic is not None and (r["sac"], r["sic"]) != self.sac_sic:
                continue
            mt = r["message_type"]
            kind = MESSAGE_TYPES.get(mt, "other") if isinstance(mt, int) else "other"
            self.messages[kind] += 1
            tod, sector = r["tod_s"], r["sector_deg"]
            if kind == "sector_crossing" and isinstance(tod, float) and isinstance(sector, float):
                self._crossings[tod] = sector  # duplicates (a datagram seen twice) collapse
            if r.get("nogo") is not None:  # an I034/050 (its COM subfield) came
                said = judge_i050(r)
                if said != (self.state, self.why) and isinstance(tod, float):
                    self.history.append((tod, *said))
                self.state, self.why = said
        self.antenna_period_s = antenna_period_s(self._crossings)

    def silent_after_s(self, scan_s: float) -> float:
        """How long a silent feed is still taken to be working: three antenna turns (as
        its sector crossings measured them, else the radar's configured revisit
        ``scan_s``), and at least 10 s."""
        turn = self.antenna_period_s
        return max(3.0 * (turn if math.isfinite(turn) else scan_s), 10.0)

    def told(self, state: str, quiet_s: float, scan_s: float) -> tuple[str, float]:
        """(state, fraction of range kept) of a feed whose I034/050s said ``state`` and
        that has been silent ``quiet_s``: down once silent past :meth:`silent_after_s`;
        reach 0 down and 1 otherwise (CAT034 says what fails, not how far it still sees)."""
        if quiet_s > self.silent_after_s(scan_s):
            state = "down"
        return state, 0.0 if state == "down" else 1.0


CHAINS = (("psr", "primary"), ("ssr", "secondary"), ("mds", "Mode S"))
"""The sensor chains I034/050 reports on: record key prefix, name."""


def judge_i050(r: dict[str, object]) -> tuple[str, str]:
    """A radar's state and the reason from one CAT034 record's I034/050 (libasterix
    values): ``down`` when the system is inhibited for operational use (COM NOGO) or no
    channel is selected in any chain it reports (CHAB 0); ``degraded`` when some chain has
    no channel, something is overloaded (COM OVLRDP, OVLXMT; a chain's OVL) or the time
    source is invalid (COM TSV); else ``operational``. (MSC, the monitoring system being
    disconnected, says nothing of the radar itself.)"""
    if r.get("nogo") == 1:
        return "down", "operational use inhibited (I034/050 NOGO)"
    chains = [name for key, name in CHAINS if r.get(f"{key}_chab") is not None]
    dead = [name for key, name in CHAINS if r.get(f"{key}_chab") == 0]
    if chains and len(dead) == len(chains):
        return "down", f"no channel selected: {', '.join(dead)} (I034/050 CHAB)"
    faults = [f"no channel selected: {', '.join(dead)}"] if dead else []
    parts = [("ovl_rdp", "RDP"), ("ovl_xmt", "transmission")]
    parts += [(f"{key}_ovl", name) for key, name in CHAINS]
    over = [name for key, name in parts if r.get(key) == 1]
    if over:
        faults.append(f"overload: {', '.join(over)}")
    if r.get("tsv") == 1:
        faults.append("time source invalid")
    return ("degraded", "; ".join(faults) + " (I034/050)") if faults else ("operational", "")


def antenna_period_s(crossings: dict[float, float]) -> float:
    """Median rotation period (s) from sector crossings {time of day s: azimuth deg}: each
    pair of consecutive crossings gives 360° × Δt / Δaz (Δaz taken in (0, 180)°)."""
    if len(crossings) < 2:
        return math.nan
    t = np.array(sorted(crossings))
    az = np.array([crossings[k] for k in t])
    dt, daz = np.diff(t), np.mod(np.diff(az), 360.0)
    ok = (dt > 0) & (daz > 0) & (daz < 180)
    return float(np.median(360.0 * dt[ok] / daz[ok])) if ok.any() else math.nan


def _sigma(s: Sensor) -> np.ndarray:
    return np.array([s.sigma_range_m, math.radians(s.sigma_az_deg), math.radians(s.sigma_el_deg)])


def _site(s: Sensor) -> tuple[float, float, float]:
    return (s.site.lat_deg, s.site.lon_deg, s.site.alt_m)


def _busiest(plots: ax.Plots048) -> tuple[int, int] | None:
    """The (SAC, SIC) with the most plots: one site cannot stand for several radars."""
    pairs = [p for p in zip(plots.sac, plots.sic, strict=True) if p[0] >= 0]
    return max(set(pairs), key=pairs.count) if pairs else None


@dataclass
class FileReplay:
    """A recording read as one radar's scans, with what the feed said besides.

    Like a live feed it reports its radar's state (:class:`~mead.sensors.health.SelfReporting`)
    as the recording tells it, on the scenario clock: the state of the newest I034/050 sent
    by then (operational before the first), and ``down`` once no plot has come for
    :meth:`RadarStatus.silent_after_s` — a gap in the recording, or its end."""

    sensor: Sensor
    partner: str
    scans: list[Scan]
    status: RadarStatus
    errors: list[AsterixError]  # corrupt blocks and records, skipped
    shift_s: float = 0.0  # the recording's time of day + this = scenario time, s
    heard: np.ndarray = field(init=False, repr=False)  # its scans' times, ascending
    said_t: np.ndarray = field(init=False, repr=False)  # scenario times of its state changes

    def __post_init__(self) -> None:
        self.heard = np.sort(np.array([sc.t for sc in self.scans], dtype=np.float64))
        self.said_t = np.array([tod for tod, _, _ in self.status.history]) + self.shift_s

    @property
    def sensor_id(self) -> str:
        return self.sensor.id

    def radar_state(self, t: float) -> tuple[str, float]:
        """(state, fraction of range kept) of the recorded radar at scenario time ``t``
        (reach 0 down, else 1: CAT034 says what fails, not how far the radar sees)."""
        k = int(np.searchsorted(self.heard, t, side="right"))
        last = self.heard[k - 1] if k else 0.0  # before its first plot: the run's start
        n = int(np.searchsorted(self.said_t, t, side="right"))
        state = self.status.history[n - 1][1] if n else "operational"
        return self.status.told(state, t - last, self.sensor.scan_s)


def decode_radar(
    blocks: Iterable[ax.Block | AsterixError],
) -> tuple[ax.Plots048, list[dict[str, Any]]]:
    """A radar's CAT048 plots and CAT034 records from framed blocks (``read_blocks`` or
    ``iter_blocks``); bad blocks and records go to the plots' ``errors``, never raised."""
    plots, cat034 = ax.Plots048(), []
    for b in blocks:
        if isinstance(b, AsterixError):
            plots.errors.append(b)
        elif b.category == 48:
            ax.decode048(b.data, b.offset, plots)
        elif b.category == 34:
            recs = ax.decode_library(b)
            if isinstance(recs, AsterixError):
                plots.errors.append(recs)
            else:
                cat034 += recs
    return plots, cat034


def replay_file(sensor: Sensor, partner: str, path: Path) -> FileReplay:
    """The scans of a recorded feed (``sensor.asterix.file`` at ``path``): the radar's
    CAT048 plots in scans of ``max_spread_s``, the first at scenario time ``start_s``,
    each delivered ``latency_s`` later; its CAT034 messages as :class:`RadarStatus`."""
    feed = sensor.asterix
    assert feed is not None and feed.file is not None  # the caller picks file feeds
    if not path.is_file():
        raise ConfigError(str(path), f"sensor {sensor.id!r}: no such ASTERIX recording")
    plots, cat034 = decode_radar(ax.read_blocks(path))
    radar = feed.sac_sic() or _busiest(plots)
    status = RadarStatus(radar)
    status.take(cat034)
    scans = ax.plots2scans(plots, sensor.id, partner, _site(sensor), _sigma(sensor),
                           t0_s=0.0, max_spread_s=feed.max_spread_s, sac_sic=radar)  # fmt: skip
    shift = feed.start_s - (scans[0].t if scans else 0.0)
    scans = [_shifted(s, shift, sensor.latency_s) for s in scans]
    return FileReplay(sensor, partner, scans, status, plots.errors, shift)


def _shifted(s: Scan, dt: float, delay_s: float) -> Scan:
    import dataclasses

    return dataclasses.replace(s, t=s.t + dt, delay_s=delay_s)


def feed_sensors(sc: Scenario, kind: str) -> list[tuple[int, int, str, Sensor]]:
    """(partner index, sensor index, partner, sensor) of every sensor with an ASTERIX feed
    of ``kind`` ('file' or 'udp')."""
    return [
        (i, j, p.name, s)
        for i, p in enumerate(sc.partners)
        for j, s in enumerate(p.sensors)
        if s.asterix is not None and getattr(s.asterix, kind) is not None
    ]


def replay_files(sc: Scenario, base: Path, partner: str | None = None) -> list[FileReplay]:
    """Every recorded feed of the scenario (of ``partner`` only, if given); paths are
    relative to ``base`` (the scenario file's folder)."""
    return [
        replay_file(s, p, base / s.asterix.file)  # type: ignore[union-attr,operator]
        for _, _, p, s in feed_sensors(sc, "file")
        if partner is None or p == partner
    ]


# ----------------------------------------------------------------------------- UDP


def open_udp(host_port: str, iface: str = "0.0.0.0") -> socket.socket:
    """A UDP socket bound to 'host:port' (a multicast group: bound to the port on every
    interface and the group joined on the interface whose address is ``iface``; the
    default lets the kernel choose by its routes), with a short timeout so a reader can
    stop."""
    host, port_s = host_port.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    try:
        multicast = ipaddress.ip_address(host).is_multicast
    except ValueError:
        multicast = False
    try:
        sock.bind(("" if multicast else host, int(port_s)))
        if multicast:
            mreq = struct.pack("4s4s", socket.inet_aton(host), socket.inet_aton(iface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as e:
        sock.close()
        raise ConfigError(host_port, f"cannot listen for ASTERIX on UDP ({e})") from None
    sock.settimeout(0.2)
    return sock


class DatagramReceiver:
    """A thread that only receives: each datagram on ``sock`` is queued with its arrival
    time on ``clock``, up to :data:`MAX_QUEUED_DATAGRAMS` (more are counted in
    ``counters['dropped_datagrams']`` and dropped); the node's step takes them (:meth:`drain`)."""

    def __init__(
        self, sock: socket.socket, clock: Callable[[], float], name: str,
        counters: Counter[str],
    ) -> None:  # fmt: skip
        self.clock, self.counters = clock, counters
        self._sock = sock
        self._queue: deque[tuple[float, bytes]] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name=name, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """Where the socket listens (host, port)."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop receiving and close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._sock.close()

    def __len__(self) -> int:
        """Datagrams queued and not yet drained."""
        return len(self._queue)

    def drain(self) -> list[tuple[float, bytes]]:
        """Every (arrival time, datagram) queued since the last call, in arrival order."""
        out = []
        while self._queue:
            out.append(self._queue.popleft())
        return out

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(self._queue) >= MAX_QUEUED_DATAGRAMS:
                self.counters["dropped_datagrams"] += 1
                continue
            self._queue.append((self.clock(), data))


class FeedClock:
    """A live feed's ASTERIX time of day (s after UTC midnight) on the scenario clock: the
    first record is anchored at its datagram's arrival, later ones keep the feed's own
    spacing, and a time of day more than 12 h below the last one has passed midnight."""

    def __init__(self) -> None:
        self._anchor: float | None = None  # scenario s − feed time
        self._last_tod = -math.inf
        self._day = 0.0

    def __call__(self, tod: float, t_arrival: float) -> float:
        """Scenario time of time of day ``tod`` in a datagram that arrived at ``t_arrival``."""
        if tod < self._last_tod - 43200.0:
            self._day += 86400.0
        self._last_tod = tod
        if self._anchor is None:
            self._anchor = t_arrival - (tod + self._day)
        return tod + self._day + self._anchor


class Listening:
    """A feed that receives datagrams on a socket through its :class:`DatagramReceiver`
    (``_rx``): where it listens, what waits, start and close."""

    _rx: DatagramReceiver

    @property
    def address(self) -> tuple[str, int]:
        """Where the socket listens (host, port)."""
        return self._rx.address

    @property
    def queued(self) -> int:
        """Datagrams received and not yet decoded."""
        return len(self._rx)

    def start(self) -> Self:
        self._rx.start()
        return self

    def close(self) -> None:
        """Stop receiving and close the socket."""
        self._rx.close()


class UdpFeed(Listening):
    """A live radar on a UDP socket: datagrams in, the tracker's scans out.

    A thread only receives (:class:`DatagramReceiver`): each datagram is queued with its
    arrival time on ``clock`` (the partner's scenario seconds). :meth:`ready`, called from
    the node's step, decodes what arrived, groups the radar's plots into scans of
    ``max_spread_s`` and returns the scans that are complete. Plot times are the feed's own
    times of day, anchored on the first plot's arrival (the feed's clock need not match the
    scenario's date) and unwrapped across midnight.
    """

    def __init__(
        self, sensor: Sensor, partner: str, clock: Callable[[], float],
        sock: socket.socket | None = None,
    ) -> None:  # fmt: skip
        feed = sensor.asterix
        if feed is None or feed.udp is None:
            raise ConfigError(sensor.id, "not a UDP ASTERIX feed", "asterix.udp")
        self.sensor, self.partner, self.feed = sensor, partner, feed
        self.sac_sic = feed.sac_sic()
        self.clock = clock
        self.status = RadarStatus(self.sac_sic)
        self.counters: Counter[str] = Counter()
        self.errors: deque[AsterixError] = deque(maxlen=20)  # the newest, for a log
        sock = sock if sock is not None else open_udp(feed.udp, feed.iface or "0.0.0.0")
        self._rx = DatagramReceiver(sock, clock, f"asterix-{sensor.id}", self.counters)
        self._pending: list[tuple[float, float, float, float]] = []  # t, range m, az, alt m
        self._time = FeedClock()
        self._heard = clock()  # scenario time of the newest datagram (at first: the start)

    def radar_state(self, t: float) -> tuple[str, float]:
        """(state, fraction of range kept) of the radar at scenario time ``t``, as its feed
        tells (:meth:`RadarStatus.told`): ``down`` once nothing has arrived for three antenna
        turns, else the state of its newest I034/050 (operational without one)."""
        return self.status.told(self.status.state, t - self._heard, self.sensor.scan_s)

    def ready(self, t: float) -> list[Scan]:
        """Scans complete by scenario time ``t``, in time order (delivered at ``t``)."""
        for t_arrival, data in self._rx.drain():
            self.take(data, t_arrival)
            self._heard = max(self._heard, t_arrival)
        return self._complete(t)

    def take(self, data: bytes, t_arrival: float) -> None:
        """Decode one datagram that arrived at scenario time ``t_arrival``; bad blocks and
        records are counted (and the newest kept in ``errors``), never raised."""
        self.counters["datagrams"] += 1
        plots, cat034 = decode_radar(ax.iter_blocks(data))
        self.status.take(cat034)
        self.counters["errors"] += len(plots.errors)
        self.errors.extend(plots.errors)
        self._add_plots(plots, t_arrival)

    def _add_plots(self, plots: ax.Plots048, t_arrival: float) -> None:
        for i in range(len(plots)):
            if self.sac_sic is not None and (plots.sac[i], plots.sic[i]) != self.sac_sic:
                continue
            tod, rho, theta = plots.tod_s[i], plots.rho_nm[i], plots.theta_deg[i]
            if not (math.isfinite(tod) and math.isfinite(rho) and math.isfinite(theta)):
                continue
            alt = plots.fl[i] * 100.0 * ax.FT_M
            self._pending.append((self._time(tod, t_arrival), rho * ax.NM_M, math.radians(theta),
                                  alt if math.isfinite(alt) else math.nan))  # fmt: skip
            self.counters["plots"] += 1

    def _complete(self, t: float) -> list[Scan]:
        """Scans of pending plots whose window is closed: a later plot lies past it, or
        the clock has."""
        spread = self.feed.max_spread_s
        self._pending.sort()
        out = []
        while self._pending:
            first = self._pending[0][0]
            if not (self._pending[-1][0] - first > spread or t - first > spread):
                break
            n = next((k for k, p in enumerate(self._pending) if p[0] - first > spread),
                     len(self._pending))  # fmt: skip
            group = np.array(self._pending[:n])
            del self._pending[:n]
            out.append(self._scan(group, t))
        self.counters["scans"] += len(out)
        return out

    def _scan(self, g: np.ndarray, t: float) -> Scan:
        """One scan from plots (M, 4) [t s, range m, az rad, alt m]."""
        el = ax.fl2el_rad(g[:, 1], g[:, 3], self.sensor.site.alt_m)
        t_scan = float(g[:, 0].mean())
        return Scan(
            sensor_id=self.sensor.id,
            partner=self.partner,
            t=t_scan,
            site_lat_deg=self.sensor.site.lat_deg,
            site_lon_deg=self.sensor.site.lon_deg,
            site_alt_m=self.sensor.site.alt_m,
            z=np.column_stack([g[:, 1], g[:, 2], el]),
            sigma=_sigma(self.sensor),
            truth=np.full(len(g), -1, dtype=np.int64),
            delay_s=max(t - t_scan, 0.0),
        )


def udp_feeds(sc: Scenario, partner: str, clock: Callable[[], float]) -> list[UdpFeed]:
    """Open (and start) a :class:`UdpFeed` for every UDP-fed radar of ``partner``."""
    feeds: list[UdpFeed] = []
    try:
        for _, _, p, s in feed_sensors(sc, "udp"):
            if p == partner:
                feeds.append(UdpFeed(s, p, clock).start())
    except BaseException:
        for f in feeds:
            f.close()
        raise
    return feeds


__all__ = [
    "DatagramReceiver",
    "FeedClock",
    "FileReplay",
    "Listening",
    "RadarStatus",
    "UdpFeed",
    "replay_files",
    "udp_feeds",
]
