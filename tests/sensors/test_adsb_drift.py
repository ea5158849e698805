"""The drift kernel: the lag-free residual against a brute-force search, the window's terms
on a synthetic turning flight, and named errors for bad limits."""

from __future__ import annotations

import numpy as np
import pytest

from mead.sensors.adsb_drift import DriftLimits, _lag_residual, drift_windows


def test_lag_residual_is_the_least_over_the_box() -> None:
    """Random discrepancies and velocities (parallel ones included): the closed form is no
    worse than a fine grid search over |τ_i|, |τ_j| ≤ lag and within the grid's spacing of
    it, and never exceeds |d|."""
    rng = np.random.default_rng(7)
    k, lag = 80, 10.0
    d = rng.normal(0.0, 2000.0, (k, 3))
    vi = rng.normal(0.0, 200.0, (k, 3))
    vj = rng.normal(0.0, 200.0, (k, 3))
    vj[:20] = vi[:20] * rng.uniform(0.5, 1.5, (20, 1))  # straight flight: parallel
    got = _lag_residual(d, vi, vj, lag)
    tau = np.linspace(-lag, lag, 201)
    ti, tj = np.meshgrid(tau, tau, indexing="ij")
    for n in range(k):
        r = d[n] - ti[..., None] * vi[n] + tj[..., None] * vj[n]
        brute = np.linalg.norm(r, axis=-1).min()
        grid_m = 0.5 * (tau[1] - tau[0]) * (np.linalg.norm(vi[n]) + np.linalg.norm(vj[n]))
        assert brute - grid_m <= got[n] <= brute + 1e-6
    assert np.all(got <= np.linalg.norm(d, axis=1) + 1e-9)


def _turning_flight(drift_mps: float) -> tuple[np.ndarray, ...]:
    """A flat-earth flight at 200 m/s turning at 1.5°/s for 2 minutes between straight legs,
    reported every 10 s exactly (positions from the true path), with positions drifting
    north at ``drift_mps`` from t = 300 s; ECEF axes stand in for E, N, U."""
    t = np.arange(0.0, 900.0, 10.0)
    dt = 0.01
    tf = np.arange(0.0, 900.0 + dt, dt)
    psi = np.radians(90.0 + 1.5 * np.clip(tf - 200.0, 0.0, 120.0))  # track, from north
    vf = 200.0 * np.column_stack([np.sin(psi), np.cos(psi), np.zeros_like(psi)])
    pf = np.vstack([np.zeros(3), np.cumsum(0.5 * (vf[1:] + vf[:-1]) * dt, axis=0)])
    idx = np.round(t / dt).astype(int)
    p, v = pf[idx].copy(), vf[idx]
    p[:, 1] += drift_mps * np.clip(t - 300.0, 0.0, None)
    up = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    return t, np.zeros(t.size, dtype=np.int64), p, v, up


def test_a_true_turning_flight_stays_within_its_terms_and_a_drift_does_not() -> None:
    lim = DriftLimits()
    _, drift_m, excess_m = drift_windows(*_turning_flight(0.0), lim)
    assert excess_m.max() < 0.0 and drift_m.max() < 200.0  # the turn's trapezoid error
    j, drift_m, excess_m = drift_windows(*_turning_flight(10.0), lim)
    hit = np.flatnonzero(excess_m > 0)
    assert hit.size and hit.min() * 10.0 > 300.0  # flags only once the drift has begun
    assert drift_m.max() == pytest.approx(10.0 * lim.window_s, rel=0.05)
    # each report's window reaches back window_s (or to the stretch's start)
    assert j[-1] == 90 - 1 - int(lim.window_s / 10.0) and j[0] == 0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("window_s", 0.0, "> 0"), ("max_gap_s", -1.0, "> 0"), ("pos_err_m", -5.0, ">= 0"),
     ("vel_err_mps", float("nan"), ">= 0"), ("lag_s", -1.0, ">= 0")],
)  # fmt: skip
def test_bad_limits_name_the_field(field: str, value: float, expected: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}' must be {expected} \\(got {value}\\)"):
        DriftLimits(**{field: value})
