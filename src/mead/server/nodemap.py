"""A live node's map: its view and the server over it, started beside the node's loop.

``mead node … --web PORT``, ``mead coordinator … --web PORT`` and ``mead up … --web`` use
:class:`NodeMap`; the node is wired to it through its ``show`` hook, its event sink
(:meth:`NodeMap.tee`) and the loop's after-step hook (:meth:`NodeMap.drain`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from mead.events import Emit
from mead.runtime.node import Held
from mead.scenario.schema import Scenario
from mead.server.app import TOKEN_ENV, live_app
from mead.server.overlays import coverage_layers, map_info
from mead.server.serve import WebServer
from mead.server.view import NodeView


@dataclass(frozen=True)
class WebOptions:
    """Where a node's map listens: ``port`` (0: any free one), ``host`` and the token."""

    port: int
    host: str = "127.0.0.1"
    token: str | None = None

    @classmethod
    def from_args(cls, port: int, host: str, token: str | None) -> WebOptions:
        """Options from the command line; the token falls back to ``MEAD_WEB_TOKEN``."""
        return cls(port, host, token or os.environ.get(TOKEN_ENV) or None)


class NodeMap:
    """The map of node ``node`` of ``sc``: a :class:`NodeView` and its :class:`WebServer`."""

    def __init__(
        self,
        sc: Scenario,
        node: str,
        emit: Emit,
        rate: float,
        web: WebOptions,
        scenario_path: Path | None = None,
    ):
        self.view = NodeView({**map_info(sc, node), "coverage_pending": True}, emit, rate=rate)
        self.server = WebServer(live_app(self.view, web.token), web.host, web.port, web.token)
        self._coverage = threading.Thread(
            target=self._layers, args=(sc, node, scenario_path), name=f"coverage-{node}",
            daemon=True,
        )  # fmt: skip

    def _layers(self, sc: Scenario, node: str, scenario_path: Path | None) -> None:
        """Compute the coverage layers beside the running node (a second or more: the node
        does not wait for them); the page asks again while ``coverage_pending``."""
        layers = coverage_layers(sc, scenario_path).get(node, [])
        self.view.info["coverage_layers"] = {"type": "FeatureCollection", "features": layers}
        self.view.info["coverage_pending"] = False

    def start(self) -> NodeMap:
        self.server.start()
        self._coverage.start()
        return self

    def show(self, held: Held) -> None:
        self.view.show(held)

    def tee(self, emit: Emit) -> Emit:
        return self.view.tee(emit)

    def drain(self, now: float) -> None:
        self.view.drain(now)

    def stop(self) -> None:
        self.server.stop()


__all__ = ["NodeMap", "WebOptions"]
