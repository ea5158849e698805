"""Engagement between real nodes: sovereign decisions, re-offers, what advice reveals.

A drone flies at partner B's capital past A's short-range unit; the tracks reach the
coordinator as A's releases. The coordinator advises A's unit first (a better kill
probability), A's engagement policy helps no one else and declines, and the coordinator
offers the drone again — to B's own unit, which engages it. Everything A and B receive is
checked for the other's unit, on the in-process bus and over real nats-servers.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from mead import geo
from mead.engage.fire_control import NoEffector
from mead.engage.policy import decode_engagement_policy
from mead.events import Decision
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.federation.nats import NatsBus
from mead.federation.natsserver import LocalFederation
from mead.federation.policy import Policy
from mead.messages import Advice, Envelope, Track, TrackBatch, decode, packed
from mead.runtime.node import CoordinatorNode, PartnerNode
from mead.runtime.wiring import build_coordinator, build_partner
from mead.scenario import Scenario, decode_yaml

T0 = 1_713_038_400.0
A_SITE = (31.84, 35.61)  # 4.4 km north of the drone's path
SCENARIO = f"""
name: engage
partners:
  - name: A
    fire_units:
      - {{id: A-SR, type: short_range, site: {{lat_deg: {A_SITE[0]}, lon_deg: {A_SITE[1]}}},
         params: {{pk: {{drone: 0.95}}}}}}
  - name: B
    fire_units:
      - {{id: B-SR, type: short_range, site: {{lat_deg: 31.75, lon_deg: 35.35}}}}
defended_areas:
  - {{name: Capital, owner: B, value: 10,
     circle: {{lat_deg: 31.77, lon_deg: 35.21, radius_km: 15}}}}
"""
SC = decode_yaml(SCENARIO, Scenario)


def drone_track(t: float) -> Track:
    """A drone at 1,000 m flying due west at 51 m/s, 35 km east of A's unit at T0."""
    lat, lon0 = 31.80, 35.97
    lon = lon0 - np.degrees(51.0 * (t - T0) / (geo.R_MEAN_M * np.cos(np.radians(lat))))
    p = geo.geodetic2ecef(np.array([lat]), np.array([lon]), np.array([1000.0]))[0]
    v = geo.enu_rotation(lat, lon).T @ np.array([-51.0, 0.0, 0.0])
    P = np.diag([100.0**2] * 3 + [3.0**2] * 3)
    return Track.of(
        track_id="A-T1",
        t=t,
        x=(*p.tolist(), *v.tolist()),
        P=tuple(P.ravel().tolist()),
        cls="drone",
    )


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def coalition(
    endpoint: Callable[[str], Any], clock: Callable[[], float], a_helps: bool = False
) -> tuple:
    """C0, A (helps no one, unless ``a_helps``) and B (defaults), wired by the one wiring
    point."""
    ids = {n: Identity.generate(n, seed=n.encode().ljust(32, b"#")) for n in ("A", "B", "C0")}
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    events: list[Any] = []

    def opener() -> Opener:
        return Opener(reg, max_age_s=60.0, clock=clock)

    coord = build_coordinator(SC, identity=ids["C0"], endpoint=endpoint("C0"), opener=opener())
    coord.assess_s = 1.0
    pol = {
        "A": decode_engagement_policy(f"partner: A\nhelp_others: {str(a_helps).lower()}\n"),
        "B": decode_engagement_policy("partner: B\n"),
    }
    partners = {
        n: build_partner(
            SC, n, identity=ids[n], endpoint=endpoint(n), opener=opener(),
            policy=Policy.nothing(n), scans=iter(()), epoch_s=0.0, engagement=pol[n],
            effector=NoEffector(), emit=events.append,
        )
        for n in ("A", "B")
    }  # fmt: skip
    return coord, partners, ids, events


def fly(
    coord: CoordinatorNode,
    partners: dict[str, PartnerNode],
    ids: dict,
    clock: Any,
    a_endpoint: Any,
    until_s: float,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """A releases the drone track every second; every node steps every 0.5 s."""
    next_release = clock.t
    while clock.t < T0 + until_s:
        if clock.t >= next_release:
            batch = TrackBatch(source="", t=clock.t, tracks=(drone_track(clock.t),))
            a_endpoint.publish("tracks.C0", seal(ids["A"], batch, clock.t))
            next_release += 1.0
        coord.step(clock())
        for p in partners.values():
            p.step(clock())
        tick()
        clock.t += 0.5


def test_declined_advice_is_honoured_and_the_threat_offered_again() -> None:
    clock = Clock()
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    coord, partners, ids, events = coalition(bus.connect, clock)
    spies = {n: bus.connect("spy").subscribe(f"advice.{n}") for n in ("A", "B")}
    fly(coord, partners, ids, clock, partners["A"].endpoint, 40.0)

    decisions = [e for e in events if isinstance(e, Decision)]
    a = [d for d in decisions if d.node == "A"]
    b = [d for d in decisions if d.node == "B"]
    assert a and not any(d.accepted for d in a), decisions
    assert a[0].reason == "policy: no help for other partners" and a[0].unit == "A-SR"
    assert b and b[0].accepted and b[0].unit == "B-SR" and b[0].own_area
    assert b[0].system_track == a[0].system_track and b[0].t > a[0].t  # offered again
    fa, fb = partners["A"].fire, partners["B"].fire
    assert fa is not None and fb is not None
    assert isinstance(fa.effector, NoEffector) and not fa.effector.shots  # A never fired
    assert isinstance(fb.effector, NoEffector) and [s.unit for s in fb.effector.shots] == ["B-SR"]
    assert coord.planner is not None and coord.planner.counters["declined"] == 1
    # the coordinator never offers A's unit the drone again
    items_a = [it for _, d in spies["A"].drain() for it in _advice(d).items]
    assert items_a and {it.advice_id for it in items_a} == {a[0].advice_id}
    for _, data in spies["B"].drain():
        assert_nothing_of_a(data)


def _advice(data: bytes) -> Advice:
    msg = decode(msgspec.msgpack.decode(data, type=Envelope).payload)
    assert isinstance(msg, Advice)
    return msg


def assert_nothing_of_a(data: bytes) -> None:
    """Nothing of A's unit: not its id, not its site's coordinates, in the bytes or the
    decoded advice."""
    assert b"A-SR" not in data
    for v in A_SITE:
        assert struct.pack(">d", v) not in data
    adv = _advice(data)
    assert all(it.unit == "B-SR" for it in adv.items)
    site = geo.geodetic2ecef(np.array([A_SITE[0]]), np.array([A_SITE[1]]), np.zeros(1))[0]
    for it in adv.items:
        assert np.linalg.norm(np.asarray(it.intercept) - site) > 1.0  # not A's site


def test_over_nats_b_sees_no_advice_about_a_and_the_decline_still_reoffers(
    federation_factory: Callable[..., LocalFederation],
) -> None:
    lf = federation_factory(partners=("A", "B"), coordinator="C0")
    clock = Clock()
    b_acc = lf.partner_accounts("B")
    spies = [
        NatsBus(b_acc["LOCAL"]),
        NatsBus(b_acc["RELEASE"]),
        NatsBus(lf.hub_accounts()["PARTNER_B"]),  # B's embassy on the hub
    ]
    try:
        subs = [s.connect("spy").subscribe(">") for s in spies]
        buses = {"C0": lf.coordinator_bus(), "A": lf.partner_bus("A"), "B": lf.partner_bus("B")}
        coord, partners, ids, events = coalition(lambda n: buses[n].connect(n), clock)
        seen: list[tuple[str, bytes]] = []
        fb = partners["B"].fire
        assert fb is not None and isinstance(fb.effector, NoEffector)
        deadline = time.monotonic() + 60.0

        def tick() -> None:  # the wire needs real time: 0.5 s of scenario per 40 ms
            time.sleep(0.04)
            for s in subs:
                seen.extend(s.drain())
            if fb.effector.shots or time.monotonic() > deadline:  # type: ignore[attr-defined]
                clock.t = T0 + 1e9  # done

        fly(coord, partners, ids, clock, partners["A"].endpoint, 120.0, tick)
        time.sleep(0.3)
        for s in subs:
            seen.extend(s.drain())
    finally:
        for s in spies:
            s.close()
    decisions = [e for e in events if isinstance(e, Decision)]
    assert [(d.node, d.accepted) for d in decisions][:2] == [("A", False), ("B", True)]
    assert [s.unit for s in fb.effector.shots] == ["B-SR"]
    assert coord.planner is not None and coord.planner.counters["declined"] == 1
    assert not coord.inbox.rejected and coord.counters["engagement_reports"] > 0
    advice = [d for subj, d in seen if subj == "advice.B"]
    assert advice, {subj for subj, _ in seen}
    assert not any(subj.endswith(".A") for subj, _ in seen)
    for subj, data in seen:
        assert b"A-SR" not in data, subj
        for v in A_SITE:
            assert struct.pack(">d", v) not in data
    for data in advice:
        assert_nothing_of_a(data)


def test_an_object_a_partner_engages_on_its_own_is_offered_to_nobody_else() -> None:
    """B reports an engagement of its own (on its own track, for its own capital) against
    the drone: the coordinator offers the drone to no unit, A's included; once B's report
    is stale (``OWN_STALE_S``) the drone is offered again."""
    from mead.engage.planner import OWN_STALE_S
    from mead.messages import Engagement, EngagementStatus

    clock = Clock()
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    coord, partners, ids, events = coalition(bus.connect, clock)
    spy = bus.connect("spy").subscribe("advice.A")
    planner = coord.planner
    assert planner is not None
    x = drone_track(T0).x
    own = EngagementStatus(
        advice_id="own:B-T000007", system_track=0, unit="B-SR", state="engaging", t=T0,
        rounds_left=50, x=x, t_x=T0,
    )  # fmt: skip
    planner.take("B", Engagement(source="B", t=T0, statuses=(own,)))
    fly(coord, partners, ids, clock, partners["A"].endpoint, 20.0)
    assert not [d for d in events if isinstance(d, Decision)]  # nothing offered to anyone
    assert planner.counters["left_to_others"] > 0 and not planner.advised
    assert not [it for _, d in spy.drain() for it in _advice(d).items]
    clock.t = T0 + OWN_STALE_S + 1.0  # B says no more: its engagement is forgotten
    fly(coord, partners, ids, clock, partners["A"].endpoint, OWN_STALE_S + 15.0)
    assert [d for d in events if isinstance(d, Decision)]  # offered again


def test_a_partner_reports_its_own_engagements_with_the_threat_state() -> None:
    """The status of an own-initiative engagement carries the threat's ECEF state."""
    from mead.engage.fire_control import _Job, _own_state
    from mead.messages import AdviceItem

    item = AdviceItem(
        advice_id="own:B-T1", system_track=0, unit="B-SR", shots=1, launch_open=T0,
        launch_close=T0 + 10, t_intercept=T0 + 30, intercept=(0.0, 0.0, 0.0),
        launch2=T0, x=drone_track(T0).x, threat_class="drone", area="Capital",
        own_area=True, t_arrival=T0 + 600, aim_lat_deg=31.77, aim_lon_deg=35.21,
    )  # fmt: skip
    job = _Job(item, 0, "engaging", T0, t_state=T0 + 2.0)
    assert _own_state("own:B-T1", job) == {"x": drone_track(T0).x, "t_x": T0 + 2.0}
    assert _own_state("12/B-SR", job) == {}


def _threat(t: float, stn: int) -> tuple:
    """The drone at time ``t`` as the coordinator's threat against B's capital, under
    system track ``stn``: (threat, ids, states)."""
    from mead.threat.base import Threat

    x = np.asarray(drone_track(t).x)[None]
    b = Threat(
        t=t, track_id=str(stn), system_track=stn, area="Capital", owner="B",
        threat_class="drone", impact_lat_deg=31.77, impact_lon_deg=35.21, impact_radius_m=1e3,
        t_impact=t + 1200.0, tgo_s=1200.0, miss_m=0.0, track_lat_deg=31.8,
        track_lon_deg=35.9, track_alt_m=1000.0, value=10.0,
    )  # fmt: skip
    return [b], [str(stn)], x


def test_advice_follows_its_object_when_the_system_track_changes_number() -> None:
    """The drone's fused track ends and the same object comes back as another number: the
    pairing keeps its unit and advice id, and a unit that declined is not asked again; a
    threat missing from one cycle keeps its advice for a moment, then it is withdrawn."""
    from mead.engage.planner import HOLD_S, Planner
    from mead.engage.units import UnitTable

    planner = Planner(UnitTable.of_scenario(SC))
    first = planner.plan(T0, *_threat(T0, 7))
    (item,) = [it for adv in first.values() for it in adv.items]
    planner.declined.add((7, 1 - planner.units.index(item.unit)))  # the other unit said no
    again = planner.plan(T0 + 5.0, *_threat(T0 + 5.0, 12))
    (moved,) = [it for adv in again.values() for it in adv.items]
    assert (moved.advice_id, moved.unit, moved.system_track) == (item.advice_id, item.unit, 12)
    assert planner.counters["renumbered"] == 1 and set(planner.advised) == {12}
    assert (12, 1 - planner.units.index(item.unit)) in planner.declined
    far = drone_track(T0 + 5.0).x  # a drone 50 km off is another object: a new offer
    _, _, x = _threat(T0 + 10.0, 13)
    x[0, :3] += 50e3 * np.asarray(far[3:]) / np.linalg.norm(far[3:])
    (b,) = _threat(T0 + 10.0, 13)[0]
    other = planner.plan(T0 + 10.0, [b], ["13"], x)
    items = {it.system_track: it for adv in other.values() for it in adv.items}
    assert items[12].advice_id == item.advice_id  # 12 missing a moment: still advised
    assert 13 in items and items[13].advice_id != item.advice_id
    later = planner.plan(T0 + 11.0 + HOLD_S, [b], ["13"], x)
    assert 12 not in {it.system_track for adv in later.values() for it in adv.items}


def _b_fire_control(events: list, shared_areas: tuple[str, ...] = ()) -> Any:
    from mead.engage.fire_control import FireControl
    from mead.engage.units import UnitTable

    return FireControl(
        "B", UnitTable.of_scenario(SC, "B"), decode_engagement_policy("partner: B\n"),
        NoEffector(), events.append, shared_areas=shared_areas,
    )  # fmt: skip


def _advice_for_b(t: float, launch_in_s: float, engaged: tuple = ()) -> Advice:
    from mead.messages import AdviceItem

    item = AdviceItem(
        advice_id="7/B-SR/1", system_track=7, unit="B-SR", shots=1,
        launch_open=t + launch_in_s, launch_close=t + launch_in_s + 60.0,
        t_intercept=t + launch_in_s + 60.0, intercept=(0.0, 0.0, 0.0), launch2=0.0,
        x=drone_track(t).x, threat_class="drone", area="Capital", own_area=True,
        t_arrival=t + 1200.0, aim_lat_deg=31.77, aim_lon_deg=35.21,
    )  # fmt: skip
    return Advice(recipient="B", t=t, items=(item,), engaged=engaged)


def test_own_defence_now_beats_advice_for_later_and_leaves_objects_others_engage() -> None:
    """B's own track shows the drone at its capital inside its unit's reach now. Advice to
    engage it only later yields: B fires now on its own and declines the advice ("engaged
    on own tracks"). Advice about to launch, or another partner's round already flying at
    the drone (the advice's ``engaged``), keeps B's own plan off it."""
    threats, _, x = _threat(T0, 7)
    ids = ["B-T1"]
    threats = [msgspec.structs.replace(threats[0], track_id="B-T1")]
    for launch_in_s, engaged, own in (
        (600.0, (), True),  # a plan for ten minutes on: B defends itself now
        (30.0, (), False),  # advice about to launch keeps the object
        (600.0, (tuple(x[0]),), False),  # a round already flies at it
    ):
        events: list[Any] = []
        fc = _b_fire_control(events)
        fc.advise(T0, _advice_for_b(T0, launch_in_s, engaged))
        rep = fc.step(T0 + 1.0, threats, ids, x, report=True)
        assert rep is not None
        states = {s.advice_id: (s.state, s.reason) for s in rep.statuses}
        assert ("own:B-T1" in states) is own, states
        if own:
            assert states["7/B-SR/1"] == ("declined", "engaged on own tracks")
            assert isinstance(fc.effector, NoEffector) and len(fc.effector.shots) == 1
        else:  # the advice stands (launched already, when its window opens within EARLY_S)
            assert states["7/B-SR/1"][0] in ("assigned", "engaging")


def test_a_round_in_a_long_fly_out_stays_reported_and_holds_its_channel() -> None:
    """An air patrol's round may fly for many minutes: its engagement is reported as
    engaging, and holds its fire channel, until its outcome is known — not forgotten after
    the reporting period of finished engagements."""
    from mead.engage.fire_control import CONFIRM_S, REPORT_S

    events: list[Any] = []
    fc = _b_fire_control(events)
    fc.advise(T0, _advice_for_b(T0, 30.0))
    fc.advise(T0 + CONFIRM_S, _advice_for_b(T0 + CONFIRM_S, 30.0 - CONFIRM_S))  # confirmed
    rep = fc.step(T0 + CONFIRM_S + 1.0, report=True)
    assert rep is not None and [s.state for s in rep.statuses] == ["engaging"]
    late = T0 + 1.0 + 5 * REPORT_S  # the outcome is not known yet (no effector here)
    rep = fc.step(late, report=True)
    assert rep is not None and [(s.advice_id, s.state) for s in rep.statuses] == [
        ("7/B-SR/1", "engaging")
    ]
    assert fc.state[0].in_flight == 1


def test_advice_is_launched_on_only_once_a_later_plan_confirms_it() -> None:
    """New advice to defend another partner's area waits for a plan ``CONFIRM_S`` newer
    than its offer that still lists it: the coordinator has heard partners' own engagements
    by then. Withdrawn before that, it is never launched; confirmed, it is. Advice for the
    partner's own area is launched at once."""
    from mead.engage.fire_control import CONFIRM_S

    def advice(t: float, items: bool = True, own_area: bool = False) -> Advice:
        a = _advice_for_b(T0, 0.0)
        it = tuple(msgspec.structs.replace(i, own_area=own_area) for i in a.items)
        return msgspec.structs.replace(a, t=t, items=it if items else ())

    fc = _b_fire_control([])
    fc.advise(T0, advice(T0, own_area=True))
    fc.step(T0 + 0.5)
    assert isinstance(fc.effector, NoEffector) and len(fc.effector.shots) == 1
    for confirmed in (False, True):
        fc = _b_fire_control([])
        fc.advise(T0, advice(T0))
        for k in range(1, int(CONFIRM_S)):  # plans each second, none far enough on yet
            fc.advise(T0 + k, advice(T0 + k))
            fc.step(T0 + k + 0.5)
        assert isinstance(fc.effector, NoEffector) and not fc.effector.shots
        fc.advise(T0 + CONFIRM_S, advice(T0 + CONFIRM_S, items=confirmed))
        rep = fc.step(T0 + CONFIRM_S + 0.5, report=True)
        assert len(fc.effector.shots) == int(confirmed)
        assert rep is not None
        assert rep.statuses[0].state == ("engaging" if confirmed else "assigned")


def test_an_own_engagement_reported_before_confirmation_withdraws_the_advice() -> None:
    """The race of two deciders: the coordinator offers the drone to A's unit; at that
    moment B, whose own defence had not yet heard of the offer, engages it on its own track
    and reports it. The coordinator withdraws the offer at its next plan, before A may
    launch: one unit fires at the drone, B's."""
    from mead.engage.fire_control import CONFIRM_S
    from mead.messages import Engagement, EngagementStatus

    clock = Clock()
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    coord, partners, ids, events = coalition(bus.connect, clock, a_helps=True)
    fa = partners["A"].fire
    assert fa is not None and coord.planner is not None
    fly(coord, partners, ids, clock, partners["A"].endpoint, 2.0)  # the offer goes out
    offered = [d for d in events if isinstance(d, Decision) and d.node == "A"]
    assert offered and offered[0].accepted, offered
    x = drone_track(clock.t).x
    own = EngagementStatus(
        advice_id="own:B-T000007", system_track=0, unit="B-SR", state="engaging",
        t=clock.t, rounds_left=50, x=x, t_x=clock.t,
    )  # fmt: skip
    partners["B"].endpoint.publish(
        f"engage.{coord.name}",
        seal(partners["B"].identity, Engagement(source="B", t=clock.t, statuses=(own,)), clock.t),
    )
    fly(coord, partners, ids, clock, partners["A"].endpoint, 3 * CONFIRM_S)
    assert isinstance(fa.effector, NoEffector) and not fa.effector.shots
    assert coord.planner.counters["withdrawn_engaged_elsewhere"] >= 1


def test_who_engages_what_is_known_by_track_not_only_by_position() -> None:
    """B releases its own track of the drone (B-T7), which the coordinator fuses with A's,
    and engages it on its own with an estimate 5 km off (beyond the same-object distance):
    the coordinator still knows the object is taken — B-T7 is in that system track — and
    advises no one on it. Once A's round flies at the drone instead, the advice to B names
    B's own track B-T7 as engaged, so B's own defence leaves exactly that track alone."""
    from mead.messages import Engagement, EngagementStatus

    clock = Clock()
    bus = InProcessBus(clock, [], np.random.default_rng(0))
    coord, partners, ids, events = coalition(bus.connect, clock, a_helps=True)
    planner = coord.planner
    assert planner is not None and planner.tracks is coord.fuser
    b_ep = partners["B"].endpoint

    def b_releases() -> None:
        if clock.t % 1.0 == 0.0:
            tr = msgspec.structs.replace(drone_track(clock.t), track_id="B-T7")
            batch = TrackBatch(source="", t=clock.t, tracks=(tr,))
            b_ep.publish("tracks.C0", seal(ids["B"], batch, clock.t))

    x = np.asarray(drone_track(T0).x)
    x[:3] += 5_000.0 * x[3:] / np.linalg.norm(x[3:])  # 5 km ahead of where it is
    own = EngagementStatus(
        advice_id="own:B-T7", system_track=0, unit="B-SR", state="engaging", t=T0,
        rounds_left=50, x=tuple(x.tolist()), t_x=T0,
    )  # fmt: skip
    b_ep.publish(
        f"engage.{coord.name}",
        seal(ids["B"], Engagement(source="B", t=T0, statuses=(own,)), T0),
    )
    fly(coord, partners, ids, clock, partners["A"].endpoint, 10.0, b_releases)
    assert (
        coord.fuser.stns_of("B", ["B-T7"]).tolist() == coord.fuser.stns_of("A", ["A-T1"]).tolist()
    )
    assert not [d for d in events if isinstance(d, Decision)]  # offered to no one
    assert planner.counters["left_to_others"] > 0

    planner.own.clear()  # B's engagement is over; A is advised and its round flies
    adv = planner.plan(clock.t, *_threat_of(coord, clock.t))
    (item,) = [it for a in adv.values() for it in a.items]
    assert item.unit == "A-SR"
    st = EngagementStatus(
        advice_id=item.advice_id, system_track=item.system_track, unit="A-SR",
        state="engaging", t=clock.t, rounds_left=50,
    )  # fmt: skip
    planner.take("A", Engagement(source="A", t=clock.t, statuses=(st,)))
    adv = planner.plan(clock.t + 1.0, *_threat_of(coord, clock.t + 1.0))
    assert adv["B"].engaged_tracks == ("B-T7",) and adv["A"].engaged_tracks == ("A-T1",)


def test_a_partner_s_track_near_an_engaged_object_is_named_by_its_uncertainty() -> None:
    """B's track lies 3 km from an object a round flies at, in no system track with it:
    held to 100 m it is another object (not named back to B); held to ~1 km, it may well be
    the same one (named), since the same-object distance grows with the track's spread."""
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable
    from mead.fusion.siap import SystemTracker

    engaged = np.asarray(drone_track(T0).x)[None]
    for sigma_m, named in ((100.0, False), (1_000.0, True)):
        fuser = SystemTracker()
        tr = drone_track(T0)
        x = np.asarray(tr.x)
        x[:3] += 3_000.0 * x[3:] / np.linalg.norm(x[3:])
        P = np.diag([sigma_m**2] * 3 + [3.0**2] * 3)
        tr = msgspec.structs.replace(tr, track_id="B-T7", x_f64=packed(x), P_f64=packed(P.ravel()))
        fuser.ingest(TrackBatch(source="B", t=T0, tracks=(tr,)))
        planner = Planner(UnitTable.of_scenario(SC), tracks=fuser)
        got = planner._tracks_of("B", T0, set(), engaged)
        assert got == (("B-T7",) if named else ()), (sigma_m, got)


def test_what_advice_lists_as_engaged_holds_own_fire_only_while_advice_comes() -> None:
    """B's own track named in the advice's ``engaged_tracks`` is left alone; once no advice
    came for ``ENGAGED_S`` (the coordinator gone), B defends its area on that track."""
    adv = msgspec.structs.replace(_advice_for_b(T0, 600.0), items=(), engaged_tracks=("B-T1",))
    _held_off_while_advice_comes(adv, "own_left_to_advice")


def _held_off_while_advice_comes(
    adv: Advice, counter: str, shared_areas: tuple[str, ...] = ()
) -> None:
    """B's own defence, given ``adv``, leaves its track B-T1 of the drone at its capital
    alone (counted under ``counter``) and fires once no advice came for ``ENGAGED_S``."""
    from mead.engage.fire_control import ENGAGED_S

    (b,), _, x = _threat(T0, 7)
    threats, ids = [msgspec.structs.replace(b, track_id="B-T1")], ["B-T1"]
    fc = _b_fire_control([], shared_areas)
    fc.advise(T0, adv)
    fc.step(T0 + 1.0, threats, ids, x)
    assert isinstance(fc.effector, NoEffector) and not fc.effector.shots
    assert fc.counters[counter] == 1
    later = T0 + ENGAGED_S + 1.0
    (b,), _, x = _threat(later, 7)
    fc.step(later, [msgspec.structs.replace(b, track_id="B-T1")], ids, x)
    assert len(fc.effector.shots) == 1


def _threat_of(coord: CoordinatorNode, t: float) -> tuple:
    """The drone as ``_threat`` puts it, under the system track the coordinator holds."""
    (stn,) = coord.fuser.picture(t).stn.tolist()
    return _threat(t, int(stn))


def test_a_killed_object_s_coasting_tracks_are_engaged_by_no_one() -> None:
    """B's own round kills the drone; its track coasts on and a second track of it appears:
    B fires at neither, and the coordinator, told of the kill, advises no one on the
    coasting system track — for ``KILLED_S``; a drone there after that is engaged again."""
    from mead.engage.fire_control import KILLED_S, FireControl
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable
    from mead.messages import Engagement, EngagementStatus, EngageState

    class Kills(NoEffector):  # every round kills (the simulation draws this against truth)
        def outcome(self, handle: int, now: float) -> bool | None:
            return True

    def own_tracks(t: float, names: list[str]) -> tuple:
        (b,), _, x = _threat(t, 7)
        bs = [msgspec.structs.replace(b, track_id=n) for n in names]
        return bs, names, np.repeat(x, len(names), 0)

    kills, events = Kills(), list[Any]()
    fc = FireControl(
        "B", UnitTable.of_scenario(SC, "B"), decode_engagement_policy("partner: B\n"), kills,
        events.append,
    )  # fmt: skip
    fc.step(T0, *own_tracks(T0, ["B-T1"]), report=True)
    assert len(kills.shots) == 1
    t_hit = kills.shots[0].t_intercept
    rep = fc.step(t_hit + 0.5, report=True)
    assert rep is not None and rep.statuses[0].state == "intercepted"
    for dt in (5.0, 30.0, KILLED_S - 5.0):  # the track coasts on; a second one appears
        fc.step(t_hit + dt, *own_tracks(t_hit + dt, ["B-T1", "B-T2"]), report=True)
    assert len(kills.shots) == 1
    fc.step(t_hit + KILLED_S + 5.0, *own_tracks(t_hit + KILLED_S + 5.0, ["B-T3"]))
    assert len(kills.shots) == 2  # another object on that path, later: engaged

    planner = Planner(UnitTable.of_scenario(SC))
    x = drone_track(T0).x

    def status(state: EngageState, t: float) -> Engagement:
        st = EngagementStatus(
            advice_id="own:B-T1", system_track=0, unit="B-SR", state=state, t=t,
            rounds_left=50, x=x, t_x=T0,
        )  # fmt: skip
        return Engagement(source="B", t=t, statuses=(st,))

    planner.take("B", status("engaging", T0))
    planner.take("B", status("intercepted", T0 + 1.0))
    planner.take("B", status("intercepted", T0 + 6.0))  # repeated in later reports
    assert len(planner.killed) == 1
    for dt in (10.0, KILLED_S - 5.0):
        adv = planner.plan(T0 + dt, *_threat(T0 + dt, 7))
        assert not [it for a in adv.values() for it in a.items]
    adv = planner.plan(T0 + KILLED_S + 5.0, *_threat(T0 + KILLED_S + 5.0, 7))
    assert [it for a in adv.values() for it in a.items]


def test_two_system_tracks_of_one_object_get_one_advice() -> None:
    """The fused picture holds the drone twice (two numbers 300 m apart): one unit is
    advised, not one per track; a drone 5 km away is another object and gets its own."""
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable

    planner = Planner(UnitTable.of_scenario(SC))
    (b1,), _, x1 = _threat(T0, 7)
    (b2,), _, x2 = _threat(T0, 8)
    x2[0, :3] += 300.0 * np.asarray(x2[0, 3:]) / np.linalg.norm(x2[0, 3:])
    adv = planner.plan(T0, [b1, b2], ["7", "8"], np.vstack([x1, x2]))
    items = [it for a in adv.values() for it in a.items]
    assert len(items) == 1 and planner.counters["duplicate_tracks"] == 1
    x2[0, :3] += 4_700.0 * np.asarray(x2[0, 3:]) / np.linalg.norm(x2[0, 3:])
    adv = planner.plan(T0 + 1.0, [b1, b2], ["7", "8"], np.vstack([x1, x2]))
    assert sorted(it.system_track for a in adv.values() for it in a.items) == [7, 8]


def test_malformed_engaged_rows_in_advice_are_dropped_not_fatal() -> None:
    """Advice whose ``engaged`` rows are short or not finite: those rows are dropped and
    counted, the items are still decided, the node goes on."""
    events: list[Any] = []
    fc = _b_fire_control(events)
    good = tuple(float(v) for v in drone_track(T0).x)
    fc.advise(T0, _advice_for_b(T0, 600.0, ((1.0, 2.0), (np.nan,) * 6, good)))
    assert fc.engaged.shape == (1, 6) and fc.counters["advice_bad_engaged"] == 1
    assert [e.accepted for e in events if isinstance(e, Decision)] == [True]


SC_TWO = decode_yaml(
    SCENARIO
    + """  - {name: Town, owner: A, value: 12,
     circle: {lat_deg: 31.80, lon_deg: 35.45, radius_km: 8}}
""",
    Scenario,
)
"""The fixture with an area of A's on the drone's way to B's capital: one object threatens
both partners' areas, and either may defend its own on its own."""


def _threats_of_both(t: float, stn: int) -> tuple:
    """The drone at ``t`` as the coordinator's threats to A's town and B's capital."""
    (b,), ids, x = _threat(t, stn)
    town = msgspec.structs.replace(b, area="Town", owner="A", value=12.0)
    return [b, town], ids, x


class Misses(NoEffector):
    """Every round misses (the simulation draws this against truth)."""

    def outcome(self, handle: int, now: float) -> bool | None:
        return False if now >= self.shots[handle].t_intercept else None


def _a_fire_control(effector: NoEffector) -> Any:
    from mead.engage.fire_control import FireControl
    from mead.engage.units import UnitTable

    return FireControl(
        "A", UnitTable.of_scenario(SC_TWO, "A"), decode_engagement_policy("partner: A\n"),
        effector, [].append,
    )  # fmt: skip


def test_advice_on_an_object_that_also_threatens_another_partner_waits_for_a_plan() -> None:
    """The race of two own-area deciders: the drone threatens A's town and B's capital.
    The coordinator advises A's unit (for A's own town) at the moment B's own defence,
    which has not heard of it, engages the drone for its capital. The advice is
    ``contested``: A launches on it only once a plan ``CONFIRM_S`` later still lists it,
    and by then the coordinator has heard B's engagement and withdrawn it — one unit fires.
    Advice for an area only its owner's is launched at once, as before."""
    from mead.engage.fire_control import CONFIRM_S
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable
    from mead.messages import Engagement, EngagementStatus

    planner = Planner(UnitTable.of_scenario(SC_TWO))
    adv = planner.plan(T0, *_threats_of_both(T0, 7))
    (item,) = adv["A"].items
    assert item.unit == "A-SR" and item.own_area and item.contested
    fa = _a_fire_control(NoEffector())
    fa.advise(T0 + 0.2, adv["A"])
    fa.step(T0 + 0.5)
    assert isinstance(fa.effector, NoEffector) and not fa.effector.shots  # waits
    own = EngagementStatus(
        advice_id="own:B-T3", system_track=0, unit="B-SR", state="engaging", t=T0,
        rounds_left=50, x=drone_track(T0).x, t_x=T0,
    )  # fmt: skip
    planner.take("B", Engagement(source="B", t=T0, statuses=(own,)))
    for k in range(1, 4):
        t = T0 + k * CONFIRM_S / 2
        fa.advise(t + 0.2, planner.plan(t, *_threats_of_both(t, 7))["A"])
        fa.step(t + 0.5)
    assert not fa.effector.shots and planner.counters["withdrawn_engaged_elsewhere"] == 1

    alone = Planner(UnitTable.of_scenario(SC_TWO))
    threats, ids, x = _threats_of_both(T0, 7)
    (item,) = alone.plan(T0, threats[1:], ids, x)["A"].items  # A's town alone
    assert item.own_area and not item.contested
    fa = _a_fire_control(NoEffector())
    fa.advise(T0 + 0.2, msgspec.structs.replace(adv["A"], items=(item,)))
    fa.step(T0 + 0.5)
    assert len(fa.effector.shots) == 1


def test_a_second_round_after_a_miss_waits_for_a_plan_that_still_lists_it() -> None:
    """A's round on contested advice misses; B's own defence engaged the drone meanwhile.
    The second round of shoot-look-shoot is not fired at once on the miss: like new
    advice it waits for a plan ``CONFIRM_S`` after the miss, which withdraws it once the
    coordinator has heard of B's engagement; still listed, it is fired."""
    from mead.engage.fire_control import CONFIRM_S
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable

    for withdrawn in (True, False):
        planner = Planner(UnitTable.of_scenario(SC_TWO))
        adv = planner.plan(T0, *_threats_of_both(T0, 7))["A"]
        item = msgspec.structs.replace(adv.items[0], shots=2, launch2=T0)  # at once after
        fa = _a_fire_control(Misses())
        t = T0
        while t <= T0 + CONFIRM_S:  # confirmed: the first round flies
            fa.advise(t, msgspec.structs.replace(adv, t=t, items=(item,)))
            fa.step(t + 0.5)
            t += 1.0
        (first,) = fa.effector.shots
        t_miss = first.t_intercept + 0.5
        fa.step(t_miss)  # missed: look, then shoot again only once confirmed anew
        fa.step(t_miss + 1.0)
        assert len(fa.effector.shots) == 1
        later = t_miss + CONFIRM_S
        fa.advise(later, msgspec.structs.replace(adv, t=later, items=() if withdrawn else (item,)))
        fa.step(later + 0.5)
        assert len(fa.effector.shots) == (1 if withdrawn else 2), withdrawn


def test_advice_on_an_object_another_partner_killed_is_withdrawn_at_once() -> None:
    """B's own round kills the drone A is advised on (its first round missed): the advice
    is withdrawn at the next plan — not held the ``HOLD_S`` a threat missing for a moment
    keeps it — so no plan confirms a second round at the dead object's coasting track."""
    from mead.engage.planner import Planner
    from mead.engage.units import UnitTable
    from mead.messages import Engagement, EngagementStatus, EngageState

    class Fused:  # the coordinator's fuser put B's track B-T3 into system track 7
        def stns_of(self, source: str, track_ids: Any) -> Any:
            return np.array([7 if t == "B-T3" else 0 for t in track_ids])

        def source_tracks(self, source: str, stns: Any) -> list[str]:
            return []

        def source_states(self, source: str, t: float) -> tuple:
            return [], np.empty((0, 6)), np.empty((0, 6, 6))

    planner = Planner(UnitTable.of_scenario(SC_TWO), tracks=Fused())
    (item,) = planner.plan(T0, *_threats_of_both(T0, 7))["A"].items
    x = drone_track(T0).x

    def status(sender: str, advice_id: str, state: EngageState) -> None:
        st = EngagementStatus(
            advice_id=advice_id, system_track=item.system_track, unit=f"{sender}-SR",
            state=state, t=T0 + 1.0, rounds_left=50, x=x if sender == "B" else (), t_x=T0,
        )  # fmt: skip
        planner.take(sender, Engagement(source=sender, t=T0 + 1.0, statuses=(st,)))

    status("A", item.advice_id, "engaging")  # A's round flies
    status("B", "own:B-T3", "engaging")  # B engages the drone on its own, and kills it
    status("B", "own:B-T3", "intercepted")
    status("A", item.advice_id, "assigned")  # A's round missed: a second one is planned
    assert planner.done == {7}
    adv = planner.plan(T0 + 5.0, *_threats_of_both(T0 + 5.0, 7))
    assert not adv["A"].items and not planner.advised


def test_own_defence_leaves_an_object_two_owners_share_to_the_plan() -> None:
    """The drone threatens A's town and B's capital, so both owners' own defences could
    fire at it within a plan cycle of each other, neither hearing of the other in time.
    The coordinator names to each owner its own tracks of that object
    (``contested_tracks``), and to no one when only one owner's area is threatened —
    unless another owner's area lies beside it. B's own defence leaves a contested track
    to the plan while advice comes, and defends its capital on it again once no advice
    came for ``ENGAGED_S`` (the coordinator gone)."""
    from mead.engage.planner import Planner, neighbour_owners
    from mead.engage.units import UnitTable
    from mead.fusion.siap import SystemTracker

    fuser = SystemTracker()
    b_track = msgspec.structs.replace(drone_track(T0), track_id="B-T1")
    fuser.ingest(TrackBatch(source="B", t=T0, tracks=(b_track,)))
    (stn,) = fuser.picture(T0).stn.tolist()
    planner = Planner(UnitTable.of_scenario(SC_TWO), tracks=fuser)
    both = planner.plan(T0, *_threats_of_both(T0, int(stn)))
    assert both["B"].contested_tracks == ("B-T1",) and both["A"].contested_tracks == ()
    # … and to both owners where the object is, for tracks of it they started since their
    # last release (A released none)
    (fused,) = both["B"].contested
    assert np.allclose(fused, _threats_of_both(T0, int(stn))[2][0])
    assert both["A"].contested == both["B"].contested
    threats, ids, x = _threats_of_both(T0 + 1.0, int(stn))
    alone = planner.plan(T0 + 1.0, threats[:1], ids, x)  # B's capital alone
    assert alone["B"].contested_tracks == ()
    # A's town lies beside B's capital: A's own assessment may find the drone threatening
    # its town where the coordinator finds only the capital, so it is contested all the same
    assert neighbour_owners(SC_TWO.defended_areas) == {"Capital": {"A"}, "Town": {"B"}}
    beside = Planner(
        UnitTable.of_scenario(SC_TWO), tracks=fuser,
        neighbours=neighbour_owners(SC_TWO.defended_areas),
    )  # fmt: skip
    assert beside.plan(T0 + 1.0, threats[:1], ids, x)["B"].contested_tracks == ("B-T1",)
    assert neighbour_owners(SC.defended_areas) == {"Capital": set()}  # one area: none

    _held_off_while_advice_comes(
        Advice(recipient="B", t=T0, contested_tracks=("B-T1",)), "own_left_contested"
    )
    _held_off_while_advice_comes(
        Advice(recipient="B", t=T0, contested=(fused,)), "own_left_contested"
    )  # a track the coordinator has not heard of: by where it lies
    # and whatever the advice says, a drone B's own assessment finds bound for its capital
    # when another owner's area lies beside it: contested by the coordinator's own rule
    _held_off_while_advice_comes(Advice(recipient="B", t=T0), "own_left_contested", ("Capital",))


def test_an_own_engagement_not_launched_yet_yields_once_its_track_is_contested() -> None:
    """B's own defence takes the drone at its capital, but nothing leaves yet (its unit
    busy a while). Meanwhile the coordinator finds the drone threatening another owner's
    area too and names B's track ``contested``: B withdraws its engagement ("left to the
    coalition's plan") instead of launching on it, so the other owner's defence and B's
    cannot both fire; without that advice the round leaves."""
    (b,), _, x = _threat(T0, 7)
    threats, ids = [msgspec.structs.replace(b, track_id="B-T1")], ["B-T1"]
    x4 = tuple(np.asarray(drone_track(T0 + 4.0).x))
    for tracks, where in ((("B-T1",), ()), ((), (x4,)), ((), ())):
        contested = tracks or where  # by its track, or by where the object is
        fc = _b_fire_control([])
        fc._launch_due = lambda now: None  # the unit cannot fire yet
        fc.step(T0, threats, ids, x)
        assert fc.jobs["own:B-T1"].state == "assigned"
        del fc._launch_due
        fc.advise(
            T0 + 4.0,
            Advice(recipient="B", t=T0 + 4.0, contested_tracks=tracks, contested=where),
        )
        (b,), _, x5 = _threat(T0 + 5.0, 7)
        b = msgspec.structs.replace(b, track_id="B-T1")
        rep = fc.step(T0 + 5.0, [b], ids, x5, report=True)
        assert rep is not None
        state = {s.advice_id: (s.state, s.reason) for s in rep.statuses}["own:B-T1"]
        assert isinstance(fc.effector, NoEffector)
        if contested:
            assert state == ("declined", "left to the coalition's plan")
            assert not fc.effector.shots and fc.counters["own_withdrawn_contested"] == 1
        else:
            assert state[0] == "engaging" and len(fc.effector.shots) == 1
