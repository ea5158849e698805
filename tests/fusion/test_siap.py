"""Tests of the system tracker: stable STNs from many partners' released tracks."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from mead.fusion.base import Fuser, SystemPicture
from mead.fusion.siap import SystemTracker
from mead.messages import Track, TrackBatch

from ._fakes import LAT0, LON0, at, batch, noisy, place, random_cov, report, truth


def _one_object() -> np.ndarray:
    return place(
        np.array([LAT0]), np.array([LON0]), np.array([8000.0]), np.ones(1), np.full(1, 220.0)
    )


def _assert_one_contributor_per_source(pic: SystemPicture) -> None:
    for src, n in zip(pic.sources, pic.n_sources.tolist(), strict=True):
        assert len(src) == len(set(src)) == n


def test_system_tracker_implements_the_fuser_contract() -> None:
    fuser: Fuser = SystemTracker()
    pic = fuser.picture(0.0)
    assert len(pic) == 0 and pic.x.shape == (0, 6) and pic.P.shape == (0, 6, 6)


def test_two_partners_one_object_fuse_into_one_stable_stn() -> None:
    rng = np.random.default_rng(0)
    x0 = _one_object()
    Pa, Pb = random_cov(1, rng, 150.0, 8.0), random_cov(1, rng, 400.0, 20.0)
    st = SystemTracker()
    stns, nees = [], []
    for k in range(40):
        t = 2.0 * k
        st.ingest(report("A", x0, Pa, t, rng, latency_s=0.3))
        st.ingest(report("B", x0, Pb, t + 0.7, rng, latency_s=0.9))
        pic = st.picture(t + 1.0)
        assert len(pic) == 1
        assert pic.sources == [("A", "B")] and pic.n_sources.tolist() == [2]
        stns.append(int(pic.stn[0]))
        err = pic.x[0] - at(x0, t + 1.0)[0]
        nees.append(err @ np.linalg.solve(pic.P[0], err))
        # fused position no worse than the worse input
        assert np.trace(pic.P[0, :3, :3]) <= np.trace(Pb[0, :3, :3]) * 1.05
    assert set(stns) == {stns[0]}
    assert np.mean(nees) < 6.0  # consistent (CI is conservative)
    fig = st.siap()
    assert fig["system_tracks"] == 1 and fig["mean_contributors"] == 2.0
    assert fig.get("stn_changes", 0) == 0 and fig["stn_created"] == 1


def test_the_fuser_says_which_system_track_a_partner_s_track_is_in_and_back() -> None:
    """What the engagement planner asks: the STN each of a source's tracks is fused into
    (0: unknown), and a source's own track ids fused into given STNs."""
    rng = np.random.default_rng(1)
    x0 = _one_object()
    P = random_cov(1, rng, 150.0, 8.0)
    st = SystemTracker()
    for k in range(5):
        st.ingest(report("A", x0, P, 2.0 * k, rng))
        st.ingest(report("B", x0, P, 2.0 * k + 0.5, rng, prefix="U"))
        pic = st.picture(2.0 * k + 1.0)
    (stn,) = pic.stn.tolist()
    assert st.stns_of("A", ["T0", "T9"]).tolist() == [stn, 0]
    assert st.stns_of("C", ["T0"]).tolist() == [0]  # no such source
    assert st.source_tracks("B", {stn}) == ["U0"] and st.source_tracks("A", {stn + 1}) == []


def test_two_objects_50_km_apart_stay_two_system_tracks() -> None:
    rng = np.random.default_rng(1)
    lat = np.array([LAT0, LAT0 + 50_000 / 111_000])
    x0 = place(lat, np.full(2, LON0), np.full(2, 9000.0), np.full(2, 1.5), np.full(2, 230.0))
    Pa, Pb = random_cov(2, rng, 2000.0, 30.0), random_cov(2, rng, 3000.0, 40.0)
    st = SystemTracker()
    for k in range(15):
        t = 3.0 * k
        st.ingest(report("A", x0, Pa, t, rng))
        st.ingest(report("B", x0, Pb, t + 1, rng, latency_s=0.2))
        pic = st.picture(t + 1.5)
        assert len(pic) == 2 and pic.n_sources.tolist() == [2, 2]
    # each system track is near its own object
    d = np.linalg.norm(pic.x[:, None, :3] - at(x0, t + 1.5)[None, :, :3], axis=2)
    assert sorted(d.argmin(axis=1).tolist()) == [0, 1] and d.min(axis=1).max() < 10_000


def test_a_sources_two_close_tracks_never_share_a_system_track() -> None:
    """Two objects 150 m apart with 300 m track errors: each source's two tracks are two
    objects, so the picture has two system tracks, each with one track of each source —
    also when a source's second track starts after its first."""
    rng = np.random.default_rng(2)
    lat = np.array([LAT0, LAT0 + 150 / 111_000])
    x0 = place(lat, np.full(2, LON0), np.full(2, 5000.0), np.full(2, 0.3), np.full(2, 150.0))
    Pa, Pb = random_cov(2, rng, 300.0, 10.0), random_cov(2, rng, 300.0, 10.0)
    st, alone = SystemTracker(), SystemTracker()
    for k in range(20):
        t = 2.0 * k
        st.ingest(report("A", x0, Pa, t, rng))
        st.ingest(report("B", x0, Pb, t + 0.5, rng))
        alone.ingest(report("A", x0, Pa, t, rng, objects=np.arange(1 if k < 3 else 2)))
        pic, solo = st.picture(t + 1), alone.picture(t + 1)
        assert len(pic) == 2 and pic.sources == [("A", "B"), ("A", "B")]
        assert len(solo) == (1 if k < 3 else 2) and set(solo.n_sources.tolist()) == {1}
    assert st.counters["merges"] == 0 and alone.counters["merges"] == 0


def test_dropping_a_track_removes_its_contribution_and_then_the_system_track() -> None:
    rng = np.random.default_rng(3)
    x0 = _one_object()
    P = random_cov(1, rng, 200.0, 10.0)
    st = SystemTracker()
    st.ingest(report("A", x0, P, 0.0, rng))
    st.ingest(report("B", x0, P, 0.5, rng))
    stn = st.picture(1.0).stn.tolist()
    st.ingest(batch("B", [], np.empty((0, 6)), np.empty((0, 6, 6)), 2.0, dropped=("T0",)))
    pic = st.picture(2.0)
    assert pic.stn.tolist() == stn and pic.sources == [("A",)]
    st.ingest(batch("A", [], np.empty((0, 6)), np.empty((0, 6, 6)), 3.0, dropped=("T0", "zz")))
    assert len(st.picture(3.0)) == 0
    assert st.counters["dropped"] == 2 and st.counters["stn_deleted"] == 1


def test_stn_survives_a_source_leaving_and_returning() -> None:
    """B's track is dropped, then B stops talking entirely (its track expires), then B comes
    back with new track ids: the object keeps its STN throughout."""
    rng = np.random.default_rng(4)
    x0 = _one_object()
    Pa, Pb = random_cov(1, rng, 200.0, 10.0), random_cov(1, rng, 250.0, 12.0)
    st = SystemTracker(max_age_s=10.0)
    seen: list[tuple[int, tuple[str, ...]]] = []
    for k in range(60):
        t = 2.0 * k
        st.ingest(report("A", x0, Pa, t, rng))
        if k < 10:
            st.ingest(report("B", x0, Pb, t + 0.4, rng))
        elif k == 10:
            st.ingest(batch("B", [], np.empty((0, 6)), np.empty((0, 6, 6)), t, dropped=("T0",)))
        elif 20 <= k < 30 or k >= 45:
            st.ingest(report("B", x0, Pb, t + 0.4, rng, prefix=f"N{k // 15}-"))
        pic = st.picture(t + 1)
        assert len(pic) == 1
        seen.append((int(pic.stn[0]), pic.sources[0]))
    assert {s for s, _ in seen} == {seen[0][0]}
    srcs = [s for _, s in seen]
    assert srcs[5] == ("A", "B") and srcs[15] == ("A",) and srcs[25] == ("A", "B")
    assert srcs[40] == ("A",) and srcs[50] == ("A", "B")  # B's silent track expired, came back
    assert st.counters["expired"] == 1 and st.counters.get("stn_changes", 0) == 0


def test_fused_class_is_the_most_threatening_and_quality_the_best() -> None:
    rng = np.random.default_rng(5)
    x0 = _one_object()
    P = random_cov(1, rng, 200.0, 10.0)
    st = SystemTracker()
    for src, cls in (("A", "aircraft"), ("B", "cruise"), ("C", "unknown")):
        b = batch(src, ["T0"], noisy(x0, P, rng), P, 0.0, cls=[cls])
        st.ingest(b)
    pic = st.picture(0.5)
    assert pic.cls == ["cruise"] and pic.n_sources.tolist() == [3]
    assert pic.sources == [("A", "B", "C")]
    assert pic.quality.tolist() == [1.0]


@pytest.mark.parametrize("jumper", ["A", "B"])
def test_a_contributor_that_drifts_away_is_split_off_and_numbers_are_never_reused(
    jumper: str,
) -> None:
    """One of two contributors jumps 15 km (onto another object, or a bias): the two are
    split; whichever jumped, the earlier-joined contributor (A) keeps the STN."""
    rng = np.random.default_rng(6)
    x0 = _one_object()
    P = random_cov(1, rng, 150.0, 8.0)
    st = SystemTracker(merge_after=0)
    for k in range(12):
        t = 2.0 * k
        for src, dt in (("A", 0.0), ("B", 0.5)):
            off = np.r_[15_000.0, 0, 0, 0, 0, 0] * (k >= 6 and src == jumper)
            st.ingest(batch(src, ["T0"], noisy(at(x0, t + dt) + off, P, rng), P, t + dt))
        pic = st.picture(t + 1)
    assert len(pic) == 2 and pic.sources == [("A",), ("B",)]
    assert pic.stn[0] == 1 and pic.stn[1] == 2  # A joined first and keeps STN 1
    assert st.counters["splits"] == 1 and st.counters["stn_changes"] == 1
    # drop both; a new track gets a fresh number, never 1 or 2
    st.ingest(batch("A", [], np.empty((0, 6)), np.empty((0, 6, 6)), 30.0, dropped=("T0",)))
    st.ingest(batch("B", [], np.empty((0, 6)), np.empty((0, 6, 6)), 30.0, dropped=("T0",)))
    st.ingest(report("A", x0, P, 31.0, rng, prefix="U"))
    assert st.picture(31.0).stn.tolist() == [3]


def test_redundant_system_tracks_of_one_object_are_merged_into_the_older() -> None:
    """B first reports the object 40 km off (beyond the gate: a new STN); once its track
    agrees with A's for ``merge_after`` pictures the two STNs merge into A's."""
    rng = np.random.default_rng(7)
    x0 = _one_object()
    P = random_cov(1, rng, 200.0, 10.0)
    st = SystemTracker(merge_after=3)
    counts = []
    for k in range(10):
        t = 2.0 * k
        st.ingest(report("A", x0, P, t, rng))
        off = np.r_[40_000.0, 0, 0, 0, 0, 0] if k < 2 else np.zeros(6)
        st.ingest(batch("B", ["T0"], noisy(at(x0, t) + off, P, rng), P, t + 0.2))
        pic = st.picture(t + 1)
        counts.append(len(pic))
    assert counts[0] == 2 and counts[-1] == 1
    assert pic.stn.tolist() == [1] and pic.sources == [("A", "B")]
    assert st.counters["merges"] == 1


def test_malformed_tracks_are_counted_and_skipped_never_raised() -> None:
    rng = np.random.default_rng(8)
    x0 = _one_object()
    P = random_cov(1, rng, 200.0, 10.0)
    good = report("A", x0, P, 0.0, rng).tracks[0]
    bad_P = np.eye(6)
    bad_P[0, 0] = -1.0
    tracks = (
        good,
        Track.of(track_id="short", t=0.0, x=good.x, P=good.P[:35]),
        msgspec.structs.replace(good, track_id="ragged", x_f64=good.x_f64[:45]),  # 5⅝ floats
        Track.of(track_id="nan", t=0.0, x=(float("nan"),) + good.x[1:], P=good.P),
        Track.of(track_id="notpd", t=0.0, x=good.x, P=tuple(bad_P.ravel().tolist())),
        Track.of(track_id="tent", t=0.0, x=good.x, P=good.P, confirmed=False),
        good,
    )
    st = SystemTracker()
    st.ingest(TrackBatch(source="A", t=0.0, tracks=tracks))
    assert len(st.picture(0.0)) == 1
    c = st.counters
    assert (c["rejected_shape"], c["rejected_nonfinite"], c["rejected_covariance"]) == (2, 1, 1)
    assert (c["tentative"], c["duplicate_id"]) == (1, 1)
    # an older update of a known track is ignored; a track older than max_age_s is refused
    st.ingest(TrackBatch(source="A", t=1.0, tracks=(good,)))
    old = Track.of(track_id="old", t=-100.0, x=good.x, P=good.P)
    st.ingest(TrackBatch(source="A", t=1.0, tracks=(old,)))
    assert st.counters["rejected_too_old"] == 1 and len(st.picture(1.0)) == 1
    st.ingest(TrackBatch(source="B", t=float("nan"), tracks=(good,)))
    assert st.counters["rejected_batch_time"] == 1 and len(st.picture(1.0)) == 1


def test_bad_parameters_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="'max_age_s'"):
        SystemTracker(max_age_s=0)
    with pytest.raises(ValueError, match="'p'"):
        SystemTracker(gate_p=1.5)
    with pytest.raises(ValueError, match="'split_after'"):
        SystemTracker(split_after=0)


def test_six_sources_of_500_tracks_give_one_system_track_per_object() -> None:
    """The scale case: 6 partners × 500 tracks over 1000 objects with overlapping views."""
    rng = np.random.default_rng(9)
    n_obj, n_src = 1000, 6
    x0 = truth(n_obj, rng, spread_m=500_000)
    Ps = [random_cov(n_obj, rng, rng.uniform(50, 300), rng.uniform(5, 20)) for _ in range(n_src)]
    views = [np.sort(rng.choice(n_obj, 500, replace=False)) for _ in range(n_src)]
    st = SystemTracker()
    first: np.ndarray | None = None
    for k in range(4):
        t = 10.0 + 2.0 * k
        for s in range(n_src):
            lag = rng.uniform(0.1, 1.0)
            b = report(f"S{s}", x0, Ps[s], t + 0.1 * s, rng, f"T{s}_", lag, views[s])
            st.ingest(b)
        pic = st.picture(t + 1.0)
        _assert_one_contributor_per_source(pic)
        if first is None:
            first = pic.stn
        np.testing.assert_array_equal(pic.stn, first)
    seen = np.unique(np.concatenate(views))
    assert len(pic) == seen.size
    expect = np.bincount(np.concatenate(views), minlength=n_obj)[seen]
    np.testing.assert_array_equal(np.sort(pic.n_sources), np.sort(expect))
    assert st.counters.get("splits", 0) == 0 and st.counters.get("merges", 0) == 0
