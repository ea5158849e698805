"""A partner's local multi-target tracker: radar scans in, confirmed ECEF tracks out.

Each ``step(scan)`` runs one cycle over all tracks at once:

    predict (motion) → gate (coarse k-d tree, then χ²) → associate (GNN) → EKF update
    → record hits / misses (coverage) → initiate from unused plots → confirm / delete

Scans are radar ``Scan``s (polar plots at a site) or ``CartesianScan``s (local Cartesian
positions); each brings its measurement model (``Site`` or ``CartesianFrame``, see
``measurement``), which the gate, the update and the initiator use.

The motion model, gate, associator, initiator, manager and coverage are injected through
the protocols beside their implementations (``MotionModel``, ``Gate``, ``Associator``,
``Initiator``, ``TrackManager``, ``Coverage``), so an IMM filter, JPDA or MHT can replace
a stage without touching the others. Scans come from all of one partner's radars (any
number of sites) in time order; a scan older than the latest one is dropped and counted
(out-of-sequence handling is a later stage).

A track *misses* on a scan when it gets no plot although the scan's radar covers its
predicted position and has detected it before. The second condition keeps a radar that
cannot see a target at all (below its horizon, too small at that range) from killing
tracks held by the partner's other radars: on the reference scenario, counting misses
from every covering radar lost 17 of 40 aircraft of partner P1, whose 1,300 km sector
radar covers, by range and azimuth, targets only its 400 km radar detects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from mead.errors import MeadError
from mead.sensors.base import Scan
from mead.tracking.association import GNN, Associator
from mead.tracking.base import CartesianScan, TrackReport
from mead.tracking.gating import ChiSquareGate, Gate, Gated
from mead.tracking.imm import MultipleModel
from mead.tracking.management import (
    Coverage,
    Initiator,
    MOfNManager,
    OnePointInitiator,
    RadarCoverage,
    TrackManager,
)
from mead.tracking.measurement import MeasurementModel, Site, kf_update
from mead.tracking.motion import ConstantVelocity, MotionModel
from mead.tracking.table import TrackTable
from mead.types import Array, Covs, Index, Meas, States


class BadScan(MeadError, ValueError):
    """A scan handed to a tracker is malformed; ``sensor_id`` and ``field`` say where."""

    def __init__(self, sensor_id: str, field: str, detail: str) -> None:
        self.sensor_id, self.field, self.detail = sensor_id, field, detail
        super().__init__(f"scan from sensor {sensor_id!r}: {field} {detail}")


class Tracker:
    """One partner's multi-target tracker over the scans of all its radars.

    Parameters
    ----------
    partner : pseudonym of the owning partner; track ids read ``"<partner>-T000042"``.
    motion : predicts states and covariances (default ``ConstantVelocity()``); a
        ``MultipleModel`` such as ``IMM()`` also predicts and updates each track's modes.
    gate : pairs tracks with plots (default ``ChiSquareGate()``, 99.9 %).
    associator : picks one plot per track (default ``GNN()``).
    initiator : starts tentative tracks from unused plots (default ``OnePointInitiator()``).
    manager : confirms, deletes and scores tracks (default ``MOfNManager()``, 3 of 4).
    coverage : which tracks each radar could have seen, for counting misses: a
        ``Coverage``, or a mapping sensor id → maximum range m (``RadarCoverage``; other
        sensors are learned), or None to learn each radar's range and azimuth extent from
        its plots.
    """

    def __init__(
        self,
        partner: str,
        *,
        motion: MotionModel | None = None,
        gate: Gate | None = None,
        associator: Associator | None = None,
        initiator: Initiator | None = None,
        manager: TrackManager | None = None,
        coverage: Coverage | Mapping[str, float] | None = None,
    ) -> None:
        self.partner = partner
        self.motion: MotionModel = motion or ConstantVelocity()
        self.gate: Gate = gate or ChiSquareGate()
        self.associator: Associator = associator or GNN()
        self.initiator: Initiator = initiator or OnePointInitiator()
        self.manager: TrackManager = manager or MOfNManager()
        if coverage is None or isinstance(coverage, Mapping):
            coverage = RadarCoverage(coverage)
        self.coverage: Coverage = coverage
        self._modes = self.motion.n_modes if isinstance(self.motion, MultipleModel) else 0
        self.table = TrackTable.empty(n_modes=self._modes)
        self.sensor_ids: list[str] = []  # column order of ``table.sensors``
        self.t: float | None = None  # time of the latest scan, s
        self.counters: Counter[str] = Counter()  # scans, plots, tracks_* … for diagnostics
        self._sites: dict[str, Site] = {}
        self._next_uid = 0
        self._next_number = 1
        self._deleted: list[str] = []

    @property
    def n_tracks(self) -> int:
        """Number of tracks, tentative and confirmed."""
        return len(self.table)

    @property
    def n_confirmed(self) -> int:
        """Number of confirmed tracks."""
        return int(np.count_nonzero(self.table.confirmed))

    def step(self, scan: Scan | CartesianScan) -> None:
        """Process one scan: predict to ``scan.t``, associate, update, initiate, manage."""
        z, sigma = _check_scan(scan)
        model = self._model(scan)
        problem = model.check(z)
        if problem is not None:
            raise BadScan(scan.sensor_id, "z", problem)
        if self.t is not None and scan.t < self.t:
            self.counters["scans_out_of_order"] += 1
            return
        self.t = float(scan.t)
        self.counters["scans"] += 1
        self.counters["plots"] += len(z)
        col = self._sensor_column(scan.sensor_id)
        self.coverage.observe(scan.sensor_id, model.polar(z))
        self._predict(self.t)
        tab = self.table
        hit, used = np.zeros(len(tab), bool), np.zeros(len(z), bool)
        if len(tab) and len(z):
            gated = self.gate.gate(tab.x, tab.P, z, sigma, model)
            chosen = self.associator.associate(gated)
            self._update(gated, chosen, sigma, col)
            hit[gated.track[chosen]] = True
            used[gated.plot[chosen]] = True
            self.counters["plots_associated"] += len(chosen)
        # a miss needs a radar that covers the track and has detected it before (module doc)
        seen = tab.sensors[:, col]
        miss = ~hit & seen & self.coverage.covers(scan.sensor_id, model, tab.x[:, :3])
        self.manager.record(tab, hit, miss)
        lost = miss & tab.confirmed  # a confirmed track missed in coverage may be manoeuvring
        tab.q_scale[lost] = self.motion.adapt(tab.q_scale[lost], np.full(lost.sum(), np.inf))
        self._initiate(z[~used], sigma, model, col)
        self._manage(self.t)

    def report(self, t: float) -> TrackReport:
        """Confirmed tracks predicted to ``t`` (s), and the confirmed tracks deleted since."""
        tab = self.table
        rows = np.flatnonzero(tab.confirmed)
        deleted, self._deleted = self._deleted, []
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
        if self._modes:
            *_, x, P = self.motion.predict_modes(tab.mu[rows], tab.xm[rows], tab.Pm[rows], dt)
            return x, P
        return self.motion.predict(tab.x[rows], tab.P[rows], dt, tab.q_scale[rows])

    def _predict(self, t: float) -> None:
        tab = self.table
        if not len(tab):
            return
        dt = t - tab.t
        if self._modes:
            tab.mu, tab.xm, tab.Pm, tab.x, tab.P = self.motion.predict_modes(
                tab.mu, tab.xm, tab.Pm, dt
            )
        else:
            tab.x, tab.P = self.motion.predict(tab.x, tab.P, dt, tab.q_scale)
        tab.t = np.full(len(tab), t)

    def _update(self, gated: Gated, chosen: Index, sigma: Array, col: int) -> None:
        """EKF update of the tracks given a plot, from the gate's innovations and Jacobians."""
        tab, rows = self.table, gated.track[chosen]
        y, H, R = gated.y[chosen], gated.pred.H[gated.row[chosen]], np.diag(np.square(sigma))
        if self._modes:
            tab.mu[rows], tab.xm[rows], tab.Pm[rows], tab.x[rows], tab.P[rows] = (
                self.motion.update_modes(
                    tab.mu[rows], tab.xm[rows], tab.Pm[rows], tab.x[rows], y, H, R
                )
            )
        else:
            tab.x[rows], tab.P[rows] = kf_update(tab.x[rows], tab.P[rows], y, H, R)
        tab.q_scale[rows] = self.motion.adapt(tab.q_scale[rows], gated.d2[chosen])
        tab.t_update[rows] = tab.t[rows]
        tab.sensors[rows, col] = True

    def _initiate(self, z: Meas, sigma: Array, model: MeasurementModel, col: int) -> None:
        if len(z) == 0:
            return
        assert self.t is not None
        x, P = self.initiator.initiate(z, sigma, model)
        uid = np.arange(self._next_uid, self._next_uid + len(z))
        self._next_uid += len(z)
        modes = self.motion.start(x, P) if self._modes else None
        self.table.append(TrackTable.new(uid, x, P, self.t, col, len(self.sensor_ids), modes))
        self.counters["tracks_initiated"] += len(z)

    def _manage(self, t: float) -> None:
        """Confirm tracks meeting the rule (they get a number), then delete the dead."""
        tab = self.table
        new = np.flatnonzero(self.manager.confirm(tab))
        tab.number[new] = np.arange(self._next_number, self._next_number + len(new))
        self._next_number += len(new)
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
        combos, inverse = np.unique(self.table.sensors[rows], axis=0, return_inverse=True)
        names = [tuple(self.sensor_ids[k] for k in np.flatnonzero(c)) for c in combos]
        return [names[i] for i in inverse.reshape(-1).tolist()]


def _check_scan(scan: Scan | CartesianScan) -> tuple[Meas, Array]:
    """The scan's plots (M, 3) and noise (3,) as float64, or ``BadScan`` naming the field."""
    sid = getattr(scan, "sensor_id", "?")
    z = np.asarray(scan.z, dtype=np.float64)
    if z.size == 0:
        z = np.empty((0, 3))
    if z.ndim != 2 or z.shape[1] != 3:
        raise BadScan(sid, "z", f"must have shape (M, 3) (got {z.shape})")
    if not np.isfinite(z).all():
        raise BadScan(sid, "z", "must be finite (got NaN or inf)")
    sigma = np.asarray(scan.sigma, dtype=np.float64)
    if sigma.shape != (3,) or not np.isfinite(sigma).all() or (sigma <= 0).any():
        raise BadScan(sid, "sigma", f"must be 3 finite values > 0 (got {sigma.tolist()})")
    if not np.isfinite(scan.t):
        raise BadScan(sid, "t", f"must be finite (got {scan.t})")
    if isinstance(scan, CartesianScan):
        return z, sigma
    site = (scan.site_lat_deg, scan.site_lon_deg, scan.site_alt_m)
    if not (np.isfinite(site).all() and abs(scan.site_lat_deg) <= 90):
        raise BadScan(sid, "site", f"must be a finite lat (deg), lon (deg), alt (m) (got {site})")
    return z, sigma
