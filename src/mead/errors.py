"""One small tree of errors; each carries structured fields so callers can count and route them."""

from __future__ import annotations


class MeadError(Exception):
    """Base of every error MEAD raises on purpose."""


class ConfigError(MeadError, ValueError):
    """A scenario, policy or node config is invalid.

    ``source`` is the file (or ``<string>``), ``path`` the field path such as
    ``$.partners[0].sensors[1].range_km`` (may be empty) and ``detail`` what was
    expected and what was received.
    """

    def __init__(self, source: str, detail: str, path: str = "") -> None:
        self.source, self.detail, self.path = source, detail, path
        where = f" - at `{path}`" if path else ""
        super().__init__(f"{source}: {detail}{where}")


class FieldError(MeadError, ValueError):
    """A cross-field check of a config struct failed; ``field`` is the path below the struct
    (e.g. ``rules[2].to``; empty: the struct itself), which the YAML loader joins to
    msgspec's path of the struct."""

    def __init__(self, field: str, detail: str) -> None:
        self.field, self.detail = field, detail
        super().__init__(f"{field}: {detail}" if field else detail)


class RejectedMessage(MeadError):
    """A network message was rejected: ``reason`` is a short counter key, ``origin`` the sender."""

    def __init__(self, reason: str, origin: str = "?", detail: str = "") -> None:
        self.reason, self.origin, self.detail = reason, origin, detail
        text = f"rejected message from {origin!r}: {reason}"
        super().__init__(f"{text} ({detail})" if detail else text)


class ParameterError(MeadError, ValueError):
    """A component or kernel was given a bad parameter or array.

    ``field`` names the parameter, ``value`` is what was given and ``expected`` what it
    must be; the message reads ``'field' must be expected (got value)``.
    """

    def __init__(self, field: str, expected: str, value: object) -> None:
        self.field, self.expected, self.value = field, expected, value
        super().__init__(f"{field!r} must be {expected} (got {value})")


class BadScan(MeadError, ValueError):
    """A scan handed to a tracker is malformed; ``sensor_id`` and ``field`` say where."""

    def __init__(self, sensor_id: str, field: str, detail: str) -> None:
        self.sensor_id, self.field, self.detail = sensor_id, field, detail
        super().__init__(f"scan from sensor {sensor_id!r}: {field} {detail}")


class ThreatInputError(MeadError, ValueError):
    """Track arrays given to a threat kernel have the wrong shape or are not finite."""


class NatsError(MeadError):
    """A NATS connection or stream operation failed (message names server and account)."""


def check(ok: bool, field: str, expected: str, value: object) -> None:
    """Raise :class:`ParameterError` for ``field`` unless ``ok``."""
    if not ok:
        raise ParameterError(field, expected, value)


class AsterixError(MeadError, ValueError):
    """An ASTERIX data block or record is corrupt or truncated.

    ``offset`` is the byte offset of the bad block in its stream (or packet), ``category``
    the block's category (``-1`` if unknown) and ``detail`` what is wrong.
    """

    def __init__(self, offset: int, detail: str, category: int = -1) -> None:
        self.offset, self.detail, self.category = offset, detail, category
        cat = f" CAT{category:03d}" if category >= 0 else ""
        super().__init__(f"ASTERIX{cat} block at byte {offset}: {detail}")
