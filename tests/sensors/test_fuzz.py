"""Every decoder of outside input, fuzzed with hypothesis: real samples mutated and random
bytes never crash a decoder; bad input comes back as the decoder's own clear error
(``AsterixError`` naming the block's offset and category, ``ConfigError`` naming the file).
The benchmark ``benchmarks/bench_fuzz.py`` runs 10⁵ inputs per decoder."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mead.errors import AsterixError, ConfigError
from mead.scenario.schema import Civil, Sensor
from mead.sensors import asterix as ax
from mead.sensors.adsb_asterix import AdsbUdpFeed
from mead.sensors.adsb_replay import read_adsb_csv
from mead.sensors.asterix_feed import UdpFeed

DATA = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared samples not present")
FUZZ = settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _blocks(cat: int) -> list[bytes]:
    names = ("cat_034_048.pcap", "goasterix_sample.ast", "cat_062_065.pcap", "cat21_re.ast",
             "cat021_ed2.6_i131_libasterix.ast")  # fmt: skip
    return [b.data for n in names for b in ax.read_blocks(DATA / "asterix" / n)
            if isinstance(b, ax.Block) and b.category == cat]  # fmt: skip


def _datagrams() -> list[bytes]:
    buf = (DATA / "asterix" / "cat_034_048.pcap").read_bytes()
    return [p[2] for p in ax.pcap_payloads(buf) if not isinstance(p, AsterixError)]


@st.composite
def mutants(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real sample with a few bytes set, cut, inserted or deleted; or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        match draw(st.integers(0, 3)):
            case 0:
                data[pos] = draw(st.integers(0, 255))
            case 1:
                del data[pos:]
            case 2:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            case _:
                del data[pos]
    return bytes(data)


def _clear(err: AsterixError, length: int, cat: int | None = None) -> None:
    assert 0 <= err.offset <= length and err.detail
    assert str(err).startswith("ASTERIX")
    if cat is not None:
        assert err.category == cat and f"CAT{cat:03d}" in str(err)


@FUZZ
@given(mutants(_datagrams()))
def test_framer(buf: bytes) -> None:
    for item in ax.iter_blocks(buf):
        if isinstance(item, AsterixError):
            _clear(item, len(buf))
        else:
            assert 3 <= item.offset + 3 + len(item.data) <= len(buf)


@FUZZ
@given(mutants(_blocks(48)))
def test_cat048_fast_path(buf: bytes) -> None:
    out = ax.decode048(buf, 9)
    for e in out.errors:
        _clear(e, 9, 48)
    assert len(out.sac) == len(out.tod_s) == len(out.rho_nm) == len(out.track)


@pytest.mark.parametrize("cat", [48, 34, 62, 21])
def test_libasterix_decodes(cat: int) -> None:
    seeds = _blocks(cat)
    assert seeds

    @FUZZ
    @given(mutants(seeds))
    def run(buf: bytes) -> None:
        got = ax.decode_library(ax.Block(5, cat, buf))
        if isinstance(got, AsterixError):
            _clear(got, 5, cat)
        else:
            assert all(set(r) == set(ax.FIELDS[cat]) for r in got)

    run()


@FUZZ
@given(mutants([(DATA / "asterix" / "cat_034_048.pcap").read_bytes()[:2600]]))
def test_pcap_reader(buf: bytes) -> None:
    for item in ax.pcap_payloads(buf):
        if isinstance(item, AsterixError):
            _clear(item, len(buf))
        else:
            index, t, payload = item
            assert index >= 0 and len(payload) <= len(buf)


@pytest.fixture(scope="module")
def feed() -> Iterator[UdpFeed]:
    sensor = msgspec.convert({"id": "R", "site": {"lat_deg": 45.8, "lon_deg": 16.0},
                              "asterix": {"udp": "127.0.0.1:1"}}, Sensor)  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    f = UdpFeed(sensor, "P1", lambda: 0.0, sock=sock)
    yield f
    sock.close()


def test_udp_feed_datagrams(feed: UdpFeed) -> None:
    clock = {"t": 0.0}

    @FUZZ
    @given(mutants(_datagrams()))
    def run(buf: bytes) -> None:
        clock["t"] += 1.0
        errors = feed.counters["errors"]
        feed.take(buf, clock["t"])
        for scan in feed.ready(clock["t"]):
            assert scan.z.shape[1] == 3 and len(scan.z) == len(scan.truth)
        if feed.counters["errors"] > errors:
            _clear(feed.errors[-1], len(buf))

    run()
    assert feed.counters["datagrams"] >= 2000


def test_cat021_udp_feed_datagrams() -> None:
    """A live ADS-B feed's datagrams (CAT021 blocks of the samples and of MEAD's own
    encoding of the El Al flight, one to three a datagram, mutated): reports of the right
    shape, or the error counted and named; never raised."""
    import dataclasses

    from mead.interop.asterix import encode021

    rec = read_adsb_csv(DATA / "adsb" / "opensky_elal747_LIRF_LLBG_20191103.csv")
    part = dataclasses.replace(rec, **{f.name: getattr(rec, f.name)[600:606]
                                       for f in dataclasses.fields(rec)})  # fmt: skip
    own = [b.data for b in ax.iter_blocks(encode021(part, (25, 100))) if isinstance(b, ax.Block)]
    blocks = [bytes([21]) + (3 + len(b)).to_bytes(2, "big") + b for b in _blocks(21) + own]
    seeds = [b"".join(blocks[k : k + n]) for n in (1, 2, 3) for k in range(len(blocks))]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed = AdsbUdpFeed("127.0.0.1:1", "P1", lambda: 0.0, Civil(), sock=sock)
    clock = {"t": 0.0}

    @FUZZ
    @given(mutants(seeds))
    def run(buf: bytes) -> None:
        clock["t"] += 1.0
        errors = feed.counters["errors"]
        reports = feed.take(buf, clock["t"])
        assert reports.ecef.shape == (len(reports), 3) and reports.vel.shape == (len(reports), 3)
        assert len(reports.t) == len(reports.icao) == len(reports.callsign)
        if feed.counters["errors"] > errors:
            _clear(feed.errors[-1], len(buf), None)

    try:
        run()
    finally:
        sock.close()
    assert feed.counters["datagrams"] >= 2000 and feed.counters["reports"] > 0


def test_adsb_csv(tmp_path: Path) -> None:
    lines = (DATA / "adsb" / "opensky_paris_20211007_10s.csv").read_bytes().splitlines()
    seeds = [b"\n".join([lines[0], *lines[k : k + 4]]) for k in range(1, 400, 4)]
    path = tmp_path / "rec.csv"

    @FUZZ
    @given(mutants(seeds))
    def run(buf: bytes) -> None:
        path.write_bytes(buf)
        try:
            rec = read_adsb_csv(path)
        except ConfigError as e:
            assert str(e).startswith(str(path)) and e.detail
            return
        assert len(rec.icao) == len(rec.t) and all(rec.icao < 1 << 24)

    run()
