"""The coordinator's fused picture: what partners receive, and what it must never reveal."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np

from mead.events import PictureReceived, Rejected
from mead.federation.envelope import Opener, seal
from mead.federation.identity import Identity, KeyRegistry
from mead.federation.inprocess import InProcessBus
from mead.federation.nats import NatsBus, NatsSubscription
from mead.federation.natsconf import Federation, hub_conf, partner_conf
from mead.federation.natsserver import LocalFederation
from mead.federation.policy import Policy, Releaser, decode_policy, isotropic_bound
from mead.fusion.siap import SystemTracker
from mead.geo import geodetic2ecef
from mead.messages import (
    Envelope,
    Picture,
    SystemTrack,
    Track,
    TrackBatch,
    decode,
    picture_to_arrays,
)
from mead.runtime.node import CoordinatorNode, PartnerNode
from mead.threat.assessor import Assessor
from mead.tracking.tracker import Tracker

T0 = 1_713_038_400.0
A, B, C, COORD = "ALPHA", "BRAVO", "CHARLIE", "C0"
A_SENSOR = "ALPHA-EW-north"
A_SITE = (34.123456, 45.654321, 512.5)  # lat deg, lon deg, alt m of A's radar
A_SITE_ECEF = tuple(geodetic2ecef(*(np.array([v]) for v in A_SITE))[0].tolist())


def identities(names: tuple[str, ...]) -> dict[str, Identity]:
    return {n: Identity.generate(n, seed=n.encode().ljust(32, b"#")) for n in names}


def policy(named: bool, precision_m: float = 0.0, keep_sensors: bool = False) -> Policy:
    keep = "[sensor_ids, sensor_sites]" if keep_sensors else "[]"
    return decode_policy(
        f"partner: {A}\nrules:\n  - to: [{COORD}]\n    name_source: {str(named).lower()}\n"
        f"    precision_m: {precision_m}\n    velocity_precision_mps: {precision_m / 100}\n"
        f"    keep: {keep}\n"
    )


def track(tid: str, lat: float, lon: float, t: float, sensors: bool = True) -> Track:
    """A ballistic-looking track at 8 km, with anisotropic (radar-like) covariance."""
    x = geodetic2ecef(np.array([lat]), np.array([lon]), np.array([8000.0]))[0]
    u = x / np.linalg.norm(x)  # long along one axis, as a radar track is across its beam
    P = np.eye(6) * 25.0
    P[:3, :3] += 4e4 * np.outer(u, u)
    return Track.of(
        track_id=tid,
        t=t,
        x=(*x.tolist(), 300.0, -200.0, 100.0),
        P=tuple(P.ravel().tolist()),
        cls="ballistic",
        quality=0.83,
        sensor_ids=(A_SENSOR,) if sensors else (),
        sensor_sites=A_SITE if sensors else (),
    )


def a_tracks(t: float) -> list[Track]:
    return [track("alpha-local-0001", 33.0, 44.0, t), track("alpha-local-0002", 33.5, 44.5, t)]


def b_track(t: float) -> Track:
    return track("bravo-local-0009", 31.0, 35.0, t, sensors=False)


def partner(name: str, endpoint: Any, opener: Opener, emit: Callable[..., None]) -> PartnerNode:
    """A real partner node without sensors: it releases nothing, it only listens."""
    return PartnerNode(
        identity=identities((name,))[name],
        endpoint=endpoint,
        opener=opener,
        scans=iter(()),
        tracker=Tracker(name),
        releaser=Releaser(Policy.nothing(name)),
        assessor=Assessor.for_areas(name, []),
        release_s=1e9,
        emit=emit,
    )


# ----------------------------------------------------------------------------- in-process


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class Coalition:
    """C0 with partners A and B on the in-process bus; A and B release through a Releaser."""

    def __init__(self, a_policy: Policy) -> None:
        self.clock = Clock()
        self.ids = identities((A, B, COORD))
        self.reg = KeyRegistry({n: i.verify_key for n, i in self.ids.items()})
        self.bus = InProcessBus(self.clock, [], np.random.default_rng(0))
        self.events: list[dict[str, Any]] = []
        self.coord = CoordinatorNode(
            identity=self.ids[COORD],
            endpoint=self.bus.connect(COORD),
            opener=self.opener(),
            assessor=Assessor.for_areas(COORD, []),
            fuser=SystemTracker(),
            assess_s=1.0,
        )
        self.b = partner(B, self.bus.connect(B), self.opener(), self.events.append)
        self.spy = self.bus.connect("spy").subscribe(f"picture.{B}")
        self.a_ep = self.bus.connect(A)
        self.rel = {A: Releaser(a_policy), B: Releaser(Policy.default(B, COORD))}

    def opener(self) -> Opener:
        return Opener(self.reg, max_age_s=60.0, clock=self.clock)

    def release(self, name: str, tracks: list[Track]) -> list[TrackBatch]:
        ep = self.a_ep if name == A else self.b.endpoint
        out = self.rel[name].release(tracks, self.clock())
        for r, batch in out.items():
            ep.publish(f"tracks.{r}", seal(self.ids[name], batch, self.clock()))
        return list(out.values())

    def run(self, until: float) -> None:
        """Step both nodes every 0.1 s up to ``until``."""
        while self.clock.t < until:
            self.clock.t = round(self.clock.t + 0.1, 6)
            self.coord.step(self.clock())
            self.b.step(self.clock())


def test_b_gets_the_picture_without_a_identity_ids_or_sensors() -> None:
    co = Coalition(policy(named=False, keep_sensors=True))  # C0 itself may see A's sensors
    sent = co.release(A, a_tracks(T0 + 0.5))
    co.release(B, [b_track(T0 + 0.5)])
    assert sent[0].tracks[0].sensor_ids == (A_SENSOR,)
    co.run(T0 + 1.55)  # one assessment after both batches arrived (150 ms links)
    pic = co.b.picture
    assert pic is not None and pic.recipient == B and len(pic.tracks) == 3
    assert all(r.sources == () for r in pic.tracks)
    assert [r.stn for r in pic.tracks] == sorted(r.stn for r in pic.tracks)
    raw = b"".join(d for _, d in co.spy.drain())
    assert_nothing_of_a(raw)
    assert co.b.counters["pictures"] >= 1 and not co.b.inbox.rejected
    ev = [e for e in co.events if isinstance(e, PictureReceived)]
    assert ev[-1] == PictureReceived(node=B, t_recv=ev[-1].t_recv, t=pic.t, via=COORD, tracks=3)


def test_a_named_by_its_policy_appears_only_on_its_own_rows() -> None:
    co = Coalition(policy(named=True))
    co.release(A, [track("alpha-local-0001", 33.0, 44.0, T0 + 0.5)])
    co.release(B, [b_track(T0 + 0.5), track("bravo-local-0010", 33.0, 44.0, T0 + 0.5, False)])
    co.run(T0 + 1.55)
    pic = co.b.picture
    assert pic is not None
    # A and B see the object at 33N 44E: one system track, naming A and not B (unnamed)
    assert sorted(r.sources for r in pic.tracks) == [(), (A,)]


def test_a_only_track_is_no_more_precise_than_a_released() -> None:
    co = Coalition(policy(named=False, precision_m=2000.0))
    released = co.release(A, a_tracks(T0))[0].tracks
    co.run(T0 + 1.55)
    pic = co.b.picture
    assert pic is not None and len(pic.tracks) == 2 and pic.t > T0 + 1.0
    _, _, P_pic = picture_to_arrays(pic)
    for rel, row, P_row in zip(released, pic.tracks, P_pic, strict=True):
        x_rel, P_rel = np.array(rel.x), np.array(rel.P).reshape(6, 6)
        # what A released is on A's 2 km grid; the row is its prediction to the picture time
        assert np.allclose(np.round(x_rel[:3] / 2000.0) * 2000.0, x_rel[:3], rtol=0, atol=1e-6)
        dt = pic.t - rel.t
        assert np.allclose(row.x[:3], x_rel[:3] + x_rel[3:] * dt, rtol=0, atol=1e-3)
        assert np.linalg.eigvalsh(P_row - P_rel).min() >= -1e-6  # never tighter
        assert np.all(np.diag(P_row)[:3] >= 2000.0**2 / 12)
        assert np.allclose(P_row[:3, :3], P_row[0, 0] * np.eye(3))  # no direction to a radar


def test_partner_sequence_numbers_count_only_its_own_messages() -> None:
    """Gaps in C0's sequence numbers would tell B how many partners there are."""
    co = Coalition(policy(named=False))
    co.release(A, a_tracks(T0 + 0.5))
    co.run(T0 + 4.05)
    seqs = [msgspec.msgpack.decode(d, type=Envelope).seq for _, d in co.spy.drain()]
    sent = co.coord.counters["pictures_sent"]  # to A and B, one still in flight to B
    assert len(seqs) >= 4 and seqs == list(range(1, len(seqs) + 1)) and sent > 2 * len(seqs)


def test_bad_pictures_are_rejected_and_counted() -> None:
    co = Coalition(policy(named=False))
    co.release(A, a_tracks(T0 + 0.5))
    co.run(T0 + 1.55)
    good = co.b.picture
    assert good is not None
    row = good.tracks[0]
    t = co.clock()
    rogue = Identity(COORD, co.ids[COORD].signing_key, seq=100)  # C0's key, fresh seqs
    bad = [
        Picture(recipient=B, t=t, tracks=(msgspec.structs.replace(row, x_f64=row.x_f64[:40]),)),
        Picture(recipient=B, t=t, tracks=(msgspec.structs.replace(row, pos_var_m2=np.nan),)),
        Picture(recipient=B, t=t, tracks=(msgspec.structs.replace(row, vel_var_m2s2=-1.0),)),
        Picture(recipient=B, t=good.t - 5.0),  # older than the one held
        Picture(recipient=A, t=t),  # someone else's
    ]
    for p in bad:
        co.bus.connect("rogue").publish(f"picture.{B}", seal(rogue, p, t))
    co.bus.connect("rogue").publish(f"picture.{B}", b"\x93junk")
    co.run(t + 0.3)
    assert co.b.picture is good
    assert dict(co.b.inbox.rejected) == {
        "bad_picture": 3,
        "old_picture": 1,
        "unexpected": 1,
        "malformed": 1,
    }
    assert [e.reason for e in co.events if isinstance(e, Rejected)] == [
        "bad_picture",
        "old_picture",
        "unexpected",
        "malformed",
    ]


def test_isotropic_bound_bounds_and_has_no_direction() -> None:
    rng = np.random.default_rng(4)
    L = rng.normal(size=(200, 6, 6)) * np.array([300.0] * 3 + [3.0] * 3)[:, None]
    P = L @ L.swapaxes(-1, -2)
    v, w = isotropic_bound(P)
    Pb = np.repeat(np.stack([v, w], axis=1), 3, axis=1)[:, :, None] * np.eye(6)
    assert np.linalg.eigvalsh(Pb - P).min(axis=1).min() >= -1e-6 * np.abs(P).max()
    # tight enough: within 2× of the largest position / velocity variance
    assert np.all(v <= 2 * np.linalg.eigvalsh(P[:, :3, :3])[:, -1] * (1 + 1e-12))
    assert np.all(w <= 2 * np.linalg.eigvalsh(P[:, 3:, 3:])[:, -1] * (1 + 1e-12))
    v1, w1 = isotropic_bound(P[5:6])
    assert np.allclose([v1[0], w1[0]], [v[5], w[5]])  # batched equals one at a time


# ----------------------------------------------------------------------------- helpers


def block(conf: str, name: str) -> str:
    """The text of the account block ``name { ... }`` (balanced braces)."""
    start = conf.index(f"  {name} {{")
    depth = 0
    for j in range(conf.index("{", start), len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[j], 0)
        if depth == 0:
            return conf[start : j + 1]
    raise AssertionError(f"unbalanced block {name}")


def assert_nothing_of_a(raw: bytes) -> None:
    """Nothing in ``raw`` names A, its track ids or its sensors, or holds its site."""
    for needle in (A.encode(), b"alpha-local", A_SENSOR.encode()):
        assert needle not in raw, needle
    for v in (*A_SITE, *A_SITE_ECEF):
        assert struct.pack(">d", v) not in raw and struct.pack(">f", v) not in raw, v


def walk(obj: Any) -> Iterator[Any]:
    """Every leaf of a decoded msgpack value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from walk(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from walk(v)
    else:
        yield obj


def assert_decoded_nothing_of_a(data: bytes) -> None:
    """Decode an envelope (and its payload) and search every field, not just bytes."""
    try:
        env = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        return  # not msgpack (JetStream's own JSON traffic): the raw search covers it
    leaves = list(walk(env))
    if isinstance(env, dict) and isinstance(env.get("payload"), bytes):
        leaves += list(walk(msgspec.msgpack.decode(env["payload"])))  # C0's: valid msgpack
    for v in leaves:
        if isinstance(v, str | bytes):
            s = v if isinstance(v, bytes) else v.encode()
            assert A.encode() not in s and b"alpha-local" not in s and A_SENSOR.encode() not in s
        elif isinstance(v, float):
            assert not np.isclose([v] * 6, [*A_SITE, *A_SITE_ECEF], rtol=0, atol=1e-6).any()


# ----------------------------------------------------------------------------- over NATS


def test_picture_subjects_are_bound_per_partner() -> None:
    """Each partner's accounts import its own ``picture.<p>`` and no one else's."""
    fed = Federation(COORD, {A: [COORD], B: [COORD]}, b"k" * 32)
    hub = hub_conf(fed, store_dir="/s", leaf_listen="127.0.0.1:7422")
    for p, other in ((A, B), (B, A)):
        assert f'{{ stream: "picture.{p}", accounts: [PARTNER_{p}] }}' in hub
        embassy = block(hub, f"PARTNER_{p}")
        assert f'subject: "picture.{p}"' in embassy and f"picture.{other}" not in embassy
        conf = partner_conf(fed, p, hub_leaf="hub:7422", store_dir="/s")
        assert f'subject: "picture.{p}"' in block(conf, "LOCAL")
        assert f"picture.{other}" not in conf and "picture.>" not in conf


def drain_until(
    subs: list[NatsSubscription],
    done: Callable[[], bool],
    step: Callable[[], None],
    timeout: float,
) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        step()
        for s in subs:
            out += s.drain()
        time.sleep(0.02)
    time.sleep(0.3)
    for s in subs:
        out += s.drain()
    return out


def run_federation(lf: LocalFederation, a_policy: Policy) -> tuple[PartnerNode, list, list]:
    """A releases two tracks, B one; C0 fuses and sends pictures; B's every account listens.

    Returns B's node, what B's accounts saw (subject, bytes) and what A's LOCAL saw.
    """
    names = tuple(lf.fed.partners)
    ids = identities((*names, COORD))
    reg = KeyRegistry({n: i.verify_key for n, i in ids.items()})
    now = [T0]
    clock = lambda: now[0]  # noqa: E731
    b_acc = lf.partner_accounts(B)
    spies = [
        NatsBus(b_acc["LOCAL"]),
        NatsBus(b_acc["RELEASE"]),
        NatsBus(lf.hub_accounts()[f"PARTNER_{B}"]),  # B's embassy on the hub
    ]
    a_spy = NatsBus(lf.partner_accounts(A)["LOCAL"])
    try:
        subs = [s.connect("spy").subscribe(">") for s in spies]
        a_sub = a_spy.connect("spy").subscribe(f"picture.{A}")
        coord = CoordinatorNode(
            identity=ids[COORD],
            endpoint=lf.coordinator_bus().connect(COORD),
            opener=Opener(reg, max_age_s=60.0, clock=clock),
            assessor=Assessor.for_areas(COORD, []),
            fuser=SystemTracker(),
            assess_s=1.0,
        )
        events: list[dict[str, Any]] = []
        b = partner(B, lf.partner_bus(B).connect(B), Opener(reg, 60.0, clock), events.append)
        a_ep = lf.partner_bus(A).connect(A)
        for r, batch in Releaser(a_policy).release(a_tracks(T0), T0).items():
            a_ep.publish(f"tracks.{r}", seal(ids[A], batch, T0))
        for r, batch in Releaser(Policy.default(B, COORD)).release([b_track(T0)], T0).items():
            b.endpoint.publish(f"tracks.{r}", seal(ids[B], batch, T0))

        def step() -> None:
            coord.step(now[0])
            b.step(now[0])
            if coord.counters["batches"] >= 2:
                now[0] += 0.25  # the wire clock moves once the releases are in

        seen = drain_until(
            subs, lambda: b.picture is not None and len(b.picture.tracks) == 3, step, 20.0
        )
        seen_by_a = a_sub.drain()
        assert coord.counters["batches"] == 2 and not coord.inbox.rejected
        return b, seen, seen_by_a
    finally:
        for s in [*spies, a_spy]:
            s.close()


def test_b_learns_nothing_of_a_over_nats(
    federation_factory: Callable[..., LocalFederation],
) -> None:
    lf = federation_factory(partners=(A, B, C), coordinator=COORD)
    b, seen, seen_by_a = run_federation(lf, policy(named=False))
    pic = b.picture
    assert pic is not None and len(pic.tracks) == 3  # A's two tracks and B's own
    assert all(r.sources == () for r in pic.tracks) and not b.inbox.rejected
    assert f"picture.{B}" in {s for s, _ in seen}  # the spies do see B's traffic …
    assert not any(s.endswith((f".{A}", f".{C}")) for s, _ in seen)  # … and no one else's
    assert {s for s, _ in seen_by_a} == {f"picture.{A}"}  # A gets its own picture
    for _, data in seen:
        assert_nothing_of_a(data)
        assert_decoded_nothing_of_a(data)
    assert_nothing_of_a(b"".join(d for _, d in seen))  # nor across message boundaries


def test_a_named_by_policy_reaches_b_over_nats(
    federation_factory: Callable[..., LocalFederation],
) -> None:
    lf = federation_factory(partners=(A, B), coordinator=COORD)
    b, seen, _ = run_federation(lf, policy(named=True, keep_sensors=True))
    pic = b.picture
    assert pic is not None
    assert sorted(r.sources for r in pic.tracks) == [(), (A,), (A,)]
    raw = b"".join(d for s, d in seen if s == f"picture.{B}")
    assert A.encode() in raw
    # naming A is all its policy allows onward: C0 held A's sensors and passes none on
    assert A_SENSOR.encode() not in raw and b"alpha-local" not in raw
    for v in A_SITE:
        assert struct.pack(">d", v) not in raw
    last_pic = [d for s, d in seen if s == f"picture.{B}"][-1]
    last = decode(msgspec.msgpack.decode(last_pic, type=Envelope).payload)
    assert isinstance(last, Picture) and all(isinstance(r, SystemTrack) for r in last.tracks)
