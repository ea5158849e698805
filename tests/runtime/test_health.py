"""Radar and node health in simulation: scheduled outages remove or trim a radar's scans,
and the partner's and the coordinator's health events show them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mead.errors import ConfigError
from mead.events import Health
from mead.runtime.simulation import prepare, run_mode
from mead.scenario import load_scenario
from mead.scenario.schema import Scenario

BASE = Path(__file__).resolve().parents[1] / "federation" / "data" / "equivalence.yaml"


def scenario(tmp_path: Path, outages: str, extra: str = "") -> Scenario:
    """equivalence.yaml with ``outages`` (YAML list items) and ``extra`` top-level text."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE.read_text() + extra + "\noutages:\n" + outages)
    return load_scenario(path)


def by_sensor(world: object, sensor: str) -> dict[float, np.ndarray]:
    return {s.t: s.z for s in world.scans if s.sensor_id == sensor}  # type: ignore[attr-defined]


def test_down_radar_has_no_scans_in_its_window_and_the_same_ones_outside(
    tmp_path: Path,
) -> None:
    plain = prepare(load_scenario(BASE), 11)
    sc = scenario(tmp_path, "  - {sensor: P2-S1, start_s: 60, end_s: 120}\n")
    out = prepare(sc, 11)
    before, after = by_sensor(plain, "P2-S1"), by_sensor(out, "P2-S1")
    inside = [t for t in before if 60 <= t < 120]
    assert len(inside) == 15  # a 4 s revisit over 60 s
    assert sorted(after) == sorted(t for t in before if not 60 <= t < 120)
    assert all(np.array_equal(after[t], before[t]) for t in after)
    # the other radar is untouched
    p1a, p1b = by_sensor(plain, "P1-EW1"), by_sensor(out, "P1-EW1")
    assert p1a.keys() == p1b.keys() and all(np.array_equal(p1a[t], p1b[t]) for t in p1a)


def test_degraded_radar_keeps_only_plots_within_its_reduced_range(tmp_path: Path) -> None:
    plain = prepare(load_scenario(BASE), 11)
    sc = scenario(
        tmp_path,
        "  - {sensor: P1-EW1, start_s: 30, end_s: 200, state: degraded, range_fraction: 0.4}\n",
    )
    before, after = by_sensor(plain, "P1-EW1"), by_sensor(prepare(sc, 11), "P1-EW1")
    assert before.keys() == after.keys()
    cut = 0.4 * 900e3
    trimmed = 0
    for t, z in before.items():
        if 30 <= t < 200:
            assert np.array_equal(after[t], z[z[:, 0] <= cut])
            trimmed += int((z[:, 0] > cut).sum())
        else:
            assert np.array_equal(after[t], z)
    assert trimmed > 0  # the raid is tracked far out: the degradation loses real plots


def test_health_events_show_the_outage_at_partner_and_coordinator(tmp_path: Path) -> None:
    sc = scenario(tmp_path, "  - {sensor: P2-S1, start_s: 60, end_s: 120}\n")
    res = run_mode(prepare(sc, 11), "alliance")
    health = [e for e in res.events if isinstance(e, Health)]
    epoch = sc.start_epoch_s()
    own = [(e.radar, e.state, e.t - epoch) for e in health if e.node == "P2"]
    # the partner sees its radar go down and come back at its next release (release_s 5)
    assert [(r, s) for r, s, _ in own] == [("P2-S1", "down"), ("P2-S1", "operational")]
    assert 60 <= own[0][2] < 65 and 120 <= own[1][2] < 125
    seen = [e for e in health if e.node == "C0"]
    # the default policy strips sensor ids and sites: the coordinator learns the state only
    assert [(e.partner, e.radar, e.state) for e in seen] == [
        ("P2", "radar-0", "down"),
        ("P2", "radar-0", "operational"),
    ]
    assert all(e.lat_deg is None and e.range_km is None for e in seen)
    assert seen[0].t > own[0][2] + epoch  # after the link delay
    assert not any(e.node == "P1" for e in health)  # P1's radar never failed
    assert res.counters["P2"]["status_sent"] >= 240 // 30


def test_coverage_is_told_where_the_policy_keeps_sensor_sites(tmp_path: Path) -> None:
    (tmp_path / "p2.yaml").write_text(
        "partner: P2\nrules:\n  - {to: [C0], keep: [sensor_ids, sensor_sites]}\n"
    )
    text = BASE.read_text().replace("  - name: P2\n", "  - name: P2\n    policy: p2.yaml\n")
    path = tmp_path / "s.yaml"
    path.write_text(text + "\noutages:\n  - {sensor: P2-S1, start_s: 60, end_s: 120}\n")
    sc = load_scenario(path)
    res = run_mode(prepare(sc, 11, path), "alliance")
    seen = [e for e in res.events if isinstance(e, Health) and e.node == "C0"]
    assert seen[0].radar == "P2-S1" and seen[0].state == "down"
    assert (seen[0].lat_deg, seen[0].lon_deg, seen[0].range_km) == (31.8, 35.4, 350.0)


@pytest.mark.parametrize(
    ("item", "field", "says"),
    [
        ("{sensor: P9-X, start_s: 1, end_s: 2}", "$.outages[0].sensor", "unknown radar 'P9-X'"),
        ("{sensor: P2-S1, start_s: 5, end_s: 5}", "$.outages[0].end_s", "must exceed start_s"),
        ("{sensor: P2-S1, start_s: 0, end_s: 9, state: broken}", "$.outages[0].state", "broken"),
        ("{sensor: P2-S1, start_s: 0, end_s: 9, range_fraction: 1.5}", "range_fraction", "< 1"),
    ],
)
def test_bad_outages_are_named(tmp_path: Path, item: str, field: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        scenario(tmp_path, f"  - {item}\n")
    assert field in str(e.value) and says in str(e.value)


def test_overlapping_outages_of_one_radar_are_refused(tmp_path: Path) -> None:
    two = (
        "  - {sensor: P2-S1, start_s: 0, end_s: 50}\n"
        "  - {sensor: P2-S1, start_s: 40, end_s: 90}\n"
    )
    with pytest.raises(ConfigError, match=r"overlaps another outage of 'P2-S1' \(0-50 s\)"):
        scenario(tmp_path, two)


def test_a_partner_node_that_stops_is_marked_silent_then_back(tmp_path: Path) -> None:
    """P2's node stops stepping at 100 s (crashed) and resumes at 250 s: the coordinator
    marks it silent 90 s after its last Status, all its radars' coverage lost, then back."""
    from mead.federation.envelope import Opener
    from mead.federation.identity import KeyRegistry
    from mead.federation.inprocess import InProcessBus
    from mead.runtime.simulation import SimClock, _scans_of
    from mead.runtime.wiring import build_coordinator, build_partner, policies, sim_identities

    sc = load_scenario(BASE)
    sc = type(sc)(**{f: getattr(sc, f) for f in sc.__struct_fields__ if f != "duration_s"},
                  duration_s=400.0)  # fmt: skip
    world = prepare(sc, 11)
    clock = SimClock(sc.start_epoch_s())
    bus = InProcessBus(clock, [], np.random.default_rng(1))
    ids = sim_identities(sc, 11)
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    events: list[object] = []
    pols = policies(sc, BASE)

    def partner(name: str) -> object:
        return build_partner(
            sc, name, identity=ids[name], endpoint=bus.connect(name),
            opener=Opener(reg, max_age_s=300, clock=clock), policy=pols[name],
            scans=_scans_of(world.scans, name), epoch_s=clock.epoch_s, emit=events.append,
        )  # fmt: skip

    p1, p2 = partner("P1"), partner("P2")
    coord = build_coordinator(
        sc, identity=ids["C0"], endpoint=bus.connect("C0"),
        opener=Opener(reg, max_age_s=300, clock=clock), emit=events.append,
    )  # fmt: skip
    lost_at: dict[float, int] = {}
    for t in np.arange(0.0, 400.0, 1.0):
        clock.t = float(t)
        p1.step(clock())  # type: ignore[attr-defined]
        if not 100 <= t < 250:
            p2.step(clock())  # type: ignore[attr-defined]
        coord.step(clock())
        lost_at[float(t)] = len(coord.coverage_lost())
    node = [(e.partner, e.state, e.t - clock.epoch_s) for e in events
            if isinstance(e, Health) and e.node == "C0" and e.radar == ""]  # fmt: skip
    assert [(p, s) for p, s, _ in node] == [("P2", "silent"), ("P2", "operational")]
    # last Status before the stop: at most status_s (30 s) before 100 s; silent 90 s later
    assert 150 < node[0][2] <= 100 + 90 + sc.coordinator.assess_s
    assert 250 <= node[1][2] < 250 + 5 + 1  # its first release after restarting
    assert lost_at[99.0] == 0 and lost_at[node[0][2] + 1] == 1 and lost_at[399.0] == 0


def test_warnings_fall_back_on_the_last_prediction_where_coverage_is_lost(
    tmp_path: Path,
) -> None:
    """P2's only radar goes down two minutes in, for good: the drone over its capital is
    seen by no other radar (P1's is 900 km off, below its horizon). P2's own alert and the
    coordinator's are not downgraded by the coasting track nor cancelled when it ends:
    each is told once as ``held``, at the level it had, and stands to the run's end; the
    ballistic missiles, which P1's radar still tracks, are warned as usual."""
    from mead.events import AlertReceived, AlertSent

    text = BASE.read_text().replace("duration_s: 240", "duration_s: 480")
    path = tmp_path / "s.yaml"
    path.write_text(text + "\noutages:\n  - {sensor: P2-S1, start_s: 120, end_s: 480}\n")
    sc = load_scenario(path)
    res = run_mode(prepare(sc, 11, path), "alliance")
    end = sc.start_epoch_s() + 480 - 1.0
    sent = [e for e in res.events if isinstance(e, AlertSent) and e.threat_class == "drone"]
    own = [
        e for e in res.events
        if isinstance(e, AlertReceived) and e.via == "P2" and e.threat_class == "drone"
    ]  # fmt: skip
    for alerts in (sent, own):
        held = [e for e in alerts if e.held]
        assert held and held[0].state == "updated", alerts
        before = [e for e in alerts if e.t < held[0].t]
        assert held[0].level == before[-1].level == "alert"
        assert not [e for e in alerts if e.state == "cancelled" and e.t < end]
    bm = [e for e in res.events if isinstance(e, AlertSent) and e.threat_class == "ballistic"]
    assert bm and not any(e.held for e in bm)

    plain = run_mode(prepare(load_scenario(BASE), 11, BASE), "alliance")
    assert not any(getattr(e, "held", False) for e in plain.events)


def test_a_track_a_degraded_radar_still_feeds_is_not_held(tmp_path: Path) -> None:
    """P2's radar degraded to 90 % of its range from 120 s: the drone near P2's capital is
    still in its reach and its track still fed, so no alert is held (held is for a track
    its radars no longer see)."""
    text = BASE.read_text().replace("duration_s: 240", "duration_s: 480")
    path = tmp_path / "s.yaml"
    outage = "  - {sensor: P2-S1, start_s: 120, end_s: 480, state: degraded, "
    outage += "range_fraction: 0.9}\n"
    path.write_text(text + "\noutages:\n" + outage)
    sc = load_scenario(path)
    res = run_mode(prepare(sc, 11, path), "alliance")
    assert any(isinstance(e, Health) and e.state == "degraded" for e in res.events)
    assert not any(getattr(e, "held", False) for e in res.events)
