"""Scoring hook: which truth object each node's tracks hold, and since when.

An observer for :func:`mead.runtime.simulation.run_mode`: every node reports the track
picture it forms (its own tracks at a partner, the fused picture at the coordinator), and
this matches it to the simulated truth. It only reads; nothing it learns reaches a node.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from mead.sim.base import TruthTable
from mead.types import Index, States

TRACK_GATE_M = 25_000.0
"""A track counts as holding a truth object when its position is within this distance."""


class TruthMatcher:
    """First time (scenario s) each node held each truth object; NaN if never.

    ``result()`` is ``{node: (N,) first time}``, N the objects of the truth table.
    """

    def __init__(
        self,
        truth: TruthTable,
        epoch_s: float,
        at: Callable[[float], tuple[Index, States]] | None = None,
    ) -> None:
        self.truth, self.epoch_s = truth, epoch_s
        self.at = at or truth.states_at  # truth at scenario time t (e.g. World.truth_at)
        self.first: dict[str, np.ndarray] = {}
        self._at: tuple[float, np.ndarray, cKDTree | None] | None = None  # the last t's truth

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        if not ids:
            return
        t = t_wire - self.epoch_s
        if self._at is None or self._at[0] != t:  # every node reports at the same instants
            alive, states = self.at(t)
            self._at = (t, alive, cKDTree(states[:, :3]) if alive.size else None)
        _, alive, tree = self._at
        if tree is None:
            return
        d, k = tree.query(x[:, :3], distance_upper_bound=TRACK_GATE_M)
        held = alive[k[np.isfinite(d)]]
        first = self.first.setdefault(node, np.full(len(self.truth), np.nan))
        new = held[np.isnan(first[held])]
        first[new] = t

    def result(self) -> dict[str, np.ndarray]:
        """Node → (N,) first time it held each object, scenario s (NaN: never)."""
        return self.first
