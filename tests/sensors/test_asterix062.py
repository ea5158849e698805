"""CAT062 fast path: every CAT062 record of the shared recordings against the reference
decodes (editions 1.18 and 0.17), record by record against libasterix (1.18) on the
recordings, on MEAD's own CAT062 output and on mutated blocks; bad input, fuzzed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mead import geo
from mead.errors import AsterixError
from mead.interop import asterix as out
from mead.sensors import asterix as ax
from mead.sensors import asterix062 as a62

from .test_fuzz import _clear, mutants

SHARED = Path("/work/shared/data/asterix")  # GPL recordings: read in place, not copied
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="shared recordings not present")
FILES = [("cat062_ed0.17_100pkts.pcap", "0.17"), ("cat_062_065.pcap", "1.18")]
T0 = 1_700_000_000.0  # UTC s


def _ref(rec: dict[str, Any], item: str, *path: str) -> Any:
    node: Any = rec.get(item)
    for name in path:
        if node is None:
            return None
        node = node.get(name)
    return None if node is None else node["val"]


def _expected(rec: dict[str, Any], edition: str) -> dict[str, Any]:
    """The reference's values of the items MEAD reads, in MEAD's units (None: absent)."""
    old = edition == "0.17"
    speed, hdg = _ref(rec, "I180", "Speed"), _ref(rec, "I180", "Hdg")
    vx, vy = _ref(rec, "I185", "Vx"), _ref(rec, "I185", "Vy")
    if speed is not None:  # 0.17: polar velocity, kt and deg
        v = speed * a62.KT_MPS
        vx, vy = v * math.sin(math.radians(hdg)), v * math.cos(math.radians(hdg))
    fl = _ref(rec, "I136", "FL") if old else _ref(rec, "I136", "MFL")
    adr = _ref(rec, "I380", "ADR", "ADR")
    roc = _ref(rec, "I220", "ROC") if old else _ref(rec, "I220", "RoC")
    if old and roc is not None and roc >= 2**15 * 6.25:
        # the reference's 0.17 definition reads I220 unsigned; the item is two's complement
        roc -= 2**16 * 6.25
    return {
        "sac": _ref(rec, "I010", "SAC"), "sic": _ref(rec, "I010", "SIC"),
        "tod_s": _ref(rec, "I070", "time_of_track") if old else _ref(rec, "I070", "ToT"),
        "track": _ref(rec, "I040", "TrackN") if old else _ref(rec, "I040", "TrkN"),
        "lat_deg": _ref(rec, "I105", "Lat"), "lon_deg": _ref(rec, "I105", "Lon"),
        "mode3a": int(_ref(rec, "I060", "Mod3A" if old else "Mode3A")),
        "fl": None if fl is None else (fl if old else fl / 100.0),  # 1.18: in ft there
        "alt_ft": _ref(rec, "I130", "Alt"), "vx_mps": vx, "vy_mps": vy,
        "vz_mps": None if roc is None else roc * a62.FPM_MPS,
        "address": None if adr is None else int(adr, 16),
        "callsign": (_ref(rec, "I380", "ID", "ACID") or _ref(rec, "I390", "CSN", "CS")
                     or "").rstrip(),
    }  # fmt: skip


def _same(got: Any, want: Any, key: str) -> None:
    if want is None:
        assert got in (-1, "") or (isinstance(got, float) and math.isnan(got)), key
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-6), key
    else:
        assert got == want, key


@pytest.mark.parametrize(("name", "edition"), FILES)
def test_every_cat062_record_equals_the_reference_decode(name: str, edition: str) -> None:
    refs = [json.loads(line) for line in (SHARED / f"{name}.jsonl").read_text().splitlines()]
    refs = [r for r in refs if r["category"] == 62]
    tracks = a62.decode062_blocks(ax.read_blocks(SHARED / name), edition)  # type: ignore[arg-type]
    assert not tracks.errors and len(tracks) == len(refs) > 0  # every record, none invented
    for i, rec in enumerate(refs):
        for key, want in _expected(rec, edition).items():
            _same(getattr(tracks, key)[i], want, key)
    if edition == "0.17":
        assert tracks.callsign[0] == "BAW891" and len(set(tracks.track)) == 56


def _library_rows(block: ax.Block) -> list[dict[str, Any]]:
    got = ax.decode_library(block)
    assert not isinstance(got, AsterixError), got
    return got


def _same_as_library(tracks: a62.Tracks062, lib: list[dict[str, Any]]) -> None:
    assert len(tracks) == len(lib)
    for i, r in enumerate(lib):
        want = dict(r)
        want["callsign"] = r["callsign"] or r["csn"]
        want["vz_mps"] = None if r["roc_fpm"] is None else r["roc_fpm"] * a62.FPM_MPS
        for key in ("sac", "sic", "tod_s", "track", "lat_deg", "lon_deg", "mode3a", "fl",
                    "alt_ft", "vx_mps", "vy_mps", "vz_mps", "address", "callsign"):  # fmt: skip
            _same(getattr(tracks, key)[i], want[key], key)


def _own_output(n: int = 60) -> bytes:
    """MEAD's CAT062 output for n tracks (several blocks)."""
    rng = np.random.default_rng(7)
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 2e4, n)
    vel_enu = rng.uniform(-300, 300, (n, 3))
    vel = np.einsum("nji,nj->ni", geo.enu_rotations(lat, lon), vel_enu)
    states = np.hstack([geo.geodetic2ecef(lat, lon, alt), vel])
    return out.encode062(np.arange(n), T0 + rng.uniform(0, 9e4, n), states, (7, 9),
                         ["ELY1747"] * n)  # fmt: skip


def test_fast062_equals_library_on_recordings_and_own_output() -> None:
    blocks = [b for b in ax.read_blocks(SHARED / "cat_062_065.pcap") if isinstance(b, ax.Block)]
    blocks += [b for b in ax.iter_blocks(_own_output()) if isinstance(b, ax.Block)]
    blocks = [b for b in blocks if b.category == 62]
    assert len(blocks) >= 2
    for b in blocks:
        fast = a62.decode062(b.data, b.offset)
        assert not fast.errors
        _same_as_library(fast, _library_rows(b))


def test_fast062_fuzzed_agrees_with_library_or_reports_an_error() -> None:
    """Mutated blocks: where libasterix reads a block the fast path reads the same values
    or reports an error naming the block's offset; it never reads what the library
    rejects as something else than an error or the same records."""
    rng = np.random.default_rng(62)
    seeds = [b.data for b in ax.iter_blocks(_own_output(6)) if isinstance(b, ax.Block)]
    seeds += [b.data for b in ax.read_blocks(SHARED / "cat_062_065.pcap")
              if isinstance(b, ax.Block) and b.category == 62]  # fmt: skip
    agreed = rejected = 0
    for _ in range(600):
        data = bytearray(seeds[rng.integers(len(seeds))])
        for _ in range(rng.integers(1, 3)):
            if not data:
                break
            pos = int(rng.integers(len(data)))
            if rng.integers(2):
                data[pos] ^= 1 << int(rng.integers(8))
            else:
                del data[pos:]
        if not data:
            continue
        block = ax.Block(41, 62, bytes(data))
        fast = a62.decode062(block.data, block.offset)
        for e in fast.errors:
            _clear(e, 41, 62)
        lib = ax.decode_library(block)
        if isinstance(lib, AsterixError):
            rejected += 1
        elif not fast.errors:
            _same_as_library(fast, lib)
            agreed += 1
    assert agreed > 50 and rejected > 50  # both branches exercised


def test_corrupt_cat062_block_is_reported_with_its_offset_and_the_stream_goes_on() -> None:
    good = [b for b in ax.iter_blocks(_own_output(6)) if isinstance(b, ax.Block)][0]
    block = bytes([62]) + (3 + len(good.data)).to_bytes(2, "big") + good.data
    cut = bytearray(block[:-5])
    cut[1:3] = len(cut).to_bytes(2, "big")  # the last record runs past its block
    stream = bytes(cut) + block
    tracks = a62.decode062_blocks(ax.iter_blocks(stream))
    (err,) = tracks.errors
    assert err.offset == 0 and err.category == 62 and "truncated" in str(err)
    assert len(tracks) == 5 + 6  # only the cut record is lost
    overrun = a62.decode062_blocks(ax.iter_blocks(block + b"\x3e\x7f\xff\x00"))
    assert len(overrun) == 6 and overrun.errors[0].offset == len(block)


def test_unknown_edition_is_named() -> None:
    with pytest.raises(ValueError, match="edition"):
        a62.decode062(b"", edition="9.9")  # type: ignore[arg-type]


@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(mutants([b.data for b in ax.read_blocks(SHARED / "cat062_ed0.17_100pkts.pcap")
                if isinstance(b, ax.Block)][:20]))  # fmt: skip
def test_cat062_fast_path_fuzzed_both_editions(buf: bytes) -> None:
    for edition in ("0.17", "1.18"):
        tracks = a62.decode062(buf, 3, edition=edition)  # type: ignore[arg-type]
        for e in tracks.errors:
            _clear(e, 3, 62)
        n = len(tracks)
        assert len(tracks.lat_deg) == len(tracks.callsign) == len(tracks.ended) == n
