"""The track table: every local track of one tracker as stacked arrays, one row per track.

Rows are reordered only by ``keep`` (deletion) and ``append`` (initiation); a track's
identity is its ``uid`` (serial, never reused) and, once confirmed, its ``number``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from mead.types import Array, Covs, Mask, States


@dataclass
class TrackTable:
    """All N tracks of one tracker (tentative and confirmed)."""

    uid: np.ndarray  # (N,) int64 serial, unique for the tracker's life
    number: np.ndarray  # (N,) int64 confirmed track number, −1 while tentative
    x: States  # (N, 6) ECEF [m m m m/s m/s m/s] at time t
    P: Covs  # (N, 6, 6) covariance of x
    t: Array  # (N,) time of x and P, scenario s
    t_born: Array  # (N,) time of the initiating plot, s
    t_update: Array  # (N,) time of the last plot, s
    q_scale: Array  # (N,) manoeuvre scale on the process noise (≥ 1)
    history: (
        np.ndarray
    )  # (N,) uint32 hit(1)/miss(0) bits of the latest detection chances, newest lowest
    chances: np.ndarray  # (N,) int64 detection chances so far (plots + misses)
    misses: np.ndarray  # (N,) int64 consecutive misses
    score: Array  # (N,) track score: log-likelihood ratio target vs false plots (``score``)
    sensors: np.ndarray  # (N, S) bool: sensor s contributed a plot (see Tracker.sensor_ids)
    mu: Array  # (N, r) mode probabilities of a multiple-model filter (r = 0: single model)
    xm: Array  # (N, r, n) mode-conditioned states, ECEF first (n ≥ 6, see the model)
    Pm: Covs  # (N, r, n, n) their covariances

    @staticmethod
    def empty(n_sensors: int = 0, n_modes: int = 0, mode_dim: int = 6) -> TrackTable:
        """A table with no tracks (``n_modes`` modes of ``mode_dim`` states per track for a
        multiple-model filter)."""
        i, f = np.empty(0, np.int64), np.empty(0)
        return TrackTable(
            i,
            i,
            np.empty((0, 6)),
            np.empty((0, 6, 6)),
            f,
            f,
            f,
            f,
            np.empty(0, np.uint32),
            i,
            i,
            f,
            np.zeros((0, n_sensors), bool),
            np.empty((0, n_modes)),
            np.empty((0, n_modes, mode_dim)),
            np.empty((0, n_modes, mode_dim, mode_dim)),
        )

    @staticmethod
    def new(
        uid: np.ndarray,
        x: States,
        P: Covs,
        t: float,
        sensor: int,
        n_sensors: int,
        modes: tuple[Array, Array, Covs] | None = None,
    ) -> TrackTable:
        """K new tentative tracks born at ``t`` from one plot each of sensor column ``sensor``.

        ``modes`` are the multiple-model fields (μ, x_j, P_j) of the new tracks, if any.
        """
        k = len(uid)
        if modes is None:
            modes = (np.empty((k, 0)), np.empty((k, 0, 6)), np.empty((k, 0, 6, 6)))
        sensors = np.zeros((k, n_sensors), bool)
        sensors[:, sensor] = True
        tt = np.full(k, float(t))
        return TrackTable(
            uid.astype(np.int64),
            np.full(k, -1, np.int64),
            x,
            P,
            tt,
            tt.copy(),
            tt.copy(),
            np.ones(k),
            np.ones(k, np.uint32),
            np.ones(k, np.int64),
            np.zeros(k, np.int64),
            np.zeros(k),
            sensors,
            *modes,
        )

    def __len__(self) -> int:
        return len(self.uid)

    @property
    def confirmed(self) -> Mask:
        """(N,) True for confirmed tracks."""
        return self.number >= 0

    def keep(self, mask: Mask) -> None:
        """Keep only the rows where ``mask`` (N,) is True."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[mask])

    def append(self, other: TrackTable) -> None:
        """Append the rows of ``other`` (same sensor columns) at the end."""
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), getattr(other, f.name)]))

    def add_sensor_column(self) -> None:
        """Make room for one more sensor (a new column of False)."""
        self.sensors = np.concatenate([self.sensors, np.zeros((len(self), 1), bool)], axis=1)
