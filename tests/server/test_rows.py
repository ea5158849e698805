"""Map rows: states to map columns against independent references, and the delta."""

from __future__ import annotations

import numpy as np
import pymap3d

from mead.geo import enu_rotation, geodetic2ecef
from mead.server.rows import Rows, affiliation, diff, states2map


def _state(lat: float, lon: float, alt: float, enu_v: tuple[float, float, float]) -> np.ndarray:
    p = geodetic2ecef(lat, lon, alt)
    v = enu_rotation(lat, lon).T @ np.asarray(enu_v)
    return np.concatenate([p, v])


def test_states2map_against_pymap3d_and_headings() -> None:
    rng = np.random.default_rng(3)
    lat, lon, alt = rng.uniform(-60, 60, 20), rng.uniform(-179, 179, 20), rng.uniform(0, 2e5, 20)
    speed, heading = rng.uniform(10, 3000, 20), rng.uniform(0, 360, 20)
    climb = rng.uniform(-50, 50, 20)
    h = np.radians(heading)
    x = np.array(
        [
            _state(a, b, c, (s * np.sin(k), s * np.cos(k), z))
            for a, b, c, s, k, z in zip(lat, lon, alt, speed, h, climb, strict=True)
        ]
    )
    m = states2map(x)
    ref = pymap3d.ecef2geodetic(x[:, 0], x[:, 1], x[:, 2])
    np.testing.assert_allclose(m["lat"], ref[0], atol=1e-7)
    np.testing.assert_allclose(m["lon"], ref[1], atol=1e-7)
    np.testing.assert_allclose(m["alt"], ref[2], atol=1e-3)
    np.testing.assert_allclose(m["spd"], speed, rtol=1e-9)
    np.testing.assert_allclose(np.cos(np.radians(m["crs"] - heading)), 1.0, atol=1e-9)
    np.testing.assert_allclose(m["vz"], climb, atol=1e-6)


def test_affiliation_from_class_and_adsb() -> None:
    cls = np.array(["ballistic", "drone", "aircraft", "unknown", "unknown", "cruise"], object)
    ident = np.array(["", "", "civil", "", "suspect", "suspect"], dtype=object)
    assert affiliation(cls, ident).tolist() == [
        "hostile",
        "hostile",
        "neutral",
        "unknown",
        "suspect",
        "hostile",
    ]


def _rows(keys: list[str], lat: list[float], cls: list[str]) -> Rows:
    x = np.array([_state(a, 35.0, 1000.0, (100.0, 0.0, 0.0)) for a in lat])
    return Rows.from_states(keys, x, cls, np.full(len(keys), 0.9))


def test_diff_holds_new_changed_and_gone_only() -> None:
    prev = _rows(["A", "B", "C"], [31.0, 32.0, 33.0], ["unknown", "drone", "aircraft"])
    cur = _rows(["B", "C", "D"], [32.0, 33.5, 34.0], ["drone", "aircraft", "unknown"])
    upd, gone = diff(prev, cur)
    assert sorted(upd.key.tolist()) == ["C", "D"]  # B did not move, C moved, D is new
    assert gone == ["A"]
    reclassed = _rows(["B", "C", "D"], [32.0, 33.5, 34.0], ["ballistic", "aircraft", "unknown"])
    upd, gone = diff(cur, reclassed)
    assert upd.key.tolist() == ["B"] and upd.aff.tolist() == ["hostile"] and gone == []
    assert len(diff(cur, cur)[0]) == 0
