"""A partner joins a running federation, has its key revoked and leaves — no one restarts.

Real nats-servers over mTLS: the hub's config is re-rendered and reloaded (SIGHUP), the
coordinator's key registry is re-read from its file while the coordinator keeps its bus.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_nats import T0, ids, settle, track, wait_drain

from mead.errors import RejectedMessage
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry, RegistryWatch
from mead.federation.nats import Durable, NatsSubscription
from mead.federation.natsserver import LocalFederation
from mead.messages import TrackBatch


def _registry(path: Path, keys: dict[str, Identity], names: tuple[str, ...]) -> None:
    path.write_text("".join(f"{n}: {keys[n].public_hex}\n" for n in names))


def _opened(op: Opener, msgs: list[tuple[str, bytes]]) -> tuple[list[str], list[str]]:
    """(senders accepted, reasons rejected) for ``msgs``."""
    ok, bad = [], []
    for _, data in msgs:
        try:
            ok.append(op.open(data)[0].sender)
        except RejectedMessage as e:
            bad.append(e.reason)
    return ok, bad


def _send(ep: object, ident: Identity, n: int) -> None:
    for i in range(n):
        ep.publish("tracks.C0", seal(ident, TrackBatch(source="", t=T0, tracks=(track(i),)), T0))  # type: ignore[attr-defined]
    ep.flush()  # type: ignore[attr-defined]


def test_partner_joins_is_revoked_and_leaves_without_restarts(
    federation_factory: Callable[..., LocalFederation], tmp_path: Path
) -> None:
    lf = federation_factory(partners=("P1",), relays=False, tls=True)
    assert lf.hub is not None and lf.hub.proc is not None
    hub_pid = lf.hub.proc.pid
    keys = ids("join")
    reg_path = tmp_path / "registry.yaml"
    _registry(reg_path, keys, ("C0", "P1"))
    registry = KeyRegistry.load(reg_path)
    watch = RegistryWatch(registry, reg_path)
    op = Opener(registry, max_age_s=3600, clock=lambda: T0)
    coord = lf.coordinator_bus().connect("C0")
    inbox: NatsSubscription = coord.subscribe("tracks.C0")
    p1 = lf.partner_bus("P1").connect("P1")

    # P2 joins: the hub gains PARTNER_P2 by reload, P2's server links over mTLS, and the
    # coordinator starts reading P2's inbox on the bus it already has
    lf.join("P2")
    assert lf.hub.proc.pid == hub_pid and lf.links_up() == 2
    coord.add_durable(inbox, Durable(lf.hub_accounts()["PARTNER_P2"], "P2_INBOX", "C0"))
    p2 = lf.partner_bus("P2").connect("P2")
    _send(p2, keys["P2"], 3)
    ok, bad = _opened(op, wait_drain(inbox, 3))
    assert ok == [] and bad == ["unknown_sender"] * 3  # linked, but its key is not known yet

    _registry(reg_path, keys, ("C0", "P1", "P2"))  # the coalition registers P2's key
    assert watch.poll() == "registry reloaded; added: P2"
    _send(p2, keys["P2"], 3)
    _send(p1, keys["P1"], 2)
    ok, bad = _opened(op, wait_drain(inbox, 5))
    assert sorted(ok) == ["P1"] * 2 + ["P2"] * 3 and bad == []

    _registry(reg_path, keys, ("C0", "P1"))  # P2's key is revoked
    assert watch.poll() == "registry reloaded; removed: P2"
    _send(p2, keys["P2"], 3)
    _send(p1, keys["P1"], 2)
    ok, bad = _opened(op, wait_drain(inbox, 5))
    assert ok == ["P1"] * 2 and bad == ["unknown_sender"] * 3

    # P2 leaves: the hub drops PARTNER_P2 by reload; its link is closed and refused
    assert lf.leave("P2") == 1  # its link closed
    time.sleep(2.5)  # P2's server retries every second: refused
    assert lf.links_up() == 1 and lf.hub.proc.pid == hub_pid
    _send(p2, keys["P2"], 3)  # stored in P2's own outbox; nothing reaches the hub
    _send(p1, keys["P1"], 1)
    ok, bad = _opened(op, wait_drain(inbox, 1) + settle(inbox, quiet=1.5))
    assert ok == ["P1"] and bad == []
    assert "Leafnode connection closed" in lf.hub.log()


def test_a_broken_registry_file_keeps_the_keys(tmp_path: Path) -> None:
    keys = ids("w")
    path = tmp_path / "registry.yaml"
    _registry(path, keys, ("C0", "P1"))
    reg = KeyRegistry.load(path)
    watch = RegistryWatch(reg, path)
    assert watch.poll() is None  # unchanged
    path.write_text("C0: not-a-key\n")
    said = watch.poll()
    assert said is not None and said.startswith("registry not reloaded, keys kept")
    assert "$.C0" in said and sorted(reg) == ["C0", "P1"]
    _registry(path, {**keys, "P1": Identity.generate("P1", b"\x01" * 32)}, ("C0", "P1"))
    assert watch.poll() == "registry reloaded; key changed: P1"  # a rotated key


def test_live_coordinator_takes_in_a_joining_partner_and_drops_a_revoked_one(
    federation_factory: Callable[..., LocalFederation], tmp_path: Path
) -> None:
    """``mead coordinator``'s loop (run_node) re-reads its config and key registry: P2 joins
    (hub reloaded, an inbox account added to the config, its key registered), its batches
    are fused; its key is revoked, its batches are rejected — the coordinator never stops."""
    import threading

    import msgspec

    from mead.events import Counters, Event, Membership
    from mead.runtime.live import WireClock, load_node_config, run_node
    from mead.scenario import load_scenario

    scenario = Path(__file__).parent / "data" / "equivalence.yaml"
    lf = federation_factory(partners=("P1",), relays=False, tls=True)
    keys = ids("live")
    reg = tmp_path / "registry.yaml"
    _registry(reg, keys, ("C0", "P1"))
    (tmp_path / "C0.key").write_text(keys["C0"].secret_hex + "\n")

    def account(spec: object) -> dict[str, str]:
        t = spec.tls  # type: ignore[attr-defined]
        return {"url": spec.url, "ca_file": t.ca_file, "cert_file": t.cert_file,  # type: ignore[attr-defined]
                "key_file": t.key_file}  # fmt: skip

    start_wall = time.time()
    cfg_path = tmp_path / "C0.yaml"

    def write_cfg() -> None:
        acc = lf.hub_accounts()
        inboxes = {f"{p}_INBOX": account(acc[f"PARTNER_{p}"]) for p in lf.fed.partners}
        cfg = {"name": "C0", "scenario": str(scenario), "key": "C0.key",
               "registry": "registry.yaml", "nats": account(acc["HUB"]), "durable": inboxes,
               "start_wall": start_wall, "duration_s": 3600}  # fmt: skip
        cfg_path.write_bytes(msgspec.yaml.encode(cfg))

    write_cfg()
    events: list[Event] = []
    stop = threading.Event()
    failed: list[BaseException] = []

    def coordinator() -> None:
        try:
            cfg = load_node_config(cfg_path)
            run_node(cfg, tmp_path, "coordinator", events.append, stop.is_set, None, cfg_path)
        except BaseException as e:  # reported by the test, not lost in the thread
            failed.append(e)

    node = threading.Thread(target=coordinator)
    node.start()
    clock = WireClock(load_scenario(scenario).start_epoch_s(), start_wall, 1.0)

    def wait_event(text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(isinstance(e, Membership) and text in e.detail for e in events):
                return
            time.sleep(0.05)
        raise AssertionError(f"no membership event with {text!r}: {events} {failed}")

    def send(n: int) -> None:
        for i in range(n):
            now = clock()
            data = seal(keys["P2"], TrackBatch(source="", t=now, tracks=(track(i),)), now)
            p2.publish("tracks.C0", data)
        p2.flush()

    def wait_reading(partner: str, acked: int = 0, timeout: float = 30.0) -> None:
        """Until the coordinator's durable consumer exists on ``partner``'s inbox and has
        acked ``acked`` messages (it acks what it drained, in the step that opens them)."""
        import asyncio

        from mead.federation.nats import open_conn

        async def done() -> bool:
            nc = await open_conn(lf.hub_accounts()[f"PARTNER_{partner}"], "probe")
            try:
                info = await nc.jetstream().consumer_info(f"{partner}_INBOX", "C0")
                return (info.ack_floor.stream_seq or 0) >= acked
            except Exception:
                return False
            finally:
                await nc.close()

        deadline = time.monotonic() + timeout
        while not asyncio.run(done()):
            assert time.monotonic() < deadline and not failed, failed
            time.sleep(0.1)

    try:
        wait_reading("P1")  # the coordinator runs: P2 joins a running federation
        lf.join("P2")
        write_cfg()
        _registry(reg, keys, ("C0", "P1", "P2"))
        wait_event("reading P2_INBOX (partner P2 joined)")
        wait_event("added: P2")
        p2 = lf.partner_bus("P2").connect("P2")
        send(3)
        wait_reading("P2", acked=3)  # taken in before the revocation
        _registry(reg, keys, ("C0", "P1"))
        wait_event("removed: P2")
        send(4)
        wait_reading("P2", acked=7)
    finally:
        stop.set()
        node.join(30)
    assert not failed, failed
    counters = next(e.counters for e in events if isinstance(e, Counters))
    assert counters["batches"] == 3
    assert counters["rejected_unknown_sender"] == 4


def test_disconnect_command_kicks_the_partners_leaf_link(
    federation_factory: Callable[..., LocalFederation], capsys: pytest.CaptureFixture[str]
) -> None:
    from mead.cli import main

    lf = federation_factory(relays=False, tls=True)
    admin = lf.hub_accounts()["SYS"]
    assert lf.hub is not None and admin.tls is not None
    t = admin.tls
    args = ["disconnect", "P2", "--hub", lf.hub.url, "--ca", t.ca_file, "--cert", t.cert_file,
            "--key", t.key_file]  # fmt: skip
    assert main(args) == 0
    assert "closed 1 leaf link(s) of P2" in capsys.readouterr().out
    assert "Kicked - Remote: P2" in lf.hub.log() and "Remote: P1" not in lf.hub.log()
    # only the system account may: the coordinator's own certificate is refused
    hub = lf.hub_accounts()["HUB"].tls
    assert hub is not None
    args[6:] = ["--cert", hub.cert_file, "--key", hub.key_file]
    assert main(args) == 2
