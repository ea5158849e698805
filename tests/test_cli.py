"""The `mead` command: help, check, run, and clean one-line errors for bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mead(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mead.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_explains_subcommands() -> None:
    out = mead("--help")
    assert out.returncode == 0
    for word in ("run", "check", "alliance", "national-only"):
        assert word in out.stdout


def test_check_reference() -> None:
    out = mead("check", "scenarios/reference.yaml")
    assert out.returncode == 0, out.stderr
    assert "6 partners" in out.stdout and "340 threats" in out.stdout


def test_bad_scenario_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\npartners: [{name: P1, sensors: [{id: r, site: {lat_deg: 95, lon_deg: 0}}]}]\n"
    )
    out = mead("check", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"mead: {bad}: Expected `float` <= 90.0 - at `$.partners[0].sensors[0].site.lat_deg`"
    )


def test_bad_policy_named_by_scenario(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("partner: P1\nrules: [{to: [P9]}]\n")
    sc = tmp_path / "s.yaml"
    sc.write_text("name: x\npartners: [{name: P1, policy: p.yaml}]\n")
    out = mead("check", str(sc))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "p.yaml" in out.stderr and "unknown partner 'P9'" in out.stderr


def test_run_small_writes_the_report(tmp_path: Path) -> None:
    out = mead("run", "scenarios/small.yaml", "--out", str(tmp_path), "--json", "--jobs", "2")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    for f in ("events.jsonl.gz", "truth.jsonl", "warning_time.png", "map.png", "report.md"):
        assert (tmp_path / f).stat().st_size > 0
    lines = gzip.decompress((tmp_path / "events.jsonl.gz").read_bytes()).splitlines()
    kinds = {json.loads(line)["kind"] for line in lines}
    assert "alert" in kinds


def test_asterix_decodes_counts_and_tracks_a_recording() -> None:
    import pytest

    rec = ROOT / "tests" / "data" / "asterix" / "cat021_ed2.6_i131_libasterix.ast"
    out = mead("asterix", str(rec), "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["records"] == {"021": 3} and got["errors"] == []
    pcap = Path("/work/shared/data/asterix/cat_034_048.pcap")
    if not pcap.exists():
        pytest.skip("shared recording not present")
    out = mead("asterix", str(pcap), "--site", "45.8,16.0,300", "--radar", "25/201", "--json")
    got = json.loads(out.stdout)
    assert got["records"] == {"048": 128, "034": 34} and got["radar"] == "25/201"
    assert got["plots"] == 28 and got["tracks"] > 0


def test_asterix_bad_input_names_what_is_wrong(tmp_path: Path) -> None:
    out = mead("asterix", str(tmp_path / "none.ast"))
    assert out.returncode == 2 and "none.ast: no such file" in out.stderr
    bad = tmp_path / "bad.ast"
    bad.write_bytes(b"\x30\x00\x10\x01")
    out = mead("asterix", str(bad), "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["errors"] == [
        "ASTERIX CAT048 block at byte 0: block length 16 does not fit (3..4 bytes left)"
    ]
    out = mead("asterix", str(bad), "--site", "45,16")
    assert out.returncode == 2 and "--site: expected 3 numbers" in out.stderr


def test_adsb_screen_flags_a_spoofed_recording(tmp_path: Path) -> None:
    import pytest

    real = Path("/work/shared/data/adsb/opensky_elal747_LIRF_LLBG_20191103.csv")
    if not real.exists():
        pytest.skip("shared recording not present")
    lines = real.read_text().splitlines()
    for k in range(1000, 1030):  # 30 rows (5 min) of cruise moved 1 degree east
        f = lines[k].split(",")
        f[4] = f"{float(f[4]) + 1.0:.5f}"
        lines[k] = ",".join(f)
    spoofed = tmp_path / "spoofed.csv"
    spoofed.write_text("\n".join(lines) + "\n")
    clean = json.loads(mead("adsb", "screen", str(real), "--json").stdout)
    assert clean["reports"] == 2110 and clean["flagged"] == {}
    got = json.loads(mead("adsb", "screen", str(spoofed), "--json").stdout)
    flags = got["flagged"]["738043"]
    assert sum("jump" in f["reason"] for f in flags) == 2  # away and back
    assert any("from the reported velocity" in f["reason"] for f in flags)  # and in between


def test_adsb_screen_flags_a_drift_no_jump_shows(tmp_path: Path) -> None:
    """The El Al cruise with its positions drifting 4.5 km east and back over 10 minutes
    (15 m/s off its motion, velocity columns unchanged): one interval, with the reason."""
    import math

    import pytest

    real = Path("/work/shared/data/adsb/opensky_elal747_LIRF_LLBG_20191103.csv")
    if not real.exists():
        pytest.skip("shared recording not present")
    lines = real.read_text().splitlines()
    start = 1572780000.0  # mid-cruise, FL350
    for k in range(1, len(lines)):
        f = lines[k].split(",")
        dt = float(f[0]) - start
        off = min(max(min(dt, 600.0 - dt) / 300.0, 0.0), 1.0) * 4500.0
        dlon = math.degrees(off / (6_371_008.8 * math.cos(math.radians(float(f[3])))))
        f[4] = f"{float(f[4]) + dlon:.5f}"
        lines[k] = ",".join(f)
    spoofed = tmp_path / "drift.csv"
    spoofed.write_text("\n".join(lines) + "\n")
    out = mead("adsb", "screen", str(spoofed), "--json")
    assert out.returncode == 0, out.stderr
    (flag,) = json.loads(out.stdout)["flagged"]["738043"]
    assert flag["callsign"] == "ELY1747" and flag["t0"] <= start + 300.0 <= flag["t1"]
    assert start - 300.0 <= flag["t0"] and flag["t1"] <= start + 900.0
    reason = flag["reason"]
    assert reason.startswith("position drifts ") and "reported velocity over" in reason
    text = mead("adsb", "screen", str(spoofed)).stdout
    assert "1 flagged" in text and "position drifts" in text
    bad = mead("adsb", "screen", str(spoofed), "--window-s", "-5")
    assert bad.returncode == 2 and "--window-s: 'window_s' must be > 0 (got -5.0)" in bad.stderr
