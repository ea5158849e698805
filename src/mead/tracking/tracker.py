"""A partner's local multi-target tracker: radar scans in, confirmed ECEF tracks out.

Each ``step(scan)`` runs one cycle over all tracks at once:

    predict (motion) → gate (coarse k-d tree, then χ²) → associate (GNN, or JPDA) → EKF
    (or PDA) update → record hits / misses (coverage) → initiate from unused plots →
    confirm / delete

Scans are radar ``Scan``s (polar plots at a site) or ``CartesianScan``s (local Cartesian
positions); each brings its measurement model (``Site`` or ``CartesianFrame``, see
``measurement``), which the gate, the update and the initiator use. A radar that measures
Doppler sends plots with a fourth column, the range rate (z (M, 4), sigma (4,)): the gate,
the update and the initiator then use it too, scan by scan, so radars with and without
range rate feed the same tracks.

The motion model, gate, associator, initiator, manager and coverage are injected through
the protocols beside their implementations (``MotionModel``, ``Gate``, ``Associator``,
``Initiator``, ``TrackManager``, ``Coverage``), so an IMM filter, JPDA or MHT can replace
a stage without touching the others. Scans come from all of one partner's radars (any
number of sites).

Out-of-order scans. Radars report over links of different latency, so a scan can arrive
after a later scan of another radar. The tracker keeps the scans of the last
``reorder_window_s`` seconds and, every ``checkpoint_s``, a checkpoint of its state. A
late scan inside that window rewinds the tracker to the last checkpoint before it and
replays the kept scans and the late one in time order: the result is exactly what
in-order delivery would have given (reprocessing; Bar-Shalom, Chen & Mallick 2004 compare
it with the one-step OOSM filters, which approximate it). A track's uid is derived from
the scan and plot that started it, and a confirmed track keeps its number across replays,
so a replay that changes nothing about a track keeps its id; a confirmed track that a
replay undoes is reported as deleted. A scan older than the window is dropped and counted
(``scans_too_late``). Replays cost a copy of the track table every ``checkpoint_s`` and
the reprocessing of the scans after the checkpoint.

A track *misses* on a scan when it gets no plot although the scan's radar covers its
predicted position and has detected it before. The second condition keeps a radar that
cannot see a target at all (below its horizon, too small at that range) from killing
tracks held by the partner's other radars: on the reference scenario, counting misses
from every covering radar lost 17 of 40 aircraft of partner P1, whose 1,300 km sector
radar covers, by range and azimuth, targets only its 400 km radar detects.
"""

from __future__ import annotations

import bisect
import copy
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import cast

import numpy as np

from mead.errors import BadScan
from mead.sensors.base import Scan
from mead.tracking.association import GNN, Associator, SoftAssociator
from mead.tracking.base import CartesianScan, TrackReport
from mead.tracking.gating import ChiSquareGate, Gate, Gated, coarse_pairs
from mead.tracking.imm import MultipleModel
from mead.tracking.jpda import imm_pda_update, pda_update
from mead.tracking.management import (
    Coverage,
    Initiator,
    MOfNManager,
    OnePointInitiator,
    RadarCoverage,
    TrackManager,
)
from mead.tracking.measurement import MeasurementModel, Site, kf_update
from mead.tracking.motion import ConstantVelocity, MotionModel, free_flight
from mead.tracking.score import ClutterMap, log_likelihood
from mead.tracking.table import TrackTable
from mead.types import Array, Covs, Index, Meas, States

UID_PLOT_BITS = 24
"""A track's uid is (arrival serial of its first scan) << 24 | (index of its first plot)."""


@dataclass(frozen=True)
class _Checkpoint:
    """The tracker's state just before the scan at absolute history index ``index``."""

    index: int
    t_scan: float  # time of that scan, s
    table: TrackTable
    t: float | None
    coverage: Coverage
    clutter: ClutterMap


MANOEUVRE_NEAR_M = 10_000.0
"""A confirmed track in free flight (``mead.tracking.motion.FREE_FLIGHT_M``) that misses a
scan inside coverage counts as manoeuvring only if a plot of that scan lies within this of
its prediction (whether or not another track took it): a boost that carried it out of its
gate. With none near, the radar missed it (an early-warning radar at 1,000 km misses a
small missile on many scans), and raising its process noise on every such miss left
coasting missiles' velocity σ at 100–350 m/s for minutes. Below free flight every miss
counts."""


class Tracker:
    """One partner's multi-target tracker over the scans of all its radars.

    Parameters
    ----------
    partner : pseudonym of the owning partner; track ids read ``"<partner>-T000042"``.
    motion : predicts states and covariances (default ``ConstantVelocity()``); a
        ``MultipleModel`` such as ``IMM()`` also predicts and updates each track's modes.
    gate : pairs tracks with plots (default ``ChiSquareGate()``, 99.9 %).
    associator : picks one plot per track (default ``GNN()``), or weighs all its gated plots
        (a ``SoftAssociator`` such as ``JPDA()``: PDA update, with an IMM too).
    initiator : starts tentative tracks from unused plots (default ``OnePointInitiator()``).
    manager : confirms, deletes and scores tracks (default ``MOfNManager()``: 3 of 4, or a
        track score of ``CONFIRM_LLR`` with the per-radar clutter density of ``clutter``).
    coverage : which tracks each radar could have seen, for counting misses: a
        ``Coverage``, or a mapping sensor id → maximum range m (``RadarCoverage``; other
        sensors are learned), or None to learn each radar's range and azimuth extent from
        its plots.
    reorder_window_s : how late (s, behind the latest scan) a scan may arrive and still be
        processed in time order by rewinding and replaying (module doc); 0 drops every
        late scan and keeps no checkpoints.
    checkpoint_s : spacing of the checkpoints in the window, s (0: before every scan); a
        replay starts at the last checkpoint before the late scan. On the reference
        scenario (radars 0.5–4 s late) 1 s replays 12k scans for 10k late ones, 5 s 19k;
        memory is one track table per checkpoint (≈ 6 MB at 15,000 tracks).
    """

    def __init__(
        self,
        partner: str,
        *,
        motion: MotionModel | None = None,
        gate: Gate | None = None,
        associator: Associator | SoftAssociator | None = None,
        initiator: Initiator | None = None,
        manager: TrackManager | None = None,
        coverage: Coverage | Mapping[str, float] | None = None,
        reorder_window_s: float = 30.0,
        checkpoint_s: float = 1.0,
    ) -> None:
        if not (np.isfinite(reorder_window_s) and reorder_window_s >= 0):
            raise ValueError(f"reorder_window_s must be >= 0 s (got {reorder_window_s})")
        if not (np.isfinite(checkpoint_s) and checkpoint_s >= 0):
            raise ValueError(f"checkpoint_s must be >= 0 s (got {checkpoint_s})")
        self.partner = partner
        self.reorder_window_s = float(reorder_window_s)
        self.checkpoint_s = float(checkpoint_s)
        self.motion: MotionModel = motion or ConstantVelocity()
        self.gate: Gate = gate or ChiSquareGate()
        self.associator: Associator | SoftAssociator = associator or GNN()
        self.initiator: Initiator = initiator or OnePointInitiator()
        self.manager: TrackManager = manager or MOfNManager()
        if coverage is None or isinstance(coverage, Mapping):
            coverage = RadarCoverage(coverage)
        self.coverage: Coverage = coverage
        self.clutter = ClutterMap()  # learned false-plot density per sensor (track score)
        self._mm: MultipleModel | None = (
            self.motion if isinstance(self.motion, MultipleModel) else None
        )  # the motion model again, typed as multiple-model, or None
        self._modes = self._mm.n_modes if self._mm is not None else 0
        self.table = TrackTable.empty(
            n_modes=self._modes, mode_dim=getattr(self.motion, "mode_dim", 6)
        )
        self.sensor_ids: list[str] = []  # column order of ``table.sensors``
        self.t: float | None = None  # time of the latest scan, s
        self.counters: Counter[str] = Counter()  # scans, plots, tracks_* … for diagnostics
        self._sites: dict[str, Site] = {}
        self._serial = 0  # scans received so far
        self._next_number = 1
        self._numbers: dict[int, int] = {}  # uid → number, kept across replays
        self._numbered: deque[tuple[float, int]] = deque()  # (time numbered, uid)
        self._deleted: list[str] = []
        self._scans: deque[tuple[Scan | CartesianScan, int]] = deque()  # (scan, serial)
        self._first = 0  # absolute history index of self._scans[0]
        self._checkpoints: deque[_Checkpoint] = deque()

    @property
    def n_tracks(self) -> int:
        """Number of tracks, tentative and confirmed."""
        return len(self.table)

    @property
    def n_confirmed(self) -> int:
        """Number of confirmed tracks."""
        return int(np.count_nonzero(self.table.confirmed))

    def step(self, scan: Scan | CartesianScan) -> None:
        """Process one scan: predict to ``scan.t``, associate, update, initiate, manage.

        A scan older than the latest one is replayed in time order if it is inside the
        reorder window, else dropped and counted (module doc).
        """
        z, _ = _check_scan(scan)
        problem = self._model(scan).check(z)
        if problem is not None:
            raise BadScan(scan.sensor_id, "z", problem)
        if len(z) >> UID_PLOT_BITS:
            raise BadScan(scan.sensor_id, "z", f"has {len(z)} plots (at most {2**24 - 1})")
        serial, self._serial = self._serial, self._serial + 1
        self.counters["scans"] += 1
        self.counters["plots"] += len(z)
        if self.t is None or scan.t >= self.t:
            self._run(scan, serial)
            return
        if scan.t < self.t - self.reorder_window_s or not self._checkpoints:
            self.counters["scans_too_late"] += 1
            return
        # the late scan goes after every kept scan at or before its time (absolute index k)
        k = self._first + bisect.bisect_right([s.t for s, _ in self._scans], scan.t)
        c = next(c for c in reversed(self._checkpoints) if c.index <= k)
        self.counters["scans_out_of_order"] += 1
        before = set(self.table.number[self.table.confirmed].tolist())
        kept = list(self._scans)
        replay = kept[c.index - self._first : k - self._first] + [(scan, serial)]
        replay += kept[k - self._first :]
        self._restore(c)
        while self._checkpoints[-1].index > c.index:
            self._checkpoints.pop()
        for _ in range(self._first + len(self._scans) - c.index):
            self._scans.pop()
        for s, n in replay:
            self._run(s, n)
        self.counters["scans_replayed"] += len(replay) - 1
        undone = before - set(self.table.number[self.table.confirmed].tolist())
        self._deleted.extend(self._track_id(n) for n in sorted(undone))

    def _run(self, scan: Scan | CartesianScan, serial: int) -> None:
        """Keep the scan (and a checkpoint every ``checkpoint_s``), process it, forget what
        is out of the reorder window."""
        if self.reorder_window_s > 0:
            index = self._first + len(self._scans)
            last = self._checkpoints[-1].t_scan if self._checkpoints else -np.inf
            if scan.t - last >= self.checkpoint_s:
                state = (
                    _copy(self.table),
                    self.t,
                    copy.deepcopy(self.coverage),
                    copy.deepcopy(self.clutter),
                )
                self._checkpoints.append(_Checkpoint(index, float(scan.t), *state))
            self._scans.append((scan, serial))
            # keep the newest checkpoint at or before the horizon, and the scans after it
            horizon = float(scan.t) - self.reorder_window_s
            while len(self._checkpoints) > 1 and self._checkpoints[1].t_scan <= horizon:
                self._checkpoints.popleft()
            while self._first < self._checkpoints[0].index:
                self._scans.popleft()
                self._first += 1
        self._process(scan, serial)

    def _restore(self, c: _Checkpoint) -> None:
        """Put the tracker back in the state of checkpoint ``c``."""
        self.table, self.t = _copy(c.table), c.t
        self.coverage, self.clutter = copy.deepcopy(c.coverage), copy.deepcopy(c.clutter)
        while self.table.sensors.shape[1] < len(self.sensor_ids):
            self.table.add_sensor_column()

    def _process(self, scan: Scan | CartesianScan, serial: int) -> None:
        """One in-order tracking cycle over a validated scan (arrival ``serial``)."""
        z, sigma = _check_scan(scan)
        model = self._model(scan)
        self.t = float(scan.t)
        col = self._sensor_column(scan.sensor_id)
        self.coverage.observe(scan.sensor_id, model.polar(z))
        self._predict(self.t)
        tab = self.table
        hit, used = np.zeros(len(tab), bool), np.zeros(len(z), bool)
        llr, n_false = np.zeros(len(tab)), len(z)
        if len(tab) and len(z):
            gated = self.gate.gate(tab.x, tab.P, z, sigma, model)
            rows, plots, lng = self._update(gated, sigma, col)
            hit[rows], used[plots], llr[rows] = True, True, lng
            n_false -= int(np.count_nonzero(tab.confirmed[rows]))
            self.counters["plots_associated"] += len(plots)
        self.clutter.observe(scan.sensor_id, z, n_false, polar=isinstance(model, Site))
        llr -= self.clutter.log_density(scan.sensor_id, sigma)
        # a miss needs a radar that covers the track and has detected it before (module doc)
        seen = tab.sensors[:, col]
        miss = ~hit & seen & self.coverage.covers(scan.sensor_id, model, tab.x[:, :3])
        self.manager.record(tab, hit, miss, llr)
        # a confirmed track missed in coverage may be manoeuvring; in free flight only if
        # a plot lies near it (a boost out of its gate), else the radar missed it and its
        # process noise stays
        lost = np.flatnonzero(miss & tab.confirmed)
        ff = np.flatnonzero(free_flight(tab.x[lost]))
        if ff.size:  # a free-flight miss with a plot near stays a manoeuvre
            r = np.full(ff.size, MANOEUVRE_NEAR_M)
            near, _ = coarse_pairs(tab.x[lost[ff], :3], r, model.to_ecef(z))
            ff = np.delete(ff, near)
        lost = np.delete(lost, ff)
        tab.q_scale[lost] = self.motion.adapt(tab.q_scale[lost], np.full(lost.size, np.inf))
        fresh = np.flatnonzero(~used)
        self._initiate(z[fresh], (serial << UID_PLOT_BITS) + fresh, sigma, model, col)
        self._manage(self.t)

    def report(self, t: float) -> TrackReport:
        """Confirmed tracks predicted to ``t`` (s), and the confirmed tracks deleted since."""
        tab = self.table
        rows = np.flatnonzero(tab.confirmed)
        deleted, self._deleted = list(dict.fromkeys(self._deleted)), []
        if len(rows) == 0:
            return TrackReport(
                float(t), [], np.empty((0, 6)), np.empty((0, 6, 6)), np.empty(0), [], deleted
            )
        x, P = self._predicted(rows, t)
        ids = [self._track_id(n) for n in tab.number[rows].tolist()]
        quality = self.manager.quality(tab)[rows]
        return TrackReport(float(t), ids, x, P, quality, self._sensor_tuples(rows), deleted)

    def _track_id(self, number: int) -> str:
        return f"{self.partner}-T{number:06d}"

    def _model(self, scan: Scan | CartesianScan) -> MeasurementModel:
        """The scan's measurement model: the one it carries, else its radar site."""
        if isinstance(scan, CartesianScan):
            return scan.model
        return self._site(scan)

    def _site(self, scan: Scan) -> Site:
        """The scan's site, cached per sensor (recomputed if the sensor has moved)."""
        key = (float(scan.site_lat_deg), float(scan.site_lon_deg), float(scan.site_alt_m))
        site = self._sites.get(scan.sensor_id)
        if site is None or (site.lat_deg, site.lon_deg, site.alt_m) != key:
            site = self._sites[scan.sensor_id] = Site.from_geodetic(*key)
        return site

    def _sensor_column(self, sensor_id: str) -> int:
        if sensor_id not in self.sensor_ids:
            self.sensor_ids.append(sensor_id)
            self.table.add_sensor_column()
        return self.sensor_ids.index(sensor_id)

    def _predicted(self, rows: Index, t: float) -> tuple[States, Covs]:
        """States and covariances of tracks ``rows`` predicted to ``t``, table unchanged."""
        tab, dt = self.table, t - self.table.t[rows]
        if self._mm is not None:
            *_, x, P = self._mm.predict_modes(tab.mu[rows], tab.xm[rows], tab.Pm[rows], dt)
            return x, P
        return self.motion.predict(tab.x[rows], tab.P[rows], dt, tab.q_scale[rows])

    def _predict(self, t: float) -> None:
        tab = self.table
        if not len(tab):
            return
        dt = t - tab.t
        if self._mm is not None:
            tab.mu, tab.xm, tab.Pm, tab.x, tab.P = self._mm.predict_modes(
                tab.mu, tab.xm, tab.Pm, dt
            )
        else:
            tab.x, tab.P = self.motion.predict(tab.x, tab.P, dt, tab.q_scale)
        tab.t = np.full(len(tab), t)

    def _update(self, gated: Gated, sigma: Array, col: int) -> tuple[Index, Index, Array]:
        """Associate and update (EKF, or PDA for a soft associator); rows hit, plots used
        and ln g of each hit (``score.log_likelihood``)."""
        if _soft_check(self.associator):
            return self._update_soft(gated, sigma, col)
        hard = cast(Associator, self.associator)  # _soft_check said so, cheaply
        chosen = hard.associate(gated, self.table.confirmed[gated.pred.idx])
        tab, rows = self.table, gated.track[chosen]
        y, H = gated.y[chosen], gated.pred.H[gated.row[chosen]]
        R = gated.pred.noise(sigma, gated.row[chosen])
        if self._mm is not None:
            tab.mu[rows], tab.xm[rows], tab.Pm[rows], tab.x[rows], tab.P[rows] = (
                self._mm.update_modes(
                    tab.mu[rows], tab.xm[rows], tab.Pm[rows], tab.x[rows], y, H, R
                )
            )
        else:
            tab.x[rows], tab.P[rows] = kf_update(tab.x[rows], tab.P[rows], y, H, R)
        tab.q_scale[rows] = self.motion.adapt(tab.q_scale[rows], gated.d2[chosen])
        tab.t_update[rows] = tab.t[rows]
        tab.sensors[rows, col] = True
        lng = log_likelihood(gated.d2[chosen], gated.logdet[chosen], gated.y.shape[1])
        return rows, gated.plot[chosen], lng

    def _update_soft(self, gated: Gated, sigma: Array, col: int) -> tuple[Index, Index, Array]:
        """PDA (or IMM-PDA) update of every gated track with the associator's marginals;
        a hit's ln g takes the probability-weighted d² of its plots."""
        assert isinstance(self.associator, SoftAssociator)
        tab = self.table
        soft = self.associator.marginals(gated, tab.confirmed[gated.pred.idx])
        has = np.bincount(gated.row, minlength=len(gated.pred.idx)) > 0
        R = gated.pred.noise(sigma, np.flatnonzero(has))
        sub = np.cumsum(has) - 1  # pred row → row among the gated tracks
        idx, row, b0, H = gated.pred.idx[has], sub[gated.row], soft.beta0[has], gated.pred.H[has]
        args = (b0, row, soft.beta, gated.y, H, R)
        if self._modes:
            tab.mu[idx], tab.xm[idx], tab.Pm[idx], tab.x[idx], tab.P[idx] = imm_pda_update(
                tab.mu[idx], tab.xm[idx], tab.Pm[idx], tab.x[idx], *args
            )
        else:
            tab.x[idx], tab.P[idx] = pda_update(tab.x[idx], tab.P[idx], *args)
        nis = np.bincount(row, soft.beta * gated.d2, len(idx)) / np.maximum(1.0 - b0, 1e-9)
        hit = soft.hit[has]
        rows = idx[hit]
        tab.q_scale[rows] = self.motion.adapt(tab.q_scale[rows], nis[hit])
        tab.t_update[rows] = tab.t[rows]
        tab.sensors[rows, col] = True
        lng = log_likelihood(nis[hit], gated.pred.logdet[has][hit], gated.y.shape[1])
        return rows, soft.used, lng

    def _initiate(
        self, z: Meas, uid: Index, sigma: Array, model: MeasurementModel, col: int
    ) -> None:
        if len(z) == 0:
            return
        assert self.t is not None
        x, P = self.initiator.initiate(z, sigma, model)
        modes = self._mm.start(x, P) if self._mm is not None else None
        self.table.append(TrackTable.new(uid, x, P, self.t, col, len(self.sensor_ids), modes))
        self.counters["tracks_initiated"] += len(z)

    def _manage(self, t: float) -> None:
        """Confirm tracks meeting the rule (they get a number), then delete the dead."""
        tab = self.table
        new = np.flatnonzero(self.manager.confirm(tab))
        for row, uid in zip(new.tolist(), tab.uid[new].tolist(), strict=True):
            if uid not in self._numbers:  # a replayed track keeps its number
                self._numbers[uid] = self._next_number
                self._numbered.append((t, uid))
                self._next_number += 1
            tab.number[row] = self._numbers[uid]
        # a number older than the window is never needed again by a replay
        while self._numbered and self._numbered[0][0] < t - self.reorder_window_s - 1.0:
            self._numbers.pop(self._numbered.popleft()[1], None)
        self.counters["tracks_confirmed"] += len(new)
        dead = self.manager.delete(tab, t)
        if dead.any():
            gone = tab.number[dead & tab.confirmed]
            self._deleted.extend(self._track_id(n) for n in gone.tolist())
            self.counters["tracks_deleted"] += len(gone)
            self.counters["tentative_deleted"] += int(dead.sum()) - len(gone)
            tab.keep(~dead)

    def _sensor_tuples(self, rows: Index) -> list[tuple[str, ...]]:
        """Ids of the contributing sensors of each row, one tuple per distinct combination."""
        used = self.table.sensors[rows]
        if used.shape[1] > 62:  # too many sensors for one int64 key per row
            combos, inverse = np.unique(used, axis=0, return_inverse=True)
            names = [tuple(self.sensor_ids[k] for k in np.flatnonzero(c)) for c in combos]
            return [names[i] for i in inverse.reshape(-1).tolist()]
        keys, inverse = np.unique(used @ (1 << np.arange(used.shape[1])), return_inverse=True)
        ids, cols = self.sensor_ids, range(used.shape[1])
        names = [tuple(ids[k] for k in cols if key >> k & 1) for key in keys.tolist()]
        return [names[i] for i in inverse.tolist()]


_SOFT: dict[type, bool] = {}


def _is_soft_type(cls: type) -> bool:
    if cls not in _SOFT:
        _SOFT[cls] = issubclass(cls, SoftAssociator)
    return _SOFT[cls]


def _soft_check(associator: object) -> bool:
    """Whether ``associator`` is a ``SoftAssociator`` (cached per class: a runtime protocol
    check walks the protocol's attributes, which is slow once per scan)."""
    return _is_soft_type(type(associator))


def _copy(table: TrackTable) -> TrackTable:
    """A deep copy of a track table (every array copied)."""
    return TrackTable(*(getattr(table, f.name).copy() for f in fields(table)))


def _check_scan(scan: Scan | CartesianScan) -> tuple[Meas, Array]:
    """The scan's plots (M, m) and noise (m,) as float64, or ``BadScan`` naming the field.

    m is 3, or 4 for a radar ``Scan`` with range rate; ``z`` and ``sigma`` must agree.
    """
    sid = getattr(scan, "sensor_id", "?")
    widths = (3,) if isinstance(scan, CartesianScan) else (3, 4)
    z = np.asarray(scan.z, dtype=np.float64)
    sigma = np.asarray(scan.sigma, dtype=np.float64)
    if z.size == 0:
        z = np.empty((0, len(sigma) if sigma.shape in {(3,), (4,)} else 3))
    expected = " or ".join(f"(M, {w})" for w in widths)
    if z.ndim != 2 or z.shape[1] not in widths:
        raise BadScan(sid, "z", f"must have shape {expected} (got {z.shape})")
    if not np.isfinite(z).all():
        raise BadScan(sid, "z", "must be finite (got NaN or inf)")
    m = z.shape[1]
    if sigma.shape != (m,) or not np.isfinite(sigma).all() or (sigma <= 0).any():
        raise BadScan(
            sid,
            "sigma",
            f"must be {m} finite values > 0, one per column of z (got {sigma.tolist()})",
        )
    if not np.isfinite(scan.t):
        raise BadScan(sid, "t", f"must be finite (got {scan.t})")
    if isinstance(scan, CartesianScan):
        return z, sigma
    site = (scan.site_lat_deg, scan.site_lon_deg, scan.site_alt_m)
    if not (np.isfinite(site).all() and abs(scan.site_lat_deg) <= 90):
        raise BadScan(sid, "site", f"must be a finite lat (deg), lon (deg), alt (m) (got {site})")
    return z, sigma
