"""Tests of the fusion kernels: CV prediction and covariance intersection."""

from __future__ import annotations

import numpy as np
import pytest

from mead.fusion.ci import (
    ci_fuse,
    ci_leave_one_out,
    fast_ci_weights,
    group_starts,
)
from mead.tracking.motion import cv_predict

from ._fakes import random_cov


def _cv_loop(x: np.ndarray, P: np.ndarray, dt: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    I3, Z3 = np.eye(3), np.zeros((3, 3))
    F = np.block([[I3, dt * I3], [Z3, I3]])
    a = abs(dt)
    Q = q * np.block([[a**3 / 3 * I3, dt * a / 2 * I3], [dt * a / 2 * I3, a * I3]])
    return F @ x, F @ P @ F.T + Q


def test_cv_predict_batched_equals_looped_including_retrodiction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)) * 1e3
    P = random_cov(5, rng, 100.0, 10.0)
    dt = np.array([0.0, 0.5, 2.0, -1.0, 7.3])
    xp, Pp = cv_predict(x, P, dt, q=30.0)
    for k in range(5):
        xr, Pr = _cv_loop(x[k], P[k], dt[k], 30.0)
        np.testing.assert_allclose(xp[k], xr, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(Pp[k], Pr, rtol=1e-12, atol=1e-9)
    # retrodiction never shrinks the covariance below the no-noise back-propagation
    _, P0 = cv_predict(x, P, dt, q=0.0)
    assert np.all(np.linalg.eigvalsh(Pp - P0) >= -1e-9)


def _ci_loop(xs: list[np.ndarray], Ps: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Direct CI per the documented equation, with numpy.linalg, one group at a time."""
    a = np.array([1.0 / np.trace(P) for P in Ps])
    w = a / a.sum()
    info = sum(wi * np.linalg.inv(P) for wi, P in zip(w, Ps, strict=True))
    Pf = np.linalg.inv(info)
    xf = Pf @ sum(wi * np.linalg.inv(P) @ x for wi, x, P in zip(w, xs, Ps, strict=True))
    return xf, Pf


def test_ci_of_groups_equals_direct_computation() -> None:
    rng = np.random.default_rng(1)
    sizes = [2, 1, 3, 2, 4]
    n = sum(sizes)
    x = rng.normal(size=(n, 6)) * np.r_[[300.0] * 3, [20.0] * 3]
    P = random_cov(n, rng, 200.0, 15.0)
    starts, counts = group_starts(np.repeat(np.arange(len(sizes)), sizes))
    np.testing.assert_array_equal(counts, sizes)
    xf, Pf = ci_fuse(x, P, starts)
    for g, (s, c) in enumerate(zip(starts, counts, strict=True)):
        xr, Pr = _ci_loop(list(x[s : s + c]), list(P[s : s + c]))
        np.testing.assert_allclose(xf[g], xr, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(Pf[g], Pr, rtol=1e-9, atol=1e-6)
    w = fast_ci_weights(P, starts)
    np.testing.assert_allclose(np.add.reduceat(w, starts), 1.0)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_ci_of_identical_estimates_returns_the_estimate(k: int) -> None:
    rng = np.random.default_rng(2)
    x = np.repeat(rng.normal(size=(1, 6)) * 1e4, k, axis=0)
    P = np.repeat(random_cov(1, rng, 150.0, 8.0), k, axis=0)
    xf, Pf = ci_fuse(x, P, np.array([0]))
    np.testing.assert_allclose(xf[0], x[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(Pf[0], P[0], rtol=1e-9, atol=1e-6)


def test_leave_one_out_equals_ci_without_the_row() -> None:
    rng = np.random.default_rng(3)
    sizes = [3, 1, 2, 4]
    n = sum(sizes)
    x = rng.normal(size=(n, 6)) * 100
    P = random_cov(n, rng, 100.0, 10.0)
    starts, counts = group_starts(np.repeat(np.arange(len(sizes)), sizes))
    xo, Po, has = ci_leave_one_out(x, P, starts)
    rows = np.array([0, 3, 6, 9])
    xs, Ps, hs = ci_leave_one_out(x, P, starts, rows=rows)
    np.testing.assert_allclose(xs, xo[rows])
    np.testing.assert_allclose(Ps, Po[rows])
    np.testing.assert_array_equal(hs, has[rows])
    for s, c in zip(starts, counts, strict=True):
        for r in range(s, s + c):
            others = [j for j in range(s, s + c) if j != r]
            if not others:
                assert not has[r]
                np.testing.assert_array_equal(xo[r], x[r])
                continue
            xr, Pr = _ci_loop(list(x[others]), list(P[others]))
            np.testing.assert_allclose(xo[r], xr, rtol=1e-7, atol=1e-6)
            np.testing.assert_allclose(Po[r], Pr, rtol=1e-7, atol=1e-6)


def _joint(Pa: np.ndarray, Pb: np.ndarray, rho: float) -> np.ndarray:
    """A valid 12×12 joint error covariance with marginals Pa, Pb and cross rho·La·Lbᵀ."""
    La, Lb = np.linalg.cholesky(Pa), np.linalg.cholesky(Pb)
    C = rho * La @ Lb.T
    return np.block([[Pa, C], [C.T, Pb]])


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.6, 0.95, 1.0])
def test_ci_is_never_overconfident_for_any_cross_correlation(rho: float) -> None:
    """P_CI ≥ the true covariance of the CI error W_a e_a + W_b e_b (exact), and a
    seeded Monte-Carlo NEES of the fused error stays at or below the dimension."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        P2 = random_cov(2, rng, rng.uniform(50, 500), rng.uniform(3, 30))
        xf, Pf = ci_fuse(np.zeros((2, 6)), P2, np.array([0]))
        a = 1.0 / np.trace(P2, axis1=1, axis2=2)
        w = a / a.sum()
        W = np.hstack([Pf[0] @ (w[i] * np.linalg.inv(P2[i])) for i in range(2)])  # (6, 12)
        true = W @ _joint(P2[0], P2[1], rho) @ W.T
        assert np.linalg.eigvalsh(Pf[0] - true).min() >= -1e-6 * np.trace(true)
    # Monte-Carlo on the last pair: the fused estimator's NEES mean is ≤ 6 (+ MC slack)
    L = np.linalg.cholesky(_joint(P2[0], P2[1], rho) + 1e-9 * np.eye(12))
    e = rng.normal(size=(4000, 12)) @ L.T
    truth = np.array([4e6, 1e6, 4.8e6, 100.0, -50.0, 0.0])
    n = e.shape[0]
    x = np.stack([truth + e[:, :6], truth + e[:, 6:]], axis=1).reshape(2 * n, 6)
    P = np.tile(P2, (n, 1, 1))
    xf, Pf = ci_fuse(x, P, np.arange(0, 2 * n, 2))
    err = xf - truth
    nees = np.einsum("ni,ni->n", err, np.linalg.solve(Pf, err[:, :, None])[:, :, 0])
    assert nees.mean() <= 6.0 * 1.05
    # the naive (independence-assuming) fusion is overconfident when errors correlate
    if rho >= 0.95:
        Yn = np.linalg.inv(P2[0]) + np.linalg.inv(P2[1])
        Pn = np.linalg.inv(Yn)
        xn = Pn @ (np.linalg.inv(P2[0]) @ e[:, :6, None] + np.linalg.inv(P2[1]) @ e[:, 6:, None])
        naive = np.einsum("ni,ni->n", xn[:, :, 0], np.linalg.solve(Pn, xn)[:, :, 0])
        assert naive.mean() > 6.0 * 1.2


def test_bad_input_names_the_argument() -> None:
    x, P = np.zeros((2, 6)), np.tile(np.eye(6), (2, 1, 1))
    with pytest.raises(ValueError, match="'P'"):
        ci_fuse(x, P[:1], np.array([0]))
    with pytest.raises(ValueError, match="'x'"):
        cv_predict(np.zeros((2, 4)), P, 1.0, 1.0)
    with pytest.raises(ValueError, match="'starts'"):
        ci_fuse(x, P, np.array([1]))
    with pytest.raises(ValueError, match="'starts'"):
        ci_fuse(x, P, np.array([0, 0]))
    with pytest.raises(ValueError, match="'q'"):
        cv_predict(x, P, 1.0, -1.0)
    xf, Pf = ci_fuse(np.empty((0, 6)), np.empty((0, 6, 6)), np.empty(0, np.intp))
    assert xf.shape == (0, 6) and Pf.shape == (0, 6, 6)
