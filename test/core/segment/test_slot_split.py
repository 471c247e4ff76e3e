"""Slot split (sim2art_core.segment.slot_split): a small part the network gave a larger part's slot is
reported when its motion differs significantly; a static region in a moving slot with noisy flow is not;
bad input never raises. Synthetic scenes with exact flow (scenes.py), none of our categories."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.segment import SlotSplitConfig, split_slots
from sim2art_core.types import JointType

sys.path.insert(0, str(Path(__file__).parent))
from scenes import Part, box, hinge, ramp, render, slide, still


def _door_and_drawer(drawer_motion=None):
    """A wide cabinet: a door hinged at its left edge (30 % of the points) and, 15 cm to the right of the door's
    free edge, a small drawer front (3 % of the points) that slides out 12 cm along -z."""
    drawer_motion = drawer_motion or slide((0, 0, -1), ramp(0.12))
    return [
        Part(box((0, 0, 0), (1.2, 0.8, 0.4)), still, 0.67),
        Part([((-0.35, 0, -0.21), (0.48, 0, 0), (0, 0.78, 0))], hinge((-0.6, 0, -0.21), (0, 1, 0), ramp(0.5)), 0.30),
        Part([((0.25, 0.2, -0.21), (0.2, 0, 0), (0, 0.1, 0))], drawer_motion, 0.03),
    ]  # fmt: skip


def test_a_small_drawer_in_the_doors_slot_is_split_off_with_its_joint():
    scene = render(_door_and_drawer(), seed=3)
    labels = np.where(scene.labels == 2, 1, scene.labels)  # the network gave the drawer the door's slot
    split = split_slots(scene.window(), labels)
    assert len(split.joints) == 1, split.pieces
    drawer = scene.labels == 2
    assert (split.labels[drawer] == 2).mean() > 0.95  # the drawer is part 2 ...
    assert (split.labels[scene.labels == 1] == 1).mean() > 0.99  # ... the door keeps its label
    joint = split.joints[0]
    assert joint.child == 2 and joint.parent == 0 and split.source_part == (1,)
    assert joint.type == JointType.PRISMATIC
    assert np.degrees(np.arccos(min(abs(float(joint.axis @ np.array([0, 0, -1.0]))), 1.0))) < 2.0
    assert split.pieces[0].depth_support > 0.5  # the depth confirms the flow's motion
    assert split.observed[0][0] == pytest.approx(0.12 / 1.1, abs=0.01)  # ramp: 1/1.1 of it in the window


def test_a_piece_that_moves_with_its_part_is_not_split():
    """Two separate panels of one door (a gap wider than the link): they move alike, so no new part."""
    parts = [
        Part(box((0, 0, 0), (1.2, 0.8, 0.4)), still, 0.6),
        Part(
            [((-0.45, 0, -0.21), (0.28, 0, 0), (0, 0.78, 0)), ((-0.1, 0, -0.21), (0.28, 0, 0), (0, 0.78, 0))],
            hinge((-0.6, 0, -0.21), (0, 1, 0), ramp(0.5)),
            0.4,
        ),
    ]
    scene = render(parts, seed=4)
    split = split_slots(scene.window(), scene.labels)
    assert split.joints == ()
    assert [p.reason for p in split.pieces] == ["motion_rest"]


def test_a_static_region_in_a_moving_slot_with_noisy_flow_is_not_split():
    """A static patch of the body near the door, given the door's slot, seen with 2 mm flow noise plus a
    1.5 mm per-step drift (2.2 cm over the window, like the static regions the 1 cm prototype split off on
    val): it is not a moving part."""
    scene = render(_door_and_drawer(drawer_motion=still), seed=5)
    rng = np.random.default_rng(0)
    flow = scene.flow + rng.normal(0.0, 0.002, scene.flow.shape)
    patch = scene.labels == 2
    flow[patch] += np.array([0.0, 0.0, -0.0015])
    scene.flow = flow
    labels = np.where(patch, 1, scene.labels)
    split = split_slots(scene.window(), labels)
    assert split.joints == ()
    assert len(split.pieces) == 1 and not split.pieces[0].accepted
    assert np.array_equal(split.labels, labels)
    assert split.pieces[0].motion_root > 0.01
    # each gate alone rejects it: the noise multiple, and the depth (its surface did not move) ...
    no_noise = SlotSplitConfig(min_motion_noise=0.0, min_relative_noise=0.0)
    by_depth = split_slots(scene.window(), labels, no_noise).pieces[0]
    assert by_depth.reason == "depth" and by_depth.depth_support < 0.1
    # ... while a fixed 1 cm threshold alone (the throwaway prototype) splits it
    loose = SlotSplitConfig(min_motion_noise=0.0, min_relative_noise=0.0, min_depth_support=0.0, gate_min_explained=0.0)
    assert len(split_slots(scene.window(), labels, loose).joints) == 1


def test_a_fragment_of_another_part_is_given_to_it():
    """A strip of the left door (beyond a 6 cm gap) that the network gave the right door's slot: it moves
    as the left door does, so it joins the left door and no new joint is reported."""
    left = hinge((-0.4, 0, -0.21), (0, 1, 0), ramp(0.6))
    parts = [
        Part(box((0, 0, 0), (0.8, 0.8, 0.4)), still, 0.5),
        Part([((-0.25, 0, -0.21), (0.3, 0, 0), (0, 0.78, 0))], left, 0.2),
        Part([((0.2, 0, -0.21), (0.39, 0, 0), (0, 0.78, 0))], hinge((0.4, 0, -0.21), (0, 1, 0), ramp(-0.6)), 0.23),
        Part([((-0.04, 0, -0.21), (0.04, 0, 0), (0, 0.78, 0))], left, 0.07),
    ]
    scene = render(parts, seed=8)
    labels = np.where(scene.labels == 3, 2, scene.labels)
    split = split_slots(scene.window(), labels)
    assert split.joints == ()
    (piece,) = [p for p in split.pieces if p.part == 2]
    assert piece.reason == "merged" and piece.follows[0] == 1 and piece.follows[1] > 0.95
    assert (split.labels[scene.labels == 3] == 1).all()
    off = split_slots(scene.window(), labels, SlotSplitConfig(merge_min_explained=0.0))
    assert len(off.joints) == 1  # without the merge it would be a second joint for the left door


@pytest.mark.parametrize("case", ["no_parts", "empty_part", "nan_points", "no_root"])
def test_bad_input_never_raises(case):
    scene = render(_door_and_drawer(), seed=6)
    window = scene.window()
    labels = np.where(scene.labels == 2, 1, scene.labels)
    if case == "no_parts":
        labels = np.zeros_like(labels)
    elif case == "empty_part":
        labels = np.where(labels == 1, 0, labels)
        labels[0, 0] = 3  # labels 1 and 2 empty, 3 one point
    elif case == "nan_points":
        window.points[:, ::7] = np.nan
        window.valid[:, ::7] = False
    elif case == "no_root":
        labels = np.where(labels == 0, 1, labels)
    split = split_slots(window, labels)
    assert split.labels.shape == labels.shape
    if case in ("no_parts", "empty_part", "no_root"):
        assert split.joints == ()
    if case == "nan_points":
        assert (split.labels[:, ::7] == -1).all()
        assert len(split.joints) == 1  # the drawer is still found on the remaining points


def test_labels_of_the_wrong_shape_are_refused():
    scene = render(_door_and_drawer(), seed=7)
    with pytest.raises(ValueError, match="labels must be"):
        split_slots(scene.window(), scene.labels[:, :10])


def test_config_is_validated():
    with pytest.raises(ValueError):
        SlotSplitConfig(link_m=0.0)
    with pytest.raises(ValueError):
        SlotSplitConfig(gate_min_explained=1.5)
