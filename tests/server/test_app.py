"""The map server for real (uvicorn on 127.0.0.1): routes, token, WebSocket deltas, errors."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from mead.errors import MeadError
from mead.events import Event
from mead.runtime.node import Held
from mead.scenario import load_scenario
from mead.server.app import check_bind, live_app
from mead.server.overlays import map_info
from mead.server.serve import WebServer
from mead.server.view import NodeView

from .test_view import SMALL, alert

X = np.array([[4.4e6, 3.1e6, 3.35e6, 10.0, 0.0, 0.0]])


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def served() -> Iterator[tuple[NodeView, WebServer, list[Event]]]:
    events: list[Event] = []
    view = NodeView(map_info(load_scenario(SMALL), "P2"), emit=events.append, rate=10.0)
    server = WebServer(live_app(view)).start()
    yield view, server, events
    server.stop()


def test_http_routes_and_acknowledgement(served: tuple[NodeView, WebServer, list[Event]]) -> None:
    view, server, events = served
    base = f"http://127.0.0.1:{server.port}"
    status, info = http(f"{base}/api/info")
    assert status == 200 and info["node"] == "P2" and info["mode"] == "live"
    view.on_event(alert("P2", "C0-1"))
    status, snap = http(f"{base}/api/snapshot")
    assert status == 200 and [a["alert_id"] for a in snap["alerts"]] == ["C0-1"]
    status, body = http(f"{base}/api/alerts/C0-1/ack", b'{"by": "ops"}')
    assert (status, body["status"]) == (200, "pending")
    view.drain(5.0)
    assert [e.alert_id for e in events] == ["C0-1"]  # type: ignore[union-attr]
    status, body = http(f"{base}/api/alerts/nope/ack", b"")
    assert status == 404 and "nope" in body["detail"]
    status, body = http(f"{base}/api/alerts/C0-1/ack", b'{"by": 3}')
    assert status == 422 and "by" in body["detail"]
    status, body = http(f"{base}/api/basemap?resolution=1m")
    assert status == 400 and "resolution" in body["detail"]
    status, schema = http(f"{base}/api/openapi.json")
    assert status == 200 and "/api/alerts/{alert_id}/ack" in schema["paths"]


def test_websocket_pushes_a_snapshot_then_deltas(
    served: tuple[NodeView, WebServer, list[Event]],
) -> None:
    view, server, _ = served

    async def session() -> list[dict[str, Any]]:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/ws") as ws:
            got = [json.loads(await asyncio.wait_for(ws.recv(), 10))]
            held = Held("P2", 7.0, ["P2-T000001"], X, ["drone"], np.array([0.9]), np.array([""]))
            await asyncio.get_running_loop().run_in_executor(None, view.show, held)
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            gone = Held("P2", 8.0, [], np.zeros((0, 6)), [], np.zeros(0), np.zeros(0))
            await asyncio.get_running_loop().run_in_executor(None, view.show, gone)
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return got

    snap, new, gone = asyncio.run(session())
    assert snap["type"] == "snapshot" and snap["tracks"]["key"] == []
    assert new["type"] == "delta" and new["upd"]["key"] == ["P2-T000001"]
    assert new["upd"]["aff"] == ["hostile"] and new["rate"] == 10.0
    assert gone["del"] == ["P2-T000001"] and gone["upd"]["key"] == []


def test_token_is_required_beyond_loopback_and_checked() -> None:
    with pytest.raises(MeadError, match="token"):
        check_bind("0.0.0.0", None)
    check_bind("::1", None)
    view = NodeView(map_info(load_scenario(SMALL), "P1"))
    server = WebServer(live_app(view, token="s3cret"), token="s3cret").start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert http(f"{base}/api/snapshot")[0] == 401
        assert http(f"{base}/api/snapshot?token=wrong")[0] == 401
        assert http(f"{base}/api/snapshot?token=s3cret")[0] == 200
        assert http(f"{base}/api/info", headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert server.url.endswith("?token=s3cret")

        async def refused() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/ws") as ws:
                await ws.recv()

        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(refused())
    finally:
        server.stop()


def test_page_is_served_with_its_bundle(served: tuple[NodeView, WebServer, list[Event]]) -> None:
    _, server, _ = served
    dist = Path(__file__).resolve().parents[2] / "src/mead/server/web/dist/app.js"
    if not dist.exists():
        pytest.skip("the page is not built: ./dev setup")
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as r:
        assert b"/static/app.js" in r.read()
    url = f"http://127.0.0.1:{server.port}/static/maplibre-gl.mjs"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert "javascript" in r.headers["content-type"]
