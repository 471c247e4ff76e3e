"""ground_truth_estimate: the sample's ground truth as an ArticulationEstimate in the window frame."""

from __future__ import annotations

import numpy as np

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.ground_truth import ground_truth_estimate
from sim2art_core.data.motion import MotionConfig
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.geometry import point_line_distance, prismatic_motion, revolute_motion, transform_points
from sim2art_core.types import EstimateStatus, JointType


def test_estimate_matches_the_window_frame_and_the_joints(tiny):
    sample, _ = tiny("Storage3")
    est = ground_truth_estimate(sample)
    window = window_from_sample(sample)
    assert est.status == EstimateStatus.OK and est.frame_id == window.frame_id == "world"
    np.testing.assert_array_equal(est.stamps_ns, window.stamps_ns)
    np.testing.assert_array_equal(est.labels, sample.labels)
    assert len(est.parts) == sample.num_parts and est.root is est.parts[0]
    assert [j.child for j in est.joints] == list(range(1, sample.num_parts))
    T = sample.num_frames
    for j in est.joints:
        p = j.child
        assert j.type == JointType(int(sample.part_types[p])) and j.type_probs[int(j.type)] == 1.0
        assert j.amounts[np.argmax(np.abs(j.amounts))] >= 0  # sign convention of JointEstimate
        sign = 1.0 if np.allclose(j.amounts, sample.part_amounts[p]) else -1.0
        np.testing.assert_allclose(j.amounts, sign * sample.part_amounts[p], atol=1e-6)
        # the estimate's joint moves each frame's points of the part by their flow
        for t in range(T - 1):
            sel = sample.labels[t] == p
            d = j.amounts[t + 1] - j.amounts[t]
            step = revolute_motion(j.axis, j.origin, d) if j.type == JointType.REVOLUTE else prismatic_motion(j.axis, d)
            moved = transform_points(step, window.points[t, sel].astype(float))
            np.testing.assert_allclose(moved, window.points[t, sel] + window.flow[t, sel], atol=1e-3)
        if j.type == JointType.REVOLUTE:  # the origin lies on the axis line through the sample's pivot
            piv = transform_points(sample.world_from_cam[0], sample.part_pivots[p][None].astype(float))
            assert point_line_distance(j.origin[None], piv[0], j.axis)[0] < 1e-6
    assert est.observed_motion > 0.01


def test_nothing_moving_gives_no_articulation():
    cfg = SequenceConfig(num_frames=3, num_points=64, width=64, height=48,
                         motion=MotionConfig(still_prob=1.0, min_moving=0))  # fmt: skip
    est = ground_truth_estimate(generate_sequence("Laptop", 1, 1, cfg))
    assert est.status == EstimateStatus.NO_ARTICULATION
    assert len(est.parts) == 1 and not est.joints and np.all(est.labels == 0)
