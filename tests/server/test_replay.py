"""Replays: delta coding, and a short real run recorded and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mead.errors import MeadError
from mead.server.replay import Replay, _delta_decode, _delta_encode


def test_delta_coding_round_trips() -> None:
    rng = np.random.default_rng(5)
    key = rng.integers(0, 40, 2000)
    v = rng.integers(-(10**9), 10**9, 2000)
    enc = _delta_encode(v, key)
    np.testing.assert_array_equal(_delta_decode(enc, key), v)
    slow = np.cumsum(rng.integers(-5, 6, 2000))  # a slowly moving track: small deltas
    assert np.abs(_delta_encode(slow, np.zeros(2000, dtype=int))[1:]).max() <= 5


def test_a_recorded_run_reads_back(recorded: Path) -> None:
    rp = Replay(recorded)
    assert set(rp.runs) == {"alliance", "national"}
    run = rp.run("alliance")
    assert run.nodes == ["C0", "P1", "P2"]
    assert run.t1 - run.t0 > 250
    mid = (run.t0 + run.t1) / 2
    p2 = run.rows("P2", mid)
    keys = p2.key.tolist()
    assert any(k.startswith("P2-T") for k in keys)  # own tracks
    assert any(k.startswith("S") for k in keys)  # the coordinator's picture
    assert not any(k.startswith("P1-") for k in keys)  # never another partner's own tracks
    assert np.all((p2.lat > 25) & (p2.lat < 40) & (p2.lon > 30) & (p2.lon < 50))
    national = rp.run("national").rows("P2", mid).key.tolist()
    assert national and not any(k.startswith("S") for k in national)  # no picture alone
    alerts = run.alerts("P2", run.t1)
    assert alerts and all(a["recipient"] == "P2" for a in alerts)
    assert run.alerts("P2", run.t0) == []
    assert run.rows("C0", run.t0 - 1).key.tolist() == []  # before the first cycle: nothing


def test_replay_of_a_folder_without_runs_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MeadError, match="mead run SCENARIO --out DIR"):
        Replay(tmp_path)
    (tmp_path / "replay").mkdir()
    (tmp_path / "replay" / "alliance.npz").write_bytes(b"not a zip")
    with pytest.raises(MeadError, match="not a MEAD replay"):
        Replay(tmp_path)
