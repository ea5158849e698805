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


# I062/500 columns of the fast path and the libasterix value each is read from
I500 = {"sigma_x_m": "apc_x_m", "sigma_y_m": "apc_y_m", "sigma_lat_deg": "apw_lat_deg",
        "sigma_lon_deg": "apw_lon_deg", "sigma_alt_ft": "aga_ft", "sigma_fl": "aba_fl",
        "sigma_vx_mps": "atv_x_mps", "sigma_vy_mps": "atv_y_mps",
        "sigma_roc_fpm": "arc_fpm"}  # fmt: skip


def _same_as_library(tracks: a62.Tracks062, lib: list[dict[str, Any]]) -> None:
    assert len(tracks) == len(lib)
    for i, r in enumerate(lib):
        want = dict(r)
        want["callsign"] = r["callsign"] or r["csn"]
        want["vz_mps"] = None if r["roc_fpm"] is None else r["roc_fpm"] * a62.FPM_MPS
        want |= {col: r[name] for col, name in I500.items()}
        cov = r["cov_m"]  # sign(Cov)·√|Cov|
        want["cov_xy_m2"] = None if cov is None else math.copysign(cov * cov, cov)
        for key in ("sac", "sic", "tod_s", "track", "lat_deg", "lon_deg", "mode3a", "fl",
                    "alt_ft", "vx_mps", "vy_mps", "vz_mps", "address", "callsign",
                    "cov_xy_m2", *I500):  # fmt: skip
            _same(getattr(tracks, key)[i], want[key], key)


def _states(rng: np.random.Generator, n: int) -> np.ndarray:
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 2e4, n)
    vel_enu = rng.uniform(-300, 300, (n, 3))
    vel = np.einsum("nji,nj->ni", geo.enu_rotations(lat, lon), vel_enu)
    return np.hstack([geo.geodetic2ecef(lat, lon, alt), vel])


def _own_output(n: int = 60) -> bytes:
    """MEAD's CAT062 output for n tracks (several blocks), with their covariances (I500)."""
    rng = np.random.default_rng(7)
    A = rng.normal(size=(n, 6, 6)) * np.array([300.0, 300.0, 30.0, 3.0, 3.0, 1.0])
    P = A @ A.swapaxes(-1, -2)
    return out.encode062(np.arange(n), T0 + rng.uniform(0, 9e4, n), _states(rng, n), (7, 9),
                         ["ELY1747"] * n, P=P)  # fmt: skip


def _i500_output(n: int = 40) -> bytes:
    """CAT062 records made by libasterix with every I062/500 subfield MEAD reads (and AA),
    each present or not at random, values over each subfield's whole range."""
    from mead.sensors.asterix import EDITIONS, _generated

    rng = np.random.default_rng(500)
    spec = getattr(_generated(), EDITIONS[62])
    lsb = a62.LSB_APW_DEG
    recs = []
    for i in range(n):
        u8, u16 = (lambda: int(rng.integers(256))), (lambda: int(rng.integers(65536)))
        sub: dict[str, object] = {
            "APC": (("X", u16()), ("Y", u16())), "COV": (int(rng.integers(-32768, 32768))
                                                         * 0.5, "m"),
            "APW": (("LAT", (u16() * lsb, "°")), ("LON", (u16() * lsb, "°"))),
            "AGA": u8(), "ABA": u8(), "ATV": (("X", u8()), ("Y", u8())),
            "AA": (("X", u8()), ("Y", u8())), "ARC": u8(),
        }  # fmt: skip
        keep = {k: v for k, v in sub.items() if rng.random() < 0.6}
        items: dict[str, object] = {
            "010": (("SAC", 7), ("SIC", 9)),
            "015": 0,
            "070": (float(i), "s"),
            "040": i,
            "105": (("LAT", (45.0, "°")), ("LON", (16.0, "°"))),
        }
        if keep:
            items["500"] = keep
        recs.append(spec.cv_record.create(items))
    return bytes(spec.create(recs).unparse().to_bytes())


def test_fast062_equals_library_on_recordings_and_own_output() -> None:
    blocks = [b for b in ax.read_blocks(SHARED / "cat_062_065.pcap") if isinstance(b, ax.Block)]
    blocks += [b for b in ax.iter_blocks(_own_output()) if isinstance(b, ax.Block)]
    blocks += [b for b in ax.iter_blocks(_i500_output()) if isinstance(b, ax.Block)]
    blocks = [b for b in blocks if b.category == 62]
    assert len(blocks) >= 3
    for b in blocks:
        fast = a62.decode062(b.data, b.offset)
        assert not fast.errors
        _same_as_library(fast, _library_rows(b))


def test_i500_read_and_absent() -> None:
    """I500 is read where sent (every subfield, over its range, in the test above) and NaN
    where not: MEAD's own output carries APC, COV, AGA, ATV and ARC; the recordings none."""
    own = a62.decode062_blocks(ax.iter_blocks(_own_output(5)))
    assert np.isfinite(own.sigma_x_m).all() and np.isfinite(own.cov_xy_m2).all()
    assert np.isfinite(own.sigma_roc_fpm).all() and np.isnan(own.sigma_lat_deg).all()
    rec = a62.decode062_blocks(ax.read_blocks(SHARED / "cat_062_065.pcap"))
    assert len(rec) == 2 and np.isnan(a62.accuracies2enu(rec)).all()


def test_accuracies2enu_floors_falls_back_and_keeps_the_covariance_definite() -> None:
    t = a62.Tracks062()
    nan = math.nan
    rows = [  # lat, APC x, y, COV², APW lat, lon, AGA, ABA, ATV x, y, ARC
        (60.0, 0.0, 40.0, -1e6, nan, nan, 0.0, 2.0, 0.0, 3.0, 0.0),  # |Cov| > σx σy
        (60.0, nan, nan, nan, 10 * a62.LSB_APW_DEG, 20 * a62.LSB_APW_DEG, nan, nan, nan, nan,
         nan),  # APW only
        (0.0, nan, nan, 25.0, nan, nan, nan, nan, nan, nan, nan),  # COV without a σ
    ]  # fmt: skip
    for lat, *acc in rows:
        t.lat_deg.append(lat)
        t.sac.append(1)
        for col, v in zip(("sigma_x_m", "sigma_y_m", "cov_xy_m2", "sigma_lat_deg",
                           "sigma_lon_deg", "sigma_alt_ft", "sigma_fl", "sigma_vx_mps",
                           "sigma_vy_mps", "sigma_roc_fpm"), acc, strict=True):  # fmt: skip
            getattr(t, col).append(v)
    e = a62.accuracies2enu(t)
    assert e.shape == (3, 8)
    np.testing.assert_allclose(e[0, :2], [0.25, 40.0])  # a 0 is "under half an LSB"
    assert e[0, 2] == pytest.approx(-a62.MAX_CORRELATION * 0.25 * 40.0)
    np.testing.assert_allclose(e[0, 3:], [3.125 * 0.3048, 2.0 * 100 * 0.3048, 0.125, 3.0,
                                          3.125 * a62.FPM_MPS])  # fmt: skip
    m_per_deg = math.radians(1.0) * geo.R_MEAN_M
    np.testing.assert_allclose(
        e[1, :2],
        [20 * a62.LSB_APW_DEG * m_per_deg * 0.5, 10 * a62.LSB_APW_DEG * m_per_deg],
        rtol=1e-9,
    )
    assert np.isnan(e[1, 2:]).all() and np.isnan(e[2]).all()


def test_fast062_fuzzed_agrees_with_library_or_reports_an_error() -> None:
    """Mutated blocks: where libasterix reads a block the fast path reads the same values
    or reports an error naming the block's offset; it never reads what the library
    rejects as something else than an error or the same records."""
    rng = np.random.default_rng(62)
    seeds = [b.data for b in ax.iter_blocks(_own_output(6)) if isinstance(b, ax.Block)]
    seeds += [b.data for b in ax.iter_blocks(_i500_output(6)) if isinstance(b, ax.Block)]
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
                if isinstance(b, ax.Block)][:20]
               + [b.data for b in ax.iter_blocks(_i500_output(4) + _own_output(4))
                  if isinstance(b, ax.Block)]))  # fmt: skip
def test_cat062_fast_path_fuzzed_both_editions(buf: bytes) -> None:
    for edition in ("0.17", "1.18"):
        tracks = a62.decode062(buf, 3, edition=edition)  # type: ignore[arg-type]
        for e in tracks.errors:
            _clear(e, 3, 62)
        n = len(tracks)
        assert len(tracks.lat_deg) == len(tracks.callsign) == len(tracks.ended) == n
        assert len(tracks.sigma_x_m) == len(tracks.sigma_roc_fpm) == n
        acc = a62.accuracies2enu(tracks)
        assert acc.shape == (n, 8) and not (acc[:, [0, 1, 3, 4, 5, 6, 7]] <= 0).any()
