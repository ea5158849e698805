"""ASTERIX in: the fast CAT048 path and libasterix against the reference decodes, bad input,
pcap and UDP framing, plots to scans."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mead.errors import AsterixError
from mead.sensors import asterix as ax

LOCAL = Path(__file__).resolve().parents[1] / "data" / "asterix"  # files free to copy
SHARED = Path("/work/shared/data/asterix")  # GPL recordings: read in place, not copied


def _path(name: str) -> Path:
    """A test recording: in the project if its licence allows, else the shared folder."""
    path = LOCAL / name if (LOCAL / name).exists() else SHARED / name
    if not path.exists():
        pytest.skip(f"shared recording {name} not present")
    return path


FILES = ["cat_034_048.pcap", "goasterix_sample.ast", "cat048.raw", "cat_062_065.pcap",
         "cat21_re.ast", "cat021_ed2.6_i131_libasterix.ast"]  # fmt: skip

# reference (asterix-decoder jsonl) item -> MEAD field, per category
REF = {
    48: {("I010", "SAC"): "sac", ("I010", "SIC"): "sic", ("I140", "ToD"): "tod_s",
         ("I040", "RHO"): "rho_nm", ("I040", "THETA"): "theta_deg",
         ("I070", "Mode3A"): "mode3a", ("I090", "FL"): "fl", ("I220", "ACAddr"): "address",
         ("I240", "TId"): "callsign", ("I161", "Tn"): "track"},
    34: {("I010", "SAC"): "sac", ("I010", "SIC"): "sic", ("I000", "MsgTyp"): "message_type",
         ("I030", "ToD"): "tod_s", ("I020", "Azi"): "sector_deg"},
    62: {("I010", "SAC"): "sac", ("I010", "SIC"): "sic", ("I070", "ToT"): "tod_s",
         ("I105", "Lat"): "lat_deg", ("I105", "Lon"): "lon_deg", ("I040", "TrkN"): "track",
         ("I060", "Mode3A"): "mode3a", ("I380", "ADR"): "address", ("I380", "ID"): "callsign"},
    21: {("I010", "SAC"): "sac", ("I010", "SIC"): "sic", ("I080", "TAddr"): "address",
         ("I130", "Lat"): "lat_deg", ("I130", "Lon"): "lon_deg",
         ("I131", "Lat"): "lat_hr_deg", ("I131", "Lon"): "lon_hr_deg",
         ("I170", "TId"): "callsign", ("I145", "FL"): "fl", ("I161", "TrackN"): "track"},
}  # fmt: skip


def _ref_value(rec: dict[str, Any], item: str, sub: str) -> Any:
    """A reference item value (None where absent), normalised to MEAD's types."""
    node = rec.get(item)
    if node is None:
        return None
    node = node.get(sub)
    if isinstance(node, dict) and "val" not in node:  # compound subfield (I380)
        node = next(iter(node.values()))
    if node is None:
        return None
    val = node["val"]
    if sub in ("ACAddr", "ADR", "TAddr"):
        return int(val, 16)
    if sub == "Mode3A":
        return int(val)
    if isinstance(val, str):
        return val.rstrip()
    return val


def _reference(name: str) -> dict[str, list[dict[str, Any]]]:
    """Reference records of a file by record hex."""
    out: dict[str, list[dict[str, Any]]] = {}
    for line in _path(f"{name}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.setdefault(rec["hexdata"].upper(), []).append(rec)
    return out


def _mead_records(name: str) -> list[tuple[int, bytes, dict[str, Any]]]:
    """(category, record bytes, MEAD's library decode) for every record MEAD reads."""
    out = []
    for b in ax.read_blocks(_path(name)):
        assert not isinstance(b, AsterixError), b
        if b.category not in ax.EDITIONS:
            continue
        decoded = ax.decode_library(b)
        assert not isinstance(decoded, AsterixError), decoded
        raws = ax.library_records(b)
        assert not isinstance(raws, AsterixError)
        for raw, d in zip(raws, decoded, strict=True):
            out.append((b.category, raw.unparse().to_bytes(), d))
    return out


@pytest.mark.parametrize("name", FILES)
def test_library_decode_matches_reference_on_every_record(name: str) -> None:
    ref = _reference(name)
    recs = _mead_records(name)
    n_ref = sum(r["category"] in ax.EDITIONS for v in ref.values() for r in v)
    assert len(recs) == n_ref  # every reference record is read, none invented
    for cat, raw, mine in recs:
        theirs = ref[raw.hex().upper()][0]
        assert theirs["category"] == cat
        for (item, sub), key in REF[cat].items():
            want = _ref_value(theirs, item, sub)
            got = mine[key]
            if key == "fl" and cat == 62 and want is None:
                want = _ref_value(theirs, "I136", "MFL")
                want = None if want is None else want / 100.0
            if isinstance(want, float):
                assert got == pytest.approx(want, abs=1e-9), (name, key)
            else:
                assert got == want, (name, key, raw.hex())


def _lib048(block: ax.Block) -> list[dict[str, Any]] | AsterixError:
    return ax.decode_library(block)


def _same048(block: ax.Block, fast: ax.Plots048, lib: list[dict[str, Any]]) -> None:
    """The fast path's columns equal libasterix's values, record by record."""
    assert len(fast) == len(lib)
    for i, rec in enumerate(lib):
        for key in ("sac", "sic", "tod_s", "rho_nm", "theta_deg", "mode3a", "address",
                    "fl", "track"):  # fmt: skip
            got, want = getattr(fast, key)[i], rec[key]
            if want is None:
                assert got == -1 or (isinstance(got, float) and np.isnan(got)), (key, i)
            else:
                assert got == pytest.approx(want, abs=1e-9), (key, i, block.data.hex())


@pytest.mark.parametrize("name", ["cat_034_048.pcap", "goasterix_sample.ast", "cat048.raw"])
def test_fast048_equals_library_record_by_record(name: str) -> None:
    n = 0
    for b in ax.read_blocks(_path(name)):
        assert not isinstance(b, AsterixError)
        if b.category != 48:
            continue
        fast = ax.decode048(b.data, b.offset)
        lib = _lib048(b)
        assert not isinstance(lib, AsterixError) and not fast.errors
        _same048(b, fast, lib)
        n += len(fast)
    assert n > 0


def _seed_blocks() -> list[bytes]:
    blocks = []
    for name in ("cat_034_048.pcap", "goasterix_sample.ast", "cat048.raw"):
        for b in ax.read_blocks(_path(name)):
            if not isinstance(b, AsterixError) and b.category == 48:
                blocks.append(b.data)
    return blocks


def test_fast048_fuzzed_agrees_with_library_or_reports_an_error() -> None:
    """Mutated real blocks: no crash; where libasterix reads the block, the fast path reads
    the same values; where the fast path reports an error, it names the block's offset."""
    rng = np.random.default_rng(12)
    seeds = _seed_blocks()
    agreed = failed = 0
    for _ in range(1500):
        data = bytearray(seeds[rng.integers(len(seeds))])
        for _ in range(rng.integers(1, 4)):
            if not data:
                break
            pos = int(rng.integers(len(data)))
            match rng.integers(3):
                case 0:
                    data[pos] = int(rng.integers(256))
                case 1:
                    del data[pos:]
                case _:
                    data[pos] ^= 1 << int(rng.integers(8))
        if not data:
            continue
        block = ax.Block(77, 48, bytes(data))
        fast = ax.decode048(block.data, block.offset)
        for err in fast.errors:
            assert err.offset == 77 and "CAT048" in str(err)
        lib = _lib048(block)
        if isinstance(lib, AsterixError):
            failed += 1
            continue
        if not fast.errors:
            _same048(block, fast, lib)
            agreed += 1
    assert agreed > 100 and failed > 100  # both branches were exercised


def test_random_bytes_never_crash_the_framer_or_the_fast_path() -> None:
    rng = np.random.default_rng(5)
    for _ in range(2000):
        buf = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        out = ax.decode048_blocks(ax.iter_blocks(buf))
        assert all(isinstance(e, AsterixError) for e in out.errors)
        assert len(out.sac) == len(out.track) == len(out.fl)


def test_corrupt_block_is_reported_with_its_offset_and_the_stream_goes_on() -> None:
    good = _path("goasterix_sample.ast").read_bytes()
    first = next(b for b in ax.iter_blocks(good) if not isinstance(b, AsterixError))
    assert first.category == 48
    n_first = len(ax.decode048(first.data))
    # a block whose last record is cut: its length says 10 bytes fewer
    cut = bytearray(good[: 3 + len(first.data)])
    cut = cut[:-10]
    cut[1:3] = len(cut).to_bytes(2, "big")
    stream = bytes(cut) + good
    out = ax.decode048_blocks(ax.iter_blocks(stream))
    assert len(out.errors) == 1
    err = out.errors[0]
    assert err.offset == 0 and err.category == 48 and "truncated" in str(err)
    assert len(out) == (n_first - 1) + n_first  # only the cut record is lost
    # a block length that overruns the buffer ends it, with the offset named
    bad = good + b"\x30\x7f\xff\x00"
    errs = [b for b in ax.iter_blocks(bad) if isinstance(b, AsterixError)]
    assert len(errs) == 1 and errs[0].offset == len(good) and "length 32767" in str(errs[0])


def test_pcap_payloads_are_sliced_by_udp_length() -> None:
    out = ax.decode048_blocks(ax.read_blocks(_path("cat_034_048.pcap")))
    assert len(out) == 128 and not out.errors  # trailer bytes would make 12 errors


def test_not_a_pcap_and_truncated_pcap_are_named() -> None:
    errs = list(ax.pcap_payloads(b"\x00" * 30))
    assert isinstance(errs[0], AsterixError) and "not a pcap" in str(errs[0])
    buf = _path("cat_034_048.pcap").read_bytes()[:200]
    items = list(ax.pcap_payloads(buf))
    assert isinstance(items[-1], AsterixError) and "truncated" in str(items[-1])


def test_udp_socket_on_loopback_carries_blocks() -> None:
    data = _path("goasterix_sample.ast").read_bytes()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2.0)
        tx.sendto(data, rx.getsockname())
        out = ax.decode048_blocks(ax.udp_blocks(rx, max_datagrams=1))
    finally:
        rx.close()
        tx.close()
    assert len(out) == 11 and out.address[0] == 0x3B75EF


def test_plots_become_scans_at_the_flight_level() -> None:
    from mead import geo

    plots = ax.decode048_blocks(ax.read_blocks(_path("cat_034_048.pcap")))
    site = (45.0, 16.0, 300.0)
    sigma = np.array([75.0, np.radians(0.1), np.radians(0.5)])
    scans = ax.plots2scans(plots, "R1", "P1", site, sigma)
    located = np.isfinite(plots.rho_nm) & np.isfinite(plots.tod_s)
    assert sum(len(s.z) for s in scans) == located.sum() > 120
    ts = [s.t for s in scans]
    assert ts == sorted(ts) and ts[0] == pytest.approx(0.0, abs=0.5)
    z = np.concatenate([s.z for s in scans])
    order = np.argsort(np.asarray(plots.tod_s)[located], kind="stable")  # scans sort by time
    fl = np.asarray(plots.fl)[located][order]
    has = ~np.isnan(fl)
    assert has.sum() > 50
    # back to the ground: every plot with a flight level sits at that altitude
    _, _, alt = geo.ecef2geodetic(geo.enu2ecef(geo.rae2enu(z[has]), *site))
    # within 50 m: elevation is solved on a sphere, altitude read back on WGS84
    np.testing.assert_allclose(alt, fl[has] * 100 * ax.FT_M, atol=50.0)
    assert all(s.partner == "P1" and s.sensor_id == "R1" for s in scans)
    one = ax.plots2scans(plots, "R1", "P1", site, sigma, sac_sic=(25, 201))
    n201 = int((located & (np.asarray(plots.sic) == 201)).sum())
    assert 0 < sum(len(s.z) for s in one) == n201 < located.sum()


def test_midnight_rollover_keeps_time_monotone() -> None:
    t = ax.unwrap_tod(np.array([86399.0, 86399.9, 0.2, 1.0]))
    assert np.all(np.diff(t) > 0) and t[2] == pytest.approx(86400.2)
