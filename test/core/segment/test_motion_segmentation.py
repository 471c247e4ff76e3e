"""Motion-consistent segmentation (sim2art_core.segment): synthetic scenes with exact flow, odd objects that are
none of our categories, flow noise, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.segment import MotionSegmentationConfig, MotionSegmentationInput, segment_by_motion

sys.path.insert(0, str(Path(__file__).parent))
from scenes import (
    Part,
    best_iou,
    box,
    hinge,
    network_probs,
    ramp,
    render,
    slide,
    still,
    two_door_cabinet,
)


def _segment(scene, slots, cfg=None):
    return segment_by_motion(
        MotionSegmentationInput(scene.points, scene.flow, scene.valid, network_probs(scene.labels, slots)), cfg
    )


def _parts_of(seg, scene, k):
    """The labels the segmentation gives most of true part k's points."""
    return np.bincount(seg.labels[scene.labels == k], minlength=seg.num_parts).argmax()


def test_two_doors_the_network_merged_are_split():
    scene = render(two_door_cabinet())
    seg = _segment(scene, [0, 1, 1])  # the network gives both doors one slot
    assert seg.num_parts == 3
    assert _parts_of(seg, scene, 1) != _parts_of(seg, scene, 2)
    for k in range(3):
        assert best_iou(seg.labels, scene.labels == k) > 0.9, k
    assert seg.moving.tolist() == [False, True, True]
    assert seg.born.sum() == 1 and seg.slot.tolist().count(1) == 2  # the split-off door keeps the door slot


def test_door_and_drawer_moving_together_then_apart_end_as_two_parts():
    """A door above a drawer; both move during the first half, then only the door (one network slot)."""
    parts = [
        Part(box((0, 0, 0), (0.6, 0.9, 0.4)), still, 0.5),
        Part([((0, 0.15, -0.21), (0.58, 0, 0), (0, 0.58, 0))], hinge((-0.3, 0, -0.21), (0, 1, 0), ramp(0.8)), 0.3),
        Part([((0, -0.32, -0.21), (0.58, 0, 0), (0, 0.22, 0)), ((0, -0.43, -0.05), (0.56, 0, 0), (0, 0, 0.3))],
             slide((0, 0, -1), ramp(0.15, 0.0, 0.5)), 0.2),
    ]  # fmt: skip
    scene = render(parts, seed=1)
    seg = _segment(scene, [0, 1, 1])
    assert _parts_of(seg, scene, 1) != _parts_of(seg, scene, 2) != 0
    assert best_iou(seg.labels, scene.labels == 1) > 0.85
    assert best_iou(seg.labels, scene.labels == 2) > 0.8


def test_a_part_that_never_moves_stays_with_the_base():
    parts = two_door_cabinet(left_angle=lambda t: 0.0)  # the left door never moves
    scene = render(parts, seed=2)
    seg = _segment(scene, [0, 0, 1])  # and the network put it on the base
    on_base = seg.labels[scene.labels == 1] == 0
    assert on_base.mean() > 0.95
    assert not seg.born.any()
    assert best_iou(seg.labels, scene.labels == 2) > 0.9


def test_a_small_drawer_that_clearly_moves_is_found():
    """A drawer on ~1 % of the points opening 20 cm, which the network gave to the base."""
    parts = [
        Part(box((0, 0, 0), (0.8, 0.8, 0.4)) + [((0, 0.1, -0.2), (0.8, 0, 0), (0, 0.6, 0))], still, 0.99),
        Part([((0, -0.35, -0.21), (0.12, 0, 0), (0, 0.06, 0))], slide((0, 0, -1), ramp(0.2)), 0.01),
    ]
    scene = render(parts, seed=3)
    assert 5 <= (scene.labels[0] == 1).sum() <= 15
    seg = _segment(scene, [0, 0])
    k = _parts_of(seg, scene, 1)
    assert k != 0 and seg.born[k] and seg.moving[k]
    assert best_iou(seg.labels, scene.labels == 1) > 0.8
    assert seg.motion_m[k] > 0.15


@pytest.mark.parametrize("sigma_mm", [1.0, 3.0, 6.0])
def test_flow_noise_on_a_static_object_gives_no_moving_part(sigma_mm):
    """Noise as DIS gives it on plain fronts: independent per point plus a smooth field per frame."""
    rng = np.random.default_rng(4)
    scene = render(two_door_cabinet(lambda t: 0.0, lambda t: 0.0), seed=4)
    s = sigma_mm / 1000.0
    T = scene.points.shape[0]
    waves = rng.normal(size=(T, 3, 3)) * s
    smooth = np.sin(scene.points * 6.0 + rng.uniform(0, 6, size=(T, 1, 3))) @ waves  # (T, N, 3)
    scene.flow = scene.flow + rng.normal(size=scene.flow.shape) * s + smooth
    seg = _segment(scene, [0, 1, 0])  # the network even believes in one door
    assert not seg.born.any()
    assert not seg.moving.any()  # the network's door slot drifts with the noise only: not reported as moving


# ------------------------------------------------------------------------------- odd objects
def test_box_with_a_door_hinged_at_the_bottom():
    parts = [
        Part(box((0, 0, 0), (0.5, 0.4, 0.5)), still, 0.6),
        Part([((0, 0, -0.26), (0.48, 0, 0), (0, 0.38, 0))], hinge((0, -0.2, -0.26), (1, 0, 0), ramp(-1.0)), 0.4),
    ]
    scene = render(parts, seed=5)
    seg = _segment(scene, [0, 0])  # the network missed the door entirely
    assert best_iou(seg.labels, scene.labels == 1) > 0.9
    assert seg.num_parts == 2


def test_tall_two_door_wardrobe():
    parts = [
        Part(box((0, 0, 0), (1.0, 2.0, 0.6)), still, 0.5),
        Part([((-0.25, 0, -0.31), (0.49, 0, 0), (0, 1.98, 0))], hinge((-0.5, 0, -0.31), (0, 1, 0), ramp(0.5)), 0.25),
        Part([((0.25, 0, -0.31), (0.49, 0, 0), (0, 1.98, 0))], hinge((0.5, 0, -0.31), (0, 1, 0), ramp(-0.4, 0.3)),
             0.25),
    ]  # fmt: skip
    scene = render(parts, seed=6)
    seg = _segment(scene, [0, 1, 1])
    assert seg.num_parts == 3
    for k in (1, 2):
        assert best_iou(seg.labels, scene.labels == k) > 0.85, k


def test_drawer_under_a_door_with_a_correct_network_stays_as_it_is():
    parts = [
        Part(box((0, 0, 0), (0.6, 0.9, 0.4)), still, 0.5),
        Part([((0, 0.15, -0.21), (0.58, 0, 0), (0, 0.58, 0))], hinge((0.3, 0, -0.21), (0, 1, 0), ramp(-0.7)), 0.3),
        Part([((0, -0.32, -0.21), (0.58, 0, 0), (0, 0.22, 0))], slide((0, 0, -1), ramp(0.2)), 0.2),
    ]
    scene = render(parts, seed=7)
    seg = _segment(scene, [0, 1, 2])
    assert seg.num_parts == 3 and not seg.born.any()
    for k in range(3):
        assert best_iou(seg.labels, scene.labels == k) > 0.95, k


# --------------------------------------------------------------------------------- bad input
def test_non_finite_points_are_invalid_and_labelled_minus_one():
    scene = render(two_door_cabinet(), T=6, N=300, seed=8)
    scene.points[2, :10] = np.nan
    scene.flow[3, 5:8] = np.inf
    seg = _segment(scene, [0, 1, 1])
    assert (seg.labels[2, :10] == -1).all() and (seg.labels[3, 5:8] == -1).all()
    assert (seg.probs[2, :10] == 0).all()
    assert (seg.labels[scene.valid & np.isfinite(scene.points).all(-1) & np.isfinite(scene.flow).all(-1)] >= 0).all()


def test_no_valid_point_gives_the_root_only_with_a_message():
    scene = render(two_door_cabinet(), T=4, N=100)
    probs = network_probs(scene.labels, [0, 1, 1])
    seg = segment_by_motion(MotionSegmentationInput(scene.points, scene.flow, np.zeros((4, 100), bool), probs))
    assert seg.num_parts == 1 and (seg.labels == -1).all() and seg.message == "no valid point"


def test_a_single_frame_and_empty_slots_do_not_raise():
    scene = render(two_door_cabinet(), T=1, N=200)
    probs = network_probs(scene.labels, [0, 1, 2])
    probs[..., 2] = 0.0  # a slot that holds nothing
    seg = segment_by_motion(MotionSegmentationInput(scene.points, scene.flow, scene.valid, probs))
    assert seg.labels.shape == (1, 200) and (seg.labels >= 0).all()
    np.testing.assert_allclose(seg.probs.sum(-1), 1.0, atol=1e-5)


def test_mismatched_shapes_are_a_clear_error():
    scene = render(two_door_cabinet(), T=3, N=50)
    with pytest.raises(ValueError, match="do not match"):
        segment_by_motion(MotionSegmentationInput(scene.points, scene.flow[:2], scene.valid, np.ones((3, 50, 2))))
    with pytest.raises(ValueError, match="must be > 0"):
        MotionSegmentationConfig(birth_sigma=0.0)
