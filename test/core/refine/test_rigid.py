"""sim2art_core.refine.rigid: batched weighted Kabsch and robust pair fits."""

from __future__ import annotations

import numpy as np

from sim2art_core import geometry as g
from sim2art_core.refine.rigid import batched_weighted_kabsch, fit_pair_motions, fit_part_pair_motions


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


def _noisy_pairs(rng, K, N, outliers):
    pts = rng.uniform(-0.3, 0.3, size=(K, N, 3))
    flow = np.zeros_like(pts)
    for k in range(K):
        T = g.revolute_motion(rng.normal(size=3), rng.normal(scale=0.3, size=3), rng.normal(scale=0.1))
        flow[k] = g.transform_points(T, pts[k]) - pts[k]
    flow += rng.normal(scale=0.002, size=flow.shape)
    bad = rng.random((K, N)) < outliers
    flow[bad] = rng.normal(scale=0.1, size=(int(bad.sum()), 3))
    return pts, flow


def test_each_pair_fit_is_independent_of_the_rest_of_the_batch():
    """Rows stop re-weighting on their own: a row fitted alone and in a batch with rows that need
    more IRLS rounds (20 % gross outliers) gets the same motion, residual and support."""
    rng = np.random.default_rng(2)
    mild = _noisy_pairs(rng, 6, 200, outliers=0.0)
    hard = _noisy_pairs(rng, 6, 200, outliers=0.2)
    pts, flow = np.concatenate([mild[0], hard[0]]), np.concatenate([mild[1], hard[1]])
    w = rng.uniform(0.3, 1.0, size=(12, 200))
    batch = fit_pair_motions(pts, flow, w)
    for k in range(12):
        alone = fit_pair_motions(pts[k : k + 1], flow[k : k + 1], w[k : k + 1])
        np.testing.assert_allclose(batch.transforms[k], alone.transforms[0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(batch.rms[k], alone.rms[0], rtol=1e-12)
        np.testing.assert_allclose(batch.support[k], alone.support[0], rtol=1e-12)


def test_part_pair_motions_fit_each_parts_points_of_each_frame():
    """fit_part_pair_motions gathers every part's points per frame (all of them, or evenly spaced
    ones) and fits them as fit_pair_motions does; points outside the part may hold NaN."""
    rng = np.random.default_rng(3)
    T, N = 5, 300
    pts, flow = _noisy_pairs(rng, T, N, outliers=0.1)
    labels = rng.integers(0, 3, size=(T, N))
    labels[2, labels[2] == 2] = 0  # part 2 absent from frame 2: that pair is not fitted
    labels[3, np.flatnonzero(labels[3] == 2)[5:]] = 0  # 5 points only in frame 3
    valid = rng.random((T, N)) > 0.1
    pts[~valid] = np.nan  # invalid points may hold anything
    weights = np.stack([(labels[:-1] == p) & valid[:-1] for p in range(3)]) * rng.uniform(0.5, 1, size=(3, T - 1, N))
    fit, samples = fit_part_pair_motions(pts.reshape(-1, 3).astype(np.float32), flow.reshape(-1, 3), weights)
    assert fit.transforms.shape == (3 * (T - 1), 4, 4) and np.all(np.isfinite(fit.transforms))
    for p in range(3):
        for k in range(T - 1):
            row, sel = p * (T - 1) + k, weights[p, k] > 0
            assert samples.count[row] == sel.sum()
            if not sel.any():
                assert not fit.valid[row] and np.array_equal(fit.transforms[row], np.eye(4))
                continue
            alone = fit_pair_motions(pts[k][sel][None].astype(np.float32), flow[k][sel][None], weights[p, k][sel][None])
            assert fit.valid[row] == alone.valid[0] and fit.valid[row] == (sel.sum() >= 8)
            np.testing.assert_allclose(fit.transforms[row], alone.transforms[0], atol=1e-9)
            np.testing.assert_allclose(fit.rms[row], alone.rms[0], rtol=1e-9)
    few, _ = fit_part_pair_motions(pts.reshape(-1, 3), flow.reshape(-1, 3), weights, max_points=20)
    assert few.valid[:4].all() and np.all(few.support <= 20)
    np.testing.assert_allclose(few.transforms[0], fit.transforms[0], atol=0.02)  # 20 of ~90 points: close


def test_coplanar_and_three_point_sets_give_the_true_rotation_never_a_reflection():
    """For coplanar sources (3 points, one face of a part) det(H) is 0 up to rounding, so its sign
    cannot choose between rotation and reflection; the fit must still return the true rotation."""
    rng = np.random.default_rng(5)
    K = 200
    n = rng.integers(3, 12, size=K)
    src = np.zeros((K, 12, 3))
    src[:, :, :2] = rng.uniform(-0.3, 0.3, size=(K, 12, 2))  # z = 0: exactly coplanar
    R_true = np.stack([g.rotation_about_axis(rng.normal(size=3), rng.uniform(0, np.pi)) for _ in range(K)])
    dst = src @ np.swapaxes(R_true, 1, 2) + rng.normal(size=(K, 1, 3))
    w = (np.arange(12)[None] < n[:, None]).astype(float)
    R, _ = batched_weighted_kabsch(src, dst, w)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(R, R_true, atol=1e-9)
