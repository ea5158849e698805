"""The truth contract: where every simulated object is, at any time, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mead.types import Array, Index, States

KINDS = ("ballistic", "rocket", "cruise", "drone", "aircraft")
"""Truth object kinds; the first four are threats, ``aircraft`` is civil traffic."""


@dataclass(frozen=True)
class TruthTable:
    """Trajectories of all N truth objects, sampled per object and interpolated on demand.

    Sample storage is flat: object i owns rows ``offset[i] : offset[i] + count[i]`` of
    ``samples`` (ECEF state), taken every ``dt[i]`` seconds from ``t_start[i]``.
    All times are scenario seconds (0 = scenario start).
    """

    ids: list[str]  # (N,) e.g. "ballistic-007", "civil-0042"
    kind: np.ndarray  # (N,) str, one of KINDS
    raid: list[str]  # (N,) raid name, or "civil"
    rcs_m2: Array  # (N,) mean radar cross-section, m²
    t_start: Array  # (N,) launch / take-off time, s
    t_end: Array  # (N,) impact / landing time, s
    target_area: list[str]  # (N,) defended-area name aimed at ("" for civil)
    impact_ecef: Array  # (N, 3) where the object ends (impact or landing), m
    dt: Array  # (N,) sample spacing, s
    offset: np.ndarray  # (N,) int64 first row in ``samples``
    count: np.ndarray  # (N,) int64 number of rows
    samples: States  # (S, 6) ECEF states, m and m/s

    def __len__(self) -> int:
        return len(self.ids)

    def states_at(self, t: float) -> tuple[Index, States]:
        """Objects alive at scenario time ``t`` and their ECEF states (K,), (K, 6).

        Linear interpolation between the two samples that bracket ``t``.
        """
        alive = np.flatnonzero((self.t_start <= t) & (t < self.t_end))
        if alive.size == 0:
            return alive, np.empty((0, 6))
        u = (t - self.t_start[alive]) / self.dt[alive]
        k = np.minimum(np.floor(u).astype(np.int64), self.count[alive] - 2)
        k = np.maximum(k, 0)
        w = np.clip(u - k, 0.0, 1.0)[:, None]
        i0 = self.offset[alive] + k
        return alive, (1.0 - w) * self.samples[i0] + w * self.samples[i0 + 1]
