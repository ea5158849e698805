"""GOSPA: the generalised optimal sub-pattern assignment metric between two point sets.

For finite sets X = {x_1..x_m} and Y = {y_1..y_n} with m ≤ n (else swap), cut-off
c > 0, order p ≥ 1 and 0 < α ≤ 2 (Rahmathullah, García-Fernández & Svensson 2017):

    d(X, Y) = ( min_π Σ_{i=1..m} d_c(x_i, y_π(i))^p + (c^p / α) (n − m) )^(1/p),

with d_c(x, y) = min(|x − y|, c) and π over injections of X into Y. For α = 2 this equals

    ( min_γ Σ_{(i, j) ∈ γ} |x_i − y_j|^p + (c^p / 2) (|X| + |Y| − 2 |γ|) )^(1/p)

over partial assignments γ of pairs closer than c: each assigned pair costs its distance,
each missed truth and each false track costs c/2 (to the power p). The minimum is one
``scipy.optimize.linear_sum_assignment`` on the cut-off distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


@dataclass(frozen=True)
class Gospa:
    """A GOSPA value and, for α = 2, its parts (all in the distance unit, to the power p)."""

    distance: float  # d(X, Y), the metric
    localisation: float  # Σ |x − y|^p over the assigned pairs (those closer than c)
    missed: int  # truths not assigned
    false: int  # estimates not assigned


def gospa(
    truth: NDArray[np.float64],
    est: NDArray[np.float64],
    c: float = 1000.0,
    p: float = 1.0,
    alpha: float = 2.0,
) -> Gospa:
    """GOSPA between true points (m, d) and estimated points (n, d), e.g. positions in m.

    Parameters
    ----------
    truth : (m, d) true positions; ``est`` : (n, d) estimated positions, same unit.
    c : cut-off distance (> 0), in that unit.
    p : order (≥ 1).
    alpha : 0 < α ≤ 2; the counts of missed and false points are meaningful for α = 2.
    """
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"gospa: c must be > 0 (got {c})")
    if not (np.isfinite(p) and p >= 1):
        raise ValueError(f"gospa: p must be >= 1 (got {p})")
    if not 0 < alpha <= 2:
        raise ValueError(f"gospa: alpha must be in (0, 2] (got {alpha})")
    X, Y = (np.asarray(a, dtype=np.float64) for a in (truth, est))
    if X.ndim != 2 or Y.ndim != 2 or (len(X) and len(Y) and X.shape[1] != Y.shape[1]):
        raise ValueError(f"gospa: truth and est must be (m, d), (n, d) (got {X.shape}, {Y.shape})")
    m, n = len(X), len(Y)
    if m == 0 or n == 0:
        return Gospa(float((c**p / alpha * (m + n)) ** (1 / p)), 0.0, m, n)
    D = np.minimum(cdist(X, Y), c) ** p  # (m, n) cut-off distances to the power p
    r, k = linear_sum_assignment(D)
    total = D[r, k].sum() + c**p / alpha * abs(n - m)
    close = D[r, k] < c**p
    return Gospa(
        float(total ** (1 / p)),
        float(D[r, k][close].sum()),
        m - int(close.sum()),
        n - int(close.sum()),
    )
