"""Live mode: one node as a process over NATS (``mead node``, ``mead coordinator``).

A node process reads a :class:`NodeConfig` YAML, connects a
:class:`~mead.federation.nats.NatsBus` to its own nats-server, and steps the same
``PartnerNode``/``CoordinatorNode`` the simulation uses, on a wall clock. Until real radars
are plugged in, a partner runs its scenario's simulated sensors in (accelerated) real time:
wire time = scenario start + (wall time − ``start_wall``) × ``speed``, shared by all nodes
of a run. Nodes step on the simulation's tick grid and see a message at the first tick after
it arrived, so ``mead up`` (:mod:`mead.runtime.up`) issues the same alerts as ``mead run``
(see ``docs/operations.md`` for the tolerance and the measured differences). The node is
built by :mod:`mead.runtime.wiring`, as in simulation.

Events (``mead.events``: alerts received, rejections, final counters) go to ``emit``.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from msgspec import Meta, Struct, field

from mead.errors import ConfigError, MeadError
from mead.events import Counters, Emit
from mead.runtime.wiring import MAX_MESSAGE_AGE_S, known_nodes, partner_policy
from mead.scenario.loader import load_yaml
from mead.scenario.schema import Scenario

Positive = Annotated[float, Meta(gt=0)]
_INSTANCE = re.compile(r"[A-Za-z0-9_-]{0,32}")


class NatsAccount(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One account on a nats-server: where and as whom to connect."""

    url: str  # e.g. nats://127.0.0.1:4222
    user: str
    password: str


class CoordinatorFailover(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A coordinator instance's part in failover (:mod:`mead.runtime.failover`).

    Every instance of one coordinator uses the same ``lease_ttl_s`` and ``renew_s``.
    """

    instance: str = ""  # lease holder and durable consumer name ("": name, or name-standby)
    standby: bool = False  # start in shadow; take over only a lease gone stale
    lease_ttl_s: Positive = 5.0  # wall s a lease stands unrenewed before a standby takes it
    renew_s: Positive = 1.0  # wall s between renewals (and a standby's looks)

    def __post_init__(self) -> None:
        if 2 * self.renew_s > self.lease_ttl_s:
            raise ValueError(
                f"renew_s ({self.renew_s}) must be at most half of lease_ttl_s "
                f"({self.lease_ttl_s}): a lease must survive one late renewal"
            )
        if not _INSTANCE.fullmatch(self.instance):
            raise ValueError(
                f"instance ({self.instance!r}) must be letters, digits, '-' or '_' "
                "(at most 32): it names a durable consumer"
            )

    def name(self, node: str) -> str:
        """The instance name: ``instance``, else the node's name (``-standby`` added)."""
        return self.instance or (f"{node}-standby" if self.standby else node)


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
    max_age_s: Positive = MAX_MESSAGE_AGE_S  # reject envelopes older than this (wire s)
    failover: CoordinatorFailover = field(default_factory=CoordinatorFailover)  # coordinator


def load_node_config(path: str | Path) -> NodeConfig:
    """Load and validate a node config; errors name the file and field."""
    return load_yaml(path, NodeConfig)


class WireClock:
    """Wire time (UTC s) = ``epoch_s`` + (wall now − ``start_wall``) × ``speed``."""

    def __init__(self, epoch_s: float, start_wall: float, speed: float) -> None:
        self.epoch_s, self.start_wall, self.speed = epoch_s, start_wall, speed

    def __call__(self) -> float:
        return self.epoch_s + (time.time() - self.start_wall) * self.speed


def _bus(cfg: NodeConfig, pattern: str, consumer: str) -> Any:
    _require_nats_py()
    from mead.federation.nats import ConnSpec, Durable, NatsBus

    def spec(a: NatsAccount) -> ConnSpec:
        return ConnSpec(a.url, a.user, a.password)

    durables = [Durable(spec(a), s, consumer) for s, a in sorted(cfg.durable.items())]
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


def _ensure_streams(cfg: NodeConfig, sc: Scenario, role: str, base: Path) -> None:
    """Create the node's own JetStream streams (idempotent), as natsconf lays them out."""
    _require_nats_py()
    from mead.federation.nats import ConnSpec, ensure_streams
    from mead.federation.natsconf import Federation, hub_streams, partner_streams
    from mead.federation.policy import Releaser

    def spec(a: NatsAccount) -> ConnSpec:
        return ConnSpec(a.url, a.user, a.password)

    c = sc.coordinator.name
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
    pol = partner_policy(sc, cfg.name, base / cfg.policy if cfg.policy else None)
    fed = Federation(
        c, {cfg.name: Releaser(pol, recipients=known_nodes(sc)).recipients}, b"-" * 16
    )
    ensure_streams(
        partner_streams(fed, cfg.name),
        {"LOCAL": spec(cfg.nats), "RELEASE": spec(cfg.durable["ALERTS_IN"])},
    )


def run_node(
    cfg: NodeConfig,
    base: Path,
    role: str,
    emit: Emit,
    stop: Callable[[], bool] = lambda: False,
    web: Any = None,
) -> dict[str, int]:
    """Run one node until its duration ends or ``stop()``; returns its counters.

    ``web`` (``mead.server.nodemap.WebOptions``): also serve the node's map there; its
    address goes to stderr once it listens."""
    from mead.federation.envelope import Opener
    from mead.federation.identity import Identity, KeyRegistry
    from mead.runtime.simulation import prepare
    from mead.runtime.wiring import build_coordinator, build_partner
    from mead.scenario import load_scenario

    sc = load_scenario(base / cfg.scenario)
    partners = {p.name: p for p in sc.partners}
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
    nodemap = None
    if web is not None:
        from mead.server.nodemap import NodeMap

        nodemap = NodeMap(sc, cfg.name, emit, cfg.speed, web).start()
        emit = nodemap.tee(emit)
        print(f"map of {cfg.name}: {nodemap.server.url}", file=sys.stderr, flush=True)
    show = nodemap.show if nodemap is not None else _no_show
    instance = cfg.failover.name(cfg.name) if role == "coordinator" else cfg.name
    bus = _bus(cfg, pattern, instance)
    node: Any = None
    try:
        endpoint = bus.connect(cfg.name)
        if role == "coordinator":
            # live partners do not forward ADS-B yet: the coordinator judges on kinematics
            # and on the classes partners release (a partner's ADS-B-identified civil track
            # is released as aircraft)
            node = _coordinator(
                cfg,
                bus,
                endpoint,
                emit,
                lambda ep, em: build_coordinator(
                    sc, identity=identity, endpoint=ep, opener=opener, emit=em, show=show
                ),
            )
        else:
            world = prepare(sc, sc.seed)  # radars and ADS-B receivers, simulated in real time
            node = build_partner(
                sc,
                cfg.name,
                identity=identity,
                endpoint=endpoint,
                opener=opener,
                policy=partner_policy(sc, cfg.name, base / cfg.policy if cfg.policy else None),
                scans=(s for s in world.scans if s.partner == cfg.name),
                epoch_s=epoch,
                adsb=world.adsb,
                emit=emit,
                show=show,
            )
        hooks: list[Callable[[float], None]] = [nodemap.drain] if nodemap is not None else []
        if role == "partner":
            from mead.runtime.failover import CoordinatorWatch, silent_after_s

            coord = sc.coordinator
            hooks.append(CoordinatorWatch(node, coord.name, silent_after_s(sc), emit))
        run_s = cfg.duration_s or sc.duration_s
        lag = _loop(node, endpoint, clock, run_s, sc.tick_s, stop, _chain(hooks))
        endpoint.flush()
    finally:
        if hasattr(node, "close"):
            node.close()
        bus.close()
        if nodemap is not None:
            nodemap.stop()
    counters = dict(node.counters) | {f"rejected_{k}": v for k, v in node.inbox.rejected.items()}
    counters |= {"ticks": lag.ticks, "late_ticks": lag.late, "max_lag_ms": round(lag.max_s * 1e3)}
    counters |= {f"bus_{k}": v for k, v in endpoint.counters.items()}
    emit(Counters(node=cfg.name, counters=counters))
    return counters


def _coordinator(cfg: NodeConfig, bus: Any, endpoint: Any, emit: Emit, build: Any) -> Any:
    """The coordinator instance behind its lease (:mod:`mead.runtime.failover`)."""
    from mead.federation.nats import ConnSpec
    from mead.runtime.failover import failover_coordinator

    fo, own = cfg.failover, cfg.nats
    return failover_coordinator(
        bus,
        ConnSpec(own.url, own.user, own.password),
        endpoint,
        build,
        emit,
        instance=fo.name(cfg.name),
        standby=fo.standby,
        ttl_s=fo.lease_ttl_s,
        renew_s=fo.renew_s,
    )


def _loop(
    node: Any,
    endpoint: Any,
    clock: WireClock,
    duration_s: float,
    tick_s: float,
    stop: Callable[[], bool],
    after_step: Callable[[float], None] | None = None,
) -> _Lag:
    """Step ``node`` on the simulation's tick grid: wire times epoch + k·``tick_s``.

    Tick k is stepped once the wall clock reaches it (a node that fell behind steps every
    missed tick in turn, as the simulation would), so releases, assessments and scans
    happen at the same wire times as in ``mead run``. A message is handed to the node at
    the first tick that starts after it arrived: one published during tick k is seen at
    tick k + 1 at the earliest, as on the simulated bus (link latency below one tick),
    whatever the order in which the node processes woke up. Returns how late steps began.
    ``after_step(now)`` runs after each step (the map records acknowledgements there).
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
        if after_step is not None:
            after_step(clock.epoch_s + k * tick_s)
    return lag


def _chain(hooks: list[Callable[[float], None]]) -> Callable[[float], None] | None:
    """One after-step hook calling ``hooks`` in turn (None: no hook)."""
    if not hooks:
        return None

    def after(now: float) -> None:
        for h in hooks:
            h(now)

    return after


def _no_show(*_: Any) -> None:
    return None


@dataclass
class _Lag:
    """How far behind the wall clock a node's steps began (live mode's timing error)."""

    ticks: int = 0  # ticks stepped
    late: int = 0  # ticks begun more than one tick (wall) after their time
    max_s: float = 0.0  # worst lateness, wall s


__all__ = [
    "CoordinatorFailover",
    "NatsAccount",
    "NodeConfig",
    "WireClock",
    "load_node_config",
    "run_node",
]
