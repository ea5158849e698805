"""Tests of the track score: plot likelihood, SPRT threshold, learned clutter density."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import stats

from mead.scenario.schema import Point, Sector, Sensor
from mead.sensors.radar import Radar
from mead.tracking.score import ClutterMap, confirm_threshold, log_likelihood


def test_log_likelihood_is_the_gaussian_log_density() -> None:
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 3, 3))
    S = A @ A.swapaxes(-1, -2) + 0.5 * np.eye(3)
    y = rng.normal(size=(5, 3))
    d2 = np.einsum("ki,kij,kj->k", y, np.linalg.inv(S), y)
    _, logdet = np.linalg.slogdet(S)
    want = [stats.multivariate_normal(np.zeros(3), S[k]).logpdf(y[k]) for k in range(5)]
    np.testing.assert_allclose(log_likelihood(d2, logdet, 3), want, rtol=1e-12)


def test_confirm_threshold_is_walds_upper_bound() -> None:
    assert confirm_threshold(1e-6, 1e-3) == pytest.approx(np.log(0.999e6))
    with pytest.raises(ValueError, match="alpha"):
        confirm_threshold(0.0, 0.1)


@pytest.mark.parametrize("sector", [None, Sector(min_az_deg=300.0, max_az_deg=400.0)])
def test_learned_density_matches_the_simulated_clutter(sector: Sector | None) -> None:
    """The radar draws clutter uniformly in its polar volume; ClutterMap learns that density
    from the plots alone (a sector across north is not taken for a full circle)."""
    radar = Radar(
        Sensor(
            id="R", site=Point(lat_deg=32.0, lon_deg=35.0), clutter_per_scan=20.0, sector=sector
        ),
        "P1",
    )
    rng, cmap = np.random.default_rng(7), ClutterMap()
    empty = np.empty((0, 6))
    for k in range(400):
        scan = radar.scan(float(k), np.empty(0, np.int64), empty, np.empty(0), rng)
        cmap.observe("R", scan.z, len(scan.z), polar=True)
    beta = np.exp(cmap.log_density("R", radar.sigma))
    assert beta == pytest.approx(radar.clutter_density, rel=0.15)


def test_density_before_any_plot_is_finite_and_conservative() -> None:
    cmap, sigma = ClutterMap(), np.array([50.0, 1e-3, 1e-3])
    ln_beta = cmap.log_density("R", sigma)
    # no plots yet: the floor count over a 6σ box, far denser than any real clutter
    assert ln_beta == pytest.approx(np.log(0.1) - np.sum(np.log(6 * sigma)))
    cmap.observe("R", np.empty((0, 3)), 0, polar=True)
    assert np.isfinite(cmap.log_density("R", sigma))


def test_clutter_map_copy_shares_nothing_it_learns() -> None:
    """The tracker's checkpoints copy the clutter map: the copy keeps its own spans."""
    cm = ClutterMap()
    z = np.array([[100e3, 0.5, 0.01], [120e3, 0.6, 0.02]])
    sigma = np.array([50.0, 0.002, 0.002])
    cm.observe("r", z, n_false=2, polar=True)
    snap = copy.deepcopy(cm)
    before = snap.log_density("r", sigma)
    cm.observe("r", z * [2.0, 3.0, 2.0], n_false=9, polar=True)
    assert cm.log_density("r", sigma) != before
    assert snap.log_density("r", sigma) == before
    assert snap.sensors["r"].false_per_scan == 2.0
