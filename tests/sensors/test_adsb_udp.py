"""Live ADS-B as ASTERIX CAT021 on UDP (``partners[].adsb_udp``): datagrams sent over
loopback are decoded onto the scenario clock and reach a partner node's ADS-B reports,
where the cooperative identification reads them; a corrupt datagram between good ones is
reported and skipped; the schema refuses a bad host:port and a simulation refuses the
socket."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.errors import ConfigError
from mead.federation.envelope import Opener
from mead.federation.identity import KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.interop.asterix import UdpSender, encode021
from mead.runtime.simulation import SimClock, prepare
from mead.runtime.wiring import build_partner, policies, sim_identities
from mead.scenario import load_scenario
from mead.scenario.schema import Civil
from mead.sensors.adsb_asterix import AdsbUdpFeed, adsb_udp_feeds
from mead.sensors.adsb_replay import AdsbRecording
from mead.sensors.asterix_feed import open_udp
from mead.threat.cooperative import CIVIL, CooperativeId

DATA = Path(__file__).resolve().parents[1] / "data" / "asterix"
T0 = 1_700_000_000.0  # UTC s: time of day 80 000 s
ICAO = 0x738043
CORRUPT = b"\x15\x00\x40\x01"  # a CAT021 block whose length (64) runs past the datagram


def _flight(n: int, period_s: float = 5.0) -> AdsbRecording:
    """One airliner flying east at 230 m/s, 10 km up, a report every ``period_s``."""
    t = T0 + period_s * np.arange(n)
    lon = 35.0 + 230.0 * (t - T0) / (111_320.0 * np.cos(np.radians(32.0)))
    return AdsbRecording(
        t=t, icao=np.full(n, ICAO, np.uint32), callsign=np.full(n, "ELY1747", "<U8"),
        lat_deg=np.full(n, 32.0), lon_deg=lon, alt_m=np.full(n, 10_000.0),
        gs_mps=np.full(n, 230.0), track_deg=np.full(n, 90.0), vrate_mps=np.zeros(n),
        onground=np.zeros(n, bool),
    )  # fmt: skip


def _rows(rec: AdsbRecording, rows: slice) -> AdsbRecording:
    import dataclasses

    return AdsbRecording(**{f.name: getattr(rec, f.name)[rows] for f in dataclasses.fields(rec)})


def _wait(feed: AdsbUdpFeed, n: int) -> None:
    """Until ``n`` datagrams wait on the feed (loopback: milliseconds)."""
    for _ in range(250):
        if feed.queued >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{feed.queued} of {n} datagrams arrived")


def _send_raw(address: tuple[str, int], datagram: bytes) -> None:
    """One datagram as it is (``UdpSender`` frames blocks, and cannot send a torn one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(datagram, address)


def _loopback() -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    return rx


def test_cat021_datagrams_on_udp_become_reports_on_the_scenario_clock() -> None:
    now = {"t": 100.0}
    feed = AdsbUdpFeed("127.0.0.1:0", "P1", lambda: now["t"], Civil(), sock=_loopback()).start()
    flight = _flight(4)
    sender = UdpSender(feed.address)
    try:
        sender.send(encode021(_rows(flight, slice(0, 2)), (25, 100)))
        _wait(feed, 1)
        now["t"] = 107.0  # the station's spacing is kept, not the arrival's
        _send_raw(feed.address, CORRUPT)
        sender.send(encode021(_rows(flight, slice(2, 4)), (25, 100)))
        _wait(feed, 3)
        reports = feed.ready()
    finally:
        sender.close()
        feed.close()
    # the good datagrams' four reports, the first anchored at its arrival (scenario 100 s)
    assert reports.partners == ("P1",) and len(reports) == 4
    np.testing.assert_allclose(reports.t, [100.0, 105.0, 110.0, 115.0], atol=1 / 128)
    assert reports.icao.tolist() == [ICAO] * 4 and set(reports.callsign) == {"ELY1747"}
    lat, lon, alt = geo.ecef2geodetic(reports.ecef)
    np.testing.assert_allclose(lat, flight.lat_deg, atol=1e-6)
    np.testing.assert_allclose(lon, flight.lon_deg, atol=1e-6)
    np.testing.assert_allclose(alt, 10_000.0, atol=7.7)  # I145: quarter flight levels
    assert np.linalg.norm(reports.vel[0]) == pytest.approx(230.0, abs=0.5)
    # the corrupt datagram: counted, named, skipped
    assert feed.counters["datagrams"] == 3 and feed.counters["reports"] == 4
    assert feed.counters["errors"] == 1
    assert "CAT021 block at byte 0: block length 64 does not fit" in str(feed.errors[0])
    assert len(feed.ready()) == 0  # nothing handed out twice


def test_the_reference_cat021_file_decodes_from_a_datagram() -> None:
    """libasterix's CAT021 records (ED 2.6, I131), their times of day on either side of
    midnight: one datagram, times unwrapped and anchored at its arrival."""
    feed = AdsbUdpFeed("127.0.0.1:0", "P2", lambda: 0.0, Civil(), sock=_loopback())
    reports = feed.take((DATA / "cat021_ed2.6_i131_libasterix.ast").read_bytes(), 50.0)
    feed.close()
    assert feed.counters["errors"] == 0 and len(reports) == 3
    assert 0x738043 in reports.icao.tolist() and 0x7C1234 in reports.icao.tolist()
    assert reports.t[0] == pytest.approx(50.0) and np.all(np.diff(reports.t) >= 0)
    lat, lon, _ = geo.ecef2geodetic(reports.ecef[reports.icao == 0x738043])
    assert (lat[0], lon[0]) == pytest.approx((32.0114, 34.8867), abs=1e-6)


def _scenario(tmp_path: Path, adsb_udp: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""
name: live_adsb
start_utc: "2024-04-13T23:00:00Z"
duration_s: 600
coordinator: {{name: C0}}
partners:
  - {{name: P1, adsb_udp: [{adsb_udp}]}}
  - {{name: P2}}
""")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_live_node_identifies_by_the_cat021_it_receives(tmp_path: Path) -> None:
    port = _free_port()
    path = _scenario(tmp_path, f"'127.0.0.1:{port}'")
    sc = load_scenario(path)
    world = prepare(sc, sc.seed, path, live=True)
    clock = SimClock(sc.start_epoch_s())
    feeds = adsb_udp_feeds(sc, "P1", lambda: clock.t)
    assert [f.address for f in feeds] == [("127.0.0.1", port)]
    ids = sim_identities(sc, 1)
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    node = build_partner(
        sc, "P1", identity=ids["P1"], endpoint=bus.connect("P1"),
        opener=Opener(KeyRegistry({n: i.verify_key for n, i in ids.items()}), 300.0, clock),
        policy=policies(sc, path)["P1"], scans=iter(()), epoch_s=clock.epoch_s,
        adsb=world.adsb, adsb_feeds=feeds,
    )  # fmt: skip
    simulated = len(node.adsb) if node.adsb is not None else 0
    flight = _flight(4)
    sender = UdpSender(("127.0.0.1", port))
    try:
        clock.t = 200.0
        sender.send(encode021(_rows(flight, slice(0, 2)), (25, 100)))
        _send_raw(("127.0.0.1", port), b"\x15\x00")  # a truncated block header
        sender.send(encode021(_rows(flight, slice(2, 4)), (25, 100)))
        _wait(feeds[0], 3)
        node.step(clock())  # the first step releases: the reports join the node's ADS-B
    finally:
        sender.close()
        for f in feeds:
            f.close()
    assert node.adsb is not None and len(node.adsb) == simulated + 4
    assert node.counters["adsb_live_reports"] == 4
    live = node.adsb.take(node.adsb.icao == ICAO)
    np.testing.assert_allclose(live.t - clock.epoch_s, [200.0, 205.0, 210.0, 215.0], atol=0.01)
    assert set(live.partners[k] for k in live.partner) == {"P1"}
    assert feeds[0].counters["errors"] == 1
    assert "truncated block header (2 of 3 bytes)" in str(feeds[0].errors[0])
    # the cooperative identification reads them as it reads simulated or recorded ADS-B:
    # a track where the airliner says it is becomes civil on the second correlation
    coop = CooperativeId()
    P = np.diag([200.0**2] * 3 + [20.0**2] * 3)[None]
    for k in (2, 3):
        x = np.concatenate([live.ecef[k], live.vel[k]])[None]
        ident = coop.step(float(live.t[k]), ["T1"], x, P, node.adsb).ident
    assert ident.tolist() == [CIVIL]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("nowhere", "adsb_udp\\[0\\]"),
        ("'127.0.0.1:70000'", "port must be 1..65535.*adsb_udp\\[0\\]"),
        ("'239.1.2.3:0'", "port must be 1..65535.*adsb_udp\\[0\\]"),
    ],
)
def test_the_schema_refuses_a_bad_host_port(tmp_path: Path, value: str, detail: str) -> None:
    with pytest.raises(ConfigError, match=detail) as e:
        load_scenario(_scenario(tmp_path, value))
    assert e.value.path == "$.partners[0].adsb_udp[0]"


def test_a_simulation_refuses_adsb_by_udp(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "'239.1.2.3:8021'")
    sc = load_scenario(path)
    assert sc.partners[0].adsb_udp == ["239.1.2.3:8021"]
    with pytest.raises(ConfigError, match=r"P1.*only a live node.*partners\[0\]\.adsb_udp"):
        prepare(sc, 1, path)


GROUP = "239.255.21.21"  # organisation-local scope: never routed off the host here (TTL 1)


def _loopback_sender() -> socket.socket:
    """A socket that sends multicast out of the loopback interface and loops it back."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return tx


def _multicast_on_loopback_refused() -> str | None:
    """Why this kernel does not deliver multicast over loopback, or None if it does: a
    plain socket joins a group on 127.0.0.1's interface and sends itself a datagram."""
    import struct

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, _loopback_sender() as tx:
            rx.bind(("", 0))
            mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1"))
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            rx.settimeout(2.0)
            tx.sendto(b"probe", (GROUP, rx.getsockname()[1]))
            rx.recvfrom(16)
    except OSError as e:  # refused join or send, or nothing came back (timeout)
        return f"{type(e).__name__}: {e}"
    return None


def test_cat021_sent_to_a_multicast_group_on_loopback_reaches_the_feed() -> None:
    """The feed's socket joins a multicast group on the loopback interface (``open_udp``
    with ``iface``); CAT021 sent to the group arrives as reports, as on a station's LAN."""
    refused = _multicast_on_loopback_refused()
    if refused:
        pytest.skip(f"the kernel does not deliver multicast on loopback ({refused})")
    sock = open_udp(f"{GROUP}:0", iface="127.0.0.1")
    port = sock.getsockname()[1]
    feed = AdsbUdpFeed(f"{GROUP}:{port}", "P1", lambda: 10.0, Civil(), sock=sock).start()
    flight = _flight(3)
    try:
        with _loopback_sender() as tx:
            tx.sendto(encode021(_rows(flight, slice(0, 3)), (25, 100)), (GROUP, port))
            _wait(feed, 1)
        reports = feed.ready()
    finally:
        feed.close()
    assert len(reports) == 3 and reports.icao.tolist() == [ICAO] * 3
    np.testing.assert_allclose(reports.t, [10.0, 15.0, 20.0], atol=1 / 128)
    assert feed.counters["datagrams"] == 1 and feed.counters["errors"] == 0
