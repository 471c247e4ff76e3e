"""Scoring recorded estimates against a bag's ground truth: joint matching, time alignment, worst cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.tools.bag_compare import (
    latency_of,
    moving_truth_joints,
    score_estimate,
    state_reference_ns,
    truth_over_window,
)
from sim2art_ros.tools.bag_report import accuracy

STAMPS = 1_700_000_000 * 10**9 + np.arange(12, dtype=np.int64) * 66_666_667


def _part(label, root=False):
    return PartEstimate(label, root, 10, np.zeros(3), -np.ones(3), np.ones(3), 1.0)


def _joint(child, jtype, axis, origin, amounts):
    return JointEstimate(
        child=child, parent=0, type=jtype, type_probs=np.eye(3)[int(jtype)], axis=np.asarray(axis, float),
        origin=np.asarray(origin, float), amounts=np.asarray(amounts, float), confidence=1.0,
    )  # fmt: skip


def truth() -> ArticulationEstimate:
    """A cabinet: a door (hinge x=0.3, y=0.2), a drawer sliding along +x, a fixed knob, and a door that never moves."""
    door = _joint(1, JointType.REVOLUTE, [0, 0, 1], [0.3, 0.2, 0.5], np.linspace(0, 0.9, 12))
    drawer = _joint(2, JointType.PRISMATIC, [1, 0, 0], [0.4, -0.2, 0.3], np.linspace(0, 0.2, 12) ** 1.5)
    knob = _joint(3, JointType.STATIC, [0, 0, 0], [0, 0, 0], np.zeros(12))
    still = _joint(4, JointType.REVOLUTE, [0, 0, 1], [-0.3, 0.2, 0.5], np.zeros(12))
    return ArticulationEstimate(
        status=EstimateStatus.OK, frame_id="odom", stamps_ns=STAMPS, labels=np.zeros((12, 0), np.int16),
        parts=tuple(_part(i, i == 0) for i in range(5)), joints=(door, drawer, knob, still),
    )  # fmt: skip


def window_estimate(gt: ArticulationEstimate, first: int, last: int, flip_door=False, drop_drawer=False):
    """What a perfect node reports for window frames first..last (amounts re-based), optionally altered."""
    stamps = gt.stamps_ns[first : last + 1]
    joints = []
    for j in gt.joints[:2]:
        a = np.asarray(j.amounts)[first : last + 1] - j.amounts[first]
        if flip_door and j.type == JointType.REVOLUTE:
            j = dataclasses.replace(j, axis=-np.asarray(j.axis), amounts=-a)
        else:
            j = dataclasses.replace(j, amounts=a)
        if drop_drawer and j.type == JointType.PRISMATIC:
            continue
        joints.append(dataclasses.replace(j, child=j.child + 10))  # the node numbers parts its own way
    return dataclasses.replace(
        gt, stamps_ns=stamps, labels=np.zeros((len(stamps), 0), np.int16), joints=tuple(joints[::-1])
    )


def test_only_moving_movable_joints_are_scored():
    assert moving_truth_joints(truth()) == (0, 1)


def test_truth_over_window_rebases_on_the_window_start():
    gt = truth()
    half = (STAMPS[4] + STAMPS[5]) // 2
    params = truth_over_window(gt.joints[0], gt.stamps_ns, np.array([STAMPS[3], half, STAMPS[9]]))
    step = 0.9 / 11
    np.testing.assert_allclose(params.amounts, [0.0, 1.5 * step, 6 * step], atol=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_a_perfect_window_estimate_scores_zero_error(flip):
    gt = truth()
    est = window_estimate(gt, 3, 10, flip_door=flip)
    score, gts = score_estimate(est, gt, moving_truth_joints(gt), latency_s=0.12)
    assert score.status == "OK" and score.latency_s == 0.12 and score.extra_joints == 0
    assert score.matches == (1, 0)  # joints listed in the other order: matched by geometry, not by index
    acc = accuracy(score)
    assert acc["type_accuracy"] == 1.0
    for key in ("axis_angle_deg", "axis_position_cm", "part_rotation_deg", "part_translation_cm"):
        assert acc[key] == pytest.approx(0.0, abs=1e-6), key
    np.testing.assert_allclose(gts[0].amounts[-1], gt.joints[0].amounts[10] - gt.joints[0].amounts[3])


def test_missed_and_wrong_estimates_get_worst_cases():
    gt = truth()
    score, _ = score_estimate(window_estimate(gt, 0, 11, drop_drawer=True), gt, (0, 1), latency_s=float("nan"))
    door, drawer = score.errors
    assert door.status == "ok" and drawer.status == "missed" and not drawer.type_correct
    assert drawer.axis_angle_deg == 90.0 and drawer.part_translation_cm > 0
    # an axis 60 deg off and 50 cm away is no match at all
    far = window_estimate(gt, 0, 11, drop_drawer=True)
    bad_door = dataclasses.replace(far.joints[0], axis=np.array([0.0, np.sin(1.05), np.cos(1.05)]),
                                   origin=np.array([0.8, 0.2, 0.5]))  # fmt: skip
    score, _ = score_estimate(dataclasses.replace(far, joints=(bad_door,)), gt, (0, 1), 0.0)
    assert [e.status for e in score.errors] == ["missed", "missed"] and score.extra_joints == 1
    # FAILED: everything missed, nothing crashes
    failed = ArticulationEstimate.failed("no depth", "odom", STAMPS[:4], (4, 0))
    score, _ = score_estimate(failed, gt, (0, 1), 0.0)
    assert score.status == "FAILED" and accuracy(score)["type_accuracy"] == 0.0


def test_no_ground_truth_keeps_latency_only():
    gt = truth()
    score, gts = score_estimate(window_estimate(gt, 0, 5), None, (), latency_s=0.3)
    assert score.errors == () and gts == () and score.num_joints == 2
    assert np.isnan(accuracy(score)["axis_angle_deg"])


def test_latency_matches_the_image_stamp_within_tolerance():
    sent = {int(STAMPS[2]): 100.0, int(STAMPS[3]): 100.1}
    assert latency_of(int(STAMPS[3]), 100.35, sent) == pytest.approx(0.25)
    assert latency_of(int(STAMPS[3]) + 1_000_000, 100.35, sent) == pytest.approx(0.25)  # 1 ms off
    assert np.isnan(latency_of(int(STAMPS[3]) + 20_000_000, 100.35, sent))


def test_fused_model_is_scored_on_the_newest_window_and_counts_confirmed_spurious_joints():
    """The fused model's states start at the state already reached (not 0) and its joints say whether
    they are confirmed: the motion over the window is scored, spurious joints are split by confirmation."""
    gt = truth()
    est = window_estimate(gt, 3, 10)
    door_state_at_3 = float(gt.joints[0].amounts[3])  # what the fused model reached before this window
    joints = [
        dataclasses.replace(j, amounts=j.amounts + door_state_at_3, support_windows=4, confirmed=True)
        if j.type == JointType.REVOLUTE
        else dataclasses.replace(j, support_windows=3, confirmed=True)
        for j in est.joints
    ]
    ghost = _joint(30, JointType.PRISMATIC, [0, 1, 0], [2.0, 2.0, 2.0], np.linspace(0, 0.1, 8))
    ghost_confirmed = dataclasses.replace(ghost, child=31, origin=np.array([-2.0, -2.0, 2.0]), confirmed=True)
    fused = dataclasses.replace(est, joints=(*joints, ghost, ghost_confirmed))
    score, _ = score_estimate(fused, gt, moving_truth_joints(gt), latency_s=0.0)
    acc = accuracy(score)
    assert acc["part_rotation_deg"] == pytest.approx(0.0, abs=1e-6)  # not off by the 0.25 rad already reached
    assert acc["axis_angle_deg"] == pytest.approx(0.0, abs=1e-6)
    assert (score.extra_joints, score.extra_confirmed) == (2, 1)


def _fused_windows(gt, windows, door_scale=1.0, flip=False):
    """What the fused model publishes for consecutive windows: the door track created in the first window
    (states from 0 there), then continued (states relative to that first frame); ``door_scale`` scales the
    estimated motion, ``flip`` reports the door with the opposite axis (and states)."""
    door = gt.joints[0]
    first = windows[0][0]
    out = []
    for k, (a, b) in enumerate(windows):
        states = (np.asarray(door.amounts)[a : b + 1] - door.amounts[first]) * door_scale
        axis = np.asarray(door.axis, float)
        if flip:
            axis, states = -axis, -states
        j = dataclasses.replace(door, child=7, axis=axis, amounts=states, support_windows=k + 1, confirmed=k >= 1)
        stamps = gt.stamps_ns[a : b + 1]
        out.append(dataclasses.replace(gt, stamps_ns=stamps, labels=np.zeros((len(stamps), 0), np.int16), joints=(j,)))
    return out


@pytest.mark.parametrize("flip", [False, True])
def test_fused_state_at_the_last_frame_is_scored_against_the_first_observed_frame(flip):
    """The fused model's door was first seen in the window starting at frame 2; its state at the newest frame
    (frame 11) is relative to frame 2. A FAILED estimate between windows does not break the chain."""
    gt = truth()
    ests = _fused_windows(gt, [(2, 7), (4, 9), (6, 11)], flip=flip)
    failed = ArticulationEstimate.failed("no flow", "odom", gt.stamps_ns[5:10], (5, 0))
    history = [ests[0], failed, ests[1]]
    assert state_reference_ns(ests[2], 7, history) == gt.stamps_ns[2]
    score, _ = score_estimate(ests[2], gt, moving_truth_joints(gt), latency_s=0.0, history=history)
    door = score.states[0]
    expected = float(gt.joints[0].amounts[11] - gt.joints[0].amounts[2])
    assert door.true == pytest.approx(expected) and door.estimated == pytest.approx(expected)
    assert door.error == pytest.approx(0.0, abs=1e-9) and door.reference_ns == gt.stamps_ns[2]
    # the drawer is missed: no motion estimated, error = its whole motion since the bag's first frame
    drawer = score.states[1]
    assert drawer.estimated == 0.0 and drawer.error == pytest.approx(float(gt.joints[1].amounts[11]))
    assert score.missed == 1
    acc = accuracy(score)
    assert acc["state_error_rad"] == pytest.approx(0.0, abs=1e-9)
    assert acc["state_error_cm"] == pytest.approx(100 * float(gt.joints[1].amounts[11]))


def test_a_state_that_drifts_is_scored_with_its_error_and_a_window_estimate_uses_its_own_start():
    gt = truth()
    ests = _fused_windows(gt, [(0, 5), (3, 8), (6, 11)], door_scale=1.2)
    score, _ = score_estimate(ests[2], gt, moving_truth_joints(gt), latency_s=0.0, history=ests[:2])
    assert score.states[0].error == pytest.approx(0.2 * float(gt.joints[0].amounts[11]))
    # without the recorded start of the track the reference is unknown: NaN, not a made-up number
    unknown, _ = score_estimate(ests[2], gt, moving_truth_joints(gt), latency_s=0.0, history=())
    assert np.isnan(unknown.states[0].error) and unknown.states[0].reference_ns == -1
    # a per-window estimate: states start at 0 in its own window, so that is the reference
    win = window_estimate(gt, 6, 11)
    score, _ = score_estimate(win, gt, moving_truth_joints(gt), latency_s=0.0, history=ests)
    assert all(s.reference_ns == gt.stamps_ns[6] for s in score.states)
    assert all(s.error == pytest.approx(0.0, abs=1e-9) for s in score.states)
