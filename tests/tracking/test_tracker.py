"""Tests of the whole tracker on simulated scans: convergence, crossing, clutter, deletion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from mead import geo
from mead.errors import BadScan, MeadError
from mead.sensors.base import Scan
from mead.tracking.association import GNN
from mead.tracking.base import CartesianScan, TrackReport
from mead.tracking.imm import IMM
from mead.tracking.jpda import JPDA
from mead.tracking.management import FullCoverage, OnePointInitiator
from mead.tracking.measurement import CartesianFrame
from mead.tracking.motion import ConstantVelocity
from mead.tracking.tracker import UID_PLOT_BITS, Tracker

from ._scenes import (
    SIGMA,
    SIGMA_EW,
    SITE1,
    enu2ecef,
    enu_vel2ecef,
    make_scan,
    with_range_rate,
)

SITE2 = (50.9, 10.4, 250.0)  # a second radar ~100 km north of r1


def nearest(rep: TrackReport, truth: np.ndarray) -> np.ndarray:
    """Index of the nearest truth object (K, 3) ECEF to each reported track."""
    d = np.linalg.norm(rep.x[:, None, :3] - truth[None, :, :], axis=2)
    return np.argmin(d, axis=1)


def quiet_motion() -> ConstantVelocity:
    """No process noise to speak of and no manoeuvre boosts: right for exactly straight flight."""
    return ConstantVelocity(q_slow=1e-6, q_fast=1e-6, nis_manoeuvre=1e9)


def test_single_target_converges_and_is_consistent() -> None:
    """Position error ≪ plot error after 30 scans; NEES over 40 seeded runs within χ² bounds."""
    p0, v = enu2ecef([20e3, 90e3, 9e3]), enu_vel2ecef([-150.0, 180.0, 0.0])
    runs, scans = 40, 30
    err2, plot_err2, nees = [], [], []
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        tr = Tracker("P1", motion=quiet_motion())
        for k in range(scans):
            t = 5.0 * k
            scan = make_scan(t, p0 + v * t, rng=rng)
            tr.step(scan)
        rep = tr.report(t)
        assert rep.ids == ["P1-T000001"]
        e = rep.x[0] - np.concatenate([p0 + v * t, v])
        err2.append(e[:3] @ e[:3])
        nees.append(e @ np.linalg.solve(rep.P[0], e))
        plot = geo.enu2ecef(geo.rae2enu(scan.z[0]), *scan_site(scan))
        plot_err2.append(np.sum((plot - (p0 + v * t)) ** 2))
    # a straight-line least-squares fit of N plots ends at σ·√(2(2N−1)/(N(N+1))) = 0.36 σ
    assert np.sqrt(np.mean(err2)) < 0.45 * np.sqrt(np.mean(plot_err2))
    lo, hi = chi2.ppf([0.005, 0.995], 6 * runs) / runs
    assert lo < np.mean(nees) < hi


def scan_site(scan: Scan) -> tuple[float, float, float]:
    return scan.site_lat_deg, scan.site_lon_deg, scan.site_alt_m


@pytest.mark.parametrize("angle_deg", [10.0, 30.0, 90.0])
def test_crossing_targets_are_held_without_swaps(angle_deg: float) -> None:
    """Two targets crossing at t = 100 s: two tracks throughout, each on its own target."""
    cross, speed = np.array([0.0, 80e3, 6e3]), 220.0
    a = np.radians(angle_deg / 2)
    v_enu = speed * np.array([[np.sin(a), np.cos(a), 0], [-np.sin(a), np.cos(a), 0]])
    rng = np.random.default_rng(7)
    tr = Tracker("P1")
    owner: dict[str, int] = {}
    for k in range(41):
        t = 5.0 * k
        truth = enu2ecef(cross + v_enu * (t - 100.0))
        tr.step(make_scan(t, truth, rng=rng))
        rep = tr.report(t)
        assert not rep.deleted
        if k < 2:
            continue
        assert len(rep.ids) == 2
        if np.linalg.norm(truth[0] - truth[1]) < 2e3:
            continue  # too close to say which is which
        for i, j in zip(rep.ids, nearest(rep, truth).tolist(), strict=True):
            assert owner.setdefault(i, j) == j, f"track {i} swapped at t={t}"
    assert len(owner) == 2 and set(owner.values()) == {0, 1}
    assert tr.n_tracks == 2


def test_clutter_alone_confirms_few_tracks() -> None:
    rng = np.random.default_rng(3)
    tr = Tracker("P1")
    for k in range(200):
        tr.step(make_scan(5.0 * k, np.empty((0, 3)), rng=rng, clutter=20, sigma=SIGMA_EW))
    assert tr.counters["plots"] > 3500
    assert tr.counters["tracks_confirmed"] <= 3
    assert tr.n_confirmed <= 1


def test_track_deleted_after_misses_inside_coverage_and_reported_once() -> None:
    p0, v = enu2ecef([-40e3, 60e3, 5e3]), enu_vel2ecef([200.0, 0.0, 0.0])
    rng = np.random.default_rng(4)
    tr = Tracker("P1", coverage={"r1": 400e3})
    deleted_at = []
    for k in range(25):
        t = 5.0 * k
        tr.step(make_scan(t, p0 + v * t, rng=rng, pd=1.0 if k < 10 else 0.0))
        rep = tr.report(t)
        if rep.deleted:
            deleted_at.append((k, rep.deleted))
        if k == 9:
            assert rep.ids == ["P1-T000001"]
    # last plot at scan 9; misses at scans 10..14; deleted at the 5th
    assert deleted_at == [(14, ["P1-T000001"])]
    assert tr.n_tracks == 0 and tr.counters["tracks_deleted"] == 1


def test_a_miss_raises_the_process_noise_only_below_free_flight() -> None:
    """A confirmed track missed in coverage may be turning out of its gate; one at 120 km
    (free flight) with no plot near was missed by the radar, and keeps its noise; with a
    plot 5 km off, outside its gate, it may be boosting, and its noise is raised."""
    low, high = enu2ecef([-40e3, 60e3, 5e3]), enu2ecef([40e3, 60e3, 120e3])
    v = np.vstack([enu_vel2ecef([200.0, 0.0, 0.0]), enu_vel2ecef([0.0, 0.0, 5.0])])
    rng = np.random.default_rng(6)
    tr = Tracker("P1", coverage={"r1": 400e3})
    for k in range(8):
        tr.step(make_scan(5.0 * k, np.vstack([low, high]) + v * 5.0 * k, rng=rng))
    assert tr.n_confirmed == 2
    height = geo.ecef2geodetic(tr.table.x[:, :3])[2]
    before = tr.table.q_scale.copy()
    tr.step(make_scan(40.0, np.vstack([low, high]), rng=rng, pd=0.0))
    after = tr.table.q_scale
    assert after[height < 40e3][0] == pytest.approx(10.0 * before[height < 40e3][0])
    assert after[height > 40e3][0] == before[height > 40e3][0]
    # a plot 5 km from the high track, far outside its gate: a boost carried it off
    before = tr.table.q_scale.copy()
    off = high + v[1] * 45.0 + enu_vel2ecef([5_000.0, 0.0, 0.0])
    tr.step(make_scan(45.0, off[None], rng=np.random.default_rng(7)))
    high_row = np.flatnonzero(height > 40e3)[0]
    assert tr.table.q_scale[high_row] == pytest.approx(10.0 * before[high_row])


def test_track_outside_coverage_coasts_until_max_coast() -> None:
    """No radar covers the track, so no misses: it coasts and is deleted after max_coast_s."""
    p0, v = enu2ecef([-40e3, 60e3, 5e3]), enu_vel2ecef([200.0, 0.0, 0.0])
    rng = np.random.default_rng(5)
    tr = Tracker("P1", coverage={"r1": 50e3})  # the target is 72 km away
    for k in range(8):
        tr.step(make_scan(5.0 * k, p0 + v * 5.0 * k, rng=rng))
    assert tr.n_confirmed == 1
    for k in range(8, 30):
        tr.step(make_scan(5.0 * k, p0, rng=rng, pd=0.0))
        if tr.n_tracks == 0:
            break
    assert 35.0 + 60.0 < 5.0 * k <= 35.0 + 65.0  # last plot at 35 s, max_coast_s = 60


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("heading_deg", [0.0, 135.0, 250.0])
def test_ballistic_speed_target_confirmed_within_three_scans(
    seed: int, heading_deg: float
) -> None:
    """3 km/s at 5 s scans, 200–350 km out, noisy radar with clutter: confirmed by scan 3."""
    h = np.radians(heading_deg)
    v = enu_vel2ecef([2500 * np.sin(h), 2500 * np.cos(h), -1650.0])
    p0 = enu2ecef([30e3, 280e3, 90e3])
    rng = np.random.default_rng(seed)
    tr = Tracker("P1")
    for k in range(3):
        t = 5.0 * k
        tr.step(make_scan(t, p0 + v * t, rng=rng, sigma=SIGMA_EW, clutter=2))
    rep = tr.report(10.0)
    assert len(rep.ids) == 1
    truth = np.concatenate([p0 + v * 10.0, v])
    assert np.linalg.norm(rep.x[0, :3] - truth[:3]) < 3e3
    assert np.linalg.norm(rep.x[0, 3:] - truth[3:]) < 600.0


@pytest.mark.parametrize("offset_s", [0.0, 2.5])
def test_two_radars_give_one_track_per_target(offset_s: float) -> None:
    p0 = enu2ecef([[-30e3, 60e3, 8e3], [10e3, 40e3, 3e3], [40e3, 90e3, 11e3]])
    v = enu_vel2ecef([[200.0, 50.0, 0.0], [-60.0, 30.0, 0.0], [0.0, -240.0, 0.0]])
    rng = np.random.default_rng(6)
    tr = Tracker("P1")
    for k in range(30):
        t1, t2 = 5.0 * k, 5.0 * k + offset_s
        tr.step(make_scan(t1, p0 + v * t1, rng=rng, sigma=SIGMA_EW, pd=0.9, clutter=2))
        tr.step(make_scan(t2, p0 + v * t2, SITE2, sensor_id="r2", rng=rng, pd=0.9, clutter=2))
        rep = tr.report(t2)
        if k >= 3:
            assert sorted(nearest(rep, p0 + v * t2).tolist()) == [0, 1, 2], f"t={t2}"
    assert rep.sensors == [("r1", "r2")] * 3
    assert tr.counters["tracks_deleted"] == 0


def test_many_separated_targets_equal_one_tracker_each() -> None:
    """Batched over targets == looped: a tracker of N far-apart targets equals N trackers."""
    rng = np.random.default_rng(8)
    n = 12
    enu = np.column_stack(
        [rng.uniform(-150e3, 150e3, n), rng.uniform(50e3, 250e3, n), rng.uniform(1e3, 10e3, n)]
    )
    p0 = enu2ecef(enu)
    v = enu_vel2ecef(np.column_stack([rng.uniform(-250, 250, (n, 2)), np.zeros(n)]))
    joint = Tracker("P1")
    alone = [Tracker("P1") for _ in range(n)]
    for k in range(6):
        t = 5.0 * k
        z = geo.enu2rae(geo.ecef2enu(p0 + v * t, 50.0, 10.0, 100.0))
        z += rng.normal(size=z.shape) * SIGMA
        z[:, 1] %= 2 * np.pi
        joint.step(Scan("r1", "P1", t, 50.0, 10.0, 100.0, z, SIGMA, np.arange(n)))
        for i in range(n):
            alone[i].step(
                Scan("r1", "P1", t, 50.0, 10.0, 100.0, z[i : i + 1], SIGMA, np.array([i]))
            )
    rep = joint.report(30.0)
    # tracks born in one scan are numbered in plot order, so target i is track i + 1
    assert rep.ids == [f"P1-T{i + 1:06d}" for i in range(n)]
    for i, tr in enumerate(alone):
        one = tr.report(30.0)
        np.testing.assert_allclose(rep.x[i], one.x[0], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(rep.P[i], one.P[0], rtol=1e-7, atol=1e-6)


def test_empty_scans_and_empty_tracker() -> None:
    tr = Tracker("P1")
    rep = tr.report(3.0)
    assert rep.ids == [] and rep.x.shape == (0, 6) and rep.P.shape == (0, 6, 6)
    tr.step(make_scan(0.0, np.empty((0, 3))))
    tr.step(Scan("r1", "P1", 5.0, 50.0, 10.0, 100.0, np.empty(0), SIGMA, np.empty(0, int)))
    assert tr.n_tracks == 0 and tr.counters["scans"] == 2
    tr.step(make_scan(10.0, enu2ecef([[0, 50e3, 1e3]])))
    tr.step(make_scan(15.0, np.empty((0, 3))))  # tentative track survives one miss
    assert tr.n_tracks == 1 and tr.n_confirmed == 0


def test_track_ids_are_stable_and_numbered_at_confirmation() -> None:
    rng = np.random.default_rng(9)
    p0 = enu2ecef([[0, 60e3, 5e3], [30e3, 60e3, 5e3]])
    v = enu_vel2ecef([100.0, 0.0, 0.0])
    tr = Tracker("NORD")
    seen = []
    for k in range(10):
        tr.step(make_scan(5.0 * k, p0 + v * 5.0 * k, rng=rng, clutter=5))
        seen.append(tr.report(5.0 * k).ids)
    assert seen[2] == seen[-1] and sorted(seen[-1]) == ["NORD-T000001", "NORD-T000002"]
    rep = tr.report(50.0)
    assert np.all((rep.quality >= 0) & (rep.quality <= 1)) and rep.quality.min() == 1.0


def test_report_predicts_to_the_requested_time() -> None:
    p0, v = enu2ecef([10e3, 70e3, 4e3]), enu_vel2ecef([0.0, 200.0, 0.0])
    tr = Tracker("P1", motion=quiet_motion())
    rng = np.random.default_rng(10)
    for k in range(10):
        tr.step(make_scan(5.0 * k, p0 + v * 5.0 * k, rng=rng))
    r0, r1 = tr.report(45.0), tr.report(49.0)
    np.testing.assert_allclose(r1.x[0, :3], r0.x[0, :3] + 4.0 * r0.x[0, 3:], rtol=1e-12)
    assert np.trace(r1.P[0]) > np.trace(r0.P[0])
    assert r1.t == 49.0


def two_radar_scans(n: int = 24, seed: int = 3) -> list[Scan]:
    """Scans of two radars 2.5 s apart over six targets (two crossing), Pd 0.85, clutter."""
    rng = np.random.default_rng(seed)
    p0 = enu2ecef([[20e3, 60e3, 9e3], [-30e3, 80e3, 4e3], [0, 40e3, 2e3], [50e3, 120e3, 10e3],
                   [-10e3, 70e3, 6e3], [10e3, 70e3, 6e3]])  # fmt: skip
    v = enu_vel2ecef([[-150.0, 180.0, 0.0], [200, 0, 0], [0, -90, 0], [-250, -50, 0],
                      [120, 0, 0], [-120, 0, 0]])  # fmt: skip
    scans = []
    for k in range(n):
        for site, sid, dt in ((SITE1, "r1", 0.0), (SITE2, "r2", 2.5)):
            t = 5.0 * k + dt
            scans.append(make_scan(t, p0 + v * t, site, sensor_id=sid, rng=rng, pd=0.85,
                                   clutter=5.0))  # fmt: skip
    return scans


def same_tracks(a: Tracker, b: Tracker) -> None:
    """Same tracks (by the scan and plot that started each), states and histories.

    Uids and track numbers follow the order in which scans arrived, so they may differ;
    numbers must still name the same tracks one to one.
    """
    ta, tb = a.table, b.table
    plot = (1 << UID_PLOT_BITS) - 1
    ia, ib = (np.lexsort((t.uid & plot, t.t_born)) for t in (ta, tb))
    np.testing.assert_array_equal(ta.t_born[ia], tb.t_born[ib])
    np.testing.assert_array_equal(ta.uid[ia] & plot, tb.uid[ib] & plot)
    np.testing.assert_array_equal(ta.x[ia], tb.x[ib])
    np.testing.assert_array_equal(ta.P[ia], tb.P[ib])
    np.testing.assert_array_equal(ta.history[ia], tb.history[ib])
    np.testing.assert_array_equal(ta.confirmed[ia], tb.confirmed[ib])
    pairs = set(zip(ta.number[ia].tolist(), tb.number[ib].tolist(), strict=True))
    assert len({x for x, _ in pairs}) == len({y for _, y in pairs}) == len(pairs)


@pytest.mark.parametrize("checkpoint_s", [0.0, 5.0, 12.0])
def test_late_scans_are_replayed_exactly_as_in_order_delivery(checkpoint_s: float) -> None:
    """r2's scans arrive 1–3 of r1's scans late; the tracks equal those of in-order delivery."""
    scans = two_radar_scans()
    in_order = Tracker("P1")
    for s in scans:
        in_order.step(s)
    late = Tracker("P1", checkpoint_s=checkpoint_s)
    rng = np.random.default_rng(0)
    arrival = np.array([s.t + (rng.uniform(3.0, 14.0) if s.sensor_id == "r2" else 0.0)
                        for s in scans])  # fmt: skip
    for i in np.argsort(arrival, kind="stable"):
        late.step(scans[i])
    assert late.counters["scans_out_of_order"] > 10
    assert late.counters["scans_too_late"] == 0
    assert in_order.n_confirmed >= 6
    same_tracks(in_order, late)


def test_replay_keeps_the_ids_of_tracks_it_does_not_change() -> None:
    scans = two_radar_scans()
    tr = Tracker("P1")
    r1 = [s for s in scans if s.sensor_id == "r1"]
    held = next(s for s in scans if s.sensor_id == "r2" and s.t > 50.0)
    for s in r1[:14]:
        tr.step(s)
    before = set(tr.report(tr.t or 0.0).ids)
    tr.step(held)  # 2.5 s after an r1 scan, arriving after the last r1 scan (≈ 65 s)
    rep = tr.report(tr.t or 0.0)
    assert tr.counters["scans_out_of_order"] == 1 and tr.counters["scans_replayed"] >= 2
    assert before <= set(rep.ids) and not rep.deleted


def test_scan_older_than_the_window_is_dropped_and_counted() -> None:
    tr = Tracker("P1", reorder_window_s=10.0)
    tr.step(make_scan(0.0, enu2ecef([[0, 50e3, 1e3]])))
    tr.step(make_scan(30.0, enu2ecef([[0, 50e3, 1e3]])))
    x = tr.table.x.copy()
    tr.step(make_scan(15.0, enu2ecef([[0, 50e3, 1e3]])))
    assert tr.counters["scans_too_late"] == 1 and tr.counters["scans_out_of_order"] == 0
    assert tr.t == 30.0
    np.testing.assert_array_equal(tr.table.x, x)


def test_window_zero_keeps_no_checkpoints_and_drops_late_scans() -> None:
    tr = Tracker("P1", reorder_window_s=0.0)
    tr.step(make_scan(10.0, enu2ecef([[0, 50e3, 1e3]])))
    tr.step(make_scan(9.0, enu2ecef([[0, 50e3, 1e3]])))
    assert tr.counters["scans_too_late"] == 1 and not tr._checkpoints
    with pytest.raises(ValueError, match="reorder_window_s"):
        Tracker("P1", reorder_window_s=-1.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"z": np.ones((2, 2))}, "z"),
        ({"z": np.array([[1e3, 0.1, np.nan]])}, "z"),
        ({"z": np.array([[-5.0, 0.1, 0.1]])}, "z"),
        ({"sigma": np.array([1.0, 0.0, 1.0])}, "sigma"),
        ({"sigma": np.ones(2)}, "sigma"),
        ({"t": float("nan")}, "t"),
        ({"site_lat_deg": 95.0}, "site"),
    ],
)
def test_bad_scan_names_the_field(change: dict[str, object], field: str) -> None:
    good = dict(
        sensor_id="r7",
        partner="P1",
        t=1.0,
        site_lat_deg=50.0,
        site_lon_deg=10.0,
        site_alt_m=0.0,
        z=np.array([[1e4, 0.1, 0.1]]),
        sigma=SIGMA,
        truth=np.array([0]),
    )
    with pytest.raises(BadScan, match=rf"sensor 'r7': {field}") as info:
        Tracker("P1").step(Scan(**(good | change)))  # type: ignore[arg-type]
    assert info.value.field == field and isinstance(info.value, MeadError | ValueError)


@pytest.mark.parametrize(
    ("z", "sigma", "field"),
    [
        ([[1e4, 0.1, 0.1, 50.0]], SIGMA, "sigma"),  # range rate without its σ
        ([[1e4, 0.1, 0.1]], np.append(SIGMA, 2.0), "sigma"),  # a σ for a missing column
        ([[1e4, 0.1, 0.1, 50.0]], np.append(SIGMA, -2.0), "sigma"),
        ([[1e4, 0.1, 0.1, np.nan]], np.append(SIGMA, 2.0), "z"),  # NaN range rate
        ([[1e4, 0.1, 0.1, 50.0, 1.0]], np.append(SIGMA, [2.0, 1.0]), "z"),
    ],
)
def test_bad_range_rate_scan_names_the_field(
    z: list[list[float]], sigma: np.ndarray, field: str
) -> None:
    scan = Scan("r7", "P1", 1.0, 50.0, 10.0, 0.0, np.array(z), sigma, np.array([0]))
    with pytest.raises(BadScan, match=rf"sensor 'r7': {field}") as info:
        Tracker("P1").step(scan)
    assert info.value.field == field


def range_rate_raid(seed: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Aircraft at 250 m/s, random headings, 50–300 km from r1: ENU start (N, 3), velocity."""
    rng = np.random.default_rng(seed)
    enu0 = np.column_stack(
        [rng.uniform(-200e3, 200e3, n), rng.uniform(50e3, 300e3, n), rng.uniform(3e3, 12e3, n)]
    )
    h = rng.uniform(0, 2 * np.pi, n)
    return enu0, np.column_stack([250 * np.sin(h), 250 * np.cos(h), np.zeros(n)])


def run_raid(tracker: Tracker, seed: int, range_rate: bool) -> tuple[list[float], list[float]]:
    """Squared radial and cross-range velocity errors (m²/s²) of the reported tracks at 15 s
    and 35 s. The position plots are the same with and without range rate."""
    enu0, v_enu = range_rate_raid(seed)
    v = enu_vel2ecef(v_enu)
    rng, rng_rdot = np.random.default_rng(seed), np.random.default_rng(seed + 50)
    site = geo.geodetic2ecef(*SITE1).reshape(3)
    radial, cross = [], []
    for k in range(8):
        t = 5.0 * k
        pos = enu2ecef(enu0 + v_enu * t)
        scan = make_scan(t, pos, rng=rng, sigma=SIGMA_EW, clutter=2)
        if range_rate:
            scan = with_range_rate(scan, pos, v, 2.0, rng_rdot)
        tracker.step(scan)
        if k in (3, 7):
            rep = tracker.report(t)
            assert len(rep.ids) == len(pos)
            j = nearest(rep, pos)
            u = (pos[j] - site) / np.linalg.norm(pos[j] - site, axis=1, keepdims=True)
            e = rep.x[:, 3:] - v[j]
            er = np.einsum("ij,ij->i", e, u)
            radial += (er**2).tolist()
            cross += (np.sum(e**2, axis=1) - er**2).tolist()
    return radial, cross


def test_range_rate_gives_a_smaller_velocity_error() -> None:
    """Same plots, plus a 2 m/s range rate: the radial velocity error drops from ≈ 15 to
    ≈ 2.5 m/s; the cross-range error (from the angle noise, which ṙ does not see) stays."""
    without, with_ = ([], []), ([], [])
    for seed in range(3):
        for rr, out in ((False, without), (True, with_)):
            radial, cross = run_raid(Tracker("P1"), seed, rr)
            out[0].extend(radial)
            out[1].extend(cross)
    rms = {k: [np.sqrt(np.mean(a)) for a in v] for k, v in (("no", without), ("rr", with_))}
    assert rms["rr"][0] < 4.0 < 10.0 < rms["no"][0]  # radial, m/s
    assert rms["rr"][1] == pytest.approx(rms["no"][1], rel=0.05)  # cross-range
    total = {k: np.sqrt(np.mean(np.add(*v))) for k, v in (("no", without), ("rr", with_))}
    assert total["rr"] < total["no"]


@pytest.mark.parametrize(
    "make",
    [lambda: Tracker("P1", motion=IMM()), lambda: Tracker("P1", associator=JPDA())],
    ids=["imm", "jpda"],
)
def test_range_rate_scans_with_imm_and_jpda(make) -> None:  # type: ignore[no-untyped-def]
    radial, _ = run_raid(make(), seed=4, range_rate=True)
    assert np.sqrt(np.mean(radial)) < 4.0


def fast_inbound_scans(range_rate: bool, seed: int) -> list[Scan]:
    """A 2.5 km/s ballistic-like target diving at r1 from 300 km, 5 s scans, with clutter."""
    v_enu = np.array([150.0, -2300.0, -970.0])  # |v| ≈ 2.5 km/s, nearly radial
    p0 = np.array([20e3, 300e3, 120e3])
    v = enu_vel2ecef(v_enu)
    rng, rng_rdot = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    scans = []
    for k in range(4):
        t = 5.0 * k
        pos = enu2ecef(p0 + v_enu * t)[None]
        scan = make_scan(t, pos, rng=rng, sigma=SIGMA_EW, clutter=2)
        scans.append(with_range_rate(scan, pos, v, 5.0, rng_rdot) if range_rate else scan)
    return scans


@pytest.mark.parametrize("seed", range(4))
def test_fast_ballistic_target_is_picked_up_from_its_first_plots(seed: int) -> None:
    """An initiator tuned for aircraft (300 m/s prior) reaches a 2.5 km/s missile's second
    plot only when the first plot's range rate gives the radial velocity: then the track
    started by the first plot is confirmed within four plots; without ṙ it never is."""
    for range_rate in (True, False):
        tr = Tracker("P1", initiator=OnePointInitiator(300.0, 300.0))
        for scan in fast_inbound_scans(range_rate, seed):
            tr.step(scan)
        tab = tr.table
        first = tab.uid[tab.confirmed] >> UID_PLOT_BITS == 0  # started by scan 0
        if range_rate:
            assert tr.n_confirmed == 1 and first.all()
            rep = tr.report(15.0)
            e = rep.x[0, 3:] - enu_vel2ecef([150.0, -2300.0, -970.0])
            los = rep.x[0, :3] - geo.geodetic2ecef(*SITE1).reshape(3)
            assert abs(e @ los) / np.linalg.norm(los) < 20.0  # radial, m/s
            assert np.linalg.norm(e) < 600.0  # cross-range: 0.2–0.3° at 250 km
        else:
            assert not first.any()


def test_thousand_targets_in_one_tracker() -> None:
    rng = np.random.default_rng(11)
    n = 1000
    enu = np.column_stack(
        [rng.uniform(-250e3, 250e3, n), rng.uniform(-250e3, 250e3, n), rng.uniform(1e3, 12e3, n)]
    )
    p0 = enu2ecef(enu)
    v = enu_vel2ecef(np.column_stack([rng.uniform(-250, 250, (n, 2)), np.zeros(n)]))
    tr = Tracker("P1")
    for k in range(5):
        tr.step(make_scan(5.0 * k, p0 + v * 5.0 * k, rng=rng, sigma=SIGMA_EW, clutter=20))
    rep = tr.report(20.0)
    held = np.unique(nearest(rep, p0 + v * 20.0))
    assert len(held) >= 0.97 * n and len(rep.ids) <= 1.02 * n


def turn_positions(t: np.ndarray, accel_mps2: float, speed: float = 250.0) -> np.ndarray:
    """ENU positions (K, 3) of a target flying east, turning left through 180° from t = 60 s."""
    omega, t0 = accel_mps2 / speed, 60.0
    radius, t1 = speed / omega, 60.0 + np.pi / omega
    start = np.array([-30e3, 60e3, 8e3])
    out = np.empty((len(t), 3))
    for k, tk in enumerate(t):
        if tk < t0:
            out[k] = start + [speed * tk, 0.0, 0.0]
        elif tk < t1:
            a = omega * (tk - t0)
            out[k] = start + [speed * t0 + radius * np.sin(a), radius * (1 - np.cos(a)), 0.0]
        else:
            out[k] = start + [speed * t0 - speed * (tk - t1), 2 * radius, 0.0]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_two_g_turn_is_held_by_one_track(seed: int) -> None:
    """A 2 g, 180° turn at 250 m/s seen at 5 s scans by a noisy radar keeps its track id."""
    t = np.arange(0.0, 200.0, 5.0)
    pos = enu2ecef(turn_positions(t, 2 * 9.81))
    rng = np.random.default_rng(seed)
    tr = Tracker("P1")
    ids = set()
    for k, tk in enumerate(t):
        tr.step(make_scan(tk, pos[k], rng=rng, sigma=SIGMA_EW, clutter=2))
        rep = tr.report(tk)
        ids |= set(rep.ids)
    assert ids == {"P1-T000001"}
    assert np.linalg.norm(rep.x[0, :3] - pos[-1]) < 1.5e3


def test_radar_that_never_saw_a_track_counts_no_misses() -> None:
    """r2 covers the target by range but never detects it: r1's track lives on at quality 1."""
    p0, v = enu2ecef([-40e3, 60e3, 5e3]), enu_vel2ecef([200.0, 0.0, 0.0])
    rng = np.random.default_rng(12)
    tr = Tracker("P1", coverage={"r1": 400e3, "r2": 400e3})
    for k in range(20):
        t = 5.0 * k
        tr.step(make_scan(t, p0 + v * t, rng=rng))
        tr.step(make_scan(t + 1.0, p0 + v * (t + 1.0), SITE2, sensor_id="r2", rng=rng, pd=0.0))
    rep = tr.report(100.0)
    assert rep.ids == ["P1-T000001"] and rep.quality.tolist() == [1.0]
    assert rep.sensors == [("r1",)]
    # once r2 has detected the track, its misses count
    tr.step(make_scan(101.0, p0 + v * 101.0, SITE2, sensor_id="r2", rng=rng))
    tr.step(make_scan(102.0, p0 + v * 102.0, SITE2, sensor_id="r2", rng=rng, pd=0.0))
    assert tr.report(102.0).quality[0] < 1.0


def test_cartesian_scans_track_targets_on_a_plane() -> None:
    """2D plots as ``CartesianScan``s: tracks converge, stay on the plane and are consistent."""
    frame = CartesianFrame.from_geodetic(50.0, 10.0, 0.0)
    sigma = np.array([50.0, 50.0, 1.0])
    runs, scans, nees, err = 30, 25, [], []
    p0 = np.array([[10e3, 20e3, 0.0], [-30e3, 5e3, 0.0]])
    v = np.array([[150.0, -80.0, 0.0], [0.0, 220.0, 0.0]])
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        gnn = GNN(clutter_density=1e-12)  # per m³ of Cartesian plot space
        tr = Tracker("P9", motion=quiet_motion(), associator=gnn, coverage=FullCoverage())
        for k in range(scans):
            t = 2.0 * k
            z = p0 + v * t + rng.normal(size=(2, 3)) * sigma
            z[:, 2] = 0.0
            tr.step(CartesianScan("c1", "P9", t, frame, z, sigma, np.arange(2)))
        rep = tr.report(t)
        assert len(rep.ids) == 2
        enu = frame.from_ecef(rep.x[:, :3])
        k = np.argmin(np.linalg.norm(enu[:, None] - (p0 + v * t)[None], axis=2), axis=1)
        assert sorted(k.tolist()) == [0, 1]
        assert np.abs(enu[:, 2]).max() < 5.0  # on the plane
        e = np.column_stack([enu - (p0 + v * t)[k], rep.x[:, 3:] @ frame.rot.T - v[k]])
        R = np.kron(np.eye(2), frame.rot)  # ECEF → ENU for position and velocity
        h = [0, 1, 3, 4]  # horizontal position and velocity (up is pinned, not random)
        for i in range(2):
            C = (R @ rep.P[i] @ R.T)[np.ix_(h, h)]
            nees.append(e[i, h] @ np.linalg.solve(C, e[i, h]))
        err.append(np.linalg.norm(e[:, :2], axis=1))
    assert np.sqrt(np.mean(np.square(err))) < 0.5 * 50.0 * np.sqrt(2)
    lo, hi = chi2.ppf([0.005, 0.995], 4 * len(nees)) / len(nees)
    assert lo < np.mean(nees) < hi


@pytest.mark.parametrize("width", [2, 4])
def test_bad_cartesian_scan_names_the_field(width: int) -> None:
    """Cartesian plots are positions only: 4 columns (a range rate) are refused too."""
    frame = CartesianFrame.from_geodetic(0.0, 0.0, 0.0)
    z, sigma = np.ones((2, width)), np.ones(width)
    bad = CartesianScan("c1", "P9", 0.0, frame, z, sigma, np.zeros(2))
    with pytest.raises(BadScan, match=r"sensor 'c1': z must have shape \(M, 3\)"):
        Tracker("P9").step(bad)


@pytest.mark.parametrize("n_sensors", [5, 70])
def test_contributing_sensors_are_named_per_row(n_sensors: int) -> None:
    """Each row's tuple names exactly its contributing sensors, in column order (one int64
    key per row up to 62 sensors, rows compared whole beyond)."""
    rng = np.random.default_rng(9)
    tr = Tracker("P1")
    tr.step(make_scan(0.0, enu2ecef([[0.0, 50e3 + 5e3 * k, 5e3] for k in range(12)]), rng=rng))
    while len(tr.sensor_ids) < n_sensors:
        tr._sensor_column(f"s{len(tr.sensor_ids)}")
    tab = tr.table
    tab.sensors[:] = rng.random(tab.sensors.shape) < 0.3
    tab.sensors[:3] = tab.sensors[3]  # some rows share a combination
    rows = np.arange(len(tab))
    want = [tuple(tr.sensor_ids[k] for k in np.flatnonzero(s)) for s in tab.sensors]
    assert tr._sensor_tuples(rows) == want
