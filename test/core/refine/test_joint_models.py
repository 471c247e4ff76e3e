"""sim2art_core.refine.joint_models: model fits on hand-built steps (exact, unobserved directions)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sim2art_core import geometry as g
from sim2art_core.refine.joint_models import StepData, fit_joint_models, fit_joint_models_batch, type_probabilities
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


def _random_steps(rng: np.random.Generator, K: int = 15) -> StepData:
    """One part's steps: revolute, prismatic or no motion, with rotation / translation noise, steps
    whose rotation about one direction is unobserved, unfitted steps (leading, gaps) and sometimes
    nothing fitted at all. Rotations are exactly 0 or >= 1 mrad: a revolute model fitted to
    rotations of ~1e-11 rad (a translating part) is ill-conditioned, any rounding changes it."""
    kind = int(rng.integers(3))
    axis, pivot = g.unit(rng.normal(size=3)), rng.normal(scale=0.3, size=3)
    amounts = rng.normal(scale=0.05, size=K) + rng.normal(scale=0.05) * (kind > 0)
    S, x, cur = np.zeros((K, 4, 4)), np.zeros((K, 3)), rng.normal(scale=0.3, size=3)
    for k in range(K):
        T = [np.eye(4), g.prismatic_motion(axis, 0.5 * amounts[k]), g.revolute_motion(axis, pivot, amounts[k])][kind]
        noise = g.make_transform(g.rotation_about_axis(rng.normal(size=3), rng.choice([0.0, 1e-3, 1e-2])),
                                 rng.normal(scale=rng.choice([0.0, 1e-3, 5e-3]), size=3))  # fmt: skip
        S[k], x[k], cur = noise @ T, cur, g.transform_points(T, cur)
    Q = np.stack([g.rotation_about_axis(rng.normal(size=3), rng.uniform(0, np.pi)) for _ in range(K)])
    ev = 10 ** rng.uniform(2, 6, size=(K, 3))
    edge_on = rng.random(K) < 0.2
    ev[edge_on, 0] = rng.choice([0.0, 1e-3], size=int(edge_on.sum()))
    rot_info = Q @ (ev[:, :, None] * np.swapaxes(Q, 1, 2))
    disp_info = np.eye(3) * 10 ** rng.uniform(4, 7, size=(K, 1, 1))
    fitted = rng.random(K) > rng.choice([0.0, 0.2, 0.5])
    if rng.random() < 0.2:
        fitted[: rng.integers(1, 5)] = False
    if rng.random() < 0.05:
        fitted[:] = False
    S[~fitted], rot_info[~fitted], disp_info[~fitted] = np.eye(4), 0.0, 0.0
    rotvecs = Rotation.from_matrix(S[:, :3, :3]).as_rotvec()
    first = int(np.argmax(fitted))
    return StepData(S, rotvecs, x, rot_info, disp_info, fitted, x[first].copy())


def test_batched_fits_equal_the_per_part_reference_on_random_steps():
    """fit_joint_models_batch (all parts at once) returns, for every part, what the one-part-at-a-time
    formulation the refinement used before batching returns (refine_per_part_reference)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import refine_per_part_reference as reference

    rng = np.random.default_rng(7)
    fields = ("axis", "origin", "amounts", "step_amounts", "chi2", "num_params", "bic", "axis_cov", "origin_cov",
              "state_variance")  # fmt: skip
    for _ in range(40):
        parts = [_random_steps(rng) for _ in range(int(rng.integers(1, 7)))]
        batch = StepData(*(np.stack([getattr(d, f) for d in parts]) for f in StepData.__dataclass_fields__))
        for d, fits in zip(parts, fit_joint_models_batch(batch), strict=True):
            expected = reference.fit_joint_models(d)
            for t in JointType:
                assert fits[t].type == expected[t].type == t
                for f in fields:
                    np.testing.assert_allclose(getattr(fits[t], f), getattr(expected[t], f), rtol=1e-6, atol=1e-10,
                                               err_msg=f"{t.name}.{f}")  # fmt: skip


def test_batch_shapes_are_checked():
    K = 4
    info = np.tile(np.eye(3), (K, 1, 1))
    d = StepData(np.tile(np.eye(4), (K, 1, 1)), np.zeros((K, 3)), np.zeros((K, 3)), info, info, np.ones(K, bool),
                 np.zeros(3))  # fmt: skip
    with pytest.raises(ValueError, match="fitted must be"):
        fit_joint_models_batch(d)  # one part without its batch axis
    batch = StepData(*(np.stack([getattr(d, f)] * 2) for f in StepData.__dataclass_fields__))
    with pytest.raises(ValueError, match=r"rotvecs must be \(2, 4, 3\)"):
        fit_joint_models_batch(replace(batch, rotvecs=np.zeros((2, 4, 2))))
