"""Identities and the key registry: deterministic keys, registry edits, key files."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from mead.errors import ConfigError
from mead.federation.identity import Identity, KeyRegistry

SEED = bytes(range(32))


def test_seeded_identity_is_deterministic_and_signs_verifiably() -> None:
    a, b = Identity.generate("P1", seed=SEED), Identity.generate("P1", seed=SEED)
    assert a.public_hex == b.public_hex and len(a.public_hex) == 64
    assert Identity.generate("P1", seed=bytes(32)).public_hex != a.public_hex
    assert Identity.generate("P1").public_hex != Identity.generate("P1").public_hex
    sig = a.sign(b"hello")
    assert len(sig) == 64
    b.verify_key.verify(b"hello", sig)  # raises if wrong
    assert Identity.from_hex("P1", a.secret_hex).public_hex == a.public_hex


def test_sequence_numbers_increase_from_one() -> None:
    ident = Identity.generate("P1", seed=SEED)
    assert [ident.next_seq() for _ in range(3)] == [1, 2, 3]
    assert Identity("P1", ident.signing_key, seq=100).next_seq() == 101


@pytest.mark.parametrize("seed", [b"short", bytes(33), "x" * 32])
def test_seed_must_be_32_bytes(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        Identity.generate("P1", seed=seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a.b", "a b", "x" * 65, "*"])
def test_pseudonyms_must_be_subject_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="pseudonym must be"):
        Identity.generate(name, seed=SEED)


def test_registry_accepts_keys_bytes_and_hex_and_can_remove() -> None:
    ids = {n: Identity.generate(n, seed=bytes([i]) * 32) for i, n in enumerate(["P1", "P2", "C0"])}
    reg = KeyRegistry(
        {"P1": ids["P1"].verify_key, "P2": bytes(ids["P2"].verify_key), "C0": ids["C0"].public_hex}
    )
    assert set(reg) == {"P1", "P2", "C0"} and len(reg) == 3
    for n, ident in ids.items():
        assert reg.get(n) == ident.verify_key
    reg.remove("P2")
    assert "P2" not in reg and reg.get("P2") is None
    reg.remove("P2")  # removing twice is harmless
    reg.add("P2", ids["P2"].verify_key)
    assert isinstance(reg.get("P2"), nacl.signing.VerifyKey)


@pytest.mark.parametrize("key", ["zz" * 32, "ab" * 31, b"\x00" * 31, 42])
def test_registry_rejects_bad_keys_naming_the_pseudonym(key: object) -> None:
    with pytest.raises(ValueError, match="key of 'P1'"):
        KeyRegistry({"P1": key})  # type: ignore[dict-item]


def test_registry_file_round_trip(tmp_path: Path) -> None:
    ids = [Identity.generate(n, seed=bytes([i + 1]) * 32) for i, n in enumerate(["P1", "C0"])]
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"{i.name}: {i.public_hex}\n" for i in ids))
    reg = KeyRegistry.load(path)
    assert reg.to_hex() == {i.name: i.public_hex for i in ids}


def test_bad_registry_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"P1: {'ab' * 32}\nP2: nothex\n")
    with pytest.raises(ConfigError) as e:
        KeyRegistry.load(path)
    assert str(
        e.value
    ) == f"{path}: key of 'P2' must be 32 bytes or 64 hex digits (got 'nothex')" + (" - at `$.P2`")
    with pytest.raises(
        ConfigError, match=r"^keys.yaml: pseudonym must be .* - at `\$\.bad\.name`"
    ):
        KeyRegistry.loads(f"P1: {'ab' * 32}\nbad.name: {'ab' * 32}\n", source="keys.yaml")
