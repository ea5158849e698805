"""Live mode: one node as a process over NATS (``mead node``, ``mead coordinator``).

A node process reads a :class:`NodeConfig` YAML, connects a
:class:`~mead.federation.nats.NatsBus` to its own nats-server, and steps the same
``PartnerNode``/``CoordinatorNode`` the simulation uses, on a wall clock. A partner's real
radars are its scenario's ASTERIX-fed sensors (UDP feeds read as they arrive, recordings
replayed on the clock); its other sensors are simulated in (accelerated) real time:
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

from mead.errors import ConfigError, FieldError, MeadError
from mead.events import Counters, Emit
from mead.interop.asterix import AsterixTarget
from mead.interop.tak import CotTarget
from mead.runtime.wiring import MAX_MESSAGE_AGE_S, known_nodes, partner_policy
from mead.scenario.loader import load_yaml
from mead.scenario.schema import Scenario

Positive = Annotated[float, Meta(gt=0)]
_INSTANCE = re.compile(r"[A-Za-z0-9_-]{0,32}")


class NatsAccount(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One account on a nats-server: where and as whom to connect — a client certificate
    (mTLS: the server maps its subject to the user) or a user and password."""

    url: str  # e.g. tls://127.0.0.1:4222 (nats:// works too; TLS follows the server)
    user: str = ""  # password login only
    password: str = ""  # password login only
    ca_file: str | None = None  # CA bundle the server's certificate is checked against
    cert_file: str | None = None  # this node's client certificate (PEM)
    key_file: str | None = None  # its private key (PEM, mode 600)

    def __post_init__(self) -> None:
        certs = (self.ca_file, self.cert_file, self.key_file)
        if any(certs) and not all(certs):
            raise FieldError("cert_file", "mTLS needs ca_file, cert_file and key_file together")
        if not any(certs) and not (self.user and self.password):
            raise FieldError(
                "user", "give ca_file, cert_file and key_file (mTLS) or user and password"
            )


class CoordinatorFailover(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A coordinator instance's part in failover (:mod:`mead.runtime.failover`).

    Every instance of one coordinator uses the same ``lease_ttl_s`` and ``renew_s``.
    """

    instance: str = ""  # lease holder and durable consumer name ("": name, or name-standby)
    standby: bool = False  # start in shadow; take over only a lease gone stale
    lease_ttl_s: Positive = 5.0  # wall s a lease stands unrenewed before a standby takes it
    renew_s: Positive = 1.0  # wall s between renewals (and a standby's looks)
    # copies of the hub's streams and lease bucket: the number of hub servers in the
    # cluster (1: a single server; 3: one may be lost)
    replicas: int = 1
    # the hub server (its server_name) to hold the JetStream leaders the coordinator
    # depends on: one no instance works through ("": wherever JetStream puts them)
    leaders_on: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 5:
            raise ValueError(f"replicas ({self.replicas}) must be 1 to 5 (JetStream's limit)")
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
    start_gate: str | None = None  # folder: once set up, write <instance>.ready, wait for start
    duration_s: Positive | None = None  # scenario seconds to run (None: the scenario's)
    from_s: Annotated[float, Meta(ge=0)] = 0.0  # scenario s the run begins at (a raid joined
    # in progress: its radars' scans before then are skipped; duration_s counts from here)
    max_age_s: Positive = MAX_MESSAGE_AGE_S  # reject envelopes older than this (wire s)
    cot: list[CotTarget] = []  # send what the node holds as Cursor-on-Target there
    asterix_out: list[AsterixTarget] = []  # send what the node holds as CAT062 there (UDP)
    asterix_plots_out: list[AsterixTarget] = []  # partner: send its radars' plots as CAT048
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


def _spec(a: NatsAccount, base: Path) -> Any:
    """The bus's connection spec of ``a``; certificate paths relative to the config."""
    from mead.federation.nats import ConnSpec
    from mead.federation.pki import TlsFiles

    if a.ca_file and a.cert_file and a.key_file:
        files = TlsFiles(*(str(base / f) for f in (a.ca_file, a.cert_file, a.key_file)))
        return ConnSpec(a.url, tls=files)
    return ConnSpec(a.url, a.user, a.password)


def _bus(cfg: NodeConfig, pattern: str, base: Path, consumer: str) -> Any:
    _require_nats_py()
    from mead.federation.nats import Durable, NatsBus

    def spec(a: NatsAccount) -> Any:
        return _spec(a, base)

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
    from mead.federation.nats import ensure_streams
    from mead.federation.natsconf import Federation, hub_streams, partner_streams
    from mead.federation.policy import Releaser

    def spec(a: NatsAccount) -> Any:
        return _spec(a, base)

    c = sc.coordinator.name
    if role == "coordinator":
        # partners with an inbox account in the config; the others join later (the config
        # is re-read while the node runs, see _Reloader)
        joined = [p.name for p in sc.partners if f"{p.name}_INBOX" in cfg.durable]
        if not joined:
            raise ConfigError(str(base), "no <partner>_INBOX account given", "$.durable")
        fed = Federation(c, {p: [c] for p in joined}, b"-" * 16)
        accounts = {f"PARTNER_{p}": spec(cfg.durable[f"{p}_INBOX"]) for p in joined}
        replicas = cfg.failover.replicas
        ensure_streams(hub_streams(fed, replicas), {"HUB": spec(cfg.nats), **accounts})
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


class _Reloader:
    """Membership changes while a node runs, at most every ``every_s`` wall seconds.

    Every node re-reads its key registry (:class:`~mead.federation.identity.RegistryWatch`):
    a partner added is accepted, one removed or re-keyed is rejected from then on. The
    coordinator also re-reads its config: a new ``<P>_INBOX`` account (partner P joined)
    gets P's hub streams created and a durable consumer feeding the node's inbox. Each
    change, or a refused file, is a ``membership`` event; nothing here stops the node.
    """

    def __init__(
        self,
        name: str,
        watch: Any,
        emit: Emit,
        config_path: Path | None = None,
        inbox: Any = None,
        endpoint: Any = None,
        every_s: float = 1.0,
    ) -> None:
        self.name, self.watch, self.emit = name, watch, emit
        self.config_path, self.inbox, self.endpoint = config_path, inbox, endpoint
        self.every_s = every_s
        self._next = time.monotonic() + every_s
        self._stamp = (-2, -2)  # the first poll re-reads the config: nothing is missed

    def _stat(self) -> tuple[int, int]:
        if self.config_path is None:
            return (-1, -1)
        try:
            st = self.config_path.stat()
        except OSError:
            return (-1, -1)
        return (st.st_mtime_ns, st.st_size)

    def __call__(self, _now: float = 0.0) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every_s
        if (change := self.watch.poll()) is not None:
            self._event("registry", change)
        if self.config_path is not None and self.inbox is not None:
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload_config()

    def _event(self, source: str, detail: str) -> None:
        from mead.events import Membership

        self.emit(Membership(node=self.name, source=source, detail=detail, t_wall=time.time()))

    def _reload_config(self) -> None:
        from mead.federation.nats import Durable, ensure_streams
        from mead.federation.natsconf import Federation, hub_streams

        assert self.config_path is not None
        try:
            cfg = load_node_config(self.config_path)
        except ConfigError as e:
            self._event("config", f"config not reloaded: {e}")
            return
        base = self.config_path.parent
        known = self.endpoint.durable_streams(self.inbox.pattern)
        for stream, acct in sorted(cfg.durable.items()):
            if stream in known or not stream.endswith("_INBOX"):
                continue
            partner = stream.removesuffix("_INBOX")
            spec = _spec(acct, base)
            try:
                fed = Federation(self.name, {partner: [self.name]}, b"-" * 16)
                streams = hub_streams(fed, cfg.failover.replicas)
                mine = [s for s in streams if s.account == f"PARTNER_{partner}"]
                ensure_streams(mine, {f"PARTNER_{partner}": spec})
                self.endpoint.add_durable(self.inbox, Durable(spec, stream, self.name))
            except (MeadError, ValueError, TimeoutError) as e:
                self._event("config", f"cannot read {stream} yet: {e}")
                continue
            self._event("config", f"reading {stream} (partner {partner} joined)")


def run_node(
    cfg: NodeConfig,
    base: Path,
    role: str,
    emit: Emit,
    stop: Callable[[], bool] = lambda: False,
    web: Any = None,
    config_path: Path | None = None,
) -> dict[str, int]:
    """Run one node until its duration ends or ``stop()``; returns its counters.

    ``web`` (``mead.server.nodemap.WebOptions``): also serve the node's map there; its
    address goes to stderr once it listens. ``config_path``: the file ``cfg`` came from,
    re-read while the coordinator runs (partners joining, :class:`_Reloader`); the key
    registry is re-read on every node."""
    from mead.federation.envelope import Opener
    from mead.federation.identity import Identity, RegistryWatch
    from mead.runtime.simulation import prepare
    from mead.runtime.wiring import build_coordinator, build_partner, engagement_policies
    from mead.scenario import load_scenario
    from mead.sensors.adsb_asterix import adsb_udp_feeds
    from mead.sensors.asterix_feed import udp_feeds
    from mead.tracking.external import track_replays, udp_track_feeds

    sc = load_scenario(base / cfg.scenario)
    partners = {p.name: p for p in sc.partners}
    if role == "coordinator" and cfg.name != sc.coordinator.name:
        raise ConfigError(str(base), f"{cfg.name!r} is not the scenario's coordinator", "$.name")
    if role == "partner" and cfg.name not in partners:
        raise ConfigError(str(base), f"{cfg.name!r} is not a partner of the scenario", "$.name")
    if role == "coordinator" and cfg.asterix_plots_out:
        why = "a coordinator has no radars to send as CAT048 (asterix_plots_out is for partners)"
        raise ConfigError(str(base), why, "$.asterix_plots_out")
    identity = Identity.from_hex(cfg.name, (base / cfg.key).read_text().strip())
    identity.seq = time.time_ns() // 1000  # resume above anything sent before a restart
    watch = RegistryWatch.load(base / cfg.registry)
    registry = watch.registry
    epoch = sc.start_epoch_s()
    from_s = cfg.from_s
    if (bad := start_error(sc, from_s)) is not None:
        raise ConfigError(str(base), f"from_s {bad}", "$.from_s")
    clock = WireClock(epoch + from_s, cfg.start_wall or time.time(), cfg.speed)
    opener = Opener(registry, max_age_s=cfg.max_age_s, clock=clock)
    pattern = f"{'tracks' if role == 'coordinator' else 'alerts'}.{cfg.name}"
    _ensure_streams(cfg, sc, role, base)
    nodemap = None
    if web is not None:
        from mead.server.nodemap import NodeMap

        nodemap = NodeMap(sc, cfg.name, emit, cfg.speed, web, base / cfg.scenario).start()
        emit = nodemap.tee(emit)
        print(f"map of {cfg.name}: {nodemap.server.url}", file=sys.stderr, flush=True)
    show = nodemap.show if nodemap is not None else _no_show
    cot = None
    if cfg.cot:
        from mead.interop.tak import open_outputs

        cot = open_outputs(cfg.name, role == "coordinator", cfg.cot, str(base))
        emit, show = cot.tee(emit), _both(show, cot.show)
    cat062 = None
    if cfg.asterix_out:
        from mead.interop.asterix import Cat062Output

        cat062 = Cat062Output(cfg.asterix_out)
        show = _both(show, cat062.show)
    cat048 = None
    if cfg.asterix_plots_out and role == "partner":
        from mead.interop.asterix import Cat048Output

        radars = [s.id for s in partners[cfg.name].sensors]
        cat048 = Cat048Output(cfg.asterix_plots_out, radars, epoch)
    instance = cfg.failover.name(cfg.name) if role == "coordinator" else cfg.name
    bus = _bus(cfg, pattern, base, instance)
    node: Any = None
    feeds: list[Any] = []
    track_udp: list[Any] = []
    adsb_udp: list[Any] = []
    try:
        endpoint = bus.connect(cfg.name)
        if role == "coordinator":
            # live partners do not forward ADS-B yet: the coordinator judges on kinematics
            # and on the classes partners release (a partner's ADS-B-identified civil track
            # is released as aircraft)
            node = _coordinator(
                cfg,
                base,
                bus,
                endpoint,
                emit,
                lambda ep, em: build_coordinator(
                    sc, identity=identity, endpoint=ep, opener=opener, emit=em, show=show
                ),
            )
        else:
            # simulated radars and ADS-B receivers in real time; recorded ASTERIX feeds on
            # the same clock; live ASTERIX feeds (UDP: CAT048, CAT062, CAT021) read as they come
            world = prepare(sc, sc.seed, base / cfg.scenario, live=True, partner=cfg.name)
            feeds = udp_feeds(sc, cfg.name, lambda: clock() - epoch)
            track_udp = udp_track_feeds(sc, cfg.name, lambda: clock() - epoch)
            adsb_udp = adsb_udp_feeds(sc, cfg.name, lambda: clock() - epoch)
            sources = [*track_replays(sc, (base / cfg.scenario).parent, cfg.name), *track_udp]
            node = build_partner(
                sc,
                cfg.name,
                identity=identity,
                endpoint=endpoint,
                opener=opener,
                policy=partner_policy(sc, cfg.name, base / cfg.policy if cfg.policy else None),
                # live, interceptors are not simulated: launches are decided and reported,
                # their outcome is not known here
                engagement=engagement_policies(sc, base / cfg.scenario)[cfg.name],
                scans=(s for s in world.scans if s.partner == cfg.name and s.t >= from_s),
                epoch_s=epoch,
                adsb=world.adsb,
                feeds=feeds,
                adsb_feeds=adsb_udp,
                track_sources=sources,
                emit=emit,
                show=show,
                on_scan=cat048.send if cat048 is not None else None,
            )
        inbox = node.inbox.subs[0] if role == "coordinator" else None
        reload = _Reloader(
            cfg.name,
            watch,
            emit,
            config_path if role == "coordinator" else None,
            inbox,
            endpoint,
        )
        hooks: list[Callable[[float], None]] = [nodemap.drain] if nodemap is not None else []
        hooks.append(reload)
        if role == "partner":
            from mead.runtime.failover import CoordinatorWatch, silent_after_s

            coord = sc.coordinator
            hooks.append(CoordinatorWatch(node, coord.name, silent_after_s(sc), emit))
        run_s = cfg.duration_s or sc.duration_s - from_s
        if cfg.start_gate is not None:
            if (t0 := wait_at_gate(base / cfg.start_gate, instance, stop)) is None:
                return {}
            clock.start_wall = t0
        lag = _loop(node, endpoint, clock, run_s, sc.tick_s, stop, _chain(hooks))
        endpoint.flush()
    finally:
        cot_counters = cot.close() if cot is not None else {}
        cot_counters |= cat062.close() if cat062 is not None else {}
        cot_counters |= cat048.close() if cat048 is not None else {}
        for f in [*feeds, *track_udp, *adsb_udp]:
            f.close()
        if hasattr(node, "close"):
            node.close()
        bus.close()
        if nodemap is not None:
            nodemap.stop()
    counters = dict(node.counters) | {f"rejected_{k}": v for k, v in node.inbox.rejected.items()}
    counters |= {"ticks": lag.ticks, "late_ticks": lag.late, "max_lag_ms": round(lag.max_s * 1e3),
                 "max_lag_at_s": round(lag.max_at - epoch)}
    counters["cpu_ms"] = round(time.process_time() * 1e3)  # the process's, set-up included
    counters |= {f"bus_{k}": v for k, v in endpoint.counters.items()}
    counters |= cot_counters
    for f in feeds:
        counters |= {f"asterix_{f.sensor.id}_{k}": v for k, v in f.counters.items()}
        counters |= {f"asterix_{f.sensor.id}_{k}": v for k, v in f.status.messages.items()}
    for src in getattr(node, "track_sources", ()):
        counters |= {f"cat062_{src.feed.id}_{k}": v for k, v in src.counters.items()}
    for af in adsb_udp:
        counters |= {f"cat021_{af.host_port}_{k}": v for k, v in af.counters.items()}
        for err in af.errors:  # the newest corrupt blocks, skipped
            print(f"{cfg.name}: CAT021 on {af.host_port}: {err}", file=sys.stderr, flush=True)
    emit(Counters(node=cfg.name, counters=counters))
    return counters


def _coordinator(
    cfg: NodeConfig, base: Path, bus: Any, endpoint: Any, emit: Emit, build: Any
) -> Any:
    """The coordinator instance behind its lease (:mod:`mead.runtime.failover`)."""
    from mead.runtime.failover import failover_coordinator

    fo = cfg.failover
    return failover_coordinator(
        bus,
        _spec(cfg.nats, base),
        endpoint,
        build,
        emit,
        instance=fo.name(cfg.name),
        standby=fo.standby,
        ttl_s=fo.lease_ttl_s,
        renew_s=fo.renew_s,
        replicas=fo.replicas,
        inboxes=[(_spec(a, base), s) for s, a in sorted(cfg.durable.items())],
        leaders_on=fo.leaders_on,
        lookback_s=cfg.max_age_s / cfg.speed,  # the oldest backlog its opener accepts
    )


def start_error(sc: Scenario, from_s: float) -> str | None:
    """Why a run cannot begin at scenario second ``from_s`` (None: it can)."""
    if 0.0 <= from_s < sc.duration_s and not from_s % sc.tick_s:
        return None
    return (f"must be a whole tick ({sc.tick_s:g} s) from 0 to before the scenario's end "
            f"({sc.duration_s:g} s) (got {from_s:g})")  # fmt: skip


GATE_START = "start"
"""The file in a start gate that holds the wall time (UTC s) of scenario t=0."""


def wait_at_gate(
    gate: Path, instance: str, stop: Callable[[], bool], poll_s: float = 0.02
) -> float | None:
    """Say ``instance`` is set up (``<gate>/<instance>.ready``) and wait for the gate to open.

    The start barrier of ``mead up``: node processes on a busy machine take unequal times to
    import, connect and simulate their radars, so t=0 is fixed only once every node is
    ready (:func:`mead.runtime.up.up` writes ``<gate>/start``). A node that began at a fixed
    start time instead would step its first minutes late, and its releases would reach the
    others late. Returns the start wall time, or None if ``stop()`` came first.
    """
    (gate / f"{instance}.ready").write_text(f"{time.time()}\n")
    start = gate / GATE_START
    while not start.exists():
        if stop():
            return None
        time.sleep(poll_s)
    return float(start.read_text())


def _loop(
    node: Any,
    endpoint: Any,
    clock: WireClock,
    duration_s: float,
    tick_s: float,
    stop: Callable[[], bool],
    after_step: Callable[[float], None] | None = None,
) -> _Lag:
    """Step ``node`` on the simulation's tick grid: wire times ``clock.epoch_s`` + k·``tick_s``
    (the clock's epoch is scenario t=0, or the ``from_s`` a run joins at).

    Tick k is stepped once the wall clock reaches it (a node that fell behind steps every
    missed tick in turn, as the simulation would), so releases, assessments and scans
    happen at the same wire times as in ``mead run``. A message is handed to the node at
    the first tick that starts after it arrived: one published during tick k is seen at
    tick k + 1 at the earliest, as on the simulated bus (link latency below one tick),
    whatever the order in which the node processes woke up. Returns how late steps began.
    ``after_step(now)`` runs after each step (the map records acknowledgements there).
    """
    lag = _Lag(max_at=clock.epoch_s)
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
        if late_s > lag.max_s:
            lag.max_s, lag.max_at = late_s, clock.epoch_s + k * tick_s
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


def _both(first: Callable[[Any], None], second: Callable[[Any], None]) -> Callable[[Any], None]:
    """A show hook that calls ``first`` then ``second``."""

    def show(held: Any) -> None:
        first(held)
        second(held)

    return show


@dataclass
class _Lag:
    """How far behind the wall clock a node's steps began (live mode's timing error)."""

    ticks: int = 0  # ticks stepped
    late: int = 0  # ticks begun more than one tick (wall) after their time
    max_s: float = 0.0  # worst lateness, wall s
    max_at: float = 0.0  # wire time of the tick begun that late


__all__ = [
    "CoordinatorFailover",
    "NatsAccount",
    "NodeConfig",
    "WireClock",
    "load_node_config",
    "run_node",
    "start_error",
]
