"""sim2art_core.refine.rigid: batched weighted Kabsch and robust pair fits."""

from __future__ import annotations

import numpy as np

from sim2art_core import geometry as g
from sim2art_core.refine.rigid import batched_weighted_kabsch, fit_pair_motions


def test_batched_kabsch_matches_geometry_fit_rigid_on_weighted_problems():
    rng = np.random.default_rng(3)
    K, N = 5, 40
    src = rng.normal(size=(K, N, 3))
    dst = src + rng.normal(scale=0.05, size=(K, N, 3))  # not exactly rigid: the weights matter
    w = rng.random((K, N))
    R, t = batched_weighted_kabsch(src, dst, w)
    for k in range(K):
        ref = g.fit_rigid(src[k], dst[k], w[k])
        np.testing.assert_allclose(R[k], ref.rotation, atol=1e-9)
        np.testing.assert_allclose(t[k], ref.translation, atol=1e-9)
        assert np.isclose(np.linalg.det(R[k]), 1.0)


def test_batched_kabsch_handles_reflection_case_and_empty_weights():
    # A planar point set mirrored: the unconstrained optimum is a reflection; Kabsch must return a rotation.
    src = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]], float)
    dst = src * np.array([1.0, 1.0, -1.0])
    R, _ = batched_weighted_kabsch(
        np.concatenate([src, src]), np.concatenate([dst, dst]), np.array([[1.0] * 4, [0.0] * 4])
    )
    assert np.isclose(np.linalg.det(R[0]), 1.0)
    np.testing.assert_allclose(R[1], np.eye(3))


def test_pair_fit_recovers_motion_despite_20_percent_gross_outliers():
    rng = np.random.default_rng(0)
    K, N = 4, 300
    T = g.revolute_motion([0.2, 0.1, 1.0], [0.3, 0.0, 0.0], 0.15)
    pts = rng.uniform(-0.3, 0.3, size=(K, N, 3))
    flow = g.transform_points(T, pts) - pts
    bad = rng.random((K, N)) < 0.2
    flow[bad] = rng.normal(scale=0.1, size=(int(bad.sum()), 3))
    plain = fit_pair_motions(pts, flow, np.ones((K, N)), irls_iterations=0)
    robust = fit_pair_motions(pts, flow, np.ones((K, N)), irls_iterations=3)
    err_plain = max(g.rotation_angle(plain.transforms[k][:3, :3] @ T[:3, :3].T) for k in range(K))
    err_robust = max(g.rotation_angle(robust.transforms[k][:3, :3] @ T[:3, :3].T) for k in range(K))
    assert err_robust < np.radians(0.2) < err_plain  # least squares alone is visibly pulled off
    assert robust.valid.all()


def test_pair_fit_marks_collinear_and_unsupported_pairs_invalid():
    pts = np.zeros((2, 10, 3))
    pts[:, :, 0] = np.linspace(0, 1, 10)  # all on the x axis: rotation about x undefined
    w = np.ones((2, 10))
    w[1, :] = 0.0
    res = fit_pair_motions(pts, np.zeros_like(pts), w)
    assert not res.valid.any()
    assert np.all(np.isnan(res.rms))
    np.testing.assert_allclose(res.transforms, np.tile(np.eye(4), (2, 1, 1)))
