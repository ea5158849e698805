"""Suite-wide: the tests that run against the wall clock share one worker.

``./dev test`` runs the suite on two pytest-xdist workers (``--dist loadgroup``). Tests that
run real nats-servers, node processes or a browser pace themselves by the wall clock (a
federation at 40× real time, a page waiting for a symbol to move): they all go to one
worker, one at a time, in the group ``live``, while the other worker runs the rest, which
is bound by CPU alone. Two live tests side by side would each run late.
"""

from __future__ import annotations

import pytest

LIVE_FIXTURES = {"nats_server_bin", "nats_server_factory", "browser"}
"""Fixtures that start (or find) a nats-server or a browser."""
LIVE_MODULES = {"test_bench_map.py"}
"""Modules whose tests start them in a subprocess without a fixture."""


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if LIVE_FIXTURES & names or item.path.name in LIVE_MODULES:
            item.add_marker(pytest.mark.xdist_group("live"))
