"""Tests of gating: coarse k-d tree pass vs brute force, the χ² gate vs an exhaustive search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from mead import geo
from mead.tracking.gating import BRUTE_FORCE_PAIRS, ChiSquareGate, coarse_pairs, mahalanobis2
from mead.tracking.measurement import (
    CartesianFrame,
    Site,
    ecef2polar,
    polar2ecef,
    polar_h,
    polar_innovation,
    polar_predict,
)

SITE = Site.from_geodetic(48.0, 2.0, 50.0)
SIGMA = np.array([75.0, np.radians(0.2), np.radians(0.3)])


def scene(rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N tracks with mixed uncertainty in a 100 km box and M plots near them or anywhere."""
    enu = np.column_stack(
        [rng.uniform(-50e3, 50e3, n), rng.uniform(20e3, 120e3, n), rng.uniform(1e3, 10e3, n)]
    )
    p = geo.enu2ecef(enu, SITE.lat_deg, SITE.lon_deg, SITE.alt_m)
    x = np.column_stack([p, rng.normal(0, 200, (n, 3))])
    std = np.where(rng.random(n) < 0.2, 5e3, 300.0)  # some new, wide tracks
    P = np.zeros((n, 6, 6))
    P[:, :3, :3] = np.eye(3) * std[:, None, None] ** 2
    P[:, 3:, 3:] = np.eye(3) * 100.0**2
    near = p[rng.integers(0, n, m)] + rng.normal(size=(m, 3)) * 2e3
    z = ecef2polar(near, SITE)
    return x, P, z


@pytest.mark.parametrize("n, m", [(30, 40), (300, 400)])  # every distance / k-d trees
def test_coarse_pairs_match_brute_force(n: int, m: int) -> None:
    assert (n * m <= BRUTE_FORCE_PAIRS) == (n == 30)
    rng = np.random.default_rng(1)
    tp, pp = rng.uniform(0, 1e5, (n, 3)), rng.uniform(0, 1e5, (m, 3))
    r = rng.uniform(1e3, 8e3, n) * (10 if n == 30 else 1)
    i, j = coarse_pairs(tp, r, pp)
    bi, bj = np.nonzero(cdist(tp, pp) <= r[:, None])
    assert len(bi) > 0
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(
        zip(bi.tolist(), bj.tolist(), strict=True)
    )
    assert np.all(np.diff(i) >= 0)  # sorted by track


def test_coarse_pairs_empty() -> None:
    for n, m in [(0, 5), (5, 0), (0, 0)]:
        i, j = coarse_pairs(np.zeros((n, 3)), np.ones(n), np.ones((m, 3)))
        assert len(i) == len(j) == 0


def test_gate_equals_exhaustive_chi_square_gate() -> None:
    """The coarse pass never drops a pair the χ² gate would keep."""
    rng = np.random.default_rng(2)
    x, P, z = scene(rng, 150, 300)
    gate = ChiSquareGate(prob=0.999)
    g = gate.gate(x, P, z, SIGMA, SITE)
    pred = polar_predict(x, P, np.arange(len(x)), np.diag(SIGMA**2), SITE)
    ti, pj = np.meshgrid(np.arange(len(x)), np.arange(len(z)), indexing="ij")
    ti, pj = ti.ravel(), pj.ravel()
    d2 = mahalanobis2(polar_innovation(z[pj], pred.zhat[ti]), pred.S_inv[ti])
    keep = d2 <= gate.gamma
    assert keep.sum() > 100
    got = set(zip(g.track.tolist(), g.plot.tolist(), strict=True))
    assert got == set(zip(ti[keep].tolist(), pj[keep].tolist(), strict=True))
    order = np.lexsort((g.plot, g.track))
    np.testing.assert_allclose(g.d2[order], d2[keep], rtol=1e-9)
    np.testing.assert_allclose(g.logdet, pred.logdet[g.track], rtol=1e-12)
    np.testing.assert_array_equal(g.pred.idx[g.row], g.track)


def test_gate_keeps_own_plots_at_its_probability() -> None:
    """Plots drawn from the predicted distribution land in the gate ≈ ``prob`` of the time."""
    rng = np.random.default_rng(3)
    n = 4000
    x = np.tile(
        np.concatenate(
            [
                geo.enu2ecef(np.array([3e4, 8e4, 5e3]), SITE.lat_deg, SITE.lon_deg, SITE.alt_m),
                [200.0, 0, 0],
            ]
        ),
        (n, 1),
    )
    P = np.broadcast_to(np.diag([400.0**2] * 3 + [50.0**2] * 3), (n, 6, 6)).copy()
    truth = x[:, :3] + rng.multivariate_normal(np.zeros(3), P[0, :3, :3], n)
    z = ecef2polar(truth, SITE) + rng.normal(size=(n, 3)) * SIGMA
    gate = ChiSquareGate(prob=0.99)
    g = gate.gate(x[:1], P[:1], z, SIGMA, SITE)
    frac = len(g.plot) / n
    assert 0.985 < frac < 0.995


def test_gate_with_no_tracks_or_plots() -> None:
    x, P, z = scene(np.random.default_rng(4), 5, 5)
    assert len(ChiSquareGate().gate(x, P, z[:0], SIGMA, SITE).track) == 0
    assert len(ChiSquareGate().gate(x[:0], P[:0], z, SIGMA, SITE).track) == 0


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"prob": 1.0}, "prob"), ({"margin": 0.5}, "margin")]
)
def test_bad_gate_parameters(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ChiSquareGate(**kwargs)


def test_cartesian_gate_equals_exhaustive_chi_square_gate() -> None:
    """Same as above with Cartesian ENU plots (a ``CartesianFrame``): no pair is lost."""
    rng = np.random.default_rng(5)
    x, P, z_polar = scene(rng, 150, 300)
    frame = CartesianFrame.from_geodetic(SITE.lat_deg, SITE.lon_deg, SITE.alt_m)
    z = frame.from_ecef(polar2ecef(z_polar, SITE))
    sigma = np.array([300.0, 300.0, 100.0])
    gate = ChiSquareGate(prob=0.999)
    g = gate.gate(x, P, z, sigma, frame)
    pred = frame.predict(x, P, np.arange(len(x)), np.diag(sigma**2))
    ti, pj = (a.ravel() for a in np.meshgrid(np.arange(len(x)), np.arange(len(z)), indexing="ij"))
    d2 = mahalanobis2(z[pj] - pred.zhat[ti], pred.S_inv[ti])
    keep = d2 <= gate.gamma
    assert keep.sum() > 100
    got = set(zip(g.track.tolist(), g.plot.tolist(), strict=True))
    assert got == set(zip(ti[keep].tolist(), pj[keep].tolist(), strict=True))


SIGMA4 = np.array([*SIGMA, 5.0])


def test_range_rate_gate_equals_exhaustive_chi_square_gate_with_4_dof() -> None:
    """Plots with range rate: d² over all 4 components against χ²₄; no pair is lost."""
    rng = np.random.default_rng(6)
    x, P, z3 = scene(rng, 150, 300)
    near_v = x[rng.integers(0, len(x), len(z3)), 3:] + rng.normal(size=(len(z3), 3)) * 100
    rdot = np.einsum("ij,ij->i", polar2ecef(z3, SITE) - SITE.origin, near_v) / z3[:, 0]
    z = np.column_stack([z3, rdot])
    gate = ChiSquareGate(prob=0.999)
    assert gate.threshold(4) == pytest.approx(18.4668, abs=1e-3) and gate.gamma4 > gate.gamma
    g = gate.gate(x, P, z, SIGMA4, SITE)
    pred = polar_predict(x, P, np.arange(len(x)), np.diag(SIGMA4**2), SITE)
    ti, pj = (a.ravel() for a in np.meshgrid(np.arange(len(x)), np.arange(len(z)), indexing="ij"))
    d2 = mahalanobis2(polar_innovation(z[pj], pred.zhat[ti]), pred.S_inv[ti])
    keep = d2 <= gate.gamma4
    assert keep.sum() > 50
    got = set(zip(g.track.tolist(), g.plot.tolist(), strict=True))
    assert got == set(zip(ti[keep].tolist(), pj[keep].tolist(), strict=True))
    assert g.y.shape == (len(g.track), 4) and g.pred.dim == 4
    # the range rate rejects pairs that the positions alone accept
    g3 = gate.gate(x, P, z3, SIGMA, SITE)
    assert len(set(zip(g3.track.tolist(), g3.plot.tolist(), strict=True)) - got) > 20


def test_range_rate_gate_keeps_own_plots_at_its_probability() -> None:
    """Plots with ṙ drawn from the predicted distribution land in the gate ≈ ``prob``."""
    rng = np.random.default_rng(7)
    n = 4000
    p0 = geo.enu2ecef(np.array([3e4, 8e4, 5e3]), SITE.lat_deg, SITE.lon_deg, SITE.alt_m)
    x = np.tile(np.concatenate([p0, [200.0, -100.0, 50.0]]), (n, 1))
    P = np.broadcast_to(np.diag([400.0**2] * 3 + [50.0**2] * 3), (n, 6, 6)).copy()
    truth = x + rng.multivariate_normal(np.zeros(6), P[0], n)
    z = polar_h(truth, SITE, range_rate=True)[0] + rng.normal(size=(n, 4)) * SIGMA4
    g = ChiSquareGate(prob=0.99).gate(x[:1], P[:1], z, SIGMA4, SITE)
    assert 0.985 < len(g.plot) / n < 0.995


def test_gate_refuses_other_plot_sizes() -> None:
    with pytest.raises(ValueError, match="3 or 4 components"):
        ChiSquareGate().threshold(5)
