"""Trust in partner data: who holds a system track, declared coverage, and the judgement of
tracks only one partner holds inside another's coverage."""

from __future__ import annotations

import numpy as np
import pytest

from fusion._fakes import LAT0, LON0, batch, random_cov, truth
from fusion.test_bias import OFFSET
from mead.errors import ParameterError
from mead.fusion.siap import SystemTracker
from mead.fusion.trust import Corroboration, DeclaredCoverage, held_by
from mead.geo import geodetic2ecef
from mead.scenario.schema import Point, Sensor
from mead.sensors.radar import Radar


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_by_equals_a_loop_over_every_pair(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = truth(20, rng)
    xs = x[rng.integers(0, 20, 60)] + rng.normal(0, 1, (60, 6)) * [8e3, 8e3, 8e3, 300, 300, 300]
    src = rng.integers(0, 4, 60)
    got = held_by(x, xs, src, 4, gate_m=10_000.0, vel_gate_mps=400.0)
    want = np.zeros((20, 4), bool)
    for g in range(20):
        for s in range(4):
            rows = np.flatnonzero(src == s)
            if rows.size:  # the nearest track of the source, within both gates
                d = np.linalg.norm(xs[rows, :3] - x[g, :3], axis=1)
                k = rows[np.argmin(d)]
                near = d.min() <= 10_000.0
                want[g, s] = near and np.linalg.norm(xs[k, 3:] - x[g, 3:]) < 400.0
    np.testing.assert_array_equal(got, want)
    assert held_by(x[:0], xs, src, 4, 1.0, 1.0).shape == (0, 4)


def _radar(range_km: float = 300.0, alt_m: float = 500.0) -> Radar:
    site = Point(lat_deg=LAT0, lon_deg=LON0, alt_m=alt_m)
    return Radar(Sensor(id="R1", site=site, range_km=range_km), "P1")


def test_declared_coverage_is_range_horizon_and_reach() -> None:
    cov = DeclaredCoverage({"P1": [_radar()], "P2": []})
    x = geodetic2ecef(
        np.array([LAT0 + 0.5, LAT0 + 2.0, LAT0 + 2.0, LAT0 + 4.0]),
        np.full(4, LON0),
        np.array([5_000.0, 100.0, 100_000.0, 100_000.0]),
    )  # 55 km up high; 220 km low (below the horizon) and high; 440 km (beyond range)
    got = cov.covers(x, ["P1", "P2", "P9"])
    np.testing.assert_array_equal(got[:, 0], [True, False, True, False])
    assert not got[:, 1:].any()  # no radars, or not declared: covers nothing
    half = cov.covers(x, ["P1"], {"P1": np.array([0.5])})[:, 0]
    np.testing.assert_array_equal(half, [True, False, False, False])  # 150 km of reach left
    assert not cov.covers(x, ["P1"], {"P1": np.array([0.0])}).any()  # down


def test_a_radar_witnesses_only_what_it_could_detect_there() -> None:
    """With the objects' RCS, a point inside the instrumented range counts as covered only
    where the radar equation gives a single-look Pd of at least ``WITNESS_PD``: a small
    rocket far out is no one's to have seen; an airliner there is; the geometry is the
    same."""
    from mead.coverage.kernels import radar_pd
    from mead.fusion.trust import WITNESS_PD, class_rcs
    from mead.geo import ecef2geodetic

    r = _radar(range_km=400.0)
    cov = DeclaredCoverage({"P1": [r]})
    lat = LAT0 + np.array([0.3, 1.5, 3.0])  # 33, 165 and 330 km north, 8 km up
    x = geodetic2ecef(lat, np.full(3, LON0), np.full(3, 8_000.0))
    assert cov.covers(x, ["P1"])[:, 0].all()  # all inside range and above the horizon
    for cls in ("rocket", "aircraft", "unknown"):
        rcs = class_rcs([cls] * 3)
        got = cov.covers(x, ["P1"], None, rcs)[:, 0]
        la, lo, h = ecef2geodetic(x)
        np.testing.assert_array_equal(got, radar_pd(r, la, lo, h, rcs[0]) >= WITNESS_PD)
    small = cov.covers(x, ["P1"], None, class_rcs(["rocket"] * 3))[:, 0]
    big = cov.covers(x, ["P1"], None, class_rcs(["aircraft"] * 3))[:, 0]
    assert small[0] and not small[-1] and big.all()
    assert class_rcs(["unknown"])[0] == min(class_rcs(["drone", "rocket", "cruise"]))


NAMES = ["P1", "P2", "P3"]


def _step(c: Corroboration, t: float, held: list[list[bool]], covers: list[list[bool]]):  # noqa: ANN202
    return c.step(t, np.array([7, 8, 9]), np.array(held), np.array(covers), NAMES)


def test_a_track_nobody_else_holds_in_their_coverage_is_held_back_then_suspect() -> None:
    c = Corroboration(wait_s=30.0)
    held = [[True, True, False], [True, False, False], [False, False, True]]
    covers = [[True, True, True], [True, True, False], [False, False, True]]
    # 7: held by two; 8: P1 alone inside P2's coverage; 9: P3 alone, only its own coverage
    v = _step(c, 0.0, held, covers)
    np.testing.assert_array_equal(v.withheld, [False, True, False])
    assert v.suspect == [] and v.cleared == []
    v = _step(c, 20.0, held, covers)
    assert v.suspect == [] and v.withheld[1]
    v = _step(c, 30.0, held, covers)
    assert v.suspect == [(8, ("P2",), 0.0)] and c.suspect == {8}
    assert _step(c, 34.0, held, covers).suspect == []  # judged once
    held[1][1] = True  # P2 holds it after all
    v = _step(c, 38.0, held, covers)
    assert v.cleared == [(8, ("P1", "P2"))] and not v.withheld.any() and c.suspect == set()
    held[1][1] = False  # two partners held it once: a witness losing it is no ghost
    assert not _step(c, 42.0, held, covers).withheld.any()


def test_suspect_tracks_that_end_are_forgotten_and_bad_parameters_named() -> None:
    c = Corroboration(wait_s=4.0)
    held, covers = [[True, False, False]] * 3, [[True, True, False]] * 3
    _step(c, 0.0, held, covers)
    assert len(_step(c, 4.0, held, covers).suspect) == 3
    c.step(8.0, np.array([7]), np.array(held[:1]), np.array(covers[:1]), NAMES)
    assert c.suspect == {7}
    with pytest.raises(ParameterError, match="wait_s"):
        Corroboration(wait_s=0.0)


def test_a_corrected_source_is_fused_and_its_registration_still_seen_whole() -> None:
    rng = np.random.default_rng(5)
    x0 = truth(12, rng)
    P = random_cov(12, rng, 50.0, 2.0)
    ids = [f"T{i}" for i in range(12)]

    def run(correct: bool) -> SystemTracker:
        f = SystemTracker()
        if correct:
            f.correct("P3", OFFSET)
        for s in ("P1", "P2", "P3"):
            x = x0.copy()
            if s == "P3":
                x[:, :3] += OFFSET
            f.ingest(batch(s, ids, x, P, 0.0))
        return f

    plain, fixed = run(False).picture(0.0), run(True).picture(0.0)
    assert len(plain) == 24 and len(fixed) == 12  # 2 km off: not fused, unless corrected
    np.testing.assert_allclose(fixed.x, x0, atol=1e-6)
    f = run(True)
    bias, shared = f.registration(0.0)["P3"]  # from the positions as reported
    np.testing.assert_allclose(bias, OFFSET, atol=1.0)
    assert shared == 24


def test_a_believed_track_flying_into_a_witness_coverage_is_not_held_back_meanwhile() -> None:
    c = Corroboration(wait_s=30.0)
    held = [[True, False, False]] * 3
    outside, inside = [[True, False, False]] * 3, [[True, True, False]] * 3
    assert not _step(c, 0.0, held, outside).withheld.any()  # nobody else could see them
    assert not _step(c, 30.0, held, outside).withheld.any()  # believed for 30 s
    v = _step(c, 34.0, held, inside)  # P2 could now: it has 30 s to acquire them
    assert not v.withheld.any() and v.suspect == []
    v = _step(c, 64.0, held, inside)
    assert v.withheld.all() and [s for s, _, _ in v.suspect] == [7, 8, 9]


def test_a_track_coming_into_coverage_soon_after_it_appeared_is_held_back() -> None:
    c = Corroboration(wait_s=30.0)
    held = [[True, False, False]] * 3
    outside, inside = [[True, False, False]] * 3, [[True, True, False]] * 3
    _step(c, 0.0, held, outside)  # a ghost launched below the others' horizon …
    assert _step(c, 20.0, held, inside).withheld.all()  # … rising into view
