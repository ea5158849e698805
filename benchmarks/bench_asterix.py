"""ASTERIX in: CAT048 records/s decoded to tracker scans, MEAD's fast path vs libasterix
(and CAT062 system tracks decoded to a partner's tracks, likewise).

Run as ``python -m benchmarks.bench_asterix [--file REC] [--records 200000]
[--lib-records 20000] [--cat062-records 50000] [--fuzz 0] [--json]``.

CAT062 input is MEAD's own CAT062 output for 500 tracks (edition 1.18, with I380 ID, I220
and I500 estimated accuracies from their covariances), cycled: the shared CAT062 1.18
recording holds only two records.

The CAT048 blocks of a recording (default: the shared ``cat_034_048.pcap``) are decoded
over and over on one core, to plots and then to the tracker's scans, by MEAD's fast path
and by libasterix (the same items read through its API), side by side. With ``--fuzz N``,
N mutated blocks are also decoded by both and compared record by record: where libasterix
reads a block the fast path must read the same values, and it must never raise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._machine import cpu_model, pin_one_core, versions
from mead.errors import AsterixError
from mead.sensors import asterix as ax

DEFAULT_FILE = Path("/work/shared/data/asterix/cat_034_048.pcap")
SIGMA = np.array([75.0, math.radians(0.1), math.radians(0.5)])
SITE = (45.0, 16.0, 300.0)
KEYS = ("sac", "sic", "tod_s", "rho_nm", "theta_deg", "mode3a", "address", "fl", "track")


def blocks048(path: Path) -> list[ax.Block]:
    """The CAT048 blocks of a recording."""
    return [b for b in ax.read_blocks(path) if isinstance(b, ax.Block) and b.category == 48]


def run_fast(blocks: list[ax.Block], records: int) -> tuple[int, float]:
    """Decode blocks (cycled) until ``records`` plots, then to scans: (plots, seconds)."""
    t0 = time.perf_counter()
    out, i = ax.Plots048(), 0
    while len(out) < records:
        b = blocks[i % len(blocks)]
        ax.decode048(b.data, b.offset, out)
        i += 1
    ax.plots2scans(out, "R", "P", SITE, SIGMA)
    return len(out), time.perf_counter() - t0


def run_library(blocks: list[ax.Block], records: int) -> tuple[int, float]:
    """The same through libasterix: its records' items read into the plot columns."""
    ax.decode_library(blocks[0])  # import the generated module outside the timing
    t0 = time.perf_counter()
    out, i = ax.Plots048(), 0
    while len(out) < records:
        recs = ax.decode_library(blocks[i % len(blocks)])
        i += 1
        if isinstance(recs, AsterixError):
            continue
        for r in recs:
            for k in KEYS:
                v = r[k]
                getattr(out, k).append(
                    (math.nan if k in ("fl", "tod_s") else -1) if v is None else v
                )
    ax.plots2scans(out, "R", "P", SITE, SIGMA)
    return len(out), time.perf_counter() - t0


def blocks062(n: int = 500) -> list[ax.Block]:
    """MEAD's CAT062 output for ``n`` tracks, as blocks."""
    from mead import geo
    from mead.interop.asterix import encode062

    rng = np.random.default_rng(62)
    lat, lon, alt = rng.uniform(30, 50, n), rng.uniform(10, 40, n), rng.uniform(0, 12e3, n)
    vel = np.einsum("nji,nj->ni", geo.enu_rotations(lat, lon), rng.uniform(-250, 250, (n, 3)))
    states = np.hstack([geo.geodetic2ecef(lat, lon, alt), vel])
    A = rng.normal(size=(n, 6, 6)) * np.array([200.0, 200.0, 50.0, 5.0, 5.0, 2.0])
    data = encode062(np.arange(n), np.full(n, 1.7e9), states, (25, 1), ["ELY1747"] * n,
                     P=A @ A.swapaxes(-1, -2))  # fmt: skip
    return [b for b in ax.iter_blocks(data) if isinstance(b, ax.Block)]


def run062(blocks: list[ax.Block], records: int, library: bool) -> tuple[int, float]:
    """Decode CAT062 blocks (cycled) until ``records`` tracks, then to the partner's track
    report (fast path), or through libasterix's API: (records, seconds)."""
    from mead.scenario.schema import TrackFeed
    from mead.sensors.asterix062 import Tracks062, decode062
    from mead.tracking.external import SystemTracks

    ax.decode_library(blocks[0])  # import the generated module outside the timing
    t0 = time.perf_counter()
    n, i = 0, 0
    if library:
        while n < records:
            recs = ax.decode_library(blocks[i % len(blocks)])
            n += 0 if isinstance(recs, AsterixError) else len(recs)
            i += 1
        return n, time.perf_counter() - t0
    out = Tracks062()
    while len(out) < records:
        b = blocks[i % len(blocks)]
        decode062(b.data, b.offset, out)
        i += 1
    src = SystemTracks(TrackFeed(id="B", file="x", max_age_s=1e9), "P")
    src.take(out, np.zeros(len(out)))
    src.report(0.0)
    return len(out), time.perf_counter() - t0


def fuzz(blocks: list[ax.Block], n: int, seed: int = 1) -> dict[str, int]:
    """Mutated blocks through both decoders: counts of agreement and of rejections."""
    rng = np.random.default_rng(seed)
    counts = {"inputs": 0, "both_read_same": 0, "library_rejects": 0, "fast_rejects_only": 0}
    for _ in range(n):
        data = bytearray(blocks[int(rng.integers(len(blocks)))].data)
        for _ in range(int(rng.integers(1, 4))):
            if not data:
                break
            pos = int(rng.integers(len(data)))
            if rng.random() < 0.2:
                del data[pos:]
            else:
                data[pos] = int(rng.integers(256))
        block = ax.Block(0, 48, bytes(data))
        fast = ax.decode048(block.data)
        lib = ax.decode_library(block)
        counts["inputs"] += 1
        if isinstance(lib, AsterixError):
            counts["library_rejects"] += 1
        elif fast.errors:
            counts["fast_rejects_only"] += 1
        else:
            for i, rec in enumerate(lib):
                for k in KEYS:
                    got, want = getattr(fast, k)[i], rec[k]
                    same = (
                        (got in (-1,) or math.isnan(got))
                        if want is None
                        else abs(got - want) < 1e-9
                    )
                    if not same:
                        raise SystemExit(f"fast path disagrees on {k}: {data.hex()}")
            counts["both_read_same"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--lib-records", type=int, default=20_000)
    ap.add_argument("--cat062-records", type=int, default=50_000)
    ap.add_argument("--fuzz", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.file.exists():
        print(f"recording {args.file} not found: give one with --file", file=sys.stderr)
        return 2
    cpu = pin_one_core()
    blocks = blocks048(args.file)
    if not blocks:
        print(f"{args.file}: no CAT048 blocks", file=sys.stderr)
        return 2
    n_fast, s_fast = run_fast(blocks, args.records)
    n_lib, s_lib = run_library(blocks, args.lib_records)
    b62 = blocks062()
    n62, s62 = run062(b62, args.cat062_records, library=False)
    n62l, s62l = run062(b62, max(args.cat062_records // 10, 1), library=True)
    res: dict[str, Any] = {
        "file": str(args.file),
        "fast": {"records": n_fast, "seconds": s_fast, "records_per_s": n_fast / s_fast},
        "libasterix": {"records": n_lib, "seconds": s_lib, "records_per_s": n_lib / s_lib},
        "cat062_fast": {"records": n62, "seconds": s62, "records_per_s": n62 / s62},
        "cat062_libasterix": {"records": n62l, "seconds": s62l, "records_per_s": n62l / s62l},
        "machine": {"cpu": cpu_model(), "pinned_cpu": cpu},
        "versions": versions("libasterix", "numpy"),
    }
    if args.fuzz:
        res["fuzz"] = fuzz(blocks, args.fuzz)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"CAT048 records decoded to scans, one core ({res['machine']['cpu']}), {args.file.name}")
    print(f"{'decoder':<12}{'records':>10}{'seconds':>10}{'records/s':>12}")
    for name in ("fast", "libasterix"):
        r = res[name]
        print(f"{name:<12}{r['records']:>10}{r['seconds']:>10.3f}{r['records_per_s']:>12,.0f}")
    print(f"speed-up {res['fast']['records_per_s'] / res['libasterix']['records_per_s']:.1f}x")
    print("CAT062 records decoded to a partner's tracks (MEAD's own CAT062 output, 500 tracks)")
    for name in ("cat062_fast", "cat062_libasterix"):
        r = res[name]
        print(f"{name:<18}{r['records']:>10}{r['seconds']:>10.3f}{r['records_per_s']:>12,.0f}")
    print(f"versions {res['versions']}")
    if args.fuzz:
        print(f"fuzz: {res['fuzz']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
