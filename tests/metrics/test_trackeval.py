"""Tests of recorded-scenario scoring: loading, tracking on Cartesian plots, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mead.cli import main
from mead.errors import ConfigError
from mead.metrics.trackeval import Recording, load_recording, simulate_recording, track_file

SHARED = Path("/work/shared/data/mtt/mtt_N10_s1.npz")


def save(rec: Recording, path: Path, **override: object) -> Path:
    arrays = {
        "truth": rec.truth, "det_scan": rec.det_scan.astype(np.int32), "det_xy": rec.det_xy,
        "dt": rec.dt, "sigma": rec.sigma, "pd": rec.pd, "clutter_rate": rec.clutter_rate,
        "q": rec.q, "area": rec.area, "seed": 0, "gospa": np.array([1000.0, 1.0, 2.0]),
    }  # fmt: skip
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_tracks_every_target_of_a_recording(tmp_path: Path) -> None:
    rec = simulate_recording(20, seed=5, n_scans=30)
    got = track_file(save(rec, tmp_path / "r.npz"))
    assert got["scans"] == 30 and got["targets"] == 20
    assert got["tracks_last_scan"] == got["truths_last_scan"] == 20
    # settled tracks: no missed or false objects, localisation ≈ σ·√(π/2)·(gain) per target
    assert got["missed_last20_mean"] <= 0.1 and got["false_last20_mean"] <= 0.1
    assert got["gospa_last20_mean_m"] / 20 < 45.0  # σ = 50 m plots
    # before confirmation every target is missed: the mean over all scans is larger
    assert got["gospa_mean_m"] > got["gospa_last20_mean_m"]
    assert got["plots"] == len(rec.det_xy)


def test_track_file_round_trips_the_recording(tmp_path: Path) -> None:
    rec = simulate_recording(3, seed=1, n_scans=5)
    back = load_recording(save(rec, tmp_path / "r.npz"))
    np.testing.assert_array_equal(back.det_xy, rec.det_xy)
    assert [len(xy) for _, xy in back.plots()] == np.bincount(rec.det_scan, minlength=5).tolist()
    assert back.gospa_c == 1000.0 and back.gospa_alpha == 2.0


@pytest.mark.skipif(not SHARED.exists(), reason="shared recordings not present")
def test_cli_prints_json_on_the_shared_recording(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track", str(SHARED)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tracks_last_scan"] == out["truths_last_scan"] == 10
    assert out["gospa_last20_mean_m"] < 500.0
    assert out["plots_per_s"] > 0 and out["time_per_scan_s"] > 0


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"det_xy": None}, "det_xy"),
        ({"truth": np.zeros((4, 3))}, "truth"),
        ({"det_scan": np.full(10, 99)}, "det_scan"),
        ({"sigma": -1.0}, "sigma"),
    ],
)
def test_bad_recordings_name_the_array(
    tmp_path: Path, override: dict[str, object], name: str
) -> None:
    rec = simulate_recording(2, seed=1, n_scans=4, clutter_rate=1.0)
    if name == "det_scan":
        override = {"det_scan": np.full(len(rec.det_xy), 99)}
    with pytest.raises(ConfigError, match=name):
        load_recording(save(rec, tmp_path / "bad.npz", **override))


def test_cli_reports_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.npz"
    bad.write_text("not an npz")
    assert main(["track", str(bad)]) == 2
    assert "x.npz" in capsys.readouterr().err
