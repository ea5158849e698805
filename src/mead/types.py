"""Shared array vocabulary: aliases that carry shape, unit and frame in their name and doc."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
"""Any float64 array; prefer a more specific alias below."""

ArrayLike = float | NDArray[np.floating[Any]] | NDArray[np.integer[Any]]
"""A scalar or an array, for kernels that broadcast their inputs (geodesy)."""

States = NDArray[np.float64]
"""(N, 6) ECEF state [x y z vx vy vz] in m and m/s."""

Covs = NDArray[np.float64]
"""(N, d, d) covariance matrices in the units of the matching state or measurement."""

Positions = NDArray[np.float64]
"""(N, 3) ECEF position in m."""

Meas = NDArray[np.float64]
"""(M, 3) polar measurement [range m, azimuth rad, elevation rad] in a sensor's local frame,
or (M, 4) with the range rate [m/s] appended (a radar that measures Doppler)."""

Matrix = NDArray[np.float64]
"""A single 2-D matrix."""

Index = NDArray[np.intp]
"""(K,) integer indices into another array."""

Mask = NDArray[np.bool_]
"""(N,) boolean selection."""
