"""The Assessor hands back the smoothed states a partner releases."""

from __future__ import annotations

import numpy as np
from threat_profiles import flight, noisy_track

from mead.threat.assessor import Assessor


def test_assessment_carries_states_with_chord_velocities_better_than_the_track() -> None:
    """A drone's noisy track (velocity errors of tens of m/s, as a near-constant-velocity
    filter gives for a slow target): after a few minutes the assessment's velocities, from
    chords over its positions, are several times closer to the truth than the track's."""
    t = np.arange(0.0, 600.0, 5.0)
    truth = flight(t, np.full(t.shape, 1000.0), 51.0, 270.0)
    x, P = noisy_track(truth, t, np.random.default_rng(3), sig_v0=40.0, sig_v1=30.0)
    a = Assessor.for_areas("P1", [])
    raw, smooth = [], []
    for k, tk in enumerate(t.tolist()):
        out = a.step(tk, ["d1"], x[k : k + 1], P[k : k + 1])
        assert out.x is not None and out.P is not None and out.x.shape == (1, 6)
        if tk >= 300.0:
            raw.append(np.linalg.norm(x[k, 3:] - truth[k, 3:]))
            smooth.append(np.linalg.norm(out.x[0, 3:] - truth[k, 3:]))
    assert np.median(smooth) < 0.5 * np.median(raw)
    np.testing.assert_allclose(out.x[0, :3], x[-1, :3])  # positions are the track's own
