"""Weapon–target assignment: which unit engages which threat, with one round or two.

Each threat n is engaged by at most one unit u, with one round or — shoot-look-shoot, where
the window leaves time to see the first result — two, the second fired only if the first
missed. With single-shot kill probability p, one round protects V·p and two protect
V·(1 − (1 − p)²) of the threat's value V (area value × probability of reaching it);
two reserve two rounds. The assignment maximises the expected value protected

    max Σ g[n,u,s]·z[n,u,s],   g = V_n·(1 − (1 − p_nu)^s) − λ·cost_u·E[rounds]
    s.t. Σ_{u,s} z[n,u,s] ≤ 1                 each threat at most once
         Σ_{n,s} s·z[n,u,s] ≤ rounds_u         loaded rounds of each unit
         Σ_{n,s} z[n,u,s] ≤ channels_u         engagements each unit can guide at once
         z[n,u,s] ∈ {0, 1}, only where the pair has a window (s = 2: room for a look)

where the cost term (λ = 10⁻⁴ of the smallest value per the dearest round) only breaks
ties in favour of cheaper interceptors. It is solved by HiGHS (to within 0.1 % of the
optimum, ``MIP_GAP``) through
``scipy.optimize.milp`` within a deadline; if the solver has no proven answer by then,
the better of its incumbent and a greedy assignment (best gain first) is used.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from mead.errors import check
from mead.types import Array

DEADLINE_S = 0.15
"""Time the exact solver is given per plan before the greedy fallback, s."""
MIP_GAP = 1e-3
PRESOLVE = False
"""HiGHS presolve. Off: on these assignment problems it costs more than it saves (300
threats × 40 units, six instances: 105–181 ms with it, 57–77 ms without, the same optima)."""
"""The solver stops once its answer is proven within this fraction of the optimum."""


@dataclass(frozen=True)
class Candidates:
    """The engagement options of one planning problem, flat over (threat, unit, shots)."""

    threat: np.ndarray  # (C,) threat row
    unit: np.ndarray  # (C,) unit row
    shots: np.ndarray  # (C,) 1 or 2
    gain: Array  # (C,) objective coefficient
    protected: Array  # (C,) expected value protected, V·(1 − (1 − p)^s)


@dataclass(frozen=True)
class Plan:
    """An assignment of N threats: ``unit[n]`` (−1: none) with ``shots[n]`` rounds."""

    unit: np.ndarray  # (N,) int
    shots: np.ndarray  # (N,) int, 0 where unassigned
    protected: float  # expected value protected
    objective: float  # the solver's objective (protected minus the cost tie-break)
    method: str  # "milp", "greedy" or "none"
    solve_s: float  # wall time spent, s


def candidates(
    value: Array, pk: Array, feasible: np.ndarray, sls: np.ndarray, cost_usd: Array
) -> Candidates:
    """The options of N threats × U units: one round where ``feasible`` and ``pk`` > 0,
    two where ``sls`` too. ``value`` (N,) or (N, U), ``pk``, ``feasible``, ``sls`` (N, U),
    ``cost_usd`` (U,)."""
    value = _per_pair(value, pk.shape)
    ok = np.asarray(feasible, bool) & (pk > 0.0) & (value > 0.0)
    n1, u1 = np.nonzero(ok)
    n2, u2 = np.nonzero(ok & np.asarray(sls, bool))
    n = np.concatenate([n1, n2])
    u = np.concatenate([u1, u2])
    s = np.concatenate([np.ones(n1.size, int), np.full(n2.size, 2)])
    p = pk[n, u]
    protected = value[n, u] * (1.0 - (1.0 - p) ** s)
    rounds = np.where(s == 1, 1.0, 2.0 - p)  # expected rounds fired
    vmin = value[value > 0].min() if (value > 0).any() else 1.0
    cmax = max(float(np.max(cost_usd, initial=0.0)), 1.0)
    gain = protected - 1e-4 * vmin * cost_usd[u] / cmax * rounds
    return Candidates(n, u, s, gain, protected)


def _per_pair(value: Array, shape: tuple[int, ...]) -> Array:
    """``value`` (N,) per threat or (N, U) per pair, as (N, U)."""
    v = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(v[:, None] if v.ndim == 1 else v, shape)


def assign(
    value: Array,
    pk: Array,
    feasible: np.ndarray,
    sls: np.ndarray,
    rounds: np.ndarray,
    channels: np.ndarray,
    cost_usd: Array,
    *,
    deadline_s: float = DEADLINE_S,
    method: str = "milp",
) -> Plan:
    """Assign N threats to U units (see the module doc).

    Parameters
    ----------
    value : (N,) value at stake per threat (area value × probability of reaching it), or
        (N, U) per pair (the planner's: discounted by the threat's other defenders).
    pk : (N, U) single-shot kill probability of unit u against threat n.
    feasible, sls : (N, U) bool: the pair has a launch window; and room for a second round.
    rounds, channels : (U,) int, loaded rounds and free engagement channels per unit.
    cost_usd : (U,) per interceptor.
    deadline_s : time the exact solver may take before the greedy fallback.
    method : "milp" (exact, greedy fallback at the deadline) or "greedy".
    """
    check(method in ("milp", "greedy"), "method", "'milp' or 'greedy'", method)
    check(deadline_s > 0, "deadline_s", "> 0", deadline_s)
    t0 = time.perf_counter()
    n = len(value)
    c = candidates(value, np.asarray(pk, dtype=np.float64), feasible, sls, np.asarray(cost_usd))
    rounds = np.asarray(rounds, dtype=np.int64)
    channels = np.asarray(channels, dtype=np.int64)
    if c.threat.size == 0:
        return _plan(n, c, np.zeros(0, bool), "none", t0)
    greedy = _greedy(c, n, rounds, channels)
    if method == "greedy":
        return _plan(n, c, greedy, "greedy", t0)
    z = _milp(c, n, rounds, channels, deadline_s)
    if z is None or c.gain[z].sum() < c.gain[greedy].sum() - 1e-12:
        return _plan(n, c, greedy, "greedy", t0)
    return _plan(n, c, z, "milp", t0)


def _milp(
    c: Candidates, n: int, rounds: np.ndarray, channels: np.ndarray, deadline_s: float
) -> np.ndarray | None:
    """The exact assignment (a mask over the candidates), or None without a solution."""
    m, u = c.threat.size, len(rounds)
    cols = np.arange(m)
    A = sparse.vstack(
        [
            sparse.csr_matrix((np.ones(m), (c.threat, cols)), shape=(n, m)),
            sparse.csr_matrix((c.shots.astype(float), (c.unit, cols)), shape=(u, m)),
            sparse.csr_matrix((np.ones(m), (c.unit, cols)), shape=(u, m)),
        ]
    ).tocsr()
    ub = np.concatenate([np.ones(n), rounds, channels]).astype(float)
    res = milp(
        -c.gain,
        integrality=np.ones(m),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(A, -np.inf, ub),
        options={
            "time_limit": deadline_s,
            "disp": False,
            "mip_rel_gap": MIP_GAP,
            "presolve": PRESOLVE,
        },
    )
    if res.x is None:
        return None
    return np.asarray(res.x > 0.5)


def _greedy(c: Candidates, n: int, rounds: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Best gain first; an option is taken when its threat is free and its unit has the
    rounds and a channel."""
    left, free = rounds.copy(), channels.copy()
    done = np.zeros(n, bool)
    take = np.zeros(c.threat.size, bool)
    for k in np.argsort(-c.gain, kind="stable").tolist():
        t, u, s = int(c.threat[k]), int(c.unit[k]), int(c.shots[k])
        if done[t] or left[u] < s or free[u] < 1 or c.gain[k] <= 0.0:
            continue
        take[k], done[t] = True, True
        left[u] -= s
        free[u] -= 1
    return take


def _plan(n: int, c: Candidates, z: np.ndarray, method: str, t0: float) -> Plan:
    unit = np.full(n, -1, dtype=np.int64)
    shots = np.zeros(n, dtype=np.int64)
    unit[c.threat[z]] = c.unit[z]
    shots[c.threat[z]] = c.shots[z]
    return Plan(
        unit,
        shots,
        float(c.protected[z].sum()),
        float(c.gain[z].sum()),
        method,
        time.perf_counter() - t0,
    )


def enumerate_best(
    value: Array,
    pk: Array,
    feasible: np.ndarray,
    sls: np.ndarray,
    rounds: np.ndarray,
    channels: np.ndarray,
    cost_usd: Array,
) -> float:
    """The exact optimum objective by trying every choice of (none | unit, shots) per
    threat: a reference for tests and benchmarks, for a handful of threats only."""
    c = candidates(value, np.asarray(pk, np.float64), feasible, sls, np.asarray(cost_usd))
    n = len(value)
    check(n <= 10, "value", "at most 10 threats for enumeration", n)
    per = [[-1, *np.flatnonzero(c.threat == i).tolist()] for i in range(n)]
    rounds, channels = np.asarray(rounds), np.asarray(channels)
    best = 0.0
    for choice in itertools.product(*per):
        ks = np.array([k for k in choice if k >= 0], dtype=np.intp)
        r = np.bincount(c.unit[ks], weights=c.shots[ks], minlength=len(rounds))
        ch = np.bincount(c.unit[ks], minlength=len(rounds))
        if (r <= rounds).all() and (ch <= channels).all():
            best = max(best, float(c.gain[ks].sum()))
    return best
