"""Kinematic classification of tracks (ballistic, rocket, cruise, drone, aircraft, unknown).

Two layers:

* :func:`classify_kinematics` is a pure kernel: one *evidence* code per track from its
  current speed, geodetic altitude and vertical speed, with a σ-margin taken from the
  covariance so that a noisy estimate only counts when it is clearly inside a band.
* :class:`Classifier` keeps, per track id, how many updates gave each kind of evidence and
  declares a class only after enough of them, with hysteresis: a class only moves *up* the
  threat ranking (unknown < aircraft < drone < cruise < rocket < ballistic), so a declared
  threat never flips back to aircraft, and a track that has looked like an airliner a few
  times can never become a drone or a cruise missile (only rocket or ballistic, which no
  aircraft can mimic).

Evidence rules (v = 3-D speed, h = geodetic altitude, w = |vertical speed|; v⁻ = v − kσ_v,
v⁺ = v + kσ_v, w⁻ = w − kσ_w, w⁺ = w + kσ_w, k = ``Rules.k_sigma``; first match wins):

============  ===================================================================
evidence      rule (defaults of :class:`Rules`)
============  ===================================================================
ballistic     v⁻ > 1,200 m/s, or h > 25 km and v⁻ > 800 m/s
rocket        v⁻ > 450 m/s (supersonic), or h > 20 km (above any civil aircraft)
cruise        170 ≤ v⁻, v⁺ ≤ 330 m/s, h < 1.5 km, not clearly climbing (w⁻ < 15 m/s)
drone         25 ≤ v⁻, v⁺ ≤ 75 m/s, h < 4 km, and not clearly climbing/descending
              (w⁻ ≤ 3 m/s) unless v⁺ ≤ 60 m/s
aircraft      70 ≤ v⁻, v⁺ ≤ 320 m/s at h ≥ 3 km; or below 3 km 80 ≤ v⁻, v⁺ ≤ 170 m/s,
              or 60 ≤ v⁻, v⁺ ≤ 180 m/s and clearly climbing/descending (w⁻ > 3 m/s)
unknown       anything else (ambiguous, or too noisy for any band)
============  ===================================================================

Declaration rules of :class:`Classifier` (counts are over the track's life):

============  ===================================================================
class         declared when
============  ===================================================================
ballistic     ≥ ``fast_updates`` (2) ballistic evidence updates
rocket        ≥ ``fast_updates`` rocket-or-ballistic evidence updates
cruise        ≥ ``min_updates`` (3) cruise updates, more than twice the aircraft
              updates, at least as many as drone updates, and not civil
drone         same with drone updates (more than cruise updates)
aircraft      civil: ≥ ``civil_updates`` (3) aircraft evidence updates
unknown       none of the above yet (also: fewer than ``min_updates`` updates or,
              when times are given, younger than ``min_age_s``)
============  ===================================================================

The speed band for civil airliners (80 → 230 m/s climbing to ~10.7 km, 230 m/s cruise,
descending at ~8 m/s to land at ~75 m/s, and ≤ ~130 m/s below 3 km by the usual 250 kt
rule) never meets the cruise band below 1.5 km, and meets the drone band only in the last
seconds of an approach, after the track has long been declared civil. Cruise missiles
flown above 3 km at airliner speeds are classed aircraft: a known limit of kinematics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mead.messages import TRACK_CLASSES, TrackClass
from mead.threat._local import Local, ThreatInputError, check_tracks, local
from mead.types import Covs, States

BALLISTIC, ROCKET, CRUISE, DRONE, AIRCRAFT, UNKNOWN = range(6)
"""Integer codes: indices into :data:`mead.messages.TRACK_CLASSES`."""
assert TRACK_CLASSES == ("ballistic", "rocket", "cruise", "drone", "aircraft", "unknown")

RANK = np.array([5, 4, 3, 2, 1, 0], dtype=np.int8)
"""Threat rank per code (ballistic highest); a declared class only moves up this ranking."""

THREAT_CODES = np.array([BALLISTIC, ROCKET, CRUISE, DRONE])


@dataclass(frozen=True)
class Rules:
    """Thresholds of the evidence kernel (SI units); see the module table."""

    k_sigma: float = 2.0  # σ-margin on speed estimates
    k_sigma_climb: float = 1.0  # σ-margin on the vertical speed ("clearly climbing")
    ballistic_speed_mps: float = 1200.0  # faster than this: ballistic
    ballistic_high_alt_m: float = 25_000.0  # above this altitude …
    ballistic_high_speed_mps: float = 800.0  # … and faster than this: ballistic
    rocket_speed_mps: float = 450.0  # supersonic: at least a rocket
    rocket_alt_m: float = 20_000.0  # above any civil aircraft: at least a rocket
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


def evidence(loc: Local, rules: Rules = Rules()) -> np.ndarray:
    """Evidence codes (N,) int8 from tracks already in their local frame (see module table)."""
    r, k = rules, rules.k_sigma
    h = loc.alt_m
    fast = loc.speed_mps - k * loc.speed_sigma_mps()  # 3-D speed, less k σ
    vg, sg = loc.ground_speed_mps, loc.ground_speed_sigma_mps()
    w, sw = np.abs(loc.v_enu[:, 2]), np.sqrt(np.maximum(loc.Pv_enu[:, 2, 2], 0.0))
    vlo, vhi, wlo = vg - k * sg, vg + k * sg, w - r.k_sigma_climb * sw

    ballistic = (fast > r.ballistic_speed_mps) | (
        (h > r.ballistic_high_alt_m) & (fast > r.ballistic_high_speed_mps)
    )
    rocket = (fast > r.rocket_speed_mps) | (h > r.rocket_alt_m)
    cruise = (
        _band(vlo, vhi, r.cruise_speed_mps) & (h < r.cruise_max_alt_m) & (wlo < r.cruise_max_climb_mps)
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


class Classifier:
    """Per-track evidence accumulator with hysteresis; the same at a partner or coordinator.

    Parameters
    ----------
    rules : thresholds of the evidence kernel.
    min_updates : evidence updates needed to declare cruise or drone (and to declare anything).
    fast_updates : ballistic / rocket evidence updates needed to declare those.
    civil_updates : aircraft evidence updates that mark a track civil for good.
    min_age_s : when ``classify`` is given times, a track younger than this stays unknown
        (rocket/ballistic excepted), s.
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
    ) -> None:
        if min(fast_updates, slow_updates, civil_updates) < 1 or dominance < 0:
            raise ValueError(
                "fast_updates, slow_updates and civil_updates must be ≥ 1 and dominance ≥ 0 "
                f"(got {fast_updates}, {slow_updates}, {civil_updates}, {dominance})"
            )
        self.rules = rules
        self.fast_updates = fast_updates  # evidence updates before rocket/ballistic
        self.slow_updates = slow_updates  # evidence updates before cruise/drone
        self.civil_updates = civil_updates  # evidence updates before aircraft
        self.dominance = dominance  # cruise/drone evidence must exceed this × aircraft's
        self.min_age_s = min_age_s  # s before cruise/drone/aircraft; only when t is given
        self._row: dict[str, int] = {}
        self._free: list[int] = []
        self._counts = np.zeros((0, 6), dtype=np.int64)  # evidence updates per code
        self._t0 = np.zeros(0)  # first time seen, s (nan if never given)
        self._cls = np.zeros(0, dtype=np.int8)  # declared code

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
        ev = evidence(local(x, P), self.rules)
        self._counts[rows, ev] += 1
        self._cls[rows] = self._declare(rows, t)
        return self._cls[rows].copy()

    def forget(self, ids: Iterable[str]) -> None:
        """Drop the history of deleted tracks (unknown ids are ignored)."""
        for i in ids:
            row = self._row.pop(i, None)
            if row is not None:
                self._free.append(row)

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
            self._counts[new] = 0
            self._cls[new] = UNKNOWN
            self._t0[new] = np.nan if t is None else t
        return rows

    def _grow(self) -> int:
        n = self._cls.size
        cap = max(64, 2 * n)
        self._counts = np.concatenate([self._counts, np.zeros((cap - n, 6), dtype=np.int64)])
        self._t0 = np.concatenate([self._t0, np.full(cap - n, np.nan)])
        self._cls = np.concatenate([self._cls, np.full(cap - n, UNKNOWN, dtype=np.int8)])
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
        return np.where(RANK[cand] > RANK[old], cand, old)
