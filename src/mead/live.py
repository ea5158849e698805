"""Live mode: nodes as processes over NATS (``mead node``, ``mead coordinator``, ``mead up``).

A node process reads a :class:`NodeConfig` YAML, connects a
:class:`~mead.federation.nats.NatsBus` to its own nats-server, and steps the same
``PartnerNode``/``CoordinatorNode`` the simulation uses, on a wall clock. Until real radars
are plugged in, a partner runs its scenario's simulated sensors in (accelerated) real time:
wire time = scenario start + (wall time − ``start_wall``) × ``speed``, shared by all nodes
of a run. Nodes step on the simulation's tick grid and see a message at the first tick after
it arrived, so ``mead up`` issues the same alerts as ``mead run`` (see
``docs/operations.md`` for the tolerance and the measured differences). ``mead up`` brings a
whole federation up on loopback — one nats-server per site, one process per node — runs it
for a while and stops everything cleanly.

Events (alerts received, rejections, final counters) are JSON lines on ``--events``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import msgspec
from msgspec import Meta, Struct

from mead.errors import ConfigError, MeadError
from mead.scenario.loader import load_yaml

Positive = Annotated[float, Meta(gt=0)]


class NatsAccount(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One account on a nats-server: where and as whom to connect."""

    url: str  # e.g. nats://127.0.0.1:4222
    user: str
    password: str


class NodeConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A live node: its identity, its server, its scenario and its clock.

    Paths are relative to the config file.
    """

    name: str  # the node's pseudonym (a partner or the scenario's coordinator)
    scenario: str  # scenario YAML: areas, sensors, and the simulated world
    key: str  # file with the node's private Ed25519 key (64 hex digits)
    registry: str  # YAML pseudonym → public key of every node it accepts
    nats: NatsAccount  # own account: partner LOCAL, coordinator HUB
    durable: dict[str, NatsAccount] = {}  # stream → account to read it durably from
    policy: str | None = None  # partner's releasability policy (default: to coordinator)
    speed: Positive = 1.0  # scenario seconds per wall second
    start_wall: float | None = None  # wall time (UTC s) of scenario t=0; None: at start
    duration_s: Positive | None = None  # scenario seconds to run (None: the scenario's)
    max_age_s: Positive = 300.0  # reject envelopes older than this (wire s)


def load_node_config(path: str | Path) -> NodeConfig:
    """Load and validate a node config; errors name the file and field."""
    return load_yaml(path, NodeConfig)


class WireClock:
    """Wire time (UTC s) = ``epoch_s`` + (wall now − ``start_wall``) × ``speed``."""

    def __init__(self, epoch_s: float, start_wall: float, speed: float) -> None:
        self.epoch_s, self.start_wall, self.speed = epoch_s, start_wall, speed

    def __call__(self) -> float:
        return self.epoch_s + (time.time() - self.start_wall) * self.speed


def _bus(cfg: NodeConfig, pattern: str) -> Any:
    _require_nats_py()
    from mead.federation.nats import ConnSpec, Durable, NatsBus

    def spec(a: NatsAccount) -> ConnSpec:
        return ConnSpec(a.url, a.user, a.password)

    durables = [Durable(spec(a), s, cfg.name) for s, a in sorted(cfg.durable.items())]
    return NatsBus(
        spec(cfg.nats),
        durable={pattern: durables} if durables else None,
        watch=[(d.conn, d.stream) for d in durables],
    )


def _require_nats_py() -> None:
    try:
        import nats  # noqa: F401
    except ImportError:
        raise MeadError("live mode needs the NATS client: pip install nats-py") from None


def _ensure_streams(cfg: NodeConfig, sc: Any, role: str, base: Path) -> None:
    """Create the node's own JetStream streams (idempotent), as natsconf lays them out."""
    _require_nats_py()
    from mead.federation.nats import ConnSpec, ensure_streams
    from mead.federation.natsconf import Federation, hub_streams, partner_streams
    from mead.federation.policy import Policy, Releaser, load_policy

    def spec(a: NatsAccount) -> ConnSpec:
        return ConnSpec(a.url, a.user, a.password)

    c = sc.coordinator.name
    known = {p.name for p in sc.partners} | {c}
    if role == "coordinator":
        missing = sorted(
            f"{p.name}_INBOX" for p in sc.partners if f"{p.name}_INBOX" not in cfg.durable
        )
        if missing:
            raise ConfigError(str(base), f"no account given for {', '.join(missing)}", "$.durable")
        fed = Federation(c, {p.name: [c] for p in sc.partners}, b"-" * 16)
        accounts = {f"PARTNER_{p.name}": spec(cfg.durable[f"{p.name}_INBOX"]) for p in sc.partners}
        ensure_streams(hub_streams(fed), {"HUB": spec(cfg.nats), **accounts})
        return
    if "ALERTS_IN" not in cfg.durable:
        raise ConfigError(str(base), "no account given for ALERTS_IN (RELEASE)", "$.durable")
    pol = Policy.default(cfg.name, c) if cfg.policy is None else load_policy(base / cfg.policy)
    fed = Federation(c, {cfg.name: Releaser(pol, recipients=known).recipients}, b"-" * 16)
    ensure_streams(
        partner_streams(fed, cfg.name),
        {"LOCAL": spec(cfg.nats), "RELEASE": spec(cfg.durable["ALERTS_IN"])},
    )


def run_node(
    cfg: NodeConfig,
    base: Path,
    role: str,
    emit: Callable[[dict[str, Any]], None],
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Run one node until its duration ends or ``stop()``; returns its counters."""
    from mead.federation.envelope import Opener
    from mead.federation.identity import Identity, KeyRegistry
    from mead.federation.policy import Policy, Releaser, load_policy, validate_recipients
    from mead.node import CoordinatorNode, PartnerNode, site_table
    from mead.runner import prepare
    from mead.scenario import load_scenario
    from mead.tracking.tracker import Tracker

    sc = load_scenario(base / cfg.scenario)
    partners = {p.name: p for p in sc.partners}
    known = set(partners) | {sc.coordinator.name}
    if role == "coordinator" and cfg.name != sc.coordinator.name:
        raise ConfigError(str(base), f"{cfg.name!r} is not the scenario's coordinator", "$.name")
    if role == "partner" and cfg.name not in partners:
        raise ConfigError(str(base), f"{cfg.name!r} is not a partner of the scenario", "$.name")
    identity = Identity.from_hex(cfg.name, (base / cfg.key).read_text().strip())
    identity.seq = time.time_ns() // 1000  # resume above anything sent before a restart
    registry = KeyRegistry.load(base / cfg.registry)
    epoch = sc.start_epoch_s()
    clock = WireClock(epoch, cfg.start_wall or time.time(), cfg.speed)
    opener = Opener(registry, max_age_s=cfg.max_age_s, clock=clock)
    pattern = f"{'tracks' if role == 'coordinator' else 'alerts'}.{cfg.name}"
    _ensure_streams(cfg, sc, role, base)
    bus = _bus(cfg, pattern)
    node: Any
    try:
        endpoint = bus.connect(cfg.name)
        if role == "coordinator":
            node = CoordinatorNode(
                identity=identity,
                endpoint=endpoint,
                opener=opener,
                areas=list(sc.defended_areas),
                assess_s=sc.coordinator.assess_s,
                emit=emit,
            )
        else:
            p = partners[cfg.name]
            if cfg.policy is None:
                pol = Policy.default(p.name, sc.coordinator.name)
            else:
                pol = load_policy(base / cfg.policy)
                validate_recipients(pol, known, str(base / cfg.policy), partner=p.name)
            world = prepare(sc, sc.seed)
            node = PartnerNode(
                identity=identity,
                endpoint=endpoint,
                opener=opener,
                scans=(s for s in world.scans if s.partner == p.name),
                tracker=Tracker(p.name),
                releaser=Releaser(pol, recipients=known),
                areas=[a for a in sc.defended_areas if a.owner == p.name],
                release_s=p.release_s,
                epoch_s=epoch,
                sensor_sites=site_table(p.sensors),
                emit=emit,
            )
        lag = _loop(node, endpoint, clock, cfg.duration_s or sc.duration_s, sc.tick_s, stop)
        endpoint.flush()
    finally:
        bus.close()
    counters = dict(node.counters) | {f"rejected_{k}": v for k, v in node.inbox.rejected.items()}
    counters |= {"ticks": lag.ticks, "late_ticks": lag.late, "max_lag_ms": round(lag.max_s * 1e3)}
    counters |= {f"bus_{k}": v for k, v in endpoint.counters.items()}
    emit({"kind": "counters", "node": cfg.name, **counters})
    return counters


def _loop(
    node: Any,
    endpoint: Any,
    clock: WireClock,
    duration_s: float,
    tick_s: float,
    stop: Callable[[], bool],
) -> _Lag:
    """Step ``node`` on the simulation's tick grid: wire times epoch + k·``tick_s``.

    Tick k is stepped once the wall clock reaches it (a node that fell behind steps every
    missed tick in turn, as the simulation would), so releases, assessments and scans
    happen at the same wire times as in ``mead run``. A message is handed to the node at
    the first tick that starts after it arrived: one published during tick k is seen at
    tick k + 1 at the earliest, as on the simulated bus (link latency below one tick),
    whatever the order in which the node processes woke up. Returns how late steps began.
    """
    lag = _Lag()
    n = int(math.ceil(duration_s / tick_s))  # the simulation steps ticks 0 … n
    tick_wall_s = tick_s / clock.speed
    for k in range(n + 1):
        t_wall = clock.start_wall + k * tick_wall_s
        while (wait := t_wall - time.time()) > 0:
            if stop():
                return lag
            time.sleep(min(wait, 0.25))
        if stop():
            return lag
        late_s = time.time() - t_wall
        lag.ticks += 1
        lag.late += late_s > tick_wall_s
        lag.max_s = max(lag.max_s, late_s)
        for sub in endpoint.subscriptions:
            sub.until = t_wall
        node.step(clock.epoch_s + k * tick_s)
    return lag


@dataclass
class _Lag:
    """How far behind the wall clock a node's steps began (live mode's timing error)."""

    ticks: int = 0  # ticks stepped
    late: int = 0  # ticks begun more than one tick (wall) after their time
    max_s: float = 0.0  # worst lateness, wall s


# ----------------------------------------------------------------------------- commands


def add_parsers(sub: Any) -> None:
    """Register ``node``, ``coordinator`` and ``up`` on the ``mead`` subparsers."""
    for role in ("node", "coordinator"):
        what = "a partner node" if role == "node" else "the coordinator"
        p = sub.add_parser(
            role,
            help=f"run {what} live over NATS",
            description=f"Run {what} from a node config YAML (see "
            "docs/operations.md) until its duration ends or SIGTERM.",
        )
        p.add_argument("config", type=Path, help="node config YAML")
        p.add_argument(
            "--events",
            type=Path,
            default=None,
            help="append JSON-line events here (default: stdout)",
        )
        p.set_defaults(func=_cmd_node, role="coordinator" if role == "coordinator" else "partner")
    u = sub.add_parser(
        "up",
        help="run a whole federation on this machine over NATS",
        description="Start one nats-server per site (hub + one per partner) "
        "and one process per node on loopback, run SCENARIO's simulated "
        "sensors in accelerated real time, then stop everything.",
    )
    u.add_argument("scenario", type=Path)
    u.add_argument(
        "--duration",
        type=float,
        default=None,
        help="scenario seconds to run (default: the whole scenario)",
    )
    u.add_argument("--speed", type=float, default=1.0, help="scenario s per wall s")
    u.add_argument(
        "--workdir",
        type=Path,
        default=Path("out/live"),
        help="configs, keys, logs, stores (default out/live)",
    )
    u.add_argument("--json", action="store_true", help="print the summary as JSON")
    u.set_defaults(func=_cmd_up)
    k = sub.add_parser(
        "keygen",
        help="make a node's Ed25519 key pair",
        description="Write NAME.key (private, mode 600) into --out and print "
        "the registry line 'NAME: <public key>' to give the other nodes.",
    )
    k.add_argument("name")
    k.add_argument("--out", type=Path, default=Path("keys"))
    k.set_defaults(func=_cmd_keygen)
    n = sub.add_parser(
        "natsconf",
        help="render the nats-server configs of a federation",
        description="Write hub.conf and one <partner>.conf per partner of "
        "SCENARIO into --out; passwords are derived from --deploy-key.",
    )
    n.add_argument("scenario", type=Path)
    n.add_argument(
        "--deploy-key",
        type=Path,
        required=True,
        help="file with the deployment secret (>= 16 bytes; e.g. 32 random bytes)",
    )
    n.add_argument(
        "--hub-leaf",
        required=True,
        help="host:port partners reach the hub's leafnode listener at (the WAN address)",
    )
    n.add_argument("--leaf-listen", default="0.0.0.0:7422", help="hub leafnode listener")
    n.add_argument("--listen", default="127.0.0.1:4222", help="client listener of each server")
    n.add_argument("--store", default="/var/lib/mead/jetstream", help="JetStream store dir")
    n.add_argument("--out", type=Path, default=Path("natsconf"))
    n.set_defaults(func=_cmd_natsconf)


def _cmd_node(args: argparse.Namespace) -> int:
    cfg = load_node_config(args.config)
    stopping = {"flag": False}

    def on_signal(*_: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out: IO[str] = open(args.events, "a") if args.events else sys.stdout
    try:

        def emit(ev: dict[str, Any]) -> None:
            out.write(json.dumps(ev, default=str) + "\n")
            out.flush()

        run_node(cfg, args.config.resolve().parent, args.role, emit, lambda: stopping["flag"])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from mead.federation.identity import Identity

    ident = Identity.generate(args.name)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{ident.name}.key"
    if path.exists():
        raise MeadError(f"{path} exists; refusing to overwrite a private key")
    path.touch(mode=0o600)
    path.write_text(ident.secret_hex + "\n")
    print(f"{ident.name}: {ident.public_hex}")
    return 0


def _cmd_natsconf(args: argparse.Namespace) -> int:
    from mead.federation.natsconf import Federation, hub_conf, partner_conf
    from mead.federation.policy import Releaser
    from mead.runner import policies
    from mead.scenario import load_scenario

    sc = load_scenario(args.scenario)
    pols = policies(sc, args.scenario, "alliance")
    known = {p.name for p in sc.partners} | {sc.coordinator.name}
    fed = Federation(
        sc.coordinator.name,
        {p: Releaser(pol, recipients=known).recipients for p, pol in pols.items()},
        args.deploy_key.read_bytes().strip(),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "hub.conf": hub_conf(
            fed,
            store_dir=args.store,
            leaf_listen=args.leaf_listen,
            advertise=args.hub_leaf,
            listen=args.listen,
        )
    }
    for p in fed.partners:
        files[f"{p}.conf"] = partner_conf(
            fed, p, hub_leaf=args.hub_leaf, store_dir=args.store, listen=args.listen
        )
    for name, text in files.items():
        (args.out / name).write_text(text)
        (args.out / name).chmod(0o600)
    print(f"wrote {', '.join(files)} into {args.out}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    summary = up(args.scenario, args.workdir, duration_s=args.duration, speed=args.speed)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_up(summary))
    return 0 if summary["ok"] else 1


def up(
    scenario: Path,
    workdir: Path,
    *,
    duration_s: float | None = None,
    speed: float = 1.0,
    startup_s: float = 4.0,
) -> dict[str, Any]:
    """Bring a federation up on loopback, run it for ``duration_s`` scenario s, stop it.

    Returns a summary: per node its exit code and counters, and the alerts each partner
    received through the coordinator.
    """
    from mead.federation.identity import Identity
    from mead.federation.natsconf import Federation
    from mead.federation.natsserver import LocalFederation
    from mead.federation.policy import Releaser
    from mead.runner import policies
    from mead.scenario import load_scenario

    if not speed > 0:
        raise MeadError(f"--speed must be > 0 (got {speed})")
    sc = load_scenario(scenario)
    pols = policies(sc, scenario, "alliance")
    c = sc.coordinator.name
    known = {p.name for p in sc.partners} | {c}
    fed = Federation(
        c,
        {p: Releaser(pol, recipients=known).recipients for p, pol in pols.items()},
        os.urandom(32),
    )
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_s = duration_s if duration_s is not None else sc.duration_s
    lf = LocalFederation(fed, workdir / "servers", relays=False).start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        keys = {n: Identity.generate(n) for n in sorted(known)}
        (workdir / "keys").mkdir(exist_ok=True)
        for n, ident in keys.items():
            kf = workdir / "keys" / f"{n}.key"
            kf.write_text(ident.secret_hex + "\n")
            kf.chmod(0o600)
        (workdir / "keys" / "registry.yaml").write_text(
            "".join(f"{n}: {i.public_hex}\n" for n, i in keys.items())
        )
        start_wall = time.time() + startup_s
        for n in sorted(known):
            cfg = _node_config(lf, n, scenario.resolve(), pols.get(n), start_wall, speed, run_s)
            path = workdir / f"{n}.yaml"
            path.write_text(cfg)
            role = "coordinator" if n == c else "node"
            ev = workdir / f"{n}.events.jsonl"
            ev.unlink(missing_ok=True)
            with open(workdir / f"{n}.log", "wb") as log:
                procs[n] = subprocess.Popen(
                    [sys.executable, "-m", "mead.cli", role, str(path), "--events", str(ev)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        deadline = start_wall + run_s / speed + 15.0
        for p in procs.values():
            p.wait(max(1.0, deadline - time.time()))
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
    return _summary(workdir, procs, c)


def _node_config(
    lf: Any, n: str, scenario: Path, pol: Any, start_wall: float, speed: float, run_s: float
) -> str:
    c = lf.fed.coordinator
    if n == c:
        acc = lf.hub_accounts()
        own = acc["HUB"]
        durable = {f"{p}_INBOX": acc[f"PARTNER_{p}"] for p in lf.fed.partners}
    else:
        acc = lf.partner_accounts(n)
        own, durable = acc["LOCAL"], {"ALERTS_IN": acc["RELEASE"]}

    def account(a: Any) -> dict[str, str]:
        return {"url": a.url, "user": a.user, "password": a.password}

    cfg: dict[str, Any] = {
        "name": n,
        "scenario": str(scenario),
        "key": f"keys/{n}.key",
        "registry": "keys/registry.yaml",
        "nats": account(own),
        "durable": {s: account(a) for s, a in durable.items()},
        "speed": speed,
        "start_wall": start_wall,
        "duration_s": run_s,
    }
    if pol is not None and n != c:
        cfg["policy"] = f"{n}.policy.yaml"
        (lf.dir.parent / f"{n}.policy.yaml").write_bytes(msgspec.yaml.encode(pol))
    return msgspec.yaml.encode(cfg).decode()


def _summary(
    workdir: Path, procs: dict[str, subprocess.Popen[bytes]], coordinator: str
) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for n, p in procs.items():
        events: list[dict[str, Any]] = []
        ev = workdir / f"{n}.events.jsonl"
        if ev.exists():
            events = [json.loads(line) for line in ev.read_text().splitlines() if line.strip()]
        counters: dict[str, Any] = next((e for e in events if e.get("kind") == "counters"), {})
        received = [e for e in events if e.get("kind") == "alert" and e.get("via") == coordinator]
        nodes[n] = {
            "exit": p.returncode,
            "alerts_from_coordinator": len(received),
            "counters": {k: v for k, v in counters.items() if k not in ("kind", "node")},
        }
    ok = bool(procs) and all(v["exit"] == 0 for v in nodes.values())
    return {"ok": ok, "workdir": str(workdir), "nodes": nodes}


def format_up(summary: dict[str, Any]) -> str:
    """The ``mead up`` summary as a small table."""
    rows = [
        f"{'node':<8} {'exit':>4} {'alerts via coord':>16} {'released':>9} "
        f"{'batches':>8} {'sent':>5} {'rejected':>8}"
    ]
    for n, v in summary["nodes"].items():
        ctr = v["counters"]
        rej = sum(x for k, x in ctr.items() if k.startswith("rejected_"))
        sent = sum(x for k, x in ctr.items() if k.startswith("alerts_")) if "batches" in ctr else 0
        rows.append(
            f"{n:<8} {v['exit']!s:>4} {v['alerts_from_coordinator']:>16} "
            f"{ctr.get('released_tracks', 0):>9} {ctr.get('batches', 0):>8} "
            f"{sent:>5} {rej:>8}"
        )
    rows.append(f"logs, configs and stores: {summary['workdir']}")
    return "\n".join(rows)


__all__ = [
    "NatsAccount",
    "NodeConfig",
    "WireClock",
    "add_parsers",
    "format_up",
    "load_node_config",
    "run_node",
    "up",
]
