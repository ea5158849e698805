"""Tests of mead.threat.classify: evidence kernel, persistence, hysteresis, civil safety."""

from __future__ import annotations

import numpy as np
import pytest
from threat_profiles import (
    airliner,
    boosted_arc,
    classify_tracks,
    enu2state,
    flight,
    kepler_arc,
    noisy_track,
    weave,
)

from mead.errors import ThreatInputError
from mead.messages import THREAT_CLASSES, TRACK_CLASSES
from mead.threat.classify import (
    AIRCRAFT,
    BALLISTIC,
    CRUISE,
    DRONE,
    ROCKET,
    UNKNOWN,
    Classifier,
    classify_kinematics,
)


def _state(alt, speed, gamma_deg=0.0):
    g = np.radians(gamma_deg)
    return enu2state(32.0, 35.0, alt, [[0.0, speed * np.cos(g), speed * np.sin(g)]])


@pytest.mark.parametrize(
    ("alt", "speed", "gamma", "code"),
    [
        (150e3, 3000.0, -30.0, BALLISTIC),
        (30e3, 900.0, 20.0, BALLISTIC),  # high and fast enough
        (10e3, 1500.0, 30.0, BALLISTIC),  # fast enough anywhere
        (15e3, 700.0, 30.0, ROCKET),
        (22e3, 350.0, 0.0, ROCKET),  # above and faster than any airliner
        (22e3, 230.0, 0.0, AIRCRAFT),  # above any airliner, but at airliner speed
        (100.0, 250.0, 0.0, CRUISE),
        (1000.0, 51.0, 0.0, DRONE),
        (3000.0, 40.0, 0.0, DRONE),
        (10_700.0, 230.0, 0.0, AIRCRAFT),
        (1500.0, 110.0, -4.0, AIRCRAFT),  # approach
        (500.0, 70.0, 8.0, AIRCRAFT),  # slow climb-out, clearly climbing
        (2000.0, 250.0, 0.0, UNKNOWN),  # fast and low but not cruise-missile low
        (100.0, 5.0, 0.0, UNKNOWN),  # too slow for anything
        # fast and low: a missile or rocket there climbs out or dives in; level at a
        # drone's height it is a false track hopping along a dense drone stream
        (1000.0, 5000.0, 0.0, UNKNOWN),
        (3000.0, 2000.0, 5.0, UNKNOWN),
        (1000.0, 3000.0, -40.0, BALLISTIC),  # re-entry dive
        (2000.0, 600.0, 45.0, ROCKET),  # climbing out
        (12_000.0, 500.0, 0.0, ROCKET),  # at the apogee of a 50 km rocket
    ],
)
def test_kernel_reference_cases(alt, speed, gamma, code):
    assert classify_kinematics(_state(alt, speed, gamma))[0] == code


def test_kernel_batched_equals_looped():
    rng = np.random.default_rng(3)
    n = 200
    alt = rng.uniform(0, 40e3, n)
    speed = rng.uniform(0, 2000, n)
    gam = rng.uniform(-30, 30, n)
    x = np.concatenate([_state(a, s, g) for a, s, g in zip(alt, speed, gam, strict=True)])
    sv = rng.uniform(0, 40, n)
    P = np.eye(6)[None] * np.r_[[100.0] * 3, [1.0] * 3][None, None, :] * 1.0
    P = np.repeat(P, n, 0)
    P[:, 3:, 3:] *= (sv**2)[:, None, None]
    batched = classify_kinematics(x, P)
    looped = np.array([classify_kinematics(x[i : i + 1], P[i : i + 1])[0] for i in range(n)])
    np.testing.assert_array_equal(batched, looped)
    assert set(batched.tolist()) >= {BALLISTIC, ROCKET, UNKNOWN}


def test_noisy_estimate_is_unknown_until_clear():
    """A drone speed estimate with σ_v = 40 m/s does not fit the drone band: no evidence."""
    x = _state(1000.0, 51.0)
    P = np.diag([100.0**2] * 3 + [40.0**2] * 3)[None]
    assert classify_kinematics(x, P)[0] == UNKNOWN
    P = np.diag([100.0**2] * 3 + [5.0**2] * 3)[None]
    assert classify_kinematics(x, P)[0] == DRONE


def _run(clf, tid, t, x, P):
    return [
        clf.classify([tid], x[k : k + 1], P[k : k + 1], t=float(t[k]))[0] for k in range(len(t))
    ]


NOISE = {
    "nominal": {"sig_v0": 40.0, "sig_v1": 6.0, "conv_s": 40.0},
    "noisy-vertical": {"sig_v0": 50.0, "sig_v1": 10.0, "conv_s": 60.0, "vert": 3.0},
    "slow-errors": {"sig_v0": 30.0, "sig_v1": 2.0, "conv_s": 20.0, "vert": 1.0, "corr_s": 120.0},
}


@pytest.mark.parametrize("noise", NOISE)
@pytest.mark.parametrize("atc", [False, True])
def test_civil_airliner_never_a_threat(atc, noise):
    """Whole civil flights, and tracks (re)started anywhere along them — many of them on
    the final approach — are never a threat, under several track-error models."""
    tracks = {}
    t, xt = airliner(atc_250kt=atc)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        tracks[f"civil{seed}"] = (t, *noisy_track(xt, t, rng, **NOISE[noise]))
        starts = np.r_[
            rng.choice(t.size - 10, size=12, replace=False), t.size - rng.integers(10, 60, 12)
        ]
        for j, s in enumerate(starts):
            e = min(t.size, s + int(rng.integers(30, 300)))
            tracks[f"seg{seed}-{j}"] = (t[s:e], *noisy_track(xt[s:e], t[s:e], rng, **NOISE[noise]))
    out = classify_tracks(Classifier(), tracks)
    for tid, cls in out.items():
        assert not THREAT_CLASSES.intersection(cls), (tid, tracks[tid][0][0], set(cls))
        if tid.startswith("civil"):
            assert cls[-1] == "aircraft"


def _threat_profile(kind, rng):
    t = np.arange(0.0, 600.0, 4.0)
    if kind == "drone":
        alt = rng.uniform(100.0, 3000.0)
        return t, flight(t, np.full(t.size, alt), 51.0, weave(t))
    if kind == "cruise":
        return t, flight(t, np.full(t.size, 100.0), 250.0, weave(t, amp_deg=15))
    if kind == "ballistic":
        sol, t_imp, _ = kepler_arc()
        t = np.arange(0.0, t_imp - 1.0, 4.0)
        return t, sol(t).T
    # rocket: 900 m/s at 45°, apex ~ 20 km
    sol, t_imp, _ = kepler_arc(33.3, 35.45, 3000.0, 900.0, 45.0, 190.0)
    t = np.arange(0.0, t_imp - 1.0, 2.0)
    return t, sol(t).T


@pytest.mark.parametrize("kind", ["drone", "cruise", "ballistic", "rocket"])
@pytest.mark.parametrize("seed", range(3))
def test_threat_profiles_classified_after_enough_updates(kind, seed):
    rng = np.random.default_rng(100 + seed)
    t, xt = _threat_profile(kind, rng)
    x, P = noisy_track(xt, t, rng, sig_v0=30.0, sig_v1=4.0, conv_s=20.0)
    cls = _run(Classifier(), kind, t, x, P)
    first = next(k for k, c in enumerate(cls) if c != "unknown")
    assert t[first] - t[0] <= 150.0, cls[:40]
    assert set(cls[first:]) == {kind}, set(cls)


def test_early_boost_upgrades_rocket_to_ballistic_never_down():
    clf = Classifier()
    seq = [(20e3, 700.0, 40.0)] * 3 + [(40e3, 1500.0, 35.0)] * 3 + [(5e3, 250.0, 0.0)] * 5
    out = [clf.classify(["m"], _state(*s), t=4.0 * k)[0] for k, s in enumerate(seq)]
    assert out[1:3] == ["rocket", "rocket"]
    assert out[4:] == ["ballistic"] * (len(seq) - 4)


def test_needs_persistence_and_age():
    clf = Classifier(slow_updates=3, min_age_s=8.0)
    x = _state(1000.0, 51.0)
    out = [clf.classify(["d"], x, t=2.0 * k)[0] for k in range(6)]
    # 3 updates reached at t=4 s but age 8 s only at t=8 s (5th update)
    assert out == ["unknown"] * 4 + ["drone"] * 2
    no_time = Classifier(slow_updates=3)
    assert [no_time.classify(["d"], x)[0] for _ in range(3)] == ["unknown", "unknown", "drone"]


def test_aircraft_history_outweighs_drone_evidence():
    """A long airliner track never turns drone on a landing roll-out; a drone mistaken for
    an aircraft in its first noisy updates does become a drone."""
    clf = Classifier()
    for _ in range(60):
        clf.classify(["airliner", "drone"], np.concatenate([_state(1500.0, 100.0)] * 2))
    for _ in range(100):
        out = clf.classify(["airliner"], _state(300.0, 55.0))
    assert out == ["aircraft"]
    late = Classifier()
    out = [late.classify(["d"], _state(1000.0, 120.0))[0] for _ in range(3)]
    assert out == ["unknown", "unknown", "aircraft"]
    out = [late.classify(["d"], _state(1000.0, 51.0))[0] for _ in range(10)]
    assert out[:6] == ["aircraft"] * 6 and out[-1] == "drone"


def test_forget_restarts_history_and_reuses_rows():
    clf = Classifier()
    for _ in range(10):
        clf.classify(["a", "b"], np.concatenate([_state(1e3, 51.0)] * 2))
    assert clf.classify(["a"], _state(1e3, 51.0)) == ["drone"]
    clf.forget(["a", "zz"])
    assert len(clf) == 1
    out = clf.classify(["c", "b", "a"], np.concatenate([_state(10_700.0, 230.0)] * 3))
    assert out == ["unknown", "drone", "unknown"]  # b keeps its class; a starts afresh
    ids = [f"t{i}" for i in range(300)]  # growth past the initial capacity
    x = np.repeat(_state(100.0, 250.0), 300, axis=0)
    for _ in range(10):
        out = clf.classify(ids, x)
    assert out == ["cruise"] * 300


def test_bad_input_names_the_problem():
    clf = Classifier()
    with pytest.raises(ThreatInputError, match=r"x must be \(N, 6\)"):
        clf.classify(["a"], np.zeros((1, 5)))
    with pytest.raises(ThreatInputError, match="ids has 2 entries"):
        clf.classify(["a", "b"], _state(1e3, 51.0))
    with pytest.raises(ThreatInputError, match=r"P must be \(N, 6, 6\)"):
        clf.classify(["a"], _state(1e3, 51.0), np.zeros((1, 3, 3)))
    with pytest.raises(ThreatInputError, match="unique"):
        clf.classify(["a", "a"], np.concatenate([_state(1e3, 51.0)] * 2))
    with pytest.raises(ThreatInputError, match="non-finite"):
        clf.classify(["a"], np.full((1, 6), np.nan))
    with pytest.raises(ValueError, match="slow_updates"):
        Classifier(slow_updates=0)
    assert clf.classify([], np.empty((0, 6))) == []
    assert TRACK_CLASSES[classify_kinematics(np.empty((0, 6))).size :] == TRACK_CLASSES


# --- chord velocities (classify with times), smoothed states, powered flight ---------------

LONG_RANGE = {"sig_p": 300.0, "sig_v0": 40.0, "sig_v1": 40.0, "corr_s": 2.0, "vert": 2.0}
"""A slow target far from the radar: good positions, hopeless velocities (honest P)."""


def _drone_track(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 900.0, 4.0)
    xt = flight(t, np.full(t.size, 1000.0), 51.0, weave(t))
    x, P = noisy_track(xt, t, rng, **LONG_RANGE)
    return t, xt, x, P


@pytest.mark.parametrize("seed", range(3))
def test_long_range_drone_needs_times(seed):
    """Velocity σ 40 m/s fits no band; the chord over the track's history does."""
    t, _, x, P = _drone_track(seed)
    with_t = classify_tracks(Classifier(), {"d": (t, x, P)})["d"]
    first = with_t.index("drone")
    assert t[first] <= 180.0 and set(with_t[first:]) == {"drone"}
    clf = Classifier()
    no_t = [clf.classify(["d"], x[k : k + 1], P[k : k + 1])[0] for k in range(t.size)]
    assert set(no_t) == {"unknown"}


def test_smoothed_drone_velocity():
    t, xt, x, P = _drone_track(4)
    clf = Classifier()
    raw, smooth, used = [], [], []
    for k, tk in enumerate(t):
        c = clf.step(["d"], x[k : k + 1], P[k : k + 1], t=float(tk))
        xs, Ps, powered = c.x, c.P, c.powered
        assert not powered[0]
        np.testing.assert_array_equal(Ps[0, :3, :3], P[k, :3, :3])
        if tk >= 300.0:
            raw.append(np.linalg.norm(x[k, 3:] - xt[k, 3:]))
            smooth.append(np.linalg.norm(xs[0, 3:] - xt[k, 3:]))
            used.append(np.trace(Ps[0, 3:, 3:]) < np.trace(P[k, 3:, 3:]))
    rms = [float(np.sqrt(np.mean(np.square(e)))) for e in (raw, smooth)]
    assert rms[1] < 0.35 * rms[0], rms
    assert np.mean(used) > 0.8


def test_smoothed_ballistic_velocity_and_impact():
    from mead.threat.impact import predict_impact

    sol, t_imp, p_imp = kepler_arc()
    rng = np.random.default_rng(9)
    t = np.arange(100.0, 420.0, 4.0)
    x, P = noisy_track(sol(t).T, t, rng, sig_p=1000.0, sig_v0=150.0, sig_v1=150.0, corr_s=2.0)
    clf = Classifier(beta_kg_m2=None)  # the reference arc is drag-free
    flags = []
    for k, tk in enumerate(t):
        c = clf.step(["b"], x[k : k + 1], P[k : k + 1], t=float(tk))
        assert c.classes == (["unknown"] if k < 1 else ["ballistic"])
        xs, Ps, powered = c.x, c.P, c.powered
        flags.append(bool(powered[0]))
    # climbing ballistic: powered until first judged from two chords (~2 spacings), then not
    n = flags.index(False, 1)
    assert all(flags[1:n]) and not any(flags[n:]) and t[n] - t[0] <= 36.0
    truth = sol(t[-1])
    assert np.linalg.norm(xs[0, 3:] - truth[3:]) < 0.3 * np.linalg.norm(x[-1, 3:] - truth[3:])
    raw = predict_impact(x[-1:], P[-1:])
    smooth = predict_impact(xs, Ps)
    miss = [float(np.linalg.norm(i.p_ecef[0] - p_imp)) for i in (raw, smooth)]
    assert miss[1] < 0.5 * miss[0] and smooth.radius_m[0] < 0.5 * raw.radius_m[0], miss


def test_powered_during_boost_only():
    sol, t_burn, t_imp = boosted_arc()
    rng = np.random.default_rng(2)
    t = np.arange(20.0, t_imp - 2.0, 4.0)
    x, P = noisy_track(sol(t).T, t, rng, sig_p=300.0, sig_v0=60.0, sig_v1=60.0, corr_s=2.0)
    clf = Classifier()
    flags = {}
    for k, tk in enumerate(t):
        c = clf.step(["m"], x[k : k + 1], P[k : k + 1], t=float(tk))
        flags[tk] = (c.classes[0], bool(c.powered[0]))
    boost = [p for tk, (c, p) in flags.items() if c == "ballistic" and tk < t_burn]
    coast = [p for tk, (c, p) in flags.items() if tk > t_burn + 45.0]
    assert boost and all(boost)
    assert coast and not any(coast)


def test_smoothed_other_rows():
    """Rows without a better chord are returned as they are; any class may be smoothed (a
    coordinator's class may come from a partner)."""
    t = np.arange(0.0, 120.0, 4.0)
    xt = flight(t, np.full(t.size, 10_700.0), 230.0, 300.0)
    P = np.repeat(np.diag([100.0**2] * 3 + [5.0**2] * 3)[None], t.size, 0)
    still = np.repeat(_state(10_700.0, 230.0), t.size, 0)  # velocity inconsistent with motion
    clf = Classifier()
    for k, tk in enumerate(t):
        x = np.stack([xt[k], still[k]])
        c = clf.step(["a", "b"], x, np.stack([P[k], P[k]]), t=float(tk))
    xs, Ps, powered = c.x, c.P, c.powered
    assert np.linalg.norm(xs[0, 3:] - xt[-1, 3:]) < 2.0  # the chord of a straight flight
    assert np.trace(Ps[0, 3:, 3:]) < np.trace(P[-1, 3:, 3:])
    np.testing.assert_array_equal(xs[1], x[1])  # no consistent chord: untouched
    assert not powered.any()


@pytest.mark.parametrize("with_t", [True, False])
def test_diverging_filter_does_not_make_a_missile(with_t):
    """A drone or airliner track whose velocity estimate runs away (600 m/s, confident) for
    a few updates while its positions stay true is not upgraded to rocket/ballistic: its
    chord is subsonic, and a settled class needs lasting fast evidence anyway."""
    t = np.arange(0.0, 400.0, 4.0)
    tracks = {
        "drone": flight(t, np.full(t.size, 1000.0), 51.0, 90.0),
        "airliner": flight(t, np.full(t.size, 10_700.0), 230.0, 90.0),
    }
    P = np.diag([100.0**2] * 3 + [3.0**2] * 3)[None]
    clf = Classifier()
    for name, x in tracks.items():
        bad = x.copy()
        bad[60:66, 3:] *= 600.0 / np.linalg.norm(bad[60:66, 3:], axis=1, keepdims=True)
        out = [
            clf.classify([name], bad[k : k + 1], P, t=float(t[k]) if with_t else None)[0]
            for k in range(t.size)
        ]
        assert set(out[60:]) == {out[59]} and out[59] in ("drone", "aircraft")
