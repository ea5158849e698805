"""The closed-form largest eigenvalue against LAPACK's."""

import numpy as np
import pytest

from mead.linalg import max_eigenvalue_3x3


def _spd(rng: np.random.Generator, n: int, log_span: float) -> np.ndarray:
    """Random SPD 3×3 blocks: random axes, eigenvalues spread over e^log_span (a radar's
    track is long across the beam and short along it)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, 3, 3)))
    lam = np.exp(rng.uniform(0.0, log_span, (n, 3)))
    s = q @ (lam[:, :, None] * q.transpose(0, 2, 1))
    return 0.5 * (s + s.transpose(0, 2, 1))


@pytest.mark.parametrize("log_span", [0.0, 1e-6, 3.0, 23.0])
def test_it_agrees_with_lapack_from_round_to_needle_shaped(log_span: float) -> None:
    s = _spd(np.random.default_rng(7), 5000, log_span)
    ref = np.linalg.eigvalsh(s)[:, -1]
    np.testing.assert_allclose(max_eigenvalue_3x3(s), ref, rtol=1e-11, atol=0.0)


def test_blocks_of_a_six_by_six_stack_and_exact_cases() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((200, 6, 6))
    p = a @ a.transpose(0, 2, 1)
    for blk in (p[:, :3, :3], p[:, 3:, 3:]):  # strided views, as the callers pass them
        ref = np.linalg.eigvalsh(blk)[:, -1]
        np.testing.assert_allclose(max_eigenvalue_3x3(blk), ref, rtol=1e-11)
    assert max_eigenvalue_3x3(np.eye(3)[None] * 4.0).tolist() == [4.0]
    assert max_eigenvalue_3x3(np.diag([1.0, 9.0, 4.0])[None]).tolist() == pytest.approx([9.0])
    assert max_eigenvalue_3x3(np.zeros((0, 3, 3))).shape == (0,)
    assert np.isnan(max_eigenvalue_3x3(np.full((1, 3, 3), np.nan))).all()


def test_a_wrong_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, 3\)"):
        max_eigenvalue_3x3(np.eye(3))
