"""sim2art_core.metrics.sample: evaluate_sample on exact-geometry samples (frames, matching, failures)."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.eval.scenes import cabinet, scene_to_sample
from sim2art_core.geometry import closest_point_on_line
from sim2art_core.metrics.sample import EvalConfig, evaluate_sample
from sim2art_core.refine import refine_joints
from sim2art_core.types import EstimateStatus, JointType


@pytest.fixture(scope="module")
def scene():
    return cabinet(num_frames=6, num_points=400, door_angle=0.8, drawer_travel=0.12)


@pytest.fixture(scope="module")
def sample(scene):
    return scene_to_sample(scene)


def part(label: int, is_root: bool | None = None) -> PartEstimate:
    root = label == 0 if is_root is None else is_root
    return PartEstimate(label, root, 1, np.zeros(3), np.zeros(3), np.zeros(3), 1.0)


def estimate_from_truth(scene, relabel=(0, 1, 2), joints=None, status=EstimateStatus.OK) -> ArticulationEstimate:
    """The exact answer in the window (world) frame, with the predicted labels permuted by ``relabel``."""
    labels = np.asarray(relabel)[scene.labels].astype(np.int16)
    if joints is None:
        T = scene.labels.shape[0]
        door, drawer = scene.parts[1], scene.parts[2]
        door_origin = closest_point_on_line(np.array(door.center), np.array(door.pivot), np.array(door.axis))
        joints = (
            JointEstimate(relabel[1], relabel[0], JointType.REVOLUTE, np.array([1.0, 0, 0]), np.array(door.axis, float),
                          door_origin, scene.amounts[1], 1.0),
            JointEstimate(relabel[2], relabel[0], JointType.PRISMATIC, np.array([0, 1.0, 0]),
                          np.array(drawer.axis, float), np.array(drawer.center, float), scene.amounts[2], 1.0),
        )  # fmt: skip
        assert T == len(scene.amounts[1])
    parts = tuple(part(int(x)) for x in sorted(set(relabel)))
    parts = tuple(
        PartEstimate(p.label, p.label == relabel[0], 1, p.centroid, p.bbox_min, p.bbox_max, 1.0) for p in parts
    )
    return ArticulationEstimate(status, "world", scene.window.stamps_ns, labels, parts, tuple(joints))


def test_exact_estimate_with_permuted_labels_scores_perfectly(scene, sample):
    m = evaluate_sample(sample, estimate_from_truth(scene, relabel=(4, 9, 2)))
    assert m.miou == pytest.approx(1.0) and m.status == EstimateStatus.OK
    assert [j.gt_part for j in m.joints] == [1, 2]
    door, drawer = m.joints
    assert door.status == "ok" and door.type_correct and drawer.type_correct
    assert door.axis_angle_deg < 1e-4 and door.axis_position_cm < 1e-4 and door.part_rotation_deg < 1e-4
    assert np.isnan(drawer.axis_position_cm) and drawer.part_translation_cm < 1e-4


def test_geometric_estimate_round_trips_through_the_cam0_ground_truth(scene, sample):
    """The estimate lives in the world frame of window_from_sample; GT is in cam0 (non-trivial pose)."""
    window = window_from_sample(sample)
    res = refine_joints(window, np.eye(3, dtype=np.float32)[sample.labels], root=0)
    est = estimate_from_truth(scene, joints=res.joints)
    m = evaluate_sample(sample, est)
    for j in m.joints:
        assert j.axis_angle_deg < 1e-3 and j.type_correct
    assert m.joints[0].axis_position_cm < 1e-3 and m.joints[0].part_rotation_deg < 1e-3
    assert m.joints[1].part_translation_cm < 1e-3


def test_failed_estimate_scores_zero_miou_and_worst_case_joints(scene, sample):
    failed = ArticulationEstimate.failed("network crashed", "world", scene.window.stamps_ns, scene.labels.shape)
    m = evaluate_sample(sample, failed)
    assert m.failed and m.miou == 0.0 and m.message == "network crashed"
    assert all(j.status == "missed" and j.axis_angle_deg == 90.0 and not j.type_correct for j in m.joints)
    assert m.joints[0].axis_position_cm == 100.0
    assert m.joints[0].part_rotation_deg == pytest.approx(np.degrees(np.mean(np.abs(scene.amounts[1][1:]))))


def test_no_articulation_estimate_misses_the_moving_parts(scene, sample):
    labels = np.zeros_like(scene.labels)
    est = ArticulationEstimate(EstimateStatus.NO_ARTICULATION, "world", scene.window.stamps_ns, labels, (part(0),))
    m = evaluate_sample(sample, est)
    # base: 200 of 400 points -> IoU 0.5 with the single predicted part; the others 0.
    assert m.miou == pytest.approx(0.5 / 3)
    assert evaluate_sample(sample, est, EvalConfig(include_root_in_miou=False)).miou == pytest.approx(0.0)
    assert all(j.status == "missed" for j in m.joints)


def test_part_merged_into_the_predicted_root_is_a_missed_joint(scene, sample):
    est = estimate_from_truth(scene, relabel=(0, 0, 2))  # door labelled as base
    est = ArticulationEstimate(est.status, "world", est.stamps_ns, est.labels, est.parts, est.joints[1:])
    door, drawer = evaluate_sample(sample, est).joints
    assert door.status == "missed" and drawer.status == "ok"
    # The door matched (by IoU) to the part the estimate calls its root: no joint can describe it.
    swapped = estimate_from_truth(scene, relabel=(5, 0, 2))
    parts = (part(0, is_root=True), part(5, is_root=False), part(2, is_root=False))
    est = ArticulationEstimate(EstimateStatus.OK, "world", swapped.stamps_ns, swapped.labels, parts,
                               (swapped.joints[0], swapped.joints[1]))  # fmt: skip
    assert est.root.label == 0 and est.joints[0].child == 0
    door, drawer = evaluate_sample(sample, est).joints
    assert door.status == "missed" and drawer.status == "ok"


def test_which_parts_are_scored(scene):
    still = cabinet(num_frames=6, num_points=400, door_angle=0.0, drawer_travel=0.12)
    sample = scene_to_sample(still)
    assert not sample.part_moving[1]
    est = estimate_from_truth(still)
    assert [j.gt_part for j in evaluate_sample(sample, est).joints] == [2]
    assert [j.gt_part for j in evaluate_sample(sample, est, EvalConfig(joint_parts="movable")).joints] == [1, 2]
    with pytest.raises(ValueError, match="joint_parts"):
        EvalConfig(joint_parts="some")


def test_label_shape_mismatch_raises(scene, sample):
    est = estimate_from_truth(scene)
    bad = ArticulationEstimate(est.status, "world", est.stamps_ns, est.labels[:, :10], est.parts, est.joints)
    with pytest.raises(ValueError, match="labels"):
        evaluate_sample(sample, bad)


def test_joints_below_the_visibility_threshold_are_excluded_and_counted(scene, sample):
    """Cabinet: base 50 %, door 25 %, drawer 25 % of the points."""
    from sim2art_core.metrics.aggregate import MEAN, aggregate, to_markdown

    est = estimate_from_truth(scene)
    m = evaluate_sample(sample, est, EvalConfig(min_joint_visibility=0.2))
    assert [j.gt_part for j in m.joints] == [1, 2] and m.excluded_joints == 0
    m = evaluate_sample(sample, est, EvalConfig(min_joint_visibility=0.3))
    assert m.joints == () and m.excluded_joints == 2
    # only the valid points count: with the door's points invalid in all but one frame it is barely seen
    valid = np.ones(sample.labels.shape, bool)
    valid[1:] &= sample.labels[1:] != 1
    m = evaluate_sample(sample, est, EvalConfig(min_joint_visibility=0.1), valid=valid)
    assert [j.gt_part for j in m.joints] == [2] and m.excluded_joints == 1
    table = aggregate([m, evaluate_sample(sample, est)], "x")
    assert table.num_excluded[MEAN] == 1 and table.num_joints[MEAN] == 3
    assert "| #joints excluded (visibility) | | 1 | 1 | 1 |" in to_markdown([table])
    with pytest.raises(ValueError, match="min_joint_visibility"):
        EvalConfig(min_joint_visibility=1.5)


def test_a_still_part_counts_as_base_for_miou_and_as_a_link_for_miou_all(scene):
    still = cabinet(num_frames=6, num_points=400, door_angle=0.0, drawer_travel=0.12)
    sample = scene_to_sample(still)
    assert not sample.part_moving[1] and sample.part_moving[2]
    # What a motion-based estimate sees: the still door is part of the base, the drawer is its own part.
    seen = estimate_from_truth(still, relabel=(0, 0, 2))
    seen = ArticulationEstimate(seen.status, "world", seen.stamps_ns, seen.labels, seen.parts, seen.joints[1:])
    m = evaluate_sample(sample, seen)
    assert m.miou == pytest.approx(1.0)  # base (with the door) and drawer exact
    assert m.miou_all < 0.75  # the door as its own link is missed (IoU 0), the base is too large
    assert [j.gt_part for j in m.joints] == [2] and m.joints[0].status == "ok"
    strict = evaluate_sample(sample, seen, EvalConfig(miou_parts="all"))
    assert strict.miou == pytest.approx(m.miou_all)
    # Segmenting the still door anyway is right for miou_all and not penalised by miou.
    full = evaluate_sample(sample, estimate_from_truth(still))
    assert full.miou_all == pytest.approx(1.0) and full.miou < 1.0
    with pytest.raises(ValueError, match="miou_parts"):
        EvalConfig(miou_parts="some")
    # still parts are still matched as links when their joints are scored
    movable = evaluate_sample(sample, estimate_from_truth(still), EvalConfig(joint_parts="movable"))
    assert [j.gt_part for j in movable.joints] == [1, 2] and movable.joints[0].status == "ok"
