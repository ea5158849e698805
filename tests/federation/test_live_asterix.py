"""A live federation (real nats-servers, one process per node) where one partner's only radar
is an ASTERIX CAT048 feed on loopback UDP, and its ADS-B a CAT021 feed: the coordinator's
picture shows the aircraft, and the partner receives the aircraft's ADS-B. Likewise with a
national tracker's CAT062 system tracks; and ASTERIX out: a partner sends the plots its
radars measured as CAT048 on loopback UDP (``asterix_plots_out``)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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


def _run_up(
    scenario: Path, workdir: Path, during: Callable[[], None], **kw: Any
) -> dict[str, Any]:
    """``mead up`` of ``scenario`` (in a thread, at ``SPEED``; ``kw`` as :func:`up` takes),
    calling ``during()`` over and over until it ends; its summary."""
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(up(scenario, workdir, speed=SPEED, **kw))
    )
    runner.start()
    try:
        while runner.is_alive():
            during()
    finally:
        runner.join()
    return result


def _watch_map(workdir: Path, node: str, seen: list[dict[str, Any]]) -> Callable[[], None]:
    """A ``during`` for :func:`_run_up`: every 0.5 s, the tracks ``node``'s map shows (once it
    listens) are added to ``seen``."""

    def poll() -> None:
        time.sleep(0.5)
        maps = workdir / "maps.json"
        if not maps.exists():
            return
        try:
            snap = _snapshot(json.loads(maps.read_text())[node])
        except OSError:
            return  # not listening yet, or already stopped
        cols = snap["tracks"]
        seen.extend({c: cols[c][i] for c in cols} for i in range(len(cols["key"])))

    return poll


def _on_the_line(seen: list[dict[str, Any]]) -> None:
    """Every track seen is the aircraft: on its line, at its speed and course."""
    assert seen, "the coordinator's map never showed a track"
    line = _flight_enu(np.linspace(0.0, 200.0, 2001))
    for tr in seen:
        enu = geo.ecef2enu(geo.geodetic2ecef(tr["lat"], tr["lon"], tr["alt"]), *SITE)
        assert np.min(np.linalg.norm(line[:, :2] - np.asarray(enu)[:2], axis=1)) < 1000.0
        assert abs(tr["spd"] - 250.0) < 25.0 and abs(tr["crs"] - 90.0) < 5.0


def test_coordinator_shows_a_track_from_a_partners_asterix_udp_feed(
    nats_server_bin: str, tmp_path: Path
) -> None:
    port, adsb_port = _free_udp_port(), _free_udp_port()
    scenario = _scenario(tmp_path, port, adsb_port)
    stop = threading.Event()
    sender = threading.Thread(target=_send_flight, args=(port, adsb_port, stop))
    sender.start()
    seen: list[dict[str, Any]] = []
    live = tmp_path / "live"
    try:
        result = _run_up(scenario, live, _watch_map(live, "C0", seen), duration_s=60, web=True)
    finally:
        stop.set()
        sender.join()
    assert result["ok"], result
    p1 = result["nodes"]["P1"]["counters"]
    assert p1["asterix_P1-ASX_plots"] > 10 and p1["asterix_P1-ASX_errors"] == 0
    assert p1["released_tracks"] > 0
    # the aircraft's ADS-B reached P1's identification (those sent before it listened: lost)
    assert p1[f"cat021_127.0.0.1:{adsb_port}_reports"] > 10
    assert p1[f"cat021_127.0.0.1:{adsb_port}_errors"] == 0
    assert p1["adsb_live_reports"] > 10
    assert result["nodes"]["C0"]["counters"]["batches"] > 0
    _on_the_line(seen)  # the coordinator's picture holds the aircraft


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
    stop = threading.Event()
    sender = threading.Thread(target=_send_tracks, args=(port, stop))
    sender.start()
    seen: list[dict[str, Any]] = []
    live = tmp_path / "live"
    try:
        result = _run_up(scenario, live, _watch_map(live, "C0", seen), duration_s=60, web=True)
    finally:
        stop.set()
        sender.join()
    assert result["ok"], result
    p1 = result["nodes"]["P1"]["counters"]
    assert p1["cat062_P1-SDPS_records"] >= 5  # those sent before the node listened are lost
    assert p1.get("cat062_P1-SDPS_errors", 0) == 0
    assert p1["system_tracks"] > 0 and p1["released_tracks"] > 0
    _on_the_line(seen)


def _plots_scenario(tmp: Path) -> Path:
    """P1 with two simulated radars (clutter and a few drones in view), 16 s."""
    path = tmp / "plots_out.yaml"
    path.write_text(f"""
name: plots_out
start_utc: "2024-04-13T07:35:00Z"
duration_s: 16
seed: 11
coordinator: {{name: C0, assess_s: 2}}
partners:
  - name: P1
    release_s: 2
    sensors:
      - {{id: P1-R0, site: {{lat_deg: {SITE[0]}, lon_deg: {SITE[1]}, alt_m: {SITE[2]}}},
         range_km: 150, scan_s: 2, clutter_per_scan: 4}}
      - {{id: P1-R1, site: {{lat_deg: 32.3, lon_deg: 35.2, alt_m: 250}}, range_km: 150,
         scan_s: 1.5, clutter_per_scan: 4}}
raids:
  - {{name: uav, threat: drone, count: 3, first_launch_s: 0, spacing_s: 1,
     launch: {{lat_deg: 32.1, lon_deg: 35.3, radius_km: 5}}, targets: [Area]}}
defended_areas:
  - {{name: Area, owner: P1, circle: {{lat_deg: 31.9, lon_deg: 34.9, radius_km: 10}}}}
""")
    return path


def test_a_live_partner_sends_its_radars_plots_as_cat048_on_udp(
    nats_server_bin: str, tmp_path: Path
) -> None:
    """``mead up`` with P1's ``asterix_plots_out`` aimed at a UDP socket of the test: every
    scan P1's two radars measured arrives as CAT048 (SAC 25, SIC 20 + radar index) with
    the scan's plots — ρ within 1/512 NM, θ within 360/2¹⁷ deg, time within 1/256 s, flight
    level within 12.5 ft of the altitude the elevation gives — read alike by MEAD's fast
    path and libasterix; the scans come from the same seeded simulation the node ran."""
    from mead.errors import AsterixError
    from mead.runtime.simulation import prepare
    from mead.scenario import load_scenario
    from mead.sensors import asterix as ax

    scenario = _plots_scenario(tmp_path)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    datagrams: list[bytes] = []

    def receive() -> None:
        try:
            datagrams.append(rx.recv(65535))
        except TimeoutError:
            pass

    target = {"udp": f"127.0.0.1:{rx.getsockname()[1]}", "sac": 25, "sic": 20}
    try:
        result = _run_up(scenario, tmp_path / "live", receive,
                         node_extra={"P1": {"asterix_plots_out": [target]}})  # fmt: skip
        while len(datagrams) < result["nodes"]["P1"]["counters"].get("cat048_datagrams", 0):
            datagrams.append(rx.recv(65535))  # what is still queued (a timeout fails)
    finally:
        rx.close()
    assert result["ok"], result
    p1 = result["nodes"]["P1"]["counters"]
    assert p1.get("cat048_errors", 0) == 0 and p1["cat048_datagrams"] == len(datagrams)
    blocks = [b for d in datagrams for b in ax.iter_blocks(d)]
    assert blocks and all(isinstance(b, ax.Block) and b.category == 48 for b in blocks)
    plots = ax.decode048_blocks(blocks)
    assert not plots.errors and len(plots) == p1["cat048_plots"] > 0
    for b in blocks[:2]:  # libasterix reads what the fast path reads
        lib, fast = ax.decode_library(b), ax.decode048(b.data)  # type: ignore[union-attr]
        assert not isinstance(lib, AsterixError) and len(lib) == len(fast)
        for i, r in enumerate(lib):
            for key in ("sac", "sic", "tod_s", "rho_nm", "theta_deg", "fl"):
                assert getattr(fast, key)[i] == pytest.approx(r[key], abs=1e-9), key
    # what the node's radars measured: the same seeded simulation, run here
    sc = load_scenario(scenario)
    world = prepare(sc, sc.seed, scenario, live=True)
    radars = [s.id for s in sc.partners[0].sensors]
    measured = {(radars.index(s.sensor_id), round(s.t * 128)): s
                for s in world.scans if s.partner == "P1" and len(s.z)}  # fmt: skip
    epoch_tod = sc.start_epoch_s() % 86400.0
    sac, sic = np.asarray(plots.sac), np.asarray(plots.sic)
    tod = np.asarray(plots.tod_s)
    assert set(sac) == {25} and set(sic) == {20, 21}  # both radars, SIC 20 + k
    times = np.round((tod - epoch_tod) * 128).astype(int)  # scenario s × 128
    got = sorted({(int(k), int(t)) for k, t in zip(sic - 20, times, strict=True)})
    assert len(got) >= 12  # 16 s of two radars' scans
    last = max(measured[g].t for g in got)
    assert got == sorted(k for k, s in measured.items() if s.t <= last)  # every scan, in full
    for k, t128 in got:
        scan = measured[(k, t128)]
        mine = (sic == 20 + k) & (times == t128)
        assert np.all(np.abs(tod[mine] - (epoch_tod + scan.t)) <= 1 / 256 + 1e-9)
        order = np.argsort(scan.z[:, 0])
        z = scan.z[order]
        rho = np.asarray(plots.rho_nm)[mine] * 1852.0
        th = np.asarray(plots.theta_deg)[mine]
        fl = np.asarray(plots.fl)[mine]
        back = np.argsort(rho)
        assert len(rho) == len(z)
        np.testing.assert_allclose(rho[back], z[:, 0], atol=1852 / 512 + 1e-6)
        dth = (th[back] - np.degrees(z[:, 1]) + 180.0) % 360.0 - 180.0
        assert np.all(np.abs(dth) <= 360 / 2**17 + 1e-9)
        alt_ft = ax.el2alt_m(z[:, 0], z[:, 2], scan.site_alt_m) / 0.3048
        np.testing.assert_allclose(fl[back] * 100.0, np.clip(alt_ft, -1200, 127000),
                                   atol=12.5 + 1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"P9": {}}, "no node 'P9'"),
        ({"P1": {"speed": 2.0}}, "speed: set by mead up itself"),
        ({"P1": {"asterix_plots_out": [{"udp": "127.0.0.1:9", "sac": 300, "sic": 1}]}},
         r"\$\.asterix_plots_out\[0\]\.sac"),
        ({"P1": {"asterix_plot_out": []}}, "unknown field `asterix_plot_out`"),
    ],
)  # fmt: skip
def test_bad_node_extra_is_named_before_anything_starts(
    tmp_path: Path, extra: dict[str, Any], names: str
) -> None:
    from mead.errors import ConfigError

    with pytest.raises(ConfigError, match=names):
        up(_plots_scenario(tmp_path), tmp_path / "live", node_extra=extra)
    assert not (tmp_path / "live").exists()  # no server, no node was started


def test_mead_up_node_config_option_names_a_bad_argument(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "p1.yaml"
    bad.write_text("- not a mapping\n")
    for arg, names in (("P1", "expected NODE=FILE"), (f"P1={bad}", "expected a mapping")):
        run = subprocess.run(
            [sys.executable, "-m", "mead.cli", "up", str(_plots_scenario(tmp_path)),
             "--workdir", str(tmp_path / "live"), "--node-config", arg],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode != 0 and names in run.stderr, run.stderr
