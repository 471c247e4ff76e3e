"""sim2art_core.geometry: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core import geometry as g


def test_invert_and_transform_round_trip():
    rng = np.random.default_rng(0)
    T = g.make_transform(g.rotation_about_axis([1, 2, 3], 0.7), [0.1, -0.2, 0.3])
    p = rng.normal(size=(10, 3))
    back = g.transform_points(g.invert_transform(T), g.transform_points(T, p))
    np.testing.assert_allclose(back, p, atol=1e-12)


def test_revolute_motion_keeps_pivot_fixed_and_rotates_by_angle():
    axis, pivot = np.array([0.0, 0.0, 1.0]), np.array([1.0, 2.0, 0.0])
    T = g.revolute_motion(axis, pivot, np.pi / 2)
    np.testing.assert_allclose(g.transform_points(T, pivot), pivot, atol=1e-12)
    # (2, 2, 0) is 1 m along +x from the pivot: a quarter turn about +z takes it 1 m along +y.
    np.testing.assert_allclose(g.transform_points(T, [2.0, 2.0, 0.0]), [1.0, 3.0, 0.0], atol=1e-12)


def test_fit_rigid_recovers_motion_and_weights_reject_outliers():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(200, 3))
    T = g.revolute_motion([0, 1, 0], [0.5, 0, 0], 0.3) @ g.prismatic_motion([0, 1, 0], 0.05)
    dst = g.transform_points(T, src)
    fit = g.fit_rigid(src, dst)
    np.testing.assert_allclose(fit.matrix, T, atol=1e-10)
    assert fit.rms < 1e-10 and fit.num_points == 200
    dst_bad = dst.copy()
    dst_bad[:20] += 1.0
    w = np.ones(200)
    w[:20] = 0.0
    np.testing.assert_allclose(g.fit_rigid(src, dst_bad, w).matrix, T, atol=1e-10)


def test_fit_rigid_degenerate_inputs_give_documented_result():
    fit = g.fit_rigid(np.zeros((2, 3)), np.ones((2, 3)))
    np.testing.assert_allclose(fit.rotation, np.eye(3))
    np.testing.assert_allclose(fit.translation, [1, 1, 1])
    assert np.isnan(fit.rms)
    empty = g.fit_rigid(np.zeros((0, 3)), np.zeros((0, 3)))
    assert empty.num_points == 0 and np.isnan(empty.rms)


@pytest.mark.parametrize("angle", [0.2, 1.0, 3.0])
def test_screw_from_transform_recovers_axis_pivot_and_angle(angle):
    axis = g.unit(np.array([1.0, 1.0, 0.0]))
    pivot = np.array([0.0, 0.0, 2.0])
    T = g.revolute_motion(axis, pivot, angle) @ g.prismatic_motion(axis, 0.1)
    s = g.screw_from_transform(T)
    assert np.isclose(s.angle, angle) and np.isclose(s.translation, 0.1)
    np.testing.assert_allclose(s.axis, axis, atol=1e-9)
    assert g.point_line_distance(pivot, s.pivot, s.axis) < 1e-9


def test_screw_of_pure_translation():
    s = g.screw_from_transform(g.prismatic_motion([0, 0, -1], 0.2))
    assert s.angle == 0.0 and np.isclose(s.translation, 0.2)
    np.testing.assert_allclose(s.axis, [0, 0, -1])


def test_tangent_basis_and_joint_frame_are_orthonormal():
    for axis in ([1, 0, 0], [0, 0, 1], [0.3, -0.2, 0.9]):
        F = g.frame_with_z_along(axis, [1, 2, 3])
        R = F[:3, :3]
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(R), 1.0)
        np.testing.assert_allclose(R[:, 2], g.unit(np.array(axis, float)))


def test_quaternion_order_is_xyzw():
    q = g.quaternion_from_matrix(g.rotation_about_axis([0, 0, 1], np.pi))
    np.testing.assert_allclose(np.abs(q), [0, 0, 1, 0], atol=1e-12)


def test_tangent_basis_follows_the_message_convention():
    """e1 = unit(axis x r), r = x unless the axis is within 45 deg of x (then y); e2 = axis x e1."""
    rng = np.random.default_rng(1)
    for a in [np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), *g.unit(rng.normal(size=(20, 3)))]:
        au = g.unit(a)
        r = np.array([1.0, 0, 0]) if abs(au[0]) < np.cos(np.pi / 4) else np.array([0, 1.0, 0])
        e1, e2 = g.tangent_basis(a * 3.0)
        np.testing.assert_allclose(e1, g.unit(np.cross(au, r)), atol=1e-12)
        np.testing.assert_allclose(e2, np.cross(au, e1), atol=1e-12)


def test_transform_points_batched_moves_each_point_set_by_its_own_transform():
    rng = np.random.default_rng(3)
    Ts = np.stack(
        [g.make_transform(g.rotation_about_axis(rng.normal(size=3), a), rng.normal(size=3)) for a in (0.2, 1.1, 2.5)]
    )
    pts = rng.normal(size=(3, 5, 3))
    out = g.transform_points(Ts, pts)
    assert out.shape == (3, 5, 3) and out.dtype == np.float64
    for t in range(3):
        np.testing.assert_allclose(out[t], g.transform_points(Ts[t], pts[t]), atol=1e-12)
    # one shared point set, broadcast against the batch of transforms
    shared = g.transform_points(Ts, pts[0])
    np.testing.assert_allclose(shared[2], g.transform_points(Ts[2], pts[0]), atol=1e-12)
    # a transform per point
    per_point = g.transform_points(Ts, pts[:, 0][:, None, :])[:, 0, :]
    np.testing.assert_allclose(per_point[1], g.transform_points(Ts[1], pts[1, 0]), atol=1e-12)


def test_transform_points_keeps_float32_and_guards_shapes():
    T = g.make_transform(g.rotation_about_axis([0, 0, 1], 0.5), [1.0, 0.0, 0.0])
    p32 = np.ones((4, 3), np.float32)
    assert g.transform_points(T, p32).dtype == np.float32
    assert g.transform_points(np.stack([T, T]), np.ones((2, 4, 3), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="T must be"):
        g.transform_points(np.eye(3), p32)
    with pytest.raises(ValueError, match="points must be"):
        g.transform_points(T, np.ones((4, 2)))
    with pytest.raises(ValueError, match="points must be"):
        g.transform_points(np.stack([T, T]), np.ones(3))  # a batch needs (..., N, 3)


def test_lift_is_the_pinhole_inverse_of_projection():
    fx, fy, cx, cy = 500.0, 510.0, 320.5, 240.2
    uv = np.array([[[cx, cy], [cx + fx, cy]], [[cx, cy - 2 * fy], [0.0, 0.0]]])
    z = np.array([[2.0, 1.0], [0.5, 3.0]])
    p = g.lift(uv, z, (fx, fy, cx, cy))
    assert p.shape == (2, 2, 3) and p.dtype == np.float64
    np.testing.assert_allclose(p[0, 0], [0.0, 0.0, 2.0])
    np.testing.assert_allclose(p[0, 1], [1.0, 0.0, 1.0])  # one focal length right at 1 m: 1 m right
    np.testing.assert_allclose(p[1, 0], [0.0, -1.0, 0.5])
    np.testing.assert_allclose(p[1, 1, 0] / p[1, 1, 2] * fx + cx, 0.0, atol=1e-12)  # projects back


def test_lift_guards_shapes_and_camera_lift_marks_invalid_depth():
    from sim2art_core.camera import Intrinsics, lift

    with pytest.raises(ValueError, match="same leading shape"):
        g.lift(np.zeros((3, 2)), np.ones(4), (1, 1, 0, 0))
    with pytest.raises(ValueError, match="intrinsics"):
        g.lift(np.zeros((3, 2)), np.ones(3), (1, 1, 0))
    intr = Intrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    uv, z = np.array([[100.0, 50.0], [10.0, 20.0], [5.0, 5.0]]), np.array([1.5, np.nan, 0.0])
    run_time = lift(uv, z, intr)
    assert run_time.dtype == np.float32
    np.testing.assert_allclose(run_time[0], g.lift(uv[:1], z[:1], (500.0, 500.0, 320.0, 240.0))[0], rtol=1e-6)
    assert np.isnan(run_time[1:]).all()
