"""Map rows: what the operator's map draws of each track, as columns, and the delta between two
moments of one node's picture.

A :class:`Rows` table holds N tracks as numpy columns (position in degrees and metres, course,
speed, climb, class, affiliation, quality), rounded to what a map shows, so that two
tables compare exactly and the delta the server pushes holds only tracks that visibly changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mead.geo import ecef2geodetic, enu_rotations
from mead.messages import THREAT_CLASSES

AFFILIATIONS = ("hostile", "suspect", "unknown", "friend", "neutral")
"""MIL-STD-2525 standard identities the map uses (``neutral``: civil traffic)."""

COLUMNS = ("key", "lat", "lon", "alt", "crs", "spd", "vz", "cls", "aff", "q")
"""Column order on the wire: key, lat deg, lon deg, alt m, course deg from north, ground speed
m/s, vertical speed m/s (up), class, affiliation, quality 0..1."""

_NUMERIC = ("lat", "lon", "alt", "crs", "spd", "vz", "q")
_DECIMALS = {"lat": 5, "lon": 5, "alt": 0, "crs": 1, "spd": 1, "vz": 1, "q": 2}


def states2map(x: np.ndarray) -> dict[str, np.ndarray]:
    """ECEF states (N, 6) m, m/s → lat, lon (deg), alt (m), crs (deg, [0, 360)), spd (ground
    speed, m/s) and vz (vertical speed, m/s), each (N,)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, 6)
    lat, lon, alt = ecef2geodetic(x[:, :3])
    enu = (enu_rotations(lat, lon) @ x[:, 3:, None])[..., 0]  # (N, 3) m/s
    crs = np.mod(np.degrees(np.arctan2(enu[:, 0], enu[:, 1])), 360.0)
    return {
        "lat": lat,
        "lon": lon,
        "alt": alt,
        "crs": crs,
        "spd": np.hypot(enu[:, 0], enu[:, 1]),
        "vz": enu[:, 2],
    }


_THREATS = frozenset(THREAT_CLASSES)


def affiliation(classes: np.ndarray, ident: np.ndarray) -> np.ndarray:
    """Standard identity per track from its class and ADS-B identification, (N,) str.

    A threat class is hostile; a track whose ADS-B claim the radar contradicts is suspect;
    an aircraft (identified civil, or flying like one) is neutral; the rest is unknown.
    Nothing the nodes track is friend today (no own interceptors are tracked)."""
    cls = np.asarray(classes, dtype=object)
    ident = np.asarray(ident, dtype=object)
    threat = np.fromiter((c in _THREATS for c in cls.tolist()), dtype=bool, count=cls.size)
    out = np.where(cls == "aircraft", "neutral", "unknown").astype(object)
    out[ident == "suspect"] = "suspect"
    out[threat] = "hostile"
    return out


@dataclass(frozen=True)
class Rows:
    """N tracks of one node's picture as columns (see :data:`COLUMNS`), keys unique."""

    key: np.ndarray  # (N,) object str: own track id, or "S<stn>" for a system track
    lat: np.ndarray  # (N,) deg
    lon: np.ndarray  # (N,) deg
    alt: np.ndarray  # (N,) m above WGS84
    crs: np.ndarray  # (N,) deg clockwise from north
    spd: np.ndarray  # (N,) ground speed, m/s
    vz: np.ndarray  # (N,) vertical speed, m/s
    cls: np.ndarray  # (N,) object str: class
    aff: np.ndarray  # (N,) object str: affiliation
    q: np.ndarray  # (N,) quality 0..1

    @classmethod
    def empty(cls) -> Rows:
        e, s = np.empty(0), np.empty(0, dtype=object)
        return cls(s, e, e, e, e, e, e, s, s, e)

    @classmethod
    def from_states(
        cls,
        keys: list[str],
        x: np.ndarray,
        classes: list[str],
        quality: np.ndarray,
        ident: np.ndarray | None = None,
    ) -> Rows:
        """Rows of N tracks from ECEF states (N, 6), classes, quality and ADS-B ids."""
        n = len(keys)
        if n == 0:
            return cls.empty()
        m = states2map(x)
        cl = np.asarray(classes, dtype=object)
        idn = np.full(n, "", dtype=object) if ident is None else np.asarray(ident, dtype=object)
        cols = {k: np.round(v, _DECIMALS[k]) for k, v in m.items()}
        return cls(
            key=np.asarray(keys, dtype=object),
            cls=cl,
            aff=affiliation(cl, idn),
            q=np.round(np.asarray(quality, dtype=np.float64), 2),
            **cols,
        )

    def __len__(self) -> int:
        return len(self.key)

    def take(self, idx: np.ndarray) -> Rows:
        """The rows at ``idx`` (index or boolean mask)."""
        return Rows(*(getattr(self, c)[idx] for c in COLUMNS))

    def concat(self, other: Rows) -> Rows:
        """These rows followed by ``other``'s (keys must not overlap)."""
        return Rows(*(np.concatenate([getattr(self, c), getattr(other, c)]) for c in COLUMNS))

    def columns(self) -> dict[str, list[Any]]:
        """The table as JSON-ready columns."""
        return {c: getattr(self, c).tolist() for c in COLUMNS}


def diff(prev: Rows, cur: Rows) -> tuple[Rows, list[str]]:
    """What changed from ``prev`` to ``cur``: rows new or with any column changed, and the
    keys of rows gone."""
    pidx = {k: i for i, k in enumerate(prev.key.tolist())}
    n = len(cur)
    where = np.fromiter((pidx.get(k, -1) for k in cur.key.tolist()), dtype=np.int64, count=n)
    seen = where >= 0
    changed = ~seen
    w = where[seen]
    if len(w):
        same = np.ones(len(w), dtype=bool)
        for c in (*_NUMERIC, "cls", "aff"):
            same &= getattr(cur, c)[seen] == getattr(prev, c)[w]
        changed[np.flatnonzero(seen)[~same]] = True
    kept = np.zeros(len(prev), dtype=bool)
    kept[w] = True
    return cur.take(changed), prev.key[~kept].tolist()


__all__ = ["AFFILIATIONS", "COLUMNS", "Rows", "affiliation", "diff", "states2map"]
