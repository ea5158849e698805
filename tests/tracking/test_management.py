"""Tests of track management: coverage, one-point initiation, M-of-N, deletion, quality."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mead.tracking.management import (
    FullCoverage,
    MOfNManager,
    OnePointInitiator,
    RadarCoverage,
)
from mead.tracking.measurement import CartesianFrame, Site, ecef2polar, polar_cov_ecef
from mead.tracking.score import confirm_threshold
from mead.tracking.table import TrackTable

SITE = Site.from_geodetic(45.0, 5.0, 0.0)
SIGMA = np.array([50.0, 0.002, 0.003])


def table(n: int) -> TrackTable:
    x = np.zeros((n, 6))
    P = np.broadcast_to(np.eye(6) * 100.0, (n, 6, 6)).copy()
    return TrackTable.new(np.arange(n), x, P, 0.0, sensor=0, n_sensors=1)


def enu_points(rae: list[tuple[float, float]]) -> np.ndarray:
    """ECEF points at (range m, azimuth deg) from SITE on the horizon plane."""
    r, az = np.array(rae).T
    a = np.radians(az)
    return (
        np.column_stack([r * np.sin(a), r * np.cos(a), np.zeros_like(r)]) @ SITE.rot + SITE.origin
    )


def test_coverage_configured_range_and_sector() -> None:
    cov = RadarCoverage({"all": 100e3, "sect": 100e3}, sectors_deg={"sect": (300.0, 420.0)})
    pos = enu_points([(50e3, 10.0), (150e3, 10.0), (50e3, 200.0), (50e3, 310.0)])
    assert cov.covers("all", SITE, pos).tolist() == [True, False, True, True]
    assert cov.covers("sect", SITE, pos).tolist() == [True, False, False, True]
    cov.observe("all", np.array([[900e3, 0.1, 0.0]]))  # configured range wins
    assert cov.covers("all", SITE, pos).tolist() == [True, False, True, True]


def az_plots(*az_deg: float, r: float = 100e3) -> np.ndarray:
    return np.column_stack([np.full(len(az_deg), r), np.radians(az_deg), np.zeros(len(az_deg))])


def test_coverage_learned_from_plots() -> None:
    cov = RadarCoverage(min_gap_deg=90.0)
    pos = enu_points([(50e3, 12.0), (150e3, 12.0), (250e3, 12.0), (50e3, 203.0)])
    assert not cov.covers("r", SITE, pos).any()  # no plots seen yet
    cov.observe("r", np.array([[120e3, np.radians(15.0), 0.0], [200e3, np.radians(18), 0.1]]))
    cov.observe("r", az_plots(11.0, r=90e3))  # the farthest plot is kept
    assert cov.covers("r", SITE, pos).tolist() == [True, True, False, False]  # 11°–18° only
    cov.observe("r", az_plots(100.0, 205.0, 300.0))  # widest empty arc 101°–204°: a sector
    assert cov.covers("r", SITE, pos).tolist() == [True, True, False, False]
    cov.observe("r", az_plots(150.0))  # no empty arc of 90° left: all round
    assert cov.covers("r", SITE, pos).tolist() == [True, True, False, True]
    assert not RadarCoverage(learn=False).covers("r", SITE, pos).any()


def test_coverage_learns_a_sector_radar_from_clutter() -> None:
    """Clutter over 60°–200° for some scans: tracks at 250° are outside, at 120° inside."""
    rng = np.random.default_rng(1)
    cov = RadarCoverage()
    for _ in range(30):
        cov.observe("ew", az_plots(*rng.uniform(60.0, 200.0, 2), r=300e3))
    pos = enu_points([(100e3, 120.0), (100e3, 250.0), (100e3, 65.0), (100e3, 30.0)])
    assert cov.covers("ew", SITE, pos).tolist() == [True, False, True, False]


def test_one_point_initiation() -> None:
    init = OnePointInitiator(vel_std_h_mps=800.0, vel_std_v_mps=300.0)
    z = np.array([[80e3, 0.5, 0.1], [300e3, 4.0, 0.02]])
    x, P = init.initiate(z, SIGMA, SITE)
    np.testing.assert_allclose(ecef2polar(x[:, :3], SITE), z, atol=1e-9)
    np.testing.assert_array_equal(x[:, 3:], 0.0)
    np.testing.assert_allclose(P[:, :3, :3], polar_cov_ecef(z, SIGMA, SITE))
    np.testing.assert_array_equal(P[:, :3, 3:], 0.0)
    Pv_enu = SITE.rot @ P[0, 3:, 3:] @ SITE.rot.T  # back to local ENU
    np.testing.assert_allclose(Pv_enu, np.diag([800.0**2, 800.0**2, 300.0**2]), atol=1e-6)
    with pytest.raises(ValueError, match="vel_std_h_mps"):
        OnePointInitiator(vel_std_h_mps=0.0)


def test_one_point_initiation_with_range_rate_sets_the_radial_velocity() -> None:
    """With ṙ: velocity ṙ u along the plot's line of sight u, σ_ṙ² along u, the prior across."""
    init = OnePointInitiator(vel_std_h_mps=800.0, vel_std_v_mps=300.0)
    z = np.array([[80e3, 0.5, 0.1, -2_400.0], [300e3, 4.0, 0.02, 350.0]])
    sigma = np.array([*SIGMA, 3.0])
    x, P = init.initiate(z, sigma, SITE)
    x3, P3 = init.initiate(z[:, :3], SIGMA, SITE)
    np.testing.assert_array_equal(x[:, :3], x3[:, :3])  # positions as without ṙ
    np.testing.assert_array_equal(P[:, :3, :3], P3[:, :3, :3])
    los = x[:, :3] - SITE.origin
    u = los / np.linalg.norm(los, axis=1, keepdims=True)
    np.testing.assert_allclose(x[:, 3:], z[:, 3:] * u, atol=1e-9)
    for k in range(2):
        Pv = P[k, 3:, 3:]
        assert u[k] @ Pv @ u[k] == pytest.approx(9.0)  # σ_ṙ² along the line of sight
        across = np.linalg.svd(np.eye(3) - np.outer(u[k], u[k]))[0][:, :2]  # ⊥ u
        A = across.T
        np.testing.assert_allclose(A @ Pv @ A.T, A @ P3[k, 3:, 3:] @ A.T, rtol=1e-9)
        np.testing.assert_allclose(Pv @ u[k], 9.0 * u[k], atol=1e-6)  # u an eigenvector
        assert np.all(np.linalg.eigvalsh(P[k]) > 0)


def run(
    manager: MOfNManager, tab: TrackTable, pattern: str, llr: float = 0.0
) -> list[tuple[bool, bool]]:
    """Feed hit (1) / miss (0) / no chance (-) to every track, each hit's plot with ln(g/β) =
    ``llr``; (confirmed, deleted) after each."""
    out = []
    for k, c in enumerate(pattern):
        n = len(tab)
        manager.record(tab, np.full(n, c == "1"), np.full(n, c == "0"), np.full(n, llr))
        if c == "1":
            tab.t_update[:] = float(k + 1)
        conf = manager.confirm(tab)
        tab.number[conf] = 1
        out.append((bool(tab.confirmed[0]), bool(manager.delete(tab, float(k + 1))[0])))
    return out


def test_m_of_n_confirmation() -> None:
    m = MOfNManager(m=3, n=4)
    # born with one hit; two more hits confirm
    assert [c for c, _ in run(m, table(1), "11")] == [False, True]
    # hit, miss, hit: 3 of 4 → confirmed at the third chance
    assert [c for c, _ in run(m, table(1), "101")] == [False, False, True]
    # chances without a radar covering the track ("-") do not count
    assert [c for c, _ in run(m, table(1), "-1-1")] == [False, False, False, True]


def test_track_score_sums_the_sprt_terms_and_confirms_early() -> None:
    m = MOfNManager(m=3, n=4, pd=0.8, confirm_llr=confirm_threshold(1e-6, 1e-3))
    tab = table(1)
    run(m, tab, "10-", llr=5.0)
    # born at 0; hit: ln 0.8 + 5; miss: ln 0.2; "-" is no chance
    np.testing.assert_allclose(tab.score, [np.log(0.8) + 5.0 + np.log(0.2)])
    # a tight second plot in sparse clutter (ln g/β = 15) confirms at once …
    assert [c for c, _ in run(m, table(1), "1", llr=15.0)] == [True]
    # … and birth, miss, hit confirms in three looks, where 3 of 4 needs two more hits
    assert [c for c, _ in run(m, table(1), "01", llr=16.0)] == [False, True]
    assert [c for c, _ in run(MOfNManager(m=3, n=4, confirm_llr=None), table(1), "01", llr=16.0)][
        -1
    ] is False
    # weak plots (dense clutter) leave it to M-of-N
    assert [c for c, _ in run(m, table(1), "11", llr=1.0)] == [False, True]


def test_tentative_track_deleted_when_rule_cannot_be_met() -> None:
    m = MOfNManager(m=3, n=4)
    assert [d for _, d in run(m, table(1), "00")] == [False, True]
    assert [d for _, d in run(m, table(1), "010")] == [False, False, True]


def test_confirmed_track_deleted_after_consecutive_misses() -> None:
    m = MOfNManager(m=2, n=2, max_misses=3)
    out = run(m, table(1), "1" + "00" + "1" + "000")
    assert [d for _, d in out] == [False] * 6 + [True]
    assert all(c for c, _ in out)


def test_coast_and_covariance_deletion() -> None:
    m = MOfNManager(max_coast_s=30.0, max_coast_tentative_s=10.0, max_pos_std_m=1e3)
    tab = table(4)
    tab.number[:2] = [1, 2]  # two confirmed, two tentative
    tab.t_update[:] = [0.0, 0.0, 0.0, 0.0]
    tab.P[1, :3, :3] = np.eye(3) * 1e6  # √tr = 1.7 km
    assert m.delete(tab, 5.0).tolist() == [False, True, False, False]
    assert m.delete(tab, 15.0).tolist() == [False, True, True, True]
    assert m.delete(tab, 31.0).tolist() == [True, True, True, True]


def test_quality_is_hit_ratio_over_window() -> None:
    m = MOfNManager(quality_window=4)
    tab = table(1)
    run(m, tab, "0")  # born 1 + miss → 1/2
    np.testing.assert_allclose(m.quality(tab), [0.5])
    run(m, tab, "1111")  # last four all hits
    np.testing.assert_allclose(m.quality(tab), [1.0])
    run(m, tab, "0")
    np.testing.assert_allclose(m.quality(tab), [0.75])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"m": 5, "n": 4}, "m <= n"),
        ({"quality_window": 40}, "quality_window"),
        ({"max_misses": 0}, "max_misses"),
        ({"max_coast_s": 0.0}, "max_coast_s"),
        ({"pd": 1.0}, "pd"),
        ({"confirm_llr": float("nan")}, "confirm_llr"),
    ],
)
def test_bad_manager_parameters(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MOfNManager(**kwargs)  # type: ignore[arg-type]


def test_table_keep_append_and_sensor_columns() -> None:
    tab = table(3)
    tab.add_sensor_column()
    assert tab.sensors.shape == (3, 2)
    tab.keep(np.array([True, False, True]))
    assert tab.uid.tolist() == [0, 2] and tab.P.shape == (2, 6, 6)
    tab.append(TrackTable.new(np.array([7]), np.ones((1, 6)), np.ones((1, 6, 6)), 5.0, 1, 2))
    assert tab.uid.tolist() == [0, 2, 7] and tab.sensors[:, 1].tolist() == [False, False, True]
    assert TrackTable.empty(2).sensors.shape == (0, 2)


def test_full_coverage_and_cartesian_initiation() -> None:
    frame = CartesianFrame.from_geodetic(45.0, 5.0, 0.0)
    pos = enu_points([(50e3, 10.0), (9e6, 200.0)])
    assert FullCoverage().covers("any", frame, pos).tolist() == [True, True]
    z = frame.from_ecef(pos)
    sigma = np.array([50.0, 50.0, 1.0])
    x, P = OnePointInitiator(vel_std_h_mps=200.0, vel_std_v_mps=2.0).initiate(z, sigma, frame)
    np.testing.assert_allclose(x[:, :3], pos, atol=1e-6)
    np.testing.assert_array_equal(x[:, 3:], 0.0)
    enu_cov = frame.rot @ P[0][:3, :3] @ frame.rot.T
    np.testing.assert_allclose(enu_cov, np.diag(sigma**2), atol=1e-9)
    vel_cov = frame.rot @ P[1][3:, 3:] @ frame.rot.T
    np.testing.assert_allclose(vel_cov, np.diag([200.0**2, 200.0**2, 4.0]), atol=1e-8)


def test_coverage_copy_shares_nothing_it_learns() -> None:
    """The tracker's checkpoints copy the coverage: the copy must not learn with the original."""
    cov = RadarCoverage({"cfg": 100e3})
    cov.observe("r", az_plots(10.0, 20.0, r=90e3))
    snap = copy.deepcopy(cov)
    pos = enu_points([(150e3, 15.0), (80e3, 100.5)])
    before = snap.covers("r", SITE, pos).tolist()
    cov.observe("r", az_plots(100.0, 200.0, 300.0, r=200e3))  # grows range and arc
    assert cov.covers("r", SITE, pos).tolist() == [True, True]
    assert snap.covers("r", SITE, pos).tolist() == before == [False, False]
    assert snap.learned_m == {"r": 90e3} and snap.max_range_m == {"cfg": 100e3}
