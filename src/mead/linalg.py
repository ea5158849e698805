"""Small linear algebra on stacks of matrices that numpy's LAPACK loops make slow.

``np.linalg.eigvalsh`` on thousands of 3×3 blocks runs LAPACK's general solver once per
block (about 2 µs each); the gates, the association and the release policy only need the
largest eigenvalue of a position or velocity block, which has a closed form.
"""

from __future__ import annotations

import numba
import numpy as np

from mead.types import Array, Covs


def max_eigenvalue_3x3(S: Covs) -> Array:
    """(N,) largest eigenvalue of each symmetric 3×3 block of ``S`` (N, 3, 3).

    The trigonometric closed form of the symmetric 3×3 eigenproblem (Smith 1961): with
    q = tr S / 3, p² = ‖S − qI‖²_F / 6 and r = det((S − qI)/p) / 2,
    λmax = q + 2p cos(acos(r) / 3). It agrees with ``np.linalg.eigvalsh(S)[:, -1]`` to
    ~1e-12 of the largest eigenvalue, least closely where the eigenvalues are nearly equal
    (``tests/test_linalg.py``). Only the upper triangle is read; any layout of ``S`` is
    accepted (e.g. ``P[:, :3, :3]`` of a 6×6 stack).
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 3 or S.shape[1:] != (3, 3):
        raise ValueError(f"'S' must have shape (N, 3, 3), got {S.shape}")
    out = np.empty(S.shape[0])
    _max_eig(S, out)
    return out


@numba.njit("void(f8[:, :, :], f8[::1])", cache=True)
def _max_eig(S: Covs, out: Array) -> None:
    for n in range(S.shape[0]):
        a, b, c = S[n, 0, 0], S[n, 0, 1], S[n, 0, 2]
        d, e, f = S[n, 1, 1], S[n, 1, 2], S[n, 2, 2]
        off = b * b + c * c + e * e
        q = (a + d + f) / 3.0
        a, d, f = a - q, d - q, f - q
        p2 = (a * a + d * d + f * f + 2.0 * off) / 6.0
        if not p2 > 0.0:  # a multiple of the identity (or not finite: passed on as is)
            out[n] = q if p2 == 0.0 else q + p2
            continue
        p = np.sqrt(p2)
        det = a * (d * f - e * e) - b * (b * f - e * c) + c * (b * e - d * c)
        r = min(max(det / (2.0 * p2 * p), -1.0), 1.0)
        out[n] = q + 2.0 * p * np.cos(np.arccos(r) / 3.0)
