"""Synthetic partners for the fusion tests: CV truth in ECEF and noisy released batches."""

from __future__ import annotations

import numpy as np

from mead.geo import enu_rotation, geodetic2ecef
from mead.messages import TrackBatch, arrays_to_tracks

LAT0, LON0 = 50.0, 20.0


def truth(n: int, rng: np.random.Generator, spread_m: float = 200_000.0) -> np.ndarray:
    """(n, 6) ECEF states at t = 0: objects at 1–12 km altitude flying 50–300 m/s level."""
    lat = LAT0 + rng.uniform(-1, 1, n) * spread_m / 111e3
    lon = LON0 + rng.uniform(-1, 1, n) * spread_m / 71e3
    alt = rng.uniform(1_000, 12_000, n)
    return place(lat, lon, alt, rng.uniform(0, 2 * np.pi, n), rng.uniform(50, 300, n))


def place(
    lat: np.ndarray, lon: np.ndarray, alt: np.ndarray, hdg: np.ndarray, speed: np.ndarray
) -> np.ndarray:
    """(n, 6) ECEF states for level flight at heading ``hdg`` (rad from north), m/s."""
    p = geodetic2ecef(np.asarray(lat), np.asarray(lon), np.asarray(alt))
    R = enu_rotation(LAT0, LON0)  # ENU → ECEF is Rᵀ (close enough over the test area)
    v_enu = np.stack([np.sin(hdg) * speed, np.cos(hdg) * speed, 0 * speed], axis=1)
    return np.hstack([p, v_enu @ R])


def at(x0: np.ndarray, t: float) -> np.ndarray:
    """Truth states at time ``t`` (CV)."""
    x = x0.copy()
    x[:, :3] += t * x0[:, 3:]
    return x


def random_cov(n: int, rng: np.random.Generator, pos_sd: float, vel_sd: float) -> np.ndarray:
    """(n, 6, 6) random SPD covariances with roughly the given position / velocity sd."""
    A = rng.normal(size=(n, 6, 6)) * 0.3 + np.eye(6)
    scale = np.r_[[pos_sd] * 3, [vel_sd] * 3]
    L = np.linalg.cholesky(A @ A.swapaxes(1, 2) / 2)
    L = L * scale[None, :, None]
    return L @ L.swapaxes(1, 2)


def noisy(x: np.ndarray, P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x + e with e ~ N(0, P), row by row."""
    L = np.linalg.cholesky(P)
    return x + (L @ rng.normal(size=(x.shape[0], 6, 1)))[:, :, 0]


def batch(
    source: str,
    ids: list[str],
    x: np.ndarray,
    P: np.ndarray,
    t: float,
    t_release: float | None = None,
    cls: list[str] | None = None,
    dropped: tuple[str, ...] = (),
) -> TrackBatch:
    """A TrackBatch of tracks valid at ``t`` released at ``t_release`` (default ``t``)."""
    tracks = tuple(arrays_to_tracks(ids, t, x, P, cls=cls))
    return TrackBatch(
        source=source, t=t if t_release is None else t_release, tracks=tracks, dropped=dropped
    )


def report(
    source: str,
    x0: np.ndarray,
    P: np.ndarray,
    t: float,
    rng: np.random.Generator,
    prefix: str = "T",
    latency_s: float = 0.5,
    objects: np.ndarray | None = None,
) -> TrackBatch:
    """One partner's batch: noisy tracks of ``objects`` (all by default) at t − latency."""
    idx = np.arange(x0.shape[0]) if objects is None else objects
    tt = t - latency_s
    x = noisy(at(x0[idx], tt), P[idx], rng)
    return batch(source, [f"{prefix}{i}" for i in idx], x, P[idx], tt, t_release=t)
