"""Fuzzing of every decoder of outside input: mutated real samples and random bytes, no crash,
no hang, a clear error.

Run: ``python -m benchmarks.bench_fuzz [--n 100000] [--json]``. Each decoder gets ``--n``
inputs (default 10⁵): the shared recordings' blocks, packets and lines mutated (bytes set,
bits flipped, cut short, lengths changed, bytes inserted) and, one input in ten, random
bytes. Per decoder the table gives inputs read, inputs rejected with the decoder's own
error (``AsterixError`` returned or recorded, ``ConfigError`` raised), crashes (any other
exception: must be 0) and the slowest input (a hang would show there).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from mead.errors import AsterixError, ConfigError
from mead.interop.asterix import encode021
from mead.scenario.schema import Civil, Sensor, TrackFeed
from mead.sensors import asterix as ax
from mead.sensors.adsb_asterix import AdsbUdpFeed
from mead.sensors.adsb_replay import read_adsb_csv
from mead.sensors.asterix062 import accuracies2enu, decode062
from mead.sensors.asterix_feed import UdpFeed
from mead.tracking.external import UdpTrackFeed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
RECORDINGS = ("cat_034_048.pcap", "goasterix_sample.ast", "cat048.raw", "cat_062_065.pcap",
              "cat21_re.ast", "cat021_ed2.6_i131_libasterix.ast")  # fmt: skip

Outcome = str  # "read", "rejected"


def _blocks(cat: int) -> list[bytes]:
    out = []
    for name in RECORDINGS:
        for b in ax.read_blocks(DATA / "asterix" / name):
            if isinstance(b, ax.Block) and b.category == cat:
                out.append(b.data)
    return out


def _datagrams() -> list[bytes]:
    buf = (DATA / "asterix" / "cat_034_048.pcap").read_bytes()
    return [p[2] for p in ax.pcap_payloads(buf) if not isinstance(p, AsterixError)]


def mutate(seed: bytes, rng: np.random.Generator) -> bytes:
    """One mutant of ``seed``: 1–4 edits, or (one time in ten) random bytes."""
    if rng.random() < 0.1 or not seed:
        return rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
    data = bytearray(seed)
    for _ in range(int(rng.integers(1, 5))):
        if not data:
            break
        pos = int(rng.integers(len(data)))
        op = rng.integers(5)
        if op == 0:
            data[pos] = int(rng.integers(256))
        elif op == 1:
            data[pos] ^= 1 << int(rng.integers(8))
        elif op == 2:
            del data[pos:]
        elif op == 3:
            data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        else:
            data[pos] = 0xFF if data[pos] < 0x80 else 0x00  # an FX bit or a length gone wild
    return bytes(data)


def _frame(buf: bytes) -> Outcome:
    items = list(ax.iter_blocks(buf))
    assert all(isinstance(i, ax.Block | AsterixError) for i in items)
    return "rejected" if any(isinstance(i, AsterixError) for i in items) else "read"


def _fast048(buf: bytes) -> Outcome:
    out = ax.decode048(buf, 0)
    assert all(isinstance(e, AsterixError) for e in out.errors)
    return "rejected" if out.errors else "read"


def _fast062(edition: str) -> Callable[[bytes], Outcome]:
    def run(buf: bytes) -> Outcome:
        out = decode062(buf, 0, edition=edition)  # type: ignore[arg-type]
        assert all(isinstance(e, AsterixError) for e in out.errors)
        assert len(out.lat_deg) == len(out.callsign) == len(out.sigma_x_m) == len(out)
        assert accuracies2enu(out).shape == (len(out), 8)
        return "rejected" if out.errors else "read"

    return run


def _blocks062_own() -> list[bytes]:
    """MEAD's own CAT062 output (8 tracks with covariances: I500 present) and the recording's
    1.18 blocks: the 1.18 fast path's seeds."""
    from mead import geo
    from mead.interop.asterix import encode062

    rng = np.random.default_rng(62)
    n = 8
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 2e4, n)
    vel = np.einsum("nji,nj->ni", geo.enu_rotations(lat, lon), rng.uniform(-300, 300, (n, 3)))
    A = rng.normal(size=(n, 6, 6)) * np.array([300.0, 300.0, 30.0, 3.0, 3.0, 1.0])
    data = encode062(np.arange(n), np.full(n, 1.7e9), np.hstack([geo.geodetic2ecef(lat, lon,
                     alt), vel]), (7, 9), ["ELY1747"] * n, P=A @ A.swapaxes(-1, -2))  # fmt: skip
    own = [b.data for b in ax.iter_blocks(data) if isinstance(b, ax.Block)]
    return own + _blocks(62)


def _blocks062_017() -> list[bytes]:
    path = DATA / "asterix" / "cat062_ed0.17_100pkts.pcap"
    return [b.data for b in ax.read_blocks(path) if isinstance(b, ax.Block)]


def _track_feed() -> Callable[[bytes], Outcome]:
    cfg = msgspec.convert({"id": "S", "udp": "127.0.0.1:1", "edition": "0.17"}, TrackFeed)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed = UdpTrackFeed(cfg, "P1", lambda: 0.0, sock=sock)
    clock = {"t": 0.0}

    def run(buf: bytes) -> Outcome:
        before = feed.counters["errors"]
        clock["t"] += 1.0
        feed.take_datagram(buf, clock["t"])
        rep = feed.report(clock["t"])
        assert np.isfinite(rep.x).all()
        return "rejected" if feed.counters["errors"] > before else "read"

    return run


def _library(cat: int) -> Callable[[bytes], Outcome]:
    def run(buf: bytes) -> Outcome:
        got = ax.decode_library(ax.Block(0, cat, buf))
        return "rejected" if isinstance(got, AsterixError) else "read"

    return run


def _pcap(buf: bytes) -> Outcome:
    items = list(ax.pcap_payloads(buf))
    return "rejected" if any(isinstance(i, AsterixError) for i in items) else "read"


def _udp_feed() -> Callable[[bytes], Outcome]:
    sensor = msgspec.convert({"id": "R", "site": {"lat_deg": 45.8, "lon_deg": 16.0},
                              "asterix": {"udp": "127.0.0.1:1"}}, Sensor)  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed = UdpFeed(sensor, "P1", lambda: 0.0, sock=sock)
    clock = {"t": 0.0}

    def run(buf: bytes) -> Outcome:
        before = feed.counters["errors"]
        clock["t"] += 1.0
        feed.take(buf, clock["t"])
        feed.ready(clock["t"])
        return "rejected" if feed.counters["errors"] > before else "read"

    return run


def _adsb_feed() -> Callable[[bytes], Outcome]:
    """A live ADS-B feed's datagrams (``AdsbUdpFeed.take``): CAT021 to reports."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed = AdsbUdpFeed("127.0.0.1:1", "P1", lambda: 0.0, Civil(), sock=sock)
    clock = {"t": 0.0}

    def run(buf: bytes) -> Outcome:
        before = feed.counters["errors"]
        clock["t"] += 1.0
        feed.take(buf, clock["t"])
        return "rejected" if feed.counters["errors"] > before else "read"

    return run


def _adsb_datagrams() -> list[bytes]:
    """CAT021 datagrams of one to three blocks: the samples' and MEAD's own encoding of a
    minute of the El Al flight."""
    rec = read_adsb_csv(DATA / "adsb" / "opensky_elal747_LIRF_LLBG_20191103.csv")
    part = dataclasses.replace(rec, **{f.name: getattr(rec, f.name)[600:606]
                                       for f in dataclasses.fields(rec)})  # fmt: skip
    own = [b.data for b in ax.iter_blocks(encode021(part, (25, 100))) if isinstance(b, ax.Block)]
    blocks = [bytes([21]) + (3 + len(b)).to_bytes(2, "big") + b for b in _blocks(21) + own]
    return [b"".join(blocks[k : k + n]) for n in (1, 2, 3) for k in range(len(blocks))]


def _csv(tmp: Path) -> Callable[[bytes], Outcome]:
    path = tmp / "fuzz.csv"

    def run(buf: bytes) -> Outcome:
        path.write_bytes(buf)
        try:
            read_adsb_csv(path)
        except ConfigError:
            return "rejected"
        return "read"

    return run


def _csv_seeds() -> list[bytes]:
    lines = (DATA / "adsb" / "opensky_paris_20211007_10s.csv").read_bytes().splitlines()
    head, body = lines[0], lines[1:]
    return [b"\n".join([head, *body[k : k + 5]]) for k in range(0, min(len(body), 2000), 5)]


def _whole_packets(pcap: bytes, k: int) -> bytes:
    """The capture cut after its first ``k`` packets (a valid, short pcap)."""
    pos = 24
    for _ in range(k):
        pos += 16 + int.from_bytes(pcap[pos + 8 : pos + 12], "little")
    return pcap[:pos]


def decoders(tmp: Path) -> dict[str, tuple[Callable[[bytes], Outcome], list[bytes]]]:
    """Every decoder of outside input with its seed inputs (real samples)."""
    datagrams = _datagrams()
    pcap = (DATA / "asterix" / "cat_034_048.pcap").read_bytes()
    return {
        "frame (blocks)": (_frame, datagrams),
        "CAT048 fast path": (_fast048, _blocks(48)),
        "CAT048 libasterix": (_library(48), _blocks(48)),
        "CAT034 libasterix": (_library(34), _blocks(34)),
        "CAT062 fast path 1.18": (_fast062("1.18"), _blocks062_own()),
        "CAT062 fast path 0.17": (_fast062("0.17"), _blocks062_017()),
        "CAT062 libasterix": (_library(62), _blocks(62)),
        "CAT021 libasterix": (_library(21), _blocks(21)),
        "pcap reader": (_pcap, [_whole_packets(pcap, k) for k in (1, 3, 8)]),
        "UDP feed (datagrams)": (_udp_feed(), datagrams),
        "CAT062 UDP track feed": (_track_feed(), [p[2] for p in ax.pcap_payloads(
            (DATA / "asterix" / "cat062_ed0.17_100pkts.pcap").read_bytes())
            if not isinstance(p, AsterixError)]),  # fmt: skip
        "ADS-B CSV": (_csv(tmp), _csv_seeds()),
        "CAT021 UDP feed (datagrams)": (_adsb_feed(), _adsb_datagrams()),
    }


def fuzz_one(
    run: Callable[[bytes], Outcome], seeds: list[bytes], n: int, seed: int
) -> dict[str, Any]:
    """``n`` mutants through ``run``: outcomes, crashes (with one example) and the slowest."""
    rng = np.random.default_rng(seed)
    run(seeds[0])  # warm up: libasterix loads its generated module on first use (~1 s)
    counts = {"inputs": 0, "read": 0, "rejected": 0, "crashes": 0}
    slowest, example = 0.0, ""
    for _ in range(n):
        data = mutate(seeds[int(rng.integers(len(seeds)))], rng)
        t0 = time.perf_counter()
        try:
            counts[run(data)] += 1
        except Exception as e:  # noqa: BLE001 - a crash is what is counted here
            counts["crashes"] += 1
            example = example or f"{type(e).__name__}: {e} on {data[:64].hex()}"
        slowest = max(slowest, time.perf_counter() - t0)
        counts["inputs"] += 1
    return counts | {"slowest_ms": round(slowest * 1e3, 2), "crash_example": example}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="inputs per decoder")
    ap.add_argument("--only", default=None, help="decoders whose name contains this")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res: dict[str, Any] = {"machine": platform.processor() or platform.machine(),
                           "python": platform.python_version(), "n": args.n,
                           "decoders": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (run, seeds)) in enumerate(decoders(Path(tmp)).items()):
            if args.only and args.only not in name:
                continue
            t0 = time.perf_counter()
            res["decoders"][name] = fuzz_one(run, seeds, args.n, seed=i + 1) | {
                "seeds": len(seeds), "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{'decoder':<22} {'inputs':>8} {'read':>8} {'rejected':>9} {'crashes':>8} "
              f"{'slowest ms':>10} {'wall s':>7}")  # fmt: skip
        for name, r in res["decoders"].items():
            print(f"{name:<22} {r['inputs']:>8} {r['read']:>8} {r['rejected']:>9} "
                  f"{r['crashes']:>8} {r['slowest_ms']:>10} {r['wall_s']:>7}")  # fmt: skip
            if r["crash_example"]:
                print(f"  first crash: {r['crash_example']}")
    crashed = any(r["crashes"] for r in res["decoders"].values())
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
