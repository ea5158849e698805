"""Kinematic classification of tracks (ballistic, rocket, cruise, drone, aircraft, unknown).

Two layers:

* :func:`classify_kinematics` is a pure kernel: one *evidence* code per track from its
  current speed, geodetic altitude and vertical speed, with a σ-margin taken from the
  covariance so that a noisy estimate only counts when it is clearly inside a band.
* :class:`Classifier` counts, per track id, how many updates gave each kind of evidence and
  declares a class only after enough of them, with hysteresis: a class only moves *up* the
  threat ranking (unknown < aircraft < drone < cruise < rocket < ballistic), so a declared
  threat never flips back to aircraft or unknown, and an early-boost missile that looked
  like a rocket is upgraded to ballistic.

Given times, the :class:`Classifier` also keeps each track's recent positions and forms
*chord* velocities over 15–120 s (``mead.threat.chord``): far steadier than a radar
track's own velocity for slow targets at long range, they feed the slow-class bands, and
:meth:`Classifier.step` offers them (level-flight chord for cruise/drone, free-flight
chord for ballistic/rocket) to the impact prediction, with a *powered* flag for
ballistic/rocket tracks still under thrust.

Evidence rules (v = 3-D speed, g = ground speed, h = geodetic altitude, w = |vertical
speed|; v⁻ = v − kσ_v, g⁻ = g − kσ_g, g⁺ = g + kσ_g with k = ``Rules.k_sigma`` (2),
w⁻ = w − σ_w; first match wins). Slow classes use the ground speed because the vertical
velocity of a radar track is much noisier than the horizontal one.

============  ===================================================================
evidence      rule (defaults of :class:`Rules`)
============  ===================================================================
ballistic     v⁻ > 1,200 m/s, or h > 25 km and v⁻ > 800 m/s
rocket        v⁻ > 450 m/s (supersonic), or h > 20 km (above any civil aircraft) and
              v⁻ > 300 m/s (faster than any airliner); either, below 8 km, only when
              climbing or diving at ≥ 10° (no level flight that fast in dense air)
cruise        170 ≤ g⁻, g⁺ ≤ 330 m/s, h < 1.5 km, not clearly climbing (w⁻ < 15 m/s)
drone         25 ≤ g⁻, g⁺ ≤ 75 m/s, h < 4 km, and, if g⁺ > 60 m/s, not clearly
              climbing or descending (w⁻ ≤ 3 m/s)
aircraft      70 ≤ g⁻, g⁺ ≤ 320 m/s at h ≥ 3 km; or below 3 km 80 ≤ g⁻, g⁺ ≤ 170 m/s,
              or 60 ≤ g⁻, g⁺ ≤ 180 m/s and clearly climbing/descending (w⁻ > 3 m/s)
unknown       anything else (ambiguous, or too noisy for any band)
============  ===================================================================

With times, ballistic/rocket evidence is void while the track's chord (mean velocity
from its own positions) is clearly subsonic (|v| + 2σ < 300 m/s).

Declaration rules of :class:`Classifier` (n_X = evidence updates of kind X over the
track's life; "mature" = at least ``min_age_s`` old, checked only when times are given):

============  ===================================================================
class         declared when
============  ===================================================================
ballistic     n_ballistic ≥ ``fast_updates`` (2); from aircraft, drone or cruise only
              with n_ballistic + n_rocket ≥ ``slow_updates`` (a diverging filter or a
              track swap is not a missile)
rocket        n_ballistic + n_rocket ≥ ``fast_updates`` (same proviso)
cruise        mature, n_cruise ≥ ``slow_updates`` (10), n_cruise > ``dominance`` (2)
              × n_aircraft, and n_cruise ≥ n_drone
drone         mature, n_drone ≥ ``slow_updates``, n_drone > ``dominance`` × n_aircraft,
              and n_drone > n_cruise
aircraft      mature, n_aircraft ≥ ``civil_updates`` (3)
unknown       none of the above yet
============  ===================================================================

Civil airliners (80 → 230 m/s climbing to ~10.7 km, 230 m/s cruise, descending at
~8 m/s to land at ~75 m/s, ≤ ~130 m/s below 3 km by the 250 kt rule) never meet the
cruise band below 1.5 km, and meet the drone band only in the last minute or two of an
approach, by which time a track that followed the descent holds far more aircraft than
drone evidence; and the chord over its last minutes averages the higher approach speeds.
The residual risk is a track *started* in those last minutes whose speed estimate stays
biased low by ≳ 2σ for its whole life; the 2σ margin, the chord and the persistence
requirement make that rare, but it is a limit of kinematics alone. Likewise cruise
missiles flown above 3 km at airliner speeds are classed aircraft.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mead.errors import ThreatInputError, check
from mead.messages import THREAT_ORDER, TRACK_CLASSES, TrackClass
from mead.threat.chord import Chord, History
from mead.threat.impact import DEFAULT_BETA_KG_M2
from mead.threat.local import Local, check_tracks, local
from mead.types import Array, Covs, States

BALLISTIC, ROCKET, CRUISE, DRONE, AIRCRAFT, UNKNOWN = range(6)
"""Integer codes: indices into :data:`mead.messages.TRACK_CLASSES`."""
assert TRACK_CLASSES == ("ballistic", "rocket", "cruise", "drone", "aircraft", "unknown")


def among(codes: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """(N,) bool: which ``codes`` equal one of ``values`` — ``np.isin`` for a few class
    codes, without its set machinery (a sizeable share of an assessment cycle's overhead)."""
    out = np.asarray(codes == values[0])
    for v in values[1:]:
        out |= codes == v
    return out


RANK = np.array([THREAT_ORDER.index(c) for c in TRACK_CLASSES], dtype=np.int8)
"""Rank per code in :data:`mead.messages.THREAT_ORDER`; a declared class only moves up it
(``unknown`` is *not yet declared* here: any declaration replaces it, none returns to it)."""

MAX_SPEED_MPS = 10_000.0
"""No chord velocity faster than this is believed (nothing tracked here flies faster)."""


@dataclass(frozen=True)
class Rules:
    """Thresholds of the evidence kernel (SI units); see the module table."""

    k_sigma: float = 2.0  # σ-margin on speed estimates
    k_sigma_climb: float = 1.0  # σ-margin on the vertical speed ("clearly climbing")
    ballistic_speed_mps: float = 1200.0  # faster than this: ballistic
    ballistic_high_alt_m: float = 25_000.0  # above this altitude …
    ballistic_high_speed_mps: float = 800.0  # … and faster than this: ballistic
    rocket_speed_mps: float = 450.0  # supersonic: at least a rocket
    rocket_alt_m: float = 20_000.0  # above any civil aircraft …
    rocket_high_speed_mps: float = 300.0  # … and faster than any: at least a rocket
    fast_level_max_alt_m: float = 8_000.0  # below this, ballistic or rocket only when …
    fast_min_path_angle_deg: float = 10.0  # … climbing or diving at least this steeply
    cruise_speed_mps: tuple[float, float] = (170.0, 330.0)  # cruise missile speed band
    cruise_max_alt_m: float = 1_500.0  # cruise missiles fly low
    cruise_max_climb_mps: float = 15.0  # w⁻ above this: not a cruise missile
    drone_speed_mps: tuple[float, float] = (25.0, 75.0)  # one-way attack drone speed band
    drone_max_alt_m: float = 4_000.0
    drone_level_above_mps: float = 60.0  # above this v⁺ a drone must not clearly climb
    aircraft_high_speed_mps: tuple[float, float] = (70.0, 320.0)  # at or above aircraft_alt_m
    aircraft_alt_m: float = 3_000.0
    aircraft_low_speed_mps: tuple[float, float] = (80.0, 170.0)  # below aircraft_alt_m, any w
    aircraft_climb_speed_mps: tuple[float, float] = (60.0, 180.0)  # below, climbing/descending
    aircraft_min_climb_mps: float = 3.0  # w⁻ above this: climbing or descending


def _band(lo: np.ndarray, hi: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return (lo >= band[0]) & (hi <= band[1])


def evidence(loc: Local, rules: Rules = Rules(), slow: Local | None = None) -> np.ndarray:
    """Evidence codes (N,) int8 from tracks in their local frame (see module table).

    ``slow`` (default ``loc``) supplies the ground and vertical speed of the slow-class
    bands, e.g. a long-baseline velocity; ``loc`` supplies altitude and the 3-D speed.
    """
    r, k = rules, rules.k_sigma
    h = loc.alt_m
    fast = loc.speed_mps - k * loc.speed_sigma_mps()  # 3-D speed, less k σ
    sl = loc if slow is None else slow
    vg, sg = sl.ground_speed_mps, sl.ground_speed_sigma_mps()
    w, sw = np.abs(sl.v_enu[:, 2]), np.sqrt(np.maximum(sl.Pv_enu[:, 2, 2], 0.0))
    vlo, vhi, wlo = vg - k * sg, vg + k * sg, w - r.k_sigma_climb * sw

    ballistic = (fast > r.ballistic_speed_mps) | (
        (h > r.ballistic_high_alt_m) & (fast > r.ballistic_high_speed_mps)
    )
    rocket = (fast > r.rocket_speed_mps) | (
        (h > r.rocket_alt_m) & (fast > r.rocket_high_speed_mps)
    )
    flies = loc.steep_or_above(r.fast_level_max_alt_m, r.fast_min_path_angle_deg)
    ballistic, rocket = ballistic & flies, rocket & flies
    cruise = (
        _band(vlo, vhi, r.cruise_speed_mps)
        & (h < r.cruise_max_alt_m)
        & (wlo < r.cruise_max_climb_mps)
    )
    drone = (
        _band(vlo, vhi, r.drone_speed_mps)
        & (h < r.drone_max_alt_m)
        & ((vhi <= r.drone_level_above_mps) | (wlo <= r.aircraft_min_climb_mps))
    )
    low = h < r.aircraft_alt_m
    aircraft = (~low & _band(vlo, vhi, r.aircraft_high_speed_mps)) | (
        low
        & (
            _band(vlo, vhi, r.aircraft_low_speed_mps)
            | (_band(vlo, vhi, r.aircraft_climb_speed_mps) & (wlo > r.aircraft_min_climb_mps))
        )
    )
    return np.select(
        [ballistic, rocket, cruise, drone, aircraft],
        [BALLISTIC, ROCKET, CRUISE, DRONE, AIRCRAFT],
        default=UNKNOWN,
    ).astype(np.int8)


def classify_kinematics(x: States, P: Covs | None = None, rules: Rules = Rules()) -> np.ndarray:
    """Instantaneous kinematic evidence for N tracks.

    Parameters
    ----------
    x : (N, 6) ECEF states [m, m/s].
    P : (N, 6, 6) covariances; if given, speed bands need a ``rules.k_sigma``·σ margin.
    rules : thresholds.

    Returns
    -------
    (N,) int8 codes, indices into :data:`mead.messages.TRACK_CLASSES`.
    """
    x = np.asarray(x, dtype=np.float64)
    check_tracks(x, P)
    if x.shape[0] == 0:
        return np.empty(0, dtype=np.int8)
    return evidence(local(x, P), rules)


@dataclass(frozen=True)
class Classification:
    """What :meth:`Classifier.step` returns for N tracks.

    ``x``/``P`` are the states for impact prediction: for rows declared ballistic or rocket
    the velocity is the free-flight chord's, for all others the plain chord's, where the
    chord was valid, consistent with the track's own velocity and of smaller variance
    (position-velocity cross-covariance then 0); other rows are the input unchanged.
    """

    classes: list[TrackClass]  # (N,) declared classes
    x: States  # (N, 6) ECEF states for impact prediction
    P: Covs  # (N, 6, 6)
    powered: np.ndarray  # (N,) bool: ballistic/rocket tracks still climbing under thrust


class Classifier:
    """Per-track evidence accumulator with hysteresis; the same at a partner or coordinator.

    Parameters
    ----------
    rules : thresholds of the evidence kernel.
    fast_updates : ballistic / rocket evidence updates needed to declare those.
    slow_updates : cruise / drone evidence updates needed to declare those.
    civil_updates : aircraft evidence updates needed to declare aircraft.
    dominance : cruise / drone evidence must exceed this multiple of the aircraft evidence.
    min_age_s : when ``classify`` is given times, a track younger than this is not declared
        cruise, drone or aircraft, s.
    spacing_s, slots : anchors of the chord velocities: one every ``spacing_s`` (also the
        shortest chord), ``slots`` of them (see ``mead.threat.chord``).
    gate : χ² (3 dof) above which two velocities disagree (a long and a short chord, or a
        chord and the track's own velocity): thrust or a turn.
    free_chord_s : longest chord for ballistic/rocket tracks, s: their history may hold the
        boost, which a short chord forgets sooner.
    k_thrust : one-sided σ-test of a speed gain between the long and the short chord.
    beta_kg_m2 : drag assumed in the free-flight chord of ballistic/rocket tracks, kg/m².

    Pass ``t`` (any consistent time base, s) to ``classify``. Then the slow-class bands also
    use each track's chord velocity over its recent history where its ground-speed σ is
    smaller than the track's own; without ``t``, tracks are judged on their instantaneous
    velocity alone, which for slow targets at long range is often too uncertain for any
    class. :meth:`step` also offers the chord velocities to the impact prediction.
    """

    def __init__(
        self,
        rules: Rules = Rules(),
        *,
        fast_updates: int = 2,
        slow_updates: int = 10,
        civil_updates: int = 3,
        dominance: float = 2.0,
        min_age_s: float = 30.0,
        spacing_s: float = 15.0,
        slots: int = 8,
        free_chord_s: float = 60.0,
        k_thrust: float = 2.0,
        gate: float = 16.27,
        beta_kg_m2: float | None = DEFAULT_BETA_KG_M2,
    ) -> None:
        check(fast_updates >= 1, "fast_updates", ">= 1", fast_updates)
        check(slow_updates >= 1, "slow_updates", ">= 1", slow_updates)
        check(civil_updates >= 1, "civil_updates", ">= 1", civil_updates)
        check(dominance >= 0, "dominance", ">= 0", dominance)
        self.rules = rules
        self.fast_updates = fast_updates  # evidence updates before rocket/ballistic
        self.slow_updates = slow_updates  # evidence updates before cruise/drone
        self.civil_updates = civil_updates  # evidence updates before aircraft
        self.dominance = dominance  # cruise/drone evidence must exceed this × aircraft's
        self.min_age_s = min_age_s  # s before cruise/drone/aircraft; only when t is given
        self.gate = gate  # χ² (3 dof) of two velocities that agree
        self.free_chord_s = free_chord_s  # s
        self.k_thrust = k_thrust  # σ
        self.inv_beta = None if beta_kg_m2 is None else 1.0 / beta_kg_m2  # m²/kg
        self._hist = History(spacing_s, slots)
        self._row: dict[str, int] = {}
        self._free: list[int] = []
        self._counts = np.zeros((0, 6), dtype=np.int64)  # evidence updates per code
        self._t0 = np.zeros(0)  # first time seen, s (nan if never given)
        self._cls = np.zeros(0, dtype=np.int8)  # declared code
        self._v = np.zeros((0, 3))  # last class-appropriate chord velocity, ECEF m/s
        self._Pv = np.zeros((0, 3, 3))  # its covariance
        self._better = np.zeros(0, dtype=bool)  # chord valid, consistent and tighter
        self._powered = np.zeros(0, dtype=bool)  # ballistic/rocket climbing under thrust
        self._judged = np.zeros(0, dtype=bool)  # powered was judged from two chords

    def __len__(self) -> int:
        return len(self._row)

    def classify(
        self, ids: Sequence[str], x: States, P: Covs | None = None, t: float | None = None
    ) -> list[TrackClass]:
        """Add one update per track and return the declared classes, as names (N,)."""
        codes = self.classify_codes(ids, x, P, t)
        return [TRACK_CLASSES[c] for c in codes.tolist()]

    def classify_codes(
        self, ids: Sequence[str], x: States, P: Covs | None = None, t: float | None = None
    ) -> np.ndarray:
        """Add one update per track (ids unique) and return declared codes (N,) int8."""
        x = np.asarray(x, dtype=np.float64)
        check_tracks(x, P, len(ids))
        if len(set(ids)) != len(ids):
            raise ThreatInputError("ids must be unique within one classify call")
        if x.shape[0] == 0:
            return np.empty(0, dtype=np.int8)
        rows = self._rows(ids, t)
        loc = local(x, P)
        if t is None:
            self._better[rows] = self._powered[rows] = False  # no history without times
            ev = evidence(loc, self.rules)
        else:
            ch, compared, thrust = self._chords(rows, t, x, P)
            ok_plain = ch.valid & self._consistent(loc, ch.plain, ch.Pv)
            chord = loc.with_velocity(ch.plain, ch.Pv, ok_plain)
            tighter = chord.ground_speed_sigma_mps() < loc.ground_speed_sigma_mps()
            ev = evidence(loc, self.rules, loc.with_velocity(ch.plain, ch.Pv, ok_plain & tighter))
            # positions do not lie: a track whose chord is clearly subsonic is not fast
            slow_chord = ch.valid & (_speed_hi(ch.plain, ch.Pv, self.rules.k_sigma) < 300.0)
            ev = np.where(slow_chord & among(ev, (BALLISTIC, ROCKET)), UNKNOWN, ev)
        self._counts[rows, ev] += 1
        self._cls[rows] = self._declare(rows, t)
        if t is not None:
            self._keep_chord(rows, loc, ch, ok_plain, compared, thrust)
        return self._cls[rows].copy()

    def step(self, ids: Sequence[str], x: States, P: Covs, t: float) -> Classification:
        """One assessment cycle's classification: :meth:`classify` at ``t``, then the states
        for impact prediction from the chords it just formed (see :class:`Classification`)."""
        classes = self.classify(ids, x, P, t=t)
        xs, Ps, powered = self._smoothed(ids, x, P)
        return Classification(classes, xs, Ps, powered)

    def _smoothed(self, ids: Sequence[str], x: States, P: Covs) -> tuple[States, Covs, np.ndarray]:
        """States for impact prediction, and which ballistic/rocket tracks are still powered.

        Valid right after :meth:`classify` (with ``t``) on the same tracks. For rows declared
        ballistic or rocket the free-flight chord is used, for all others the plain one
        (their class may come from elsewhere, e.g. a partner's via fusion), only where the
        chord was valid, consistent with the track's own velocity and of smaller total
        variance; the velocity block of P becomes the chord's and the position-velocity
        cross-covariance 0. Other rows are returned unchanged.

        ``powered`` (N,) marks ballistic/rocket tracks that are climbing and whose recent
        (short) chord is faster than unpowered flight along the long one allows: thrust.
        Their impact prediction would sweep along the ground track and is better skipped
        (see ``assess``).
        """
        x = np.asarray(x, dtype=np.float64)
        P = np.asarray(P, dtype=np.float64)
        check_tracks(x, P, len(ids))
        try:
            rows = np.array([self._row[i] for i in ids], dtype=np.intp)
        except KeyError as e:
            raise ThreatInputError(f"track {e.args[0]!r} was never classified") from None
        use = self._better[rows]
        xs, Ps = x.copy(), P.copy()
        xs[use, 3:] = self._v[rows[use]]
        Ps[use, 3:, 3:] = self._Pv[rows[use]]
        Ps[use, :3, 3:] = 0.0
        Ps[use, 3:, :3] = 0.0
        powered = self._powered[rows] & among(self._cls[rows], (BALLISTIC, ROCKET))
        return xs, Ps, powered

    def identified(self, ids: Iterable[str]) -> None:
        """Tracks positively identified as aircraft (an ADS-B identity the radar confirms,
        ``mead.threat.cooperative``): declared aircraft, and the threat evidence gathered so
        far is wiped. Positive identification outranks kinematic inference, and evidence
        from before it may belong to another object (a track that swapped from a drone onto
        a departing airliner) or to the airliner's own slow, noisy first minutes. Should the
        identity later lapse (the aircraft flies out of ADS-B reception), the track starts
        from aircraft with the aircraft evidence it kept gathering: it must then out-vote
        that to be declared a threat again. Ids never classified are ignored."""
        rows = [r for r in (self._row.get(i) for i in ids) if r is not None]
        self._counts[rows, :AIRCRAFT] = 0
        self._cls[rows] = AIRCRAFT
        self._powered[rows] = False

    def forget(self, ids: Iterable[str]) -> None:
        """Drop the history of deleted tracks (unknown ids are ignored)."""
        for i in ids:
            row = self._row.pop(i, None)
            if row is not None:
                self._free.append(row)
                self._hist.clear([row])

    def _consistent(self, loc: Local, v: Array, Pv: Covs) -> np.ndarray:
        """(N,) chord velocity (ECEF) agrees with the track's own within ``gate``."""
        Rt = loc.R.swapaxes(1, 2)
        d = v - np.einsum("nij,nj->ni", Rt, loc.v_enu)
        return _agree(d, Pv + Rt @ loc.Pv_enu @ loc.R, self.gate)

    def _chords(
        self, rows: np.ndarray, t: float, x: States, P: Covs | None
    ) -> tuple[Chord, np.ndarray, np.ndarray]:
        """The longest chord that agrees with a short one, and the thrust test.

        Where the long and short chords disagree (thrust, a turn) the anchors before the
        short chord are dropped and the short chord is used. Returns (chord, compared,
        thrust): whether both chords existed, and whether the mean speed over the short
        chord exceeds that over the long one by more than ``k_thrust`` σ (unpowered
        climbing flight only slows down).
        """
        free = among(self._cls[rows], (BALLISTIC, ROCKET))
        max_age = np.where(free, self.free_chord_s, np.inf)
        long, short, i, j = self._hist.chords(rows, t, x, P, self.inv_beta, max_age, free)
        vl = np.where(free[:, None], long.free, long.plain)
        vs = np.where(free[:, None], short.free, short.plain)
        compared = long.valid & (j > i)
        split = compared & ~_agree(vl - vs, long.Pv + short.Pv, self.gate)
        self._hist.drop_older(rows[split], j[split])
        self._hist.record(rows, t, x, P)
        thrust = compared & _gains_speed(
            long.plain, short.plain, long.Pv + short.Pv, self.k_thrust
        )
        pick = split[:, None]
        chord = Chord(
            np.where(pick, short.plain, long.plain),
            np.where(pick, short.free, long.free),
            np.where(pick[:, :, None], short.Pv, long.Pv),
            long.valid,
        )
        return chord, compared, thrust

    def _keep_chord(
        self,
        rows: np.ndarray,
        loc: Local,
        ch: Chord,
        ok_plain: np.ndarray,
        compared: np.ndarray,
        thrust: np.ndarray,
    ) -> None:
        """Remember each row's class-appropriate chord (restart the anchors where it
        disagrees with the track's own velocity) and update the powered flag.

        A ballistic/rocket track is *powered* while climbing under thrust, re-judged
        whenever both chords exist; a climbing track declared ballistic counts as powered
        until first judged (about 2 × ``spacing_s`` after its history started), since the
        boost is when such tracks are first seen.
        """
        free = among(self._cls[rows], (BALLISTIC, ROCKET))
        v = np.where(free[:, None], ch.free, ch.plain)
        # a free-flight chord is 0 where not computed (low down, or a row new to B/R)
        has = np.where(free, ch.valid & np.any(ch.free != 0.0, axis=1), ch.valid)
        good = np.where(free, has & self._consistent(loc, ch.free, ch.Pv), ok_plain)
        good &= np.linalg.norm(v, axis=1) < MAX_SPEED_MPS
        self._hist.clear(rows[has & ~good])
        Pv_track = loc.R.swapaxes(1, 2) @ loc.Pv_enu @ loc.R
        tighter = np.trace(ch.Pv, axis1=1, axis2=2) < np.trace(Pv_track, axis1=1, axis2=2)
        self._v[rows], self._Pv[rows], self._better[rows] = v, ch.Pv, good & tighter
        self._judged[rows] |= compared
        unjudged = ~self._judged[rows] & (self._cls[rows] == BALLISTIC)
        held = self._powered[rows] | unjudged
        self._powered[rows] = (loc.v_enu[:, 2] > 0.0) & np.where(compared, thrust, held)

    def _rows(self, ids: Sequence[str], t: float | None) -> np.ndarray:
        rows = np.empty(len(ids), dtype=np.intp)
        new: list[int] = []
        for k, i in enumerate(ids):
            row = self._row.get(i)
            if row is None:
                row = self._free.pop() if self._free else self._grow()
                self._row[i] = row
                new.append(row)
            rows[k] = row
        if new:
            self._hist.clear(new)
            self._counts[new] = 0
            self._cls[new] = UNKNOWN
            self._better[new] = False
            self._powered[new] = self._judged[new] = False
            self._t0[new] = np.nan if t is None else t
        return rows

    def _grow(self) -> int:
        n = self._cls.size
        cap = max(64, 2 * n)
        self._counts = np.concatenate([self._counts, np.zeros((cap - n, 6), dtype=np.int64)])
        self._t0 = np.concatenate([self._t0, np.full(cap - n, np.nan)])
        self._cls = np.concatenate([self._cls, np.full(cap - n, UNKNOWN, dtype=np.int8)])
        self._v = np.concatenate([self._v, np.zeros((cap - n, 3))])
        self._Pv = np.concatenate([self._Pv, np.zeros((cap - n, 3, 3))])
        self._better = np.concatenate([self._better, np.zeros(cap - n, dtype=bool)])
        self._powered = np.concatenate([self._powered, np.zeros(cap - n, dtype=bool)])
        self._judged = np.concatenate([self._judged, np.zeros(cap - n, dtype=bool)])
        self._hist.grow(cap)
        self._free.extend(range(cap - 1, n, -1))
        return n

    def _declare(self, rows: np.ndarray, t: float | None) -> np.ndarray:
        """Candidate class from the evidence counts, then only ever upgraded (hysteresis)."""
        c = self._counts[rows]
        mature = np.ones(rows.size, dtype=bool)
        if t is not None:
            mature = ~(t - self._t0[rows] < self.min_age_s)  # first seen without t: mature
        air = self.dominance * c[:, AIRCRAFT]
        cruise = (c[:, CRUISE] >= self.slow_updates) & (c[:, CRUISE] > air)
        drone = (c[:, DRONE] >= self.slow_updates) & (c[:, DRONE] > air)
        cand = np.select(
            [
                c[:, BALLISTIC] >= self.fast_updates,
                c[:, BALLISTIC] + c[:, ROCKET] >= self.fast_updates,
                mature & cruise & (c[:, CRUISE] >= c[:, DRONE]),
                mature & drone & (c[:, DRONE] > c[:, CRUISE]),
                mature & (c[:, AIRCRAFT] >= self.civil_updates),
            ],
            [BALLISTIC, ROCKET, CRUISE, DRONE, AIRCRAFT],
            default=UNKNOWN,
        ).astype(np.int8)
        old = self._cls[rows]
        # a track already held as aircraft, drone or cruise needs lasting fast evidence to
        # become a rocket/ballistic (a diverging filter or a track swap, not a missile)
        settled = among(old, (AIRCRAFT, DRONE, CRUISE))
        lasting = c[:, BALLISTIC] + c[:, ROCKET] >= self.slow_updates
        cand = np.where(settled & ~lasting & among(cand, (BALLISTIC, ROCKET)), old, cand)
        up = (cand != UNKNOWN) & ((old == UNKNOWN) | (RANK[cand] > RANK[old]))
        return np.where(up, cand, old)


def _agree(d: Array, S: Covs, gate: float) -> np.ndarray:
    """(N,) dᵀS⁻¹d ≤ gate for differences d (N, 3) with covariances S (N, 3, 3)."""
    S = S + 1e-9 * np.eye(3)
    return np.einsum("ni,ni->n", d, np.linalg.solve(S, d[..., None])[..., 0]) <= gate


def _gains_speed(v_long: Array, v_short: Array, S: Covs, k: float) -> np.ndarray:
    """(N,) the short chord is faster than the long one by more than k σ (along v_long)."""
    sp = np.linalg.norm(v_long, axis=1)
    u = v_long / np.where(sp > 0, sp, 1.0)[:, None]
    sig = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", u, S, u), 0.0))
    return np.linalg.norm(v_short, axis=1) - sp > k * sig


def _speed_hi(v: Array, Pv: Covs, k: float) -> Array:
    """(N,) |v| + k σ along v, m/s."""
    sp = np.linalg.norm(v, axis=1)
    u = v / np.where(sp > 0, sp, 1.0)[:, None]
    return sp + k * np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", u, Pv, u), 0.0))
