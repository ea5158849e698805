"""ADS-B against radar: a real recording flown past a simulated radar raises nothing; a copy
whose positions drift away (GNSS spoofing no jump check sees) disagrees with the radar
track correlated to its address, found by the cooperative identification the warnings use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mead import geo
from mead.sensors.adsb_replay import AdsbRecording, csv2reports, jumps, read_adsb_csv
from mead.sensors.base import Scan
from mead.threat.cooperative import radar_disagreements
from mead.tracking.tracker import Tracker

ELAL = Path("/work/shared/data/adsb/opensky_elal747_LIRF_LLBG_20191103.csv")
SIGMA = np.array([75.0, np.radians(0.1), np.radians(0.2)])  # m, rad, rad


@pytest.fixture(scope="module")
def cruise() -> AdsbRecording:
    """30 minutes of the El Al flight's cruise."""
    rec = read_adsb_csv(ELAL)
    high = np.flatnonzero(rec.alt_m > 9000.0)
    t_mid = rec.t[high[len(high) // 2]]
    keep = (rec.t >= t_mid - 900.0) & (rec.t <= t_mid + 900.0)
    return dataclasses.replace(rec, **{f.name: getattr(rec, f.name)[keep]
                                       for f in dataclasses.fields(rec)})  # fmt: skip


def _radar_pictures(
    rec: AdsbRecording, t0: float, seed: int
) -> list[tuple[float, list[str], np.ndarray, np.ndarray]]:
    """A radar 60 km off the route's middle sees the recorded positions (the truth) every
    5 s with noise; MEAD's tracker follows it: its pictures (scenario s since ``t0``)."""
    rng = np.random.default_rng(seed)
    mid = len(rec) // 2
    site = (float(rec.lat_deg[mid]) + 0.55, float(rec.lon_deg[mid]), 100.0)
    t = np.arange(rec.t[0], rec.t[-1], 5.0)
    truth = geo.geodetic2ecef(np.interp(t, rec.t, rec.lat_deg),
                              np.interp(t, rec.t, rec.lon_deg),
                              np.interp(t, rec.t, rec.alt_m))  # fmt: skip
    rae = geo.enu2rae(geo.ecef2enu(truth, *site))
    z = rae + rng.normal(0.0, SIGMA, rae.shape)
    tracker, out = Tracker("P1"), []
    for k, tk in enumerate(t):
        tracker.step(Scan("R1", "P1", float(tk - t0), *site, z[k : k + 1], SIGMA,
                          np.zeros(1, dtype=np.int64)))  # fmt: skip
        rep = tracker.report(float(tk - t0))
        out.append((rep.t, rep.ids, rep.x, rep.P))
    return out


def _drifted(rec: AdsbRecording, t_start: float, ramp_s: float, peak_m: float) -> AdsbRecording:
    """A copy whose positions drift east to ``peak_m`` over ``ramp_s`` and back over as long
    from ``t_start`` (at most peak_m / ramp_s ≈ 15 m/s off the aircraft's own motion)."""
    dt = rec.t - t_start
    off = np.clip(np.minimum(dt, 2 * ramp_s - dt) / ramp_s, 0.0, 1.0) * peak_m
    dlon = np.degrees(off / (geo.R_MEAN_M * np.cos(np.radians(rec.lat_deg))))
    return dataclasses.replace(rec, lon_deg=rec.lon_deg + dlon)


def test_the_real_flight_agrees_with_the_radar(cruise: AdsbRecording) -> None:
    t0 = float(cruise.t[0])
    pictures = _radar_pictures(cruise, t0, seed=3)
    assert sum(len(ids) for _, ids, _, _ in pictures) > 300  # the radar tracked it
    assert radar_disagreements(csv2reports(cruise, "P1", t0), pictures) == []


def test_a_drifting_spoofed_copy_disagrees_with_the_radar(cruise: AdsbRecording) -> None:
    t0 = float(cruise.t[0])
    start, ramp = t0 + 600.0, 300.0
    spoofed = _drifted(cruise, start, ramp, 4500.0)
    assert jumps(spoofed) == []  # no jump: the jump check alone cannot see it
    pictures = _radar_pictures(cruise, t0, seed=3)  # the radar sees the real aircraft
    (dis,) = radar_disagreements(csv2reports(spoofed, "P1", t0), pictures)
    assert f"{dis.icao:06x}" == "738043" and dis.callsign == "ELY1747"
    # inside the spoofed interval, covering its middle where the offset is over ~2 km
    assert start - t0 < dis.t0 < start - t0 + 0.5 * ramp
    assert start - t0 + 1.5 * ramp < dis.t1 < start - t0 + 2 * ramp
    assert dis.max_sigma > 6.0


def test_the_flight_received_as_cat021_identifies_the_radar_track(
    cruise: AdsbRecording, tmp_path: Path
) -> None:
    """The same cruise received as ASTERIX CAT021 instead of CSV: the cooperative
    identification binds the radar track to ELY1747 (civil), and nothing disagrees."""
    from mead.interop.asterix import encode021
    from mead.sensors.adsb_asterix import read_cat021
    from mead.threat.cooperative import CIVIL, CooperativeId

    path = tmp_path / "cruise.ast"
    path.write_bytes(encode021(cruise, (25, 100)))
    day = float(cruise.t[0] // 86400 * 86400)
    rec, errors = read_cat021(path, day)
    assert not errors and len(rec) == len(cruise)
    t0 = float(cruise.t[0])
    reports = csv2reports(rec, "P1", t0)
    pictures = _radar_pictures(cruise, t0, seed=3)
    coop = CooperativeId()
    idents = [coop.step(t, ids, x, P, reports) for t, ids, x, P in pictures if ids]
    last = idents[-1]
    assert list(last.ident) == [CIVIL] and last.callsign[0] == "ELY1747"
    assert radar_disagreements(reports, pictures) == []
