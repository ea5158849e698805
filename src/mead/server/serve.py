"""Runs a map app on uvicorn in a thread of its own, beside the node's loop.

The node's loop stays synchronous on its thread; the server's event loop runs on another
and only reads what the node's view publishes (see ``mead.server.view``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from mead.errors import MeadError
from mead.server.app import check_bind


class WebServer:
    """uvicorn serving ``app`` on ``host:port`` (port 0: one the system picks) in a thread.

    ``start()`` returns once the socket listens (``port`` then holds the real port);
    ``stop()`` shuts it down. ``token`` is only checked here: the app enforces it.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        check_bind(host, token)
        if not 0 <= port <= 65535:
            raise MeadError(f"--web port must be 0..65535 (got {port})")
        self.host, self.port, self.token = host, port, token
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", ws="websockets-sansio", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="mead-web", daemon=True)

    def start(self, timeout_s: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise MeadError(f"the map server could not listen on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                raise MeadError(f"the map server did not start within {timeout_s} s")
            time.sleep(0.02)
        sock = self._server.servers[0].sockets[0]
        self.port = int(sock.getsockname()[1])
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)


__all__ = ["WebServer"]
