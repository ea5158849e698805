"""Scan driver: runs every scenario radar over the truth for the whole run, in arrival order."""

from __future__ import annotations

import dataclasses
import multiprocessing

import numpy as np

from mead.coverage.dem import Dem
from mead.coverage.kernels import terrain_horizon
from mead.scenario.schema import Scenario
from mead.sensors.base import Scan
from mead.sensors.radar import Radar
from mead.sim.base import TruthTable
from mead.types import Array


def scan_times(duration_s: float, scan_s: float, phase_s: float) -> Array:
    """Scan instants (n,) s in [0, ``duration_s``): ``phase_s + k·scan_s`` for k = 0, 1, …

    Computed by multiplication, not accumulation, so late scans do not drift.
    """
    if not 0.0 <= phase_s < scan_s:
        raise ValueError(f"phase_s must be in [0, scan_s={scan_s:g}) (got {phase_s:g})")
    n = max(int(np.ceil((duration_s - phase_s) / scan_s)), 0)
    t = phase_s + scan_s * np.arange(n + 1, dtype=np.float64)
    return t[t < duration_s]


TERRAIN_RADIAL_M = 150.0
"""Spacing of the terrain radials at a simulated radar's full range, m (its masking angle
is looked up on the nearest radial)."""


def build_radars(scenario: Scenario, dem: Dem | None = None) -> list[Radar]:
    """One ``Radar`` per simulated scenario sensor, in scenario order (partners, then their
    sensors); a sensor with an ASTERIX feed is a real radar and is not simulated. With a
    ``dem``, each radar is masked by the terrain (:func:`mask_by_terrain`)."""
    radars = [Radar(s, p.name) for p in scenario.partners for s in p.sensors if s.asterix is None]
    if dem is not None:
        mask_by_terrain(radars, dem)
    return radars


def mask_by_terrain(radars: list[Radar], dem: Dem) -> None:
    """Give each radar the terrain's horizon around it: radials ``TERRAIN_RADIAL_M`` apart
    at full range, samples at the DEM's post spacing."""
    step = dem.post_spacing_m()
    for r in radars:
        site = r.sensor.site
        n_az = int(np.clip(np.ceil(2 * np.pi * r.range_m / TERRAIN_RADIAL_M), 360, 7200))
        horizon = terrain_horizon(
            dem.height_m, site.lat_deg, site.lon_deg, site.alt_m, r.range_m, n_az, step
        )
        r.terrain = (horizon, step)


def _within(scan: Scan, range_m: float) -> Scan:
    """``scan`` with only its plots (and clutter) closer than ``range_m`` (a degraded radar)."""
    keep = scan.z[:, 0] <= range_m
    return dataclasses.replace(scan, z=scan.z[keep], truth=scan.truth[keep])


def simulate_scans(
    scenario: Scenario,
    truth: TruthTable,
    rng: np.random.Generator,
    dem: Dem | None = None,
    jobs: int = 1,
    partner: str | None = None,
) -> list[Scan]:
    """Every scan of every radar over [0, ``scenario.duration_s``), sorted by arrival;
    with ``partner``, of that partner's radars only (a live partner node's), the same scans
    as theirs among every radar's.

    A radar with a ``latency_s`` or ``latency_jitter_s`` delivers each scan
    ``latency_s + U(0, latency_jitter_s)`` after it (``Scan.delay_s``), so scans of a
    partner's radars can reach its tracker out of time order; scans are sorted by
    (arrival time, sensor_id). The delays are drawn from a generator of their own, so
    they leave the plots unchanged.

    Scheduled ``outages`` of the scenario apply: a radar that is down delivers no scan in
    its window, a degraded one only the plots within ``range_fraction`` of its range.

    Each radar revisits every ``scan_s`` from a phase drawn uniformly in [0, ``scan_s``).
    The phases are drawn first from ``rng`` (in scenario sensor order); then each radar gets
    its own child generator (``rng.spawn``), so one radar's plots do not depend on the
    other radars' draws. The same seed gives the same scans, however many processes
    (``jobs``, forked, a radar at a time) share the radars.

    Parameters
    ----------
    scenario : the scenario; its partners' sensors are the radars.
    truth : truth trajectories; ``states_at(t)`` gives the live objects at each scan.
    rng : source of all randomness.
    dem : terrain that hides targets from the radars (the scenario's ``dem_dir``); None:
        a smooth earth.
    jobs : processes that simulate the radars.
    partner : simulate this partner's radars only (None: every partner's).
    """
    radars = build_radars(scenario)
    if not radars:
        return []
    rcs = np.asarray(truth.rcs_m2, dtype=np.float64)
    if rcs.shape != (len(truth),):
        raise ValueError(
            f"truth.rcs_m2 must be ({len(truth)},), one per truth object (got {rcs.shape})"
        )
    phases = rng.uniform(0.0, [r.sensor.scan_s for r in radars])
    work = list(zip(radars, phases.tolist(), rng.spawn(len(radars)), strict=True))
    if partner is not None:  # every radar's phase and stream drawn first: the same plots
        work = [w for w in work if w[0].partner == partner]
    if dem is not None:  # the terrain around the radars simulated, only
        mask_by_terrain([w[0] for w in work], dem)
    if jobs > 1 and len(work) > 1:
        global _WORK  # read by the forked processes, not pickled to them
        _WORK = (scenario, truth, rcs, work)
        ctx = multiprocessing.get_context("fork")
        try:
            with ctx.Pool(min(jobs, len(work))) as pool:
                per_radar = pool.map(_radar_of_work, range(len(work)), chunksize=1)
        finally:
            _WORK = None
    else:
        per_radar = [_radar_scans(scenario, truth, rcs, *w) for w in work]
    scans = [s for r in per_radar for s in r]
    scans.sort(key=lambda s: (s.t_arrival, s.sensor_id))
    return scans


_WORK: tuple[Scenario, TruthTable, Array, list[tuple[Radar, float, np.random.Generator]]] | None
_WORK = None


def _radar_of_work(k: int) -> list[Scan]:
    assert _WORK is not None
    scenario, truth, rcs, work = _WORK
    return _radar_scans(scenario, truth, rcs, *work[k])


def _radar_scans(
    scenario: Scenario,
    truth: TruthTable,
    rcs: Array,
    radar: Radar,
    phase: float,
    gen: np.random.Generator,
) -> list[Scan]:
    """One radar's scans over the run, in time order."""
    times = scan_times(scenario.duration_s, radar.sensor.scan_s, phase)
    sensor = radar.sensor
    delays = np.full(len(times), sensor.latency_s)
    if sensor.latency_jitter_s > 0:
        delays += gen.spawn(1)[0].uniform(0.0, sensor.latency_jitter_s, len(times))
    scans: list[Scan] = []
    for t, delay in zip(times.tolist(), delays.tolist(), strict=True):
        idx, X = truth.states_at(t)
        scan = radar.scan(t, idx, X, rcs[idx], gen)  # drawn even in an outage: the
        _, reach = scenario.radar_state(sensor.id, t)  # other scans stay the same
        if reach == 0.0:
            continue  # down: no scan
        if reach < 1.0:
            scan = _within(scan, reach * sensor.range_km * 1e3)
        scans.append(dataclasses.replace(scan, delay_s=delay) if delay else scan)
    return scans
