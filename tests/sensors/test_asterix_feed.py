"""ASTERIX feeds as partner radars: a recording replayed on the scenario clock into a node,
a UDP feed decoded into scans, CAT034 status, and configuration errors that name the field."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from mead import geo
from mead.errors import ConfigError
from mead.events import Event, Health
from mead.federation.envelope import Opener
from mead.federation.identity import KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.interop import asterix as out
from mead.runtime.simulation import SimClock, prepare
from mead.runtime.wiring import build_partner, policies, sim_identities
from mead.scenario import load_scenario
from mead.scenario.schema import AsterixFeed, Sensor
from mead.sensors import asterix as ax
from mead.sensors.asterix_feed import UdpFeed, antenna_period_s
from mead.tracking.tracker import Tracker

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "asterix_pcap.yaml"
PCAP = Path("/work/shared/data/asterix/cat_034_048.pcap")
T0 = 1_700_000_000.0  # UTC s


def test_a_node_fed_from_a_pcap_tracks_its_plots(tmp_path: Path) -> None:
    # the example scenario names the recording relative to a checkout beside shared/;
    # the test reads it where the shared data is, wherever the checkout is
    text = SCENARIO.read_text()
    assert "file: ../../shared/data/asterix/cat_034_048.pcap" in text
    scenario = tmp_path / "asterix_pcap.yaml"
    scenario.write_text(text.replace("../../shared/data/asterix/cat_034_048.pcap", str(PCAP)))
    sc = load_scenario(scenario)
    world = prepare(sc, sc.seed, scenario)
    # every scan is the recording's radar 25/12, none simulated; the first at start_s
    plots = ax.decode048_blocks(ax.read_blocks(PCAP))
    own = sum(1 for a, b in zip(plots.sac, plots.sic, strict=True) if (a, b) == (25, 12))
    assert own == 38
    assert {s.sensor_id for s in world.scans} == {"P1-ASX"}
    assert sum(len(s.z) for s in world.scans) == own
    assert world.scans[0].t == pytest.approx(5.0)
    # CAT034 of that radar: sector crossings every 11.25° in 0.15625 s → a 5 s antenna
    (rec,) = world.recorded
    assert rec.status.messages["north_marker"] == 2
    assert rec.status.antenna_period_s == pytest.approx(5.0)
    assert rec.errors == []
    # its I034/050: system released (NOGO 0), Mode S on channel B, nothing overloaded
    assert (rec.status.state, rec.status.why) == ("operational", "")
    # the partner node steps through the run on the scenario clock and tracks the plots
    clock = SimClock(sc.start_epoch_s())
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    ids = sim_identities(sc, 1)
    node = build_partner(
        sc, "P1", identity=ids["P1"], endpoint=bus.connect("P1"),
        opener=Opener(KeyRegistry({n: i.verify_key for n, i in ids.items()}), 300.0, clock),
        policy=policies(sc, scenario)["P1"], scans=iter(world.scans), epoch_s=clock.epoch_s,
    )  # fmt: skip
    for t in np.arange(0.0, 10.0, sc.tick_s):
        clock.t = float(t)
        node.step(clock())
    assert node.counters["scans"] == len(world.scans) == 2
    assert node.tracker.n_tracks >= 30  # ~1 s of a rotating radar: tentative tracks only


def test_antenna_period_from_sector_crossings() -> None:
    # 8 sectors of 45° in 1.5 s each: a 12 s antenna, across north
    crossings = {100.0 + 1.5 * k: (270.0 + 45.0 * k) % 360 for k in range(8)}
    assert antenna_period_s(crossings) == pytest.approx(12.0)
    assert np.isnan(antenna_period_s({1.0: 10.0}))


def _flight(n: int, scan_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A target flying east at 250 m/s, 9 km up, seen from the origin: times, ENU, RAE."""
    t = T0 + scan_s * np.arange(n)
    enu = np.column_stack([20e3 + 250.0 * (t - T0), np.full(n, 60e3), np.full(n, 9000.0)])
    return t, enu, geo.enu2rae(enu)


def _udp_sensor(radar: str | None = "1/2") -> Sensor:
    feed = {"udp": "127.0.0.1:1", **({"radar": radar} if radar else {})}
    return msgspec.convert(
        {"id": "R1", "site": {"lat_deg": 32.0, "lon_deg": 35.0, "alt_m": 100.0},
         "sigma_az_deg": 0.1, "sigma_el_deg": 0.5, "asterix": feed}, Sensor,
    )  # fmt: skip


def test_udp_feed_turns_datagrams_into_scans_on_the_scenario_clock() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    now = {"t": 500.0}
    feed = UdpFeed(_udp_sensor(), "P1", lambda: now["t"], sock=rx)
    t, enu, rae = _flight(15, 4.0)
    # the first datagram arrives at scenario 500 s: the feed's times of day anchor there
    for i in range(15):
        feed.take(out.encode048(t[i : i + 1], rae[i : i + 1], (1, 2), np.array([295.3])),
                  500.0 + 4.0 * i)  # fmt: skip
    feed.take(out.encode048(t[:1], rae[:1], (9, 9)), 500.0)  # another radar: not ours
    feed.take(b"\x30\x00\x10\x01", 501.0)  # a corrupt block: counted, skipped
    scans = feed.ready(500.0 + 4.0 * 14 + 1.0)
    rx.close()
    assert [round(s.t, 3) for s in scans] == [500.0 + 4.0 * i for i in range(15)]
    assert feed.counters["plots"] == 15 and feed.counters["errors"] == 1
    assert "block length 16 does not fit" in str(feed.errors[0])
    assert feed.ready(1000.0) == []  # nothing handed out twice
    tracker = Tracker("P1")
    for s in scans:
        tracker.step(s)
    assert tracker.n_confirmed == 1
    x = tracker.report(scans[-1].t).x[0]
    assert np.linalg.norm(x[:3] - geo.enu2ecef(enu[-1], 32.0, 35.0, 100.0)) < 500.0


def test_udp_feed_holds_a_scan_until_its_window_closes() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    feed = UdpFeed(_udp_sensor(None), "P1", lambda: 0.0, sock=rx)
    t, _, rae = _flight(2, 0.2)  # two plots 0.2 s apart: one scan (max_spread_s 0.5)
    feed.take(out.encode048(t, rae, (1, 2)), 10.0)
    assert feed.ready(10.3) == []  # its window (0.5 s) is still open
    (scan,) = feed.ready(10.6)
    rx.close()
    assert len(scan.z) == 2 and scan.t == pytest.approx(10.1, abs=1 / 128)  # I140 resolution
    assert scan.delay_s == pytest.approx(0.5, abs=1 / 128)


def test_udp_feed_receives_on_its_socket() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    feed = UdpFeed(_udp_sensor(), "P1", lambda: 42.0, sock=rx).start()
    sender = out.UdpSender(feed.address)
    t, _, rae = _flight(3, 4.0)
    try:
        sender.send(out.encode048(t, rae, (1, 2)))
        for _ in range(100):
            if feed.counters["plots"] or feed.queued:
                break
            import time

            time.sleep(0.02)
        scans = feed.ready(100.0)
    finally:
        sender.close()
        feed.close()
    assert sum(len(s.z) for s in scans) == 3


@pytest.mark.parametrize(
    ("feed", "field"),
    [
        ("{file: a.ast, udp: '127.0.0.1:8600'}", "exactly one of file or udp"),
        ("{file: a.ast, radar: '25/300'}", "radar"),
        ("{udp: '127.0.0.1:70000'}", "udp"),
        ("{udp: 'nowhere'}", "udp"),
        ("{file: a.ast, max_spread_s: 0}", "max_spread_s"),
    ],
)
def test_feed_config_errors_name_the_field(tmp_path: Path, feed: str, field: str) -> None:
    text = SCENARIO.read_text().split("        asterix:")[0] + f"        asterix: {feed}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=field):
        load_scenario(path)


def test_a_simulation_cannot_read_udp_and_a_missing_recording_is_named(tmp_path: Path) -> None:
    head = SCENARIO.read_text().split("        asterix:")[0]
    path = tmp_path / "s.yaml"
    path.write_text(head + "        asterix: {udp: '127.0.0.1:8600'}\n")
    sc = load_scenario(path)
    with pytest.raises(ConfigError, match=r"only a live node.*sensors\[0\]\.asterix\.udp"):
        prepare(sc, 1, path)
    path.write_text(head + "        asterix: {file: missing.pcap}\n")
    with pytest.raises(ConfigError, match="missing.pcap.*no such ASTERIX recording"):
        prepare(load_scenario(path), 1, path)


@pytest.mark.parametrize(
    "status, state, why",
    [
        ({"COM": {"NOGO": 0}, "MDS": {"CHAB": 2}}, "operational", ""),
        ({"COM": {"NOGO": 1}, "MDS": {"CHAB": 2}}, "down", "inhibited"),
        ({"COM": {}, "PSR": {"CHAB": 0}, "SSR": {"CHAB": 0}}, "down", "primary, secondary"),
        ({"COM": {}, "PSR": {"CHAB": 0}, "SSR": {"CHAB": 3}}, "degraded", "primary"),
        ({"COM": {"OVLRDP": 1}, "PSR": {"CHAB": 1}}, "degraded", "overload: RDP"),
        ({"COM": {}, "MDS": {"CHAB": 1, "OVLSUR": 1}}, "degraded", "overload: Mode S"),
        ({"COM": {"TSV": 1, "MSC": 1}}, "degraded", "time source invalid"),
        ({"COM": {"MSC": 1}, "SSR": {"CHAB": 1, "MSC": 1}}, "operational", ""),
    ],
)  # fmt: skip
def test_radar_state_from_its_cat034_system_status(
    status: dict[str, dict[str, int]], state: str, why: str
) -> None:
    """I034/050, as a radar sends it (encoded and decoded by libasterix): NOGO or every
    chain without a channel is down; one chain without, an overload or a bad time source
    degraded; the monitoring system's disconnection says nothing of the radar."""
    feed = UdpFeed(_udp_sensor(), "P1", lambda: 0.0, sock=_socket())
    feed.take(out.encode034(T0, (1, 2), 1, status), 1.0)
    feed.take(out.encode034(T0, (9, 9), 1, {"COM": {"NOGO": 1}}), 1.0)  # another radar's
    feed.close()
    assert feed.status.state == state and why in feed.status.why
    assert feed.radar_state(2.0) == (state, 0.0 if state == "down" else 1.0)


def _socket() -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    return rx


def test_a_live_radar_reports_its_state_from_its_own_feed() -> None:
    """A partner whose radar is a UDP feed (real socket): the radar's health follows the
    feed — operational while north markers come, down while I034/050 says NOGO, back when
    cleared, and down once the feed has been silent for three antenna turns."""
    sc = load_scenario(ROOT / "scenarios" / "asterix_pcap.yaml")
    sensor = msgspec.structs.replace(_udp_sensor(), id=sc.partners[0].sensors[0].id)
    now = {"t": 0.0}
    feed = UdpFeed(sensor, "P1", lambda: now["t"], sock=_socket()).start()
    sender = out.UdpSender(feed.address)
    clock = SimClock(sc.start_epoch_s())
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    ids = sim_identities(sc, 1)
    events: list[Event] = []
    node = build_partner(
        sc, "P1", identity=ids["P1"], endpoint=bus.connect("P1"),
        opener=Opener(KeyRegistry({n: i.verify_key for n, i in ids.items()}), 300.0, clock),
        policy=policies(sc, None)["P1"], scans=iter(()), epoch_s=clock.epoch_s, feeds=[feed],
        emit=events.append,
    )  # fmt: skip
    try:
        for t in np.arange(0.0, 80.0, 1.0):
            now["t"], clock.t = float(t), float(t)
            if t < 50.0 and t % 5 == 0:  # a north marker every 5 s, until the feed stops
                nogo = int(20.0 <= t < 30.0)
                status = {"COM": {"NOGO": nogo}, "MDS": {"CHAB": 1}}
                sender.send(out.encode034(T0 + t, (1, 2), 1, status))
                _wait_queued(feed)
            node.step(clock())
    finally:
        feed.close()
        sender.close()
    changes = [(e.t - clock.epoch_s, e.state) for e in events if isinstance(e, Health)]
    # released every 5 s (release_s), so each change is seen at the next release
    assert [c[1] for c in changes] == ["down", "operational", "down"], changes
    (down1, _), (up, _), (down2, _) = changes
    assert 20.0 <= down1 <= 25.0 and 30.0 <= up <= 35.0
    # silent after the datagram at 45 s: three turns of its 5 s revisit (15 s) later
    assert 60.0 < down2 <= 65.0


def _wait_queued(feed: UdpFeed) -> None:
    for _ in range(200):
        if feed.queued:
            return
        time.sleep(0.005)
    raise AssertionError("the datagram did not arrive")


def test_a_radar_feed_joins_its_multicast_group_on_the_configured_interface() -> None:
    """``asterix: {udp: group:port, iface: 127.0.0.1}``: the node's feed joins the group on
    loopback and the radar's CAT048 sent to the group there arrives as plots."""
    from tests.sensors.test_adsb_udp import _loopback_sender, _multicast_on_loopback_refused

    refused = _multicast_on_loopback_refused()
    if refused:
        pytest.skip(f"the kernel does not deliver multicast on loopback ({refused})")
    group = "239.255.48.48"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    sensor = msgspec.structs.replace(
        _udp_sensor(),
        asterix=msgspec.structs.replace(
            _udp_sensor().asterix, udp=f"{group}:{port}", iface="127.0.0.1"
        ),
    )
    feed = UdpFeed(sensor, "P1", lambda: 42.0).start()
    t, _, rae = _flight(3, 4.0)
    try:
        with _loopback_sender() as tx:
            tx.sendto(out.encode048(t, rae, (1, 2)), (group, port))
            _wait_queued(feed)
        feed.ready(100.0)
    finally:
        feed.close()
    assert feed.counters["plots"] == 3


def test_a_bad_multicast_interface_is_named() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"iface"):
        msgspec.convert({"udp": "239.1.2.3:8600", "iface": "lo"}, AsterixFeed)


def test_a_recorded_radar_reports_its_state_from_its_cat034(tmp_path: Path) -> None:
    """A recording (raw ASTERIX) of radar 1/2: a plot and a north marker every 5 s, 12
    of each, I034/050 NOGO from the 5th to the 6th; then the recording ends. Replayed from
    scenario time 5 s (so its last plot is at 60 s), the radar reports itself as the
    recording says: down while NOGO (25–35 s), back when cleared, and down once silent
    for three turns of its 5 s revisit (after 75 s) — and the partner node's health events
    follow, as for a live feed."""
    t, _, rae = _flight(12, 5.0)
    data = b""
    for k in range(12):
        nogo = int(20.0 <= t[k] - T0 < 30.0)
        data += out.encode034(float(t[k]), (1, 2), 1, {"COM": {"NOGO": nogo}, "MDS": {"CHAB": 1}})
        data += out.encode048(t[k : k + 1], rae[k : k + 1], (1, 2))
    rec = tmp_path / "radar.ast"
    rec.write_bytes(data)
    text = SCENARIO.read_text().replace("../../shared/data/asterix/cat_034_048.pcap", str(rec))
    text = text.replace("radar: 25/12", "radar: 1/2").replace("duration_s: 60", "duration_s: 100")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    sc = load_scenario(path)
    world = prepare(sc, sc.seed, path)
    (r,) = world.recorded
    assert [s.t for s in world.scans] == pytest.approx([5.0 + 5.0 * k for k in range(12)])
    states = {s: r.radar_state(s)[0] for s in (10.0, 26.0, 34.0, 40.0, 74.0, 76.0, 90.0)}
    assert states == {10.0: "operational", 26.0: "down", 34.0: "down", 40.0: "operational",
                      74.0: "operational", 76.0: "down", 90.0: "down"}  # fmt: skip
    # the status keeps the changes only: down (NOGO) and operational again
    assert [st for _, st, _ in r.status.history] == ["down", "operational"]
    assert "NOGO" in r.status.history[0][2]

    from mead.runtime.simulation import run_mode

    res = run_mode(world, "national")
    health = [(e.t - sc.start_epoch_s(), e.state) for e in res.events if isinstance(e, Health)]
    assert [s for _, s in health if s] == ["down", "operational", "down"], health
    assert 25.0 <= health[0][0] <= 30.0 and 35.0 <= health[1][0] <= 40.0  # release_s 2
    assert 75.0 < health[2][0] <= 80.0
