"""Airport movements: departures and arrivals at busy airports, without disturbing other truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from msgspec.structs import replace

from mead import geo
from mead.scenario import load_scenario
from mead.scenario.schema import Airport
from mead.sim.truth import simulate_truth

ROOT = Path(__file__).resolve().parents[2]


def test_airport_movements_leave_existing_truth_unchanged() -> None:
    sc = load_scenario(ROOT / "scenarios" / "small.yaml")
    base = simulate_truth(sc, np.random.default_rng(7))
    aps = list(sc.civil.airports)
    aps[0] = Airport(
        code=aps[0].code, lat_deg=aps[0].lat_deg, lon_deg=aps[0].lon_deg, movements_per_hour=30
    )
    busy = simulate_truth(
        replace(sc, civil=replace(sc.civil, airports=aps)), np.random.default_rng(7)
    )
    n = len(base)
    assert len(busy) == n + round(sc.duration_s / 120)
    assert busy.ids[:n] == base.ids
    np.testing.assert_array_equal(busy.samples[: base.samples.shape[0]], base.samples)
    moves = np.arange(n, len(busy))
    assert np.all(busy.kind[moves] == "aircraft")
    hub = geo.geodetic2ecef(aps[0].lat_deg, aps[0].lon_deg, 0.0)
    first = busy.samples[busy.offset[moves], :3]
    last = busy.samples[busy.offset[moves] + busy.count[moves] - 1, :3]
    at_hub = np.minimum(np.linalg.norm(first - hub, axis=1), np.linalg.norm(last - hub, axis=1))
    assert np.all(at_hub < 1e3)  # every movement departs from or lands at the hub
