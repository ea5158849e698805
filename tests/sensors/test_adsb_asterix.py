"""ADS-B as ASTERIX CAT021: the shared CAT021 files read as the reference decodes say, a
real flight sent as CAT021 reads back as the CSV recording does (same reports for the
cooperative identification, same screening: no flag on the real flight, two on a spoofed
copy), and a corrupt block is reported with its offset and skipped."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mead.errors import AsterixError, ConfigError
from mead.interop.asterix import encode021
from mead.sensors import asterix as ax
from mead.sensors.adsb_asterix import cat021_recording, read_cat021
from mead.sensors.adsb_replay import AdsbRecording, csv2reports, jumps, read_adsb_csv, screen

SHARED = Path("/work/shared/data")
ELAL = SHARED / "adsb" / "opensky_elal747_LIRF_LLBG_20191103.csv"
pytestmark = pytest.mark.skipif(not ELAL.exists(), reason="shared recordings not present")
FILES = ["cat021_ed2.6_i131_libasterix.ast", "cat21_re.ast"]
DAY = 1572739200.0  # 2019-11-03T00:00:00Z


def _v(rec: dict[str, Any], item: str, sub: str) -> Any:
    node = rec.get(item, {}).get(sub)
    return None if node is None else node["val"]


@pytest.mark.parametrize("name", FILES)
def test_cat021_files_read_as_the_reference_decodes(name: str) -> None:
    refs = [json.loads(x) for x in (SHARED / "asterix" / f"{name}.jsonl").read_text().splitlines()]
    rec, errors = read_cat021(SHARED / "asterix" / name)
    assert not errors and len(rec) == len(refs)
    by_icao = {int(r["I080"]["TAddr"]["val"], 16): r for r in refs}
    for k in range(len(rec)):
        r = by_icao[int(rec.icao[k])]
        hr = r.get("I131") is not None
        lat = _v(r, "I131" if hr else "I130", "Lat")
        lon = _v(r, "I131" if hr else "I130", "Lon")
        assert rec.lat_deg[k] == pytest.approx(lat, abs=1e-9)
        assert rec.lon_deg[k] == pytest.approx(lon, abs=1e-9)
        tod = _v(r, "I071", "time_applicability_position")
        tod = tod if tod is not None else _v(r, "I073", "time_reception_position")
        assert rec.t[k] % 86400 == pytest.approx(tod, abs=1e-9)
        fl = _v(r, "I145", "FL")
        assert (math.isnan(rec.alt_m[k]) if fl is None
                else rec.alt_m[k] == pytest.approx(fl * 30.48))  # fmt: skip
        assert rec.callsign[k] == (_v(r, "I170", "TId") or "").rstrip()


def _encode021(rec: AdsbRecording) -> bytes:
    return encode021(rec, (25, 100))


def test_a_real_flight_as_cat021_reads_back_as_its_csv(tmp_path: Path) -> None:
    csv = read_adsb_csv(ELAL)
    path = tmp_path / "elal.ast"
    path.write_bytes(_encode021(csv))
    rec, errors = read_cat021(path, DAY)
    assert not errors and len(rec) == len(csv) == 2110
    np.testing.assert_array_equal(rec.icao, csv.icao)
    np.testing.assert_array_equal(rec.callsign, csv.callsign)
    np.testing.assert_allclose(rec.t, csv.t, atol=1 / 128)
    np.testing.assert_allclose(rec.lat_deg, csv.lat_deg, atol=180 / 2**30)
    np.testing.assert_allclose(rec.lon_deg, csv.lon_deg, atol=180 / 2**30)
    np.testing.assert_allclose(rec.alt_m, csv.alt_m, atol=0.25 * 30.48 / 2 + 1e-6)
    np.testing.assert_allclose(rec.gs_mps, csv.gs_mps, atol=1852 * 2**-14 / 2 + 1e-6)
    dtrk = (rec.track_deg - csv.track_deg + 180) % 360 - 180
    assert np.nanmax(np.abs(dtrk)) <= 360 / 2**16
    # the same reports for the cooperative identification ...
    a, b = csv2reports(csv, "P1", DAY), csv2reports(rec, "P1", DAY)
    assert len(a) == len(b) > 2000
    assert np.linalg.norm(a.ecef - b.ecef, axis=1).max() < 3.9  # I145 FL/4: 7.6 m / 2
    assert np.linalg.norm(a.vel - b.vel, axis=1).max() < 0.5
    # ... and the same screening: the real flight raises nothing, a spoofed copy two jumps
    assert screen(rec) == []
    air = np.flatnonzero(~csv.onground & (csv.gs_mps > 150))
    lat = csv.lat_deg.copy()
    lat[air[300] : air[330]] += 0.5
    spoofed = tmp_path / "spoofed.ast"
    spoofed.write_bytes(_encode021(dataclasses.replace(csv, lat_deg=lat)))
    flags = jumps(read_cat021(spoofed, DAY)[0])
    assert len(flags) == 2 and flags[0].icao == "738043" and flags[0].callsign == "ELY1747"


def test_corrupt_cat021_block_is_reported_and_skipped() -> None:
    good = (SHARED / "asterix" / "cat021_ed2.6_i131_libasterix.ast").read_bytes()
    bad = bytearray(good)
    bad[3] = 0xFF  # an FSPEC naming items the block does not hold
    rec, errors = cat021_recording(ax.iter_blocks(bytes(bad) + good))
    assert len(rec) == 3 and len(errors) == 1
    assert isinstance(errors[0], AsterixError) and errors[0].offset == 0
    assert errors[0].category == 21


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such ASTERIX recording"):
        read_cat021(tmp_path / "none.ast")


def test_a_scenario_takes_recorded_adsb_as_csv_or_cat021(tmp_path: Path) -> None:
    """``partners[].adsb_files``: P1 receives the El Al flight as CAT021, P2 as its CSV;
    both get the same reports on the scenario's clock, beside the simulated traffic's."""
    from mead.runtime.simulation import prepare
    from mead.scenario import load_scenario

    (tmp_path / "elal.ast").write_bytes(_encode021(read_adsb_csv(ELAL)))
    (tmp_path / "s.yaml").write_text(f"""
name: recorded_adsb
start_utc: "2019-11-03T12:00:00Z"
duration_s: 600
coordinator: {{name: C0}}
partners:
  - {{name: P1, adsb_files: [elal.ast]}}
  - {{name: P2, adsb_files: ["{ELAL}"]}}
""")
    sc = load_scenario(tmp_path / "s.yaml")
    world = prepare(sc, 1, tmp_path / "s.yaml")
    a, b = world.adsb.for_partner("P1"), world.adsb.for_partner("P2")
    csv = read_adsb_csv(ELAL)
    assert len(a) == len(b) == int(np.isfinite(csv.alt_m).sum()) > 2000
    np.testing.assert_allclose(a.t, b.t, atol=1 / 128)
    assert a.t[0] == pytest.approx(csv.t[0] - sc.start_epoch_s(), abs=1 / 128)
    assert np.linalg.norm(a.ecef - b.ecef, axis=1).max() < 3.9
    assert set(a.callsign.tolist()) == {"ELY1747"}
    assert np.all(np.diff(world.adsb.t) >= 0)  # still time-ordered for the windows
