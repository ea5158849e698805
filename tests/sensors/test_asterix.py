"""ASTERIX in: the fast CAT048 path and libasterix against the reference decodes, bad input,
pcap and UDP framing, plots to scans."""

from __future__ import annotations

import json
import socket
import struct
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
    from asterix.base import Bits  # noqa: F401  (libasterix is a runtime dependency)

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
