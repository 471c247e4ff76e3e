"""sim2art_core.metrics.joint_metrics: hand-computed cases for every metric."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.geometry import rotation_about_axis
from sim2art_core.metrics.joint_metrics import (
    JointParams,
    WorstCase,
    axis_angle_error_deg,
    evaluate_joint,
    line_to_line_cm,
    point_to_line_cm,
    rotation_geodesic_deg,
)
from sim2art_core.types import JointType

R, P, S = JointType.REVOLUTE, JointType.PRISMATIC, JointType.STATIC


def jp(t, axis, pivot=(0, 0, 0), amounts=(0.0, 0.1, 0.2)):
    return JointParams(t, np.asarray(axis, float), np.asarray(pivot, float), np.asarray(amounts, float))


@pytest.mark.parametrize(
    ("a", "b", "deg"),
    [
        ((1, 0, 0), (1, 0, 0), 0.0),
        ((1, 0, 0), (-1, 0, 0), 0.0),  # sign-agnostic
        ((1, 0, 0), (0, 1, 0), 90.0),
        ((1, 1, 0), (1, 0, 0), 45.0),  # not normalised on input
        ((-1, 1, 0), (1, 0, 0), 45.0),
        ((0, 0, 0), (1, 0, 0), 90.0),  # a zero axis is as wrong as it gets, not NaN
    ],
)
def test_axis_angle_error(a, b, deg):
    assert axis_angle_error_deg(np.array(a, float), np.array(b, float)) == pytest.approx(deg, abs=1e-9)


def test_axis_angle_clips_dot_products_above_one():
    a = np.array([1.0, 1e-9, 0.0])
    assert axis_angle_error_deg(a * 3, a) == pytest.approx(0.0, abs=1e-6)


def test_point_to_line_distance_of_gt_pivot_to_predicted_line():
    # Predicted line: x axis through the origin. GT pivot 1 m off it (and 5 m along it: irrelevant).
    assert point_to_line_cm([5.0, 1.0, 0.0], [0, 0, 0], [1, 0, 0]) == pytest.approx(100.0)
    assert point_to_line_cm([5.0, 0.0, 0.0], [2, 0, 0], [-1, 0, 0]) == pytest.approx(0.0)


def test_line_to_line_skew_lines():
    # x axis through the origin vs a y-parallel line at z = 0.3: common perpendicular is 30 cm long.
    assert line_to_line_cm([0, 0, 0], [1, 0, 0], [4, 2, 0.3], [0, 1, 0]) == pytest.approx(30.0)


@pytest.mark.parametrize("gt_axis", [(0, 0, 1), (0, 0, -1), (1e-5, 0, 1)])
def test_line_to_line_parallel_offset_axes_fall_back_to_point_to_line_never_zero(gt_axis):
    d = line_to_line_cm([0, 0, 0], [0, 0, 1], [0.2, 0.0, 0.7], np.array(gt_axis, float))
    assert d == pytest.approx(20.0, rel=1e-4)


def test_rotation_geodesic():
    Ra = rotation_about_axis([0, 0, 1], 0.3)
    Rb = rotation_about_axis([0, 0, 1], -0.2)
    assert rotation_geodesic_deg(Ra, Rb) == pytest.approx(np.degrees(0.5))
    assert rotation_geodesic_deg(np.eye(3), np.eye(3)) == pytest.approx(0.0)


def test_revolute_errors_hand_computed():
    gt = jp(R, (0, 0, 1), pivot=(1.0, 0.0, 0.0), amounts=(0.0, 0.1, 0.2))
    pred = jp(R, (0, 0, 1), pivot=(1.0, 0.05, 3.0), amounts=(0.0, 0.1, 0.3))
    e = evaluate_joint(pred, gt)
    assert e.status == "ok" and e.type_correct and e.pred_type == R
    assert e.axis_angle_deg == pytest.approx(0.0)
    assert e.axis_position_cm == pytest.approx(5.0)
    assert e.axis_line_distance_cm == pytest.approx(5.0)  # parallel: fallback
    # frames 1..T-1: |0.1 - 0.1|, |0.3 - 0.2| -> mean 0.05 rad
    assert e.part_rotation_deg == pytest.approx(np.degrees(0.05))
    assert e.part_rotation_geodesic_deg == pytest.approx(np.degrees(0.05))
    assert np.isnan(e.part_translation_cm) and np.isnan(e.part_translation_vector_cm)


def test_flipped_axis_sign_is_resolved_before_comparing_amounts():
    gt = jp(R, (0, 1, 0), amounts=(0.0, 0.2, 0.4))
    same = evaluate_joint(jp(R, (0, -1, 0), amounts=(0.0, -0.2, -0.4)), gt)
    assert same.axis_angle_deg == pytest.approx(0.0) and same.part_rotation_deg == pytest.approx(0.0, abs=1e-12)
    assert same.part_rotation_geodesic_deg == pytest.approx(0.0, abs=1e-5)
    wrong = evaluate_joint(jp(R, (0, -1, 0), amounts=(0.0, 0.2, 0.4)), gt)
    assert wrong.part_rotation_deg == pytest.approx(np.degrees(0.6))  # mean(0.4, 0.8)


def test_prismatic_has_no_position_error_and_translation_in_cm():
    gt = jp(P, (0, 1, 0), pivot=(9, 9, 9), amounts=(0.0, 0.1))
    e = evaluate_joint(jp(P, (0, -1, 0), pivot=(0, 0, 0), amounts=(0.0, -0.12)), gt)
    assert np.isnan(e.axis_position_cm) and np.isnan(e.axis_line_distance_cm) and np.isnan(e.part_rotation_deg)
    assert e.part_translation_cm == pytest.approx(2.0)
    assert e.part_translation_vector_cm == pytest.approx(2.0)
    perpendicular = evaluate_joint(jp(P, (1, 0, 0), amounts=(0.0, 0.1)), gt)
    assert perpendicular.axis_angle_deg == pytest.approx(90.0)
    assert perpendicular.part_translation_cm == pytest.approx(0.0)  # amounts alone agree ...
    assert perpendicular.part_translation_vector_cm == pytest.approx(100 * np.sqrt(0.02))  # ... the motion does not


def test_wrong_type_contributes_zero_motion_of_the_true_kind():
    gt = jp(R, (0, 0, 1), amounts=(0.0, 0.2, 0.4))
    e = evaluate_joint(jp(P, (0, 0, 1), amounts=(0.0, 0.5, 0.9)), gt)
    assert not e.type_correct and e.pred_type == P
    assert e.part_rotation_deg == pytest.approx(np.degrees(0.3))
    assert e.axis_angle_deg == pytest.approx(0.0)


def test_missed_and_invalid_joints_get_documented_worst_case():
    gt = jp(R, (0, 0, 1), amounts=(0.0, 0.2, 0.4))
    for pred, status in [(None, "missed"), (jp(R, (np.nan, 0, 1)), "invalid"), (jp(R, (0, 0, 0)), "invalid")]:
        e = evaluate_joint(pred, gt, WorstCase(axis_angle_deg=90.0, axis_position_cm=100.0))
        assert e.status == status and not e.type_correct
        assert e.axis_angle_deg == 90.0 and e.axis_position_cm == 100.0 and e.axis_line_distance_cm == 100.0
        assert e.part_rotation_deg == pytest.approx(np.degrees(0.3))  # as if it predicted no motion
    gt_p = jp(P, (0, 0, 1), amounts=(0.0, 0.1, 0.3))
    e = evaluate_joint(None, gt_p)
    assert np.isnan(e.axis_position_cm) and e.part_translation_cm == pytest.approx(20.0)


def test_static_ground_truth_scores_type_only():
    gt = jp(S, (0, 0, 0), amounts=(0.0, 0.0))
    right = evaluate_joint(jp(S, (0, 0, 1), amounts=(0.0, 0.0)), gt)
    assert right.type_correct and np.isnan(right.axis_angle_deg) and np.isnan(right.part_rotation_deg)
    assert evaluate_joint(None, gt).type_correct  # predicting no joint for a static part is right
    assert not evaluate_joint(jp(R, (0, 0, 1), amounts=(0.0, 0.1)), gt).type_correct


def test_bad_ground_truth_or_lengths_raise():
    gt = jp(R, (0, 0, 1), amounts=(0.0, 0.2, 0.4))
    with pytest.raises(ValueError, match="frames"):
        evaluate_joint(jp(R, (0, 0, 1), amounts=(0.0, 0.1)), gt)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_joint(None, jp(R, (0, 0, np.nan)))
    with pytest.raises(ValueError, match="2 frames"):
        evaluate_joint(None, jp(R, (0, 0, 1), amounts=(0.0,)))
