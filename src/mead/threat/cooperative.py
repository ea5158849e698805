"""Cooperative identification: radar tracks correlated with ADS-B say "civil", or "suspect".

Sits in the assess stage, before classification and threat evaluation: a track that an
ADS-B identity has claimed consistently is civil traffic and need not be alerted; a track
whose ADS-B claim contradicts the radar is *suspect* and is judged on its kinematics alone,
exactly as a track without ADS-B.

The kernels are pure and batched (N tracks, M aircraft):

1. ``latest_per_icao`` keeps each aircraft's newest report of the last W seconds;
   ``extrapolate`` moves it to the assessment time t at its reported velocity and inflates
   its covariance for the age Δt: R = R_adsb + (σ_v Δt)² I + (½ a Δt²)² I, R_v = σ_v² I +
   (a Δt)² I, with a = ``MANOEUVRE_MPS2``.
2. ``position_d2`` and ``velocity_d2`` give the Mahalanobis distances (N, M):
   d²_p = (p − Hx)ᵀ (P_pp + R)⁻¹ (p − Hx), d²_v = (v − x_v)ᵀ (P_vv + R_v + σ_f² I)⁻¹ (v − x_v)
   with σ_f = ``VELOCITY_FLOOR_MPS`` for filter lag in turns.
3. ``associate`` solves the optimal assignment (``scipy.optimize.linear_sum_assignment``)
   on the cost d²_p + d²_v over pairs inside the position gate d²_p ≤ χ²₃(``GATE_PROB``).
4. ``impossible_for_aircraft`` flags tracks no aircraft can fly: speed − 2σ > 400 m/s or
   |climb rate| − 2σ > 100 m/s (σ from the track's velocity covariance, so a fresh track's
   noisy velocity does not trip it).

``CooperativeId`` keeps per-track identity history and applies the rules of ``step``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from mead import geo
from mead.sensors.adsb import AdsbReports
from mead.types import Array, Covs, Mask, Positions, States

CIVIL, SUSPECT, NONE = "civil", "suspect", ""
"""Identities: correlated with ADS-B; ADS-B contradicts the radar; no ADS-B."""

GATE_PROB = 0.9999
"""Probability that a true pair falls inside the position (and velocity) gate."""

MANOEUVRE_MPS2 = 3.0
"""Acceleration an airliner may have pulled since its last report (inflates old reports)."""

VELOCITY_FLOOR_MPS = 15.0
"""1-σ velocity slack added for a tracker lagging a manoeuvre, m/s."""

MAX_SPEED_MPS = 400.0
"""No civil aircraft in the picture flies faster (airliners cruise at ~250 m/s)."""

MAX_CLIMB_MPS = 100.0
"""No civil aircraft climbs or descends faster (airliners: ~10–25 m/s)."""


@dataclass(frozen=True)
class AdsbPicture:
    """M aircraft, one per ICAO address, at the assessment time (``extrapolate``)."""

    icao: np.ndarray  # (M,) uint32, ascending
    callsign: np.ndarray  # (M,) <U8
    pos: Positions  # (M, 3) ECEF m at t
    vel: Positions  # (M, 3) ECEF m/s
    R: Covs  # (M, 3, 3) position covariance at t, m²
    Rv: Covs  # (M, 3, 3) velocity covariance at t, m²/s²
    age_s: Array  # (M,) t − report time, s


@dataclass(frozen=True)
class Identification:
    """What ``CooperativeId.step`` says of N tracks, in the order given."""

    ident: np.ndarray  # (N,) <U7: CIVIL, SUSPECT or NONE
    icao: np.ndarray  # (N,) uint32 claimed ICAO address, 0 for NONE
    callsign: np.ndarray  # (N,) <U8 claimed callsign, "" for NONE
    distance: Array  # (N,) position Mahalanobis distance to the claim (nan: none)
    unclaimed_icao: np.ndarray  # (K,) uint32 fresh ADS-B aircraft no track matched

    @property
    def whitelisted(self) -> Mask:
        """(N,) tracks that threat evaluation may skip: civil, not suspect."""
        return self.ident == CIVIL


def latest_per_icao(reports: AdsbReports, t: float, window_s: float) -> AdsbReports:
    """Each aircraft's newest report with ``t − window_s < t_r ≤ t``, ordered by ICAO.

    ``reports`` are time-ordered (as ``AdsbReports`` are): the window is found by binary
    search, so a node can hand in every report of its run each cycle.
    """
    recent = reports.window(t - window_s, t)
    order = np.lexsort((recent.t, recent.icao))
    icao = recent.icao[order]
    last = np.flatnonzero(np.append(icao[1:] != icao[:-1], True)) if order.size else order
    return recent.take(order[last])


def extrapolate(latest: AdsbReports, t: float, accel_mps2: float = MANOEUVRE_MPS2) -> AdsbPicture:
    """Reports (M,) moved to time ``t`` at their velocity, covariance grown with age."""
    age = t - latest.t
    pos = latest.ecef + latest.vel * age[:, None]
    grow = (latest.sigma_vel_mps * age) ** 2 + (0.5 * accel_mps2 * age * age) ** 2
    eye = np.eye(3)
    R = latest.position_cov() + grow[:, None, None] * eye
    Rv = (latest.sigma_vel_mps**2 + (accel_mps2 * age) ** 2)[:, None, None] * eye
    return AdsbPicture(latest.icao, latest.callsign, pos, latest.vel.copy(), R, Rv, age)


def _d2(diff: Array, S: Covs) -> Array:
    """diffᵀ S⁻¹ diff over leading axes (…, 3), (…, 3, 3)."""
    return np.einsum("...i,...i->...", diff, np.linalg.solve(S, diff[..., None])[..., 0])


def position_d2(x: States, P: Covs, pos: Positions, R: Covs) -> Array:
    """Position Mahalanobis distances² (N, M) of tracks x (N, 6), P (N, 6, 6) to points
    pos (M, 3) with covariance R (M, 3, 3): S = P_pp + R."""
    diff = pos[None, :, :] - x[:, None, :3]
    return _d2(diff, P[:, None, :3, :3] + R[None])


def velocity_d2(x: States, P: Covs, vel: Positions, Rv: Covs) -> Array:
    """Velocity Mahalanobis distances² (N, M): S = P_vv + R_v + ``VELOCITY_FLOOR_MPS``² I."""
    diff = vel[None, :, :] - x[:, None, 3:]
    floor = VELOCITY_FLOOR_MPS**2 * np.eye(3)
    return _d2(diff, P[:, None, 3:, 3:] + Rv[None] + floor)


COARSE_M = 30_000.0
"""Pairs farther apart than this (and than 6 σ of both positions) are not compared."""


def _near_d2(x: States, P: Covs, pic: AdsbPicture) -> tuple[Array, Array]:
    """Position and velocity d² (N, M), computed only for pairs within reach (else ∞)."""
    n, m = x.shape[0], pic.pos.shape[0]
    d2p, d2v = np.full((n, m), np.inf), np.full((n, m), np.inf)
    if n == 0 or m == 0:
        return d2p, d2v
    sig = (
        np.sqrt(np.trace(P[:, :3, :3], axis1=1, axis2=2))[:, None]
        + np.sqrt(np.trace(pic.R, axis1=1, axis2=2))[None]
    )
    dist = np.linalg.norm(pic.pos[None] - x[:, None, :3], axis=2)
    r, c = np.nonzero(dist < np.maximum(COARSE_M, 6.0 * sig))
    if r.size:
        d2p[r, c] = _d2(pic.pos[c] - x[r, :3], P[r, :3, :3] + pic.R[c])
        floor = VELOCITY_FLOOR_MPS**2 * np.eye(3)
        d2v[r, c] = _d2(pic.vel[c] - x[r, 3:], P[r, 3:, 3:] + pic.Rv[c] + floor)
    return d2p, d2v


def associate(d2_pos: Array, d2_vel: Array, gate: float) -> np.ndarray:
    """Optimal one-to-one assignment of N tracks to M aircraft → (N,) aircraft index or −1.

    Cost d²_p + d²_v; pairs with d²_p > ``gate`` are never assigned.
    """
    n, m = d2_pos.shape
    match = np.full(n, -1, np.intp)
    if n == 0 or m == 0:
        return match
    ok = d2_pos <= gate
    big = 1e9
    cost = np.where(ok, d2_pos + np.minimum(d2_vel, big / 4), big)
    rows, cols = linear_sum_assignment(cost)
    keep = ok[rows, cols]
    match[rows[keep]] = cols[keep]
    return match


def impossible_for_aircraft(
    x: States,
    P: Covs,
    max_speed_mps: float = MAX_SPEED_MPS,
    max_climb_mps: float = MAX_CLIMB_MPS,
    n_sigma: float = 2.0,
) -> Mask:
    """Tracks (N,) whose speed or |climb rate| exceeds an aircraft's by ``n_sigma`` σ or more.

    Climb is the velocity along the geodetic up at the track's position; σ of a rate along
    unit u is √(uᵀ P_vv u).
    """
    v, Pv = x[:, 3:], P[:, 3:, 3:]
    speed = np.linalg.norm(v, axis=1)
    u = v / np.maximum(speed, 1e-9)[:, None]
    lat, lon, _ = geo.ecef2geodetic(x[:, :3])
    up = geo.enu_rotations(lat, lon).reshape(-1, 3, 3)[:, 2]
    climb = np.einsum("ni,ni->n", up, v)

    def sd(w: Array) -> Array:
        return np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", w, Pv, w), 0.0))

    fast = speed - n_sigma * sd(u) > max_speed_mps
    steep = np.abs(climb) - n_sigma * sd(up) > max_climb_mps
    return np.asarray(fast | steep)


def check_tracks(ids: Sequence[str], x: States, P: Covs) -> tuple[States, Covs]:
    """Validated float arrays of ``x`` (N, 6) and ``P`` (N, 6, 6); errors name the argument."""
    x = np.asarray(x, np.float64)
    P = np.asarray(P, np.float64)
    if x.ndim != 2 or x.shape[1] != 6:
        raise ValueError(f"x must be (N, 6) ECEF states [m, m/s] (got shape {x.shape})")
    n = x.shape[0]
    if P.shape != (n, 6, 6):
        raise ValueError(f"P must be (N, 6, 6) = ({n}, 6, 6) covariances (got shape {P.shape})")
    if len(ids) != n:
        raise ValueError(f"ids must have one track id per row of x ({n}) (got {len(ids)})")
    if not (np.isfinite(x).all() and np.isfinite(P).all()):
        raise ValueError("x and P must be finite (got nan or inf)")
    return x, P


@dataclass
class CooperativeId:
    """Per-track cooperative identity with hysteresis, fed each assessment cycle.

    Rules of ``step`` for track i at time t (d²_p, d²_v from the kernels above; the gate
    G = χ²₃(``GATE_PROB``) for both):

    - **civil**: the track's identity ICAO k is *confirmed* — it was the track's assigned,
      consistent aircraft (d²_p ≤ G, d²_v ≤ G, kinematics possible) in ``confirm_hits``
      successive correlations — and its last correlation is at most ``hold_s`` old.
      Tentative (fewer hits) says NONE. A correlation with another ICAO restarts the count;
      ``hold_s`` without one forgets the identity.
    - **suspect** (possible spoofing), when either
      (a) *identity history*: the track holds a confirmed ICAO k, k has a fresh report (age
      ≤ ``window_s``) and that report, extrapolated to t, is outside the position gate of
      the track, d²_p > G (the aircraft the radar has been following says it is elsewhere —
      or something else now broadcasts k); or
      (b) *impossible claim*: an ADS-B report is assigned to the track (d²_p ≤ G) but the
      track's kinematics are impossible for an aircraft (``impossible_for_aircraft``:
      speed > 400 m/s or |climb| > 100 m/s by 2σ) — a real transponder on a missile.
      A suspect track stays suspect for ``suspect_hold_s`` after the last time a rule
      fired, and is never whitelisted: it is judged on kinematics alone.
    - **NONE** otherwise, including an assigned report whose velocity disagrees (d²_v > G).
    """

    window_s: float = 30.0  # ADS-B reports older than this are ignored, s
    hold_s: float = 30.0  # a civil identity survives this long without correlation, s
    confirm_hits: int = 2  # successive consistent correlations that confirm civil
    suspect_hold_s: float = 120.0  # a suspect track stays suspect this long, s
    gate_prob: float = GATE_PROB  # χ²₃ gate probability (position and velocity)
    max_speed_mps: float = MAX_SPEED_MPS  # faster is no aircraft, m/s
    max_climb_mps: float = MAX_CLIMB_MPS  # steeper is no aircraft, m/s
    _icao: dict[str, int] = field(default_factory=dict, repr=False)
    _hits: dict[str, int] = field(default_factory=dict, repr=False)
    _last_t: dict[str, float] = field(default_factory=dict, repr=False)
    _suspect_until: dict[str, float] = field(default_factory=dict, repr=False)
    _callsign: dict[str, str] = field(default_factory=dict, repr=False)

    @cached_property
    def gate(self) -> float:
        """χ²₃ gate on d²_p and d²_v."""
        return float(chi2.ppf(self.gate_prob, 3))

    def step(
        self, t: float, ids: Sequence[str], x: States, P: Covs, reports: AdsbReports
    ) -> Identification:
        """Identify N tracks ``ids`` with states x (N, 6), P (N, 6, 6) (ECEF, at time t)
        against the ADS-B ``reports`` this node received (any span; the last ``window_s``
        before t are used). Updates the identity history; see the class doc for the rules.
        """
        x, P = check_tracks(ids, x, P)
        if not isinstance(reports, AdsbReports):
            raise TypeError(f"reports must be AdsbReports (got {type(reports).__name__})")
        pic = extrapolate(latest_per_icao(reports, t, self.window_s), t)
        d2p, d2v = _near_d2(x, P, pic)
        g = self.gate
        match = associate(d2p, d2v, g)
        n, m = len(ids), pic.icao.size
        rows = np.arange(n)
        bad_kin = impossible_for_aircraft(x, P, self.max_speed_mps, self.max_climb_mps)
        hist = np.array([self._icao.get(i, 0) for i in ids], np.uint32)
        conf = np.array([self._hits.get(i, 0) >= self.confirm_hits for i in ids], bool)
        # pad the picture with one "no report" column so every index below is valid
        d2p = np.column_stack([d2p, np.zeros(n)])
        d2v = np.column_stack([d2v, np.full(n, np.inf)])
        icao = np.append(pic.icao, np.uint32(0))
        callsign = np.append(pic.callsign, "").astype("<U8")
        jm = np.where(match >= 0, match, m)  # assigned report, or the pad
        jh = np.searchsorted(pic.icao, hist)
        jh = np.where((jh < m) & (icao[np.minimum(jh, m)] == hist), jh, m)  # history's report
        spoof = conf & (jh < m) & (d2p[rows, jh] > g)
        claim_bad = (jm < m) & bad_kin
        good = (jm < m) & (d2v[rows, jm] <= g) & ~bad_kin & ~spoof
        self._update(t, ids, good, icao[jm], callsign[jm], spoof | claim_bad)

        suspect = spoof | claim_bad | np.array([i in self._suspect_until for i in ids], bool)
        civil = ~suspect & np.array([self._hits.get(i, 0) >= self.confirm_hits for i in ids], bool)
        use = np.where(spoof, jh, jm)  # the report behind the claim
        out_icao = np.where(suspect, icao[use], 0).astype(np.uint32)
        out_cs = np.where(suspect, callsign[use], "").astype("<U8")
        if civil.any():
            c = np.flatnonzero(civil).tolist()
            out_icao[c] = [self._icao[ids[i]] for i in c]
            out_cs[c] = [self._callsign[ids[i]] for i in c]
        dist = np.where(use < m, np.sqrt(d2p[rows, use]), np.nan)
        claimed = np.zeros(m + 1, bool)
        claimed[jm] = True
        ident = np.where(suspect, SUSPECT, np.where(civil, CIVIL, NONE)).astype("<U7")
        return Identification(ident, out_icao, out_cs, dist, pic.icao[~claimed[:m]])

    def _update(
        self,
        t: float,
        ids: Sequence[str],
        good: Mask,
        icao: np.ndarray,
        callsign: np.ndarray,
        fired: Mask,
    ) -> None:
        """History bookkeeping (plumbing over N tracks): hits, last time, expiry, latches."""
        for i, tid in enumerate(ids):
            if fired[i]:
                self._suspect_until[tid] = t + self.suspect_hold_s
            elif self._suspect_until.get(tid, np.inf) < t:
                del self._suspect_until[tid]
            if good[i]:
                k = int(icao[i])
                same = self._icao.get(tid) == k
                self._hits[tid] = self._hits.get(tid, 0) + 1 if same else 1
                self._icao[tid], self._last_t[tid] = k, t
                self._callsign[tid] = str(callsign[i])
            elif tid in self._last_t and t - self._last_t[tid] > self.hold_s:
                self._drop(tid)

    def forget(self, ids: Sequence[str]) -> None:
        """Drop all history of tracks ``ids`` (deleted or renumbered tracks)."""
        for tid in ids:
            self._drop(tid)
            self._suspect_until.pop(tid, None)

    def _drop(self, tid: str) -> None:
        self._icao.pop(tid, None)
        self._hits.pop(tid, None)
        self._last_t.pop(tid, None)
        self._callsign.pop(tid, None)


@dataclass(frozen=True)
class Disagreement:
    """An interval in which an aircraft's ADS-B position disagreed with the radar track
    correlated to its address (``CooperativeId``'s *suspect* by identity history)."""

    icao: int  # 24-bit address
    callsign: str
    t0: float  # first radar cycle that disagreed, the reports' time base, s
    t1: float  # last one
    max_sigma: float  # largest position distance to the track, in σ (Mahalanobis)


def radar_disagreements(
    reports: AdsbReports,
    pictures: Iterable[tuple[float, Sequence[str], States, Covs]],
    coop: CooperativeId | None = None,
    gap_s: float = 60.0,
) -> list[Disagreement]:
    """Screen ADS-B ``reports`` against radar tracks with the cooperative identification
    the warnings use.

    ``CooperativeId.step`` runs on each radar picture ``(t, ids, x (N, 6), P (N, 6, 6))``
    in time order and binds a track to the address it identifies it as (civil). From then
    on, each cycle in which that address has a fresh report (age ≤ ``window_s``) whose
    position, extrapolated to t, lies outside the track's position gate (``position_d2`` >
    G, the test of rule (a)) counts against the address — for as long as the track lives,
    not only until the identification forgets it. Cycles of one address less than
    ``gap_s`` apart merge into one interval.
    """
    coop = CooperativeId() if coop is None else coop
    bound: dict[str, int] = {}  # track → address it was identified as
    open_: dict[int, list[float | str]] = {}  # icao → [t0, t1, max σ, callsign]
    out: list[Disagreement] = []
    for t, ids, x, P in pictures:
        res = coop.step(t, ids, x, P, reports)
        bound = {tid: bound[tid] for tid in ids if tid in bound}  # tracks that still live
        bound |= {tid: int(res.icao[i]) for i, tid in enumerate(ids) if res.ident[i] == CIVIL}
        pic = extrapolate(latest_per_icao(reports, t, coop.window_s), t)
        rows = [(i, int(np.searchsorted(pic.icao, bound[tid]))) for i, tid in enumerate(ids)
                if tid in bound]  # fmt: skip
        rows = [(i, j) for i, j in rows if j < pic.icao.size and pic.icao[j] == bound[ids[i]]]
        if not rows:
            continue
        ti, ji = np.array(rows).T
        d2 = _d2(pic.pos[ji] - x[ti, :3], P[ti, :3, :3] + pic.R[ji])
        for j, d in zip(ji.tolist(), np.sqrt(d2).tolist(), strict=True):
            if d * d <= coop.gate:
                continue
            k = int(pic.icao[j])
            cur = open_.get(k)
            if cur is not None and t - float(cur[1]) <= gap_s:
                cur[1], cur[2] = t, max(float(cur[2]), d)
                continue
            if cur is not None:
                out.append(_disagreement(k, cur))
            open_[k] = [t, t, d, str(pic.callsign[j])]
    out += [_disagreement(k, v) for k, v in open_.items()]
    return sorted(out, key=lambda g: (g.t0, g.icao))


def _disagreement(icao: int, v: list[float | str]) -> Disagreement:
    return Disagreement(icao, str(v[3]), float(v[0]), float(v[1]), float(v[2]))
