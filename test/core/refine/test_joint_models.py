"""sim2art_core.refine.joint_models: model fits on hand-built steps (exact, unobserved directions)."""

from __future__ import annotations

import numpy as np

from sim2art_core import geometry as g
from sim2art_core.refine.joint_models import StepData, fit_joint_models, type_probabilities
from sim2art_core.types import JointType


def revolute_steps(dtheta, axis, pivot, centroids, rot_info, disp_info, spurious=None) -> StepData:
    """Steps rotating by dtheta about (pivot, axis); ``spurious`` (K, 3) is added to the measured
    rotation vectors (noise in directions the information says are unobserved)."""
    K = len(dtheta)
    S = np.stack([g.revolute_motion(axis, pivot, a) for a in dtheta])
    rotvecs = np.asarray(dtheta)[:, None] * g.unit(axis)
    if spurious is not None:
        rotvecs = rotvecs + spurious
    return StepData(S, rotvecs, np.asarray(centroids, float), rot_info, disp_info, np.ones(K, bool),
                    np.asarray(centroids[0], float))  # fmt: skip


def test_exact_revolute_steps_are_recovered_exactly_and_selected():
    K = 6
    axis, pivot = g.unit(np.array([0.2, -0.1, 1.0])), np.array([0.3, 0.1, 0.0])
    dtheta = np.linspace(0.05, 0.2, K)
    x = np.tile([0.6, 0.2, 0.4], (K, 1)) + 0.01 * np.arange(K)[:, None]
    d = revolute_steps(dtheta, axis, pivot, x, np.tile(np.eye(3) * 1e5, (K, 1, 1)), np.tile(np.eye(3) * 1e6, (K, 1, 1)))
    fits = fit_joint_models(d)
    rev = fits[JointType.REVOLUTE]
    np.testing.assert_allclose(rev.axis, axis, atol=1e-9)
    np.testing.assert_allclose(rev.amounts, np.concatenate([[0], np.cumsum(dtheta)]), atol=1e-9)
    assert g.point_line_distance(pivot, rev.origin, rev.axis) < 1e-9
    assert rev.chi2 < 1e-12
    assert np.argmax(type_probabilities(fits)) == JointType.REVOLUTE


def test_rotation_about_an_unobserved_direction_does_not_tilt_the_axis():
    """A thin arm (along e = x) hinged about z: its points cannot show rotation about x, so the
    measured rotation vectors carry large arbitrary x components with (almost) no information."""
    K = 6
    axis, pivot = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0])
    dtheta = np.full(K, 0.05)
    rng = np.random.default_rng(0)
    spurious = np.zeros((K, 3))
    spurious[:, 0] = rng.normal(scale=0.15, size=K)
    info = np.tile(np.diag([1e-3, 3e4, 3e4]), (K, 1, 1))
    x = np.tile([0.1, 0.0, 0.0], (K, 1))
    d = revolute_steps(dtheta, axis, pivot, x, info, np.tile(np.eye(3) * 1e6, (K, 1, 1)), spurious)
    rev = fit_joint_models(d)[JointType.REVOLUTE]
    assert np.degrees(np.arccos(abs(rev.axis @ axis))) < 0.1
    np.testing.assert_allclose(rev.amounts[-1], 0.05 * K, rtol=1e-6)


def test_edge_on_steps_take_their_angle_from_the_displacement():
    """Steps whose rotation about the axis is unobserved (a lid seen edge-on) get their angle from the
    centroid's displacement once the pivot is known from the other steps."""
    K = 6
    axis, pivot = np.array([0.0, 1.0, 0.0]), np.array([-0.1, 0.0, 0.0])
    dtheta = np.array([0.1, 0.1, 0.15, 0.15, 0.1, 0.05])
    info = np.tile(np.eye(3) * 3e4, (K, 1, 1))
    info[2:4] = np.diag([3e4, 0.0, 3e4])  # no information about rotation about y in steps 2, 3
    spurious = np.zeros((K, 3))
    spurious[2:4, 1] = -dtheta[2:4]  # what the fit "saw" there: no rotation about y
    # centroid 10 cm from the hinge, moving with the part
    x = np.stack([g.transform_points(g.revolute_motion(axis, pivot, a), [0.0, 0.0, 0.05])
                  for a in np.concatenate([[0], np.cumsum(dtheta)[:-1]])])  # fmt: skip
    d = revolute_steps(dtheta, axis, pivot, x, info, np.tile(np.eye(3) * 1e6, (K, 1, 1)), spurious)
    rev = fit_joint_models(d)[JointType.REVOLUTE]
    np.testing.assert_allclose(rev.amounts, np.concatenate([[0], np.cumsum(dtheta)]), atol=1e-6)
    assert g.point_line_distance(pivot, rev.origin, rev.axis) < 1e-6


def test_prismatic_and_static_steps():
    K = 5
    T = np.stack([g.prismatic_motion([1, 1, 0], 0.02) for _ in range(K)])
    x = np.zeros((K, 3))
    info = np.tile(np.eye(3) * 1e6, (K, 1, 1))
    d = StepData(T, np.zeros((K, 3)), x, info, info, np.ones(K, bool), np.zeros(3))
    fits = fit_joint_models(d)
    assert np.argmax(type_probabilities(fits)) == JointType.PRISMATIC
    np.testing.assert_allclose(fits[JointType.PRISMATIC].axis, g.unit(np.array([1.0, 1, 0])), atol=1e-9)
    np.testing.assert_allclose(fits[JointType.PRISMATIC].amounts[-1], 0.1, atol=1e-9)
    still = StepData(np.tile(np.eye(4), (K, 1, 1)), np.zeros((K, 3)), x, info, info, np.ones(K, bool), np.zeros(3))
    assert np.argmax(type_probabilities(fit_joint_models(still))) == JointType.STATIC


def test_closed_form_2x2_inverse_matches_numpy_and_caps():
    from sim2art_core.refine.joint_models import _safe_inv2

    for M in [
        np.array([[4.0, 1.0], [1.0, 3.0]]),
        np.array([[2.0, 0.0], [0.0, 5.0]]),
        np.array([[1.0, -0.9], [-0.9, 1.0]]),
    ]:
        np.testing.assert_allclose(_safe_inv2(M, 1e9), np.linalg.inv(M), rtol=1e-10, atol=1e-12)
    capped = _safe_inv2(np.array([[1e-9, 0.0], [0.0, 1.0]]), 2.0)
    np.testing.assert_allclose(capped, np.diag([2.0, 1.0]), atol=1e-12)
