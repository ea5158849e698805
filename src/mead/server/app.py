"""The HTTP + WebSocket API of a node's map and the page itself (FastAPI on uvicorn).

One app serves one node live (:func:`live_app`, over a :class:`~mead.server.view.NodeView`)
or a recorded run (:func:`replay_app`, over a :class:`~mead.server.replay.Replay`). Both
answer the same routes, so the page is the same:

- ``GET /`` the page; ``GET /static/…`` its bundled scripts (built by ``./dev setup``);
- ``GET /api/info`` the static part of the map (areas, coverage, role; for a replay: runs,
  nodes, time span); ``GET /api/basemap`` land and borders as GeoJSON;
- ``GET /api/snapshot`` every track and alert held now (replay: ``?run=&node=&t=``);
- ``POST /api/alerts/{alert_id}/ack`` an operator's acknowledgement (live only);
- ``WS /api/ws`` a snapshot, then deltas as the node's picture changes (replay: commands
  ``play``, ``pause``, ``speed``, ``seek`` and ``select`` from the page drive a player).

The OpenAPI schema of the HTTP part is at ``/api/openapi.json``. Handlers only read state
(the view's, or the recording's); they never run a stage. Every ``/api/`` route but the
schema needs the token when one is set (``Authorization: Bearer …`` or ``?token=…``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import mimetypes
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from mead.errors import MeadError
from mead.server.basemap import basemap
from mead.server.view import AckError, NodeView

WEB_DIR = Path(str(resources.files("mead") / "server" / "web"))
DIST_DIR = WEB_DIR / "dist"
TOKEN_ENV = "MEAD_WEB_TOKEN"
mimetypes.add_type("text/javascript", ".mjs")  # module scripts need a JavaScript type


class AckRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of an acknowledgement (optional)."""

    by: str = ""  # the operator's name or position


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (``MeadError`` says how to fix it)."""
    if not is_loopback(host) and not token:
        raise MeadError(
            f"the map would listen on {host}, reachable from other machines: give a token "
            f"with --web-token or the {TOKEN_ENV} environment variable, or bind 127.0.0.1"
        )


def _json(data: bytes | dict[str, Any] | list[Any], status: int = 200) -> Response:
    body = data if isinstance(data, bytes) else msgspec.json.encode(data)
    return Response(body, status_code=status, media_type="application/json")


def _base_app(token: str | None, title: str) -> FastAPI:
    """Routes common to live and replay: the page, its scripts, the basemap, the token."""
    app = FastAPI(
        title=title,
        version="1",
        docs_url=None,  # the interactive docs load scripts from a CDN: not air-gapped
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.add_middleware(GZipMiddleware, minimum_size=4096)

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if token and path.startswith("/api/") and path != "/api/openapi.json":
            if not _token_ok(token, request.headers.get("authorization"), request.query_params):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> Response:
        index = WEB_DIR / "index.html"
        if not (DIST_DIR / "app.js").exists():
            return HTMLResponse(
                "<h1>The map page is not built</h1><p>Run <code>./dev setup</code> (it runs "
                "<code>npm ci</code> and the bundle step in src/mead/server/web).</p>",
                status_code=503,
            )
        return HTMLResponse(index.read_text())

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/basemap", summary="Land and borders (GeoJSON FeatureCollection)")
    def get_basemap(resolution: str = "50m") -> Response:
        try:
            return _json(basemap(resolution))
        except ValueError as e:
            return _json({"detail": str(e)}, 400)

    if DIST_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=DIST_DIR), name="static")
    return app


def _token_ok(token: str, header: str | None, query: Any) -> bool:
    given = ""
    if header and header.lower().startswith("bearer "):
        given = header[7:].strip()
    elif "token" in query:
        given = query["token"]
    return hmac.compare_digest(given.encode(), token.encode())


async def _ws_authorised(ws: WebSocket, token: str | None) -> bool:
    if token and not _token_ok(token, ws.headers.get("authorization"), ws.query_params):
        await ws.close(code=4401, reason="missing or wrong token")
        return False
    return True


def live_app(view: NodeView, token: str | None = None) -> FastAPI:
    """The map of one live node, over its view."""
    app = _base_app(token, f"MEAD map of {view.node}")

    @app.get("/api/info", summary="The static part of the map: node, role, areas, coverage")
    def info() -> Response:
        return _json({"mode": "live", "rate": view.rate, **view.info})

    @app.get("/api/snapshot", summary="Every track and alert the node holds now")
    def snapshot() -> Response:
        return _json(view.snapshot()[1])

    @app.post(
        "/api/alerts/{alert_id}/ack",
        summary="Acknowledge an alert; the node records it as an alert_ack event",
        responses={404: {"description": "no such alert"}, 409: {"description": "cancelled"}},
    )
    async def ack(alert_id: str, request: Request) -> Response:
        raw = await request.body()
        try:
            body = msgspec.json.decode(raw, type=AckRequest) if raw.strip() else AckRequest()
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return _json({"detail": f"acknowledgement body: {e}"}, 422)
        try:
            return _json(view.ack(alert_id, body.by[:64]))
        except AckError as e:
            return _json({"detail": e.detail}, e.status)

    @app.websocket("/api/ws")
    async def stream(ws: WebSocket) -> None:
        if not await _ws_authorised(ws, token):
            return
        await ws.accept()
        sub = view.broadcast.attach()
        try:
            await _until_closed(ws, _send_live(ws, view, sub))
        finally:
            view.broadcast.detach(sub)

    return app


async def _send_live(ws: WebSocket, view: NodeView, sub: Any) -> None:
    """Snapshot, then every delta newer than what was sent; a snapshot again when behind."""
    last, data = view.snapshot()
    await ws.send_text(data.decode())
    while True:
        seq, data = await sub.queue.get()
        if sub.behind:
            sub.behind = False
            while not sub.queue.empty():
                sub.queue.get_nowait()
            last, data = view.snapshot()
        elif seq <= last:
            continue
        else:
            last = seq
        await ws.send_text(data.decode())


async def _until_closed(
    ws: WebSocket, sender: Awaitable[None], on_text: Callable[[str], Awaitable[None]] | None = None
) -> None:
    """Run ``sender`` until the client goes; hand each text the client sends to ``on_text``."""
    task = asyncio.ensure_future(sender)
    try:
        while not task.done():
            recv = asyncio.ensure_future(ws.receive_text())
            done, _ = await asyncio.wait({task, recv}, return_when=asyncio.FIRST_COMPLETED)
            if recv not in done:
                recv.cancel()
                break
            try:
                text = recv.result()
            except (WebSocketDisconnect, RuntimeError):
                break
            if on_text is not None:
                await on_text(text)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # the client has gone
            await task


__all__ = ["TOKEN_ENV", "check_bind", "is_loopback", "live_app"]
