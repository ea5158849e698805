"""Simulated ADS-B: noise statistics, equipage, threats silent, receiver range, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.scenario import load_scenario
from mead.scenario.schema import Civil
from mead.sensors.adsb import adsb_rng, draw_identities, heard_by, simulate_adsb, truth_states
from mead.sim.truth import simulate_truth

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    sc = load_scenario(ROOT / "scenarios" / "airport.yaml")
    truth = simulate_truth(sc, np.random.default_rng(np.random.SeedSequence(sc.seed).spawn(2)[0]))
    return sc, truth, simulate_adsb(sc, truth, adsb_rng(sc.seed))


def test_noise_statistics_match_the_configured_sigmas(world) -> None:  # type: ignore[no-untyped-def]
    sc, truth, rep = world
    one = rep.for_partner("P1")  # each broadcast once
    x = truth_states(truth, one.truth, one.t)
    lat, lon, _ = geo.ecef2geodetic(x[:, :3])
    enu = np.einsum("kij,kj->ki", geo.enu_rotations(lat, lon), one.ecef - x[:, :3])
    k = len(one)
    assert k > 1000
    tol = 4.0 / np.sqrt(2 * k)  # ~4σ of a sample standard deviation
    civ = sc.civil
    np.testing.assert_allclose(
        enu.std(axis=0), [civ.adsb_sigma_m] * 2 + [civ.adsb_alt_sigma_m], rtol=tol
    )
    np.testing.assert_allclose(
        np.abs(enu.mean(axis=0)), 0.0, atol=4 * civ.adsb_sigma_m / np.sqrt(k)
    )
    dv = one.vel - x[:, 3:]
    np.testing.assert_allclose(dv.std(axis=0), civ.adsb_vel_sigma_mps, rtol=tol)
    assert np.all(one.sigma_m == civ.adsb_sigma_m)


def test_threats_never_broadcast_and_identity_is_per_flight(world) -> None:  # type: ignore[no-untyped-def]
    _, truth, rep = world
    assert set(truth.kind) > {"aircraft"}  # the scenario has threats
    assert np.all(truth.kind[rep.truth] == "aircraft")
    pairs = {
        (int(o), int(i), str(c)) for o, i, c in zip(rep.truth, rep.icao, rep.callsign, strict=True)
    }
    assert len({p[0] for p in pairs}) == len(pairs)  # one address and callsign per flight
    assert len({p[1] for p in pairs}) == len(pairs)  # addresses unique
    assert np.all((rep.icao > 0) & (rep.icao < 1 << 24))


def test_reports_time_ordered_and_windowed(world) -> None:  # type: ignore[no-untyped-def]
    _, _, rep = world
    assert np.all(np.diff(rep.t) >= 0)
    w = rep.received("P1", 600.0, 660.0)
    assert len(w) > 0 and np.all((w.t > 600.0) & (w.t <= 660.0))
    assert np.all(np.array(rep.partners)[w.partner] == "P1")
    assert len(rep.for_partner("nobody")) == 0


class _Kinds:
    """The two fields ``draw_identities`` reads from a truth table."""

    def __init__(self, kind: np.ndarray) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return len(self.kind)


def test_fraction_equipped_is_binomial_and_threats_unequipped() -> None:
    n = 4000
    kind = np.where(np.arange(n) % 4 == 0, "cruise", "aircraft")
    ident = draw_identities(_Kinds(kind), Civil(adsb_fraction=0.9), np.random.default_rng(3))  # type: ignore[arg-type]
    assert not ident.equipped[kind == "cruise"].any()
    frac = ident.equipped[kind == "aircraft"].mean()
    m = (kind == "aircraft").sum()
    assert abs(frac - 0.9) < 4 * np.sqrt(0.9 * 0.1 / m)
    assert len(np.unique(ident.icao)) == n
    other = draw_identities(_Kinds(kind), Civil(adsb_fraction=0.5), np.random.default_rng(3))  # type: ignore[arg-type]
    np.testing.assert_array_equal(other.icao, ident.icao)  # the fraction keeps addresses


def test_receiver_range_and_horizon(world) -> None:  # type: ignore[no-untyped-def]
    sc, _, rep = world
    site = sc.partner("P1").sensors[0].site
    pts = []
    for dist_km, alt_m in [(100, 10_000), (240, 10_000), (300, 10_000), (150, 50)]:
        lat, lon = geo.destination(site.lat_deg, site.lon_deg, 270.0, dist_km * 1e3)
        pts.append(geo.geodetic2ecef(lat, lon, alt_m))
    heard = heard_by(sc, np.array(pts))
    names = [p.name for p in sc.partners]
    # in range; in range; beyond 250 km; below the receiver's horizon
    np.testing.assert_array_equal(heard[names.index("P1")], [True, True, False, False])
    assert not heard[names.index("P3")].any()  # adsb_range_km: 0
    assert "P3" not in {rep.partners[i] for i in np.unique(rep.partner)}
    for i, name in enumerate(rep.partners):
        p = sc.partner(name)
        rows = rep.partner == i
        sites = np.array(
            [geo.geodetic2ecef(s.site.lat_deg, s.site.lon_deg, s.site.alt_m) for s in p.sensors]
        )
        d = np.linalg.norm(rep.ecef[rows, None] - sites[None], axis=2).min(axis=1)
        assert np.all(d <= p.adsb_range_km * 1e3 + 200.0)  # + position noise


def test_same_seed_same_reports_other_seed_differs(world) -> None:  # type: ignore[no-untyped-def]
    sc, truth, rep = world
    again = simulate_adsb(sc, truth, adsb_rng(sc.seed))
    np.testing.assert_array_equal(again.ecef, rep.ecef)
    np.testing.assert_array_equal(again.icao, rep.icao)
    other = simulate_adsb(sc, truth, adsb_rng(sc.seed + 1))
    assert not np.array_equal(np.unique(other.icao), np.unique(rep.icao))


def test_adsb_stream_leaves_the_runner_streams_alone() -> None:
    seed = 42
    ss2, ss3 = np.random.SeedSequence(seed).spawn(2), np.random.SeedSequence(seed).spawn(3)
    for a, b in zip(ss2, ss3[:2], strict=True):
        assert np.random.default_rng(a).random() == np.random.default_rng(b).random()
    assert adsb_rng(seed).random() == np.random.default_rng(ss3[2]).random()
