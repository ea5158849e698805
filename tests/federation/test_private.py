"""Secrets readable by their owner only: keys, server and node configs (0600, dirs 0700)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mead.cli import main
from mead.federation.natsserver import NatsServer
from mead.federation.private import private_dir, write_private


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_write_private_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        p = write_private(tmp_path / "a.conf", "password: x\n")
        d = private_dir(tmp_path / "sub" / "keys")
    finally:
        os.umask(old)
    assert _mode(p) == 0o600 and p.read_text() == "password: x\n"
    assert _mode(d) == 0o700


def test_existing_world_readable_file_is_narrowed(tmp_path: Path) -> None:
    p = tmp_path / "nats.conf"
    p.write_text("old, longer content\n")
    p.chmod(0o644)
    write_private(p, b"new\n")
    assert _mode(p) == 0o600 and p.read_text() == "new\n"


def test_exclusive_never_replaces_a_key(tmp_path: Path) -> None:
    p = write_private(tmp_path / "k.key", "secret\n", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(p, "other\n", exclusive=True)
    assert p.read_text() == "secret\n"


def test_server_config_and_its_directory_are_private(
    nats_server_factory: Callable[..., NatsServer],
) -> None:
    s = nats_server_factory('accounts { A { users [ { user: u, password: "hunter2" } ] } }')
    assert _mode(s.conf_path) == 0o600
    assert _mode(s.dir) == 0o700


def test_cli_natsconf_and_keygen_write_private_files(tmp_path: Path) -> None:
    small = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"
    (tmp_path / "deploy.key").write_bytes(b"0123456789abcdef0123456789abcdef")
    out = tmp_path / "conf"
    args = ["natsconf", str(small), "--deploy-key", str(tmp_path / "deploy.key"),
            "--hub-leaf", "hub.example:7422", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    confs = sorted(out.iterdir())
    assert [c.name for c in confs] == ["P1.conf", "P2.conf", "hub.conf"]
    assert all(_mode(c) == 0o600 for c in confs) and _mode(out) == 0o700
    assert main(["keygen", "P9", "--out", str(tmp_path / "keys")]) == 0
    assert _mode(tmp_path / "keys" / "P9.key") == 0o600
    assert _mode(tmp_path / "keys") == 0o700
