"""Pseudonymous identities: one Ed25519 key pair per node, and the registry of partners' keys.

A node is known on the network only by its pseudonym; what proves a message came from it
is a signature that the pseudonym's registered verify key accepts. Simulation derives
keys deterministically from a seed; live nodes load theirs from a key file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import nacl.exceptions
import nacl.signing

from mead.errors import ConfigError
from mead.scenario.loader import decode_yaml, load_yaml

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KeyFile = dict[str, str]
"""YAML key registry: ``<pseudonym>: <64 hex digits of its public verify key>``; each entry
is checked by ``KeyRegistry.add`` so an error names the pseudonym."""


def check_pseudonym(name: str) -> str:
    """Return ``name`` if it is a valid pseudonym (1–64 of ``A-Z a-z 0-9 _ -``), else raise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"pseudonym must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-' (got {name!r})"
        )
    return name


class Identity:
    """A node's pseudonym, its Ed25519 signing key and its envelope sequence counter.

    Parameters
    ----------
    name
        The pseudonym the node is known by.
    signing_key
        Its private Ed25519 key.
    seq
        The last sequence number used; the next envelope gets ``seq + 1``. A live node
        that restarts must resume above what it sent before (e.g. start from wall-clock
        microseconds), or receivers reject its messages as replayed.
    """

    def __init__(self, name: str, signing_key: nacl.signing.SigningKey, seq: int = 0) -> None:
        self.name = check_pseudonym(name)
        self.signing_key = signing_key
        self.verify_key: nacl.signing.VerifyKey = signing_key.verify_key
        self.seq = seq

    @classmethod
    def generate(cls, name: str, seed: bytes | None = None) -> Identity:
        """A new identity; deterministic when ``seed`` (exactly 32 bytes) is given."""
        if seed is None:
            return cls(name, nacl.signing.SigningKey.generate())
        if not isinstance(seed, bytes) or len(seed) != 32:
            got = len(seed) if isinstance(seed, bytes) else type(seed).__name__
            raise ValueError(
                f"identity seed must be 32 bytes (got {got}); hash a longer seed with sha256"
            )
        return cls(name, nacl.signing.SigningKey(seed))

    @classmethod
    def from_hex(cls, name: str, secret_hex: str) -> Identity:
        """An identity from the 64 hex digits of its private key seed."""
        try:
            seed = bytes.fromhex(secret_hex)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise ValueError(f"private key of {name!r} must be 64 hex digits")
        return cls(name, nacl.signing.SigningKey(seed))

    @property
    def public_hex(self) -> str:
        """The verify key as 64 hex digits, as written in a key registry file."""
        return bytes(self.verify_key).hex()

    @property
    def secret_hex(self) -> str:
        """The private key seed as 64 hex digits (keep it out of anything shared)."""
        return bytes(self.signing_key).hex()

    def next_seq(self) -> int:
        """The sequence number for the next envelope (strictly increasing)."""
        self.seq += 1
        return self.seq

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self.signing_key.sign(data).signature

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, public={self.public_hex[:16]}…)"


KeyLike = nacl.signing.VerifyKey | bytes | str
"""A verify key, its 32 raw bytes, or its 64 hex digits."""


def _as_verify_key(name: str, key: KeyLike) -> nacl.signing.VerifyKey:
    if isinstance(key, nacl.signing.VerifyKey):
        return key
    raw = key
    if isinstance(key, str):
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raw = b""
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise ValueError(f"key of {name!r} must be 32 bytes or 64 hex digits (got {key!r:.80})")
    try:
        return nacl.signing.VerifyKey(raw)
    except nacl.exceptions.CryptoError as e:
        raise ValueError(f"key of {name!r} is not a valid Ed25519 public key ({e})") from None


class KeyRegistry:
    """Pseudonym → Ed25519 verify key of every node whose messages a node accepts."""

    def __init__(self, keys: Mapping[str, KeyLike] | None = None) -> None:
        self._keys: dict[str, nacl.signing.VerifyKey] = {}
        for name, key in (keys or {}).items():
            self.add(name, key)

    @classmethod
    def load(cls, path: str | Path) -> KeyRegistry:
        """Load a YAML file of ``<pseudonym>: <64 hex digits>`` lines."""
        return cls._from_file(load_yaml(path, KeyFile), str(path))

    @classmethod
    def loads(cls, text: bytes | str, source: str = "<string>") -> KeyRegistry:
        """Parse YAML registry text (see :meth:`load`)."""
        return cls._from_file(decode_yaml(text, KeyFile, source=source), source)

    @classmethod
    def _from_file(cls, keys: dict[str, str], source: str) -> KeyRegistry:
        reg = cls()
        for name, key in keys.items():
            try:
                reg.add(name, key)
            except ValueError as e:
                raise ConfigError(source, str(e), f"$.{name}") from None
        return reg

    def add(self, name: str, key: KeyLike) -> None:
        """Register (or replace) the verify key of ``name``."""
        self._keys[check_pseudonym(name)] = _as_verify_key(name, key)

    def remove(self, name: str) -> None:
        """Forget ``name``; its messages are rejected as ``unknown_sender`` from now on."""
        self._keys.pop(name, None)

    def replace_with(self, other: KeyRegistry) -> tuple[list[str], list[str], list[str]]:
        """Take ``other``'s keys in place (openers holding this registry see them at once).

        Returns the pseudonyms (added, removed, whose key changed), each sorted.
        """
        old, new = self._keys, other._keys
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(n for n in set(old) & set(new) if bytes(old[n]) != bytes(new[n]))
        self._keys = dict(new)
        return added, removed, changed

    def get(self, name: str) -> nacl.signing.VerifyKey | None:
        """The verify key of ``name``, or None when it is not registered."""
        return self._keys.get(name)

    def to_hex(self) -> dict[str, str]:
        """The registry as pseudonym → 64 hex digits (what :meth:`load` reads)."""
        return {n: bytes(k).hex() for n, k in self._keys.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __repr__(self) -> str:
        return f"KeyRegistry({sorted(self._keys)})"

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class RegistryWatch:
    """Keeps a :class:`KeyRegistry` equal to its file while a node runs.

    :meth:`poll` re-reads the file when its modification time or size changed and
    replaces the registry's keys in place: a partner whose line is added is accepted from
    then on (it joined), one whose line is removed or whose key is replaced is rejected as
    ``unknown_sender`` or ``bad_signature`` (it left, or its key was revoked or rotated) —
    without restarting the node. A file that fails to load leaves the keys as they were.
    """

    def __init__(
        self, registry: KeyRegistry, path: str | Path, stamp: tuple[int, int] | None = None
    ) -> None:
        self.registry, self.path = registry, Path(path)
        self._stamp = self._stat() if stamp is None else stamp

    @classmethod
    def load(cls, path: str | Path) -> RegistryWatch:
        """Load the registry at ``path`` and watch it (a change made while it is being
        read is seen by the first :meth:`poll`)."""
        watch = cls(KeyRegistry(), path)
        watch.registry.replace_with(KeyRegistry.load(path))
        return watch

    def _stat(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except OSError:
            return (-1, -1)
        return (st.st_mtime_ns, st.st_size)

    def poll(self) -> str | None:
        """Reload if the file changed; returns what changed (or why it was not loaded),
        None when nothing did."""
        stamp = self._stat()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            new = KeyRegistry.load(self.path)
        except (ConfigError, OSError) as e:
            return f"registry not reloaded, keys kept: {e}"
        added, removed, changed = self.registry.replace_with(new)
        parts = [
            f"{w}: {', '.join(ns)}"
            for w, ns in (("added", added), ("removed", removed), ("key changed", changed))
            if ns
        ]
        return "registry reloaded; " + ("; ".join(parts) or "no change")
