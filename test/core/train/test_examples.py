"""SequenceSample -> training example: frames, normalisation, axis sign, augmentation."""

from __future__ import annotations

import numpy as np
import torch

from sim2art_core.geometry import point_line_distance
from sim2art_core.model import preset
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.train.examples import AugmentConfig, collate, example_from_sample
from sim2art_core.types import JointType

CFG = preset("tiny", num_frames=6, num_points=50)


def test_normalised_points_fit_the_unit_cube_and_targets_follow():
    sample = analytic_sample("prismatic", seed=0, num_frames=6, num_points=80)
    ex = example_from_sample(sample, CFG, np.random.default_rng(0), AugmentConfig.none())
    assert ex.points.shape == (6, 50, 3) and ex.labels.shape == (6, 50)
    assert np.abs(ex.points).max() <= 1.0 + 1e-6 and np.isclose(np.abs(ex.points).max(), 1.0, atol=0.05)
    # prismatic amounts are normalised units: metres times the scale
    gt = sample.part_amounts[1] * ex.scale
    np.testing.assert_allclose(np.abs(ex.amounts[1]), np.abs(gt), rtol=1e-5)
    # every moving point's flow is the same translation (rigid drawer): axis = its direction
    moving_flow = ex.flow[ex.labels == 1]
    d = moving_flow.mean(0) / np.linalg.norm(moving_flow.mean(0))
    assert abs(abs(d @ ex.axes[1]) - 1) < 1e-5


def test_axis_sign_makes_the_largest_amount_positive():
    for seed in range(6):
        sample = analytic_sample("revolute", seed=seed, num_frames=6, num_points=60)
        ex = example_from_sample(sample, CFG, np.random.default_rng(seed), AugmentConfig.none())
        a = ex.amounts[1]
        assert a[np.argmax(np.abs(a))] > 0
        flipped = np.sign(sample.part_amounts[1][np.argmax(np.abs(sample.part_amounts[1]))]) < 0
        assert np.allclose(ex.amounts[1], -sample.part_amounts[1] if flipped else sample.part_amounts[1], atol=1e-6)


def test_random_start_re_expresses_the_window_in_its_first_camera():
    sample = analytic_sample("revolute", seed=1, num_frames=10, num_points=300)
    cfg = preset("tiny", num_frames=4, num_points=300)
    aug = AugmentConfig(random_start=True, flow_noise_rel=0, flow_noise_abs=0, flow_dropout=0, flow_outliers=0,
                        point_jitter=0, roll_deg=30)  # fmt: skip
    rng = np.random.default_rng(3)
    for _ in range(5):
        ex = example_from_sample(sample, cfg, rng, aug)
        assert ex.amounts[1, 0] == 0
        # moving points rotate about the (normalised) GT axis line: their flow is perpendicular
        # to the axis and to the radius from the line
        pts, flw = ex.points[0][ex.labels[0] == 1], ex.flow[0][ex.labels[0] == 1]
        assert np.abs(flw @ ex.axes[1]).max() < 1e-4
        foot_dist = point_line_distance(pts, ex.pivots[1], ex.axes[1])
        step_len = np.linalg.norm(flw, axis=1)
        ratio = step_len / foot_dist  # same angular step for every point
        assert ratio.std() < 1e-3 * max(ratio.mean(), 1e-3) + 1e-5


def test_augmentation_perturbs_flow_but_not_labels():
    sample = analytic_sample("revolute", seed=2, num_frames=6, num_points=50)
    clean = example_from_sample(sample, CFG, np.random.default_rng(0), AugmentConfig.none())
    noisy = example_from_sample(sample, CFG, np.random.default_rng(0), AugmentConfig(random_start=False, roll_deg=0))
    np.testing.assert_array_equal(clean.labels, noisy.labels)
    assert not np.allclose(clean.flow, noisy.flow)


def test_collate_pads_parts():
    rng = np.random.default_rng(0)
    exs = [example_from_sample(analytic_sample(k, 0, 6, 50), CFG, rng) for k in ("static", "revolute")]
    points, flow, targets, scales = collate(exs)
    assert points.shape == (2, 6, 50, 3) and targets.part_valid.tolist() == [[True, False], [True, True]]
    assert targets.types[0, 1] == JointType.STATIC and scales.shape == (2,)


def test_collate_copies_each_part_and_pads_with_static_defaults():
    rng = np.random.default_rng(1)
    exs = [example_from_sample(analytic_sample(k, 1, 6, 50), CFG, rng) for k in ("static", "revolute")]
    _, _, targets, _ = collate(exs)
    for b, e in enumerate(exs):
        p = len(e.types)
        np.testing.assert_array_equal(targets.types[b, :p].numpy(), e.types)
        np.testing.assert_array_equal(targets.axes[b, :p].numpy(), e.axes)
        np.testing.assert_array_equal(targets.pivots[b, :p].numpy(), e.pivots)
        np.testing.assert_array_equal(targets.amounts[b, :p].numpy(), e.amounts)
        np.testing.assert_array_equal(targets.moving[b, :p].numpy(), e.moving)
    p0 = len(exs[0].types)
    assert p0 < targets.types.shape[1]
    assert targets.axes[0, p0:].tolist() == [[0.0, 0.0, 1.0]] * (targets.types.shape[1] - p0)
    assert not targets.pivots[0, p0:].any() and not targets.amounts[0, p0:].any() and not targets.moving[0, p0:].any()
    assert targets.types.dtype == torch.long and targets.axes.dtype == torch.float32
    assert targets.part_valid.dtype == torch.bool and targets.moving.dtype == torch.bool
