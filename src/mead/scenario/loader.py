"""Load scenario and other config YAML into typed structs, with one clear error per bad file."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

from mead.errors import ConfigError, FieldError
from mead.scenario.schema import Scenario

T = TypeVar("T")


def load_yaml(path: str | Path, type_: type[T]) -> T:
    """Decode the YAML file at ``path`` into ``type_``.

    Raises ``ConfigError`` naming the file, the field path and what was expected.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise ConfigError(str(path), f"cannot read file ({e.strerror})") from None
    return decode_yaml(buf, type_, source=str(path))


def decode_yaml(buf: bytes | str, type_: type[T], source: str = "<string>") -> T:
    """Decode YAML text into ``type_``; errors become ``ConfigError`` naming ``source``."""
    try:
        return msgspec.yaml.decode(buf, type=type_)
    except msgspec.ValidationError as e:
        detail, _, path = str(e).partition(" - at `")
        path = path.rstrip("`")
        if isinstance(e.__cause__, FieldError):  # a struct's own cross-field check
            field = e.__cause__.field
            base = path or "$"  # msgspec names no path for the top-level struct
            detail, path = e.__cause__.detail, f"{base}.{field}" if field else base
        raise ConfigError(source, detail, path) from None
    except msgspec.DecodeError as e:
        raise ConfigError(source, f"not valid YAML ({e})") from None


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file."""
    return load_yaml(path, Scenario)
