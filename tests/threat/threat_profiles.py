"""Test helpers: truth flight profiles and track-like noise for the threat-stage tests."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from mead import geo
from mead.flight import acceleration as ecef_acceleration
from mead.flight import height_m as ground_height_m


def enu2state(lat_deg, lon_deg, alt_m, v_enu) -> np.ndarray:
    """(N,) geodetic positions and (N, 3) ENU velocities → (N, 6) ECEF states."""
    lat, lon = np.atleast_1d(lat_deg), np.atleast_1d(lon_deg)
    p = geo.geodetic2ecef(lat, lon, np.atleast_1d(alt_m)).reshape(-1, 3)
    R = geo.enu_rotations(lat, lon).reshape(-1, 3, 3)
    return np.concatenate([p, np.einsum("nji,nj->ni", R, np.atleast_2d(v_enu))], axis=1)


def flight(t, alt_m, speed_mps, heading_deg, lat0=32.0, lon0=35.0) -> np.ndarray:
    """States (T, 6) of a flight sampled at times t with altitude, 3-D speed and heading."""
    t, alt = np.asarray(t, float), np.asarray(alt_m, float)
    V = np.broadcast_to(np.asarray(speed_mps, float), t.shape)
    hd = np.radians(np.broadcast_to(np.asarray(heading_deg, float), t.shape))
    vz = np.gradient(alt, t)
    vg = np.sqrt(np.maximum(V**2 - vz**2, 0.0))
    s = np.concatenate([[0.0], np.cumsum(0.5 * (vg[1:] + vg[:-1]) * np.diff(t))])
    # integrate the ground track with the heading history (small steps, local flat earth)
    de = np.concatenate([[0.0], np.cumsum(np.diff(s) * np.sin(hd[1:]))])
    dn = np.concatenate([[0.0], np.cumsum(np.diff(s) * np.cos(hd[1:]))])
    lat = lat0 + np.degrees(dn / geo.R_MEAN_M)
    lon = lon0 + np.degrees(de / (geo.R_MEAN_M * np.cos(np.radians(lat0))))
    v_enu = np.stack([vg * np.sin(hd), vg * np.cos(hd), vz], axis=1)
    return enu2state(lat, lon, alt, v_enu)


def airliner(dt=4.0, climb_mps=10.0, descent_mps=8.0, cruise_s=1200.0, atc_250kt=False):
    """Times (T,) and states (T, 6) of a whole civil flight: climb, cruise, descent, landing.

    Speed is 80 → 230 m/s with altitude on the climb, 230 m/s at 10.7 km, and 230 → 75 m/s
    on the descent; with ``atc_250kt`` it stays ≤ 128 m/s below 3 km (the 250 kt rule).
    """
    top = 10_700.0
    t_climb, t_desc = top / climb_mps, top / descent_mps
    t = np.arange(0.0, t_climb + cruise_s + t_desc, dt)
    alt = np.minimum(
        np.minimum(t * climb_mps, top), (t_climb + cruise_s + t_desc - t) * descent_mps
    )
    up = t < t_climb + cruise_s
    if atc_250kt:
        low = np.interp(alt, [0.0, 3000.0, top], [80.0, 128.0, 230.0])
        v = np.where(up, low, np.interp(alt, [0.0, 3000.0, top], [75.0, 128.0, 230.0]))
    else:
        v = np.where(up, 80.0 + 150.0 * alt / top, 75.0 + 155.0 * alt / top)
    return t, flight(t, alt, v, 300.0)


def weave(t, period_s=300.0, amp_deg=25.0, base_deg=270.0):
    """A heading history with gentle turns, deg."""
    return base_deg + amp_deg * np.sin(2 * np.pi * np.asarray(t) / period_s)


def kepler_arc(lat0=34.3, lon0=47.1, alt0=80e3, speed=3600.0, gamma_deg=40.0, az_deg=265.0):
    """Drag-free ballistic arc from a burnout state: (dense solution, t_impact, p_impact)."""
    x0 = enu2state(lat0, lon0, alt0, [_venu(speed, gamma_deg, az_deg)])[0]

    def f(_t, s):
        return np.r_[s[3:], ecef_acceleration(s[:3, None], s[3:, None])[:, 0]]

    def ground(_t, s):
        return ground_height_m(s[:3, None])[0]

    ground.terminal, ground.direction = True, -1
    sol = solve_ivp(f, (0, 5000), x0, rtol=1e-11, atol=1e-6, events=ground, dense_output=True)
    return sol.sol, float(sol.t_events[0][0]), sol.y_events[0][0][:3]


def _venu(speed, gamma_deg, az_deg):
    g, a = np.radians(gamma_deg), np.radians(az_deg)
    return speed * np.array([np.cos(g) * np.sin(a), np.cos(g) * np.cos(a), np.sin(g)])


def noisy_track(
    x_true, t, rng, *, sig_p=150.0, sig_v0=40.0, sig_v1=6.0, conv_s=40.0, vert=2.0, corr_s=20.0
):
    """Track-like estimates of a truth sequence: correlated errors consistent with P.

    The velocity 1-σ decays from ``sig_v0`` to ``sig_v1`` with time constant ``conv_s``;
    vertical σ is ``vert`` times the horizontal one. Errors are AR(1) with correlation
    time ``corr_s`` so they persist over several updates.

    Returns (x (T, 6), P (T, 6, 6)).
    """
    t = np.asarray(t, float)
    T = t.size
    tau = t - t[0]
    sv = sig_v1 + (sig_v0 - sig_v1) * np.exp(-tau / conv_s)
    scale = np.stack(
        [np.full(T, sig_p), np.full(T, sig_p), np.full(T, vert * sig_p), sv, sv, vert * sv], axis=1
    )
    e = np.empty((T, 6))
    e[0] = rng.standard_normal(6)
    for k in range(1, T):
        a = np.exp(-(t[k] - t[k - 1]) / corr_s)
        e[k] = a * e[k - 1] + np.sqrt(1 - a * a) * rng.standard_normal(6)
    err_enu = e * scale
    lat, lon, _ = geo.ecef2geodetic(x_true[:, :3])
    R = geo.enu_rotations(lat, lon).reshape(-1, 3, 3)
    Rt = R.swapaxes(1, 2)
    x = x_true.copy()
    x[:, :3] += np.einsum("nij,nj->ni", Rt, err_enu[:, :3])
    x[:, 3:] += np.einsum("nij,nj->ni", Rt, err_enu[:, 3:])
    P = np.zeros((T, 6, 6))
    P[:, :3, :3] = Rt @ (np.eye(3) * scale[:, None, :3] ** 2) @ R
    P[:, 3:, 3:] = Rt @ (np.eye(3) * scale[:, None, 3:] ** 2) @ R
    return x, P


def classify_tracks(clf, tracks, with_time=True):
    """Feed tracks {id: (t (T,), x (T, 6), P (T, 6, 6))} to a classifier in time order, all
    tracks with an update at the same time in one batch; returns {id: [class per update]}."""
    steps = {}
    for tid, (t, _x, _P) in tracks.items():
        for k, tk in enumerate(np.asarray(t, float).tolist()):
            steps.setdefault(tk, []).append((tid, k))
    out = {tid: [] for tid in tracks}
    for tk in sorted(steps):
        live = steps[tk]
        ids = [tid for tid, _ in live]
        x = np.stack([tracks[tid][1][k] for tid, k in live])
        P = np.stack([tracks[tid][2][k] for tid, k in live])
        for tid, c in zip(ids, clf.classify(ids, x, P, t=tk if with_time else None), strict=True):
            out[tid].append(c)
    return out


def boosted_arc(burn_s=70.0, thrust_mps2=45.0, gamma_deg=50.0, lat0=34.3, lon0=47.1, az_deg=265.0):
    """A missile thrusting in a fixed direction (elevation ``gamma_deg`` at launch) for
    ``burn_s``, then coasting; no drag. Returns (dense solution, burnout time, impact time).
    """
    x0 = enu2state(lat0, lon0, 10.0, [_venu(1.0, gamma_deg, az_deg)])[0]
    u = x0[3:] / np.linalg.norm(x0[3:])

    def f(t, s):
        a = ecef_acceleration(s[:3, None], s[3:, None])[:, 0]
        return np.r_[s[3:], a + (thrust_mps2 * u if t < burn_s else 0.0)]

    def ground(t, s):
        return ground_height_m(s[:3, None])[0] + (1.0 if t < 1.0 else 0.0)

    ground.terminal, ground.direction = True, -1
    sol = solve_ivp(
        f, (0, 3000), x0, rtol=1e-10, atol=1e-6, events=ground, dense_output=True, max_step=1.0
    )
    return sol.sol, burn_s, float(sol.t_events[0][0])
