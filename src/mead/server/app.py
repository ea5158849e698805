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
import time
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


SPEEDS = (1.0, 600.0)
"""Replay speeds an operator may choose: 1× to 600× the run's own time."""
REPLAY_STEP_S = 0.25
"""Wall seconds between two pushes of a playing replay."""


class _Player:
    """One page's replay: which run and node, the time, playing or not, how fast."""

    def __init__(self, replay: Any, run: str, node: str) -> None:
        self.replay = replay
        self.run = replay.run(run)
        self.node = node
        self.t = self.run.t0
        self.playing = False
        self.speed = 60.0
        self.seq = 0
        self.rows: Any = None
        self.alerts_t = 0.0
        self.reset = True  # send a snapshot (and the node's map) next

    def command(self, text: str) -> str | None:
        """Apply one command from the page; returns an error sentence for a bad one."""
        try:
            cmd = msgspec.json.decode(text)
            if not isinstance(cmd, dict):
                return 'a replay command is a JSON object such as {"cmd": "play"}'
            match cmd.get("cmd"):
                case "play":
                    self.playing = True
                case "pause":
                    self.playing = False
                case "speed":
                    v = float(cmd["value"])
                    if not SPEEDS[0] <= v <= SPEEDS[1]:
                        return f"speed must be {SPEEDS[0]:g} to {SPEEDS[1]:g} (got {v:g})"
                    self.speed = v
                case "seek":
                    self.t = min(max(float(cmd["t"]), self.run.t0), self.run.t1)
                    self.reset = True
                case "select":
                    run = self.replay.run(str(cmd["run"]))
                    if cmd["node"] not in run.nodes:
                        return (
                            f"run {run.run} has no node {cmd['node']!r} ({', '.join(run.nodes)})"
                        )
                    self.run, self.node = run, str(cmd["node"])
                    self.t = min(max(self.t, run.t0), run.t1)
                    self.reset = True
                case other:
                    return f"unknown replay command {other!r} (play, pause, speed, seek, select)"
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as e:
            return f"bad replay command {text[:80]!r}: {e}"
        return None

    def status(self, with_info: bool) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "replay",
            "t": self.t,
            "t0": self.run.t0,
            "t1": self.run.t1,
            "playing": self.playing,
            "speed": self.speed,
            "run": self.run.run,
            "node": self.node,
        }
        if with_info:
            msg["info"] = self.info()
        return msg

    def info(self) -> dict[str, Any]:
        return {**self.run.info(self.node), "run": self.run.run}

    def picture(self) -> dict[str, Any] | None:
        """The snapshot or delta that brings the page to the player's time (None: nothing)."""
        from mead.server.rows import diff

        rows = self.run.rows(self.node, self.t)
        stamp = {"node": self.node, "t": self.t, "wall": time.time()}
        stamp["rate"] = self.speed if self.playing else 0.0
        self.seq += 1
        stamp["seq"] = self.seq
        if self.reset or self.rows is None:
            self.reset = False
            self.rows, self.alerts_t = rows, self.t
            alerts = self.run.alerts(self.node, self.t)
            return {"type": "snapshot", **stamp, "tracks": rows.columns(), "alerts": alerts}
        upd, gone = diff(self.rows, rows)
        alerts = self.run.alerts(self.node, self.t, since=self.alerts_t)
        self.rows, self.alerts_t = rows, self.t
        if not len(upd) and not gone and not alerts:
            return None
        return {"type": "delta", **stamp, "upd": upd.columns(), "del": gone, "alerts": alerts}


def replay_app(replay: Any, token: str | None = None) -> FastAPI:
    """The map over recorded runs (``mead replay DIR``): same page, a player per page."""
    app = _base_app(token, f"MEAD replay of {replay.scenario}")
    first = next(iter(replay.runs.values()))
    default_node = first.nodes[0]

    @app.get("/api/info", summary="Runs, nodes and time span of the recording; a node's map")
    def info(run: str = first.run, node: str = default_node) -> Response:
        try:
            r = replay.run(run)
        except KeyError as e:
            return _json({"detail": str(e.args[0])}, 404)
        if node not in r.nodes:
            return _json({"detail": f"run {run} has no node {node!r}"}, 404)
        runs = [{"run": x.run, "nodes": x.nodes} for x in replay.runs.values()]
        return _json(
            {"mode": "replay", "runs": runs, "run": run, "t0": r.t0, "t1": r.t1, **r.info(node)}
        )

    @app.get("/api/snapshot", summary="What a node held at time t (wire s) of a run")
    def snapshot(
        run: str = first.run, node: str = default_node, t: float | None = None
    ) -> Response:
        try:
            p = _Player(replay, run, node)
        except KeyError as e:
            return _json({"detail": str(e.args[0])}, 404)
        if node not in p.run.nodes:
            return _json({"detail": f"run {run} has no node {node!r}"}, 404)
        p.t = p.run.t0 if t is None else min(max(t, p.run.t0), p.run.t1)
        return _json(p.picture() or {})

    @app.post("/api/alerts/{alert_id}/ack", summary="Not in a replay (read-only)")
    def ack(alert_id: str) -> Response:
        return _json({"detail": "a replay is read-only: nothing to acknowledge"}, 409)

    @app.websocket("/api/ws")
    async def stream(ws: WebSocket) -> None:
        if not await _ws_authorised(ws, token):
            return
        await ws.accept()
        player = _Player(replay, first.run, default_node)

        async def on_text(text: str) -> None:
            err = player.command(text)
            if err:
                await ws.send_text(msgspec.json.encode({"type": "error", "detail": err}).decode())

        await _until_closed(ws, _send_replay(ws, player), on_text)

    return app


async def _send_replay(ws: WebSocket, player: _Player) -> None:
    """Push the player's picture every step; advance its time while it plays. A new run,
    node or time first sends the node's map (the status with ``info``), then a snapshot."""
    last_status = 0.0

    async def send(msg: dict[str, Any]) -> None:
        await ws.send_text(msgspec.json.encode(msg).decode())

    while True:
        now = time.monotonic()
        if player.reset:
            await send(player.status(with_info=True))
            last_status = now
        msg = player.picture()
        if msg is not None:
            await send(msg)
        if now - last_status > 1.0 or (msg is not None and msg["type"] == "delta"):
            await send(player.status(with_info=False))
            last_status = now
        await asyncio.sleep(REPLAY_STEP_S)
        if player.playing:
            player.t = min(player.t + REPLAY_STEP_S * player.speed, player.run.t1)
            if player.t >= player.run.t1:
                player.playing = False


__all__ = ["TOKEN_ENV", "check_bind", "is_loopback", "live_app", "replay_app"]
