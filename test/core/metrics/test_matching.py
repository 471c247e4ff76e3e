"""sim2art_core.metrics.matching: Hungarian part matching and mIoU, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.metrics.matching import match_parts


def test_permuted_labels_match_perfectly():
    gt = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[7, 7, 3, 3, 5, 5]])
    m = match_parts(pred, gt, 3)
    assert m.gt_to_pred == {0: 7, 1: 3, 2: 5}
    np.testing.assert_allclose(m.ious, 1.0)
    assert m.mean_iou() == 1.0


def test_hand_computed_ious_and_root_option():
    gt = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    pred = np.array([[5, 5, 5, 7, 7, 7, 7, 7]])
    m = match_parts(pred, gt, 2)
    # IoU(gt0, 5) = 3/4; IoU(gt1, 7) = 4/5; the cross pairs are worse (1/8 and 0).
    assert m.gt_to_pred == {0: 5, 1: 7}
    np.testing.assert_allclose(m.ious, [0.75, 0.8])
    assert m.mean_iou() == pytest.approx(0.775)
    assert m.mean_iou(include_root=False) == pytest.approx(0.8)


def test_hungarian_beats_greedy_assignment():
    # gt0: 10 points, gt1: 10 points. Predicted A covers 7 of gt0 and 6 of gt1, B covers 3 of gt0,
    # 4 points of gt1 are unlabelled. IoU(gt0,A)=7/16 is the largest entry, but the best total is
    # gt0->B (3/10) + gt1->A (6/17).
    gt = np.array([[0] * 10 + [1] * 10])
    pred = np.array([[0] * 7 + [1] * 3 + [0] * 6 + [-1] * 4])
    m = match_parts(pred, gt, 2)
    assert m.gt_to_pred == {0: 1, 1: 0}
    np.testing.assert_allclose(m.ious, [3 / 10, 6 / 17])


def test_unmatched_gt_parts_get_zero_and_absent_parts_are_not_scored():
    gt = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[4, 4, 4, 4, 4, 4]])  # one predicted part for three GT parts
    m = match_parts(pred, gt, 4)  # part 3 has no points
    assert len(m.gt_to_pred) == 1
    assert sorted(m.ious[:3]) == pytest.approx([0.0, 0.0, 1 / 3])
    assert not m.gt_present[3]
    assert m.mean_iou() == pytest.approx(1 / 9)


def test_unlabelled_points_lower_iou_and_empty_prediction():
    gt = np.array([[0, 0, 1, 1]])
    m = match_parts(np.array([[0, -1, 1, 1]]), gt, 2)
    np.testing.assert_allclose(m.ious, [0.5, 1.0])
    empty = match_parts(np.full((1, 4), -1), gt, 2)
    assert empty.gt_to_pred == {} and empty.mean_iou() == 0.0


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="shapes"):
        match_parts(np.zeros((2, 3)), np.zeros((3, 2), int), 1)
    with pytest.raises(ValueError, match="lie in"):
        match_parts(np.zeros((1, 2)), np.array([[0, 3]]), 2)


def test_invalid_points_are_left_out_of_the_ious():
    # the last two points were not in the input (no depth/flow): their -1 labels must not count
    gt = np.array([[0, 0, 1, 1, 1, 1]])
    pred = np.array([[4, 4, 6, 6, -1, -1]])
    valid = np.array([[True, True, True, True, False, False]])
    assert match_parts(pred, gt, 2).ious[1] == pytest.approx(0.5)
    m = match_parts(pred, gt, 2, valid)
    np.testing.assert_allclose(m.ious, [1.0, 1.0])
    with pytest.raises(ValueError, match="valid mask"):
        match_parts(pred, gt, 2, valid[:, :3])
