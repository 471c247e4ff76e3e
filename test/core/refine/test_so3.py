"""sim2art_core.refine.so3: closed-form rotation helpers against scipy / numpy."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.refine.so3 import cross, rotations_about, rotvecs_from_matrices, skew


def test_rotvecs_from_matrices_match_scipy_from_zero_to_180_degrees():
    rng = np.random.default_rng(0)
    n = 2000
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([[0.0, 1e-15, np.pi / 2, np.pi - 1e-9, np.pi], 10 ** rng.uniform(-12, 0, n // 2),
                             rng.uniform(0, np.pi, n - n // 2 - 5)])  # fmt: skip
    true = axes * angles[:, None]
    R = Rotation.from_rotvec(true).as_matrix()
    mine = rotvecs_from_matrices(R)
    below = angles < np.pi - 1e-6  # at 180 degrees +-axis are the same rotation
    np.testing.assert_allclose(mine[below], true[below], atol=1e-14)
    np.testing.assert_allclose(Rotation.from_rotvec(mine).as_matrix(), R, atol=1e-14)
    assert rotvecs_from_matrices(R.reshape(40, 50, 3, 3)).shape == (40, 50, 3)
    np.testing.assert_array_equal(rotvecs_from_matrices(np.eye(3)), np.zeros(3))


def test_skew_cross_and_rotations_about():
    rng = np.random.default_rng(1)
    a, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 7, 3))
    np.testing.assert_allclose(skew(a) @ v[0, 0], np.cross(a, v[0, 0]), atol=1e-15)
    np.testing.assert_allclose(cross(a, v), np.cross(a[:, None], v), atol=1e-15)
    axis = a / np.linalg.norm(a, axis=1, keepdims=True)
    angles = rng.uniform(-3, 3, size=(4, 7))
    expected = Rotation.from_rotvec((axis[:, None] * angles[..., None]).reshape(-1, 3)).as_matrix().reshape(4, 7, 3, 3)
    np.testing.assert_allclose(rotations_about(axis, angles), expected, atol=1e-14)
    np.testing.assert_allclose(rotations_about(axis[0], angles[0]), expected[0], atol=1e-14)
