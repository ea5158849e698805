"""Recorded ADS-B: CSV reading with named errors, reports for correlation, and screening —
no flags on real flights, flags on spoofed versions made from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.errors import ConfigError
from mead.sensors.adsb_replay import csv2reports, read_adsb_csv, screen

SHARED = Path("/work/shared/data/adsb")
ELAL = SHARED / "opensky_elal747_LIRF_LLBG_20191103.csv"
PARIS = SHARED / "opensky_paris_20211007_10s.csv"
pytestmark = pytest.mark.skipif(not ELAL.exists(), reason="shared recordings not present")


@pytest.mark.parametrize("path", [ELAL, PARIS])
def test_real_recordings_raise_no_flags(path: Path) -> None:
    rec = read_adsb_csv(path)
    assert len(rec) > 2000
    assert screen(rec) == []


def test_position_offset_spoof_is_flagged_at_both_ends() -> None:
    rec = read_adsb_csv(ELAL)
    air = np.flatnonzero(~rec.onground & (rec.gs_mps > 150))
    a, b = air[300], air[330]  # about 5 minutes in cruise
    lat = rec.lat_deg.copy()
    lat[a:b] += 0.5  # 55 km north: what a spoofed GNSS position looks like
    spoofed = dataclasses.replace(rec, lat_deg=lat)
    flags = screen(spoofed)
    assert len(flags) == 2 and all("jump" in f.reason for f in flags)
    assert flags[0].t0 == rec.t[a - 1] and flags[0].t1 == rec.t[a]
    assert flags[1].t0 == rec.t[b - 1] and flags[1].t1 == rec.t[b]
    assert flags[0].callsign == "ELY1747" and flags[0].icao == "738043"


def test_fast_but_possible_flight_is_not_flagged() -> None:
    """Positions walked north at 150 m/s on top of the flight: fast, not impossible."""
    rec = read_adsb_csv(ELAL)
    a = int(np.flatnonzero(~rec.onground & (rec.gs_mps > 200))[200])
    dt = np.diff(rec.t[a : a + 13])
    lat = rec.lat_deg.copy()
    extra = np.cumsum(150.0 * dt / 111_000)
    lat[a + 1 : a + 13] += extra
    lat[a + 13 :] += extra[-1]
    assert screen(dataclasses.replace(rec, lat_deg=lat)) == []
    lat[a + 1 : a + 13] += np.cumsum(300.0 * dt / 111_000)  # now 450+ m/s over ground
    assert screen(dataclasses.replace(rec, lat_deg=lat))


def test_reports_sit_where_the_recording_says() -> None:
    rec = read_adsb_csv(ELAL)
    rep = csv2reports(rec, "P1", t0_s=float(rec.t[0]))
    assert len(rep) == int(np.isfinite(rec.alt_m).sum()) and rep.partners == ("P1",)
    lat, lon, alt = geo.ecef2geodetic(rep.ecef)
    i = np.flatnonzero(np.isfinite(rec.alt_m))
    np.testing.assert_allclose(lat, rec.lat_deg[i], atol=1e-7)
    np.testing.assert_allclose(alt, rec.alt_m[i], atol=1e-3)
    speed = np.linalg.norm(rep.vel, axis=1)
    gs = np.nan_to_num(rec.gs_mps[i])
    assert np.all(speed >= gs - 1e-6)


def test_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    head = (
        "time,icao24,callsign,lat,lon,altitude_ft,velocity_kt,heading_deg,"
        "vertical_rate_fpm,onground,squawk\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "1,738043,ELY,32.0,35.0,1000,200,90,0,0,\n2,738043,ELY,abc,35.0,,,,,,\n")
    with pytest.raises(
        ConfigError, match=r"bad.csv: expected a number \(got 'abc'\) - at `line 3, lat`"
    ):
        read_adsb_csv(bad)
    bad.write_text(head + "1,zz,ELY,32.0,35.0,1000,200,90,0,0,\n")
    with pytest.raises(ConfigError, match="hex address.*line 2, icao24"):
        read_adsb_csv(bad)
    bad.write_text("time,lat\n1,2\n")
    with pytest.raises(ConfigError, match="missing columns"):
        read_adsb_csv(bad)
    with pytest.raises(ConfigError, match="cannot open"):
        read_adsb_csv(tmp_path / "none.csv")
