"""Tests of mead.threat.chord: chord velocities from a track's own position history."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from threat_profiles import enu2state, flight, kepler_arc

from mead.flight import acceleration as ecef_acceleration
from mead.flight import height_m as ground_height_m
from mead.threat.chord import History


def _feed(h, times, states, P=None, inv_beta=None, max_age=np.inf, free=True):
    """Run one track (row 0) through a History; return the chords at each time."""
    out = []
    rows = np.array([0])
    for k, t in enumerate(times):
        Pk = None if P is None else P[k : k + 1]
        long, short, i, j = h.chords(
            rows, t, states[k : k + 1], Pk, inv_beta, np.array([max_age]), np.array([free])
        )
        h.record(rows, t, states[k : k + 1], Pk)
        out.append((long, short, int(i[0]), int(j[0])))
    return out


def test_free_flight_chord_is_exact_on_a_kepler_arc():
    sol, t_imp, _ = kepler_arc()
    t = np.arange(50.0, t_imp - 60.0, 4.0)
    x = sol(t).T
    h = History(15.0, 8)
    h.grow(64)
    res = _feed(h, t, x, max_age=60.0)
    for k, (long, short, _, _) in enumerate(res):
        if not long.valid[0]:
            assert t[k] - t[0] < 15.0
            continue
        assert np.linalg.norm(long.free[0] - x[k, 3:]) < 0.05
        assert np.linalg.norm(short.free[0] - x[k, 3:]) < 0.05
    long, _, _, _ = res[-1]
    assert np.linalg.norm(long.plain[0] - x[-1, 3:]) > 10.0  # the plain chord: bent by gravity


def test_free_flight_chord_with_drag():
    inv_beta = 1.0 / 2000.0
    x0 = enu2state(32.0, 35.0, 60e3, [[0.0, 1500.0, -800.0]])[0]

    def f(_t, s):
        return np.r_[
            s[3:], ecef_acceleration(s[:3, None], s[3:, None], np.array([inv_beta]))[:, 0]
        ]

    t = np.arange(0.0, 40.0, 4.0)
    sol = solve_ivp(f, (0, 40), x0, t_eval=t, rtol=1e-11, atol=1e-6)
    x = sol.y.T
    assert ground_height_m(x[-1, :3, None])[0] > 20e3  # stays above the free-flight floor
    h = History(15.0, 8)
    h.grow(64)
    long, _, _, _ = _feed(h, t, x, inv_beta=inv_beta)[-1]
    assert np.linalg.norm(long.free[0] - x[-1, 3:]) < 0.5
    h2 = History(15.0, 8)
    h2.grow(64)
    vac, _, _, _ = _feed(h2, t, x, inv_beta=None)[-1]
    assert np.linalg.norm(vac.free[0] - x[-1, 3:]) > 5.0  # drag matters at 60 km


def test_plain_chord_and_its_covariance():
    t = np.arange(0.0, 200.0, 4.0)
    x = flight(t, np.full(t.size, 1000.0), 51.0, 90.0)
    P = np.repeat(np.diag([300.0**2] * 3 + [40.0**2] * 3)[None], t.size, 0)
    h = History(15.0, 8)
    h.grow(64)
    res = _feed(h, t, x, P=P, free=False)
    long, short, i, j = res[-1]
    T_long = t[-1] - h._t[0, i]
    np.testing.assert_allclose(np.linalg.norm(long.plain[0]), 51.0, rtol=0.01)
    np.testing.assert_allclose(long.Pv[0], 2 * 300.0**2 / T_long**2 * np.eye(3), rtol=1e-9)
    assert T_long > 100.0  # up to slots × spacing
    assert short.Pv[0, 0, 0] > long.Pv[0, 0, 0]
    assert np.all(long.free == 0.0)  # not asked for


def test_anchor_spacing_slots_max_age_and_drop():
    h = History(15.0, 4)
    h.grow(64)
    t = np.arange(0.0, 200.0, 4.0)
    x = flight(t, np.full(t.size, 1000.0), 51.0, 90.0)
    _feed(h, t, x, free=False)
    held = h._t[0, : h._n[0]].copy()
    assert h._n[0] == 4 and np.all(np.diff(held) >= 15.0)
    rows = np.array([0])
    long, short, i, j = h.chords(
        rows, 200.0, x[-1:], None, None, np.array([40.0]), np.array([False])
    )
    assert 200.0 - h._t[0, i[0]] <= 40.0 and j[0] >= i[0]
    h.drop_older(rows, j)
    assert h._n[0] == 4 - j[0] and h._t[0, 0] == held[j[0]]
    h.clear([0])
    long, *_ = h.chords(rows, 204.0, x[-1:], None, None, np.array([np.inf]), np.array([False]))
    assert not long.valid[0]
    with pytest.raises(ValueError, match="slots"):
        History(15.0, 1)
