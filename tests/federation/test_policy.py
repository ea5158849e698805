"""Releasability policy: loading and its errors, the release semantics, and anonymisation."""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path

import msgspec
import numpy as np
import pytest

from mead.errors import ConfigError
from mead.federation.policy import (
    DEFAULT_CLASSES,
    Policy,
    Region,
    Releaser,
    Rule,
    anonymise,
    coarsen,
    decode_policy,
    load_policy,
    validate_recipients,
)
from mead.geo import ecef2geodetic, geodetic2ecef
from mead.messages import TRACK_CLASSES, Track, TrackBatch
from mead.scenario.schema import Circle

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "policy-format.md"
T0 = 1_713_038_400.0
KNOWN = {"C0", "P1", "P2", "P4"}
KEY = b"k" * 32


def track(
    tid: str,
    cls: str = "ballistic",
    lat: float = 32.0,
    lon: float = 36.0,
    alt: float = 20_000.0,
    **kw: object,
) -> Track:
    p = geodetic2ecef(lat, lon, alt)
    P = np.diag([100.0, 200.0, 300.0, 4.0, 5.0, 6.0])
    fields: dict[str, object] = dict(
        track_id=tid,
        t=T0,
        x=(*p.tolist(), 310.0, -120.0, 45.0),
        P=tuple(P.ravel().tolist()),
        cls=cls,
        sensor_ids=("P1-S1",),
        sensor_sites=(31.0, 35.0, 100.0),
    )
    fields.update(kw)
    return Track.of(**fields)  # type: ignore[arg-type]


def policy(yaml: str) -> Policy:
    return decode_policy(yaml, source="p.yaml")


def ids(batch: TrackBatch | None) -> list[str]:
    return [] if batch is None else [tr.track_id for tr in batch.tracks]


# ----------------------------------------------------------------------------- the doc


def doc_blocks(lang: str, section: str = "release") -> list[str]:
    """Fenced blocks of the release-policy part of the doc (``section="release"``) or of
    its engagement-policy part (``"engagement"``)."""
    release, _, engagement = DOC.read_text().partition("## Engagement policy")
    text = release if section == "release" else engagement
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_documented_example_policy_loads_and_behaves_as_described(tmp_path: Path) -> None:
    example = doc_blocks("yaml")[0]
    path = tmp_path / "P1.yaml"
    path.write_text(example)
    pol = load_policy(path)
    validate_recipients(pol, KNOWN, str(path), partner="P1")
    assert pol.partner == "P1" and len(pol.rules) == 3
    rel = Releaser(pol, recipients=KNOWN)
    out = rel.release(
        [track("b1", "ballistic"), track("d1", "drone"), track("a1", "aircraft")], T0
    )
    assert ids(out["C0"]) == ["b1", "d1"] and out["C0"].source == "P1"
    assert ids(out.get("P2")) == ["b1"] and out["P2"].source == ""


def test_the_documented_error_messages_are_the_real_ones(tmp_path: Path) -> None:
    """Every ``policy.yaml: …`` line in the doc's error block is produced verbatim."""
    block = doc_blocks("text")[0]
    cases = doc_blocks("yaml")[1:]
    assert len(cases) == len(block.strip().splitlines())
    for text, expected in zip(cases, block.strip().splitlines(), strict=True):
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as e:
            validate_recipients(load_policy(path), KNOWN, str(path))
        assert str(e.value).replace(str(tmp_path) + "/", "") == expected


# ----------------------------------------------------------------------------- loading


BAD = [
    # (yaml, text in the message, field path)
    ("partner: P1\nrules: [{to: [C0], clases: [drone]}]", "unknown field `clases`", "$.rules[0]"),
    (
        "partner: P1\nrules: [{to: [C0], classes: [jet]}]",
        "Invalid enum value 'jet'",
        "$.rules[0].classes[0]",
    ),
    ("partner: P1\nrules: [{to: [C0], classes: []}]", "length >= 1", "$.rules[0].classes"),
    ("partner: P1\nrules: [{to: []}]", "length >= 1", "$.rules[0].to"),
    ("partner: P1\nrules: [{to: [C0], precision_m: -5}]", ">= 0.0", "$.rules[0].precision_m"),
    ("partner: P1\nrules: [{to: [C0], min_quality: 1.5}]", "<= 1.0", "$.rules[0].min_quality"),
    (
        "partner: P1\nrules: [{to: [C0], keep: [quality]}]",
        "Invalid enum value 'quality'",
        "$.rules[0].keep[0]",
    ),
    ("partner: P1\nrules: [{to: [C0, C0]}]", "to lists 'C0' twice", "$.rules[0]"),
    ("partner: P1\nrules: [{to: ['*', C0]}]", "list it alone", "$.rules[0]"),
    (
        "partner: P1\nrules: [{to: [C0]}, {to: [P1]}]",
        "rule 2 sends to the policy's own partner",
        "$.rules[1].to",
    ),
    (
        "partner: P1\nrules: [{to: [C0], region: {}}]",
        "exactly one of circle or polygon",
        "$.rules[0].region",
    ),
    (
        "partner: P1\nrules: [{to: [C0], region: {polygon: [[1, 2], [3, 4]]}}]",
        "at least 3 points",
        "$.rules[0].region.polygon",
    ),
    (
        "partner: P1\nrules: [{to: [C0], region: {circle: {lat_deg: 95, lon_deg: 0, "
        "radius_km: 1}}}]",
        "<= 90.0",
        "$.rules[0].region.circle.lat_deg",
    ),
    ("partner: P.1\n", "matching regex", "$.partner"),
    ("rules: []\n", "missing required field `partner`", ""),
    ("partner: P1\nrules: [{to: [C0]", "not valid YAML", ""),
]


@pytest.mark.parametrize(("text", "what", "path"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_policies_name_file_and_field(text: str, what: str, path: str) -> None:
    with pytest.raises(ConfigError) as e:
        decode_policy(text, source="policies/P1.yaml")
    assert str(e.value).startswith("policies/P1.yaml: ")
    assert what in e.value.detail and e.value.path == path


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read file"):
        load_policy(tmp_path / "nope.yaml")


def test_unknown_recipients_and_mismatched_partner() -> None:
    pol = policy("partner: P1\nrules: [{to: [C0]}, {to: [P2]}, {to: [P2, P9]}]")
    with pytest.raises(ConfigError) as e:
        validate_recipients(pol, KNOWN, "policies/P1.yaml")
    assert str(e.value) == (
        "policies/P1.yaml: rule 3 sends to unknown partner 'P9' (known: C0, P1, P2, P4)"
        " - at `$.rules[2].to[1]`"
    )
    with pytest.raises(ConfigError, match="policy is for partner 'P1' but is attached to 'P2'"):
        validate_recipients(pol, KNOWN, "x.yaml", partner="P2")
    with pytest.raises(ConfigError, match="partner 'P1' is not a node of the scenario"):
        validate_recipients(pol, {"C0", "P2", "P9"}, "x.yaml")
    validate_recipients(policy("partner: P1\nrules: [{to: ['*']}]"), KNOWN, "x.yaml")


# ----------------------------------------------------------------------------- semantics


def test_unreleased_classes_never_appear_in_any_batch() -> None:
    pol = policy(
        "partner: P1\nrules:\n"
        "  - {to: [C0], classes: [ballistic, rocket]}\n"
        "  - {to: [P2], classes: [drone]}\n"
        "  - {to: [C0, P2], classes: [cruise], confirmed_only: false}\n"
    )
    allowed = {"C0": {"ballistic", "rocket", "cruise"}, "P2": {"drone", "cruise"}}
    rel = Releaser(pol)
    rng = np.random.default_rng(4)
    for k in range(20):
        cls = rng.choice(TRACK_CLASSES, size=30)
        conf = rng.random(30) < 0.7
        pairs = enumerate(zip(cls.tolist(), conf.tolist(), strict=True))
        tracks = [track(f"T{i}", c, confirmed=f) for i, (c, f) in pairs]
        out = rel.release(tracks, T0 + k)
        by_id = {tr.track_id: tr for tr in tracks}
        for r, batch in out.items():
            for tr in batch.tracks:
                assert tr.cls in allowed[r]
                assert tr.confirmed or tr.cls == "cruise"
            # every admissible track went out
            want = {
                t
                for t, tr in by_id.items()
                if tr.cls in allowed[r] and (tr.confirmed or tr.cls == "cruise")
            }
            assert set(ids(batch)) == want


def test_sensor_fields_stripped_by_default_and_kept_on_request() -> None:
    pol = policy("partner: P1\nrules: [{to: [C0]}, {to: [P2], keep: [sensor_ids]}]")
    out = Releaser(pol).release([track("T1")], T0)
    c0, p2 = out["C0"].tracks[0], out["P2"].tracks[0]
    assert c0.sensor_ids == () and c0.sensor_sites == ()
    assert p2.sensor_ids == ("P1-S1",) and p2.sensor_sites == ()
    assert c0.x == track("T1").x and c0.P == track("T1").P
    wire = msgspec.msgpack.encode(out["C0"])
    assert b"P1-S1" not in wire


def test_region_circle_and_polygon_filter() -> None:
    pol = policy(
        "partner: P1\nrules:\n"
        "  - {to: [C0], region: {circle: {lat_deg: 32, lon_deg: 36, radius_km: 100}}}\n"
        "  - {to: [P2], region: {polygon: [[30, 34], [30, 38], [33, 38], [33, 34]]}}\n"
    )
    tracks = [
        track("near", lat=32.5, lon=36.0),  # 55 km north of the centre; inside the box
        track("edge", lat=32.0, lon=37.1),  # ~104 km east; inside the box
        track("far", lat=34.0, lon=36.0),  # 222 km north; outside both
        track("west", lat=31.0, lon=33.5),  # outside the box, ~260 km away
    ]
    out = Releaser(pol).release(tracks, T0)
    assert ids(out["C0"]) == ["near"]
    assert ids(out["P2"]) == ["near", "edge"]


def test_precision_moves_positions_at_most_half_a_step_and_inflates_P() -> None:
    q, qv = 5000.0, 20.0
    pol = policy(
        f"partner: P1\nrules: [{{to: [C0], precision_m: {q}, velocity_precision_mps: {qv}}}]"
    )
    rng = np.random.default_rng(9)
    tracks = [
        track(f"T{i}", lat=float(la), lon=float(lo), alt=float(h))
        for i, (la, lo, h) in enumerate(
            zip(
                rng.uniform(20, 40, 50),
                rng.uniform(30, 50, 50),
                rng.uniform(0, 1e5, 50),
                strict=True,
            )
        )
    ]
    out = Releaser(pol).release(tracks, T0)["C0"].tracks
    x0 = np.array([tr.x for tr in tracks])
    x1 = np.array([tr.x for tr in out])
    assert np.all(np.abs(x1[:, :3] - x0[:, :3]) <= q / 2 + 1e-6)
    assert np.all(np.abs(x1[:, 3:] - x0[:, 3:]) <= qv / 2 + 1e-9)
    assert np.allclose(np.round(x1[:, :3] / q), x1[:, :3] / q)  # on the grid
    assert np.any(np.abs(x1[:, :3] - x0[:, :3]) > q / 4)  # and really moved
    P0 = np.array([tr.P for tr in tracks]).reshape(-1, 6, 6)
    P1 = np.array([tr.P for tr in out]).reshape(-1, 6, 6)
    inflation = np.array([q * q / 12] * 3 + [qv * qv / 12] * 3)
    assert np.allclose(P1 - P0, np.diag(inflation)[None])


def test_coarsen_matches_the_uniform_rounding_error_it_claims() -> None:
    """Rounding error of randomly placed points is U(−q/2, q/2): variance q²/12."""
    rng = np.random.default_rng(1)
    x = np.hstack([rng.uniform(-7e6, 7e6, (20_000, 3)), rng.normal(0, 300, (20_000, 3))])
    P = np.tile(np.eye(6), (len(x), 1, 1))
    xs, Ps = coarsen(x, P, 1000.0, 0.0)
    err = xs[:, :3] - x[:, :3]
    assert np.allclose(err.var(axis=0), 1000.0**2 / 12, rtol=0.05)
    assert np.array_equal(xs[:, 3:], x[:, 3:]) and np.allclose(Ps[:, 0, 0], 1 + 1e6 / 12)
    assert np.array_equal(coarsen(x, P, 0.0, 0.0)[0], x)


def test_first_admitting_rule_decides_the_form() -> None:
    pol = policy(
        "partner: P1\nrules:\n"
        "  - {to: [C0], classes: [ballistic], precision_m: 1000}\n"
        "  - {to: [C0], classes: [ballistic, drone], precision_m: 0, keep: [sensor_ids]}\n"
    )
    out = Releaser(pol).release([track("b"), track("d", "drone")], T0)["C0"]
    b, d = out.tracks
    assert b.track_id == "b" and b.x != track("b").x and b.sensor_ids == ()
    assert d.track_id == "d" and d.x == track("d").x and d.sensor_ids == ("P1-S1",)


def test_confirmed_only_and_min_quality() -> None:
    pol = policy(
        "partner: P1\nrules: [{to: [C0], min_quality: 0.5}, {to: [P2], confirmed_only: false}]"
    )
    tracks = [track("ok"), track("weak", quality=0.4), track("tent", confirmed=False)]
    out = Releaser(pol).release(tracks, T0)
    assert ids(out["C0"]) == ["ok"]
    assert ids(out["P2"]) == ["ok", "weak", "tent"]


def test_delay_holds_releases_and_keeps_their_time() -> None:
    pol = policy("partner: P1\nrules: [{to: [C0], delay_s: 10}]")
    rel = Releaser(pol)
    seen = {}
    for k in range(0, 25):
        t = T0 + k
        out = rel.release([track("T1", t=t)], t)
        if "C0" in out:
            seen[k] = out["C0"].tracks[0].t - T0
    assert seen == {k: k - 10.0 for k in range(10, 25)}
    assert rel.pending == 10


def test_drops_go_to_holders_only_and_after_the_updates() -> None:
    pol = policy("partner: P1\nrules: [{to: [C0]}, {to: [P2], classes: [drone], delay_s: 5}]")
    rel = Releaser(pol)
    out = rel.release([track("b"), track("d", "drone")], T0)
    assert ids(out["C0"]) == ["b", "d"] and "P2" not in out
    # b deleted by the tracker, d now classed aircraft (no longer releasable anywhere)
    out = rel.release([track("d", "aircraft", t=T0 + 1)], T0 + 1, dropped=["b"])
    assert out["C0"].dropped == ("b", "d") and out["C0"].tracks == ()
    assert "P2" not in out
    seen = {k: rel.release([], T0 + k).get("P2") for k in range(2, 8)}
    assert [k for k, b in seen.items() if b is not None] == [5, 6]
    assert ids(seen[5]) == ["d"]  # the drone version released at T0, due at T0 + 5
    assert seen[6] is not None and seen[6].dropped == ("d",) and seen[6].tracks == ()
    assert rel.pending == 0


def test_class_switch_to_a_faster_rule_never_sends_an_older_version() -> None:
    pol = policy(
        "partner: P1\nrules: [{to: [C0], classes: [ballistic]}, "
        "{to: [C0], classes: [unknown], delay_s: 30}]"
    )
    rel = Releaser(pol)
    sent = []
    for k in range(60):
        cls = "unknown" if k < 10 else "ballistic"
        for tr in (
            rel.release([track("T", cls, t=T0 + k)], T0 + k)
            .get("C0", TrackBatch(source="", t=0))
            .tracks
        ):
            sent.append(tr.t - T0)
    assert sent == sorted(sent) and sent[0] == 10.0 and len(sent) == 50


def test_name_source_and_star_recipients() -> None:
    pol = policy(
        "partner: P1\nrules: [{to: ['*'], classes: [ballistic]}, "
        "{to: [C0], classes: [drone], name_source: true}]"
    )
    with pytest.raises(ValueError, match="rule 1 sends to '\\*'"):
        Releaser(pol)
    rel = Releaser(pol, recipients=KNOWN)
    assert rel.recipients == ("C0", "P2", "P4")
    out = rel.release([track("b"), track("d", "drone")], T0)
    assert set(out) == {"C0", "P2", "P4"} and ids(out["C0"]) == ["b", "d"]
    assert all(b.source == "" for b in out.values())  # rule 1 reaches C0 without naming
    named = Releaser(policy("partner: P1\nrules: [{to: [C0], name_source: true}]"))
    assert named.release([track("b")], T0)["C0"].source == "P1"


def test_nothing_and_default_policies() -> None:
    assert Releaser(Policy.nothing("P1")).release([track("b")], T0) == {}
    pol = Policy.default("P1", "C0")
    assert pol.rules[0].classes == DEFAULT_CLASSES and pol.rules[0].confirmed_only
    rel = Releaser(pol)
    tracks = [track(f"{c}{f}", c, confirmed=f) for c, f in product(TRACK_CLASSES, (True, False))]
    out = rel.release(tracks, T0)
    assert set(out) == {"C0"}
    assert ids(out["C0"]) == [
        "ballisticTrue",
        "rocketTrue",
        "cruiseTrue",
        "droneTrue",
        "unknownTrue",
    ]
    assert all(tr.sensor_ids == () == tr.sensor_sites for tr in out["C0"].tracks)


def test_region_struct_checks_directly() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Region(circle=Circle(lat_deg=1, lon_deg=2, radius_km=3), polygon=((1, 2),) * 3)
    rule = Rule(to=("C0",))
    assert rule.precision_m == 0 and rule.keep == () and not rule.name_source


def test_region_check_uses_the_released_track_position() -> None:
    pol = policy(
        "partner: P1\nrules: [{to: [C0], region: {circle: {lat_deg: 0, lon_deg: 0, "
        "radius_km: 10}}}]"
    )
    p = geodetic2ecef(0.0, 0.05, 0.0)  # 5.6 km east of (0, 0)
    lat, lon, _ = ecef2geodetic(p)
    assert abs(float(lon) - 0.05) < 1e-9
    out = Releaser(pol).release(
        [track("in", lat=0.0, lon=0.05, alt=0.0), track("out", lat=0.0, lon=0.1, alt=0.0)], T0
    )
    assert ids(out["C0"]) == ["in"]


# ----------------------------------------------------------------------------- anonymise


def test_anonymise_strips_the_source_unless_allowed() -> None:
    b = TrackBatch(source="P1", t=T0, tracks=(track("P1-7"), track("P1-8")), dropped=("P1-3",))
    a = anonymise(b, key=KEY)
    assert a.source == "" and b"P1" not in msgspec.msgpack.encode(a)
    assert [tr.x for tr in a.tracks] == [tr.x for tr in b.tracks]
    again = anonymise(b, key=KEY)
    assert again == a  # stable ids
    assert anonymise(b, key=b"z" * 32).tracks[0].track_id != a.tracks[0].track_id
    other = anonymise(msgspec.structs.replace(b, source="P2"), key=KEY)
    assert other.tracks[0].track_id != a.tracks[0].track_id  # same id, other source
    assert a.dropped[0] == anonymise([track("P1-3")], key=KEY, source="P1")[0].track_id
    assert anonymise(b, key=KEY, named=True) == b
    stamped = anonymise(msgspec.structs.replace(b, source=""), key=KEY, named=True, source="P1")
    assert stamped.source == "P1"
    with pytest.raises(ValueError, match="16-64 secret bytes"):
        anonymise(b, key=b"short")
    with pytest.raises(ValueError, match="give source="):
        anonymise(list(b.tracks), key=KEY)


def test_the_documented_engagement_policy_and_its_errors(tmp_path: Path) -> None:
    """The engagement-policy example loads; its error lines are produced verbatim."""
    from mead.engage.policy import load_engagement_policy

    example, *_ = doc_blocks("yaml", "engagement")
    path = tmp_path / "P2-engage.yaml"
    path.write_text(example)
    pol = load_engagement_policy(path)
    assert pol.partner == "P2" and pol.hold_classes == ["drone"] and len(pol.hold_regions) == 1
    (block,) = doc_blocks("text", "engagement")
    cases = [
        "partner: P1\nhold_clases: [drone]\n",
        "partner: P1\nhold_classes: [jet]\n",
        "partner: P1\nhelp_areas: 3\n",
    ]
    for text, expected in zip(cases, block.strip().splitlines(), strict=True):
        path = tmp_path / "engage.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as e:
            load_engagement_policy(path)
        assert str(e.value).replace(str(tmp_path) + "/", "") == expected
