"""Part merge (sim2art_core.segment.part_merge): two parts of one window that move as one rigid body become
one part (a door cut into two halves, a rotor cut into two); real separate parts that touch stay apart (a
double door, an upper and a lower door on one hinge line opened by different amounts, stacked drawers pulled
by different amounts), with exact and with noisy flow; bad input never raises. Synthetic scenes with exact
flow (scenes.py), none of our categories."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.segment import PartMergeConfig, merge_parts
from sim2art_core.window import Window

sys.path.insert(0, str(Path(__file__).parent))
from scenes import Part, box, hinge, ramp, render, slide, still, two_door_cabinet


def _window(scene, flow_noise_m: float = 0.0, seed: int = 0) -> Window:
    """The scene's window, its flow with Gaussian noise of ``flow_noise_m`` per coordinate."""
    w = scene.window()
    noise = np.random.default_rng(seed).normal(0.0, flow_noise_m, w.flow.shape)
    return replace(w, flow=(w.flow + noise).astype(np.float32))


def _one_door(angle=0.6):
    """A 0.6 x 0.8 x 0.4 m cabinet with one door hinged at its left edge (front at z = -0.21)."""
    return [
        Part(box((0, 0, 0), (0.6, 0.8, 0.4)), still, 0.6),
        Part([((0, 0, -0.21), (0.58, 0, 0), (0, 0.78, 0))], hinge((-0.3, 0, -0.21), (0, 1, 0), ramp(angle)), 0.4),
    ]


def _rotor(angle=1.5):
    """A still housing and a four-blade rotor (blades 25 cm long from the hub) turning about its own axis z."""
    across, along = ((0.25, 0, 0), (0, 0.06, 0)), ((0.06, 0, 0), (0, 0.25, 0))
    blades = [((0.13, 0, -0.1), *across), ((-0.13, 0, -0.1), *across), ((0, 0.13, -0.1), *along),
              ((0, -0.13, -0.1), *along)]  # fmt: skip
    return [
        Part(box((0, 0, 0.1), (0.7, 0.7, 0.2)), still, 0.6),
        Part(blades, hinge((0, 0, -0.1), (0, 0, 1), ramp(angle)), 0.4),
    ]


def _stacked_doors(upper=0.6, lower=0.3):
    """An upper and a lower door on one hinge line (x = -0.3), 1 cm apart, opened by different amounts."""
    return [
        Part(box((0, 0, 0), (0.6, 0.8, 0.4)), still, 0.5),
        Part([((0, 0.2, -0.21), (0.58, 0, 0), (0, 0.39, 0))], hinge((-0.3, 0, -0.21), (0, 1, 0), ramp(upper)), 0.25),
        Part([((0, -0.2, -0.21), (0.58, 0, 0), (0, 0.39, 0))], hinge((-0.3, 0, -0.21), (0, 1, 0), ramp(lower)), 0.25),
    ]


def _stacked_drawers(upper=0.15, lower=0.05):
    """Two drawers (front + sides) one above the other, 1 cm apart, pulled out along -z by different amounts."""

    def drawer(y):
        return [((0, y, -0.21), (0.58, 0, 0), (0, 0.19, 0)), ((-0.28, y, -0.05), (0, 0.17, 0), (0, 0, 0.3)),
                ((0.28, y, -0.05), (0, 0.17, 0), (0, 0, 0.3))]  # fmt: skip

    return [
        Part(box((0, 0, 0), (0.6, 0.4, 0.4)), still, 0.5),
        Part(drawer(0.1), slide((0, 0, -1), ramp(upper)), 0.25),
        Part(drawer(-0.1), slide((0, 0, -1), ramp(lower)), 0.25),
    ]


def _drawer_tops(left=0.12, right=0.06):
    """Two drawers side by side seen only from above (their tops, horizontal), 1 cm apart, pulled out along -z by
    different amounts: the motion lies in the tops' own plane, the surfaces cannot tell it, the flow can."""
    return [
        Part(box((0, 0.1, 0), (0.6, 0.2, 0.4)), still, 0.5),
        Part([((-0.15, 0.0, 0.0), (0.29, 0, 0), (0, 0, 0.38))], slide((0, 0, -1), ramp(left)), 0.25),
        Part([((0.15, 0.0, 0.0), (0.29, 0, 0), (0, 0, 0.38))], slide((0, 0, -1), ramp(right)), 0.25),
    ]


def _cut(scene, part: int, axis: int) -> np.ndarray:
    """The scene's labels with ``part`` cut in two at coordinate 0 along ``axis`` in every frame (as a network
    that gives two slots to one part does): the half with coordinate > 0 becomes a new last label."""
    labels = scene.labels.copy()
    labels[(scene.labels == part) & (scene.points[..., axis] > 0)] = scene.labels.max() + 1
    return labels


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_a_door_cut_into_two_halves_becomes_one_part(noise):
    scene = render(_one_door(), T=12, N=1000, seed=1)
    labels = _cut(scene, 1, axis=1)  # top and bottom half
    assert set(np.unique(labels)) == {0, 1, 2}
    merged = merge_parts(_window(scene, noise), labels)
    assert merged.merges == ((1, 2),) or merged.merges == ((2, 1),)
    assert set(np.unique(merged.labels)) == {0, 1}
    assert np.array_equal(merged.labels == 1, scene.labels == 1)  # the whole door, nothing else
    cfg, test = PartMergeConfig(), merged.tests[0]
    assert test.merged and test.ratio <= cfg.max_residual_ratio and test.relative_misfit < 0.7 * cfg.max_relative_misfit


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_a_rotor_cut_into_two_halves_becomes_one_part(noise):
    scene = render(_rotor(), T=12, N=1000, seed=2)
    labels = _cut(scene, 1, axis=0)  # left and right half, in every frame
    merged = merge_parts(_window(scene, noise), labels)
    assert len(merged.merges) == 1
    assert np.array_equal(merged.labels == 1, scene.labels == 1)


@pytest.mark.parametrize("noise", [0.0, 0.003])
@pytest.mark.parametrize(
    "name, parts",
    [
        ("double door", two_door_cabinet()),
        ("double door, one slow", two_door_cabinet(right_angle=ramp(-0.15))),
        ("upper and lower door, 0.6 and 0.3 rad", _stacked_doors(0.6, 0.3)),
        ("upper and lower door, 0.5 and 0.35 rad", _stacked_doors(0.5, 0.35)),
        ("stacked drawers, 15 and 5 cm", _stacked_drawers(0.15, 0.05)),
        ("stacked drawers, 12 and 8 cm", _stacked_drawers(0.12, 0.08)),
        ("drawer tops seen from above, 12 and 6 cm", _drawer_tops(0.12, 0.06)),
    ],
)
def test_separate_parts_that_touch_stay_apart(name, parts, noise):
    scene = render(parts, T=12, N=1000, seed=3)
    merged = merge_parts(_window(scene, noise), scene.labels)
    assert merged.merges == (), (name, merged.tests)
    assert np.array_equal(merged.labels, scene.labels)
    cfg, test = PartMergeConfig(), merged.tests[0]
    assert test.touch_points >= cfg.min_touch_points, name  # they do touch
    # the other's motion leaves each off by a good part of how far it moved (a door cut in two: <= 6 %)
    assert test.relative_misfit > 2 * cfg.max_relative_misfit, name


def test_parts_that_do_not_touch_are_not_merged():
    """Two doors far apart that open alike: one motion would explain both, but they are not one part."""
    far = [
        Part(box((0, 0, 0), (1.6, 0.8, 0.4)), still, 0.5),
        Part([((-0.5, 0, -0.21), (0.5, 0, 0), (0, 0.78, 0))], hinge((-0.75, 0, -0.21), (0, 1, 0), ramp(0.02)), 0.25),
        Part([((0.55, 0, -0.21), (0.5, 0, 0), (0, 0.78, 0))], hinge((-0.75, 0, -0.21), (0, 1, 0), ramp(0.02)), 0.25),
    ]
    scene = render(far, T=12, N=1000, seed=4)
    merged = merge_parts(_window(scene), scene.labels)
    assert merged.merges == () and merged.tests[0].touch_points == 0


def test_three_pieces_of_one_door_become_one_and_parents_follow():
    scene = render(_one_door(), T=12, N=2000, seed=6)
    labels = scene.labels.copy()
    door = scene.labels == 1
    labels[door & (scene.points[..., 1] > 0.13)] = 2
    labels[door & (scene.points[..., 1] < -0.13)] = 3
    merged = merge_parts(_window(scene), labels)
    assert len(merged.merges) == 2
    assert np.array_equal(merged.labels == 1, door)
    assert merged.parent.tolist() == [0, 1, 1, 1]


def test_bad_input_never_raises():
    scene = render(_one_door(), T=12, N=1000, seed=6)
    labels = _cut(scene, 1, axis=1)
    w = _window(scene)
    # one part only / no part: nothing to test
    assert merge_parts(w, scene.labels).merges == ()
    assert merge_parts(w, np.zeros_like(scene.labels)).merges == ()
    # NaN points (invalid in the window) are ignored, the rest still merges
    pts = w.points.copy()
    pts[:, :50] = np.nan
    valid = w.valid.copy()
    valid[:, :50] = False
    bad = Window(pts, w.flow, valid, w.stamps_ns, w.world_from_cam)
    assert len(merge_parts(bad, labels).merges) == 1
    # a single frame: no motion to compare
    one = Window(w.points[:1], w.flow[:1], w.valid[:1], w.stamps_ns[:1], w.world_from_cam[:1])
    assert merge_parts(one, labels[:1]).merges == ()
    # a part never seen in a frame with the other: not tested
    split_in_time = labels.copy()
    split_in_time[:6][split_in_time[:6] == 2] = 1
    split_in_time[6:][split_in_time[6:] == 1] = 2
    res = merge_parts(w, split_in_time)
    assert res.merges == () and not np.isfinite(res.tests[0].ratio)
    with pytest.raises(ValueError, match="labels"):
        merge_parts(w, labels[:, :10])


def test_config_is_checked():
    for bad in ({"max_residual_ratio": 0.9}, {"touch_m": 0.0}, {"frame_quantile": 0.0}, {"min_points": 2}):
        with pytest.raises(ValueError):
            PartMergeConfig(**bad)
