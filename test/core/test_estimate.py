"""sim2art_core.estimate helpers."""

from __future__ import annotations

import numpy as np

from sim2art_core.estimate import part_from_labels


def test_part_from_labels_uses_the_newest_frame_holding_the_part():
    points = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    labels = np.array([[0, 1, 1], [0, 0, -1]])
    root = part_from_labels(points, labels, 0)
    assert root.is_root and root.num_points == 2 and root.score == 1.0
    np.testing.assert_allclose(root.centroid, points[1, :2].mean(axis=0))
    part = part_from_labels(points, labels, 1, probs=np.full((2, 3, 2), 0.5))
    # only in frame 0: summarised there, but it holds no point of the newest frame
    assert part.num_points == 0 and part.score == 0.5
    np.testing.assert_allclose(part.bbox_min, points[0, 1])
    np.testing.assert_allclose(part.bbox_max, points[0, 2])


def test_part_without_points_is_unknown_not_zero():
    empty = part_from_labels(np.zeros((2, 3, 3), np.float32), np.zeros((2, 3), int), 4)
    assert empty.num_points == 0 and empty.score == 0.0 and np.isnan(empty.centroid).all()
