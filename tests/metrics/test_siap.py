"""Tests of the SIAP figures: hand-built pictures with known answers, and the accumulator
against a plain per-object loop that follows Stone Soup's definitions (runs as time
intervals, the greedy interval cover for NU) on random pictures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mead.metrics.siap import GATE_M, SiapAccumulator, SiapObserver, nearest_truth
from mead.sim.base import TruthTable

DT = 5.0
P0 = np.array([4.0e6, 1.0e6, 4.5e6])

# A picture at one time: truth index → list of (track id, position offset m) holding it,
# plus tracks far from every truth.
Picture = dict[int, list[tuple[str, float]]]


def truth_state(i: int, t: float) -> np.ndarray:
    """Truth i: a straight line 200 km from the others, 250 m/s."""
    v = np.array([250.0, 0.0, 0.0])
    return np.r_[P0 + [0.0, 200e3 * i, 0.0] + v * t, v]


def run(
    truth_class: list[str], steps: int, picture: Callable[[int], tuple[list[int], Picture, int]]
) -> dict:
    """Feed ``steps`` times; ``picture(k)`` → (alive truths, tracks on them, spurious count)."""
    acc = SiapAccumulator(truth_class)
    for k in range(steps):
        t = DT * k
        alive, held, n_false = picture(k)
        xt = np.array([truth_state(i, t) for i in alive]).reshape(-1, 6)
        ids, x = [], []
        for i, tracks in held.items():
            for tid, off in tracks:
                ids.append(tid)
                x.append(truth_state(i, t) + [off, 0, 0, 0, 0, 0])
        for j in range(n_false):
            ids.append(f"F{j}")
            x.append(np.r_[P0 - [3e6, 0, 0], 0, 0, 0])
        acc.update(t, ids, np.array(x).reshape(-1, 6), np.array(alive, dtype=int), xt)
    return acc.result()


def test_perfect_tracking() -> None:
    r = run(["drone", "drone"], 10, lambda k: ([0, 1], {0: [("a", 0.0)], 1: [("b", 0.0)]}, 0))
    o = r["overall"]
    assert (o["completeness"], o["ambiguity"], o["spuriousness"]) == (1.0, 1.0, 0.0)
    assert (o["position_accuracy_m"], o["velocity_accuracy_mps"]) == (0.0, 0.0)
    assert (o["id_changes"], o["id_change_rate_per_s"], o["longest_segment"]) == (0, 0.0, 1.0)
    assert (o["truths"], o["truths_held"], o["times"]) == (2, 2, 10)
    assert o["time_tracked_s"] == pytest.approx(2 * 9 * DT)


def test_one_spurious_track_and_position_error() -> None:
    r = run(["drone", "drone"], 4, lambda k: ([0, 1], {0: [("a", 300.0)], 1: [("b", 0.0)]}, 1))
    o = r["overall"]
    assert o["spuriousness"] == pytest.approx(1 / 3)
    assert (o["completeness"], o["ambiguity"]) == (1.0, 1.0)
    assert o["position_accuracy_m"] == pytest.approx(150.0)  # (300 + 0) / 2
    assert r["by_class"]["drone"]["spuriousness"] is None  # no class for a spurious track


def test_two_tracks_on_one_truth_give_ambiguity_2() -> None:
    r = run(["cruise"], 5, lambda k: ([0], {0: [("a", 0.0), ("b", 2e3)]}, 0))
    o = r["overall"]
    assert (o["ambiguity"], o["spuriousness"], o["completeness"]) == (2.0, 0.0, 1.0)
    assert o["position_accuracy_m"] == pytest.approx(1e3)
    assert o["id_changes"] == 0  # a duplicate is ambiguity, not a track-number change


def test_outside_the_gate_is_spurious_and_the_truth_missed() -> None:
    r = run(["cruise"], 3, lambda k: ([0], {0: [("a", GATE_M + 1.0)]}, 0))
    o = r["overall"]
    assert (o["completeness"], o["spuriousness"], o["truths_held"]) == (0.0, 1.0, 0)
    assert o["ambiguity"] is None and o["position_accuracy_m"] is None


def test_id_swap_counts_one_change_per_truth() -> None:
    """Tracks 1 and 2 swap truths between times 4 and 5."""

    def picture(k: int) -> tuple[list[int], Picture, int]:
        a, b = ("1", "2") if k < 5 else ("2", "1")
        return [0, 1], {0: [(a, 0.0)], 1: [(b, 0.0)]}, 0

    o = run(["drone", "drone"], 10, picture)["overall"]
    assert (o["id_changes"], o["id_changes_per_truth"]) == (2, 1.0)
    assert o["time_tracked_s"] == pytest.approx(2 * 8 * DT)  # the 4 → 5 interval is not
    assert o["id_change_rate_per_s"] == pytest.approx(2 / (16 * DT))
    assert o["longest_segment"] == pytest.approx((4 + 4) / (9 + 9))
    assert (o["completeness"], o["ambiguity"]) == (1.0, 1.0)


def test_gap_needs_a_new_track_number_even_with_the_same_id() -> None:
    """Stone Soup's NU counts association runs: a gap ends one, whatever the id after it."""

    def picture(k: int) -> tuple[list[int], Picture, int]:
        return [0], ({} if k in (4, 5) else {0: [("1", 0.0)]}), 0

    o = run(["rocket"], 10, picture)["overall"]
    assert o["id_changes"] == 1
    assert o["completeness"] == pytest.approx(0.8)
    assert o["time_tracked_s"] == pytest.approx(3 * DT + 3 * DT)


@pytest.mark.parametrize(
    ("runs", "nu"),
    [
        ({"1": range(0, 6), "2": range(3, 10)}, 2),  # hand-over with overlap
        ({"1": range(0, 6), "2": range(2, 10), "3": range(4, 8)}, 2),  # cover by 1 then 2
        ({"1": range(0, 10), "2": range(3, 7)}, 1),  # a duplicate inside a run
        ({"1": range(0, 3), "2": range(3, 6), "3": range(6, 10)}, 3),  # two clean hand-overs
    ],
)
def test_least_number_of_tracks_to_cover_the_truth(runs: dict[str, range], nu: int) -> None:
    def picture(k: int) -> tuple[list[int], Picture, int]:
        return [0], {0: [(tid, 0.0) for tid, r in runs.items() if k in r]}, 0

    assert run(["drone"], 10, picture)["overall"]["id_changes"] == nu - 1


def test_per_class_split() -> None:
    """The drone is held half the time with two tracks, the missile always with one."""

    def picture(k: int) -> tuple[list[int], Picture, int]:
        held: Picture = {1: [("m", 100.0)]}
        if k < 5:
            held[0] = [("d", 0.0), ("e", 1e3)]
        return [0, 1], held, 1

    r = run(["drone", "ballistic"], 10, picture)
    d, b, o = r["by_class"]["drone"], r["by_class"]["ballistic"], r["overall"]
    assert (d["completeness"], d["ambiguity"], d["position_accuracy_m"]) == (0.5, 2.0, 500.0)
    assert (b["completeness"], b["ambiguity"], b["position_accuracy_m"]) == (1.0, 1.0, 100.0)
    assert o["completeness"] == pytest.approx(15 / 20)
    assert o["ambiguity"] == pytest.approx(20 / 15)
    assert o["spuriousness"] == pytest.approx(10 / 30)
    assert o["position_accuracy_m"] == pytest.approx((5 * 1e3 + 10 * 100) / 20)
    assert set(r["by_class"]) == {"drone", "ballistic"}


def test_nearest_truth_is_nearest_within_the_gate() -> None:
    rng = np.random.default_rng(3)
    truth = np.hstack([rng.uniform(0, 100e3, (7, 3)), np.zeros((7, 3))])
    x = np.hstack([rng.uniform(0, 100e3, (40, 3)), np.zeros((40, 3))])
    got = nearest_truth(x, truth, 20e3)
    for n in range(len(x)):  # looped
        d = np.linalg.norm(truth[:, :3] - x[n, :3], axis=1)
        assert got[n] == (int(np.argmin(d)) if d.min() < 20e3 else -1)
    assert (nearest_truth(x, truth[:0], 20e3) == -1).all()
    assert nearest_truth(x[:0], truth, 20e3).shape == (0,)


def reference(
    truth_class: np.ndarray,
    frames: list[tuple[float, list[str], np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, float]:
    """Overall figures by plain loops: per time, each track to its nearest truth in the gate;
    runs as [start, end] time intervals; NU_j by Stone Soup's greedy interval cover."""
    J = JT = NA = N = 0
    PA = VA = 0.0
    runs: dict[tuple[str, int], list[list[float]]] = {}  # (track, truth) → [[start, end], …]
    held_before: dict[str, int] = {}
    times_of: dict[int, list[float]] = {}
    for t, ids, x, alive, xt in frames:
        held_now = {}
        for i in alive:
            times_of.setdefault(int(i), []).append(t)
        for tid, xn in zip(ids, x, strict=True):
            if len(alive) == 0:
                continue
            d = np.linalg.norm(xt[:, :3] - xn[:3], axis=1)
            m = int(np.argmin(d))
            if d[m] < GATE_M:
                j = int(alive[m])
                held_now[tid] = j
                PA += float(d[m])
                VA += float(np.linalg.norm(xt[m, 3:] - xn[3:]))
                seg = runs.setdefault((tid, j), [])
                if held_before.get(tid) == j:
                    seg[-1][1] = t
                else:
                    seg.append([t, t])
        J += len(alive)
        JT += len(set(held_now.values()))
        NA += len(held_now)
        N += len(ids)
        held_before = held_now
    changes, tt, tl, life = 0, 0.0, 0.0, 0.0
    for j, times in times_of.items():
        segs = [s for (_, jj), ss in runs.items() if jj == j for s in ss]
        life += times[-1] - times[0]
        tl += max((e - s for s, e in segs), default=0.0)
        tt += sum(b - a for a, b in zip(times[:-1], times[1:], strict=True)
                  if any(s <= a and b <= e for s, e in segs))  # fmt: skip
        nu, i = 0, 0
        while i < len(times):
            cover = [e for s, e in segs if s <= times[i] <= e]
            if not cover:
                i += 1
                continue
            nu += 1
            end = max(cover)
            i = times.index(end) + 1
        changes += max(nu - 1, 0)
    return {
        "completeness": JT / J, "ambiguity": NA / JT, "spuriousness": (N - NA) / N,
        "position_accuracy_m": PA / NA, "velocity_accuracy_mps": VA / NA,
        "id_changes": changes, "id_change_rate_per_s": changes / tt, "longest_segment": tl / life,
        "time_tracked_s": tt,
    }  # fmt: skip


def random_frames(seed: int) -> tuple[np.ndarray, list]:
    """Truths born and dying at random, tracks that follow them loosely, drift between
    them, swap numbers, drop out and come back."""
    rng = np.random.default_rng(seed)
    n_truth, steps = 6, 40
    birth = rng.integers(0, 15, n_truth)
    death = birth + rng.integers(10, 40, n_truth)
    frames = []
    for k in range(steps):
        t = DT * k
        alive = np.flatnonzero((birth <= k) & (k < death))
        # truths 30 km apart along y: a 25 km gate and 12 km noise make tracks stray
        xt = np.array([np.r_[P0 + [0, 30e3 * i, 0], 100.0, 0, 0] for i in alive]).reshape(-1, 6)
        ids, x = [], []
        for row, i in enumerate(alive):
            for copy in range(rng.integers(0, 3)):
                ids.append(f"T{i}-{copy}-{rng.integers(0, 2) if rng.random() < 0.2 else 0}")
                x.append(xt[row] + np.r_[rng.normal(0, 7e3, 3), rng.normal(0, 20, 3)])
        ids, keep = np.unique(ids, return_index=True) if ids else (np.array([]), np.array([], int))
        x = np.array(x).reshape(-1, 6)[keep]
        frames.append((t, [str(s) for s in ids], x, alive, xt))
    return np.array(["drone", "cruise", "ballistic"] * 2), frames


@pytest.mark.parametrize("seed", range(8))
def test_accumulator_equals_the_looped_definition(seed: int) -> None:
    cls, frames = random_frames(seed)
    acc = SiapAccumulator(cls)
    for f in frames:
        acc.update(*f)
    got, want = acc.result()["overall"], reference(cls, frames)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_per_class_figures_add_up_to_overall() -> None:
    cls, frames = random_frames(11)
    acc = SiapAccumulator(cls)
    for f in frames:
        acc.update(*f)
    r = acc.result()
    per = r["by_class"].values()
    assert sum(c["id_changes"] for c in per) == r["overall"]["id_changes"]
    assert sum(c["truths"] for c in per) == r["overall"]["truths"]
    assert sum(c["time_tracked_s"] for c in per) == pytest.approx(r["overall"]["time_tracked_s"])


def test_bad_input_names_the_field() -> None:
    acc = SiapAccumulator(["drone"])
    x, xt = np.zeros((1, 6)), np.zeros((1, 6))
    with pytest.raises(ValueError, match="track_ids"):
        acc.update(0.0, ["a", "b"], x, np.array([0]), xt)
    with pytest.raises(ValueError, match="truth_idx"):
        acc.update(0.0, ["a"], x, np.array([0, 0]), xt)
    with pytest.raises(ValueError, match="unique"):
        acc.update(0.0, ["a", "a"], np.zeros((2, 6)), np.array([0]), xt)
    acc.update(0.0, ["a"], x, np.array([0]), xt)
    with pytest.raises(ValueError, match="t must increase"):
        acc.update(0.0, ["a"], x, np.array([0]), xt)
    with pytest.raises(ValueError, match="gate_m"):
        SiapAccumulator(["drone"], gate_m=0.0)


def _table() -> TruthTable:
    """A drone and a ballistic missile on straight lines, sampled every 1 s for 20 s."""
    v = np.array([[100.0, 0, 0], [0, 0, 1000.0]])
    p0 = np.array([P0, P0 + [0, 300e3, 0]])
    n = 21
    rows = [np.hstack([p0[i] + v[i] * np.arange(n)[:, None], np.repeat(v[i][None], n, 0)])
            for i in range(2)]  # fmt: skip
    return TruthTable(
        ["drone-000", "ballistic-000"], np.array(["drone", "ballistic"]), ["r", "r"],
        np.array([0.1, 1.0]), np.array([0.0, 0.0]), np.array([20.0, 20.0]), ["X", "X"],
        np.stack([r[-1, :3] for r in rows]), np.array([1.0, 1.0]), np.array([0, n]),
        np.array([n, n]), np.concatenate(rows),
    )  # fmt: skip


def test_observer_scores_one_node_against_the_truth_table() -> None:
    tab, epoch = _table(), 1.7e9
    obs = SiapObserver(tab, epoch, "C1")
    for t in (0.0, 2.0, 4.0):
        _, states = tab.states_at(t)
        obs("P1", epoch + t, ["x"], np.zeros((1, 6)))  # another node: ignored
        obs("C1", epoch + t, ["7", "9"], states + [[50.0, 0, 0, 0, 0, 0], [0, 0, 0, 3.0, 4.0, 0]])
    obs("C1", epoch + 6.0, [], np.empty((0, 6)))  # an empty picture: both missed
    r = obs.result()
    assert r["overall"]["times"] == 4
    assert r["overall"]["completeness"] == pytest.approx(6 / 8)
    assert r["by_class"]["drone"]["position_accuracy_m"] == pytest.approx(50.0)
    assert r["by_class"]["ballistic"]["velocity_accuracy_mps"] == pytest.approx(5.0)
    assert r["overall"]["spuriousness"] == 0.0
