"""Tests of mead.threat.alerts: the issue → update → cancel lifecycle and its addressing."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from threat_profiles import airliner, kepler_arc, noisy_track

from mead import geo, messages
from mead.errors import ThreatInputError
from mead.scenario.schema import Circle, DefendedArea
from mead.threat.alerts import AlertManager
from mead.threat.assessor import Assessor
from mead.threat.base import Threat
from mead.threat.classify import Classifier

AREAS = [
    DefendedArea(
        name="North", owner="P1", circle=Circle(lat_deg=33.0, lon_deg=35.0, radius_km=10)
    ),
    DefendedArea(
        name="South", owner="P2", circle=Circle(lat_deg=30.0, lon_deg=35.0, radius_km=10)
    ),
]


def _threat(t, area="North", track="12", lat=33.0, tgo=300.0, **kw) -> Threat:
    base = dict(
        t=t,
        track_id=track,
        system_track=int(track),
        area=area,
        owner={"North": "P1", "South": "P2"}.get(area, "?"),
        threat_class="ballistic",
        impact_lat_deg=lat,
        impact_lon_deg=35.0,
        impact_radius_m=5000.0,
        t_impact=t + tgo,
        tgo_s=tgo,
        miss_m=0.0,
        track_lat_deg=32.0,
        track_lon_deg=40.0,
        track_alt_m=1e5,
    )
    base.update(kw)
    return Threat(**base)


def test_issue_update_cancel_sequence():
    am = AlertManager("C0", AREAS, cancel_after=3, confirm=1)
    t_imp = 1300.0
    seq = [
        (1000.0, [_threat(1000.0, tgo=t_imp - 1000.0)], "issued"),
        (1004.0, [_threat(1004.0, tgo=t_imp - 1004.0)], None),  # nothing changed
        (1006.0, [_threat(1006.0, lat=33.04, tgo=t_imp - 1006.0)], None),  # 4.4 km: inside r
        (1008.0, [_threat(1008.0, lat=33.05, tgo=t_imp - 1008.0)], "updated"),  # 5.6 km: out
        (1012.0, [_threat(1012.0, lat=33.05, tgo=t_imp - 1012.0 + 40.0)], "updated"),  # +40 s
        (1016.0, [_threat(1016.0, lat=33.05, tgo=t_imp - 1016.0 + 60.0)], None),  # +20 s < 30 s
        (1020.0, [_threat(1020.0, lat=33.05, tgo=t_imp - 1020.0 + 40.0)], None),
        (1030.0, [_threat(1030.0, lat=33.05, tgo=t_imp - 990.0, impact_radius_m=4e3)], None),
        (1034.0, [_threat(1034.0, lat=33.05, tgo=t_imp - 994.0, impact_radius_m=3e3)], None),
        (1042.0, [_threat(1042.0, lat=33.05, tgo=t_imp - 1002.0, impact_radius_m=3e3)], None),
        (1046.0, [], None),  # one miss
        (1050.0, [], None),  # two misses
        (1054.0, [], "cancelled"),  # third consecutive miss
        (1058.0, [], None),
    ]
    ids = set()
    for t, threats, expect in seq:
        out = am.step(t, threats, live_ids=["12"])
        assert [a.state for a in out] == ([expect] if expect else []), t
        for a in out:
            ids.add(a.alert_id)
            assert a.t == t and a.recipient == "P1" and a.issuer == "C0" and a.area == "North"
    assert ids == {"C0-12-North"}
    assert am.open_alerts == []


def test_a_wide_region_that_shrinks_is_news_until_it_fits_the_area():
    am = AlertManager("C0", AREAS, confirm=1)  # North: 10 km radius
    wide = dict(lat=33.1, tgo=300.0)
    am.step(0.0, [_threat(0.0, impact_radius_m=40e3, **wide)], ["12"])
    assert am.step(4.0, [_threat(4.0, impact_radius_m=32e3, **wide)], ["12"]) == []  # -20 %
    (a,) = am.step(8.0, [_threat(8.0, impact_radius_m=12e3, **wide)], ["12"])
    assert a.state == "updated" and a.impact_radius_m == 12e3
    (a,) = am.step(12.0, [_threat(12.0, impact_radius_m=8e3, **wide)], ["12"])  # 12 > 10 km
    assert a.state == "updated"
    assert am.step(16.0, [_threat(16.0, impact_radius_m=2e3, **wide)], ["12"]) == []  # inside


def test_issue_needs_agreeing_predictions():
    """With confirm=2 a sweeping (boost-phase) prediction is never issued; a settled one is,
    on its second agreeing step."""
    am = AlertManager("C0", AREAS, confirm=2)
    sweep = [
        _threat(4.0 * k, lat=32.6 + 0.2 * k, tgo=200.0 + 30 * k, impact_radius_m=8e3)
        for k in range(5)
    ]
    assert [am.step(th.t, [th], ["12"]) for th in sweep] == [[]] * 5
    assert am.step(20.0, [_threat(20.0)], ["12"]) == []
    assert am.step(22.0, [], ["12"]) == []  # a miss resets the count
    assert am.step(24.0, [_threat(24.0)], ["12"]) == []
    (a,) = am.step(28.0, [_threat(28.0, lat=33.02, tgo=296.0)], ["12"])
    assert (a.state, a.alert_id) == ("issued", "C0-12-North")
    with pytest.raises(ValueError, match="confirm"):
        AlertManager("C0", AREAS, confirm=0)


def test_miss_counter_resets_when_threat_returns():
    am = AlertManager("C0", AREAS, cancel_after=2, confirm=1)
    am.step(0.0, [_threat(0.0)], ["12"])
    assert am.step(4.0, [], ["12"]) == []
    assert am.step(8.0, [_threat(8.0, tgo=292.0)], ["12"]) == []
    assert am.step(12.0, [], ["12"]) == []
    assert [a.state for a in am.step(16.0, [], ["12"])] == ["cancelled"]


def test_cancel_when_track_gone_or_arrived_and_reissue_gets_new_id():
    am = AlertManager("P3", AREAS, grace_s=30.0, cancel_after=5, confirm=1)
    am.step(0.0, [_threat(0.0, tgo=100.0), _threat(0.0, track="13", area="South")], ["12", "13"])
    out = am.step(4.0, [], ["12"])  # 13 deleted
    assert [(a.alert_id, a.state) for a in out] == [("P3-13-South", "cancelled")]
    assert out[0].tgo_s == pytest.approx(296.0)
    assert am.step(100.0, [], ["12"]) == []  # miss 2 of 5, impact not yet past grace
    out = am.step(131.0, [], ["12"])  # last t_impact = 100 s, 31 s ago
    assert [(a.alert_id, a.state) for a in out] == [("P3-12-North", "cancelled")]
    out = am.step(140.0, [_threat(140.0)], ["12"])
    assert [(a.alert_id, a.state) for a in out] == [("P3-12-North-2", "issued")]


def test_alert_goes_only_to_the_owner_of_the_threatened_area():
    am = AlertManager("C0", AREAS, confirm=1)
    out = am.step(
        0.0, [_threat(0.0, area="South", lat=30.0), _threat(0.0, track="14")], ["12", "14"]
    )
    assert sorted((a.area, a.recipient, a.system_track) for a in out) == [
        ("North", "P1", 14),
        ("South", "P2", 12),
    ]


def test_all_fields_filled_and_wire_round_trip():
    am = AlertManager("C0", AREAS, confirm=1)
    th = _threat(10.0, tgo=55.0, threat_class="drone", impact_radius_m=1234.0)
    (a,) = am.step(10.0, [th, th], ["12"])  # a duplicate pair is reported once
    assert messages.decode(messages.encode(a)) == a
    assert (a.threat_class, a.impact_radius_m, a.t_impact, a.tgo_s) == (
        "drone",
        1234.0,
        65.0,
        55.0,
    )
    assert (a.track_lat_deg, a.track_lon_deg, a.track_alt_m) == (32.0, 40.0, 1e5)
    assert (a.impact_lat_deg, a.impact_lon_deg) == (33.0, 35.0)
    changed = msgspec.structs.replace(th, threat_class="cruise")
    assert [x.threat_class for x in am.step(12.0, [changed], ["12"])] == ["cruise"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="cancel_after"):
        AlertManager("C0", AREAS, cancel_after=0)
    with pytest.raises(ValueError, match="update_s"):
        AlertManager("C0", AREAS, update_s=0.0)
    with pytest.raises(ValueError, match="shrink_frac"):
        AlertManager("C0", AREAS, shrink_frac=1.5)
    with pytest.raises(ThreatInputError, match="area 'Nowhere'"):
        AlertManager("C0", AREAS).step(0.0, [_threat(0.0, area="Nowhere")], ["12"])


def test_end_to_end_ballistic_and_airliner():
    """A noisy ballistic track aimed at one area and an airliner overflying both go through
    the Assessor (classify → impact → assess → alerts), as a node runs them: only the
    target's owner is warned, and well before impact."""
    sol, t_imp, p_imp = kepler_arc()
    lat, lon, _ = geo.ecef2geodetic(p_imp)
    areas = [
        DefendedArea(
            name="Target",
            owner="P3",
            circle=Circle(lat_deg=float(lat), lon_deg=float(lon), radius_km=8),
        ),
        DefendedArea(
            name="Airport", owner="P2", circle=Circle(lat_deg=32.0, lon_deg=35.0, radius_km=15)
        ),
    ]
    rng = np.random.default_rng(11)
    t = np.arange(60.0, t_imp - 2.0, 4.0)
    xb, Pb = noisy_track(sol(t).T, t, rng, sig_p=200.0, sig_v0=40.0, sig_v1=8.0)
    ta, xa_true = airliner()  # starts at 32 N 35 E: right over "Airport"
    xa, Pa = noisy_track(xa_true[: t.size], t, rng)
    am = AlertManager("C0", areas)
    assessor = Assessor(Classifier(), am, areas)
    alerts = []
    for k, tk in enumerate(t):
        ids = ["101", "202"]
        x, P = np.stack([xb[k], xa[k]]), np.stack([Pb[k], Pa[k]])
        a = assessor.step(float(tk), ids, x, P)
        assert a.classes[1] in ("unknown", "aircraft")
        alerts += a.alerts
    alerts += am.step(t_imp + 2.0, [], ["202"])  # the ballistic track is gone after impact
    assert {(a.recipient, a.area, a.system_track) for a in alerts} == {("P3", "Target", 101)}
    states = [a.state for a in alerts]
    assert states[0] == "issued" and states[-1] == "cancelled"
    assert set(states[1:-1]) <= {"updated"}
    assert t_imp - alerts[0].t > 400.0  # minutes of warning
    last = alerts[-2]
    miss = geo.great_circle_distance_m(lat, lon, last.impact_lat_deg, last.impact_lon_deg)
    assert miss < last.impact_radius_m < 8_000  # the region in force holds the impact
    assert abs(last.t_impact - t_imp) < 15.0


def test_marginal_threats_keep_alerts_alive_but_never_issue():
    am = AlertManager("C0", AREAS, cancel_after=2, confirm=1)
    marginal = dict(marginal=True, miss_m=12e3)
    assert am.step(0.0, [_threat(0.0, **marginal)], ["12"]) == []  # never issues
    assert [a.state for a in am.step(4.0, [_threat(4.0, tgo=296.0)], ["12"])] == ["issued"]
    for k in range(2, 8):  # marginal for a long while: the alert stays open
        assert am.step(4.0 * k, [_threat(4.0 * k, tgo=300.0 - 4 * k, **marginal)], ["12"]) == []
    assert am.step(32.0, [], ["12"]) == []
    assert [a.state for a in am.step(36.0, [], ["12"])] == ["cancelled"]


def test_drone_alerts_outlast_short_gaps():
    """A drone's alert survives a minute without the threat; a ballistic one does not."""
    am = AlertManager("C0", AREAS, cancel_after=3, slow_cancel_s=120.0, confirm=1)
    drone = dict(threat_class="drone", tgo=3000.0)
    am.step(0.0, [_threat(0.0, **drone), _threat(0.0, track="13", area="South")], ["12", "13"])
    out = [am.step(4.0 * k, [], ["12", "13"]) for k in range(1, 31)]  # 4 … 120 s
    cancels = [(4.0 * (k + 1), a.area) for k, o in enumerate(out) for a in o]
    assert cancels == [(12.0, "South"), (120.0, "North")]


def test_alerts_arriving_together_at_one_area_form_a_salvo():
    am = AlertManager("C0", AREAS, confirm=1, salvo_s=60.0)
    t = 1000.0
    threats = [
        _threat(t, track="1", tgo=300.0),
        _threat(t, track="2", tgo=330.0),  # 30 s after the first: same salvo
        _threat(t, track="3", tgo=355.0),  # 55 s after the first: same salvo
        _threat(t, track="4", tgo=380.0),  # 80 s after the first: the next salvo's first
        _threat(t, track="5", tgo=420.0),  # 40 s after that: the next salvo
        _threat(t, track="6", area="South", tgo=300.0),  # another area
    ]
    live = ["1", "2", "3", "4", "5", "6"]
    out = {a.alert_id: a for a in am.step(t, threats, live_ids=live)}
    assert {k: a.salvo for k, a in out.items()} == {
        "C0-1-North": "",
        "C0-2-North": "C0-1-North",
        "C0-3-North": "C0-1-North",
        "C0-4-North": "",
        "C0-5-North": "C0-4-North",
        "C0-6-South": "",
    }
    # each object keeps its own alert, and an update keeps the salvo
    later = [_threat(t + 5, track="3", tgo=355.0 - 5 + 60.0)]
    (upd,) = am.step(t + 5, later, live_ids=live)
    assert upd.state == "updated" and upd.salvo == "C0-1-North"


def test_slow_threats_do_not_update_on_a_narrowing_corridor():
    am = AlertManager("C0", AREAS, confirm=1)
    kw = dict(threat_class="drone", impact_radius_m=60_000.0)
    assert am.step(0.0, [_threat(0.0, tgo=3000.0, **kw)], ["12"])[0].state == "issued"
    kw["impact_radius_m"] = 20_000.0  # the path's margin shrinks as the drone closes in
    assert am.step(10.0, [_threat(10.0, tgo=2990.0, **kw)], ["12"]) == []
    fast = AlertManager("C0", AREAS, confirm=1)
    kw["threat_class"] = "ballistic"
    kw["impact_radius_m"] = 60_000.0
    assert fast.step(0.0, [_threat(0.0, tgo=300.0, **kw)], ["12"])[0].state == "issued"
    kw["impact_radius_m"] = 20_000.0
    assert [a.state for a in fast.step(5.0, [_threat(5.0, tgo=295.0, **kw)], ["12"])] == [
        "updated"
    ]


def test_an_area_alert_is_held_while_its_probability_hovers_at_the_threshold():
    am = AlertManager("C0", AREAS, confirm=1)
    kw = dict(threat_class="drone")
    seq = [
        ("alert", False, 0.6, ["issued"]),
        ("pre", True, 0.4, []),  # below the threshold, above half of it: held
        ("alert", False, 0.7, []),
        ("pre", False, 0.1, []),  # well below …
        ("pre", False, 0.1, []),
        ("pre", False, 0.1, ["updated"]),  # … for 3 steps (slow_persist): a pre-alert again
    ]
    for i, (level, hold, p, expect) in enumerate(seq):
        t = 10.0 * i
        th = _threat(t, tgo=3000.0 - t, level=level, hold=hold, p_area=p, **kw)
        out = am.step(t, [th], ["12"])
        assert [a.state for a in out] == expect, i
    assert am.open_alerts[0].level == "pre"


def test_a_drone_alert_sends_a_change_only_once_it_has_held():
    """A drone's arrival time that jumps back and forth with its speed estimate, or a level
    that flips for one step, is not sent; a change that holds for ``slow_persist`` steps
    is, and an upgrade to an area alert goes at once. A ballistic change goes at once."""
    am = AlertManager("C0", AREAS, confirm=1)
    kw = dict(threat_class="drone", p_area=0.7)
    steps = [
        (3000.0, "alert", ["issued"]),
        (3600.0, "alert", []),  # +600 s: beyond 10 % and 2σ, for one step
        (3000.0, "alert", []),  # back: noise
        (3000.0, "pre", []),  # one step down …
        (3000.0, "alert", []),  # … and up again: nothing sent
        (2000.0, "alert", []),  # −1,000 s that holds …
        (2000.0, "alert", []),
        (2000.0, "alert", ["updated"]),  # … is sent on its third step
    ]
    for i, (tgo, level, expect) in enumerate(steps):
        t = 5.0 * i
        th = _threat(t, tgo=tgo - t, level=level, hold=level == "alert", **kw)
        assert [a.state for a in am.step(t, [th], ["12"])] == expect, i
    assert am.open_alerts[0].t_impact == pytest.approx(2000.0)
    pre = AlertManager("C0", AREAS, confirm=1)
    pre.step(0.0, [_threat(0.0, tgo=3000.0, level="pre", **kw)], ["12"])
    up = pre.step(5.0, [_threat(5.0, tgo=2995.0, level="alert", **kw)], ["12"])
    assert [(a.state, a.level) for a in up] == [("updated", "alert")]
    fast = AlertManager("C0", AREAS, confirm=1)
    fast.step(0.0, [_threat(0.0, tgo=300.0, threat_class="ballistic")], ["12"])
    moved = fast.step(5.0, [_threat(5.0, tgo=200.0, threat_class="ballistic")], ["12"])
    assert [a.state for a in moved] == ["updated"]
    with pytest.raises(ValueError, match="slow_persist"):
        AlertManager("C0", AREAS, slow_persist=0)


def test_an_alert_whose_radars_lost_coverage_is_held_on_its_last_prediction():
    """Track 12's radars go down: its coasting estimate (drifting off the area) updates
    nothing, the alert is told once as ``held`` on its last prediction and outlives the
    track's end until the arrival has passed by ``grace_s``. Track 13, whose radar is
    fine, is cancelled when it ends, as before. A held track seen again clears ``held``."""
    am = AlertManager("P3", AREAS, grace_s=30.0, cancel_after=2, confirm=1)
    both = [_threat(0.0, tgo=200.0), _threat(0.0, track="13", area="South", tgo=200.0)]
    am.step(0.0, both, ["12", "13"])
    drift = _threat(4.0, lat=33.5, tgo=260.0, level="pre")  # a coasting estimate
    south = [_threat(t, track="13", area="South", tgo=200.0 - t) for t in (4.0, 8.0)]
    out = am.step(4.0, [drift, south[0]], ["12", "13"], blind=["12"])
    assert [(a.alert_id, a.state, a.held, a.level) for a in out] == [
        ("P3-12-North", "updated", True, "alert")
    ]
    assert (out[0].impact_lat_deg, out[0].t_impact) == (33.0, 200.0)  # the last prediction
    assert am.step(8.0, [drift, south[1]], ["12", "13"], blind=["12"]) == []
    out = am.step(12.0, [], [], blind=["12"])  # both tracks end; 12 ends blind
    assert [(a.alert_id, a.state) for a in out] == [("P3-13-South", "cancelled")]
    assert am.step(100.0, [], []) == []  # held (gone) until the arrival, not by misses
    out = am.step(231.0, [], [])
    assert [(a.alert_id, a.state, a.held) for a in out] == [("P3-12-North", "cancelled", True)]

    am = AlertManager("P3", AREAS, confirm=1)
    am.step(0.0, [_threat(0.0)], ["12"])
    assert am.step(4.0, [], ["12"], blind=["12"])[0].held
    (back,) = am.step(8.0, [_threat(8.0)], ["12"])  # its radar sees it again
    assert (back.state, back.held) == ("updated", False)


def test_a_standby_that_numbered_two_threats_the_other_way_round_swaps_their_ids():
    """The standby numbered the previous active's missile 1 and its drone 6 the other way
    round: each of its lifecycles is adopted as the other's id at once, so the missile goes
    on as the active's C0-6 and the drone as C0-1 (one after the other, the second adoption
    found the first lifecycle under its new id: the drone went on as the missile's alert)."""
    am = AlertManager("C0", AREAS, confirm=1)
    drone = _threat(1000.0, track="6", threat_class="drone", tgo=1500.0)
    am.step(1000.0, [_threat(1000.0, track="1"), drone], live_ids=["1", "6"])
    active = AlertManager("C0", AREAS, confirm=1)
    theirs_m, theirs_d = active.step(
        1000.0,
        [_threat(1000.0, track="6"), msgspec.structs.replace(drone, track_id="1")],
        live_ids=["1", "6"],
    )
    assert (theirs_m.alert_id, theirs_d.alert_id) == ("C0-6-North", "C0-1-North")
    assert am.relabel({"C0-1-North": theirs_m, "C0-6-North": theirs_d}, {"C0-9-North": "x"}) == 2
    assert {(a.alert_id, a.threat_class) for a in am.open_alerts} == {
        ("C0-6-North", "ballistic"), ("C0-1-North", "drone")
    }  # fmt: skip
    late = [_threat(1030.0, track="1", lat=33.2), msgspec.structs.replace(drone, t=1030.0)]
    out = am.step(1030.0, late, live_ids=["1", "6"])
    assert [(a.alert_id, a.state, a.threat_class) for a in out] == [
        ("C0-6-North", "updated", "ballistic")
    ]


def test_an_adopted_lifecycle_goes_on_under_the_other_instances_id():
    """A standby taking over a threat the previous active alerted as C0-3-North: its own
    open lifecycle (C0-12-North) continues as that alert, compared against what the
    recipient holds, so a change is an update of C0-3-North and a cancel cancels it."""
    am = AlertManager("C0", AREAS, confirm=1)
    (mine,) = am.step(1000.0, [_threat(1000.0)], live_ids=["12"])
    theirs = msgspec.structs.replace(_threat(1004.0, lat=33.02), track_id="3", system_track=3)
    (other,) = AlertManager("C0", AREAS, confirm=1).step(1004.0, [theirs], live_ids=["3"])
    assert other.alert_id == "C0-3-North" and mine.alert_id == "C0-12-North"
    assert not am.adopt("C0-99-North", other)  # none open under that id
    assert am.adopt(mine.alert_id, other)
    assert am.open_alerts == [other]  # theirs is newer: the recipient holds it
    # 3.3 km from theirs (inside its region), 5.6 km from mine: no news for the recipient
    assert am.step(1008.0, [_threat(1008.0, lat=33.05)], live_ids=["12"]) == []
    (upd,) = am.step(1012.0, [_threat(1012.0, lat=33.08)], live_ids=["12"])
    assert (upd.alert_id, upd.state, upd.system_track) == ("C0-3-North", "updated", 12)
    (end,) = am.step(1016.0, [], live_ids=[])
    assert (end.alert_id, end.state) == ("C0-3-North", "cancelled")
    # renamed: the same lifecycle under a new id
    (first,) = am.step(1020.0, [_threat(1020.0, track="5")], live_ids=["5"])
    assert not am.rename("C0-99-North", "x") and am.rename(first.alert_id, "C0-5-North-s")
    (end,) = am.step(1024.0, [], live_ids=[])
    assert (end.alert_id, end.state, end.t) == ("C0-5-North-s", "cancelled", 1024.0)
