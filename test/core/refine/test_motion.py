import numpy as np
import pytest

from sim2art_core.geometry import make_transform, prismatic_motion, revolute_motion
from sim2art_core.refine.motion import chain_steps, largest_displacement


def test_chain_steps_composes_the_steps_from_frame_0():
    a, b = revolute_motion([0, 0, 1], [1, 0, 0], 0.3), prismatic_motion([1, 0, 0], 0.2)
    chain = chain_steps(np.stack([a, b]))
    assert chain.shape == (3, 4, 4)
    np.testing.assert_allclose(chain[0], np.eye(4))
    np.testing.assert_allclose(chain[1], a)
    np.testing.assert_allclose(chain[2], b @ a)


def test_chain_steps_is_batched_over_leading_axes():
    steps = np.stack([np.stack([prismatic_motion([0, 1, 0], 0.1 * (i + 1))] * 3) for i in range(2)])
    chain = chain_steps(steps)
    assert chain.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(chain[1, 3, :3, 3], [0, 0.6, 0], atol=1e-12)


def test_largest_displacement_is_measured_from_the_probe_frame():
    # a drawer that slides 0.3 m by frame 2 and back to 0.1 m: probe seen at frame 1 (0.1 m out)
    motions = np.stack([prismatic_motion([1, 0, 0], d) for d in (0.0, 0.1, 0.3, 0.1)])
    probe = np.array([[0.1, 0.0, 0.0], [0.1, 0.5, 0.2]])
    assert largest_displacement(motions, probe, first=1) == pytest.approx(0.2)
    assert largest_displacement(motions, probe, first=0) == pytest.approx(0.3)


def test_largest_displacement_of_a_rotation_grows_with_the_lever_arm():
    motions = np.stack([np.eye(4), revolute_motion([0, 0, 1], [0, 0, 0], np.pi / 2)])
    near, far = np.array([[0.1, 0, 0]]), np.array([[0.1, 0, 0], [1.0, 0, 0]])
    assert largest_displacement(motions, near, 0) == pytest.approx(0.1 * np.sqrt(2))
    assert largest_displacement(motions, far, 0) == pytest.approx(np.sqrt(2))


def test_largest_displacement_of_an_empty_probe_is_zero_and_bad_shapes_raise():
    motions = np.stack([np.eye(4), make_transform(None, [1, 0, 0])])
    assert largest_displacement(motions, np.zeros((0, 3)), 0) == 0.0
    with pytest.raises(ValueError, match="probe"):
        largest_displacement(motions, np.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="motions"):
        largest_displacement(motions[0], np.zeros((4, 3)), 0)
    with pytest.raises(ValueError, match="steps"):
        chain_steps(np.eye(4))
