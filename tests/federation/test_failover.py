"""Coordinator failover (:mod:`mead.runtime.failover`): the KV lease over a real nats-server,
the reconciliation of held alerts, and a failover drill with real servers and processes.

The drill runs ``mead up --standby --kill-active-at`` on the equivalence scenario: the
active coordinator's process is SIGKILLed mid-raid. The independent references are the
alerts the killed coordinator itself recorded as sent before it died, and the simulation
of the same scenario and seed (which threats are alerted, as ``test_live_equivalence``).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from nats.js.errors import KeyNotFoundError

from mead.cli import main
from mead.errors import ConfigError, RejectedMessage
from mead.events import (
    AlertReceived,
    AlertSent,
    CoordinatorStatus,
    Leadership,
    read_events,
)
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.federation.nats import ConnSpec, NatsBus
from mead.federation.natsserver import NatsServer
from mead.messages import Alert, Picture
from mead.metrics.evaluation import attribute_alerts
from mead.runtime.failover import (
    FRESH_SUFFIX,
    LEASE_BUCKET,
    SEQ_MARGIN,
    Lease,
    ShadowEndpoint,
    alias_diverged,
    continued_sequences,
    open_own,
    reconcile,
)
from mead.runtime.live import load_node_config
from mead.runtime.simulation import prepare, run_mode
from mead.runtime.up import up
from mead.scenario import load_scenario
from mead.threat.alerts import AlertManager

SCENARIO = Path(__file__).resolve().parent / "data" / "equivalence.yaml"
ALERTS = AlertManager("C0", [])  # its tolerances match lifecycles by threat (alias_diverged)


def _alert(alert_id: str, state: str, t: float) -> Alert:
    return Alert(
        alert_id=alert_id,
        state=state,  # type: ignore[arg-type]
        t=t,
        recipient="P2",
        area="Capital",
        system_track=int(alert_id.split("-")[1]),
        threat_class="ballistic",
        impact_lat_deg=31.7,
        impact_lon_deg=35.2,
        impact_radius_m=5000.0,
        t_impact=t + 300.0,
        tgo_s=300.0,
        issuer="C0",
    )


# ----------------------------------------------------------------------------- reconcile


def test_reconcile_sends_only_what_the_previous_active_never_sent() -> None:
    sent = [_alert("C0-1-A", "issued", 100), _alert("C0-1-A", "updated", 108)]
    held = [
        _alert("C0-1-A", "issued", 100),  # sent: suppressed
        _alert("C0-1-A", "updated", 108),  # sent: suppressed
        _alert("C0-1-A", "updated", 116),  # after the active stopped: sent
        _alert("C0-2-A", "issued", 112),  # never sent by the active: sent
        _alert("C0-1-A", "cancelled", 124),
    ]
    todo, suppressed = reconcile(held, sent)
    assert [(a.alert_id, a.state, a.t) for a in todo] == [
        ("C0-1-A", "updated", 116),
        ("C0-2-A", "issued", 112),
        ("C0-1-A", "cancelled", 124),
    ]
    assert suppressed == 2


def test_a_threat_the_shadow_numbered_otherwise_goes_on_under_the_actives_alert_id() -> None:
    """The shadow fell behind and numbered one missile's system track 4 where the active had
    1: its C0-4 alert is the active's C0-1 (same recipient, area, class; predictions that
    agree). Its issue is suppressed, its later state sent as C0-1's; an alert whose
    prediction is elsewhere, or of another class, is the shadow's own."""

    def at(alert: Alert, **kw: Any) -> Alert:
        return msgspec.structs.replace(alert, **kw)

    sent = [_alert("C0-1-A", "issued", 100), _alert("C0-1-A", "updated", 108),
            _alert("C0-5-A", "issued", 100), _alert("C0-5-A", "cancelled", 104)]  # fmt: skip
    held = [
        at(_alert("C0-4-A", "issued", 100), impact_lat_deg=31.72),  # 2.2 km off: C0-1's
        at(_alert("C0-4-A", "updated", 104), impact_lat_deg=31.72),  # before C0-1's last
        at(_alert("C0-4-A", "updated", 116), impact_lat_deg=31.8),  # after it: sent as C0-1
        at(_alert("C0-6-A", "issued", 100), impact_lat_deg=32.2),  # 55 km off: its own
        at(_alert("C0-7-A", "issued", 100), threat_class="drone"),  # another class
    ]
    lineage = alias_diverged(held, sent, ALERTS)
    assert lineage.adopted == {"C0-4-A": sent[1]} and not lineage.fresh  # C0-5 was over
    todo, suppressed = reconcile(held, sent, lineage)
    assert [(a.alert_id, a.state, a.t) for a in todo] == [
        ("C0-1-A", "updated", 116), ("C0-6-A", "issued", 100), ("C0-7-A", "issued", 100)
    ]  # fmt: skip
    assert suppressed == 2
    # one alert of the active is matched once, by the nearest of the shadow's
    near = at(_alert("C0-9-A", "issued", 100), impact_lat_deg=31.705)
    assert alias_diverged([*held, near], sent, ALERTS).adopted == {"C0-9-A": sent[1]}
    assert len(alias_diverged(held[:1], [], ALERTS)) == 0
    assert reconcile(held, sent) == reconcile(held, sent, alias_diverged([], [], ALERTS))
    # a drone's arrival estimate wanders early on: a later state of the shadow's agrees
    drone = {"threat_class": "drone", "area": "B"}
    sent_d = [at(_alert("C0-3-B", "issued", 100), t_impact=1700.0, **drone)]
    held_d = [at(_alert("C0-8-B", "issued", 100), t_impact=1930.0, **drone),  # 230 s off
              at(_alert("C0-8-B", "updated", 104), t_impact=1800.0, **drone)]  # fmt: skip
    assert alias_diverged(held_d, sent_d, ALERTS).adopted == {"C0-8-B": sent_d[0]}
    assert len(alias_diverged(held_d[:1], sent_d, ALERTS)) == 0


def test_a_drone_whose_arrival_the_shadow_has_minutes_off_is_matched_by_where_it_was() -> None:
    """A shadow started late estimates a drone's arrival 230 s later than the active did
    (its young track's speed is off): beyond the arrival tolerance, but the drone is where
    the active's prediction carried it 30 s later, so the shadow's alert goes on as the
    active's. The drone behind it in the stream, 10 km back, is the shadow's own."""
    speed = 51.0  # m/s, due south towards the area at 31.0° N
    m_per_deg = 111_195.0

    def drone(alert_id: str, t: float, lat: float, late_s: float = 0.0) -> Alert:
        return msgspec.structs.replace(
            _alert(alert_id, "issued", t), threat_class="drone", area="B",
            impact_lat_deg=31.0, impact_lon_deg=35.0, track_lat_deg=lat, track_lon_deg=35.0,
            t_impact=t + (lat - 31.0) * m_per_deg / speed + late_s,
        )  # fmt: skip

    sent = [drone("C0-3-B", 100.0, 31.5)]
    moved = 31.5 - 30.0 * speed / m_per_deg
    mine = drone("C0-8-B", 130.0, moved, late_s=230.0)
    behind = drone("C0-9-B", 130.0, moved + 10e3 / m_per_deg, late_s=230.0)
    assert ALERTS.gap(sent[0], mine, 1000.0) == math.inf  # the arrivals disagree
    assert alias_diverged([mine, behind], sent, ALERTS).adopted == {"C0-8-B": sent[0]}
    assert len(alias_diverged([behind], sent, ALERTS)) == 0
    # without track positions (states of an older issuer) nothing is matched this way
    bare = msgspec.structs.replace(mine, track_lat_deg=0.0, track_lon_deg=0.0)
    assert len(alias_diverged([bare], sent, ALERTS)) == 0


def test_an_id_the_active_used_for_another_threat_gets_a_fresh_one() -> None:
    """The shadow numbered a drone 1 — the active's number of a missile — and the missile
    4: its C0-1 is another threat than the active's C0-1, so it goes out under a fresh id
    (not as an update turning the missile's alert into a drone's), and its C0-4 goes on as
    the active's C0-1. Lifecycles under one id that agree are left as they are."""

    def at(alert: Alert, **kw: Any) -> Alert:
        return msgspec.structs.replace(alert, **kw)

    sent = [_alert("C0-1-A", "issued", 100), _alert("C0-2-A", "issued", 100)]
    drone = at(_alert("C0-1-A", "issued", 104), threat_class="drone", t_impact=2000.0)
    held = [
        drone,
        at(drone, state="updated", t=112),
        _alert("C0-4-A", "issued", 100),  # the active's C0-1, as the shadow numbered it
        _alert("C0-4-A", "updated", 112),
        _alert("C0-2-A", "issued", 100),  # the same as the active's
    ]
    lineage = alias_diverged(held, sent, ALERTS)
    assert lineage.adopted == {"C0-4-A": sent[0]}
    assert lineage.fresh == {"C0-1-A": "C0-1-A" + FRESH_SUFFIX}
    todo, suppressed = reconcile(held, sent, lineage)
    assert [(a.alert_id, a.state, a.threat_class) for a in todo] == [
        ("C0-1-A-s", "issued", "drone"), ("C0-1-A-s", "updated", "drone"),
        ("C0-1-A", "updated", "ballistic"),
    ]  # fmt: skip
    assert suppressed == 2
    # the shadow's C0-1 is a second missile, 28 s later and 2.2 km off: within the
    # tolerances of the active's C0-1 (30 s at 300 s to go, 5 km), but its C0-4 agrees
    # better — C0-4 goes on as C0-1, and the second missile under a fresh id
    second = at(_alert("C0-1-A", "updated", 112), t_impact=428.0, impact_lat_deg=31.72)
    assert len(alias_diverged([second], sent, ALERTS)) == 0  # alone, it would go on as C0-1
    lineage = alias_diverged([*held[2:], second], sent, ALERTS)
    assert lineage.adopted == {"C0-4-A": sent[0]} and lineage.fresh == {"C0-1-A": "C0-1-A-s"}
    # an alert both closed, under one id and of one threat, goes on as it is
    closed = [_alert("C0-1-A", "issued", 100), _alert("C0-1-A", "cancelled", 120)]
    assert len(alias_diverged(closed, closed, ALERTS)) == 0


def test_reconcile_never_issues_or_cancels_twice_but_sends_every_unstored_update() -> None:
    # the shadow saw a batch one tick later: its issue comes 4 s after the active's
    sent = [_alert("C0-1-A", "issued", 100), _alert("C0-1-A", "cancelled", 140)]
    held = [
        _alert("C0-1-A", "issued", 104),
        _alert("C0-1-A", "updated", 120),  # never stored (lost with the hub): late, not lost
        _alert("C0-1-A", "cancelled", 144),
    ]
    todo, suppressed = reconcile(held, sent)
    assert todo == [held[1]] and suppressed == 2
    assert reconcile(held, []) == (held, 0)  # nothing sent: everything held goes out


def test_a_new_active_continues_the_sequence_so_late_messages_are_not_replays() -> None:
    """The previous active's last alert reaches the partner only after the new active's
    first message (it waited in a stream while the hub restarted): still accepted."""
    key = Identity.generate("C0")
    active = Identity(key.name, key.signing_key, seq=1_000_000)  # each counts from its start
    shadow = Identity(key.name, key.signing_key, seq=7_000_000)
    pic = Picture(recipient="P2", t=100.0, tracks=())
    x, y = _alert("C0-1-A", "issued", 100), _alert("C0-1-A", "updated", 104)
    sent, held = [], []
    for m in (pic, x, pic, y):  # both seal the same messages, in the same order
        data = seal(active, m, 100.0)
        sdata = seal(shadow, m, 100.0)
        if isinstance(m, Alert):
            sent.append(open_own(data, key.verify_key, "C0"))
            held.append(open_own(sdata, key.verify_key, "C0"))
    late_y = data  # the active's last alert, still on its way when it died
    for _ in range(3):  # the shadow goes on sealing pictures until it takes over
        seal(shadow, pic, 108.0)
    seqs = continued_sequences(sent, held, {"P2": shadow.seq})  # type: ignore[arg-type]
    assert seqs == {"P2": active.seq + 3 + SEQ_MARGIN}
    registry = KeyRegistry({"C0": key.verify_key})

    def deliver(next_seq: int) -> list[str]:
        opener = Opener(registry, max_age_s=300.0, clock=lambda: 110.0)
        new = Identity(key.name, key.signing_key, seq=next_seq)
        out = []
        for data in (seal(new, pic, 110.0), late_y):
            try:
                opener.open(data)
                out.append("accepted")
            except RejectedMessage as e:
                out.append(e.reason)
        return out

    assert deliver(seqs["P2"]) == ["accepted", "accepted"]
    assert deliver(time.time_ns() // 1000) == ["accepted", "replayed"]  # a jump loses it
    assert continued_sequences(sent[:1], held[1:], {"P2": shadow.seq}) == {}  # no anchor


def test_own_alerts_are_opened_and_anything_else_is_not() -> None:
    c0, other = Identity.generate("C0"), Identity.generate("C0")
    a = _alert("C0-1-A", "issued", 100)
    opened = open_own(seal(c0, a, 100.0), c0.verify_key, "C0")
    assert opened is not None and opened[1] == a and opened[0].seq == c0.seq
    assert open_own(seal(other, a, 100.0), c0.verify_key, "C0") is None  # forged
    assert open_own(seal(c0, a, 100.0), c0.verify_key, "C9") is None
    pic = Picture(recipient="P1", t=100.0, tracks=())
    assert open_own(seal(c0, pic, 100.0), c0.verify_key, "C0") is None
    assert open_own(b"\x00garbage", c0.verify_key, "C0") is None


def test_shadow_endpoint_holds_alerts_and_drops_pictures_until_active() -> None:
    now = [0.0]
    bus = InProcessBus(lambda: now[0], [], np.random.default_rng(1))
    coord, partner = bus.connect("C0"), bus.connect("P2")
    sub = partner.subscribe("alerts.P2")
    gate = ShadowEndpoint(coord, limit=2)
    gate.publish("alerts.P2", b"a1")
    gate.publish("picture.P2", b"pic")
    gate.publish("alerts.P2", b"a2")
    gate.publish("alerts.P2", b"a3")  # over the limit: the oldest goes
    assert list(gate.held) == [b"a2", b"a3"]
    assert gate.counters == Counter(held=3, held_dropped=1, withheld=1)
    gate.active = True
    gate.publish("alerts.P2", b"a4")
    now[0] = 1.0  # past the default link latency
    assert sub.drain() == [("alerts.P2", b"a4")]
    seen: list[Any] = []
    quiet = ShadowEndpoint(coord).quiet(seen.append)
    quiet(AlertSent(node="C0", **msgspec.structs.asdict(_alert("C0-1-A", "issued", 1))))
    assert seen == []  # a standby records no alert as sent


# ----------------------------------------------------------------------------- the lease


def _wait(pred: Any, timeout_s: float) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - t0


def test_lease_is_held_by_one_instance_and_taken_over_when_it_lapses(
    nats_server: NatsServer,
) -> None:
    conn = ConnSpec(nats_server.url)
    ttl, renew = 1.0, 0.25
    with NatsBus(conn) as bus_a, NatsBus(conn) as bus_b, NatsBus(conn) as bus_c:
        kw: dict[str, Any] = {"key": "C0", "ttl_s": ttl, "renew_s": renew}
        a = Lease(bus_a, conn, instance="C0", standby=False, **kw).start()
        assert a.leader  # a vacant lease is taken at once by a primary
        b = Lease(bus_b, conn, instance="C0-b", standby=True, **kw).start()
        c = Lease(bus_c, conn, instance="C0-c", standby=True, **kw).start()
        time.sleep(3 * ttl)  # renewed all along: nobody else takes it
        assert a.leader and not b.leader and not c.leader
        assert b.holder == c.holder == "C0"
        # the active stops renewing without releasing (as a killed process would)
        assert a._task is not None
        a._task.cancel()
        stopped = time.monotonic()
        _wait(lambda: b.leader or c.leader, 4 * ttl)
        taken = time.monotonic() - stopped
        _wait(lambda: not a.leader, ttl)  # it stopped acting before anybody took over
        time.sleep(2 * renew)
        assert b.leader != c.leader  # exactly one standby won the compare-and-set
        assert ttl - renew <= taken <= ttl + 4 * renew
        new, other = (b, c) if b.leader else (c, b)
        assert new.previous == "C0" and a.previous == ""  # whose lease it took
        # a clean stop releases the lease (deleted at once, not left to lapse after the
        # ttl): the other standby takes it at its next look
        new.stop()
        assert not new.leader

        async def holder() -> str | None:
            js = (await bus_a.connection(conn, "admin")).jetstream()
            try:
                entry = await (await js.key_value(LEASE_BUCKET)).get("C0")
            except KeyNotFoundError:  # deleted: vacant
                return None
            return None if entry.value is None else json.loads(entry.value)["holder"]

        assert bus_a.loop.run(holder()) in (None, other.instance)
        _wait(lambda: other.leader, ttl + 4 * renew)  # (a loaded machine looks late)
        other.stop()
        c.stop() if other is b else b.stop()


def test_an_active_that_lost_its_lease_knows_when_it_takes_back_its_own(
    nats_server: NatsServer,
) -> None:
    """The active could not renew until the lease expired (the hub unreachable, or the
    bucket's leader being elected) and nobody took it meanwhile: taking it again, it knows
    the previous holder was itself — its own sequence counts then go on (``_take_over``)."""
    conn = ConnSpec(nats_server.url)
    ttl, renew = 1.0, 0.25
    with NatsBus(conn) as bus:
        a = Lease(bus, conn, key="C0", instance="C0", ttl_s=ttl, renew_s=renew, standby=False)
        a.start()
        assert a.leader and a.previous == ""
        assert a._task is not None
        a._task.cancel()  # no renewal: the lease lapses, then the bucket's TTL removes it
        _wait(lambda: not a.leader, 2 * ttl)
        time.sleep(2 * ttl)
        _wait(lambda: (bus.loop.run(a._attempt()), a.leader)[1], 4 * ttl)
        assert a.previous == "C0"
        a.stop()


def test_after_failed_looks_a_standby_waits_and_a_primary_takes_the_vacant_lease(
    nats_server: NatsServer,
) -> None:
    """Looks at the lease fail while the bucket cannot be read (here: it is gone; on a
    fresh hub cluster: its leader still being elected). Once it can be read again and the
    lease is vacant, the primary takes it at once and a standby waits ``ttl_s`` more: on
    a hub cluster starting up, the standby must not win the race for the first lease."""
    conn = ConnSpec(nats_server.url)
    ttl, renew = 2.0, 0.25
    kw: dict[str, Any] = {"key": "C7", "ttl_s": ttl, "renew_s": renew}
    with NatsBus(conn) as bus_a, NatsBus(conn) as bus_b:
        b = Lease(bus_b, conn, instance="C7-b", standby=True, **kw).start()
        assert b._task is not None and b._task.cancel()  # its looks by hand from here
        a = Lease(bus_a, conn, instance="C7", standby=False, **kw)
        bus_a.loop.run(a._open())  # the bucket opened, no look yet
        time.sleep(ttl)  # the standby's own start-up patience is over

        async def bucket(make: bool) -> None:
            js = (await bus_b.connection(conn, "admin")).jetstream()
            if make:
                await js.create_key_value(bucket=LEASE_BUCKET, history=1, ttl=ttl)
            else:
                await js.delete_key_value(LEASE_BUCKET)

        bus_b.loop.run(bucket(make=False))
        for lease in (b, a):  # the bucket is gone: the looks fail
            lease.bus.loop.run(lease._attempt())
            assert not lease.leader and lease.errors, lease.errors
        bus_b.loop.run(bucket(make=True))
        bus_b.loop.run(b._attempt())
        assert not b.leader  # answered, vacant: the standby waits
        bus_a.loop.run(a._attempt())
        assert a.leader  # the primary takes it at its first answered look
        time.sleep(ttl)
        bus_b.loop.run(b._attempt())
        assert not b.leader and b.holder == "C7"
        a.stop()


def test_lease_settings_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = (
        "name: C0\nscenario: s.yaml\nkey: k\nregistry: r\n"
        "nats: {url: 'nats://x', user: u, password: p}\n"
    )
    bad = tmp_path / "c.yaml"
    bad.write_text(base + "failover: {lease_ttl_s: 2, renew_s: 1.5}\n")
    with pytest.raises(ConfigError, match=r"renew_s \(1.5\).*lease_ttl_s \(2.0\)"):
        load_node_config(bad)
    bad.write_text(base + "failover: {instance: 'C0.b'}\n")
    with pytest.raises(ConfigError, match="instance"):
        load_node_config(bad)
    bad.write_text(base + "failover: {lease_ttl_s: 0}\n")
    with pytest.raises(ConfigError, match="lease_ttl_s"):
        load_node_config(bad)
    assert main(["up", str(SCENARIO), "--kill-active-at", "10", "--workdir", str(tmp_path)]) == 2
    assert "--kill-active-at needs --standby" in capsys.readouterr().err


def test_an_alert_sent_after_its_recipient_stopped_at_the_end_is_not_lost(
    tmp_path: Path,
) -> None:
    """The drill's figures: an alert state published after its recipient ran to the end
    of the drill and stopped counts as ``after_end``, not lost; one to a recipient that
    stopped early (a crash) is lost."""
    from mead.events import AlertReceived, AlertSent, write_events_file
    from mead.runtime.up import failover_figures

    def alert(cls: type, aid: str, t: float, to: str, **kw: Any) -> Any:
        return cls(alert_id=aid, state="issued", t=t, recipient=to, area="A",
                   system_track=1, threat_class="drone", impact_lat_deg=0.0,
                   impact_lon_deg=0.0, impact_radius_m=1.0, t_impact=t + 60.0,
                   tgo_s=60.0, **kw)  # fmt: skip

    def received(aid: str, t: float, node: str) -> Any:
        return alert(AlertReceived, aid, t, node, node=node, t_recv=t + 1.0, via="C0")

    write_events_file(tmp_path / "C0.events.jsonl", [
        alert(AlertSent, "C0-1-A", 100.0, "P1", node="C0"),
        alert(AlertSent, "C0-2-A", 200.0, "P1", node="C0"),  # P1 stopped at 199
        alert(AlertSent, "C0-3-A", 150.0, "P2", node="C0"),  # P2 died at 51
    ])  # fmt: skip
    write_events_file(tmp_path / "P1.events.jsonl", [received("C0-1-A", 198.0, "P1")])
    write_events_file(tmp_path / "P2.events.jsonl", [received("C0-9-A", 50.0, "P2")])
    f = failover_figures(tmp_path, "C0", kill_wall=0.0)
    assert (f["sent"], f["lost"], f["after_end"]) == (3, 2, 1)  # C0-1 at 100 never arrived
    write_events_file(tmp_path / "P1.events.jsonl", [received("C0-1-A", 100.0, "P1"),
                                                     received("C0-8-A", 198.0, "P1")])  # fmt: skip
    f = failover_figures(tmp_path, "C0", kill_wall=0.0)
    assert (f["sent"], f["lost"], f["after_end"]) == (3, 1, 1)  # C0-3: P2 died early


# ----------------------------------------------------------------------------- the drill

SPEED = 8.0  # scenario s per wall s: 240 s of raid in 30 s
KILL_AT_S = 130.0  # scenario s: after the first alerts, before the raid's last ones
RESUME_WALL_S = 10.0  # the standby must be active within this long after the kill


def _key(a: Any) -> tuple[str, str, float]:
    return (a.alert_id, a.state, a.t)


def test_standby_takes_over_when_the_active_coordinator_is_killed(
    nats_server_bin: str, tmp_path: Path
) -> None:
    summary = up(SCENARIO, tmp_path, speed=SPEED, standby=True, kill_active_at_s=KILL_AT_S)
    _check_takeover(summary, tmp_path)


def test_a_standby_started_after_the_kill_goes_on_with_the_actives_alerts(
    nats_server_bin: str, tmp_path: Path
) -> None:
    """The standby starts 20 wall s late — after the active was killed — and computes its
    alerts from the inboxes' backlog, numbering the threats its own way. It matches them
    with the alerts the active sent before it started (read back as far as the backlog
    goes): no alert state lost or duplicated, every threat warned under one alert id,
    and no alert id that changes class (a drone's update under a missile's alert)."""
    sc = load_scenario(SCENARIO)
    summary = up(SCENARIO, tmp_path, speed=SPEED, standby=True, kill_active_at_s=KILL_AT_S,
                 standby_after_s=KILL_AT_S / SPEED + 4.0)  # fmt: skip
    assert summary["ok"], summary
    figures = summary["failover"]
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    received = [
        e
        for p in sc.partners
        for e in read_events((tmp_path / f"{p.name}.events.jsonl").read_bytes())
        if isinstance(e, AlertReceived) and e.via == sc.coordinator.name
    ]
    assert received
    ids: dict[tuple[str, str, str | None], set[str]] = {}
    classes: dict[str, set[str]] = {}
    for e in attribute_alerts(prepare(sc, sc.seed, SCENARIO), received):
        assert isinstance(e, AlertReceived)
        ids.setdefault((e.node, e.area, e.truth), set()).add(e.alert_id)
        classes.setdefault(e.alert_id, set()).add(e.threat_class)
    assert all(len(v) == 1 for v in ids.values()), ids
    assert all(len(v) == 1 for v in classes.values()), classes


def test_standby_on_its_own_hub_server_takes_over_when_the_active_site_is_lost(
    nats_server_bin: str, tmp_path: Path
) -> None:
    """The hub is a cluster of three nats-servers; the active coordinator works through
    the first, the standby through the second, the JetStream leaders sit on the third. The
    active's process and its server are SIGKILLed at once, for good: the standby takes
    over through its own server, the partners' leaf links fail over to the surviving
    servers, and the replicated streams and lease carry on — no alert lost or
    duplicated, the same threats alerted."""
    summary = up(
        SCENARIO,
        tmp_path,
        speed=SPEED,
        standby=True,
        hub_servers=3,
        kill_active_at_s=KILL_AT_S,
        kill_hub_at_s=KILL_AT_S,
        hub_down_s=float("inf"),
    )
    # the drill's premise: the active coordinator ran, and alerted, before it was killed
    first = read_events((tmp_path / "C0.events.jsonl").read_bytes())
    assert any(isinstance(e, Leadership) for e in first), (tmp_path / "C0.log").read_text()
    assert summary["hub_killed"]["down_s"] is None and "back_wall" not in summary["hub_killed"]
    # the leaders of the hub's streams, the lease and the instances' consumers were on the
    # third server: no election on the standby's path (4-9 wall s, 30-70 scenario s at
    # this speed, during which tracks would age out and threats be alerted again)
    _check_takeover(summary, tmp_path)
    servers = tmp_path / "servers"
    # the witness led them last (each server logs the leaders it becomes), moved there by
    # whichever instance found them elsewhere
    for led in ("'HUB > KV_MEAD_LEASE'", "'HUB > ALERTS_OUT'", "'PARTNER_P1 > P1_INBOX > C0'",
                "'PARTNER_P2 > P2_INBOX > C0-standby'"):  # fmt: skip
        became = sorted(
            (line.split("] ", 1)[1][:26], h)
            for h in ("C0-1", "C0-2", "C0-3")
            for line in (servers / h / "nats.log").read_text().splitlines()
            if line.endswith(f"leader for {led}")
        )
        assert became and became[-1][1] == "C0-3", (led, became)
    cfg = load_node_config(tmp_path / "C0-standby.yaml")
    assert cfg.nats.url.split(",")[0] != load_node_config(tmp_path / "C0.yaml").nats.url
    assert cfg.failover.replicas == 3 and cfg.failover.leaders_on == "C0-3"
    # every partner's leaf link landed on a surviving server (a leaf connection logs the
    # remote's JetStream domain): all of them after the kill, whichever they had before
    logs = " ".join((servers / h / "nats.log").read_text() for h in ("C0-2", "C0-3"))
    for p in ("P1", "P2"):
        assert f'remote "{p}"' in logs, p


def _check_takeover(summary: dict[str, Any], tmp_path: Path) -> None:
    """The standby took over within ``RESUME_WALL_S`` of the kill, once; every alert state
    reached its partner once; the partners saw the coordinator go silent and come back;
    the same threats were alerted as in the simulation, one alert each."""
    sc = load_scenario(SCENARIO)
    assert summary["ok"], summary
    killed, figures = summary["killed"], summary["failover"]
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures

    def events(n: str) -> list[Any]:
        return read_events((tmp_path / f"{n}.events.jsonl").read_bytes())

    before = [e for e in events("C0") if isinstance(e, AlertSent)]  # by the killed one
    standby = events("C0-standby")
    took = [e for e in standby if isinstance(e, Leadership)]
    after = [e for e in standby if isinstance(e, AlertSent)]
    received = [
        e
        for p in sc.partners
        for e in events(p.name)
        if isinstance(e, AlertReceived) and e.via == sc.coordinator.name
    ]
    # the kill came mid-raid: alerts before it, and alerts computed in the gap
    assert before and took and took[0].role == "active" and took[0].resent > 0
    assert len(took) == 1  # it took over once and never stood down
    resume_s = took[0].t_wall - killed["t_wall"]
    assert 0 < resume_s <= RESUME_WALL_S, resume_s
    # none duplicated: every alert state reached its partner once
    dup = [k for k, n in Counter(_key(e) for e in received).items() if n > 1]
    assert not dup, dup
    # none lost: what the killed active sent and what the standby sent (resent + its own)
    sent = {_key(e) for e in before} | {_key(e) for e in after}
    got = {_key(e) for e in received}
    assert got == sent, (sorted(sent - got), sorted(got - sent))
    # the standby computed what the active did: every state the active sent was among the
    # standby's, which suppressed them (no new alert id for a threat already alerted)
    assert took[0].suppressed == len({_key(e) for e in before})
    assert {e.alert_id for e in before} <= {e.alert_id for e in after} | {
        e.alert_id for e in before
    }
    # the partners said the coordinator was silent after the kill, and back after takeover
    epoch = sc.start_epoch_s()
    for p in sc.partners:
        states = [
            (e.running, e.t - epoch) for e in events(p.name) if isinstance(e, CoordinatorStatus)
        ]
        # (a busy machine may also start the coordinator late: a silence at the start)
        assert [r for r, _ in states[-2:]] == [False, True], (p.name, states)
        assert KILL_AT_S < states[-2][1] < took[0].t - epoch < states[-1][1], (p.name, states)
    # and the same threats were alerted as in the simulation of the scenario
    world = prepare(sc, sc.seed, SCENARIO)
    sim = {
        (e.recipient, e.area, e.truth)
        for e in attribute_alerts(world, run_mode(world, "alliance").events)
        if isinstance(e, AlertReceived) and e.via == sc.coordinator.name
    }
    live = {(e.node, e.area, e.truth) for e in attribute_alerts(world, received)}
    issued = Counter(
        (e.node, e.area, e.truth)
        for e in attribute_alerts(world, received)
        if e.state == "issued" and isinstance(e, AlertReceived)
    )
    assert live == sim, (live, sim)
    assert set(issued.values()) == {1}, issued  # one alert per threatened area and threat


def test_no_alert_is_lost_or_duplicated_when_the_hub_server_is_killed(
    nats_server_bin: str, tmp_path: Path
) -> None:
    """SIGKILL the hub's nats-server mid-raid, restart it 5 s later: alerts the active
    coordinator published just before are still in the hub's file store and reach the
    partner after the restart, whichever coordinator instance holds the lease by then."""
    sc = load_scenario(SCENARIO)
    summary = up(
        SCENARIO, tmp_path, speed=SPEED, standby=True, kill_hub_at_s=KILL_AT_S, hub_down_s=5.0
    )
    assert summary["ok"], summary
    assert summary["hub_killed"]["back_wall"] > summary["hub_killed"]["t_wall"]
    f = summary["failover"]
    assert f["sent"] > 0 and f["lost"] == 0 and f["duplicated"] == 0, f
    active = [
        (e.instance, e.role)
        for n in ("C0", "C0-standby")
        for e in read_events((tmp_path / f"{n}.events.jsonl").read_bytes())
        if isinstance(e, Leadership)
    ]
    # exactly one instance ends up active: the active kept or regained the lease, or the
    # standby took it (and the active stood down)
    ends = Counter(inst for inst, role in active if role == "active")
    downs = Counter(inst for inst, role in active if role == "standby")
    assert sum(ends.values()) - sum(downs.values()) == 1, active
    for p in sc.partners:  # the partners noticed the silence, and the coordinator's return
        states = [
            e.running
            for e in read_events((tmp_path / f"{p.name}.events.jsonl").read_bytes())
            if isinstance(e, CoordinatorStatus)
        ]
        assert states[-2:] == [False, True], (p.name, states)
