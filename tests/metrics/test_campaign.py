"""Campaigns on Dask: a LocalCluster of 2 workers gives the same figures as per-seed runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from mead.errors import ParameterError
from mead.metrics.campaign import (
    FIGURES,
    aggregate,
    mean_interval,
    parse_seeds,
    run_campaign,
    run_seed,
    seed_rows,
)
from mead.metrics.campaign_report import write_campaign
from mead.scenario import load_scenario

TINY = Path(__file__).parents[1] / "data" / "scenarios" / "tiny.yaml"


def test_parse_seeds() -> None:
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    for bad in ("", "a-3", "1-", "3-1"):
        with pytest.raises(ParameterError, match="--seeds"):
            parse_seeds(bad)


def test_mean_interval_is_students_t() -> None:
    v = [3.0, 5.0, 4.5, 9.0, 1.0]
    mean, lo, hi = mean_interval(v)
    want = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v))
    assert (lo, hi) == pytest.approx(want)
    assert mean_interval([2.0]) == (2.0, None, None)


def _strip(s: dict) -> dict:
    return {k: v for k, v in s.items() if k not in ("timing", "nodes")}


def test_campaign_on_a_local_cluster_equals_the_per_seed_runs(tmp_path: Path) -> None:
    sc = load_scenario(TINY)
    seeds = [1, 2]
    got = run_campaign(sc, TINY, seeds, jobs=2)
    direct = [run_seed(sc, TINY, s, jobs=2) for s in seeds]
    assert [_strip(g) for g in got] == [_strip(d) for d in direct]
    rows = [r for s in got for r in seed_rows(s)]
    agg = {(a["mode"], a["group"], a["name"]): a for a in aggregate(rows)}
    for mode in ("alliance", "national"):
        for area in ("Capital", "Town"):
            a = agg[(mode, "area", area)]
            per_seed = [d["areas"][area][mode] for d in direct]
            assert a["mean_warning_s"] == pytest.approx(
                np.mean([p["mean_warning_s"] for p in per_seed])
            )
            assert a["warned"] == pytest.approx(np.mean([p["warned"] for p in per_seed]))
        d = agg[(mode, "class", "drone")]
        eff = [x["classes"]["drone"][mode]["warning_efficiency"] for x in direct]
        assert d["warning_efficiency"] == pytest.approx(np.mean(eff))
        assert d["warning_efficiency_lo"] <= d["warning_efficiency"] <= d["warning_efficiency_hi"]
    assert agg[("alliance", "area", "Town")]["warned"] > 0  # the figures are not all zero
    files = write_campaign(tmp_path, sc.name, seeds, rows, list(agg.values()))
    table = pq.read_table(tmp_path / "seeds.parquet").to_pylist()
    assert table == rows
    assert set(FIGURES) <= set(pq.read_table(tmp_path / "aggregate.parquet").column_names)
    assert all(f.exists() for f in files)
    assert "Town" in (tmp_path / "report.md").read_text()
