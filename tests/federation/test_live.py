"""``mead up``: a whole federation over real nats-servers and node processes, briefly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mead.cli import main
from mead.errors import ConfigError
from mead.runtime.live import WireClock, load_node_config

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


def test_mead_up_delivers_alerts_over_nats(
    nats_server_bin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the first coordinator alerts of small.yaml are issued ~120 s into the scenario
    code = main(
        [
            "up",
            str(SMALL),
            "--duration",
            "220",
            "--speed",
            "55",
            "--workdir",
            str(tmp_path),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"]
    nodes = summary["nodes"]
    assert set(nodes) == {"C0", "P1", "P2"}
    assert nodes["C0"]["counters"]["batches"] > 0  # released tracks reached the hub
    sent = sum(v for k, v in nodes["C0"]["counters"].items() if k.startswith("alerts_"))
    got = nodes["P1"]["alerts_from_coordinator"] + nodes["P2"]["alerts_from_coordinator"]
    assert sent > 0 and got > 0
    assert got <= sent  # none processed twice
    for n in ("P1", "P2"):
        assert not any(k.startswith("rejected_") for k in nodes[n]["counters"])
    # every node's own server and process were stopped: their stores are closed cleanly
    assert (tmp_path / "servers" / "C0" / "nats.log").exists()
    # secrets readable by their owner only: node configs, keys, server configs
    secrets = [f for f in tmp_path.glob("*.yaml") if not f.name.endswith(".policy.yaml")]
    secrets += [*tmp_path.glob("keys/*.key")]
    secrets += [*tmp_path.glob("servers/*/nats.conf")]
    assert len(secrets) >= 3 + 3 + 3
    assert {f.stat().st_mode & 0o777 for f in secrets} == {0o600}
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    # run again in the same work directory: the previous run's stores, keys and CA go
    ca = (tmp_path / "servers" / "pki" / "ca.pem").read_bytes()
    again = ["up", str(SMALL), "--duration", "20", "--speed", "55", "--workdir", str(tmp_path)]
    assert main([*again, "--json"]) == 0 and json.loads(capsys.readouterr().out)["ok"]
    assert (tmp_path / "servers" / "pki" / "ca.pem").read_bytes() != ca
    # a folder mead up did not make is not written into
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main([*again[:-1], str(other)]) == 2
    assert "not one mead up made" in capsys.readouterr().err
    assert [f.name for f in other.iterdir()] == ["notes.txt"]


def test_node_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "n.yaml"
    bad.write_text(
        "name: P1\nscenario: s.yaml\nkey: k\nregistry: r\n"
        "nats: {url: 'nats://x', user: u, password: p}\nspeed: -1\n"
    )
    with pytest.raises(ConfigError, match="speed"):
        load_node_config(bad)


def test_a_run_begins_on_a_whole_tick_before_the_scenarios_end() -> None:
    """``mead up --from`` and a node's ``from_s`` are checked alike (start_error)."""
    from mead.runtime.live import start_error
    from mead.scenario import load_scenario

    sc = load_scenario(Path(__file__).parent / "data" / "equivalence.yaml")  # 240 s, tick 1 s
    assert start_error(sc, 0.0) is None and start_error(sc, 239.0) is None
    for bad in (-1.0, 0.5, 240.0, float("nan")):
        assert "must be a whole tick (1 s) from 0 to before" in (start_error(sc, bad) or ""), bad


def test_wire_clock_runs_accelerated(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = WireClock(epoch_s=1000.0, start_wall=50.0, speed=10.0)
    monkeypatch.setattr("mead.runtime.live.time.time", lambda: 53.5)
    assert clock() == pytest.approx(1035.0)


def test_start_gate_opens_when_every_node_is_ready(tmp_path: Path) -> None:
    """t=0 is fixed only once each node process has said it is ready; one that dies first
    is named with its log rather than waited for."""
    import subprocess
    import sys
    import threading

    from mead.errors import MeadError
    from mead.runtime.live import wait_at_gate
    from mead.runtime.up import _open_gate

    gate = tmp_path / "gate"
    gate.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    procs = {n: subprocess.Popen(sleeper) for n in ("A", "B")}
    try:
        got: dict[str, float | None] = {}
        a = threading.Thread(target=lambda: got.update(A=wait_at_gate(gate, "A", lambda: False)))
        a.start()
        opened: list[float] = []
        opener = threading.Thread(
            target=lambda: opened.append(_open_gate(gate, procs, tmp_path, 20))
        )
        opener.start()
        time.sleep(0.5)
        assert opener.is_alive() and not (gate / "start").exists()  # B is not ready yet
        got["B"] = wait_at_gate(gate, "B", lambda: False)
        opener.join(5)
        a.join(5)
        assert got["A"] == got["B"] == opened[0] > time.time() - 1
        # a node that stops while waiting gets None; one that exits before it is ready fails
        assert wait_at_gate(tmp_path, "C", lambda: True) is None
        (tmp_path / "D.log").write_text("ConfigError: bad scenario\n")
        dead = {"D": subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])}
        why = "node D exited .2. before it was ready:\n.*bad scenario"
        with pytest.raises(MeadError, match=why):
            _open_gate(tmp_path / "gate2", dead, tmp_path, 20)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_keygen_and_natsconf_commands(
    nats_server_bin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess

    from mead.federation.identity import Identity, KeyRegistry

    assert main(["keygen", "P7", "--out", str(tmp_path / "keys")]) == 0
    line = capsys.readouterr().out
    reg = KeyRegistry.loads(line)
    ident = Identity.from_hex("P7", (tmp_path / "keys" / "P7.key").read_text().strip())
    assert reg.get("P7") == ident.verify_key
    assert (tmp_path / "keys" / "P7.key").stat().st_mode & 0o777 == 0o600
    assert main(["keygen", "P7", "--out", str(tmp_path / "keys")]) == 2  # never overwrites

    (tmp_path / "deploy.key").write_bytes(b"0123456789abcdef0123456789abcdef")
    args = ["natsconf", str(SMALL), "--deploy-key", str(tmp_path / "deploy.key"),
            "--hub-leaf", "hub.example:7422", "--store", str(tmp_path / "js"),
            "--out", str(tmp_path / "conf")]  # fmt: skip
    assert main(args) == 0
    for name in ("hub", "P1", "P2"):
        path = tmp_path / "conf" / f"{name}.conf"
        res = subprocess.run([nats_server_bin, "-t", "-c", str(path)], capture_output=True,
                             text=True, timeout=10)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
    assert "leaf_P1:" in (tmp_path / "conf" / "P1.conf").read_text()
