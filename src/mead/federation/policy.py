"""Releasability policy: what a partner's tracks may leave the node, to whom, and how precise.

A policy is YAML data (format and examples in ``docs/policy-format.md``) decoded into the
typed structs below. Semantics, in one paragraph: for each track and each recipient, the
rules are tried **in file order** and the **first rule that names the recipient (or
``*``) and admits the track** decides how it is released — its precision, delay and the
fields it keeps. A track that no such rule admits never reaches that recipient. A rule
admits a track when its class is listed, it is confirmed (unless ``confirmed_only:
false``), its quality is at least ``min_quality``, and it lies inside ``region`` if one is
given.

:class:`Releaser` applies a policy on each release. Onward, the coordinator redistributes
only its fused picture, built by :func:`picture_rows`: system track numbers, fused state
and a direction-free covariance bound, class and quality, naming a contributor only when
its policy allows (``name_source``). :func:`anonymise` strips a source's name from its own
tracks, for a node that forwards source tracks rather than a fused picture.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Annotated, Literal, overload

import msgspec
import numpy as np
from msgspec import Meta, Struct

from mead.errors import ConfigError, FieldError
from mead.geo import ecef2geodetic, great_circle_distance_m, point_in_polygon
from mead.linalg import max_eigenvalue_3x3
from mead.messages import (
    THREAT_CLASSES,
    SystemTrack,
    Track,
    TrackBatch,
    TrackClass,
    packed_rows,
    tracks_to_arrays,
)
from mead.scenario.loader import decode_yaml, load_yaml
from mead.scenario.schema import NonNeg, Prob, Shape
from mead.types import Array, Covs, Mask, States

Pseudonym = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Recipient = Annotated[str, Meta(pattern=r"^(\*|[A-Za-z0-9_-]{1,64})$")]
"""A recipient pseudonym, or ``*`` for every other node of the coalition."""
Keepable = Literal["sensor_ids", "sensor_sites"]
"""Track fields stripped by default that a rule may keep."""
DEFAULT_CLASSES: tuple[TrackClass, ...] = ("ballistic", "rocket", "cruise", "drone", "unknown")
"""What a rule releases when it names no classes: the threat classes and unknown."""
assert set(DEFAULT_CLASSES) == THREAT_CLASSES | {"unknown"}


class Region(Shape, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An area released tracks must be inside: a circle, or a polygon of (lat, lon) deg."""


class Rule(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One release rule: which tracks go to which recipients, and how degraded."""

    to: Annotated[tuple[Recipient, ...], Meta(min_length=1)]  # pseudonyms, or "*" alone
    classes: Annotated[tuple[TrackClass, ...], Meta(min_length=1)] = DEFAULT_CLASSES
    region: Region | None = None  # None: anywhere
    precision_m: NonNeg = 0.0  # position grid, m (0: full precision)
    velocity_precision_mps: NonNeg = 0.0  # velocity grid, m/s (0: full precision)
    delay_s: NonNeg = 0.0  # hold each release this long, s
    keep: tuple[Keepable, ...] = ()  # stripped fields to keep nevertheless
    name_source: bool = False  # recipient may name this partner onward
    confirmed_only: bool = True  # release confirmed tracks only
    min_quality: Prob = 0.0  # release tracks of at least this quality

    def __post_init__(self) -> None:
        for field, values in (("to", self.to), ("classes", self.classes), ("keep", self.keep)):
            dup = _first_duplicate(values)
            if dup is not None:
                raise ValueError(f"{field} lists {dup!r} twice")
        if "*" in self.to and len(self.to) > 1:
            raise ValueError(
                f"to: '*' already means every other node; list it alone (got {list(self.to)})"
            )


class Policy(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partner's releasability policy: rules tried in order (see the module docstring)."""

    partner: Pseudonym  # the releasing partner's own pseudonym
    rules: tuple[Rule, ...] = ()  # empty: release nothing

    def __post_init__(self) -> None:
        for i, rule in enumerate(self.rules):
            if self.partner in rule.to:
                raise FieldError(
                    f"rules[{i}].to",
                    f"rule {i + 1} sends to the policy's own partner {self.partner!r}",
                )

    @classmethod
    def nothing(cls, partner: str) -> Policy:
        """Release nothing (national-only runs)."""
        return cls(partner=partner, rules=())

    @classmethod
    def default(cls, partner: str, coordinator: str) -> Policy:
        """The policy of a partner that names none: confirmed threat and unknown tracks,
        full precision, no delay, sensors stripped, to the coordinator only."""
        return cls(partner=partner, rules=(Rule(to=(coordinator,)),))

    def named_recipients(self) -> set[str]:
        """Every pseudonym a rule names explicitly (``*`` excluded)."""
        return {r for rule in self.rules for r in rule.to if r != "*"}


def _first_duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; errors are ``ConfigError`` naming file and field."""
    return load_yaml(path, Policy)


def decode_policy(text: bytes | str, source: str = "<string>") -> Policy:
    """Decode policy YAML text; errors name ``source`` and the field path."""
    return decode_yaml(text, Policy, source=source)


def validate_recipients(
    policy: Policy, known: set[str], source: str, partner: str | None = None
) -> None:
    """Check every recipient (and the policy's partner) is a known node of the scenario.

    ``partner``, when given, is the partner the policy is attached to; it must match
    ``policy.partner``. Raises ``ConfigError`` naming ``source``, the rule and the field.
    """
    names = ", ".join(sorted(known))
    if partner is not None and policy.partner != partner:
        raise ConfigError(
            source,
            f"policy is for partner {policy.partner!r} but is attached to {partner!r}",
            "$.partner",
        )
    if policy.partner not in known:
        raise ConfigError(
            source,
            f"partner {policy.partner!r} is not a node of the scenario (known: {names})",
            "$.partner",
        )
    for i, rule in enumerate(policy.rules):
        for j, r in enumerate(rule.to):
            if r != "*" and r not in known:
                raise ConfigError(
                    source,
                    f"rule {i + 1} sends to unknown partner {r!r} (known: {names})",
                    f"$.rules[{i}].to[{j}]",
                )


# ----------------------------------------------------------------------------- kernels


def coarsen(
    x: States, P: Covs, precision_m: float, velocity_precision_mps: float
) -> tuple[States, Covs]:
    """Round positions (and velocities) to a grid and inflate the covariance to match.

    Each ECEF position component moves to the nearest multiple of q = ``precision_m``
    (error ≤ q/2 per axis), and the matching diagonal of P grows by q²/12, the variance
    of the uniform rounding error; likewise velocities with ``velocity_precision_mps``.
    Rounding is deterministic, so repeated releases of a still target add no information.

    Parameters
    ----------
    x : (N, 6) ECEF state, m and m/s.
    P : (N, 6, 6) covariance.
    precision_m, velocity_precision_mps : grid steps, m and m/s; 0 leaves a part untouched.
    """
    x, P = x.copy(), P.copy()
    for sl, q in ((slice(0, 3), precision_m), (slice(3, 6), velocity_precision_mps)):
        if q > 0.0:
            x[:, sl] = np.round(x[:, sl] / q) * q
            d = np.arange(6)[sl]
            P[:, d, d] += q * q / 12.0
    return x, P


def in_region(lat_deg: Array, lon_deg: Array, region: Region) -> Mask:
    """(N,) whether each geodetic point lies inside ``region`` (circle: great-circle range)."""
    if region.circle is not None:
        c = region.circle
        at = np.asarray([c.lat_deg, c.lon_deg], dtype=np.float64)
        d = great_circle_distance_m(lat_deg, lon_deg, at[0], at[1])
        return np.asarray(d <= c.radius_km * 1e3, dtype=np.bool_)
    poly = np.asarray(region.polygon, dtype=np.float64)
    return np.asarray(point_in_polygon(lat_deg, lon_deg, poly), dtype=np.bool_)


def admits(
    rule: Rule,
    cls: np.ndarray,
    confirmed: Mask,
    quality: Array,
    lat_deg: Array | None,
    lon_deg: Array | None,
) -> Mask:
    """(N,) which tracks ``rule`` admits; ``cls`` (N,) class names, lat/lon (N,) deg."""
    ok = np.isin(cls, rule.classes) & (quality >= rule.min_quality)
    if rule.confirmed_only:
        ok &= confirmed
    if rule.region is not None and ok.any():
        assert lat_deg is not None and lon_deg is not None
        ok &= in_region(lat_deg, lon_deg, rule.region)
    return ok


# ----------------------------------------------------------------------------- releaser

_Event = tuple[float, int, float, Track | str]  # (due s, order, stamp s, track | dropped id)


class Releaser:
    """Applies a partner's policy on each release; holds delayed releases until due.

    Parameters
    ----------
    policy
        The partner's policy.
    recipients
        Every other node of the coalition: what ``*`` in a rule stands for. Required
        when a rule sends to ``*``.

    Each :meth:`release` takes the partner's **whole current picture**. A recipient's
    batch carries the tracks due for it now (delayed ones keep their own time of
    validity) and, in ``dropped``, the ids it holds that the source deleted or that its
    rules no longer admit; a drop notice travels through the same delay as the updates
    before it, and a recipient never receives an older version of a track than it holds.
    A batch's ``source`` is the partner's pseudonym when every rule addressing that
    recipient has ``name_source: true``, else ``""`` (the coordinator then forwards it
    anonymised).
    """

    def __init__(self, policy: Policy, recipients: Iterable[str] | None = None) -> None:
        self.policy = policy
        others = None if recipients is None else sorted(set(recipients) - {policy.partner})
        self._to: list[tuple[str, ...]] = []
        for i, rule in enumerate(policy.rules):
            if "*" in rule.to and others is None:
                raise ValueError(
                    f"policy of {policy.partner!r}: rule {i + 1} sends to '*'; "
                    f"give the Releaser the coalition's node names (recipients=)"
                )
            self._to.append(tuple(others or ()) if "*" in rule.to else rule.to)
        self.recipients: tuple[str, ...] = tuple(sorted({r for to in self._to for r in to}))
        self._keeps = {
            r: set.intersection(
                *(set(rule.keep) for rule, to in zip(policy.rules, self._to, strict=True)
                  if r in to)
            )
            for r in self.recipients
        }  # fmt: skip
        self._named = {
            r: all(
                rule.name_source
                for rule, to in zip(policy.rules, self._to, strict=True)
                if r in to
            )
            for r in self.recipients
        }
        self._max_delay = max((r.delay_s for r in policy.rules), default=0.0)
        self._queue: dict[str, list[_Event]] = {r: [] for r in self.recipients}
        self._live: dict[str, dict[str, int]] = {r: {} for r in self.recipients}
        self._held: dict[str, dict[str, float]] = {r: {} for r in self.recipients}
        self._tomb: dict[str, dict[str, float]] = {r: {} for r in self.recipients}
        self._order = 0
        self.released: Counter[str] = Counter()  # recipient → track versions sent

    @property
    def pending(self) -> int:
        """Queued (delayed) track versions and drop notices across recipients."""
        return sum(len(q) for q in self._queue.values())

    def classes(self, recipient: str) -> tuple[str, ...]:
        """The track classes some rule may release to ``recipient`` (sorted)."""
        return tuple(sorted({
            c for rule, to in zip(self.policy.rules, self._to, strict=True) if recipient in to
            for c in rule.classes
        }))  # fmt: skip

    def keeps(self, recipient: str, field: str) -> bool:
        """Whether every rule addressing ``recipient`` keeps ``field`` (``"sensor_ids"``,
        ``"sensor_sites"``): what may be said of the partner's sensors to it."""
        return field in self._keeps.get(recipient, set())

    def release(
        self,
        tracks: Sequence[Track],
        t: float,
        dropped: Iterable[str] = (),
        arrays: tuple[States, Covs] | None = None,
    ) -> dict[str, TrackBatch]:
        """Recipient → the batch it may receive at release time ``t`` (UTC s).

        ``tracks`` is the partner's whole current picture; ``dropped`` (ids the source
        deleted) is optional, since an id absent from ``tracks`` is treated as deleted.
        ``arrays``: the tracks' states (N, 6) and covariances (N, 6, 6) when the caller
        has them (else they are read from ``tracks``). Recipients with nothing due get no
        batch.
        """
        if not self.recipients:
            return {}
        gone = set(dropped)
        keep = [i for i, tr in enumerate(tracks) if tr.track_id not in gone]
        if arrays is not None and len(keep) < len(tracks):
            arrays = arrays[0][keep], arrays[1][keep]
        picks = self._admit([tracks[i] for i in keep], arrays)
        out: dict[str, TrackBatch] = {}
        for r in self.recipients:
            self._enqueue(r, t, picks.get(r, []))
            batch = self._emit(r, t)
            if batch is not None:
                out[r] = batch
        return out

    def _admit(
        self, tracks: Sequence[Track], arrays: tuple[States, Covs] | None = None
    ) -> dict[str, list[tuple[int, Track]]]:
        """Recipient → (rule index, released form) of each track the first admitting rule picks."""
        if not tracks:
            return {}
        x, P = tracks_to_arrays(list(tracks))[:2] if arrays is None else arrays
        cls = np.array([tr.cls for tr in tracks])
        conf = np.array([tr.confirmed for tr in tracks], dtype=bool)
        qual = np.array([tr.quality for tr in tracks], dtype=np.float64)
        lat = lon = None
        if any(rule.region is not None for rule in self.policy.rules):
            lat, lon, _ = ecef2geodetic(x[:, :3])
        ok = [admits(rule, cls, conf, qual, lat, lon) for rule in self.policy.rules]
        chosen: dict[str, list[tuple[int, int]]] = {}  # recipient → (rule, track index)
        used = np.zeros((len(self.policy.rules), len(tracks)), dtype=bool)
        for r in self.recipients:
            left = np.ones(len(tracks), dtype=bool)
            for k, to in enumerate(self._to):
                if r in to:
                    pick = ok[k] & left
                    left &= ~pick
                    used[k] |= pick
                    chosen.setdefault(r, []).extend((k, int(i)) for i in np.flatnonzero(pick))
        forms = {
            (k, int(i)): tr
            for k in range(len(self.policy.rules))
            for i, tr in zip(
                np.flatnonzero(used[k]).tolist(),
                self._degrade(k, tracks, used[k], x, P),
                strict=True,
            )
        }
        return {r: [(k, forms[(k, i)]) for k, i in pairs] for r, pairs in chosen.items()}

    def _degrade(
        self, k: int, tracks: Sequence[Track], sel: Mask, x: States, P: Covs
    ) -> list[Track]:
        """The released form under rule ``k`` of the selected tracks."""
        rule = self.policy.rules[k]
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            return []
        xs, Ps = coarsen(x[idx], P[idx], rule.precision_m, rule.velocity_precision_mps)
        changed = rule.precision_m > 0 or rule.velocity_precision_mps > 0
        out = []
        xb, Pb = (packed_rows(xs), packed_rows(Ps)) if changed else ([], [])
        for j, i in enumerate(idx.tolist()):
            tr = tracks[i]
            fields: dict[str, object] = {}
            if changed:
                fields.update(x_f64=xb[j], P_f64=Pb[j])
            if "sensor_ids" not in rule.keep and tr.sensor_ids:
                fields["sensor_ids"] = ()
            if "sensor_sites" not in rule.keep and tr.sensor_sites:
                fields["sensor_sites"] = ()
            out.append(msgspec.structs.replace(tr, **fields) if fields else tr)
        return out

    def _enqueue(self, r: str, t: float, picks: list[tuple[int, Track]]) -> None:
        """Queue this release's versions for ``r`` and drop notices for what it lost."""
        live, queue, rules = self._live[r], self._queue[r], self.policy.rules
        now_ids = set()
        for k, tr in picks:
            self._order += 1
            heapq.heappush(queue, (t + rules[k].delay_s, self._order, t, tr))
            live[tr.track_id] = k
            now_ids.add(tr.track_id)
        for tid in [tid for tid in live if tid not in now_ids]:
            self._order += 1
            heapq.heappush(queue, (t + rules[live.pop(tid)].delay_s, self._order, t, tid))

    def _emit(self, r: str, t: float) -> TrackBatch | None:
        """Pop everything due for ``r`` by ``t`` into one batch (None when nothing)."""
        queue, held, tomb = self._queue[r], self._held[r], self._tomb[r]
        tracks: dict[str, Track] = {}
        drops: set[str] = set()
        while queue and queue[0][0] <= t:
            _, _, stamp, item = heapq.heappop(queue)
            if isinstance(item, Track):
                tid = item.track_id
                if stamp <= held.get(tid, -np.inf) or stamp <= tomb.get(tid, -np.inf):
                    continue  # never older than what r holds or dropped
                tracks[tid], held[tid] = item, stamp
                drops.discard(tid)
            else:  # a drop notice
                tomb[item] = max(stamp, tomb.get(item, -np.inf))
                if held.pop(item, None) is not None and tracks.pop(item, None) is None:
                    drops.add(item)  # r holds it from an earlier batch
        for tid in [tid for tid, s in tomb.items() if s < t - self._max_delay]:
            del tomb[tid]
        if not tracks and not drops:
            return None
        self.released[r] += len(tracks)
        return TrackBatch(
            source=self.policy.partner if self._named[r] else "",
            t=t,
            tracks=tuple(tracks.values()),
            dropped=tuple(sorted(drops)),
        )


# ----------------------------------------------------------------------------- picture


def isotropic_bound(P: Covs) -> tuple[Array, Array]:
    """Per-axis variances (v, w) of a covariance ≥ ``P`` whose errors point nowhere.

    P' = blockdiag(v I₃, w I₃) with v = 2 λ_p, w = 2 λ_v, the largest eigenvalues of the
    position and velocity blocks. It bounds P (P' − P is positive semi-definite): for
    P = [[A, C], [Cᵀ, B]] ⪰ 0 also [[A, −C], [−Cᵀ, B]] ⪰ 0, so P ⪯ 2 · blockdiag(A, B) ⪯ P'.
    A single radar's track is long across the line of sight and short along it, so its
    covariance's axes point at the radar; the bound keeps the size and drops the axes.

    Parameters
    ----------
    P : (N, 6, 6) ECEF covariance [m, m/s].

    Returns
    -------
    v : (N,) position variance per axis, m².
    w : (N,) velocity variance per axis, m²/s².
    """
    lam_p = max_eigenvalue_3x3(P[:, :3, :3])
    lam_v = max_eigenvalue_3x3(P[:, 3:, 3:])
    return 2.0 * np.maximum(lam_p, 0.0), 2.0 * np.maximum(lam_v, 0.0)


def picture_rows(
    stn: np.ndarray,
    x: States,
    P: Covs,
    cls: Sequence[str],
    quality: Array,
    sources: Sequence[Sequence[str]],
    named: AbstractSet[str],
) -> tuple[SystemTrack, ...]:
    """The coordinator's fused picture as it may leave the coordinator, one row per STN.

    A row keeps the STN, the fused state, the variances of :func:`isotropic_bound` of the
    fused covariance, the class and the quality rounded to 0.1. Of the contributors it
    lists only those in ``named`` (their policy allows naming); it never carries source
    track ids, sensor ids or sensor sites, nor how many sources contribute.

    Parameters
    ----------
    stn : (N,) system track numbers.
    x : (N, 6) fused ECEF states at the picture time [m, m/s].
    P : (N, 6, 6) fused covariances.
    cls : (N,) class names.
    quality : (N,) 0..1.
    sources : (N,) contributing pseudonyms per row (the coordinator's books).
    named : pseudonyms whose policy lets the coordinator name them.
    """
    v, w = isotropic_bound(P)
    q = np.round(np.clip(quality, 0.0, 1.0), 1)
    return tuple(
        SystemTrack(
            stn=n,
            x_f64=xi,
            pos_var_m2=vi,
            vel_var_m2s2=wi,
            cls=c,
            quality=qi,
            sources=tuple(sorted(named & set(srcs))) if named else (),
        )
        for n, xi, vi, wi, c, qi, srcs in zip(
            stn.tolist(),
            packed_rows(x),
            v.tolist(),
            w.tolist(),
            cls,
            q.tolist(),
            sources,
            strict=True,
        )
    )


# ----------------------------------------------------------------------------- anonymise


def anonymous_id(key: bytes, source: str, track_id: str) -> str:
    """A stable track id that cannot be linked to ``source`` without the coordinator's key."""
    h = hashlib.blake2b(f"{source}\x00{track_id}".encode(), key=key, digest_size=8)
    return "a" + h.hexdigest()


@overload
def anonymise(
    item: TrackBatch,
    *,
    key: bytes,
    named: bool = ...,
    source: str = ...,
) -> TrackBatch: ...
@overload
def anonymise(
    item: Sequence[Track],
    *,
    key: bytes,
    named: bool = ...,
    source: str = ...,
) -> list[Track]: ...
def anonymise(
    item: TrackBatch | Sequence[Track], *, key: bytes, named: bool = False, source: str = ""
) -> TrackBatch | list[Track]:
    """What a node may forward of a source's own tracks: unnamed unless ``named``.

    Unless ``named`` (the source's policy allowed it), the batch's ``source`` becomes
    ``""``, track ids (and ``dropped``) are replaced by :func:`anonymous_id` and sensor
    fields are stripped. ``key`` is the coordinator's secret (16–64 bytes); ``source``
    is needed for a plain list of tracks and defaults to ``item.source`` for a batch.
    """
    if not 16 <= len(key) <= 64:
        raise ValueError(f"anonymise key must be 16-64 secret bytes (got {len(key)})")
    if isinstance(item, TrackBatch):
        src = source or item.source
        if not src:
            raise ValueError("anonymise: the batch has no source; give source= (its sender)")
        if named:
            return item if item.source else msgspec.structs.replace(item, source=src)
        return msgspec.structs.replace(
            item,
            source="",
            tracks=tuple(anonymise(list(item.tracks), key=key, source=src)),
            dropped=tuple(anonymous_id(key, src, d) for d in item.dropped),
        )
    if named:
        return list(item)
    if not source:
        raise ValueError("anonymise: give source= for a list of tracks")
    return [
        msgspec.structs.replace(
            tr, track_id=anonymous_id(key, source, tr.track_id), sensor_ids=(), sensor_sites=()
        )
        for tr in item
    ]
