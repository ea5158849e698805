"""Score MEAD's local tracker on a recorded multi-target scenario (``mead track FILE.npz``).

A recording (``/work/shared/data/mtt/FORMAT.md``) holds 2D x, y position plots of a
sensor surveying a plane, one scan per ``dt``. MEAD's tracker runs on them unchanged
(the same ``Tracker`` as on radar scans) through its Cartesian measurement model:

- the plane is the local tangent plane (east = x, north = y) at a notional point, 0° N
  0° E; each plot becomes a ``CartesianScan`` plot [x, y, up = 0];
- the up component is a pseudo-measurement with σ = ``SIGMA_UP_M`` (1 m), so tracks stay
  on the plane. It adds one χ² degree of freedom to the gate and the same factor to the
  likelihood of a target and of clutter, so the clutter density given to GNN is the
  recording's areal density divided by that factor's normalisation √(2π S_up);
- the sensor sees the whole plane (``FullCoverage``): every track without a plot misses;
- the motion model is CV with the recording's q, without manoeuvre adaptation; a track is
  confirmed with 3 plots in its first 5 scans and deleted after 5 misses in a row.

Each scan's score is GOSPA between the true positions and the tracker's confirmed tracks
(what it would report) at that scan.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mead.errors import ConfigError
from mead.metrics.gospa import gospa
from mead.tracking.association import GNN
from mead.tracking.base import CartesianScan
from mead.tracking.management import FullCoverage, MOfNManager, OnePointInitiator
from mead.tracking.measurement import CartesianFrame
from mead.tracking.motion import ConstantVelocity
from mead.tracking.tracker import Tracker

SIGMA_UP_M = 1.0
"""1-σ of the up = 0 pseudo-measurement that keeps 2D tracks on the plane, m."""

FRAME = CartesianFrame.from_geodetic(0.0, 0.0, 0.0)
"""The notional tangent plane of a recording (east = x, north = y)."""

ARRAYS = ("truth", "det_scan", "det_xy", "dt", "sigma", "pd", "clutter_rate", "q", "area")


@dataclass(frozen=True)
class Recording:
    """A recorded 2D scenario: truth, plots and the parameters it was made with."""

    truth: np.ndarray  # (T, N, 4) x, vx, y, vy (m, m/s), NaN where absent
    det_scan: np.ndarray  # (M,) int scan index of each plot
    det_xy: np.ndarray  # (M, 2) measured x, y, m
    dt: float  # scan period, s
    sigma: float  # plot noise per axis, m
    pd: float  # detection probability
    clutter_rate: float  # mean false plots per scan
    q: float  # truth's acceleration noise density, m²/s³
    area: np.ndarray  # (4,) xmin, xmax, ymin, ymax, m
    gospa_c: float = 1000.0  # GOSPA cut-off, m
    gospa_p: float = 1.0  # GOSPA order
    gospa_alpha: float = 2.0  # GOSPA α

    @property
    def n_scans(self) -> int:
        """Number of scans T."""
        return len(self.truth)

    def plots(self) -> Iterator[tuple[float, np.ndarray]]:
        """(t s, plots (M_k, 2) m) of each scan in order."""
        order = np.argsort(self.det_scan, kind="stable")
        scans, xy = self.det_scan[order], self.det_xy[order]
        bounds = np.searchsorted(scans, np.arange(self.n_scans + 1))
        for k in range(self.n_scans):
            yield k * self.dt, xy[bounds[k] : bounds[k + 1]]

    def truth_xy(self, k: int) -> np.ndarray:
        """True positions (N_k, 2) m of the targets present at scan ``k``."""
        xy = self.truth[k][:, [0, 2]]
        return xy[np.isfinite(xy).all(axis=1)]


def load_recording(path: str | Path) -> Recording:
    """Load a recording ``.npz``; ``ConfigError`` naming the file and array if malformed."""
    src = str(path)
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise ConfigError(src, f"cannot read as .npz ({e})") from None
    with data:
        missing = [k for k in ARRAYS if k not in data.files]
        if missing:
            raise ConfigError(src, f"missing arrays {missing} (see FORMAT.md)")
        a = {k: data[k] for k in (*ARRAYS, *(["gospa"] if "gospa" in data.files else []))}
    truth, xy = np.asarray(a["truth"], np.float64), np.asarray(a["det_xy"], np.float64)
    scan = np.asarray(a["det_scan"]).astype(np.intp)
    if truth.ndim != 3 or truth.shape[2] != 4:
        raise ConfigError(src, f"must have shape (T, N, 4) (got {truth.shape})", "truth")
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
        raise ConfigError(src, f"must be finite, shape (M, 2) (got {xy.shape})", "det_xy")
    if scan.shape != (len(xy),) or (len(scan) and (scan.min() < 0 or scan.max() >= len(truth))):
        raise ConfigError(src, f"must be (M,) scan indices in 0..{len(truth) - 1}", "det_scan")
    for k in ("dt", "sigma", "pd", "clutter_rate", "q"):
        v = float(a[k])
        if not (np.isfinite(v) and v > 0):
            raise ConfigError(src, f"must be > 0 (got {v})", k)
    g = np.asarray(a.get("gospa", [1000.0, 1.0, 2.0]), np.float64).reshape(-1)
    return Recording(
        truth, scan, xy, float(a["dt"]), float(a["sigma"]), float(a["pd"]),
        float(a["clutter_rate"]), float(a["q"]), np.asarray(a["area"], np.float64),
        *(float(v) for v in g[:3]),
    )  # fmt: skip


def simulate_recording(
    n_targets: int,
    seed: int,
    *,
    n_scans: int = 60,
    dt: float = 1.0,
    sigma: float = 50.0,
    pd: float = 0.9,
    clutter_rate: float = 20.0,
    q: float = 1.0,
    side_m: float = 200_000.0,
) -> Recording:
    """A seeded recording in the style of FORMAT.md, in memory (tests, scaling benchmarks).

    Targets start uniform in a square of ``side_m``, speeds uniform 50–300 m/s, headings
    uniform, and move nearly at constant velocity (exact discretisation of white-noise
    acceleration of density ``q`` m²/s³ per axis); plots have Pd ``pd``, Gaussian noise
    ``sigma`` m per axis, and Poisson clutter of mean ``clutter_rate`` per scan.
    """
    rng = np.random.default_rng(seed)
    speed, heading = rng.uniform(50, 300, n_targets), rng.uniform(0, 2 * np.pi, n_targets)
    s = np.column_stack(
        [rng.uniform(0, side_m, n_targets), speed * np.cos(heading),
         rng.uniform(0, side_m, n_targets), speed * np.sin(heading)]
    )  # fmt: skip
    F = np.array([[1, dt], [0, 1]])
    Q = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    L = np.linalg.cholesky(Q)
    truth = np.empty((n_scans, n_targets, 4))
    scans, xy = [], []
    for k in range(n_scans):
        if k:
            for a in (0, 2):
                w = rng.standard_normal((n_targets, 2)) @ L.T
                s[:, a : a + 2] = s[:, a : a + 2] @ F.T + w
        truth[k] = s
        seen = rng.random(n_targets) < pd
        n_false = rng.poisson(clutter_rate)
        plots = s[seen][:, [0, 2]] + rng.normal(0, sigma, (int(seen.sum()), 2))
        xy += [plots, rng.uniform(0, side_m, (n_false, 2))]
        scans.append(np.full(len(plots) + n_false, k))
    area = np.array([0.0, side_m, 0.0, side_m])
    return Recording(
        truth, np.concatenate(scans).astype(np.intp), np.concatenate(xy), dt, sigma, pd,
        clutter_rate, q, area,
    )  # fmt: skip


def mtt_tracker(rec: Recording) -> Tracker:
    """MEAD's tracker configured from a recording's parameters (see the module doc)."""
    xmin, xmax, ymin, ymax = rec.area
    areal = rec.clutter_rate / ((xmax - xmin) * (ymax - ymin))  # false plots per m² per scan
    s_up = 2.0 * SIGMA_UP_M**2  # up innovation variance: pseudo-plot + a settled track
    return Tracker(
        "REC",
        # the recording's q, fixed: scale_max = 1 turns the manoeuvre adaptation off
        motion=ConstantVelocity(q_slow=rec.q, q_fast=rec.q, scale_max=1.0),
        associator=GNN(pd=min(rec.pd, 0.99), clutter_density=areal / np.sqrt(2 * np.pi * s_up)),
        initiator=OnePointInitiator(vel_std_h_mps=250.0, vel_std_v_mps=SIGMA_UP_M),
        manager=MOfNManager(m=3, n=5, max_misses=5, confirm_llr=None),  # as measured vs Stone Soup
        coverage=FullCoverage(),
    )


def cartesian_scan(t: float, xy: np.ndarray, sigma: float) -> CartesianScan:
    """A scan of 2D plots (M, 2) m at ``t`` s embedded on the plane (up = 0, σ_up 1 m)."""
    z = np.column_stack([xy, np.zeros(len(xy))])
    sig = np.array([sigma, sigma, SIGMA_UP_M])
    return CartesianScan("rec", "REC", t, FRAME, z, sig, np.full(len(xy), -1))


def run_mead(
    rec: Recording, max_scans: int | None = None, tracker: Tracker | None = None
) -> tuple[list[np.ndarray], float]:
    """Track the recording; the confirmed tracks' x, y (K_k, 2) m per scan, tracker seconds.

    ``tracker`` defaults to ``mtt_tracker(rec)``; give another set-up to compare.
    """
    tracker = tracker or mtt_tracker(rec)
    out: list[np.ndarray] = []
    busy = 0.0
    for k, (t, xy) in enumerate(rec.plots()):
        if max_scans is not None and k >= max_scans:
            break
        scan = cartesian_scan(t, xy, rec.sigma)
        t0 = time.perf_counter()
        tracker.step(scan)
        rep = tracker.report(t)
        busy += time.perf_counter() - t0
        out.append(FRAME.from_ecef(rep.x[:, :3])[:, :2])
    return out, busy


def score(rec: Recording, est: list[np.ndarray], seconds: float) -> dict[str, Any]:
    """GOSPA per scan of estimates ``est`` (one (K_k, 2) array per scan) and the rates."""
    g = [
        gospa(rec.truth_xy(k), e, rec.gospa_c, rec.gospa_p, rec.gospa_alpha)
        for k, e in enumerate(est)
    ]
    d = np.array([x.distance for x in g])
    n = len(est)
    n_plots = int(np.count_nonzero(rec.det_scan < n))
    last = n - 1
    return {
        "scans": n,
        "targets": int(rec.truth.shape[1]),
        "plots": n_plots,
        "gospa_mean_m": float(d.mean()),
        "gospa_last20_mean_m": float(d[-20:].mean()),
        "missed_last20_mean": float(np.mean([x.missed for x in g[-20:]])),
        "false_last20_mean": float(np.mean([x.false for x in g[-20:]])),
        "tracks_last_scan": len(est[last]),
        "truths_last_scan": len(rec.truth_xy(last)),
        "time_per_scan_s": seconds / n,
        "plots_per_s": n_plots / seconds if seconds > 0 else float("inf"),
    }


def track_file(path: str | Path) -> dict[str, Any]:
    """Run MEAD's tracker on the recording at ``path``; the score as a JSON-able dict."""
    rec = load_recording(path)
    est, seconds = run_mead(rec)
    return {"file": str(path), "tracker": "mead", **score(rec, est, seconds)}
