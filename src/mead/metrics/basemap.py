"""Coastlines and borders for report plots, decoded from the bundled Natural Earth TopoJSON."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np


@cache
def border_lines() -> list[np.ndarray]:
    """Every arc of the world-atlas 110m countries topology as a (K, 2) [lon, lat] deg array.

    TopoJSON arcs are quantised and delta-encoded: position = cumsum(deltas) · scale +
    translate. The arcs are the shared borders and coastlines, each drawn once.
    """
    ref = resources.files("mead") / "data" / "basemap" / "countries-110m.json"
    topo = json.loads(ref.read_text())
    scale = np.asarray(topo["transform"]["scale"])
    shift = np.asarray(topo["transform"]["translate"])
    return [
        np.cumsum(np.asarray(a, dtype=np.float64), axis=0) * scale + shift for a in topo["arcs"]
    ]
