"""Track score: the log-likelihood ratio that a track is a target rather than false plots.

The sequential probability ratio test of Blackman & Popoli (*Design and Analysis of
Modern Tracking Systems*, 1999, §6.2) adds, on every detection chance of a track,

    hit:   ΔL = ln P_D + ln g − ln β_FA,   g = exp(−d²/2) / √((2π)^m |S|)
    miss:  ΔL = ln(1 − P_D)

where d² = yᵀS⁻¹y is the plot's squared Mahalanobis distance, S its innovation covariance
(m components, in the sensor's measurement units) and β_FA the density of false plots in
the same units. A plot that falls tightly on a track's prediction, in a sensor whose false
plots are sparse, is strong evidence: on the reference raid's long-range radars one such
second plot gives ΔL ≈ 10. A track whose score reaches ln((1 − β)/α) is confirmed (α:
probability of confirming a false track, β: of dropping a true one), which confirms fast
targets on their second or third plot even when a look in between missed them, where an
M-of-N rule needs M plots.

``ClutterMap`` learns β_FA per sensor from its scans: the mean number of plots per scan
that no confirmed track takes, over the measurement volume its plots span.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from mead.types import Array, Meas

LN_2PI = float(np.log(2.0 * np.pi))


def log_likelihood(d2: Array, logdet: Array, m: int) -> Array:
    """ln g (K,) of plots at squared Mahalanobis distance ``d2`` (K,) under N(0, S).

    ``logdet`` (K,) is ln |S| in the plot units; ``m`` the number of plot components.
    """
    return -0.5 * (d2 + logdet + m * LN_2PI)


def confirm_threshold(alpha: float, beta: float) -> float:
    """The SPRT's upper threshold ln((1 − β) / α) for false-track probability ``alpha``
    and true-track loss probability ``beta``."""
    if not (0.0 < alpha < 1.0 and 0.0 <= beta < 1.0):
        raise ValueError(f"need 0 < alpha < 1 and 0 <= beta < 1 (got {alpha}, {beta})")
    return float(np.log((1.0 - beta) / alpha))


@dataclass
class _SensorClutter:
    """What one sensor's plots have shown so far."""

    lo: Array  # (m,) smallest plot component seen
    hi: Array  # (m,) largest
    polar: bool  # component 1 is an azimuth, rad
    az_seen: np.ndarray  # (360,) bool: a plot in that whole degree (polar sensors)
    false_per_scan: float  # EWMA of plots no confirmed track took, per scan


@dataclass
class ClutterMap:
    """Learned false-plot density β_FA per sensor, in its measurement space.

    β_FA = n̄ / V: n̄ is an exponentially weighted mean (weight ``weight`` per scan) of the
    plots per scan that no confirmed track took (clutter, and new targets, which makes it
    an overestimate: conservative), floored at ``min_false_per_scan``; V is the product of
    the spans of the sensor's plots in each component, each at least 6 σ of that component,
    with the azimuth of a polar sensor measured by the whole degrees its plots fall in (so
    a sector across north is not taken for a full circle). Until a sensor's plots have
    filled its coverage, V is small and β_FA large: scores then grow slowly.
    """

    weight: float = 0.05  # EWMA weight of the newest scan's count
    min_false_per_scan: float = 0.1  # floor of n̄, plots per scan
    sensors: dict[str, _SensorClutter] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, object]) -> ClutterMap:
        """A copy that shares nothing mutable (the tracker checkpoints it every few
        seconds; ``copy.deepcopy``'s generic walk was a few % of the tracker)."""
        sensors = {
            k: dataclasses.replace(c, lo=c.lo.copy(), hi=c.hi.copy(), az_seen=c.az_seen.copy())
            for k, c in self.sensors.items()
        }
        return ClutterMap(self.weight, self.min_false_per_scan, sensors)

    def observe(self, sensor_id: str, z: Meas, n_false: int, polar: bool) -> None:
        """Learn from one scan's plots z (M, m) of which ``n_false`` no confirmed track took.

        ``polar``: component 1 is an azimuth in rad (counted by whole degrees).
        """
        s = self.sensors.get(sensor_id)
        if s is None:
            m = z.shape[1] if z.ndim == 2 else 3
            s = _SensorClutter(
                np.full(m, np.inf), np.full(m, -np.inf), polar, np.zeros(360, bool), float(n_false)
            )
            self.sensors[sensor_id] = s
        else:
            s.false_per_scan += self.weight * (n_false - s.false_per_scan)
        if len(z):
            s.lo = np.minimum(s.lo, z.min(axis=0))
            s.hi = np.maximum(s.hi, z.max(axis=0))
            if s.polar:
                s.az_seen[np.floor(np.degrees(z[:, 1])).astype(np.intp) % 360] = True

    def log_density(self, sensor_id: str, sigma: Array) -> float:
        """ln β_FA of the sensor, per unit of its measurement volume (e.g. m·rad²).

        ``sigma`` (m,) is the plot noise, whose 6 σ floors each span.
        """
        s = self.sensors.get(sensor_id)
        floor = 6.0 * np.asarray(sigma, dtype=np.float64)
        if s is None or not np.isfinite(s.lo).all():
            span = floor
        else:
            span = np.maximum(s.hi - s.lo, floor)
            if s.polar:
                span[1] = max(np.count_nonzero(s.az_seen) * np.pi / 180.0, floor[1])
        n = max(s.false_per_scan if s is not None else 0.0, self.min_false_per_scan)
        return float(np.log(n) - np.sum(np.log(span)))
