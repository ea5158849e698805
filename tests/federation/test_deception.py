"""A lying partner's release path: offset on every released position, ghosts added and
dropped when they land, nothing changed for an honest partner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mead.federation.deception import GHOST_NUMBER, Falsifier, ghost_truth
from mead.scenario import load_scenario
from mead.tracking.base import TrackReport

LYING = Path(__file__).resolve().parents[2] / "scenarios" / "lying.yaml"


def _report(n: int) -> TrackReport:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)) * 1e5
    P = np.broadcast_to(np.eye(6) * 100.0, (n, 6, 6)).copy()
    return TrackReport(
        t=0.0, ids=[f"P3-T{i:06d}" for i in range(n)], x=x, P=P, quality=np.ones(n),
        sensors=[("P3-EW1",)] * n, deleted=["P3-T000099"],
    )  # fmt: skip


def test_the_offset_partner_shifts_every_position_and_nothing_else() -> None:
    sc = load_scenario(LYING)
    f = Falsifier.of_partner(sc, "P3", seed=7)
    assert f is not None and np.linalg.norm(f.offset_ecef) == np.hypot(1414, 1414)
    rep = _report(4)
    out, cls = f.falsify(sc.start_epoch_s() + 100.0, rep, ["aircraft"] * 4)
    np.testing.assert_allclose(out.x[:, :3] - rep.x[:, :3], np.tile(f.offset_ecef, (4, 1)))
    np.testing.assert_array_equal(out.x[:, 3:], rep.x[:, 3:])
    assert out.ids == rep.ids and cls == ["aircraft"] * 4 and out.deleted == rep.deleted
    assert Falsifier.of_partner(sc, "P1", seed=7) is None  # honest


def test_ghosts_are_released_while_they_fly_and_dropped_when_they_land() -> None:
    sc = load_scenario(LYING)
    f = Falsifier.of_partner(sc, "P4", seed=7)
    assert f is not None and not f.offset_ecef.any()
    ghosts = ghost_truth(sc, "P4", seed=7)
    assert len(ghosts) == 3 and set(ghosts.target_area) == {"Capital"}
    epoch, rep = sc.start_epoch_s(), _report(2)
    out, cls = f.falsify(epoch + 400.0, rep, ["unknown"] * 2)  # before the first launch
    assert out.ids == rep.ids
    out, cls = f.falsify(epoch + 470.0, rep, ["unknown"] * 2)  # two in flight
    first, second = f"P4-T{GHOST_NUMBER:06d}", f"P4-T{GHOST_NUMBER + 1:06d}"
    assert out.ids[2:] == [first, second] and cls[2:] == ["ballistic", "ballistic"]
    _, x = ghosts.states_at(470.0)
    np.testing.assert_allclose(out.x[2:], x)
    assert out.sensors[2:] == [("P4-S1",)] * 2 and np.all(out.quality[2:] < 1)
    assert np.all(np.linalg.eigvalsh(out.P[2:]) > 0)
    landed = float(ghosts.t_end[0]) + 1.0
    out, _ = f.falsify(epoch + landed, rep, ["unknown"] * 2)
    assert first not in out.ids and out.deleted == [*rep.deleted, first]
    out, _ = f.falsify(epoch + landed + 5.0, rep, ["unknown"] * 2)
    assert first not in out.deleted  # dropped once
