"""The system tracker's contributor table: latest state and STN of every live source track."""

from __future__ import annotations

import numpy as np

from mead.types import Array, Covs, Index, Mask, States

Key = tuple[int, str]
"""(source code, source track id)."""

_COLUMNS = ("x", "P", "t", "src", "stn", "rank", "quality", "joined", "misses")


class Contributors:
    """Column arrays with one row per live source track; rows are compacted on removal.

    ``stn`` is 0 for a row not (yet) mapped to a system track. ``joined`` is a sequence
    number stamped when the row got its current STN (smaller = joined earlier). ``misses``
    counts consecutive failed consistency re-checks.
    """

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.index: dict[Key, int] = {}
        self.x: States = np.empty((0, 6))  # (C, 6) ECEF at ``t``
        self.P: Covs = np.empty((0, 6, 6))  # (C, 6, 6)
        self.t: Array = np.empty(0)  # (C,) time of validity, UTC s
        self.src = np.empty(0, np.int64)  # (C,) source code
        self.stn = np.empty(0, np.int64)  # (C,) system track number, 0 = unmapped
        self.rank = np.empty(0, np.int64)  # (C,) class threat rank
        self.quality: Array = np.empty(0)  # (C,) 0..1
        self.joined = np.empty(0, np.int64)  # (C,) join sequence number
        self.misses = np.empty(0, np.int64)  # (C,) consecutive re-check failures

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, src: int, ids: list[str]) -> Index:
        """(M,) row of each (src, id), or -1 when unknown."""
        get = self.index.get
        return np.fromiter((get((src, i), -1) for i in ids), dtype=np.intp, count=len(ids))

    def update(
        self, rows: Index, x: States, P: Covs, t: Array, rank: Index, quality: Array
    ) -> None:
        """Overwrite the state of existing rows."""
        self.x[rows], self.P[rows], self.t[rows] = x, P, t
        self.rank[rows], self.quality[rows] = rank, quality

    def append(
        self, src: int, ids: list[str], x: States, P: Covs, t: Array, rank: Index, quality: Array
    ) -> Index:
        """Add unmapped rows for new source tracks; returns their row indices."""
        n0, m = len(self.keys), len(ids)
        new = {
            "x": x,
            "P": P,
            "t": t,
            "src": np.full(m, src, np.int64),
            "stn": np.zeros(m, np.int64),
            "rank": rank.astype(np.int64),
            "quality": quality,
            "joined": np.zeros(m, np.int64),
            "misses": np.zeros(m, np.int64),
        }
        for name in _COLUMNS:
            setattr(self, name, np.concatenate([getattr(self, name), new[name]]))
        keys = [(src, i) for i in ids]
        self.keys.extend(keys)
        self.index.update(zip(keys, range(n0, n0 + m), strict=True))
        return np.arange(n0, n0 + m)

    def remove(self, gone: Mask) -> int:
        """Delete the rows where ``gone`` is True; returns how many."""
        n = int(np.count_nonzero(gone))
        if n:
            keep = ~gone
            for name in _COLUMNS:
                setattr(self, name, getattr(self, name)[keep])
            self.keys = [k for k, g in zip(self.keys, gone.tolist(), strict=True) if not g]
            self.index = {k: i for i, k in enumerate(self.keys)}
        return n
