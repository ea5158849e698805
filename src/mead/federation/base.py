"""The bus contract: how nodes exchange encoded messages, whatever carries them.

A node gets an ``Endpoint`` from a bus and only ever publishes bytes on a subject and drains
its subscriptions; it never waits on the network. The in-process bus (simulation) and the
NATS bus (live) implement the same contract, so tracking, fusion and assessment cannot tell
which one they run on.

Subjects (dot-separated tokens, ``*`` one token, ``>`` the rest):
``tracks.<recipient>``  released ``TrackBatch`` envelopes for a recipient;
``alerts.<recipient>``  ``Alert`` envelopes for the warned partner;
``picture.<partner>``   the coordinator's anonymised fused ``Picture`` for a partner;
``status.<node>``       node health.
"""

from __future__ import annotations

from typing import Protocol


class Subscription(Protocol):
    """A bounded queue of messages that matched one subject pattern."""

    pattern: str
    dropped: int  # messages lost to overflow of this queue

    def drain(self) -> list[tuple[str, bytes]]:
        """Every (subject, data) delivered by now, in arrival order; never blocks."""
        ...


class Endpoint(Protocol):
    """One node's connection to a bus."""

    name: str  # the node's pseudonym

    def publish(self, subject: str, data: bytes) -> None:
        """Send ``data`` on ``subject``; returns at once."""
        ...

    def subscribe(self, pattern: str, limit: int = 100_000) -> Subscription:
        """Start receiving messages whose subject matches ``pattern``."""
        ...


class Bus(Protocol):
    """Something nodes connect to."""

    def connect(self, name: str) -> Endpoint:
        """An endpoint for the node called ``name``."""
        ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` matches one token, a final ``>`` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def check_subject(subject: str, wildcards: bool) -> None:
    """Raise ``ValueError`` unless ``subject`` is a valid NATS subject (or pattern)."""
    toks = subject.split(".")
    bad = "" if all(toks) else "has an empty token"
    if not bad and not wildcards and any(t in ("*", ">") for t in toks):
        bad = "has a wildcard; publish to a concrete subject"
    if not bad and ">" in toks[:-1]:
        bad = "has '>' before its last token"
    if not bad and any(c in subject for c in " \t\r\n"):
        bad = "contains whitespace"
    if bad:
        kind = "pattern" if wildcards else "subject"
        raise ValueError(f"{kind} {subject!r} {bad}")
