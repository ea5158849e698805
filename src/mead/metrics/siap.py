"""SIAP figures of an air picture against the truth, per truth class.

The Single Integrated Air Picture (SIAP) attribute measures (Votruba et al., *SIAP Metrics
Implementation*, 2001) as Stone Soup implements them
(``stonesoup.metricgenerator.tracktotruthmetrics.SIAPMetrics``), computed on MEAD's arrays
one assessment time at a time, so a run never keeps its picture history.

**Association, per time.** At each assessment time t every track is assigned to the truth
object whose position is nearest to its position, if closer than ``gate_m`` (strictly);
otherwise it is unassigned. Several tracks may hold one truth; a track holds at most one
truth. This is Stone Soup's ``TrackToTruth`` associator with ``association_threshold =
gate_m``, ``consec_pairs_confirm = 1`` and ``consec_misses_end = 1`` and a Euclidean
position measure: its time-range associations are then exactly the runs of consecutive
assessment times at which a track is assigned to the same truth. (Its defaults, 3 and 2,
add hysteresis: an association starts after 3 matches in a row and survives 1 miss.)

**Counts at time t** (sums over times run over every ``update``):

- J(t): truths alive; JT(t): truths held by ≥ 1 track;
- N(t): tracks in the picture; NA(t): tracks assigned to a truth;
- PA_n(t), VA_n(t): position (m) and velocity (m/s) error |x − x_true| of assigned track n.

**Figures** (Stone Soup's time-range values: ratios of sums over times, so a time weighs
as much as it has truths or tracks):

- completeness  C  = Σ_t JT(t) / Σ_t J(t)                      (target 1)
- ambiguity     A  = Σ_t NA(t) / Σ_t JT(t)                     (target 1)
- spuriousness  S  = Σ_t [N(t) − NA(t)] / Σ_t N(t)             (target 0; overall only,
  an unassigned track has no truth class)
- position accuracy  PA = Σ_t Σ_n PA_n(t) / Σ_t NA(t), m       (target 0)
- velocity accuracy  VA = Σ_t Σ_n VA_n(t) / Σ_t NA(t), m/s     (target 0)
- track-number changes Σ_j (NU_j − 1) over truths with NU_j > 0, where NU_j is the least
  number of association runs that cover every time truth j is held (a greedy interval
  cover: a track keeps the number until its run ends; a run broken by a gap, even with
  the same track id afterwards, needs a new one). Per truth: divided by the truths held
  at least once.
- rate of track-number changes  R = Σ_j (NU_j − 1) / Σ_j TT_j, per s, where TT_j is the
  time truth j is tracked: the sum of the intervals between consecutive assessment times
  over which one track holds it at both ends                  (target 0)
- longest track segment  LS = Σ_j TL_j / Σ_j T_j, where TL_j is the longest run of one
  track on truth j (last − first time of the run, s) and T_j the time truth j is alive
  (last − first assessment time it is alive at)                (target 1)

Where a denominator is zero the figure is ``None`` (Stone Soup returns 0, or 1 for A).
The per-class figures use the class of the truth; the overall figures sum all classes.

**Against Stone Soup** (1.9.1; ``benchmarks/bench_siap.py``): with its associator set as
above, every figure agrees to 1e-9 on the benchmark's case. Two pictures it cannot take,
which are counted here: a track that holds a truth at a single time (its ``TimeRange``
needs start < end, so ``TrackToTruth`` raises), and a track absent from the picture for
a while under the same number (its associator looks only at the track's own states, so
the association spans the gap and ``SIAPMetrics`` then fails on the missing state; here
the track holds nothing while absent, and its run ends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mead.metrics.matching import TRACK_GATE_M
from mead.types import Index, States

if TYPE_CHECKING:
    from mead.metrics.matching import TRACK_GATE_M
from mead.sim.base import TruthTable

GATE_M = TRACK_GATE_M
"""Default association gate: a track holds a truth within it (``mead.metrics.matching``)."""

Figures = dict[str, float | int | None]


def nearest_truth(x: States, truth_x: States, gate_m: float) -> NDArray[np.int64]:
    """(N,) row of ``truth_x`` (M, 6) nearest each track of ``x`` (N, 6) in position, or −1
    where none is closer than ``gate_m`` (m)."""
    out = np.full(len(x), -1, dtype=np.int64)
    if len(x) == 0 or len(truth_x) == 0:
        return out
    d, k = cKDTree(truth_x[:, :3]).query(x[:, :3], distance_upper_bound=gate_m)
    ok = d < gate_m
    out[ok] = k[ok]
    return out


class SiapAccumulator:
    """Sums for the SIAP figures of one picture over a run; see the module docstring.

    Feed it with ``update`` at each assessment time (times strictly increasing), read it
    with ``result``. Memory is O(truths + distinct track ids), whatever the run length.
    """

    def __init__(self, truth_class: Sequence[str] | NDArray[Any], gate_m: float = GATE_M):
        """``truth_class``: (T,) class of each truth object (e.g. ``TruthTable.kind``);
        ``gate_m``: association gate, m."""
        if not (np.isfinite(gate_m) and gate_m > 0):
            raise ValueError(f"SiapAccumulator: gate_m must be > 0 (got {gate_m})")
        self.gate_m = float(gate_m)  # association gate, m
        self.classes, cls = np.unique(np.asarray(truth_class, dtype=str), return_inverse=True)
        self.cls = cls.astype(np.int64)  # (T,) class index of each truth
        T, K = len(self.cls), len(self.classes)
        self.J, self.JT, self.NA = (np.zeros(K, dtype=np.int64) for _ in range(3))  # Σ_t
        self.PA, self.VA = np.zeros(K), np.zeros(K)  # Σ_t Σ_n errors, m and m/s
        self.N = 0  # Σ_t N(t)
        self.times = 0  # assessment times seen
        self.first_t = np.full(T, np.nan)  # first time each truth was alive, s
        self.last_t = np.full(T, np.nan)  # last time each truth was alive, s
        self.tt = np.zeros(T)  # TT_j, time tracked, s
        self.tl = np.zeros(T)  # TL_j, longest run of one track, s
        self.nu = np.zeros(T, dtype=np.int64)  # NU_j, runs in the greedy cover
        self.slot: dict[str, int] = {}  # track id → row of the per-track arrays
        self.held = np.empty(0, dtype=np.int64)  # (S,) truth held at the previous time, or −1
        self.run_start = np.empty(0)  # (S,) start of the track's current run, s
        self.in_cover = np.empty(0, dtype=bool)  # (S,) its run covers its truth's cover point
        self.t_prev = -np.inf

    def update(
        self,
        t: float,
        track_ids: Sequence[str],
        x: States,
        truth_idx: NDArray[np.integer[Any]],
        truth_x: States,
    ) -> None:
        """Add one assessment time.

        ``t``: time, s (any origin, strictly increasing); ``track_ids`` (N,) the picture's
        track numbers, unique; ``x`` (N, 6) their ECEF states, m and m/s; ``truth_idx``
        (M,) the truths alive at ``t`` (indices into ``truth_class``); ``truth_x`` (M, 6)
        their ECEF states.
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1, 6)
        truth_x = np.asarray(truth_x, dtype=np.float64).reshape(-1, 6)
        alive: NDArray[np.int64] = np.asarray(truth_idx, dtype=np.int64)
        if len(track_ids) != len(x) or len(alive) != len(truth_x):
            raise ValueError(
                f"SiapAccumulator.update: {len(track_ids)} track_ids for {len(x)} states, "
                f"{len(alive)} truth_idx for {len(truth_x)} truth states"
            )
        if not t > self.t_prev:
            raise ValueError(f"SiapAccumulator.update: t must increase (got {t} after "
                             f"{self.t_prev})")  # fmt: skip
        rows = self._rows(track_ids)
        k = nearest_truth(x, truth_x, self.gate_m)
        a = k >= 0  # (N,) assigned
        truth_of = np.full(len(x), -1, dtype=np.int64)  # (N,) truth index or −1
        truth_of[a] = alive[k[a]]
        self._count(alive, truth_of[a], x[a] - truth_x[k[a]], len(x))
        self._continuity(t, rows, truth_of)
        self.first_t[alive] = np.where(np.isnan(self.first_t[alive]), t, self.first_t[alive])
        self.last_t[alive] = t
        self.t_prev = t
        self.times += 1

    def _rows(self, track_ids: Sequence[str]) -> NDArray[np.int64]:
        """Rows of the per-track arrays for these ids, adding rows for new ones."""
        if len(set(track_ids)) != len(track_ids):
            raise ValueError("SiapAccumulator.update: track_ids must be unique")
        n0 = len(self.slot)
        rows = np.fromiter((self.slot.setdefault(i, len(self.slot)) for i in track_ids),
                           dtype=np.int64, count=len(track_ids))  # fmt: skip
        grow = len(self.slot) - n0
        if grow:
            self.held = np.concatenate([self.held, np.full(grow, -1, dtype=np.int64)])
            self.run_start = np.concatenate([self.run_start, np.zeros(grow)])
            self.in_cover = np.concatenate([self.in_cover, np.zeros(grow, dtype=bool)])
        return rows

    def _count(self, alive: NDArray[np.int64], held: NDArray[np.int64], err: States,
               n: int) -> None:  # fmt: skip
        """J, JT, N, NA, PA and VA at one time; ``held`` (NA,) the truth of each assigned
        track, ``err`` (NA, 6) its state error."""
        K = len(self.classes)
        self.J += np.bincount(self.cls[alive], minlength=K)
        self.JT += np.bincount(self.cls[np.unique(held)], minlength=K)
        self.NA += np.bincount(self.cls[held], minlength=K)
        self.N += n
        c = self.cls[held]
        self.PA += np.bincount(c, weights=np.linalg.norm(err[:, :3], axis=1), minlength=K)
        self.VA += np.bincount(c, weights=np.linalg.norm(err[:, 3:], axis=1), minlength=K)

    def _continuity(self, t: float, rows: NDArray[np.int64], truth_of: NDArray[np.int64]) -> None:
        """Runs of one track on one truth: TT, TL and the greedy cover count NU."""
        a = truth_of >= 0
        cont = a & (self.held[rows] == truth_of)  # (N,) run goes on from the previous time
        if cont.any():
            self.tt[np.unique(truth_of[cont])] += t - self.t_prev
        start = a & ~cont
        self.run_start[rows[start]] = t
        np.maximum.at(self.tl, truth_of[a], t - self.run_start[rows[a]])
        # The cover point's runs survive only while they go on; when none does, the next
        # time the truth is held starts a new run of the cover (NU += 1).
        cover = np.zeros_like(self.in_cover)
        cover[rows[cont]] = self.in_cover[rows[cont]]
        kept = np.bincount(truth_of[cont & cover[rows]], minlength=len(self.nu))
        new = np.zeros(len(self.nu), dtype=bool)
        new[truth_of[a]] = True
        new &= kept == 0
        self.nu += new
        if a.any():  # (a run without truth objects has no cover to mark)
            cover[rows[a & new[np.maximum(truth_of, 0)]]] = True
        self.in_cover = cover
        self.held = np.full_like(self.held, -1)
        self.held[rows] = truth_of

    def result(self) -> dict[str, Any]:
        """``{"overall": figures, "by_class": {class: figures}}``; each ``figures`` has
        completeness, ambiguity, spuriousness (overall only, else None),
        position_accuracy_m, velocity_accuracy_mps, id_changes, id_changes_per_truth,
        id_change_rate_per_s, longest_segment, truths, truths_held, time_tracked_s and
        times (see the module docstring; None where undefined)."""
        K = len(self.classes)
        lifetime = np.nan_to_num(self.last_t - self.first_t)
        per_truth = {
            "changes": np.maximum(self.nu - 1, 0).astype(np.float64),
            "held": (self.nu > 0).astype(np.float64),
            "present": np.isfinite(self.first_t).astype(np.float64),
            "tt": self.tt,
            "tl": self.tl,
            "T": lifetime,
        }
        by = {k: np.bincount(self.cls, weights=v, minlength=K) for k, v in per_truth.items()}
        sums = {"J": self.J, "JT": self.JT, "NA": self.NA, "PA": self.PA, "VA": self.VA} | by
        out = {
            str(c): _figures({k: float(v[i]) for k, v in sums.items()}, None, self.times)
            for i, c in enumerate(self.classes)
        }
        total = {k: float(v.sum()) for k, v in sums.items()}
        return {"overall": _figures(total, self.N, self.times), "by_class": out}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _figures(s: dict[str, float], n_tracks: int | None, times: int) -> Figures:
    """The SIAP figures from the sums ``s`` of one class or all; ``n_tracks`` Σ_t N(t)."""
    return {
        "completeness": _ratio(s["JT"], s["J"]),
        "ambiguity": _ratio(s["NA"], s["JT"]),
        "spuriousness": None if n_tracks is None else _ratio(n_tracks - s["NA"], n_tracks),
        "position_accuracy_m": _ratio(s["PA"], s["NA"]),
        "velocity_accuracy_mps": _ratio(s["VA"], s["NA"]),
        "id_changes": int(s["changes"]),
        "id_changes_per_truth": _ratio(s["changes"], s["held"]),
        "id_change_rate_per_s": _ratio(s["changes"], s["tt"]),
        "longest_segment": _ratio(s["tl"], s["T"]),
        "truths": int(s["present"]),
        "truths_held": int(s["held"]),
        "time_tracked_s": s["tt"],
        "times": times,
    }


class SiapObserver:
    """An observe hook (``mead.runtime.node.Observe``) scoring one node's picture with SIAP.

    Calls from other nodes are ignored. Truth at wire time ``t_wire`` is the truth table
    at scenario time ``t_wire − epoch_s``; truth classes are ``truth.kind``.
    """

    def __init__(
        self,
        truth: TruthTable,
        epoch_s: float,
        node: str,
        gate_m: float = GATE_M,
        at: Callable[[float], tuple[Index, States]] | None = None,
    ):
        self.truth = truth  # the run's truth objects
        self.at = at or truth.states_at  # truth at scenario time t (e.g. World.truth_at)
        self.epoch_s = epoch_s  # wire time of scenario time 0, UTC s
        self.node = node  # the node whose picture is scored, e.g. the coordinator
        self.siap = SiapAccumulator(truth.kind, gate_m)

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        if node != self.node:
            return
        t = t_wire - self.epoch_s
        alive, states = self.at(t)
        self.siap.update(t, ids, x, alive, states)

    def result(self) -> dict[str, Any]:
        """``SiapAccumulator.result`` of the node's picture."""
        return self.siap.result()
