"""Files only their owner may read: keys, certificates' private keys, configs holding passwords.

Every secret MEAD writes (a node's Ed25519 key, a TLS private key, a ``nats.conf`` or node
config with passwords in it) is created with mode 0600 from the first byte — never written
world-readable and tightened afterwards — and the directories that hold them get 0700.
A file that already exists is narrowed to 0600 before it is overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
"""Mode of a secret file: read and write by its owner only."""
DIR_MODE = 0o700
"""Mode of a directory holding secrets."""


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if missing and set it to 0700; returns it."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    p.chmod(DIR_MODE)
    return p


def write_private(path: str | Path, data: str | bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` readable by its owner only (0600, whatever the umask).

    With ``exclusive``, refuse to replace an existing file (``FileExistsError``): a
    private key is never overwritten by accident.
    """
    p = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(p, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT: narrow it
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return p


__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "write_private"]
