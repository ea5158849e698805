"""Tests of the constant-velocity model: blockwise == matrix form, composition, adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.flight import rk4_step
from mead.tracking.motion import (
    ConstantVelocity,
    cv_predict,
    cv_process_noise,
    cv_transition,
    predict,
)


def random_covs(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.normal(size=(n, 6, 6)) * 100
    return A @ A.swapaxes(-1, -2)


def test_cv_predict_equals_matrix_form() -> None:
    rng = np.random.default_rng(1)
    n = 25
    x, P = rng.normal(size=(n, 6)) * 1e3, random_covs(rng, n)
    dt, q = rng.uniform(0, 12, n), rng.uniform(0.1, 1e4, n)
    x1, P1 = cv_predict(x, P, dt, q)
    F, Q = cv_transition(dt), cv_process_noise(dt, q)
    np.testing.assert_allclose(x1, (F @ x[..., None])[..., 0], rtol=1e-12)
    np.testing.assert_allclose(P1, F @ P @ F.swapaxes(-1, -2) + Q, rtol=1e-10, atol=1e-6)


def test_cv_predict_batched_equals_looped() -> None:
    rng = np.random.default_rng(2)
    x, P = rng.normal(size=(10, 6)), random_covs(rng, 10)
    dt, q = rng.uniform(0, 10, 10), rng.uniform(1, 100, 10)
    xb, Pb = cv_predict(x, P, dt, q)
    for i in range(10):
        xi, Pi = cv_predict(x[i : i + 1], P[i : i + 1], dt[i : i + 1], q[i : i + 1])
        np.testing.assert_allclose(xb[i], xi[0])
        np.testing.assert_allclose(Pb[i], Pi[0])


def test_process_noise_composes_over_steps() -> None:
    """White-noise acceleration is exact over any split: Q(a+b) = F(b) Q(a) F(b)ᵀ + Q(b)."""
    a, b, q = np.array([2.0, 0.3]), np.array([3.0, 7.1]), np.array([40.0, 5e3])
    F = cv_transition(b)
    np.testing.assert_allclose(
        cv_process_noise(a + b, q),
        F @ cv_process_noise(a, q) @ F.swapaxes(-1, -2) + cv_process_noise(b, q),
        rtol=1e-12,
    )


def test_backward_prediction_never_shrinks_uncertainty() -> None:
    rng = np.random.default_rng(3)
    x, P = rng.normal(size=(5, 6)), random_covs(rng, 5)
    dt = np.full(5, -4.0)
    _, P1 = cv_predict(x, P, dt, np.full(5, 10.0))
    F = cv_transition(dt)
    extra = P1 - F @ P @ F.swapaxes(-1, -2)
    assert np.all(np.linalg.eigvalsh(extra) >= -1e-6)


def test_q_grows_with_speed_between_slow_and_fast() -> None:
    m = ConstantVelocity(q_slow=10.0, q_fast=1e4, v_slow_mps=300.0, v_fast_mps=1000.0)
    speeds = np.array([0.0, 300.0, 500.0, 800.0, 1000.0, 3000.0])
    x = np.zeros((len(speeds), 6))
    x[:, 4] = speeds
    q = m.q(x, np.ones(len(speeds)))
    np.testing.assert_allclose(q[[0, 1, 4, 5]], [10.0, 10.0, 1e4, 1e4])
    assert np.all(np.diff(q) >= 0) and 10.0 < q[2] < q[3] < 1e4
    np.testing.assert_allclose(m.q(x, np.full(len(speeds), 3.0)), 3 * q)


def test_adapt_boosts_on_large_nis_and_decays_to_one() -> None:
    m = ConstantVelocity(boost=10.0, decay=0.5, scale_max=50.0)
    scale = np.array([1.0, 1.0, 20.0, 8.0, 1.5])
    nis = np.array([2.0, 30.0, 30.0, 1.0, 0.5])
    np.testing.assert_allclose(m.adapt(scale, nis), [1.0, 10.0, 50.0, 4.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"q_slow": -1.0}, "q_slow"),
        ({"q_fast": float("nan")}, "q_fast"),
        ({"v_fast_mps": 100.0}, "v_fast_mps"),
        ({"decay": 1.5}, "decay"),
        ({"boost": 0.5}, "boost"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ConstantVelocity(**kwargs)


def test_rows_above_40_km_are_predicted_in_free_flight_and_the_rest_in_a_line() -> None:
    """A missile at 120 km falls along the free-flight law (RK4, no drag), forwards and back;
    an aircraft at 10 km keeps the straight line; covariances are CV's for both; the
    free-flight rows get q_free, the others the speed-based density."""
    p = geo.geodetic2ecef(np.array([32.0, 32.0]), np.array([40.0, 40.0]), np.array([120e3, 10e3]))
    v = np.array([[-2000.0, 500.0, 800.0], [200.0, 0.0, 0.0]])
    x, P = np.hstack([p, v]), np.broadcast_to(np.eye(6) * 100.0, (2, 6, 6)).copy()
    for dt in (5.0, -5.0, 25.0):
        xn, Pn = predict(x, P, np.full(2, dt), 50.0)
        xc, Pc = cv_predict(x, P, np.full(2, dt), 50.0)
        np.testing.assert_allclose(Pn, Pc)
        np.testing.assert_allclose(xn[1], xc[1])  # the aircraft: a straight line
        pr, vr = x[:1, :3].T, x[:1, 3:].T
        n = int(np.ceil(abs(dt) / 10.0))
        for _ in range(n):
            pr, vr = rk4_step(pr, vr, dt / n)
        np.testing.assert_allclose(xn[0, :3], pr[:, 0], atol=1e-6)
        np.testing.assert_allclose(xn[0, 3:], vr[:, 0], atol=1e-9)
        drop = np.linalg.norm(xn[0, :3] - xc[0, :3])  # ≈ g dt²/2 off the straight line
        assert 0.3 * 9.5 * dt**2 / 2 < drop < 1.5 * 9.5 * dt**2 / 2
    m = ConstantVelocity()
    fast = np.vstack([x[0], x[0]])
    fast[1, :3] = p[1]  # the same 2.2 km/s at 10 km: not free flight
    np.testing.assert_allclose(m.q(fast, np.ones(2)), [m.q_free, m.q_fast])
