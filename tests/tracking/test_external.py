"""A partner's national system tracks (ASTERIX CAT062) as its tracks: MEAD → CAT062 → MEAD
keeps states within the format's resolution, tracks age out or end, a partner fed only a
recording releases them to the coordinator, and a UDP feed on loopback reports them."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from mead import geo
from mead.errors import AsterixError, ConfigError
from mead.interop import asterix as out
from mead.runtime.simulation import prepare, run_mode
from mead.scenario import load_scenario
from mead.scenario.schema import TrackFeed
from mead.sensors import asterix as ax
from mead.sensors.asterix062 import decode062_blocks
from mead.tracking.external import SystemTracks, UdpTrackFeed, track_replays

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "asterix_tracks.yaml"
PCAP = Path("/work/shared/data/asterix/cat062_ed0.17_100pkts.pcap")
T0 = 1_700_000_000.0  # UTC s
RES_DEG = 180.0 / 2**25  # I062/105
FT = 0.3048


def _feed(**kw: Any) -> TrackFeed:
    return msgspec.convert({"id": "SDPS", "file": "x.ast"} | kw, TrackFeed)


def _flights(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n aircraft: geodetic (n, 3), ENU velocity (n, 3), ECEF states (n, 6)."""
    lla = np.column_stack([rng.uniform(-75, 75, n), rng.uniform(-180, 180, n),
                           rng.uniform(0, 15000, n)])  # fmt: skip
    v_enu = np.column_stack([rng.uniform(-300, 300, (n, 2)), rng.uniform(-20, 20, n)])
    R = geo.enu_rotations(lla[:, 0], lla[:, 1])
    vel = np.einsum("nji,nj->ni", R, v_enu)
    return lla, v_enu, np.hstack([geo.geodetic2ecef(*lla.T), vel])


def _enu_error(x: np.ndarray, ref: np.ndarray, lla: np.ndarray) -> np.ndarray:
    """(n, 6) east/north/up errors of position and velocity of x against ref."""
    R = geo.enu_rotations(lla[:, 0], lla[:, 1])
    d = x - ref
    return np.hstack([np.einsum("nij,nj->ni", R, d[:, :3]), np.einsum("nij,nj->ni", R, d[:, 3:])])


def test_round_trip_keeps_states_within_the_format_resolution() -> None:
    rng = np.random.default_rng(11)
    n = 400
    lla, _, states = _flights(n, rng)
    t = T0 + np.floor(rng.uniform(0, 86400, n) * 128) / 128  # on the 1/128 s grid
    data = out.encode062(np.arange(n), t, states, (25, 7), ["ELY1747"] * n)
    tracks = decode062_blocks(ax.iter_blocks(data))
    assert len(tracks) == n and not tracks.errors
    src = SystemTracks(_feed(max_age_s=1e6), "P1")
    src.take(tracks, t - T0)  # each record at its own time
    rep = src.report(float(t.max() - T0))
    order = np.argsort([int(i[-5:]) for i in rep.ids])  # ids end in the track number
    x = rep.x[order]
    # predicted to one time: take each record back to its own time to compare
    x[:, :3] -= x[:, 3:] * (t.max() - t)[:, None]
    err = np.abs(_enu_error(x, states, lla))
    m_per_deg = 111_320.0
    assert err[:, 1].max() <= RES_DEG / 2 * m_per_deg * 1.01  # north: half an LSB
    assert np.all(err[:, 0] <= RES_DEG / 2 * m_per_deg * np.cos(np.radians(lla[:, 0])) + 0.01)
    assert err[:, 2].max() <= 6.25 * FT / 2 + 1e-3  # I062/130: 6.25 ft
    assert err[:, 3:5].max() <= 0.25 / 2 + 1e-6  # I062/185: 0.25 m/s
    assert err[:, 5].max() <= 6.25 * FT / 60 / 2 + 1e-6  # I062/220: 6.25 ft/min
    assert all(i.startswith("P1-SDPS-25.7-") for i in rep.ids)


def test_tracks_are_predicted_with_their_covariance_growing() -> None:
    rng = np.random.default_rng(3)
    lla, _, states = _flights(5, rng)
    tracks = decode062_blocks(ax.iter_blocks(out.encode062(np.arange(5), np.full(5, T0),
                                                           states, (1, 1))))  # fmt: skip
    src = SystemTracks(_feed(sigma_m=100.0, sigma_alt_m=200.0, sigma_vel_mps=5.0), "P1")
    src.take(tracks, np.zeros(5))
    at0, at4 = src.report(0.0), src.report(4.0)
    np.testing.assert_allclose(at4.x[:, :3], at0.x[:, :3] + 4.0 * at0.x[:, 3:], atol=1e-6)
    R = geo.enu_rotations(lla[:, 0], lla[:, 1])
    P0 = R @ at0.P[:, :3, :3] @ R.swapaxes(-1, -2)  # back to ENU
    np.testing.assert_allclose(np.sqrt(np.diagonal(P0, axis1=1, axis2=2)),
                               np.tile([100.0, 100.0, 200.0], (5, 1)), rtol=1e-9)  # fmt: skip
    P4 = R @ at4.P[:, :3, :3] @ R.swapaxes(-1, -2)
    assert np.all(P4[:, 0, 0] > P0[:, 0, 0]) and np.all(np.linalg.eigvalsh(at4.P) > 0)


def test_tracks_age_out_end_and_other_sources_are_skipped() -> None:
    rng = np.random.default_rng(4)
    _, _, states = _flights(3, rng)
    mine = decode062_blocks(ax.iter_blocks(out.encode062(np.arange(3), np.full(3, T0),
                                                         states, (25, 100))))  # fmt: skip
    other = decode062_blocks(ax.iter_blocks(out.encode062(np.arange(3), np.full(3, T0),
                                                          states, (25, 101))))  # fmt: skip
    src = SystemTracks(_feed(source="25/100", max_age_s=10.0), "P1")
    src.take(mine, np.zeros(3))
    src.take(other, np.zeros(3))
    assert src.counters["records"] == 3 and src.counters["skipped_records"] == 3
    assert len(src.report(-1.0).ids) == 0  # not yet received
    first = src.report(5.0)
    assert len(first.ids) == 3 and not first.deleted
    mine.ended[1] = True  # the tracker's last message for track 1 (I062/080 TSE)
    src.take(mine, np.full(3, 6.0))
    assert len(src.report(6.0).ids) == 2
    gone = src.report(17.0)  # 11 s since the last records
    assert gone.ids == [] and len(gone.deleted) == 2


def _observer(world: Any) -> Any:
    class Seen:
        def __init__(self) -> None:
            self.pictures: list[tuple[str, float, list[str], np.ndarray]] = []

        def __call__(self, node: str, t: float, ids: list[str], x: np.ndarray) -> None:
            self.pictures.append((node, t, list(ids), np.array(x)))

        def result(self) -> Any:
            return self.pictures

    return Seen()


def test_a_partner_fed_recorded_cat062_releases_them_to_the_coordinator(tmp_path: Path) -> None:
    text = SCENARIO.read_text()
    rel = "../../shared/data/asterix/cat062_ed0.17_100pkts.pcap"
    assert rel in text
    scenario = tmp_path / "asterix_tracks.yaml"
    scenario.write_text(text.replace(rel, str(PCAP)))
    sc = load_scenario(scenario)
    world = prepare(sc, sc.seed, scenario)
    res = run_mode(world, "alliance", observer=_observer)
    seen: list[tuple[str, float, list[str], np.ndarray]] = res.observed
    epoch = sc.start_epoch_s()
    p1 = {round(t - epoch): (ids, x) for n, t, ids, x in seen if n == "P1"}
    c0 = {round(t - epoch): ids for n, t, ids, _ in seen if n == "C0"}
    # the recording's 9 s start at second 2: by second 12 all 56 tracks are held ...
    assert len(p1[0][0]) == 0 and len(p1[12][0]) == 56
    assert len(p1[26][0]) == 0  # ... and none 12 s after their last record
    assert res.counters["P1"]["system_tracks"] > 0
    assert res.counters["P1"]["released_tracks"] >= 56
    assert max(len(ids) for ids in c0.values()) == 56  # one system track each at C0
    # P1's tracks sit where the records put them (decoded independently here)
    tracks = decode062_blocks(ax.read_blocks(PCAP), "0.17")
    last = {tn: i for i, tn in enumerate(tracks.track)}  # newest record per track
    ids, x = p1[12]
    lat, lon, _ = geo.ecef2geodetic(x[:, :3])
    for k, tid in enumerate(ids):
        i = last[int(tid[-5:])]
        dt = 12.0 - (tracks.tod_s[i] - tracks.tod_s[0] + 2.0)
        d = geo.great_circle_distance_m(lat[k], lon[k], tracks.lat_deg[i], tracks.lon_deg[i])
        speed = float(np.hypot(tracks.vx_mps[i], tracks.vy_mps[i]))
        assert d == pytest.approx(speed * dt, abs=30.0)  # flown at its velocity since


def test_udp_track_feed_on_loopback() -> None:
    rng = np.random.default_rng(8)
    lla, _, states = _flights(30, rng)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    clock = {"t": 100.0}
    feed = UdpTrackFeed(_feed(file=None, udp="127.0.0.1:1"), "P1", lambda: clock["t"],
                        sock=rx).start()  # fmt: skip
    sender = out.UdpSender(feed.address)
    try:
        good = out.encode062(np.arange(30), np.full(30, T0), states, (3, 4))
        sender.send(b"\x3e\x00\x05\x81\x00" + good)  # a truncated record first
        for _ in range(100):
            if feed.queued == sender.sent:
                break
            time.sleep(0.05)
        rep = feed.report(101.0)
    finally:
        sender.close()
        feed.close()
    assert len(rep.ids) == 30 and feed.counters["errors"] == 1
    assert feed.errors[0].offset == 0 and "CAT062" in str(feed.errors[0])
    # received at scenario second 100, reported at 101: one second of flight
    flown = states + np.hstack([states[:, 3:], np.zeros((30, 3))])
    order = np.argsort([int(i[-5:]) for i in rep.ids])
    err = np.abs(_enu_error(rep.x[order], flown, lla))
    assert err[:, :2].max() <= 1.0 and err[:, 2].max() <= 1.0 and err[:, 3:5].max() <= 0.13


def test_a_missing_recording_is_named(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIO)
    with pytest.raises(ConfigError, match="system tracks 'P1-SDPS': no such ASTERIX recording"):
        track_replays(sc, tmp_path, "P1")


def test_udp_track_feed_datagrams_fuzzed() -> None:
    """Mutated CAT062 datagrams of the shared recording: nothing raises; bad blocks are
    counted with their offsets; every report has its shapes and finite states."""
    from hypothesis import HealthCheck, given, settings
    from tests.sensors.test_fuzz import _clear, mutants

    buf = PCAP.read_bytes()
    seeds = [p[2] for p in ax.pcap_payloads(buf) if not isinstance(p, AsterixError)]
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed = UdpTrackFeed(_feed(file=None, udp="127.0.0.1:1", edition="0.17"), "P1",
                        lambda: 0.0, sock=rx)  # fmt: skip
    clock = {"t": 0.0}

    slow = [HealthCheck.too_slow, HealthCheck.data_too_large]

    @settings(max_examples=2000, deadline=None, derandomize=True, suppress_health_check=slow)
    @given(mutants(seeds))
    def run(data: bytes) -> None:
        clock["t"] += 1.0
        errors = feed.counters["errors"]
        feed.take_datagram(data, clock["t"])
        rep = feed.report(clock["t"])
        assert rep.x.shape == (len(rep.ids), 6) and rep.P.shape == (len(rep.ids), 6, 6)
        assert np.isfinite(rep.x).all()
        if feed.counters["errors"] > errors:
            _clear(feed.errors[-1], len(data))

    try:
        run()
    finally:
        feed.close()
    assert feed.counters["datagrams"] >= 2000


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"file": "a.ast", "udp": "1.2.3.4:5"}, "give exactly one of file or udp"),
        ({}, "give exactly one of file or udp"),
        ({"file": "a.ast", "source": "25/300"}, "source"),
        ({"file": "a.ast", "edition": "2.0"}, "edition"),
        ({"udp": "1.2.3.4:70000"}, "udp"),
        ({"file": "a.ast", "max_age_s": 0}, "max_age_s"),
    ],
)
def test_bad_feed_configuration_names_the_field(given: dict[str, Any], names: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=names):
        msgspec.convert({"id": "S"} | given, TrackFeed)


def test_a_simulation_refuses_udp_system_tracks(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ncoordinator: {name: C0}\npartners:\n  - name: P1\n"
                    "    system_tracks: [{id: S, udp: '127.0.0.1:8600'}]\n")  # fmt: skip
    sc = load_scenario(path)
    with pytest.raises(ConfigError, match=r"only a live node.*system_tracks\[0\]\.udp"):
        prepare(sc, 1, path)
