"""Tests of the IMM motion model: kernels vs definitions, a ballistic arc, a manoeuvre."""

from __future__ import annotations

import numpy as np
import pytest

from mead import geo
from mead.geo import GM
from mead.sim.ballistic import ballistic_accel, propagate_ballistic
from mead.tracking.imm import (
    IMM,
    ballistic_predict,
    drag_jacobian,
    drag_predict,
    gravity,
    imm_combine,
    imm_mix,
    mode_transition,
)
from mead.tracking.measurement import kf_update
from mead.tracking.motion import ConstantVelocity, cv_predict
from mead.tracking.tracker import Tracker

from ._scenes import SIGMA, SIGMA_EW, enu2ecef, enu_vel2ecef, make_scan
from .test_tracker import turn_positions


def random_covs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    A = rng.normal(size=(*shape, 6, 6)) * 100
    return A @ A.swapaxes(-1, -2) + np.eye(6)


def test_mode_transition_rows_are_distributions() -> None:
    Pi = mode_transition(np.array([0.0, 5.0, -5.0]), np.array([120.0, 30.0, 60.0]))
    np.testing.assert_allclose(Pi.sum(axis=2), 1.0)
    np.testing.assert_allclose(Pi[0], np.eye(3))
    np.testing.assert_allclose(np.diagonal(Pi[1]), np.exp(-5.0 / np.array([120, 30, 60])))
    np.testing.assert_array_equal(Pi[1], Pi[2])


def test_mixing_equals_the_looped_definition() -> None:
    rng = np.random.default_rng(1)
    n, r = 7, 3
    mu = rng.dirichlet(np.ones(r), n)
    xm, Pm = rng.normal(size=(n, r, 6)) * 100, random_covs(rng, n, r)
    Pi = mode_transition(rng.uniform(1, 10, n), np.array([50.0, 20.0, 80.0]))
    c, x0, P0 = imm_mix(mu, xm, Pm, Pi)
    for k in range(n):
        for j in range(r):
            cj = sum(Pi[k, i, j] * mu[k, i] for i in range(r))
            w = [Pi[k, i, j] * mu[k, i] / cj for i in range(r)]
            xj = sum(w[i] * xm[k, i] for i in range(r))
            Pj = sum(w[i] * (Pm[k, i] + np.outer(xm[k, i] - xj, xm[k, i] - xj)) for i in range(r))
            assert c[k, j] == pytest.approx(cj)
            np.testing.assert_allclose(x0[k, j], xj, rtol=1e-10, atol=1e-9)
            np.testing.assert_allclose(P0[k, j], Pj, rtol=1e-10, atol=1e-6)
    # no switching: mixing changes nothing
    c, x0, P0 = imm_mix(mu, xm, Pm, np.broadcast_to(np.eye(r), (n, r, r)))
    np.testing.assert_allclose(c, mu)
    np.testing.assert_allclose(x0, xm)
    np.testing.assert_allclose(P0, Pm)


def test_combine_of_equal_modes_is_the_mode() -> None:
    rng = np.random.default_rng(2)
    x, P = rng.normal(size=(4, 6)), random_covs(rng, 4)
    mu = rng.dirichlet(np.ones(3), 4)
    xc, Pc = imm_combine(mu, np.repeat(x[:, None], 3, 1), np.repeat(P[:, None], 3, 1))
    np.testing.assert_allclose(xc, x, atol=1e-12)
    np.testing.assert_allclose(Pc, P, rtol=1e-12)


def test_ballistic_predict_is_constant_gravity_motion() -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([enu2ecef(rng.uniform(-1e5, 1e5, (5, 3))), rng.normal(0, 1e3, (5, 3))])
    P = random_covs(rng, 5)
    dt = rng.uniform(0.5, 5, 5)
    x1, P1 = ballistic_predict(x, P, dt, q=2.0)
    a = gravity(x[:, :3])
    r = np.linalg.norm(x[:, :3], axis=1)
    np.testing.assert_allclose(a, -GM * x[:, :3] / r[:, None] ** 3)
    assert 9.4 < np.linalg.norm(a, axis=1).min() and np.linalg.norm(a, axis=1).max() < 9.9
    np.testing.assert_allclose(
        x1[:, :3], x[:, :3] + x[:, 3:] * dt[:, None] + a * dt[:, None] ** 2 / 2
    )
    np.testing.assert_allclose(x1[:, 3:], x[:, 3:] + a * dt[:, None])
    np.testing.assert_allclose(P1, cv_predict(x, P, dt, np.full(5, 2.0))[1])


@pytest.mark.parametrize("m", [3, 4], ids=["polar", "range-rate"])
def test_update_of_equal_modes_is_the_kalman_update(m: int) -> None:
    rng = np.random.default_rng(4)
    k = 6
    x, P = rng.normal(size=(k, 6)) * 100, random_covs(rng, k)
    H = np.zeros((k, m, 6))
    H[:, :3, :3] = np.eye(3)
    if m == 4:  # range rate: the velocity along a line of sight (and κ never)
        H[:, 3, 3:] = [0.48, 0.6, 0.64]
    R, y = np.eye(m) * 50.0**2, rng.normal(size=(k, m)) * 100
    imm = IMM()
    mu, xm, Pm = imm.start(x, P)
    mu1, xm1, Pm1, xc, Pc = imm.update_modes(mu, xm, Pm, x, y, H, R)
    xk, Pk = kf_update(x, P, y, H, R)
    np.testing.assert_allclose(mu1, mu)  # equal likelihoods: probabilities unchanged
    np.testing.assert_allclose(xc, xk, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(Pc, Pk, rtol=1e-8, atol=1e-6)


def ballistic_truth(t_end: float, dt_out: float = 5.0, h: float = 0.05) -> np.ndarray:
    """ECEF states (K, 6) every ``dt_out`` s of a 2.2 km/s free-fall arc (RK4 at ``h`` s)."""
    s = np.concatenate([enu2ecef([-150e3, 50e3, 1e3]), enu_vel2ecef([1500.0, 500.0, 1500.0])])

    def f(s: np.ndarray) -> np.ndarray:
        return np.concatenate([s[3:], gravity(s[None, :3])[0]])

    out, every = [], round(dt_out / h)
    for i in range(round(t_end / h) + 1):
        if i % every == 0:
            out.append(s.copy())
        k1 = f(s)
        k2 = f(s + h / 2 * k1)
        k3 = f(s + h / 2 * k2)
        k4 = f(s + h * k3)
        s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.array(out)


def test_ballistic_arc_is_followed_better_than_with_cv() -> None:
    """Second half of a 200 s arc at 5 s scans: the IMM's position RMS is below adaptive CV's
    (which flies it in free flight above 40 km) and far below a straight-line CV's."""
    truth = ballistic_truth(200.0)
    t = 5.0 * np.arange(len(truth))
    rms, mu_end = {}, []
    motions = {
        "imm": IMM,
        "cv": ConstantVelocity,
        "straight": lambda: ConstantVelocity(free_flight_m=1e12),
    }
    for name, motion in motions.items():
        err = []
        for seed in range(3):
            rng = np.random.default_rng(seed)
            tr = Tracker("P1", motion=motion())
            for k, tk in enumerate(t):
                tr.step(make_scan(tk, truth[k, :3], rng=rng, sigma=SIGMA_EW))
                rep = tr.report(tk)
                if k >= len(t) // 2:
                    assert rep.ids == ["P1-T000001"]
                    err.append(np.linalg.norm(rep.x[0, :3] - truth[k, :3]))
            if name == "imm":
                mu_end.append(tr.table.mu[0])
        rms[name] = np.sqrt(np.mean(np.square(err)))
    assert rms["imm"] < 0.8 * rms["cv"]
    assert rms["cv"] < 0.6 * rms["straight"]
    assert min(m[2] for m in mu_end) > 0.9  # the ballistic mode wins


def test_manoeuvre_switches_the_mode_probabilities() -> None:
    """A 3 g, 180° turn: one track; the manoeuvre mode rises from ≈0 to dominant in the turn."""
    t = np.arange(0.0, 200.0, 5.0)
    accel = 3 * 9.81
    pos = enu2ecef(turn_positions(t, accel))
    straight, turn = (t >= 30) & (t < 60), (t >= 65) & (t < 60 + np.pi * 250.0 / accel)
    for seed in range(2):
        rng = np.random.default_rng(seed)
        tr, ids, mu = Tracker("P1", motion=IMM()), set(), []
        for k, tk in enumerate(t):
            tr.step(make_scan(tk, pos[k], rng=rng, sigma=SIGMA, clutter=2))
            ids |= set(tr.report(tk).ids)
            row = np.flatnonzero(tr.table.confirmed)
            mu.append(tr.table.mu[row[0]] if len(row) else np.full(3, np.nan))
        m = np.array(mu)
        assert ids == {"P1-T000001"}
        assert np.mean(m[straight, 1]) < 0.05
        assert np.mean(m[turn, 1]) > 0.3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"q_quiet": 0.0}, "q_quiet"),
        ({"sojourn_s": (1.0, -1.0, 1.0)}, "sojourn_s"),
        ({"mu0": (0.5, 0.5, 0.5)}, "mu0"),
    ],
)
def test_bad_imm_parameters(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        IMM(**kwargs)  # type: ignore[arg-type]


def test_plain_predict_is_the_mode_prediction_of_a_new_track() -> None:
    rng = np.random.default_rng(5)
    x, P, dt = rng.normal(size=(3, 6)) * 1e3, random_covs(rng, 3), np.array([1.0, 5.0, 0.0])
    imm = IMM()
    *_, xm, Pm = imm.predict_modes(*imm.start(x, P), dt)
    xp, Pp = imm.predict(x, P, dt, np.ones(3))
    np.testing.assert_array_equal(xp, xm)
    np.testing.assert_array_equal(Pp, Pm)
    np.testing.assert_array_equal(imm.adapt(np.ones(3) * 2, np.full(3, np.inf)), 2.0)


# --- the ballistic mode with drag (κ = 1/β as a state) ---


def reentry_state(speed: float = 3000.0, height: float = 80e3) -> np.ndarray:
    """ECEF state of a warhead descending at 35° below the horizon over the scenes' radar."""
    v = speed * np.array([np.cos(np.radians(35.0)), 0.0, -np.sin(np.radians(35.0))])
    return np.concatenate([enu2ecef([-120e3, 60e3, height]), enu_vel2ecef(v)])


def test_drag_jacobian_matches_finite_differences_of_the_simulator() -> None:
    """A = ∂[v, a]/∂[p, v, κ] against central differences of the truth's acceleration."""
    x = np.concatenate([reentry_state(height=25e3), [2e-4]])
    A = drag_jacobian(x[None])[0]

    def deriv(s: np.ndarray) -> np.ndarray:
        a = ballistic_accel(s[None, :6], 1.0 / s[6], j2=False)[0]
        return np.concatenate([s[3:6], a, [0.0]])

    step = np.array([1.0, 1.0, 1.0, 0.01, 0.01, 0.01, 1e-7])
    num = np.column_stack([(deriv(x + e) - deriv(x - e)) / (2 * e.sum()) for e in np.diag(step)])
    # ∂/∂p takes the density's height gradient along the geocentric radius: 1 % slack
    np.testing.assert_allclose(A[3:6, :3], num[3:6, :3], rtol=1e-2, atol=1e-6)
    np.testing.assert_allclose(A[3:6, 3:], num[3:6, 3:], rtol=1e-5)
    np.testing.assert_array_equal(A[:3, 3:6], np.eye(3))


def test_drag_predict_mean_is_the_simulator_and_covariance_the_spread() -> None:
    """The mean follows the truth's RK4; P matches the spread of 4,000 propagated samples."""
    x = np.concatenate([reentry_state(height=40e3), [2e-4]])
    rng = np.random.default_rng(7)
    P0 = np.diag([50.0**2] * 3 + [5.0**2] * 3 + [2e-5**2])
    dt = np.array([6.0])
    x1, P1 = drag_predict(x[None], P0[None], dt, q=1e-9, q_kappa=1e-30)
    truth = propagate_ballistic(x[None, :6], 5_000.0, dt=0.01, max_time_s=6.0, record=True)
    np.testing.assert_allclose(x1[0, :3], truth.path[-1, 0, :3], atol=0.5)
    samples = rng.multivariate_normal(x, P0, 4000)
    moved, _ = drag_predict(samples, np.broadcast_to(P0, (4000, 7, 7)).copy(),
                            np.full(4000, 6.0), q=1e-9, q_kappa=1e-30)  # fmt: skip
    emp = np.cov(moved.T)
    sd = np.sqrt(np.diag(P1[0]))
    np.testing.assert_allclose(np.sqrt(np.diag(emp)), sd, rtol=0.06)
    corr = P1[0] / np.outer(sd, sd)
    np.testing.assert_allclose(emp / np.outer(sd, sd), corr, atol=0.06)


def reentry_truth(t_end: float, beta: float = 5_000.0) -> np.ndarray:
    """States (K, 6) every 2 s of a re-entry with ballistic coefficient ``beta`` kg/m²."""
    path = propagate_ballistic(reentry_state()[None], beta, dt=0.01, max_time_s=t_end,
                               record=True).path  # fmt: skip
    assert path is not None
    return path[::200, 0]


def test_reentry_drag_is_estimated_and_tracked_better_than_in_vacuum() -> None:
    """Re-entry from 80 km to the ground at 2 s scans (β = 5,000 kg/m², up to ~12 g of drag).

    Below 40 km: with drag the velocity RMS is a small fraction of the vacuum model's (which
    falls back on the manoeuvre mode) and κ converges on 1/β.
    """
    truth = reentry_truth(46.0)
    t = 2.0 * np.arange(len(truth))
    low = geo.ecef2geodetic(truth[:, :3])[2] < 40e3
    rms, kappa = {}, []
    for drag in (True, False):
        err, verr = [], []
        for seed in range(3):
            rng = np.random.default_rng(seed)
            tr = Tracker("P1", motion=IMM(drag=drag, mu0=(0.1, 0.3, 0.6)))
            for k, tk in enumerate(t):
                tr.step(make_scan(tk, truth[k, :3], rng=rng, sigma=SIGMA))
                assert tr.n_tracks == 1
                if low[k]:
                    e = tr.table.x[0] - truth[k]
                    err.append(np.linalg.norm(e[:3]))
                    verr.append(np.linalg.norm(e[3:]))
            if drag:
                kappa.append(tr.table.xm[0, 2, 6])
        rms[drag] = (float(np.sqrt(np.mean(np.square(err)))), np.sqrt(np.mean(np.square(verr))))
    assert rms[True][0] < 0.8 * rms[False][0]
    assert rms[True][1] < 0.3 * rms[False][1]
    np.testing.assert_allclose(kappa, 1 / 5_000.0, rtol=0.1)
