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


class RejectedMessage(MeadError):
    """A network message was rejected: ``reason`` is a short counter key, ``origin`` the sender."""

    def __init__(self, reason: str, origin: str = "?", detail: str = "") -> None:
        self.reason, self.origin, self.detail = reason, origin, detail
        text = f"rejected message from {origin!r}: {reason}"
        super().__init__(f"{text} ({detail})" if detail else text)


class MeadTimeoutError(MeadError, TimeoutError):
    """A wait on a server or peer ran out of time; ``what`` names what was awaited."""

    def __init__(self, what: str, timeout_s: float) -> None:
        self.what, self.timeout_s = what, timeout_s
        super().__init__(f"timed out after {timeout_s:g} s waiting for {what}")
