"""End to end on the small scenario: the whole chain, alliance against national-only."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from mead.events import AlertReceived, Launch
from mead.metrics.evaluation import attribute_alerts, run_scored, summarize
from mead.runtime.simulation import World, prepare, run_mode
from mead.scenario import load_scenario

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def small() -> tuple[World, dict, dict]:
    sc = load_scenario(SMALL)
    world = prepare(sc, sc.seed, SMALL)
    results = run_scored(world, jobs=1)
    return world, results, summarize(world, results, wall_s=1.0)


def test_alliance_warns_the_far_partner_earlier(small: tuple[World, dict, dict]) -> None:
    _, _, s = small
    cap = s["areas"]["Capital"]
    assert cap["alliance"]["mean_warning_s"] > cap["national"]["mean_warning_s"] + 60
    bm = s["classes"]["ballistic"]
    assert bm["warned"]["alliance"] == bm["launched"] == 6


def test_no_civil_flight_is_alerted(small: tuple[World, dict, dict]) -> None:
    assert small[2]["civil"]["alerted"] == {"alliance": 0, "national": 0}


def test_alerts_reach_only_the_owners_of_threatened_areas(small: tuple[World, dict, dict]) -> None:
    world, results, _ = small
    owner = {a.name: a.owner for a in world.scenario.defended_areas}
    received = [e for e in results["alliance"].events if isinstance(e, AlertReceived)]
    assert received, "the alliance run produced no alerts"
    assert all(e.node == owner[e.area] == e.recipient for e in received)
    assert {e.node for e in received} == {"P2"}  # P1's base is never threatened
    from_c0 = [e for e in received if e.via == "C0"]
    assert from_c0 and all(e.issuer == "C0" for e in from_c0)


def test_national_run_releases_nothing(small: tuple[World, dict, dict]) -> None:
    _, results, _ = small
    nat = results["national"].counters
    assert nat["C0"].get("batches", 0) == 0
    events = results["national"].events
    assert all(e.via != "C0" for e in events if isinstance(e, AlertReceived))


def test_same_seed_same_world() -> None:
    sc = load_scenario(SMALL)
    a, b = prepare(sc, 3, SMALL), prepare(sc, 3, SMALL)
    np.testing.assert_array_equal(a.truth.samples, b.truth.samples)
    assert len(a.scans) == len(b.scans)
    np.testing.assert_array_equal(a.scans[-1].z, b.scans[-1].z)


def test_late_scans_are_replayed_and_the_alliance_still_warns() -> None:
    """P2 gets a second radar; both deliver 0.5–3.5 s late, so its scans arrive out of
    order. Its tracker replays them, none is too late, and every missile is warned."""
    sc = load_scenario(SMALL)
    p1, p2 = sc.partners
    s1 = msgspec.structs.replace(p2.sensors[0], latency_s=0.5, latency_jitter_s=3.0)
    s2 = msgspec.structs.replace(
        s1, id="P2-S2", site=msgspec.structs.replace(s1.site, lat_deg=31.0, lon_deg=35.0)
    )
    sc = msgspec.structs.replace(sc, partners=[p1, msgspec.structs.replace(p2, sensors=[s1, s2])])
    world = prepare(sc, sc.seed, SMALL)
    res = run_mode(world, "alliance")
    events = attribute_alerts(world, res.events)
    ctr = res.counters["P2"]
    assert ctr["tracker_scans_out_of_order"] > 50 and ctr["tracker_scans_replayed"] > 0
    assert ctr.get("tracker_scans_too_late", 0) == 0
    warned = {e.truth for e in events if isinstance(e, AlertReceived) and e.truth is not None}
    kind = dict(zip(world.truth.ids, world.truth.kind, strict=True))
    assert sum(kind[w] == "ballistic" for w in warned) == 6


def test_alliance_leaks_no_more_than_national_and_never_double_engages(
    small: tuple[World, dict, dict],
) -> None:
    world, results, s = small
    a, n = s["engagement"]["alliance"], s["engagement"]["national"]
    assert a["leakers"] <= n["leakers"]
    assert a["double_engagements"] == 0
    assert a["intercepted"] > 0 and a["interceptors_spent"] > 0
    total = sum(r["threats"] for r in a["by_class"].values())
    assert a["leakers"] + a["intercepted"] <= total
    assert sum(v["leakers"] for v in a["by_area"].values()) == a["leakers"]
    launches = [e for e in results["alliance"].events if isinstance(e, Launch)]
    owner = {u.id: p.name for p in world.scenario.partners for u in p.fire_units}
    assert all(owner[e.unit] == e.node for e in launches)  # only owners fire their units
    assert any(e.advice_id for e in launches)  # the coordinator was heard
    # on its own initiative a partner defends only its own threatened area (P2's capital)
    assert {e.node for e in launches if not e.advice_id} <= {"P2"}
    national = [e for e in results["national"].events if isinstance(e, Launch)]
    assert national and not any(e.advice_id for e in national)  # no coordinator advice
    assert {e.node for e in national} == {"P2"}  # only the threatened owner defends


def test_an_alert_on_a_track_coasting_after_its_object_ended_is_about_that_object(
    small: tuple[World, dict, dict],
) -> None:
    """Seed 6 of the reference raid: a drone's track outlived the drone by a few seconds and
    an alert raised on it was counted as about no object. Within ``ENDED_GRACE_S`` after its
    end an object still counts at its last position; long after, it does not."""
    from mead import geo
    from mead.metrics.evaluation import ENDED_GRACE_S

    world, results, _ = small
    tr, epoch = world.truth, world.scenario.start_epoch_s()
    i = int(np.flatnonzero(tr.kind == "drone")[0])
    last = tr.samples[tr.offset[i] + tr.count[i] - 1, :3]
    lat, lon, alt = [
        float(np.ravel(v)[0]) for v in geo.ecef2geodetic(last[None])
    ]
    alert = next(e for e in results["alliance"].events if isinstance(e, AlertReceived))

    def about(after_end_s: float) -> str | None:
        ev = msgspec.structs.replace(
            alert, alert_id="coasting", state="issued", t=epoch + tr.t_end[i] + after_end_s,
            track_lat_deg=lat, track_lon_deg=lon, track_alt_m=alt, truth=None,
        )  # fmt: skip
        return attribute_alerts(world, [ev])[0].truth

    assert about(5.0) == tr.ids[i]
    assert about(ENDED_GRACE_S + 5.0) != tr.ids[i]
