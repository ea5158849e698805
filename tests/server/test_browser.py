"""The operator's map in a real headless chromium, on real servers.

Live: ``mead up --web`` runs small.yaml (cut short, accelerated) over real nats-servers and
node processes; the partner P2's page shows tracks and the coordinator's warnings, an alert is
acknowledged and lands in P2's event log, and the partner P1's page never receives P2's
tracks or alerts (its WebSocket frames are inspected). Replay: ``mead replay`` over a
recorded run, with the slider moving the picture. Screenshots go to out/test-artifacts/.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from mead.events import AlertAcknowledged, AlertSent, read_events_file
from mead.messages import RadarStatus
from mead.runtime.node import Held
from mead.runtime.up import up
from mead.scenario import load_scenario
from mead.server.app import live_app, replay_app
from mead.server.overlays import map_info
from mead.server.replay import Replay
from mead.server.serve import WebServer
from mead.server.view import NodeView

from .conftest import SMALL, screenshot


def _wait_file(path: Path, timeout_s: float) -> Path:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)
    time.sleep(0.2)
    return path


def _wait_http(url: str, timeout_s: float) -> None:
    """Until ``url`` answers (a node's map listens once its process is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "api/info", timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout_s} s"
            time.sleep(0.2)


def _frames(page: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []

    def on_ws(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_ws)
    return frames


def test_live_maps_of_a_federation(
    nats_server_bin: str, browser: Any, page: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "live"
    # the whole small raid, 150 s at 16x: room for a slow page on 2 cores; stopped once the
    # page has been checked
    scenario = SMALL
    result: dict[str, Any] = {}
    done = threading.Event()
    run = threading.Thread(
        target=lambda: result.update(up(scenario, workdir, speed=16.0, web=True, stop=done)),
        daemon=True,
    )
    run.start()
    try:
        maps = json.loads(_wait_file(workdir / "maps.json", 30).read_text())
        assert set(maps) == {"C0", "P1", "P2"}
        for url in maps.values():
            _wait_http(url, 30)

        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        p1 = browser.new_page(viewport={"width": 1280, "height": 800})
        p1_frames = _frames(p1)
        p1.goto(maps["P1"])
        page.goto(maps["P2"])
        page.wait_for_function(
            "() => window.__mead && window.__mead.tracks.n > 0", timeout=30_000, polling=200
        )
        # a threat's symbol appears and moves
        page.wait_for_function(
            "() => window.__mead.tracks.rows.some(r => r.aff === 'hostile')",
            timeout=30_000,
            polling=200,
        )
        first = page.evaluate("() => window.__mead.tracks.rows.filter(r => r.aff === 'hostile')")
        key = first[0]["key"]
        page.wait_for_function(
            "([k, lon]) => { const r = window.__mead.tracks.get(k); return r && r.lon !== lon; }",
            arg=[key, first[0]["lon"]],
            timeout=30_000,
            polling=200,
        )
        assert page.evaluate("() => window.__mead.map.getLayer('icons') !== undefined")
        # an alert appears in the list with a countdown and is acknowledged
        button = page.locator(".alert button:not([disabled])").first
        button.wait_for(timeout=30_000)
        alert_id = button.locator("xpath=..").get_attribute("data-alert-id")
        countdown = page.locator(f'.alert[data-alert-id="{alert_id}"] .tgo').inner_text()
        assert ":" in countdown
        # the list is sorted by time to go: click this alert's own button, wherever it is now
        page.locator(f'.alert[data-alert-id="{alert_id}"] button').click()
        try:
            page.wait_for_function(
                "id => { const a = window.__mead.alerts.get(id); return a && a.acked; }",
                arg=alert_id,
                timeout=30_000,
                polling=200,
            )
        except Exception as e:  # say what the page held: the acknowledgement's answer
            held = page.evaluate("() => [window.__mead.acks, window.__mead.connected]")
            raise AssertionError(f"{alert_id} not acknowledged; acks, connected: {held}") from e
        # clicking a track shows its number, class, speed, altitude, quality, time to go
        key = page.evaluate("id => window.__mead.alerts.get(id).key", alert_id)
        xy = page.evaluate(
            "k => { const r = window.__mead.tracks.get(k); const p = window.__mead.map.project("
            "[r.lon, r.lat]); const b = document.getElementById('map').getBoundingClientRect();"
            " return [p.x + b.left, p.y + b.top]; }",
            key,
        )
        page.mouse.click(*xy)  # the own track and the picture's row of one object may overlap
        page.wait_for_function("() => window.__mead.selected", timeout=10_000, polling=200)
        picked = page.evaluate("() => window.__mead.selected")
        details = page.locator("#details").inner_text()
        for word in (picked, "Class", "Speed", "Altitude", "Quality"):
            assert word in details
        page.locator(f'.alert[data-alert-id="{alert_id}"] .area').click()  # the alert's track
        page.wait_for_function(
            "k => window.__mead.selected === k", arg=key, timeout=10_000, polling=200
        )
        assert "Time to go" in page.locator("#details").inner_text()
        # the coverage layers, computed beside the running node, reach the open page
        page.wait_for_function(
            "() => !window.__mead.info.coverage_pending"
            " && window.__mead.info.coverage_layers.features.length > 0",
            timeout=30_000,
            polling=200,
        )
        assert page.eval_on_selector_all("#covlayer option", "os => os.length") > 1
        screenshot(page, "live-P2")
        done.set()
        run.join(60)
        assert not run.is_alive() and result["ok"]
        # the acknowledgement went back to the node and is in its event log
        acks = [
            e
            for e in read_events_file(workdir / "P2.events.jsonl")
            if isinstance(e, AlertAcknowledged)
        ]
        assert [(a.node, a.alert_id, a.by) for a in acks] == [("P2", alert_id, "operator")]
        # sovereignty: P1's page got its own tracks and the picture, never P2's own or its alerts
        keys = {
            k for f in p1_frames for k in (f.get("tracks") or f.get("upd") or {}).get("key", [])
        }
        alerts = [a for f in p1_frames for a in f.get("alerts", [])]
        assert any(k.startswith("P1-T") for k in keys) and any(k.startswith("S") for k in keys)
        assert not any(k.startswith("P2-") for k in keys)
        assert all(a["recipient"] == "P1" for a in alerts)
        assert "Capital" not in json.dumps(p1_frames)  # P2's area is P2's alone
        # no network beyond the node's own server: the map works air-gapped
        base = maps["P2"].rstrip("/")
        assert requests and all(u.startswith((base, "data:", "blob:")) for u in requests)
        assert not [e for e in page.mead_errors if "WebSocket" not in e]
        p1.close()
    finally:
        done.set()
        run.join(90)  # up() stops its servers and node processes itself


def test_replay_slider_moves_the_picture(recorded: Path, page: Any) -> None:
    replay = Replay(recorded)
    server = WebServer(replay_app(replay)).start()
    try:
        page.goto(server.url)
        page.wait_for_function(
            "() => window.__mead && window.__mead.replay", timeout=30_000, polling=200
        )
        run = replay.run("alliance")
        page.select_option("#which", "alliance/P2")
        page.wait_for_function("() => window.__mead.node === 'P2'", timeout=10_000, polling=200)

        def seek(t: float) -> dict[str, Any]:
            page.evaluate(
                "t => { const s = document.getElementById('slider'); s.value = t;"
                " s.dispatchEvent(new Event('input')); }",
                t,
            )
            page.wait_for_function(
                "t => Math.abs(window.__mead.t - t) < 1", arg=t, timeout=10_000, polling=200
            )
            time.sleep(0.3)
            got: dict[str, Any] = page.evaluate(
                "() => Object.fromEntries(window.__mead.tracks.rows.map(r => [r.key, r.lon]))"
            )
            return got

        early, late = seek(run.t0 + 60), seek(run.t1 - 10)
        assert early and late and early != late
        assert set(late) == set(run.rows("P2", run.t1 - 10).key.tolist())
        page.wait_for_function("() => window.__mead.alerts.size > 0", timeout=10_000, polling=200)
        seek(run.t0 + 100)  # playing at 600x from near the end would stop at once
        page.select_option("#speed", "10")
        page.click("#play")
        page.wait_for_function("() => window.__mead.replay.playing", timeout=10_000, polling=200)
        screenshot(page, "replay-P2")
        assert not page.mead_errors
    finally:
        server.stop()


def test_coverage_layers_show_what_is_seen_and_the_gaps(recorded: Path, page: Any) -> None:
    """The coordinator's map, at 50 m above ground, shows the alliance's coverage and the
    gaps nobody sees (drawn red); a partner's map shows its own radars' coverage and no
    gaps and nothing of the others'. The range rings come back with "radar range rings"."""
    replay = Replay(recorded)
    server = WebServer(replay_app(replay)).start()
    try:
        page.goto(server.url)
        page.wait_for_function(
            "() => window.__mead && window.__mead.ready", timeout=30_000, polling=200
        )
        page.select_option("#which", "alliance/C0")
        page.wait_for_function("() => window.__mead.node === 'C0'", timeout=10_000, polling=200)
        options = page.eval_on_selector_all("#covlayer option", "os => os.map(o => o.value)")
        assert options[0] == "" and "50m" in options and "10km" in options, options

        counts = (
            "() => Object.fromEntries(['cov-seen', 'cov-gaps', 'coverage'].map(id => "
            "[id, window.__mead.map.queryRenderedFeatures({layers: [id]}).length]))"
        )

        def drawn(layer: str, *shown: str) -> dict[str, int]:
            """Select ``layer`` and wait (software rendering on a busy machine can take
            seconds) until every layer in ``shown`` has features on screen."""
            page.select_option("#covlayer", layer)
            page.wait_for_function(
                "l => window.__mead.coverageLayer === l", arg=layer, timeout=10_000
            )
            page.wait_for_function(
                f"ids => {{ const n = ({counts})(); return ids.every(id => n[id] > 0); }}",
                arg=list(shown),
                timeout=30_000,
                polling=200,
            )
            time.sleep(0.3)  # a frame more, so a layer that should stay empty had its chance
            got: dict[str, int] = page.evaluate(counts)
            return got

        c0 = drawn("50m", "cov-seen", "cov-gaps")
        assert c0["cov-seen"] > 0 and c0["cov-gaps"] > 0 and c0["coverage"] == 0, c0
        assert "gaps" in page.inner_text("#covarea")
        screenshot(page, "coverage-C0-50m")
        page.select_option("#which", "alliance/P2")
        page.wait_for_function("() => window.__mead.node === 'P2'", timeout=10_000, polling=200)
        kinds = page.evaluate(
            "() => [...new Set(window.__mead.info.coverage_layers.features"
            ".map(f => f.properties.kind))]"
        )
        assert kinds == ["partner"], kinds
        p2 = drawn("1km", "cov-seen")
        assert p2["cov-seen"] > 0 and p2["cov-gaps"] == 0, p2
        screenshot(page, "coverage-P2-1km")
        assert drawn("", "coverage")["coverage"] > 0  # back to the rings
        assert not page.mead_errors
    finally:
        server.stop()


def test_coordinator_map_shows_lost_coverage(page: Any) -> None:
    """A coordinator's live map told that P2's radar is down (its site released) and one of
    P1's degraded (site withheld): the lost ground is drawn red over the radar's range, and
    the side panel names both; an alert held where coverage is lost says so in the alert
    list; when the radars serve again, the lost coverage goes."""
    sc = load_scenario(SMALL)
    site = next(s for p in sc.partners for s in p.sensors if s.id == "P2-S1").site
    down = RadarStatus(radar="P2-S1", state="down", reach=0.0, lat_deg=site.lat_deg,
                       lon_deg=site.lon_deg, range_km=150.0)  # fmt: skip
    weak = RadarStatus(radar="radar-0", state="degraded", reach=0.5)

    def held(*lost: tuple[str, RadarStatus]) -> Held:
        return Held("C0", sc.start_epoch_s() + 60.0, [], np.empty((0, 6)), [], np.empty(0),
                    np.empty(0), None, coverage_lost=tuple(lost))  # fmt: skip

    view = NodeView(map_info(sc, "C0"))
    view.show(held(("P2", down), ("P1", weak)))
    t = sc.start_epoch_s() + 60.0
    area = sc.defended_areas[0]
    view.on_event(
        AlertSent(
            node="C0", alert_id="C0-7-" + area.name, state="updated", t=t,
            recipient=area.owner, area=area.name, system_track=7, threat_class="drone",
            impact_lat_deg=31.8, impact_lon_deg=35.2, impact_radius_m=2000.0,
            t_impact=t + 900.0, tgo_s=900.0, held=True,
        )
    )  # fmt: skip
    server = WebServer(live_app(view)).start()
    try:
        page.goto(server.url)
        page.wait_for_function(
            "() => window.__mead && window.__mead.lost && window.__mead.lost.features.length",
            timeout=30_000, polling=200,
        )  # fmt: skip
        # drawn: software rendering on a busy machine can take seconds
        page.wait_for_function(
            "() => window.__mead.map.queryRenderedFeatures({layers: ['lost-fill']}).length > 0",
            timeout=30_000, polling=200,
        )  # fmt: skip
        text = page.inner_text("#lost")
        assert "P2 P2-S1 down" in text and "P1 radar-0 degraded to 50 %" in text, text
        page.wait_for_selector("#alerts .alert .held", timeout=10_000)
        assert "HELD: track lost where coverage is lost" in page.inner_text("#alerts")
        screenshot(page, "coverage-lost-C0")
        view.show(held())
        page.wait_for_function(
            "() => window.__mead.lost.features.length === 0", timeout=10_000, polling=200
        )
        assert not page.is_visible("#lost")
        assert not page.mead_errors
    finally:
        server.stop()


def test_replay_rejects_bad_commands_and_keeps_serving(recorded: Path, page: Any) -> None:
    server = WebServer(replay_app(Replay(recorded))).start()
    try:
        page.goto(server.url)
        page.wait_for_function(
            "() => window.__mead && window.__mead.replay", timeout=30_000, polling=200
        )
        for bad in ['{"cmd": "fly"}', '{"cmd": "speed", "value": 5000}', "[1]", "{"]:
            page.evaluate("m => window.__mead.ws.send(m)", bad)
        page.wait_for_function(
            "() => document.getElementById('status').className.includes('bad')",
            timeout=10_000,
            polling=200,
        )
        page.evaluate("() => window.__mead.ws.send(JSON.stringify({cmd: 'play'}))")
        page.wait_for_function("() => window.__mead.replay.playing", timeout=10_000, polling=200)
    finally:
        server.stop()
