"""Batched robust ICP (sim2art_core.refine.icp)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sim2art_core.metrics.joint_metrics import axis_angle_error_deg
from sim2art_core.refine.icp import FrameTree, robust_icp


def _box_surface(rng: np.random.Generator, n: int, size=(0.4, 0.3, 0.2)) -> np.ndarray:
    half = np.asarray(size) / 2
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]])
    axis = rng.choice(3, size=n, p=areas / areas.sum())
    p = rng.uniform(-half, half, size=(n, 3))
    p[np.arange(n), axis] = rng.choice([-1.0, 1.0], size=n) * half[axis]
    return p


def _transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R, t
    return X


def _register(frame0: np.ndarray, frame1: np.ndarray, init: np.ndarray, m: int = 256, **kw):
    points = np.stack([frame0, frame1])
    tree = FrameTree(points, np.ones(points.shape[:2], dtype=bool))
    src = frame0[:: max(1, len(frame0) // m)][None]
    normals, _ = tree.normals(np.zeros(1, dtype=np.int64), src)
    return robust_icp(tree, np.array([1]), src, normals, np.ones(src.shape[:2]), init[None], **kw)


def test_recovers_30_degree_rotation_with_5_percent_outliers():
    rng = np.random.default_rng(3)
    true = _transform(Rotation.from_rotvec(np.radians(30) * np.array([0.3, 1.0, 0.2]) / np.linalg.norm(
        [0.3, 1.0, 0.2])).as_matrix(), np.array([0.05, -0.02, 0.03]))  # fmt: skip
    frame0 = _box_surface(rng, 2048)
    # frame 1: the box re-sampled (no point correspondences), moved, 5 % of its points outliers
    frame1 = _box_surface(rng, 2048) @ true[:3, :3].T + true[:3, 3]
    bad = rng.random(len(frame1)) < 0.05
    frame1[bad] = rng.uniform(-0.4, 0.4, size=(int(bad.sum()), 3))
    # initial guess 8 degrees and 2 cm off (a chained flow guess)
    init = _transform(Rotation.from_rotvec(np.radians(8) * np.array([1.0, 0, 0])).as_matrix(), [0.02, 0, 0]) @ true
    res = _register(frame0, frame1, init, iterations=8, gate_start_m=0.1, gate_end_m=0.02)
    err = np.degrees(Rotation.from_matrix(res.transforms[0, :3, :3] @ true[:3, :3].T).magnitude())
    assert err < 0.5
    assert np.linalg.norm(res.transforms[0, :3, 3] - true[:3, 3]) < 0.005
    assert res.inlier_fraction[0] > 0.9
    # the guess itself was far worse: the registration moved away from it
    assert np.degrees(Rotation.from_matrix(init[:3, :3] @ true[:3, :3].T).magnitude()) > 7


def test_prismatic_drawer_translation():
    rng = np.random.default_rng(4)
    drawer0 = _box_surface(rng, 1024, size=(0.45, 0.3, 0.15))
    travel = np.array([0.0, 0.15, 0.0])
    drawer1 = _box_surface(rng, 1024, size=(0.45, 0.3, 0.15)) + travel
    init = _transform(np.eye(3), np.array([0.0, 0.11, 0.01]))  # weak flow: 4 cm short of the travel
    res = _register(drawer0, drawer1, init, iterations=8, gate_start_m=0.1, gate_end_m=0.02)
    assert np.linalg.norm(res.transforms[0, :3, 3] - travel) < 0.004
    assert np.degrees(Rotation.from_matrix(res.transforms[0, :3, :3]).magnitude()) < 0.5
    # the information pins the sliding direction: its variance is small
    cov = np.linalg.inv(res.information[0] + np.eye(6) * 1e-9)
    assert np.sqrt(cov[4, 4]) < 0.01


def test_empty_and_nan_sources_keep_the_guess_without_information():
    rng = np.random.default_rng(5)
    pts = np.stack([_box_surface(rng, 256), _box_surface(rng, 256)])
    tree = FrameTree(pts, np.ones((2, 256), dtype=bool))
    src = np.full((2, 16, 3), np.nan)
    src[1, :8] = pts[0, :8]
    w = np.zeros((2, 16))
    w[0] = 1.0  # weights on NaN points: ignored
    init = np.tile(np.eye(4), (2, 1, 1))
    init[:, 0, 3] = 0.01
    res = robust_icp(tree, np.array([1, 1]), src, np.zeros_like(src), w, init)
    assert np.array_equal(res.transforms, init)
    assert np.all(res.inlier_fraction == 0) and np.all(np.isnan(res.rms))
    assert np.all(res.information == 0)


def test_empty_tree_matches_nothing():
    tree = FrameTree(np.full((2, 4, 3), np.nan), np.zeros((2, 4), dtype=bool))
    d, flat = tree.query(np.array([0]), np.zeros((1, 3, 3)))
    assert np.all(np.isinf(d)) and np.all(flat == -1)
    normals, _ = tree.normals(np.array([0]), np.zeros((1, 3, 3)))
    assert np.all(normals == 0)


def test_query_stays_in_its_frame():
    pts = np.zeros((3, 2, 3))
    pts[:, 1, 0] = [0.0, 0.5, 1.0]  # point 1 of frame t at x = t / 2
    tree = FrameTree(pts, np.ones((3, 2), dtype=bool))
    d, flat = tree.query(np.array([2]), np.array([[[0.9, 0.0, 0.0]]]))
    assert flat[0, 0] == 2 * 2 + 1 and d[0, 0] == pytest.approx(0.1)
    d, flat = tree.query(np.array([2]), np.array([[[0.9, 0.0, 0.0]]]), upper=0.05)
    assert flat[0, 0] == -1


def test_normals_of_a_plane():
    rng = np.random.default_rng(6)
    plane = np.c_[rng.uniform(-0.2, 0.2, (400, 2)), np.zeros(400)]
    tree = FrameTree(plane[None], np.ones((1, 400), dtype=bool))
    normals, _ = tree.normals(np.array([0]), plane[None, :20])
    assert axis_angle_error_deg(normals[0, 0], np.array([0.0, 0.0, 1.0])) < 1e-6
    assert np.allclose(np.abs(normals[0, :, 2]), 1.0)
