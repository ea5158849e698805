"""Free-flight fits: exact on noise-free flight, calibrated on simulated radar tracks,
robust to a boost in the window, and loud about bad parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.threat.impact import predict_impact
from mead.threat.trajectory import FreeFlightFit, propagate

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


def _arc(beta: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States (T, 6) of an unpowered arc with drag at times t (from a burnout state), and
    the state at t[0] with κ."""
    p = geo.geodetic2ecef(np.array([34.0]), np.array([46.0]), np.array([90e3]))
    R = geo.enu_rotations(np.array([34.0]), np.array([46.0])).reshape(3, 3)
    v = R.T @ np.array([-2400.0, -300.0, 1200.0])  # west-south-west, climbing
    theta = np.concatenate([np.ravel(p), v, [1.0 / beta]])[None]
    h = np.diff(t)[:, None]
    return propagate(theta, h)[:, 0], theta[0]


def test_noise_free_positions_give_the_arc() -> None:
    """Mid-course positions of an unpowered arc, with the drag known: the fitted state now
    is the arc's, and its impact lands within 100 m of the arc's own."""
    t = np.arange(0.0, 200.0, 5.0)
    x, theta = _arc(4000.0, t)
    fit = FreeFlightFit(kappa0=1.0 / 4000.0, kappa_std=1e-7)
    P = np.broadcast_to(np.diag([50.0**2] * 3 + [10.0**2] * 3), (1, 6, 6))
    for k, tk in enumerate(t):
        out = fit.step(float(tk), ["m"], x[k : k + 1], P, np.array([True]))
    assert out.ok[0]
    np.testing.assert_allclose(out.x[0, :3], x[-1, :3], atol=5.0)  # m
    np.testing.assert_allclose(out.x[0, 3:6], x[-1, 3:], atol=1.0)  # m/s
    truth = predict_impact(np.r_[x[-1], 1.0 / 4000.0][None], np.zeros((1, 7, 7)))
    got = predict_impact(out.x, out.P)
    miss = np.linalg.norm(got.p_ecef[0] - truth.p_ecef[0])
    assert miss < 100.0 and got.radius_m[0] < 2_000.0


def test_a_track_recorded_but_not_wanted_costs_no_fit_and_keeps_its_history() -> None:
    """``fit`` False: positions are kept, nothing is fitted; once wanted, the track fits
    at once from the history it kept (and matches a track fitted all along); between new
    positions the last fit is flown on to now."""
    t = np.arange(0.0, 200.0, 5.0)
    x, _ = _arc(4000.0, t)
    P = np.broadcast_to(np.diag([50.0**2] * 3 + [10.0**2] * 3), (2, 6, 6))
    fit = FreeFlightFit(kappa0=1.0 / 4000.0, kappa_std=1e-7)
    use = np.array([True, True])
    for k, tk in enumerate(t):
        xx = np.repeat(x[k : k + 1], 2, axis=0)
        wanted = np.array([True, tk >= 150.0])  # the second is wanted only from 150 s
        out = fit.step(float(tk), ["a", "b"], xx, P, use, fit=wanted)
        if tk < 150.0:
            assert not out.ok[1]
        if tk >= 150.0:
            assert out.ok.all()
            np.testing.assert_allclose(out.x[1, :3], out.x[0, :3], atol=5.0)
            np.testing.assert_allclose(out.x[0, :3], x[k, :3], atol=5.0)


def test_a_boost_in_the_window_is_not_fitted() -> None:
    """Positions that no free flight explains (thrust of 3 g along the velocity for the
    first 60 s) fail the residual test: no fit until the window holds free flight only."""
    t = np.arange(0.0, 200.0, 5.0)
    x, _ = _arc(5000.0, t)
    push = np.where(t < 60.0, 0.5 * 30.0 * (60.0 - np.minimum(t, 60.0)) ** 2, 0.0)
    u = x[:, 3:] / np.linalg.norm(x[:, 3:], axis=1, keepdims=True)
    z = x.copy()
    z[:, :3] -= push[:, None] * u  # behind the coasting arc while boosting
    fit = FreeFlightFit()
    P = np.broadcast_to(np.diag([30.0**2] * 3 + [10.0**2] * 3), (1, 6, 6))
    oks = [
        bool(fit.step(float(tk), ["m"], z[k : k + 1], P, np.array([True])).ok[0])
        for k, tk in enumerate(t)
    ]
    assert not any(oks[: int(np.searchsorted(t, 70.0))])  # never while the boost is seen
    assert oks[-1]


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(ValueError, match="min_span_s"):
        FreeFlightFit(window_s=10.0, min_span_s=20.0)


def test_calibrated_on_simulated_radar_tracks() -> None:
    """Small size of ``benchmarks.bench_calibration``: 2 seeds, 2 missiles each with a drag
    the fit does not know. The stated 95 % region holds the true impact in 85–100 % of the
    predictions 1–6 min out, and the median error is below 1.5 km."""
    from benchmarks.bench_calibration import BETA_RANGE, one_raid, run_seed

    from mead.scenario import load_scenario

    base = load_scenario(SMALL)
    rows = []
    for seed in (11, 12):
        beta = float(np.exp(np.random.default_rng(seed).uniform(*np.log(BETA_RANGE))))
        rows += run_seed(one_raid(base, 2, beta), seed, "P1", 5.0)["fit"]
    a = np.array(rows)
    mid = (a[:, 0] >= 60.0) & (a[:, 0] < 360.0)
    assert mid.sum() > 100
    inside = np.mean(a[mid, 1] <= a[mid, 2])
    assert 0.85 <= inside <= 1.0, inside
    assert np.median(a[mid, 1]) < 1_500.0


def test_the_newest_track_velocity_tightens_a_short_fit_and_stays_calibrated() -> None:
    """30 s of positions 1 km noisy (a radar's angles far out) and the track's newest
    velocity, good along one axis (range rate) and poor across: the fit that weighs the
    velocity is several times tighter along that axis than the positions-only fit, and its
    stated covariance still holds the true velocity as often as a 95 % gate should."""
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 35.0, 5.0)
    x, _ = _arc(4000.0, t)
    m = 80
    sig_v = np.array([5.0, 80.0, 80.0])  # m/s, ECEF axes
    P = np.broadcast_to(np.diag([1000.0**2] * 3 + list(sig_v**2)), (m, 6, 6))
    ids = [f"m{k}" for k in range(m)]
    fits = {
        v: FreeFlightFit(kappa0=1.0 / 4000.0, velocity_scale=v, min_span_s=20.0)
        for v in (None, 1.0)
    }
    out = {}
    for k, tk in enumerate(t):
        z = np.repeat(x[k : k + 1], m, axis=0)
        z[:, :3] += rng.normal(0.0, 1000.0, (m, 3))
        z[:, 3:] += rng.normal(0.0, 1.0, (m, 3)) * sig_v
        for v, f in fits.items():
            out[v] = f.step(float(tk), ids, z, P, np.ones(m, bool))
    assert out[None].ok.all() and out[1.0].ok.all()
    err = {v: o.x[:, 3:6] - x[-1, 3:] for v, o in out.items()}
    spread = {v: np.sqrt(np.mean(e[:, 0] ** 2)) for v, e in err.items()}
    assert spread[1.0] < 0.4 * spread[None], spread  # the range-rate axis
    Pv = out[1.0].P[:, 3:6, 3:6]
    nees = np.einsum("mi,mij,mj->m", err[1.0], np.linalg.inv(Pv), err[1.0])
    assert np.mean(nees <= 7.81) >= 0.85  # χ²(3) 95 %


def test_one_singular_fit_does_not_fail_the_others() -> None:
    """The normal matrices of a batch: a singular and a non-finite one are flagged, the
    good one is inverted (one batch inverse would raise for all three)."""
    from mead.threat.trajectory import _inverse

    good = np.diag([4.0, 2.0, 1.0])
    singular = 1e6 * np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    broken = np.full((3, 3), np.nan)
    inv, ok = _inverse(np.stack([good, singular, broken, good]))
    assert ok.tolist() == [True, False, False, True]
    np.testing.assert_allclose(inv[0], np.diag([0.25, 0.5, 1.0]), rtol=1e-9)
    assert not inv[1].any() and not inv[2].any()
