"""A live federation (real nats-servers, one process per node) where one partner's only radar
is an ASTERIX CAT048 feed on loopback UDP, and its ADS-B a CAT021 feed: the coordinator's
picture shows the aircraft, and the partner receives the aircraft's ADS-B."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from mead import geo
from mead.interop.asterix import UdpSender, encode021, encode048
from mead.runtime.up import up
from mead.sensors.adsb_replay import AdsbRecording

SITE = (32.0, 35.0, 100.0)
SPEED = 4.0  # scenario s per wall s: the feed is sent 4× faster than its own times say
SCAN_S = 2.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenario(tmp: Path, port: int, adsb_port: int) -> Path:
    # P1 releases aircraft too: its ADS-B identifies the aircraft as civil, which the
    # default policy (threat classes and unknown) keeps at home
    (tmp / "P1.yaml").write_text(
        "partner: P1\nrules:\n  - to: [C0]\n"
        "    classes: [ballistic, rocket, cruise, drone, aircraft, unknown]\n"
    )
    path = tmp / "asterix_live.yaml"
    path.write_text(f"""
name: asterix_live
start_utc: "2024-04-13T07:35:00Z"
duration_s: 60
coordinator: {{name: C0, assess_s: 2}}
partners:
  - name: P1
    release_s: 2
    policy: P1.yaml
    sensors:
      - id: P1-ASX
        site: {{lat_deg: {SITE[0]}, lon_deg: {SITE[1]}, alt_m: {SITE[2]}}}
        scan_s: {SCAN_S}
        sigma_az_deg: 0.1
        sigma_el_deg: 0.5
        asterix: {{udp: "127.0.0.1:{port}", radar: "1/2"}}
    adsb_udp: ["127.0.0.1:{adsb_port}"]
  - name: P2
""")
    return path


def _flight_enu(t_s: np.ndarray) -> np.ndarray:
    """The aircraft (east at 250 m/s, 60 km north of the radar, 9 km up) at feed time t s."""
    n = len(t_s)
    return np.column_stack([20e3 + 250.0 * t_s, np.full(n, 60e3), np.full(n, 9000.0)])


def _send_flight(port: int, adsb_port: int, stop: threading.Event) -> int:
    """One CAT048 plot and one CAT021 report per 2 s of feed time, sent every 2 / SPEED
    wall s, until ``stop``."""
    sender = UdpSender(("127.0.0.1", port))
    adsb = UdpSender(("127.0.0.1", adsb_port))
    tod0 = 7 * 3600.0
    day0 = 1_713_000_000.0 // 86400 * 86400  # UTC s, midnight of some day
    k = 0
    try:
        while not stop.is_set() and k < 200:
            t = np.array([k * SCAN_S])
            rae = geo.enu2rae(_flight_enu(t))
            sender.send(encode048(tod0 + t, rae, (1, 2), np.array([9000 / 30.48])))
            lat, lon, alt = geo.ecef2geodetic(geo.enu2ecef(_flight_enu(t), *SITE))
            rec = AdsbRecording(
                t=day0 + tod0 + t, icao=np.array([0x738043], np.uint32),
                callsign=np.array(["ELY1747"], "<U8"), lat_deg=lat, lon_deg=lon, alt_m=alt,
                gs_mps=np.array([250.0]), track_deg=np.array([90.0]), vrate_mps=np.zeros(1),
                onground=np.zeros(1, bool),
            )  # fmt: skip
            adsb.send(encode021(rec, (1, 9)))
            k += 1
            stop.wait(SCAN_S / SPEED)
    finally:
        sender.close()
        adsb.close()
    return k


def _snapshot(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "api/snapshot", timeout=2) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def test_coordinator_shows_a_track_from_a_partners_asterix_udp_feed(
    nats_server_bin: str, tmp_path: Path
) -> None:
    port, adsb_port = _free_udp_port(), _free_udp_port()
    scenario = _scenario(tmp_path, port, adsb_port)
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            up(scenario, tmp_path / "live", duration_s=60, speed=SPEED, web=True)
        )
    )
    runner.start()
    stop = threading.Event()
    sender = threading.Thread(target=_send_flight, args=(port, adsb_port, stop))
    sender.start()
    seen: list[dict[str, Any]] = []
    maps = tmp_path / "live" / "maps.json"
    try:
        while runner.is_alive():
            time.sleep(0.5)
            if not maps.exists():
                continue
            try:
                snap = _snapshot(json.loads(maps.read_text())["C0"])
            except OSError:
                continue  # not listening yet, or already stopped
            cols = snap["tracks"]
            seen += [{c: cols[c][i] for c in cols} for i in range(len(cols["key"]))]
    finally:
        stop.set()
        sender.join()
        runner.join()
    assert result["ok"], result
    p1 = result["nodes"]["P1"]["counters"]
    assert p1["asterix_P1-ASX_plots"] > 10 and p1["asterix_P1-ASX_errors"] == 0
    assert p1["released_tracks"] > 0
    # the aircraft's ADS-B reached P1's identification (those sent before it listened: lost)
    assert p1[f"cat021_127.0.0.1:{adsb_port}_reports"] > 10
    assert p1[f"cat021_127.0.0.1:{adsb_port}_errors"] == 0
    assert p1["adsb_live_reports"] > 10
    assert result["nodes"]["C0"]["counters"]["batches"] > 0
    # the coordinator's picture holds the aircraft: on its line, at its speed and course
    assert seen, "the coordinator's map never showed a track"
    line = _flight_enu(np.linspace(0.0, 200.0, 2001))
    for tr in seen:
        enu = geo.ecef2enu(geo.geodetic2ecef(tr["lat"], tr["lon"], tr["alt"]), *SITE)
        assert np.min(np.linalg.norm(line[:, :2] - np.asarray(enu)[:2], axis=1)) < 1000.0
        assert abs(tr["spd"] - 250.0) < 25.0 and abs(tr["crs"] - 90.0) < 5.0


def _send_tracks(port: int, stop: threading.Event) -> int:
    """The same aircraft as a national tracker's CAT062 system track 77, one record per
    2 s of feed time, sent every 2 / SPEED wall s, until ``stop``."""
    from mead.interop.asterix import encode062

    sender = UdpSender(("127.0.0.1", port))
    day0 = 1_713_000_000.0 // 86400 * 86400 + 7 * 3600.0  # UTC s, 07:00 of some day
    vel = geo.enu_rotation(*SITE[:2]).T @ np.array([250.0, 0.0, 0.0])
    k = 0
    try:
        while not stop.is_set() and k < 200:
            t = k * SCAN_S
            pos = geo.enu2ecef(_flight_enu(np.array([t])), *SITE)
            state = np.hstack([pos.reshape(1, 3), vel[None]])
            sender.send(encode062(np.array([77]), np.array([day0 + t]), state, (25, 100)))
            k += 1
            stop.wait(SCAN_S / SPEED)
    finally:
        sender.close()
    return k


def test_coordinator_shows_a_partners_national_system_track_from_cat062_on_udp(
    nats_server_bin: str, tmp_path: Path
) -> None:
    """P1 has no radar: its national tracker feeds a system track as CAT062 on loopback UDP;
    P1 releases it as its own and the coordinator's map shows the aircraft."""
    port = _free_udp_port()
    scenario = tmp_path / "cat062_live.yaml"
    scenario.write_text(f"""
name: cat062_live
start_utc: "2024-04-13T07:35:00Z"
duration_s: 60
coordinator: {{name: C0, assess_s: 2}}
partners:
  - name: P1
    release_s: 2
    system_tracks:
      - {{id: P1-SDPS, udp: "127.0.0.1:{port}", source: "25/100"}}
  - name: P2
""")
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            up(scenario, tmp_path / "live", duration_s=60, speed=SPEED, web=True)
        )
    )
    runner.start()
    stop = threading.Event()
    sender = threading.Thread(target=_send_tracks, args=(port, stop))
    sender.start()
    seen: list[dict[str, Any]] = []
    maps = tmp_path / "live" / "maps.json"
    try:
        while runner.is_alive():
            time.sleep(0.5)
            if not maps.exists():
                continue
            try:
                snap = _snapshot(json.loads(maps.read_text())["C0"])
            except OSError:
                continue
            cols = snap["tracks"]
            seen += [{c: cols[c][i] for c in cols} for i in range(len(cols["key"]))]
    finally:
        stop.set()
        sender.join()
        runner.join()
    assert result["ok"], result
    p1 = result["nodes"]["P1"]["counters"]
    assert p1["cat062_P1-SDPS_records"] >= 5  # those sent before the node listened are lost
    assert p1.get("cat062_P1-SDPS_errors", 0) == 0
    assert p1["system_tracks"] > 0 and p1["released_tracks"] > 0
    assert seen, "the coordinator's map never showed a track"
    line = _flight_enu(np.linspace(0.0, 200.0, 2001))
    for tr in seen:
        enu = geo.ecef2enu(geo.geodetic2ecef(tr["lat"], tr["lon"], tr["alt"]), *SITE)
        assert np.min(np.linalg.norm(line[:, :2] - np.asarray(enu)[:2], axis=1)) < 1000.0
        assert abs(tr["spd"] - 250.0) < 25.0 and abs(tr["crs"] - 90.0) < 5.0
