"""Terrain heights from SRTM ``.hgt`` tiles, for the coverage maps' terrain masking.

An SRTM tile ``N44W072.hgt`` covers 1° × 1° from its south-west corner (44 N, 72 W): a
square of big-endian int16 heights in metres, row 0 at the northern edge, column 0 at the
western edge, with posts on both edges (1201 × 1201 for SRTM3's 3″, 3601 × 3601 for
SRTM1's 1″). Voids are −32768. Heights are above the EGM96 geoid; MEAD treats them as
heights above the WGS84 ellipsoid (the geoid lies within about ±100 m of it, −28 m in New
Hampshire), which shifts a whole region's terrain and radars alike only where a site's
``alt_m`` was itself read off a map.

A folder without a tile for some place is sea level there (SRTM has no tiles over sea).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mead.errors import ConfigError
from mead.types import Array

VOID = -32768
"""SRTM's value of a post with no height."""

_NAME = re.compile(r"^([NS])(\d{2})([EW])(\d{3})\.hgt$", re.IGNORECASE)


def tile_name(lat_deg: int, lon_deg: int) -> str:
    """The SRTM file name of the tile whose south-west corner is (``lat_deg``, ``lon_deg``)."""
    ns, ew = ("N" if lat_deg >= 0 else "S"), ("E" if lon_deg >= 0 else "W")
    return f"{ns}{abs(lat_deg):02d}{ew}{abs(lon_deg):03d}.hgt"


def read_hgt(path: Path) -> Array:
    """One ``.hgt`` tile as a float (n, n) array of heights, m, row 0 north; voids become 0.

    Raises ``ConfigError`` naming the file when its size is not a square of int16 posts.
    """
    raw = np.fromfile(path, dtype=">i2")
    n = int(round(np.sqrt(raw.size)))
    if n * n != raw.size or n < 2:
        raise ConfigError(
            str(path), f"an SRTM .hgt tile must hold n×n int16 posts (got {raw.size * 2} bytes)"
        )
    h = raw.reshape(n, n).astype(np.float64)
    h[h == VOID] = 0.0
    return h


class Dem:
    """Terrain heights over a folder of SRTM tiles, loaded on first use.

    ``height_m(lat, lon)`` interpolates bilinearly between the four posts around each point;
    points where the folder has no tile are at 0 m (sea).
    """

    def __init__(self, folder: Path) -> None:
        """Index the ``.hgt`` tiles in ``folder`` (``ConfigError`` if it is not a folder)."""
        if not folder.is_dir():
            raise ConfigError(str(folder), "dem_dir must be a folder of SRTM .hgt tiles")
        self.folder = folder  # where the tiles are
        self.files: dict[tuple[int, int], Path] = {}  # (south lat, west lon) deg → tile file
        for f in folder.iterdir():
            m = _NAME.match(f.name)
            if m:
                lat = int(m[2]) * (1 if m[1].upper() == "N" else -1)
                lon = int(m[4]) * (1 if m[3].upper() == "E" else -1)
                self.files[(lat, lon)] = f
        self._tiles: dict[tuple[int, int], Array] = {}

    def tile(self, lat0: int, lon0: int) -> Array | None:
        """The tile with south-west corner (``lat0``, ``lon0``) deg, or None if there is none."""
        key = (lat0, lon0)
        if key not in self.files:
            return None
        if key not in self._tiles:
            self._tiles[key] = read_hgt(self.files[key])
        return self._tiles[key]

    def post_spacing_m(self) -> float:
        """North-south spacing of the posts of the finest tile, m (SRTM3: ~93 m)."""
        n = max((len(self.tile(*k)) for k in self.files), default=1201)  # type: ignore[arg-type]
        return 111_195.0 / (n - 1)

    def height_m(self, lat_deg: Array, lon_deg: Array) -> Array:
        """Terrain heights (shape of the inputs), m: bilinear in each tile, 0 without one."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        out = np.zeros(np.broadcast(lat, lon).shape)
        lat, lon = np.broadcast_to(lat, out.shape), np.broadcast_to(lon, out.shape)
        sw_lat, sw_lon = np.floor(lat).astype(np.int64), np.floor(lon).astype(np.int64)
        keys = np.unique(np.stack([sw_lat.ravel(), sw_lon.ravel()], axis=1), axis=0)
        for la, lo in keys.tolist():
            h = self.tile(la, lo)
            if h is None:
                continue
            sel = (sw_lat == la) & (sw_lon == lo)
            out[sel] = bilinear(h, lat[sel] - la, lon[sel] - lo)
        return out


def bilinear(h: Array, fy: Array, fx: Array) -> Array:
    """Heights (K,) inside one tile ``h`` (n, n), row 0 north, at fractions ``fy`` (K,) north
    of its southern edge and ``fx`` (K,) east of its western edge, both in [0, 1]."""
    n = h.shape[0] - 1
    r = (1.0 - fy) * n  # row from the north, fractional
    c = fx * n
    r0 = np.clip(np.floor(r).astype(np.int64), 0, n - 1)
    c0 = np.clip(np.floor(c).astype(np.int64), 0, n - 1)
    dr, dc = r - r0, c - c0
    top = h[r0, c0] * (1.0 - dc) + h[r0, c0 + 1] * dc
    bot = h[r0 + 1, c0] * (1.0 - dc) + h[r0 + 1, c0 + 1] * dc
    return np.asarray(top * (1.0 - dr) + bot * dr)
