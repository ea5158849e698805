"""The operator's map under load: frames/s in headless chromium and node → browser latency.

Run as ``python -m benchmarks.bench_map [--tracks 5000] [--seconds 8] [--json]``.

A node's view (``mead.server.view.NodeView``) and its real server are fed N tracks that all
move every second (5 % hostile), from a thread standing in for the node's loop. Two pages
watch the same server in Debian's chromium (SwiftShader WebGL, 1280×800), one at a time:

- **mead**: the map page itself (deltas over the WebSocket, one WebGL layer for the bulk,
  2525 icons only for threats and the selected track);
- **naive**: the page of the shared notes on browser maps — every track a milsymbol icon in
  one GeoJSON symbol layer (``icon-allow-overlap``), the whole GeoJSON replaced with
  ``setData`` once a second, from the same WebSocket, over the same basemap (land and
  borders) so that only the drawing of the tracks differs.

Each page is measured with the camera panning every frame and standing still: frame times
from ``requestAnimationFrame``. For both, node → browser latency is the wall time from the
node handing its picture to the view until the page has applied it (same machine, same
clock). The issue's targets: ≥ 30 frames/s at 5,000 tracks, latency p99 < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._machine import machine
from mead.geo import enu_rotations, geodetic2ecef
from mead.runtime.node import Held
from mead.scenario import load_scenario
from mead.server.app import live_app
from mead.server.overlays import map_info
from mead.server.serve import WebServer
from mead.server.view import NodeView

ROOT = Path(__file__).resolve().parents[1]
MILSYMBOL = ROOT / "src/mead/server/web/node_modules/milsymbol/dist/milsymbol.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    # the naive page is handed in by Playwright (no address of its own): let it reach 127.0.0.1
    "--disable-features=LocalNetworkAccessChecks",
]

NAIVE_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/maplibre-gl.css">
<style>html,body,#map{margin:0;height:100%}</style></head><body><div id="map"></div>
<script src="/naive/milsymbol.js"></script>
<script type="module">
import * as maplibregl from "/static/maplibre-gl.mjs";
const info = await (await fetch("/api/info")).json();
const map = new maplibregl.Map({container: "map", bounds: info.bounds, fadeDuration: 0,
  style: {version: 8, sources: {t: {type: "geojson", data: {type: "FeatureCollection",
  features: []}}, basemap: {type: "geojson", data: "/api/basemap"}}, layers: [{id: "bg",
  type: "background", paint: {"background-color": "#0c1824"}}, {id: "land", type: "fill",
  source: "basemap", filter: ["==", ["get", "kind"], "land"], paint: {"fill-color":
  "#1c2833"}}, {id: "borders", type: "line", source: "basemap", filter: ["==", ["get",
  "kind"], "borders"], paint: {"line-color": "#3d5063", "line-width": 0.8}}, {id: "t",
  type: "symbol", source: "t", layout: {"icon-image": ["get", "s"],
  "icon-allow-overlap": true}}]}});
const AFF = {hostile: "H", suspect: "S", unknown: "U", friend: "F", neutral: "N"};
const tracks = new Map();
window.__mead = {latencies: [], map, tracks: {get n() { return tracks.size; }}};
map.on("load", () => {
  const ws = new WebSocket(`ws://${location.host}/api/ws`);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    const cols = m.tracks || m.upd;
    if (cols) for (let i = 0; i < cols.key.length; i++)
      tracks.set(cols.key[i], [cols.lon[i], cols.lat[i], AFF[cols.aff[i]] || "U"]);
    for (const k of m.del || []) tracks.delete(k);
    const features = [];
    for (const [k, [lon, lat, a]] of tracks) {
      const s = `S${a}AP------`;
      if (!map.hasImage(s)) {
        const c = new ms.Symbol(s, {size: 20}).asCanvas();
        map.addImage(s, c.getContext("2d").getImageData(0, 0, c.width, c.height));
      }
      features.push({type: "Feature", properties: {s}, geometry: {type: "Point",
        coordinates: [lon, lat]}});
    }
    map.getSource("t").setData({type: "FeatureCollection", features});
    if (cols && m.wall) window.__mead.latencies.push(Date.now() / 1000 - m.wall);
  };
});
</script></body></html>"""

FRAMES_JS = """([ms, pan]) => new Promise((done) => {
  const map = window.__mead.map, dt = [];
  let last = performance.now(), dir = 1, n = 0;
  const end = last + ms;
  function frame(now) {
    dt.push(now - last); last = now;
    if (pan) { if (++n % 120 === 0) dir = -dir; map.panBy([3 * dir, 1 * dir], {duration: 0}); }
    if (now < end) requestAnimationFrame(frame); else done(dt);
  }
  requestAnimationFrame(frame);
})"""


class Feeder:
    """Stands in for a node's loop: N tracks moving, all shown to the view every second."""

    def __init__(self, view: NodeView, n: int, center: tuple[float, float], seed: int = 1):
        rng = np.random.default_rng(seed)
        self.view, self.n = view, n
        self.lat = center[0] + rng.uniform(-5, 5, n)
        self.lon = center[1] + rng.uniform(-6, 6, n)
        self.alt = rng.uniform(500, 12_000, n)
        speed, heading = rng.uniform(60, 900, n), rng.uniform(0, 2 * np.pi, n)
        self.enu = np.stack([speed * np.sin(heading), speed * np.cos(heading), np.zeros(n)], 1)
        self.ids = [f"P1-T{i:06d}" for i in range(n)]
        hostile = rng.random(n) < 0.05
        self.classes = np.where(hostile, "cruise", "aircraft").tolist()
        self.quality = rng.uniform(0.5, 1.0, n)
        self.ident = np.full(n, "")
        self.stop = threading.Event()
        self.t = 1.7e9
        self.cycles = 0

    def step(self, dt: float) -> None:
        k = 1.0 / 111_320.0
        self.lat = self.lat + self.enu[:, 1] * dt * k
        self.lon = self.lon + self.enu[:, 0] * dt * k / np.cos(np.radians(self.lat))
        p = geodetic2ecef(self.lat, self.lon, self.alt)
        v = (enu_rotations(self.lat, self.lon).swapaxes(-1, -2) @ self.enu[..., None])[..., 0]
        self.t += dt
        x = np.concatenate([p, v], axis=1)
        self.view.show(Held("P1", self.t, self.ids, x, self.classes, self.quality, self.ident))
        self.cycles += 1

    def run(self) -> None:
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.step(1.0)
            nxt += 1.0
            self.stop.wait(max(0.0, nxt - time.monotonic()))


def _frames(page: Any, seconds: float, pan: bool) -> dict[str, float]:
    dt = np.asarray(page.evaluate(FRAMES_JS, [seconds * 1000.0, pan])[1:])
    return {
        "fps": round(float(len(dt) / (dt.sum() / 1e3)), 1),
        "p95_frame_ms": round(float(np.percentile(dt, 95)), 1),
        "frames": len(dt),
    }


def measure(page: Any, url: str, n: int, seconds: float) -> dict[str, Any]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.goto(url)
    try:
        page.wait_for_function(f"() => window.__mead && window.__mead.tracks.n >= {n}",
                               timeout=60_000, polling=250)  # fmt: skip
    except Exception as e:
        raise RuntimeError(f"{url} did not show {n} tracks: {errors}") from e
    time.sleep(1.5)
    page.evaluate("() => { window.__mead.latencies.length = 0; }")
    out = {"panning": _frames(page, seconds, True), "still": _frames(page, seconds, False)}
    lat = np.asarray(page.evaluate("() => window.__mead.latencies")) * 1e3
    out["latency_ms"] = {
        "n": len(lat),
        "p50": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
    }
    return out


def run(n: int, seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    sc = load_scenario(ROOT / "scenarios" / "small.yaml")
    view = NodeView(map_info(sc, "P1"))
    server = WebServer(live_app(view)).start()
    base = f"http://127.0.0.1:{server.port}"
    feeder = Feeder(view, n, center=(34.0, 45.0))
    thread = threading.Thread(target=feeder.run, daemon=True)
    thread.start()
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for name, url in (("mead", f"{base}/"), ("naive", f"{base}/naive.html")):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.route(f"{base}/naive.html", lambda r: r.fulfill(
                    body=NAIVE_PAGE, content_type="text/html"))  # fmt: skip
                page.route(f"{base}/naive/milsymbol.js", lambda r: r.fulfill(
                    path=str(MILSYMBOL), content_type="text/javascript"))  # fmt: skip
                results[name] = measure(page, url, n, seconds)
                page.close()
            browser.close()
    finally:
        feeder.stop.set()
        thread.join(5)
        server.stop()
    return {
        "tracks": n,
        "seconds": seconds,
        "viewport": "1280x800",
        "results": results,
        "targets": {"fps": 30, "latency_p99_ms": 200},
        "machine": machine("fastapi", "uvicorn", "playwright"),
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        f"{r['tracks']} tracks updating every second, 1280x800, headless chromium (SwiftShader)",
        f"{'page':<7} {'pan fps':>8} {'pan p95 ms':>11} {'still fps':>10} {'still p95 ms':>13} "
        f"{'latency p50 ms':>15} {'p99 ms':>7}",
    ]
    for name, m in r["results"].items():
        rows.append(
            f"{name:<7} {m['panning']['fps']:>8} {m['panning']['p95_frame_ms']:>11} "
            f"{m['still']['fps']:>10} {m['still']['p95_frame_ms']:>13} "
            f"{m['latency_ms']['p50']!s:>15} {m['latency_ms']['p99']!s:>7}"
        )
    rows.append(f"targets: >= {r['targets']['fps']} fps, latency p99 < "
                f"{r['targets']['latency_p99_ms']} ms")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_map", description=__doc__)
    p.add_argument("--tracks", type=int, default=5000, help="tracks (default 5000)")
    p.add_argument("--seconds", type=float, default=8.0, help="per measurement (default 8)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        p.error(f"no chromium at {CHROMIUM}: apt-get install chromium (./dev setup as root)")
    if not MILSYMBOL.exists():
        p.error(f"{MILSYMBOL} is missing: run ./dev setup (npm ci)")
    r = run(args.tracks, args.seconds)
    print(json.dumps(r, indent=2) if args.json else table(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
