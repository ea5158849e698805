"""Registration biases from objects several partners hold: a partner 2 km off is found."""

from __future__ import annotations

import numpy as np
import pytest

from mead.fusion.bias import (
    pair_objects,
    pair_offsets,
    reference_offsets,
    registration_biases,
    solve_biases,
)
from mead.fusion.siap import SystemTracker
from mead.geo import enu_rotation

from ._fakes import LAT0, LON0, at, batch, noisy, random_cov, truth

OFFSET_ENU = np.array([1_600.0, -1_200.0, 0.0])  # 2 km, east-south-east
OFFSET = OFFSET_ENU @ enu_rotation(LAT0, LON0)  # ECEF


def held(
    rng: np.random.Generator, x0: np.ndarray, offsets: list[np.ndarray], seen: float = 0.7
) -> tuple[np.ndarray, np.ndarray]:
    """Source k holds a random ``seen`` share of the objects ``x0``, with ~100 m noise,
    every position displaced by ``offsets[k]`` (ECEF)."""
    xs, src = [], []
    for k, off in enumerate(offsets):
        idx = np.flatnonzero(rng.random(len(x0)) < seen)
        P = random_cov(idx.size, rng, 100.0, 5.0)
        x = noisy(x0[idx], P, rng)
        x[:, :3] += off
        xs.append(x)
        src.append(np.full(idx.size, k))
    return np.concatenate(xs), np.concatenate(src)


def reports(
    rng: np.random.Generator, n_src: int, liar: int, n_obj: int = 40, seen: float = 0.7
) -> tuple[np.ndarray, np.ndarray]:
    """``held`` by ``n_src`` sources; the ``liar`` is off by OFFSET."""
    x0 = truth(n_obj, rng)
    return held(rng, x0, [OFFSET if k == liar else np.zeros(3) for k in range(n_src)], seen)


def adsb(rng: np.random.Generator, x0: np.ndarray, n: int) -> np.ndarray:
    """(n, 6) what the first ``n`` objects broadcast: satellite positions good to ~30 m."""
    x = x0[:n].copy()
    x[:, :3] += rng.normal(scale=30.0, size=(n, 3))
    return x


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("n_src", [3, 4, 5])
def test_the_offset_partner_is_estimated_within_20_percent(seed: int, n_src: int) -> None:
    rng = np.random.default_rng(seed)
    liar = int(rng.integers(n_src))
    x, src = reports(rng, n_src, liar)
    bias, shared = registration_biases(x, src, n_src)
    err = np.linalg.norm(bias - np.where(np.arange(n_src)[:, None] == liar, OFFSET, 0), axis=1)
    assert err[liar] < 0.2 * np.linalg.norm(OFFSET)
    assert np.all(np.delete(err, liar) < 0.2 * np.linalg.norm(OFFSET))
    assert np.all(shared > 0)


def test_two_sources_cannot_say_who_is_off() -> None:
    x, src = reports(np.random.default_rng(5), 2, liar=1)
    bias, shared = registration_biases(x, src, 2)
    assert np.isnan(bias).all() and np.all(shared > 0)


def test_honest_partners_have_no_bias_beyond_their_noise() -> None:
    rng = np.random.default_rng(6)
    x, src = reports(rng, 4, liar=-1)
    bias, _ = registration_biases(x, src, 4)
    assert np.all(np.linalg.norm(bias, axis=1) < 100.0)  # 100 m noise, medians over ~20


def test_pairs_are_mutual_nearest_and_velocity_gated() -> None:
    rng = np.random.default_rng(7)
    a = truth(10, rng)
    b = a.copy()
    b[3, 3:] += 500.0  # same place, another velocity: not the same object
    ia, ib = pair_objects(a, b, 5_000.0, 100.0)
    assert sorted(ia.tolist()) == [i for i in range(10) if i != 3]
    assert np.array_equal(ia, ib)


def test_system_tracker_estimates_from_its_live_source_tracks() -> None:
    """Through the fuser: three partners' batches, P3 2 km off; the offset is found even
    though P3's tracks are too far off to be fused with the others'."""
    rng = np.random.default_rng(8)
    x0 = truth(30, rng)
    fuser = SystemTracker()
    for name in ("P1", "P2", "P3"):
        idx = np.flatnonzero(rng.random(30) < 0.8)
        P = random_cov(idx.size, rng, 100.0, 5.0)
        x = noisy(at(x0[idx], 10.0), P, rng)
        if name == "P3":
            x[:, :3] += OFFSET
        fuser.ingest(batch(name, [f"T{i}" for i in idx], x, P, 10.0))
    reg = fuser.registration(12.0)
    assert set(reg) == {"P1", "P2", "P3"}
    assert np.linalg.norm(reg["P3"][0] - OFFSET) < 0.2 * np.linalg.norm(OFFSET)
    assert np.linalg.norm(reg["P1"][0]) < 0.2 * np.linalg.norm(OFFSET)


def test_adsb_anchors_the_biases_of_two_partners() -> None:
    """Two partners cannot say which of them is off; aircraft that broadcast their own
    position can: each partner is solved against them."""
    rng = np.random.default_rng(9)
    x0 = truth(40, rng)
    x, src = held(rng, x0, [np.zeros(3), OFFSET])
    ref_pairs, rows_of = reference_offsets(x, src, 2, adsb(rng, x0, 12))
    bias, shared = solve_biases(pair_offsets(x, src, 2) + ref_pairs, 2, reference=True)
    assert np.linalg.norm(bias[1] - OFFSET) < 0.2 * np.linalg.norm(OFFSET)
    assert np.linalg.norm(bias[0]) < 0.2 * np.linalg.norm(OFFSET)
    assert all(r.size >= 5 for r in rows_of) and np.all(shared > 0)


def test_a_majority_off_together_is_found_against_adsb() -> None:
    """Two of three partners off by the same 2 km: the median rule blames the honest one;
    against ADS-B the two are found."""
    rng = np.random.default_rng(10)
    x0 = truth(40, rng)
    x, src = held(rng, x0, [np.zeros(3), OFFSET, OFFSET])
    by_median, _ = registration_biases(x, src, 3)
    assert np.linalg.norm(by_median[0] + OFFSET) < 0.2 * np.linalg.norm(OFFSET)
    ref_pairs, _ = reference_offsets(x, src, 3, adsb(rng, x0, 12))
    bias, _ = solve_biases(pair_offsets(x, src, 3) + ref_pairs, 3, reference=True)
    want = np.array([np.zeros(3), OFFSET, OFFSET])
    assert np.all(np.linalg.norm(bias - want, axis=1) < 0.2 * np.linalg.norm(OFFSET))


def test_the_fuser_anchors_on_adsb_only_with_several_aircraft() -> None:
    """Through the fuser: P2 2 km off, only two partners. One aircraft (it could be a
    spoofer) anchors nothing; twelve anchor both partners."""
    rng = np.random.default_rng(11)
    x0 = truth(30, rng)
    fuser = SystemTracker()
    x, src = held(rng, at(x0, 10.0), [np.zeros(3), OFFSET], seen=0.9)
    for k, name in enumerate(("P1", "P2")):
        rows = np.flatnonzero(src == k)
        P = random_cov(rows.size, rng, 100.0, 5.0)
        fuser.ingest(batch(name, [f"T{i}" for i in rows], x[rows], P, 10.0))
    ref = adsb(rng, at(x0, 10.0), 30)
    one = fuser.registration(10.0, ref[:1], np.array([0x4B1234]))
    assert np.isnan(one["P2"][0]).all()
    reg = fuser.registration(10.0, ref[:12], np.arange(12))
    assert np.linalg.norm(reg["P2"][0] - OFFSET) < 0.2 * np.linalg.norm(OFFSET)
    assert np.linalg.norm(reg["P1"][0]) < 0.2 * np.linalg.norm(OFFSET)
