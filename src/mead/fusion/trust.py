"""Trust in partner data: which system tracks another partner should have seen and does not
(fuse stage, after the picture, before the warnings).

A partner that invents a track — a ghost missile aimed at someone's capital — can release
it as easily as a real one. What gives it away is the coverage of the others: a track
inside the declared coverage of another contributing partner's radars that this partner
does not hold is uncorroborated. The coordinator holds such a track back from warnings
for up to ``wait_s`` while the witness may still be confirming its own track, then judges
it *suspect*; it stays suspect until another partner holds it. A track believed for
``wait_s`` before it came into a witness's coverage (a missile flying in from where only
one partner looks) is not held back while the witness acquires it, only judged after
``wait_s``; one that comes into coverage sooner (a ghost launched below the others'
horizon, rising into view) is held back as if it had appeared there. A
track nobody else could have seen is believed as before, and so is a track two partners
have held once (for as long as its system track lives: a witness losing it for a while
does not make it a ghost).

"Holding" is judged apart from the fuser's association: partner ``s`` holds a system track
when one of its (bias-corrected) tracks lies within ``gate_m`` and ``vel_gate_mps`` of it,
so two reports of one object that the fuser kept apart still corroborate each other.

Coverage is what partners declare (:class:`DeclaredCoverage`): their radars' sites,
instrumented ranges, sectors and power, each judged by the simulator's own radar model
(:class:`mead.sensors.radar.Radar`) — within range, above the 4/3-earth horizon, within the
elevation limits and the sector: the geometry of the coverage maps (``mead.coverage``)
without terrain, so a point the terrain hides counts as covered. Given the object's radar
cross-section (that of its fused class), a radar covers a point only where it would detect
such an object with single-look probability ≥ ``WITNESS_PD``: a radar whose instrumented
range reaches a small rocket it cannot detect there is no witness against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from mead.errors import check
from mead.scenario.schema import Scenario
from mead.sensors.radar import Radar
from mead.sim.threats import AIRLINER, BALLISTIC, CRUISE, DRONE, ROCKET
from mead.types import Array, Index, Mask, States

WITNESS_PD = 0.5
"""A radar is a witness of a point for an object of a given RCS from this single-look
detection probability on (the coverage maps' threshold)."""


CLASS_RCS_M2 = {c.kind: c.rcs_m2 for c in (BALLISTIC, ROCKET, CRUISE, DRONE, AIRLINER)}
"""Mean RCS by track class (the simulator's class defaults), m²; a class not listed
(unknown) is taken as small as the smallest, so no radar is a witness it might not be."""


def class_rcs(classes: Sequence[str]) -> Array:
    """(N,) the mean RCS of each track class name, m² (``CLASS_RCS_M2``)."""
    small = min(CLASS_RCS_M2.values())
    return np.array([CLASS_RCS_M2.get(c, small) for c in classes], dtype=np.float64)


def held_by(
    x: States, xs: States, src: Index, n_src: int, gate_m: float, vel_gate_mps: float
) -> Mask:
    """(G, n_src) bool: source ``s`` has a track within ``gate_m`` in position and
    ``vel_gate_mps`` in velocity of system track ``g``.

    Parameters
    ----------
    x : (G, 6) ECEF system track states [m, m/s].
    xs : (C, 6) ECEF source track states at the same time [m, m/s].
    src : (C,) source index 0 … ``n_src`` − 1 of each row of ``xs``.
    """
    out = np.zeros((len(x), n_src), bool)
    if not len(x):
        return out
    for s in range(n_src):
        rows = np.flatnonzero(src == s)
        if not rows.size:
            continue
        d, j = cKDTree(xs[rows, :3]).query(x[:, :3], distance_upper_bound=gate_m)
        near = np.isfinite(d)
        jj = rows[j[near]]
        out[near, s] = np.linalg.norm(xs[jj, 3:] - x[near, 3:], axis=1) < vel_gate_mps
    return out


class DeclaredCoverage:
    """The declared radars of every partner; ``covers`` answers for many points at once.

    Parameters
    ----------
    radars : partner pseudonym → its radars, in the order of its scenario ``sensors``
        (the order of the radars in its ``Status``).
    """

    def __init__(self, radars: Mapping[str, Sequence[Radar]]) -> None:
        self.radars = {p: tuple(r) for p, r in radars.items()}

    @classmethod
    def of_scenario(cls, sc: Scenario) -> DeclaredCoverage:
        """Every partner's radars as the scenario declares them."""
        return cls({p.name: [Radar(s, p.name) for s in p.sensors] for p in sc.partners})

    def covers(
        self,
        x: States,
        partners: Sequence[str],
        reach: Mapping[str, Array] | None = None,
        rcs_m2: Array | None = None,
    ) -> Mask:
        """(N, P) bool: point ``n`` of ``x`` (N, ≥ 3) ECEF m lies in the coverage of a
        radar of ``partners[p]`` (a partner not declared covers nothing).

        ``reach``: partner → (R,) fraction of each radar's range it keeps now (1:
        operational, 0: down), as its ``Status`` says; default all 1. ``rcs_m2`` (N,): the
        objects' mean RCS, m²; given, a radar covers a point only where it detects such an
        object with single-look probability ≥ ``WITNESS_PD`` (radar equation, Swerling 1).
        """
        from mead.coverage.kernels import pd_at_range  # the coverage maps' own model

        out = np.zeros((len(x), len(partners)), bool)
        for k, p in enumerate(partners):
            radars = self.radars.get(p, ())
            keep = reach.get(p) if reach is not None else None
            for j, r in enumerate(radars):
                frac = 1.0 if keep is None or j >= len(keep) else float(keep[j])
                if frac <= 0.0:
                    continue
                rows, rae = r.visible(x)
                near = rae[:, 0] <= frac * r.range_m
                rows, rae = rows[near], rae[near]
                if rcs_m2 is not None and rows.size:
                    rows = rows[pd_at_range(r, rae[:, 0], rcs_m2[rows]) >= WITNESS_PD]
                out[rows, k] = True
        return out


@dataclass(frozen=True)
class Verdict:
    """One cycle's judgement of G system tracks."""

    withheld: Mask  # (G,) held back from warnings: new and waiting for a witness, or suspect
    suspect: list[tuple[int, tuple[str, ...], float]]  # newly suspect: (STN, witnesses, since)
    cleared: list[tuple[int, tuple[str, ...]]]  # suspect before, now held by: (STN, holders)


@dataclass
class Corroboration:
    """Holds back and judges uncorroborated system tracks (see the module docstring).

    ``wait_s``: how long a track in another contributing partner's coverage may go
    uncorroborated before it is judged suspect, s.
    """

    wait_s: float = 90.0
    _since: dict[int, float] = field(default_factory=dict)  # STN → first uncorroborated
    _suspect: set[int] = field(default_factory=set)  # STNs judged suspect
    _believed: set[int] = field(default_factory=set)  # STNs two sources have held
    _free: set[int] = field(default_factory=set)  # STNs believed for wait_s before
    _seen: dict[int, float] = field(default_factory=dict)  # STN → first judged

    def __post_init__(self) -> None:
        check(self.wait_s > 0, "wait_s", "> 0 s", self.wait_s)

    @property
    def suspect(self) -> set[int]:
        """STNs now judged suspect."""
        return set(self._suspect)

    def step(self, t: float, stn: Index, held: Mask, covers: Mask, names: list[str]) -> Verdict:
        """Judge system tracks ``stn`` (G,) at time ``t``.

        ``held`` (G, S): which sources hold each track (:func:`held_by`); ``covers`` (G, S):
        which sources' declared coverage contains it, among the contributing ones whose
        radars serve; ``names`` (S,): the sources' pseudonyms.
        """
        corroborated = held.sum(axis=1) >= 2
        self._believed.update(stn[corroborated].tolist())
        corroborated |= np.isin(stn, list(self._believed))
        witnessed = (covers & ~held).any(axis=1)
        alone = witnessed & ~corroborated
        stns = stn.tolist()
        seen = np.array([self._seen.setdefault(s, t) for s in stns], dtype=np.float64)
        self._free.update(stn[~alone & (t - seen >= self.wait_s)].tolist())
        since = {s: self._since.get(s, t) for s in np.asarray(stns)[alone].tolist()}
        self._since = since
        t0 = np.array([since.get(s, t) for s in stns], dtype=np.float64)
        late = alone & (t - t0 >= self.wait_s)
        waiting = alone & ~late & ~np.isin(stn, list(self._free))
        new, cleared = [], []
        for i in np.flatnonzero(late & ~np.isin(stn, list(self._suspect))).tolist():
            wit = tuple(n for n, w in zip(names, covers[i] & ~held[i], strict=True) if w)
            new.append((stns[i], wit, since[stns[i]]))
        live = set(stns)
        for i in np.flatnonzero(corroborated & np.isin(stn, list(self._suspect))).tolist():
            cleared.append((stns[i], tuple(n for n, h in zip(names, held[i], strict=True) if h)))
        self._suspect = ({s for s, _, _ in new} | self._suspect) & live
        self._suspect -= {s for s, _ in cleared}
        self._believed &= live
        self._free &= live
        self._seen = {s: v for s, v in self._seen.items() if s in live}
        withheld = waiting | np.isin(stn, list(self._suspect))
        return Verdict(withheld=withheld, suspect=new, cleared=cleared)


__all__ = ["Corroboration", "DeclaredCoverage", "Verdict", "class_rcs", "held_by"]
