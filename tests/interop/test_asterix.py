"""ASTERIX out: MEAD → CAT062/CAT048 → MEAD keeps values within the format's resolution;
a node's plots sent over UDP come back as the tracker's scans and make a track."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest

from mead import geo
from mead.errors import AsterixError, ParameterError
from mead.interop import asterix as out
from mead.sensors import asterix as ax
from mead.tracking.tracker import Tracker

T0 = 1_700_000_000.0  # UTC s


def _decode(data: bytes, cat: int) -> list[dict[str, object]]:
    recs: list[dict[str, object]] = []
    for b in ax.iter_blocks(data):
        assert isinstance(b, ax.Block) and b.category == cat
        got = ax.decode_library(b)
        assert not isinstance(got, AsterixError)
        recs += got
    return recs


def test_cat062_round_trip_keeps_position_within_resolution() -> None:
    rng = np.random.default_rng(3)
    n = 300  # more than one block's worth
    lat = rng.uniform(-80, 80, n)
    lon = rng.uniform(-180, 180, n)
    alt = rng.uniform(0, 20000, n)
    pos = geo.geodetic2ecef(lat, lon, alt)
    vel_enu = np.column_stack([rng.uniform(-300, 300, (n, 2)), np.zeros(n)])
    vel = np.einsum("nij,nj->ni", geo.enu_rotations(lat, lon).swapaxes(-1, -2), vel_enu)
    t = T0 + rng.uniform(0, 86400, n)
    tn = np.arange(n) % 4096
    data = out.encode062(tn, t, np.hstack([pos, vel]), (7, 9), ["ELY1747"] * n)
    assert len(data) > out.MAX_BLOCK_BYTES  # several blocks
    recs = _decode(data, 62)
    assert len(recs) == n
    res_deg = 180.0 / 2**25
    for i, r in enumerate(recs):
        assert (r["sac"], r["sic"], r["track"], r["callsign"]) == (7, 9, tn[i], "ELY1747")
        assert abs(r["lat_deg"] - lat[i]) <= res_deg and abs(r["lon_deg"] - lon[i]) <= res_deg
        assert abs(r["tod_s"] - t[i] % 86400) <= 1 / 128
        assert (
            abs(r["vx_mps"] - vel_enu[i, 0]) <= 0.25 and abs(r["vy_mps"] - vel_enu[i, 1]) <= 0.25
        )
        assert abs(r["alt_ft"] * 0.3048 - alt[i]) <= 6.25 * 0.3048


def _enu_covariances(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n tracks: ECEF states, their ECEF covariances with what I062/500 carries (σe, σn,
    Cov(e, n), σu, σve, σvn, σvu at the track) and those ENU errors (n, 7)."""
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 2e4, n)
    R = geo.enu_rotations(lat, lon)  # (n, 3, 3) ECEF → ENU
    vel = np.einsum("nji,nj->ni", R, rng.uniform(-300, 300, (n, 3)))
    states = np.hstack([geo.geodetic2ecef(lat, lon, alt), vel])
    se, sn = rng.uniform(1.0, 5000.0, n), rng.uniform(1.0, 5000.0, n)
    cen = rng.uniform(-0.95, 0.95, n) * se * sn
    su, sve, svn = rng.uniform(2.0, 450.0, n), rng.uniform(0.2, 60.0, n), rng.uniform(0.2, 60, n)
    svu = rng.uniform(0.05, 8.0, n)
    enu = np.zeros((n, 6, 6))
    enu[:, 0, 0], enu[:, 1, 1], enu[:, 2, 2] = se**2, sn**2, su**2
    enu[:, 0, 1] = enu[:, 1, 0] = cen
    enu[:, 3, 3], enu[:, 4, 4], enu[:, 5, 5] = sve**2, svn**2, svu**2
    T = np.zeros((n, 6, 6))
    T[:, :3, :3] = T[:, 3:, 3:] = R
    P = T.swapaxes(-1, -2) @ enu @ T
    return states, P, np.column_stack([se, sn, cen, su, sve, svn, svu])


def test_cat062_round_trip_keeps_the_covariance_within_resolution() -> None:
    """MEAD → CAT062 (I500 from the covariance) → MEAD (the fast path, then a partner's
    system tracks): each error comes back within half the LSB of its I500 subfield, and the
    whole covariance within those where I500 holds it all."""
    from mead.scenario.schema import TrackFeed
    from mead.sensors.asterix062 import decode062_blocks
    from mead.tracking.external import SystemTracks

    rng = np.random.default_rng(500)
    n = 300
    states, P, want = _enu_covariances(rng, n)
    t = np.full(n, T0)
    data = out.encode062(np.arange(n), t, states, (7, 9), P=P)
    tracks = decode062_blocks(ax.iter_blocks(data))
    assert len(tracks) == n and not tracks.errors
    src = SystemTracks(TrackFeed(id="S", file="x", sigma_m=9e3, max_age_s=60.0), "P1")
    src.take(tracks, np.zeros(n))
    rep = src.report(0.0)  # at the records' own time: no growth with age
    order = np.argsort([int(i[-5:]) for i in rep.ids])
    x, P_back = rep.x[order], rep.P[order]
    lat, lon, _ = geo.ecef2geodetic(x[:, :3])
    R = geo.enu_rotations(lat, lon)
    T = np.zeros((n, 6, 6))
    T[:, :3, :3] = T[:, 3:, 3:] = R
    got = T @ P_back @ T.swapaxes(-1, -2)  # back in ENU
    sd = np.sqrt(np.diagonal(got, axis1=1, axis2=2))
    ft, fpm = 0.3048, 0.3048 / 60.0
    np.testing.assert_allclose(sd[:, :2], want[:, :2], atol=0.25 + 1e-6)  # APC: 0.5 m
    np.testing.assert_allclose(sd[:, 2], want[:, 3], atol=3.125 * ft + 1e-6)  # AGA: 6.25 ft
    np.testing.assert_allclose(sd[:, 3:5], want[:, 4:6], atol=0.125 + 1e-6)  # ATV
    np.testing.assert_allclose(sd[:, 5], want[:, 6], atol=3.125 * fpm + 1e-6)  # ARC
    # COV carries sign(Cov)·√|Cov| at 0.5 m: Cov back within (√|Cov| ± 0.25)²
    root = np.sqrt(np.abs(want[:, 2]))
    assert np.all(np.abs(got[:, 0, 1] - want[:, 2]) <= 0.5 * root + 0.0625 + 1e-6)
    # what I500 does not carry is 0, as it was
    mask = np.ones((6, 6), bool)
    for i, j in ((0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (0, 1), (1, 0)):
        mask[i, j] = False
    assert np.abs(got[:, mask]).max() < 1e-6


def test_i500_caps_what_it_cannot_hold_and_records_without_it_keep_the_feed_errors() -> None:
    from mead.scenario.schema import TrackFeed
    from mead.sensors.asterix062 import decode062_blocks
    from mead.tracking.external import SystemTracks

    states, P, _ = _enu_covariances(np.random.default_rng(1), 2)
    P = P * 1e4  # σ up to 500 km: beyond APC's 32,767.5 m
    data = out.encode062(np.arange(2), np.full(2, T0), states, (7, 9), P=P)
    data += out.encode062(np.array([2]), np.full(1, T0), states[:1], (7, 9))  # no P: no I500
    tracks = decode062_blocks(ax.iter_blocks(data))
    acc = out.enu_accuracies(states, P)
    assert np.array_equal(tracks.sigma_x_m[:2], np.minimum(np.round(acc[:, 0] * 2) / 2,
                                                            32767.5))  # fmt: skip
    assert max(tracks.sigma_vx_mps[:2]) == 63.75 and np.isnan(tracks.sigma_x_m[2])
    feed = TrackFeed(id="S", file="x", sigma_m=123.0, sigma_alt_m=45.0, sigma_vel_mps=6.0)
    src = SystemTracks(feed, "P1")
    src.take(tracks, np.zeros(3))
    rep = src.report(0.0)
    k = [i.endswith("00002") for i in rep.ids].index(True)
    lat, lon, _ = geo.ecef2geodetic(rep.x[k, :3])
    R = geo.enu_rotation(float(lat), float(lon))
    np.testing.assert_allclose(np.sqrt(np.diag(R @ rep.P[k, :3, :3] @ R.T)), [123, 123, 45])
    np.testing.assert_allclose(np.sqrt(np.diag(R @ rep.P[k, 3:, 3:] @ R.T)), [6, 6, 6])


def test_cat048_round_trip_through_the_fast_path() -> None:
    rng = np.random.default_rng(4)
    m = 200
    z = np.column_stack([rng.uniform(0, 250 * 1852, m), rng.uniform(0, 2 * np.pi, m)])
    fl = np.where(rng.random(m) < 0.3, np.nan, rng.uniform(-10, 450, m))
    addr = np.where(rng.random(m) < 0.3, -1, rng.integers(1, 1 << 24, m))
    t = T0 + np.sort(rng.uniform(0, 100, m))
    data = out.encode048(t, z, (25, 201), fl, addr)
    plots = ax.decode048_blocks(ax.iter_blocks(data))
    assert len(plots) == m and not plots.errors
    np.testing.assert_allclose(np.asarray(plots.rho_nm) * 1852, z[:, 0], atol=1852 / 256)
    dth = (np.asarray(plots.theta_deg) - np.degrees(z[:, 1]) + 180) % 360 - 180
    assert np.all(np.abs(dth) <= 360 / 2**16)
    np.testing.assert_allclose(np.asarray(plots.fl), fl, atol=0.25)  # NaN where none
    assert np.array_equal(np.asarray(plots.address), addr)


def test_encoders_name_bad_input() -> None:
    with pytest.raises(ParameterError, match="'states'"):
        out.encode062(np.array([1]), np.array([T0]), np.zeros((1, 5)), (1, 1))
    with pytest.raises(ParameterError, match="'track_number'"):
        out.encode062(np.array([5000]), np.array([T0]), np.ones((1, 6)) * 7e6, (1, 1))
    x = np.hstack([geo.geodetic2ecef(45.0, 16.0, 1e3).reshape(1, 3), np.zeros((1, 3))])
    with pytest.raises(ParameterError, match="'P'"):
        out.encode062(np.array([1]), np.array([T0]), x, (1, 1), P=np.eye(6)[None, :3])
    with pytest.raises(ParameterError, match="'P'.*variances"):
        out.encode062(np.array([1]), np.array([T0]), x, (1, 1), P=-np.eye(6)[None])
    with pytest.raises(ParameterError, match=r"'z\[:, 0\]'"):
        out.encode048(np.array([T0]), np.array([[600e3, 0.0]]), (1, 1))


def test_plots_sent_over_udp_become_a_confirmed_track() -> None:
    """A partner's radar as an ASTERIX UDP feed on loopback: a target flying east at
    250 m/s, one plot per 4 s scan, ends as one confirmed track where it flies."""
    site = (32.0, 35.0, 100.0)
    t = T0 + 4.0 * np.arange(15)
    enu = np.column_stack([20e3 + 250.0 * (t - T0), np.full(15, 60e3), np.full(15, 9000.0)])
    rae = geo.enu2rae(enu)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    sender = out.UdpSender(rx.getsockname())
    try:
        for i in range(15):
            sender.send(
                out.encode048(t[i : i + 1], rae[i : i + 1], (1, 2), np.array([9000 / 30.48]))
            )
        plots = ax.decode048_blocks(ax.udp_blocks(rx, max_datagrams=15))
    finally:
        sender.close()
        rx.close()
    assert len(plots) == 15 and sender.sent == 15
    sigma = np.array([75.0, np.radians(0.1), np.radians(0.5)])
    scans = ax.plots2scans(plots, "R1", "P1", site, sigma)
    assert len(scans) == 15
    tracker = Tracker("P1")
    for s in scans:
        tracker.step(s)
    assert tracker.n_confirmed == 1
    rep = tracker.report(scans[-1].t)
    x = rep.x[0]
    want = geo.enu2ecef(enu[-1], *site)
    assert np.linalg.norm(x[:3] - want) < 500.0


def test_a_node_sends_what_it_holds_as_cat062_over_udp() -> None:
    """``Cat062Output`` (a live node's ``asterix_out``): each cycle's held tracks arrive on
    a UDP socket as CAT062 with their numbers and positions; a track no longer held is not
    sent again, an empty cycle sends nothing, and a bad state is counted, not raised."""
    from mead.runtime.node import Held

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5.0)
    target = out.AsterixTarget(udp=f"127.0.0.1:{rx.getsockname()[1]}", sac=25, sic=7)
    sink = out.Cat062Output([target])
    lat, lon, alt = np.array([32.0, 31.5]), np.array([35.0, 34.8]), np.array([3000.0, 900.0])
    x = np.hstack([geo.geodetic2ecef(lat, lon, alt), np.zeros((2, 3))])

    def held(ids: list[str], xs: np.ndarray) -> Held:
        n = len(ids)
        return Held("P1", T0, ids, xs, ["drone"] * n, np.ones(n), np.full(n, ""))

    def received() -> list[dict[str, object]]:
        return _decode(rx.recvfrom(65536)[0], 62)

    try:
        sink.show(held(["P1-T000042", "P1-T004100"], x))
        recs = received()
        assert [(r["sac"], r["sic"], r["track"]) for r in recs] == [(25, 7, 42), (25, 7, 4)]
        for r, la, lo in zip(recs, lat, lon, strict=True):
            assert abs(r["lat_deg"] - la) < 1e-5 and abs(r["lon_deg"] - lo) < 1e-5
            assert r["apc_x_m"] is None  # no covariance held: no I500
        P = np.tile(np.diag([40.0, 40.0, 40.0, 2.0, 2.0, 2.0]) ** 2, (2, 1, 1))
        sink.show(Held("P1", T0, ["P1-T000042", "P1-T004100"], x, ["drone"] * 2, np.ones(2),
                       np.full(2, ""), P=P))  # fmt: skip
        for r in received():  # isotropic: the same σ in any frame
            assert (r["apc_x_m"], r["apc_y_m"], r["cov_m"]) == (40.0, 40.0, 0.0)
            assert (r["atv_x_mps"], r["atv_y_mps"]) == (2.0, 2.0)
            assert r["aga_ft"] == pytest.approx(round(40 / 0.3048 / 6.25) * 6.25)
        sink.show(held(["P1-T000042"], x[:1]))  # the other track is no longer held
        assert [r["track"] for r in received()] == [42]
        sink.show(held([], x[:0]))  # nothing held: nothing sent
        sink.show(held(["P1-T000043"], np.full((1, 6), np.nan)))  # a bad state: counted
        with pytest.raises(TimeoutError):
            rx.settimeout(0.3)
            rx.recvfrom(65536)
    finally:
        counters = sink.close()
        rx.close()
    assert counters["cat062_tracks"] == 5 and counters["cat062_datagrams"] == 3
    assert counters["cat062_errors"] == 1 and counters["cat062_error_ParameterError"] == 1


def test_asterix_target_names_a_bad_address() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="host:port"):
        msgspec.convert({"udp": "239.1.2.3", "sac": 1, "sic": 2}, out.AsterixTarget)
    with pytest.raises(msgspec.ValidationError, match="sac"):
        msgspec.convert({"udp": "239.1.2.3:8600", "sac": 300, "sic": 2}, out.AsterixTarget)


def _scan(sensor_id: str, t: float, rae: np.ndarray, site: tuple[float, float, float]) -> Any:
    from mead.sensors.base import Scan

    sigma = np.array([75.0, 0.002, 0.005])
    return Scan(sensor_id=sensor_id, partner="P1", t=t, site_lat_deg=site[0],
                site_lon_deg=site[1], site_alt_m=site[2], z=rae, sigma=sigma,
                truth=np.zeros(len(rae), np.int64))  # fmt: skip


def test_a_node_sends_its_plots_as_cat048_over_udp_readable_by_both_readers() -> None:
    """``Cat048Output`` (a live partner's ``asterix_plots_out``, its ``on_scan`` hook):
    every scan's plots arrive on a UDP socket on 127.0.0.1 as CAT048 that MEAD's fast path
    and libasterix read alike, within the format's resolution; the second radar is SIC + 1;
    elevation comes back from the flight level through the reader's own geometry."""
    rng = np.random.default_rng(48)
    site = (45.8, 16.0, 300.0)
    m = 40
    enu = np.column_stack([rng.uniform(-300e3, 300e3, (m, 2)), rng.uniform(500, 14000, m)])
    rae = geo.enu2rae(enu)
    rae = rae[rae[:, 0] < 250 * 1852]
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5.0)
    target = out.AsterixTarget(udp=f"127.0.0.1:{rx.getsockname()[1]}", sac=25, sic=10)
    sink = out.Cat048Output([target], ["R0", "R1"], epoch_s=T0)
    try:
        sink.send(_scan("R1", 12.5, rae, site))
        data = rx.recvfrom(65536)[0]
    finally:
        counters = sink.close()
        rx.close()
    assert counters["cat048_plots"] == len(rae) and counters["cat048_datagrams"] == 1
    fast = ax.decode048_blocks(ax.iter_blocks(data))
    lib = _decode(data, 48)
    assert len(fast) == len(lib) == len(rae) and not fast.errors
    for i, r in enumerate(lib):
        for key in ("sac", "sic", "tod_s", "rho_nm", "theta_deg", "fl"):
            assert getattr(fast, key)[i] == pytest.approx(r[key], abs=1e-9), key
    assert set(fast.sac) == {25} and set(fast.sic) == {11}
    assert np.allclose(fast.tod_s, (T0 + 12.5) % 86400, atol=1 / 128)
    np.testing.assert_allclose(np.asarray(fast.rho_nm) * 1852, rae[:, 0], atol=1852 / 512)
    dth = (np.asarray(fast.theta_deg) - np.degrees(rae[:, 1]) + 180) % 360 - 180
    assert np.all(np.abs(dth) <= 360 / 2**17 + 1e-9)
    (scan,) = ax.plots2scans(fast, "R1", "P1", site, np.array([75.0, 0.002, 0.005]))
    # the flight level holds the altitude to 25 ft / 2 (3.8 m): elevation within 4 m/range
    assert np.all(np.abs(scan.z[:, 2] - rae[:, 2]) <= 4.0 / rae[:, 0] + 1e-9)


def test_node_config_takes_plot_targets() -> None:
    import msgspec

    from mead.runtime.live import NodeConfig

    cfg = msgspec.convert({"name": "P1", "scenario": "s.yaml", "key": "k", "registry": "r",
                           "nats": {"url": "nats://x:1", "user": "u", "password": "p"},
                           "asterix_plots_out": [{"udp": "239.1.2.3:8601", "sac": 25,
                                                  "sic": 20}]}, NodeConfig)  # fmt: skip
    assert cfg.asterix_plots_out[0].address() == ("239.1.2.3", 8601)


def test_a_partner_node_republishes_its_recorded_radar_as_cat048(tmp_path: Any) -> None:
    """A partner whose radar is the recorded feed of radar 25/12 passes its plots on, as
    they reach its tracker, through its ``on_scan`` hook: the same 38 plots come back."""
    from pathlib import Path

    from mead.federation.envelope import Opener
    from mead.federation.identity import KeyRegistry
    from mead.federation.inprocess import InProcessBus
    from mead.runtime.simulation import SimClock, prepare
    from mead.runtime.wiring import build_partner, policies, sim_identities
    from mead.scenario import load_scenario

    pcap = Path("/work/shared/data/asterix/cat_034_048.pcap")
    if not pcap.exists():
        pytest.skip("shared recording not present")
    src = Path(__file__).resolve().parents[2] / "scenarios" / "asterix_pcap.yaml"
    scenario = tmp_path / "asterix_pcap.yaml"
    scenario.write_text(src.read_text().replace("../../shared/data/asterix/cat_034_048.pcap",
                                                str(pcap)))  # fmt: skip
    sc = load_scenario(scenario)
    world = prepare(sc, sc.seed, scenario)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5.0)
    sink = out.Cat048Output(
        [out.AsterixTarget(udp=f"127.0.0.1:{rx.getsockname()[1]}", sac=7, sic=1)],
        ["P1-ASX"],
        sc.start_epoch_s(),
    )
    clock = SimClock(sc.start_epoch_s())
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    ids = sim_identities(sc, 1)
    node = build_partner(
        sc, "P1", identity=ids["P1"], endpoint=bus.connect("P1"),
        opener=Opener(KeyRegistry({n: i.verify_key for n, i in ids.items()}), 300.0, clock),
        policy=policies(sc, scenario)["P1"], scans=iter(world.scans),
        epoch_s=clock.epoch_s, on_scan=sink.send,
    )  # fmt: skip
    try:
        for t in np.arange(0.0, 10.0, sc.tick_s):
            clock.t = float(t)
            node.step(clock())
        plots = ax.decode048_blocks(ax.udp_blocks(rx, max_datagrams=sink.counters["cat048_scans"]))
    finally:
        sink.close()
        rx.close()
    mine = ax.decode048_blocks(ax.read_blocks(pcap))
    own = [i for i, p in enumerate(zip(mine.sac, mine.sic, strict=True)) if p == (25, 12)]
    assert len(plots) == len(own) == 38 and set(zip(plots.sac, plots.sic, strict=True)) == {(7, 1)}
    got = sorted(zip(plots.rho_nm, plots.theta_deg, strict=True))
    want = sorted((mine.rho_nm[i], mine.theta_deg[i]) for i in own)
    np.testing.assert_allclose(got, want, atol=1e-9)  # ρ/θ re-encoded at the same LSBs
