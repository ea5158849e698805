"""TruthTable.states_at interpolates flat per-object samples; checked on straight lines."""

from __future__ import annotations

import numpy as np
import pytest

from mead.sim.base import TruthTable


def _line_table() -> TruthTable:
    """Two objects on straight lines: p(t) = p0 + v (t − t0), sampled every 2 s and 0.5 s."""
    p0 = np.array([[4e6, 1e6, 4.5e6], [-3e6, 2e6, 5e6]])
    v = np.array([[100.0, -50.0, 20.0], [-10.0, 30.0, 5.0]])
    t0, n, dt = np.array([5.0, -3.0]), np.array([11, 9]), np.array([2.0, 0.5])
    rows = [
        np.concatenate(
            [
                p0[i] + v[i] * (np.arange(n[i]) * dt[i])[:, None],
                np.repeat(v[i][None], n[i], axis=0),
            ],
            axis=1,
        )
        for i in range(2)
    ]
    return TruthTable(
        ["a-000", "civil-0000"],
        np.array(["drone", "aircraft"]),
        ["a", "civil"],
        np.array([0.1, 30.0]),
        t0,
        t0 + (n - 1) * dt,
        ["X", ""],
        np.stack([r[-1, :3] for r in rows]),
        dt,
        np.array([0, 11]),
        n,
        np.concatenate(rows),
    )


@pytest.mark.parametrize("t", [5.0, 5.3, 7.0, 12.9, 24.99, -3.0, -2.2, 0.9])
def test_states_at_is_exact_on_a_straight_line(t: float) -> None:
    tab = _line_table()
    alive, x = tab.states_at(t)
    for k, i in enumerate(alive):
        o = tab.offset[i]
        v = tab.samples[o, 3:]
        np.testing.assert_allclose(
            x[k, :3], tab.samples[o, :3] + v * (t - tab.t_start[i]), rtol=0, atol=1e-6
        )
        np.testing.assert_allclose(x[k, 3:], v)
    expect = [i for i in range(2) if tab.t_start[i] <= t < tab.t_end[i]]
    assert list(alive) == expect


def test_nothing_alive_outside_the_flights() -> None:
    tab = _line_table()
    for t in (-10.0, 25.0, 100.0):
        alive, x = tab.states_at(t)
        assert alive.size == 0 and x.shape == (0, 6)
    assert len(tab) == 2
