"""ASTERIX CAT021 in: ADS-B reports of a ground station as a recorded ADS-B picture, the same
:class:`~mead.sensors.adsb_replay.AdsbRecording` the OpenSky CSV gives, so the cooperative
identification (``csv2reports`` → ``AdsbReports``) and the screening (``screen``,
``mead adsb screen``) read it unchanged.

Records are decoded by ``libasterix`` (edition 2.6, :data:`mead.sensors.asterix.FIELDS`):
address (I080), position (I131 high resolution, else I130), flight level (I145),
callsign (I170), ground vector (I160), barometric or geometric vertical rate (I155, I157)
and time (I071 position applicability, else I073 position reception). CAT021 gives only
the time of day: ``day_utc_s`` (the UTC midnight of the recording's day) makes it absolute,
and times are unwrapped across midnight. A corrupt block is kept as an
:class:`~mead.errors.AsterixError` with its offset and skipped.

Live, a partner's ground station sends CAT021 on UDP (``partners[].adsb_udp``): an
:class:`AdsbUdpFeed` receives the datagrams as a live radar's feed does
(:class:`~mead.sensors.asterix_feed.DatagramReceiver`), puts their times of day on the
scenario clock (:class:`~mead.sensors.asterix_feed.FeedClock`) and hands the node new
reports each step, which it adds to the ADS-B reports its cooperative identification reads.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mead.errors import AsterixError, ConfigError
from mead.scenario.schema import Civil, Scenario
from mead.sensors import asterix as ax
from mead.sensors.adsb import AdsbReports, empty_reports, merge_reports
from mead.sensors.adsb_replay import FT_M, AdsbRecording, csv2reports, read_adsb_csv
from mead.sensors.asterix_feed import DatagramReceiver, FeedClock, Listening, open_udp

NM_M = 1852.0
"""One nautical mile, m."""


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _row(r: dict[str, Any]) -> tuple[float, ...] | None:
    """(tod s, icao, lat, lon, alt m, gs m/s, track deg, vrate m/s) of one record, or None
    without address, time or position."""
    tod = r["tod_pos_s"] if r["tod_pos_s"] is not None else r["tod_rx_s"]
    lat = r["lat_hr_deg"] if r["lat_hr_deg"] is not None else r["lat_deg"]
    lon = r["lon_hr_deg"] if r["lon_hr_deg"] is not None else r["lon_deg"]
    if r["address"] is None or tod is None or lat is None or lon is None:
        return None
    vrate = r["bvr_fpm"] if r["bvr_fpm"] is not None else r["gvr_fpm"]
    return (float(tod), float(r["address"]), float(lat), float(lon),
            _num(r["fl"]) * 100.0 * FT_M, _num(r["gs_nmps"]) * NM_M, _num(r["ta_deg"]),
            _num(vrate) * FT_M / 60.0)  # fmt: skip


def cat021_recording(
    blocks: Iterable[ax.Block | AsterixError], day_utc_s: float = 0.0
) -> tuple[AdsbRecording, list[AsterixError]]:
    """The CAT021 reports of ``blocks`` as an ADS-B recording (sorted by aircraft, then
    time), and the errors of the blocks skipped. Records without address, time or
    position are left out; other categories are skipped."""
    rows: list[tuple[float, ...]] = []
    calls: list[str] = []
    errors: list[AsterixError] = []
    for b in blocks:
        if isinstance(b, AsterixError):
            errors.append(b)
            continue
        if b.category != 21:
            continue
        recs = ax.decode_library(b)
        if isinstance(recs, AsterixError):
            errors.append(recs)
            continue
        for r in recs:
            row = _row(r)
            if row is not None:
                rows.append(row)
                calls.append((r["callsign"] or "")[:8])
    a = np.array(rows, dtype=np.float64).reshape(-1, 8)
    t = day_utc_s + ax.unwrap_tod(a[:, 0])
    order = np.lexsort((t, a[:, 1]))
    a, t = a[order], t[order]
    return AdsbRecording(
        t=t, icao=a[:, 1].astype(np.uint32),
        callsign=np.array(calls, dtype="<U8")[order] if calls else np.empty(0, "<U8"),
        lat_deg=a[:, 2], lon_deg=a[:, 3], alt_m=a[:, 4], gs_mps=a[:, 5], track_deg=a[:, 6],
        vrate_mps=a[:, 7], onground=np.zeros(len(a), bool),
    ), errors  # fmt: skip


def read_cat021(
    path: str | Path, day_utc_s: float = 0.0
) -> tuple[AdsbRecording, list[AsterixError]]:
    """A CAT021 recording (raw ``.ast`` or ``.pcap``) as an ADS-B recording; a missing
    file is a ConfigError naming it."""
    if not Path(path).is_file():
        raise ConfigError(str(path), "no such ASTERIX recording")
    return cat021_recording(ax.read_blocks(path), day_utc_s)


def scenario_adsb(sc: Scenario, base: Path) -> AdsbReports:
    """The recorded ADS-B of every partner (``partners[].adsb_files``, relative to
    ``base``) as reports at scenario time (UTC − scenario start), with the civil block's
    ADS-B errors; a corrupt CAT021 block is skipped, a bad file is a ConfigError."""
    out = empty_reports(tuple(p.name for p in sc.partners))
    epoch = sc.start_epoch_s()
    for p in sc.partners:
        for name in p.adsb_files:
            path = base / name
            if name.lower().endswith(".csv"):
                rec = read_adsb_csv(path)
            else:
                rec, _ = read_cat021(path, epoch // 86400.0 * 86400.0)
            civ = sc.civil
            reports = csv2reports(rec, p.name, epoch, civ.adsb_sigma_m, civ.adsb_alt_sigma_m,
                                  civ.adsb_vel_sigma_mps)  # fmt: skip
            out = merge_reports(out, reports)
    return out


# ----------------------------------------------------------------------------- UDP


class AdsbUdpFeed(Listening):
    """A ground station's live ADS-B: CAT021 datagrams on a UDP socket, reports out.

    A thread only receives (:class:`~mead.sensors.asterix_feed.DatagramReceiver`): each
    datagram is queued with its arrival time on ``clock`` (the partner's scenario seconds).
    :meth:`ready`, called from the node's step, decodes what arrived into reports received
    by ``partner``. Report times are the station's times of day (I071, else I073) put on
    the scenario clock by a :class:`~mead.sensors.asterix_feed.FeedClock`: the first
    report anchored at its datagram's arrival, later ones keeping the station's spacing,
    unwrapped across midnight. Records without address, time, position or flight level are
    left out (as from a recording); 1-σ errors are the scenario's ``civil.adsb_*``. A
    corrupt or truncated block is counted in ``counters['errors']`` (the newest kept in
    ``errors``, each naming its offset and what is wrong) and skipped, never raised.
    """

    def __init__(
        self, host_port: str, partner: str, clock: Callable[[], float], civil: Civil,
        sock: socket.socket | None = None,
    ) -> None:  # fmt: skip
        self.host_port, self.partner, self.civil = host_port, partner, civil
        self.counters: Counter[str] = Counter()
        self.errors: deque[AsterixError] = deque(maxlen=20)  # the newest, for a log
        sock = sock if sock is not None else open_udp(host_port)
        self._rx = DatagramReceiver(sock, clock, f"cat021-{host_port}", self.counters)
        self._time = FeedClock()

    def ready(self) -> AdsbReports:
        """The reports of every datagram received since the last call (scenario time,
        time-ordered; partner table ``(partner,)``)."""
        parts = [self.take(data, t_arrival) for t_arrival, data in self._rx.drain()]
        parts = [r for r in parts if len(r)]
        return functools.reduce(merge_reports, parts, empty_reports((self.partner,)))

    def take(self, data: bytes, t_arrival: float) -> AdsbReports:
        """The reports of one datagram that arrived at scenario time ``t_arrival``; bad
        blocks are counted (and the newest kept in ``errors``), never raised."""
        self.counters["datagrams"] += 1
        rec, errors = cat021_recording(ax.iter_blocks(data))
        self.counters["errors"] += len(errors)
        self.errors.extend(errors)
        t = np.empty(len(rec))
        for k in np.argsort(rec.t, kind="stable"):  # in time order, for the midnight rule
            t[k] = self._time(float(rec.t[k]), t_arrival)
        civ = self.civil
        reports = csv2reports(dataclasses.replace(rec, t=t), self.partner, 0.0,
                              civ.adsb_sigma_m, civ.adsb_alt_sigma_m,
                              civ.adsb_vel_sigma_mps)  # fmt: skip
        self.counters["reports"] += len(reports)
        return reports


def adsb_udp_feeds(sc: Scenario, partner: str, clock: Callable[[], float]) -> list[AdsbUdpFeed]:
    """Open (and start) an :class:`AdsbUdpFeed` for every ``adsb_udp`` socket of
    ``partner``; ``clock``: the partner's scenario seconds."""
    feeds: list[AdsbUdpFeed] = []
    try:
        for p in sc.partners:
            for hp in p.adsb_udp if p.name == partner else []:
                sock = open_udp(hp, p.adsb_udp_iface or "0.0.0.0")
                feeds.append(AdsbUdpFeed(hp, p.name, clock, sc.civil, sock=sock).start())
    except BaseException:
        for f in feeds:
            f.close()
        raise
    return feeds
