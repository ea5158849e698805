"""``mead up``: a whole federation on this machine — one nats-server per site, one process
per node on loopback — run for a while, then stopped cleanly, with a summary.

Each node is a ``mead node`` / ``mead coordinator`` process (:mod:`mead.runtime.live`)
with a generated config, keys and registry in the work directory; the servers and their
leafnode links come from :mod:`mead.federation.natsserver`, over mTLS with certificates of
a federation CA made for the run (``servers/pki``, ``servers/<site>/tls``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from mead.errors import ConfigError, MeadError
from mead.events import AlertReceived, AlertSent, Counters, Leadership, read_events
from mead.federation.natsconf import Federation
from mead.federation.policy import Policy, Releaser
from mead.federation.private import private_dir, write_private
from mead.runtime.live import GATE_START, start_error
from mead.runtime.wiring import known_nodes, policies
from mead.scenario.schema import Scenario


def federation(sc: Scenario, pols: dict[str, Policy], deploy_key: bytes) -> Federation:
    """The federation layout of ``sc``: who releases to whom, under ``pols``."""
    known = known_nodes(sc)
    return Federation(
        sc.coordinator.name,
        {p: Releaser(pol, recipients=known).recipients for p, pol in pols.items()},
        deploy_key,
    )


def up(
    scenario: Path,
    workdir: Path,
    *,
    duration_s: float | None = None,
    speed: float = 1.0,
    from_s: float = 0.0,
    ready_timeout_s: float = 180.0,
    web: bool = False,
    standby: bool = False,
    standby_after_s: float = 0.0,
    kill_active_at_s: float | None = None,
    kill_hub_at_s: float | None = None,
    hub_down_s: float = 5.0,
    hub_servers: int = 1,
    kill_hub_server: int = 1,
    node_extra: dict[str, dict[str, Any]] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Bring a federation up on loopback, run it for ``duration_s`` scenario s, stop it.

    ``from_s`` (scenario s, a whole tick): begin there instead of at t=0 — the raid joined
    in progress, every node starting cold (no tracks, no alerts) with what is in the air
    then; the drills' times stay scenario times.

    Returns a summary: per node its exit code and counters, and the alerts each partner
    received through the coordinator. With ``web``, every node also serves its map on a
    port of 127.0.0.1 of its own, listed on stderr at start (and in the summary).
    With ``standby``, a second coordinator instance (``<C>-standby``) shadows the first;
    ``kill_active_at_s`` (scenario s) SIGKILLs the first coordinator's process then — a
    failover drill (``docs/operations.md``); the summary then has ``killed``.
    ``standby_after_s`` starts the standby that many wall s after the other nodes (a
    standby started, or restarted, mid-raid: it reads the inboxes' backlog at once).
    ``kill_hub_at_s`` SIGKILLs the hub's nats-server then and restarts it ``hub_down_s``
    wall s later (the summary has ``hub_killed``). Either drill adds ``failover``: what
    was lost or duplicated (:func:`failover_figures`).
    ``hub_servers`` (3) runs the hub as a cluster of nats-servers with its streams and
    lease replicated on each: the coordinator works through the first, its standby through
    the second, each failing over to the others; ``kill_hub_at_s`` then kills server
    ``kill_hub_server`` (1: the first, the active's own; with ``kill_active_at_s`` at the
    same time: its whole site lost; 2: the standby's), and an infinite ``hub_down_s``
    leaves it down.
    Every node is started, sets itself up and waits at a start gate; scenario t=0 is half a
    wall second after the last one is ready (:func:`~mead.runtime.live.wait_at_gate`), or a
    ``MeadError`` after ``ready_timeout_s`` wall s.
    ``stop``, once set, ends the run early: every node is sent SIGTERM and ends as at the
    end of its duration (flushed, its counters written).
    ``node_extra`` adds fields to a node's generated config, e.g. ``{"P1":
    {"asterix_plots_out": [{"udp": "127.0.0.1:8601", "sac": 25, "sic": 20}]}}`` (outputs:
    ``cot``, ``asterix_out``, ``asterix_plots_out``; paths relative to the work directory);
    an unknown node, a field ``mead up`` sets itself or a bad value is a ``ConfigError``.
    """
    from mead.federation.identity import Identity
    from mead.federation.natsserver import LocalFederation, free_port
    from mead.scenario import load_scenario

    if not speed > 0:
        raise MeadError(f"--speed must be > 0 (got {speed})")
    if kill_active_at_s is not None and not standby:
        raise MeadError("--kill-active-at needs --standby (nobody would take over)")
    if not 0.0 <= standby_after_s < math.inf or (standby_after_s and not standby):
        raise MeadError(
            f"--standby-after needs --standby and 0 <= S < inf (got {standby_after_s})"
        )
    if not 0 < ready_timeout_s < math.inf:
        raise MeadError(f"--ready-timeout must be > 0 s and finite (got {ready_timeout_s})")
    if not 1 <= kill_hub_server <= hub_servers:
        raise MeadError(f"--kill-hub-server must be 1 to {hub_servers} (got {kill_hub_server})")
    if math.isinf(hub_down_s) and hub_servers < 2:
        raise MeadError("--hub-down inf needs --hub-servers 3 (the hub's only server would "
                        "never come back)")  # fmt: skip
    sc = load_scenario(scenario)
    if (why := start_error(sc, from_s)) is not None:
        raise MeadError(f"--from {why}")
    pols = policies(sc, scenario)
    c = sc.coordinator.name
    known = known_nodes(sc)
    extra = node_extra or {}
    if unknown := sorted(set(extra) - set(known)):
        raise ConfigError("node_extra", f"no node {', '.join(map(repr, unknown))} in "
                          f"{scenario.name} (nodes: {', '.join(sorted(known))})")  # fmt: skip
    for n, fields in extra.items():
        check_node_extra(n, fields)
    fed = federation(sc, pols, os.urandom(32))
    workdir = private_dir(_fresh_workdir(workdir.resolve()))  # node configs hold passwords
    run_s = duration_s if duration_s is not None else sc.duration_s - from_s
    timing = {"speed": speed, "duration_s": run_s} | ({"from_s": from_s} if from_s else {})
    lf = LocalFederation(fed, workdir / "servers", relays=False, tls=True, hub_servers=hub_servers)
    print(f"nats-server {lf.binary}: {lf.verified}", file=sys.stderr, flush=True)
    lf.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        keys = {n: Identity.generate(n) for n in sorted(known)}
        private_dir(workdir / "keys")
        for n, ident in keys.items():
            write_private(workdir / "keys" / f"{n}.key", ident.secret_hex + "\n")
        (workdir / "keys" / "registry.yaml").write_text(
            "".join(f"{n}: {i.public_hex}\n" for n, i in keys.items())
        )
        gate = private_dir(workdir / "gate")
        ports = {n: free_port() for n in sorted(known)} if web else {}  # bound by the node
        maps = {n: f"http://127.0.0.1:{port}/" for n, port in ports.items()}
        for n, url in maps.items():
            print(f"map of {n}: {url}", file=sys.stderr, flush=True)
        if maps:
            (workdir / "maps.json").write_text(json.dumps(maps, indent=1) + "\n")
        server = 1 if hub_servers > 1 else 0  # the standby's own server
        instances = [(n, n, 0) for n in sorted(known)]
        late = [(c, f"{c}-standby", server)] if standby else []
        if standby and not standby_after_s:  # a standby from the start is in the barrier
            instances, late = instances + late, []
        started = time.time()
        for n, inst, srv in instances:
            procs[inst] = _start_node(workdir, lf, n, inst, scenario, pols, timing, extra, ports,
                                      srv)  # fmt: skip
        start_wall = _open_gate(gate, procs, workdir, ready_timeout_s)
        for n, inst, srv in late:  # the standby started mid-raid passes the open gate at once
            time.sleep(max(0.0, started + standby_after_s - time.time()))
            procs[inst] = _start_node(workdir, lf, n, inst, scenario, pols, timing, extra, ports,
                                      srv)  # fmt: skip
        killed = hub_killed = None
        drills = [(kill_active_at_s, "c"), (kill_hub_at_s, "hub")]
        for t, what in sorted((t, w) for t, w in drills if t is not None):
            time.sleep(max(0.0, start_wall + (t - from_s) / speed - time.time()))
            if what == "c":
                killed = _kill_at(procs[c], time.time()) | {"node": c, "t": t}
            else:
                down = None if math.isinf(hub_down_s) else hub_down_s  # None: for good
                hub_killed = {"t_wall": time.time(), "t": t, "down_s": down,
                              "server": kill_hub_server}  # fmt: skip
                if math.isinf(hub_down_s):  # a site lost: its server stays down
                    lf.stop_hub(kill_hub_server - 1)
                else:
                    lf.restart_hub(down_s=hub_down_s, server=kill_hub_server - 1)
                    hub_killed["back_wall"] = time.time()
        deadline = start_wall + run_s / speed + 15.0
        while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
            if stop is not None and stop.wait(0.1):
                for p in procs.values():
                    if p.poll() is None:
                        p.terminate()  # each node ends its run as at its duration's end
                deadline = min(deadline, time.time() + 15.0)
                stop = None
            elif stop is None:
                time.sleep(0.1)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        lf.stop()
    summary = _summary(workdir, procs, c, killed, hub_killed)
    summary["setup_s"] = round(start_wall - started, 2)  # node processes started → t=0
    if ports:
        summary["maps"] = {n: f"http://127.0.0.1:{p}/" for n, p in ports.items()}
    return summary


UP_MARKER = ".mead-up"
"""The file that marks a work directory as ``mead up``'s (cleared on the next run)."""


def _fresh_workdir(workdir: Path) -> Path:
    """``workdir`` empty for a new run: a previous run's (marked by :data:`UP_MARKER`) is
    cleared — its stores, keys and certificates belong to that run — and a folder holding
    anything else is refused (``MeadError`` naming it) rather than written into."""
    if workdir.exists() and not workdir.is_dir():
        raise MeadError(f"work directory {workdir} is a file: choose a folder (--workdir)")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / UP_MARKER).is_file():
            raise MeadError(
                f"work directory {workdir} is not empty and is not one mead up made: "
                "choose another (--workdir)"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / UP_MARKER).write_text("a mead up work directory: cleared by the next run\n")
    return workdir


def _start_node(
    workdir: Path,
    lf: Any,
    n: str,
    inst: str,
    scenario: Path,
    pols: dict[str, Any],
    timing: dict[str, float],
    extra: dict[str, dict[str, Any]],
    ports: dict[str, int],
    server: int,
) -> subprocess.Popen[bytes]:
    """Write instance ``inst``'s config (of node ``n``) and start its process."""
    c = lf.fed.coordinator
    path = workdir / f"{inst}.yaml"
    write_private(path, _node_config(lf, n, scenario.resolve(), pols.get(n), timing,
                                     extra.get(n, {}), server))  # fmt: skip
    ev = workdir / f"{inst}.events.jsonl"
    ev.unlink(missing_ok=True)
    with open(workdir / f"{inst}.log", "wb") as log:
        argv = [sys.executable, "-m", "mead.cli", "coordinator" if n == c else "node", str(path),
                "--events", str(ev)]  # fmt: skip
        argv += ["--web", str(ports[n])] if n in ports and inst == n else []
        argv += ["--standby"] if inst != n else []
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def _open_gate(
    gate: Path, procs: dict[str, subprocess.Popen[bytes]], workdir: Path, timeout_s: float
) -> float:
    """Wait until every process in ``procs`` is ready at ``gate``, then open it: returns
    scenario t=0 (wall UTC s). A process that exits first, or a gate still closed after
    ``timeout_s``, is a ``MeadError`` naming the node and the end of its log."""
    deadline = time.monotonic() + timeout_s
    while waiting := [i for i in procs if not (gate / f"{i}.ready").exists()]:
        for i in waiting:
            if procs[i].poll() is not None:
                tail = (workdir / f"{i}.log").read_text(errors="replace")[-2000:]
                raise MeadError(f"node {i} exited ({procs[i].returncode}) before it was "
                                f"ready:\n{tail}")  # fmt: skip
        if time.monotonic() > deadline:
            raise MeadError(f"{', '.join(waiting)} not ready after {timeout_s:g} s "
                            f"(their logs: {workdir})")  # fmt: skip
        time.sleep(0.05)
    start_wall = time.time() + 0.5  # every node polls the gate far more often than this
    tmp = gate / f"{GATE_START}.tmp"
    tmp.write_text(f"{start_wall!r}\n")
    os.replace(tmp, gate / GATE_START)
    return start_wall


def _kill_at(proc: subprocess.Popen[bytes], t_wall: float) -> dict[str, Any]:
    """SIGKILL ``proc`` at wall time ``t_wall`` (UTC s); when it happened."""
    time.sleep(max(0.0, t_wall - time.time()))
    proc.kill()
    return {"t_wall": time.time(), "pid": proc.pid}


def _node_config(
    lf: Any,
    n: str,
    scenario: Path,
    pol: Any,
    timing: dict[str, float],
    extra: dict[str, Any],
    server: int = 0,
) -> str:
    """Node ``n``'s config as YAML, with the fields of ``extra`` added; a coordinator
    instance works through hub server ``server`` first. ``timing``: its ``speed``,
    ``duration_s`` and (if not 0) ``from_s``."""
    c = lf.fed.coordinator
    if n == c:
        acc = lf.hub_accounts(server)
        own = acc["HUB"]
        durable = {f"{p}_INBOX": acc[f"PARTNER_{p}"] for p in lf.fed.partners}
    else:
        acc = lf.partner_accounts(n)
        own, durable = acc["LOCAL"], {"ALERTS_IN": acc["RELEASE"]}

    def account(a: Any) -> dict[str, str]:
        if a.tls is not None:  # mTLS: the certificate is the user
            t = a.tls
            return {"url": a.url, "ca_file": t.ca_file, "cert_file": t.cert_file,
                    "key_file": t.key_file}  # fmt: skip
        return {"url": a.url, "user": a.user, "password": a.password}

    cfg: dict[str, Any] = {
        "name": n,
        "scenario": str(scenario),
        "key": f"keys/{n}.key",
        "registry": "keys/registry.yaml",
        "nats": account(own),
        "durable": {s: account(a) for s, a in durable.items()},
        "start_gate": "gate",
        **timing,
    }
    if pol is not None and n != c:
        cfg["policy"] = f"{n}.policy.yaml"
        (lf.dir.parent / f"{n}.policy.yaml").write_bytes(msgspec.yaml.encode(pol))
    cfg |= extra  # checked by check_node_extra
    if n == c and len(lf.hubs) > 1:  # the hub's streams and lease on each of its servers,
        # led from the last, which no instance works through (with three servers or more)
        witness = {"leaders_on": lf.witness} if len(lf.hubs) > 2 else {}
        cfg["failover"] = {**cfg.get("failover", {}), "replicas": len(lf.hubs), **witness}
    return msgspec.yaml.encode(cfg).decode()


GENERATED = ("name", "scenario", "key", "registry", "nats", "durable", "speed", "start_gate",
             "duration_s", "from_s", "policy")  # fmt: skip
"""The node config fields ``mead up`` writes itself."""


def check_node_extra(node: str, fields: dict[str, Any], source: str = "") -> None:
    """Check fields to add to ``node``'s generated config: none that ``mead up`` sets
    itself, and each valid for a node config; else a ``ConfigError`` naming ``source``
    (default ``node_extra['<node>']``) and the field."""
    from mead.runtime.live import NodeConfig

    source = source or f"node_extra[{node!r}]"
    if taken := sorted(set(fields) & set(GENERATED)):
        raise ConfigError(source, f"{', '.join(taken)}: set by mead up itself")
    nats = {"url": "nats://127.0.0.1:4222", "user": "-", "password": "-"}
    stand_in = {"name": node, "scenario": "-", "key": "-", "registry": "-", "nats": nats}
    try:
        msgspec.convert(stand_in | fields, NodeConfig)
    except msgspec.ValidationError as e:
        detail, _, path = str(e).partition(" - at `$")
        raise ConfigError(source, detail, "$" + path.rstrip("`") if path else "") from None


def _summary(
    workdir: Path,
    procs: dict[str, subprocess.Popen[bytes]],
    coordinator: str,
    killed: dict[str, Any] | None = None,
    hub_killed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for n, p in procs.items():
        ev = workdir / f"{n}.events.jsonl"
        events = read_events(ev.read_bytes()) if ev.exists() else []
        counters = next((e.counters for e in events if isinstance(e, Counters)), {})
        received = [e for e in events if isinstance(e, AlertReceived) and e.via == coordinator]
        nodes[n] = {
            "exit": p.returncode,
            "alerts_from_coordinator": len(received),
            "counters": counters,
        }
        changes = [msgspec.to_builtins(e) for e in events if isinstance(e, Leadership)]
        if changes:
            nodes[n]["leadership"] = changes
    victim = killed["node"] if killed else None
    ok = bool(procs) and all(v["exit"] == 0 for n, v in nodes.items() if n != victim)
    out = {"ok": ok, "workdir": str(workdir), "nodes": nodes}
    if killed:
        out["killed"] = killed
    if hub_killed:
        out["hub_killed"] = hub_killed
    first = min((d["t_wall"] for d in (killed, hub_killed) if d), default=None)
    if first is not None:
        out["failover"] = failover_figures(workdir, coordinator, first)
    return out


END_SLACK_S = 10.0
"""A recipient whose last event lies this close to the coordinator's last send ran to the
end of the drill (:func:`failover_figures`), scenario s."""


def failover_figures(workdir: Path, coordinator: str, kill_wall: float) -> dict[str, Any]:
    """How a failover drill went, from the events files in ``workdir``.

    ``takeover_s``: wall s from the kill (``kill_wall``) until the standby was active
    (None: it never was);
    ``sent``: alert states the killed active recorded as sent plus those the standby sent;
    ``lost``: of those, how many no partner received; ``duplicated``: alert states
    (id, state, time) a partner received more than once; ``resent``/``suppressed``: what
    the standby's reconciliation sent and held back; ``after_end``: states sent after
    their recipient had stopped at the end of the run (its last event, within
    ``END_SLACK_S`` of the coordinator's last send), which no failover could deliver and
    ``lost`` does not count (a recipient that stopped earlier is not excused).
    """
    c = coordinator

    def events(name: str) -> list[Any]:
        ev = workdir / f"{name}.events.jsonl"
        return read_events(ev.read_bytes()) if ev.exists() else []

    def key(e: Any) -> tuple[str, str, float]:
        return (e.alert_id, e.state, e.t)

    standby = events(f"{c}-standby")
    took = [e for e in standby if isinstance(e, Leadership) and e.role == "active"]
    to = {key(e): e.recipient for e in [*events(c), *standby] if isinstance(e, AlertSent)}
    sent = set(to)
    received: list[tuple[str, str, float]] = []
    last: dict[str, float] = {}  # each node's last event, scenario (wire) s
    for path in sorted(workdir.glob("*.events.jsonl")):
        name = path.name.removesuffix(".events.jsonl")
        evs = events(name)
        received += [key(e) for e in evs if isinstance(e, AlertReceived) and e.via == c]
        times = [float(getattr(e, "t_recv", getattr(e, "t", 0.0))) for e in evs]
        last[name] = max(times, default=float("-inf"))
    counts = Counter(received)
    t_end = max((k[2] for k in sent), default=0.0)
    after_end = {
        k
        for k in sent - set(counts)
        if k[2] > last.get(to[k], float("inf")) >= t_end - END_SLACK_S
    }
    return {
        "takeover_s": round(took[0].t_wall - kill_wall, 2) if took else None,
        "sent": len(sent),
        "lost": len(sent - set(counts) - after_end),
        "after_end": len(after_end),
        "duplicated": sum(n - 1 for n in counts.values()),
        "resent": sum(e.resent for e in took),
        "suppressed": sum(e.suppressed for e in took),
    }


def format_up(summary: dict[str, Any]) -> str:
    """The ``mead up`` summary as a small table."""
    rows = [
        f"{'node':<10} {'exit':>4} {'alerts via coord':>16} {'released':>9} "
        f"{'batches':>8} {'sent':>5} {'rejected':>8} {'late ticks':>10} {'max lag ms':>10}"
    ]
    for n, v in summary["nodes"].items():
        ctr = v["counters"]
        rej = sum(x for k, x in ctr.items() if k.startswith("rejected_"))
        sent = sum(x for k, x in ctr.items() if k.startswith("alerts_")) if "batches" in ctr else 0
        rows.append(
            f"{n:<10} {v['exit']!s:>4} {v['alerts_from_coordinator']:>16} "
            f"{ctr.get('released_tracks', 0):>9} {ctr.get('batches', 0):>8} "
            f"{sent:>5} {rej:>8} {ctr.get('late_ticks', 0):>10} {ctr.get('max_lag_ms', 0):>10}"
        )
    if "failover" in summary:
        f = summary["failover"]
        took = f"{f['takeover_s']} s after the kill" if f["takeover_s"] is not None else "never"
        rows.append(
            f"failover: standby active {took}; alert states "
            f"sent {f['sent']}, lost {f['lost']}, duplicated {f['duplicated']} "
            f"(resent {f['resent']}, suppressed {f['suppressed']}; "
            f"sent after their recipient stopped at the end: {f['after_end']})"
        )
    rows.append(
        "late ticks: steps a node began more than one tick (wall) after their time; max lag: "
        "the latest one (a node keeping up has none)"
    )
    rows.append(f"logs, configs and stores: {summary['workdir']}")
    return "\n".join(rows)
