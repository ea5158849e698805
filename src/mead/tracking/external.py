"""A partner's own national tracker as a track source: its ASTERIX CAT062 system tracks
become the partner's tracks, released under its policy beside its MEAD tracker's.

:class:`SystemTracks` keeps the newest record of each system track (by SAC/SIC and track
number) and reports them, predicted at constant velocity to the release time, as a
:class:`~mead.tracking.base.TrackReport`. Each track's covariance comes from its record's
I062/500 estimated accuracies where it has them
(:func:`~mead.sensors.asterix062.accuracies2enu`); where not — I500 is optional, and
edition 0.17 is not read for it — the feed's configured 1-σ errors stand in (position
error grows with the record's age by the velocity error). A track not updated for
``max_age_s``, or whose last record says it ended (I062/080 TSE), is dropped and reported
as deleted.

Records come from a recording, read once and released on the scenario clock from
``start_s`` (:func:`track_replays`), or from a UDP socket in a live node
(:class:`UdpTrackFeed`: a thread only receives, the node's step decodes), with record
times anchored on the first record's arrival as a UDP radar's are.
"""

from __future__ import annotations

import math
import socket
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mead import geo
from mead.errors import AsterixError, ConfigError
from mead.scenario.schema import Scenario, TrackFeed
from mead.sensors import asterix as ax
from mead.sensors.asterix062 import Tracks062, accuracies2enu, decode062_blocks
from mead.sensors.asterix_feed import DatagramReceiver, FeedClock, Listening, open_udp
from mead.tracking.base import TrackReport

NO_ALT_SIGMA_M = 5000.0
"""1-σ altitude error of a track whose records carry no altitude (set to 0 m), m."""
NO_VEL_SIGMA_MPS = 250.0
"""1-σ velocity error per axis of a track whose records carry no velocity (set to 0), m/s."""

# columns of a stored record: t, lat, lon, alt m, v east, north, up (NaN where absent), ended,
# then its I062/500 1-σ errors (NaN where absent): east, north m, Cov(e, n) m², up m,
# v east, north, up m/s
_T, _LAT, _LON, _ALT, _VE, _VN, _VU, _END = range(8)
_SE, _SN, _CEN, _SU, _SVE, _SVN, _SVU = range(8, 15)


def records2rows(tracks: Tracks062, t_s: np.ndarray) -> np.ndarray:
    """(R, 15) [t s, lat deg, lon deg, alt m, v east, north, up m/s, ended, σe m, σn m,
    Cov(e, n) m², σu m, σve, σvn, σvu m/s] of decoded records at scenario times ``t_s``
    (R,): altitude from I130, else the flight level (pressure altitude taken as geometric),
    else NaN; σu the I500 σ of the altitude used (geometric or barometric)."""
    alt = np.asarray(tracks.alt_ft, dtype=np.float64) * ax.FT_M
    fl_m = np.asarray(tracks.fl, dtype=np.float64) * 100.0 * ax.FT_M
    acc = accuracies2enu(tracks)  # (R, 8)
    geometric = np.isfinite(alt)
    alt = np.where(geometric, alt, fl_m)
    s_alt = np.where(geometric, acc[:, 3], acc[:, 4])
    return np.column_stack([
        t_s, tracks.lat_deg, tracks.lon_deg, alt, tracks.vx_mps, tracks.vy_mps, tracks.vz_mps,
        np.asarray(tracks.ended, dtype=np.float64), acc[:, :3], s_alt, acc[:, 5:],
    ]).reshape(len(tracks), 15)  # fmt: skip


class SystemTracks:
    """The system tracks of one CAT062 feed, as the partner's tracks (a ``TrackSource``).

    :meth:`take` queues decoded records with their scenario times; :meth:`report` applies
    those up to its time and reports the live tracks."""

    def __init__(self, feed: TrackFeed, partner: str) -> None:
        self.feed, self.partner = feed, partner
        self.sac_sic = feed.sac_sic()
        self.counters: Counter[str] = Counter()
        self._pending: list[tuple[float, tuple[int, int, int], np.ndarray]] = []
        self._newest: dict[tuple[int, int, int], np.ndarray] = {}  # key → record row
        self._reported: set[str] = set()

    def take(self, tracks: Tracks062, t_s: np.ndarray) -> None:
        """Queue decoded records (R) with their scenario times ``t_s`` (R,); records of
        another source, or without time, position or track number, are skipped."""
        rows = records2rows(tracks, t_s)
        sac, sic, tn = (np.asarray(c) for c in (tracks.sac, tracks.sic, tracks.track))
        ok = np.isfinite(rows[:, :3]).all(axis=1) & (tn >= 0)
        if self.sac_sic is not None:
            ok &= (sac == self.sac_sic[0]) & (sic == self.sac_sic[1])
        self.counters["records"] += int(ok.sum())
        self.counters["skipped_records"] += int((~ok).sum())
        for i in np.flatnonzero(ok):
            key = (int(sac[i]), int(sic[i]), int(tn[i]))
            self._pending.append((float(rows[i, _T]), key, rows[i]))
        self._pending.sort(key=lambda r: r[0])

    def report(self, t: float) -> TrackReport:
        """Tracks at scenario time ``t``: records up to ``t`` applied, live tracks predicted
        to ``t``; tracks reported before and gone now are ``deleted``."""
        n = next((k for k, r in enumerate(self._pending) if r[0] > t), len(self._pending))
        for t_rec, key, row in self._pending[:n]:
            held = self._newest.get(key)
            if held is None or t_rec >= held[_T]:  # a late, older record changes nothing
                self._newest[key] = row
        del self._pending[:n]
        live = {k: r for k, r in self._newest.items()
                if t - r[_T] <= self.feed.max_age_s and not r[_END]}  # fmt: skip
        self._newest = live
        keys = list(live)
        ids = [self._id(k) for k in keys]
        deleted = sorted(self._reported - set(ids))
        self._reported = set(ids)
        if not keys:
            return TrackReport(float(t), [], np.empty((0, 6)), np.empty((0, 6, 6)),
                               np.empty(0), [], deleted)  # fmt: skip
        x, P = self._states(np.array([self._newest[k] for k in keys]), t)
        sensors: list[tuple[str, ...]] = [(self.feed.id,)] * len(keys)
        return TrackReport(float(t), ids, x, P, np.ones(len(keys)), sensors, deleted)

    def _id(self, key: tuple[int, int, int]) -> str:
        """A stable id per system track; its trailing digits are the CAT062 track number."""
        sac, sic, tn = key
        return f"{self.partner}-{self.feed.id}-{sac}.{sic}-{tn:05d}"

    def _states(self, rows: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(N, 6) ECEF states and (N, 6, 6) covariances of records (N, 15) predicted to ``t``
        at constant velocity."""
        f = self.feed
        has_alt = np.isfinite(rows[:, _ALT])
        has_vel = np.isfinite(rows[:, _VE : _VN + 1]).all(axis=1)
        has_vu = np.isfinite(rows[:, _VU])
        alt = np.where(has_alt, rows[:, _ALT], 0.0)
        v_enu = np.where(np.column_stack([has_vel, has_vel, has_vu]), rows[:, _VE : _VU + 1], 0.0)
        R = geo.enu_rotations(rows[:, _LAT], rows[:, _LON])  # (N, 3, 3) ECEF → ENU
        vel = np.einsum("nji,nj->ni", R, v_enu)
        dt = np.maximum(t - rows[:, _T], 0.0)
        pos = geo.geodetic2ecef(rows[:, _LAT], rows[:, _LON], alt).reshape(-1, 3)
        pos = pos + vel * dt[:, None]
        Dp, Dv = _enu_covariances(rows, f)
        Dp = Dp + Dv * (dt**2)[:, None, None]  # the position error grows with the age
        Rt = R.swapaxes(-1, -2)
        P = np.zeros((len(rows), 6, 6))
        P[:, :3, :3] = Rt @ Dp @ R
        P[:, 3:, 3:] = Rt @ Dv @ R
        return np.hstack([pos, vel]), P


def _enu_covariances(rows: np.ndarray, feed: TrackFeed) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 3) position and (N, 3, 3) velocity covariances in ENU at each record's time,
    from its I500 errors where given, else ``feed``'s 1-σ errors (or the no-altitude and
    no-velocity ones where the record has none)."""
    has_alt = np.isfinite(rows[:, _ALT])
    has_vel = np.isfinite(rows[:, _VE : _VN + 1]).all(axis=1)
    has_vu = np.isfinite(rows[:, _VU])

    def pick(col: int, default: np.ndarray | float) -> np.ndarray:
        return np.where(np.isfinite(rows[:, col]), rows[:, col], default)

    has_sh = np.isfinite(rows[:, _SE]) & np.isfinite(rows[:, _SN])
    sv = np.where(has_vel, feed.sigma_vel_mps, NO_VEL_SIGMA_MPS)  # (N,) horizontal
    su = np.where(has_vu, feed.sigma_vel_mps, NO_VEL_SIGMA_MPS)  # (N,) vertical
    Dp = np.zeros((len(rows), 3, 3))
    Dp[:, 0, 0] = np.where(has_sh, rows[:, _SE], feed.sigma_m) ** 2
    Dp[:, 1, 1] = np.where(has_sh, rows[:, _SN], feed.sigma_m) ** 2
    Dp[:, 0, 1] = Dp[:, 1, 0] = np.where(has_sh, np.nan_to_num(rows[:, _CEN]), 0.0)
    Dp[:, 2, 2] = np.where(has_alt, pick(_SU, feed.sigma_alt_m), NO_ALT_SIGMA_M) ** 2
    Dv = np.zeros((len(rows), 3, 3))
    Dv[:, 0, 0] = np.where(has_vel, pick(_SVE, sv), sv) ** 2
    Dv[:, 1, 1] = np.where(has_vel, pick(_SVN, sv), sv) ** 2
    Dv[:, 2, 2] = np.where(has_vu, pick(_SVU, su), su) ** 2
    return Dp, Dv


def replay_tracks(feed: TrackFeed, partner: str, path: Path) -> SystemTracks:
    """A recorded CAT062 feed as :class:`SystemTracks`: every record queued at scenario
    time ``start_s`` + (its time of day − the first record's), midnight unwrapped; bad
    blocks are counted (``errors``), never raised."""
    if not path.is_file():
        raise ConfigError(str(path), f"system tracks {feed.id!r}: no such ASTERIX recording")
    tracks = decode062_blocks(ax.read_blocks(path), feed.edition)
    src = SystemTracks(feed, partner)
    src.counters["errors"] += len(tracks.errors)
    tod = ax.unwrap_tod(np.asarray(tracks.tod_s, dtype=np.float64))
    ok = np.isfinite(tod)
    t0 = float(tod[ok][0]) if ok.any() else 0.0
    src.take(tracks, tod - t0 + feed.start_s)
    return src


def track_feeds(
    sc: Scenario, kind: str, partner: str | None = None
) -> list[tuple[str, TrackFeed]]:
    """(partner, feed) of every system-track feed of ``kind`` ('file' or 'udp')."""
    return [
        (p.name, f)
        for p in sc.partners
        for f in p.system_tracks
        if getattr(f, kind) is not None and (partner is None or p.name == partner)
    ]


def track_replays(sc: Scenario, base: Path, partner: str) -> list[SystemTracks]:
    """The recorded system-track feeds of ``partner``, paths relative to ``base``."""
    return [replay_tracks(f, p, base / f.file) for p, f in track_feeds(sc, "file", partner)]  # type: ignore[operator]


class UdpTrackFeed(SystemTracks, Listening):
    """System tracks received live on a UDP socket: a thread only receives
    (:class:`~mead.sensors.asterix_feed.DatagramReceiver`); :meth:`report` decodes what
    arrived first. Record times are the feed's times of day anchored on the first record's
    arrival time on ``clock`` (scenario s) and unwrapped across midnight."""

    def __init__(
        self, feed: TrackFeed, partner: str, clock: Callable[[], float],
        sock: socket.socket | None = None,
    ) -> None:  # fmt: skip
        if feed.udp is None:
            raise ConfigError(feed.id, "not a UDP system-track feed", "udp")
        super().__init__(feed, partner)
        self.errors: deque[AsterixError] = deque(maxlen=20)  # the newest, for a log
        sock = sock if sock is not None else open_udp(feed.udp, feed.iface or "0.0.0.0")
        self._rx = DatagramReceiver(sock, clock, f"cat062-{feed.id}",
                                    self.counters)  # fmt: skip
        self._time = FeedClock()

    def report(self, t: float) -> TrackReport:
        for t_arrival, data in self._rx.drain():
            self.take_datagram(data, t_arrival)
        return super().report(t)

    def take_datagram(self, data: bytes, t_arrival: float) -> None:
        """Decode one datagram that arrived at scenario time ``t_arrival``; bad blocks and
        records are counted (and the newest kept in ``errors``), never raised."""
        self.counters["datagrams"] += 1
        tracks = decode062_blocks(ax.iter_blocks(data), self.feed.edition)
        self.counters["errors"] += len(tracks.errors)
        self.errors.extend(tracks.errors)
        t = np.full(len(tracks), math.nan)
        for i, tod in enumerate(tracks.tod_s):
            if not math.isfinite(tod):
                continue
            t[i] = self._time(tod, t_arrival)
        self.take(tracks, t)


def udp_track_feeds(sc: Scenario, partner: str, clock: Callable[[], float]) -> list[UdpTrackFeed]:
    """Open (and start) a :class:`UdpTrackFeed` for every UDP system-track feed of
    ``partner``."""
    feeds: list[UdpTrackFeed] = []
    try:
        for p, f in track_feeds(sc, "udp", partner):
            feeds.append(UdpTrackFeed(f, p, clock).start())
    except BaseException:
        for u in feeds:
            u.close()
        raise
    return feeds
