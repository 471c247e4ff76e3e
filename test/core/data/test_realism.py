"""Realism options: each changes what it should and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from scipy import ndimage

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig
from sim2art_core.geometry import invert_transform, transform_points

BASE = SequenceConfig(num_frames=4, num_points=400, width=96, height=72)
CASE = ("Storage3", 2, 3)


@cache
def run(realism: RealismConfig | None = None, frames: bool = True):
    return generate_sequence(*CASE, replace(BASE, realism=realism or RealismConfig()), return_frames=frames)


def _same(a, b, names):
    for n in names:
        np.testing.assert_array_equal(getattr(a, n), getattr(b, n), err_msg=n)


GT_FIELDS = ("part_axes", "part_pivots", "part_amounts", "part_types", "joint_states", "intrinsics")


def test_defaults_are_off_and_preset_turns_all_four_on():
    off = RealismConfig()
    assert not off.any and off.to_json() == "{}"
    r = RealismConfig.robustness()
    assert r.depth_noise and r.missing_depth and r.mask_errors and r.pose_drift
    assert RealismConfig.from_dict(json.loads(r.to_json())) == r
    with pytest.raises(ValueError, match="depth_noise_std"):
        RealismConfig(depth_noise_std=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        RealismConfig.from_dict({"blur": 1.0})


def test_depth_noise_moves_points_along_their_rays_only():
    (base, _), (noisy, _) = run(), run(RealismConfig(depth_noise_std=0.004))
    _same(base, noisy, ("pixels", "labels", "colors", "world_from_cam", *GT_FIELDS))
    assert json.loads(noisy.realism) == {"depth_noise_std": 0.004}
    for t in range(base.num_frames):
        t_from_c0 = invert_transform(base.world_from_cam[t]) @ base.world_from_cam[0]
        a = transform_points(t_from_c0, base.points[t].astype(float))
        b = transform_points(t_from_c0, noisy.points[t].astype(float))
        ray = a / np.linalg.norm(a, axis=1, keepdims=True)
        np.testing.assert_allclose(np.linalg.norm(np.cross(b - a, ray), axis=1), 0.0, atol=2e-5)
        z_err = (b - a)[:, 2] / (0.004 * a[:, 2] ** 2)  # standardised depth error
        assert 0.7 < z_err.std() < 1.3 and abs(z_err.mean()) < 0.3
    root = base.labels == 0
    assert np.all(base.flow[root] == 0) and np.any(noisy.flow[root] != 0)  # a sensor sees noisy static flow


def test_missing_depth_leaves_holes_and_points_avoid_them(rigid_check):
    (base, bf), (holes, hf) = run(), run(RealismConfig(missing_depth_fraction=0.1, missing_depth_edge_px=1))
    _same(base, holes, ("world_from_cam", *GT_FIELDS))
    for t in range(holes.num_frames):
        valid_before = np.isfinite(bf[t].depth)
        lost = valid_before & ~np.isfinite(hf[t].depth)
        assert lost.sum() > 0.08 * valid_before.sum()
        np.testing.assert_array_equal(bf[t].rgb, hf[t].rgb)  # colour is untouched
        u, v = holes.pixels[t, :, 0], holes.pixels[t, :, 1]
        assert np.all(np.isfinite(hf[t].depth[v, u]))
        np.testing.assert_array_equal(holes.labels[t], hf[t].part_mask[v, u])
    rigid_check(holes)  # ground truth stays exact


def test_mask_errors_sample_background_as_static_root(rigid_check):
    (base, bf), (bad, mf) = run(), run(RealismConfig(mask_error_px=2.0))
    _same(base, bad, ("world_from_cam", *GT_FIELDS))
    outside = 0
    for t in range(bad.num_frames):
        true_mask = mf[t].part_mask >= 0
        np.testing.assert_array_equal(true_mask, bf[t].part_mask >= 0)
        dist_out = ndimage.distance_transform_edt(~true_mask)
        dist_in = ndimage.distance_transform_edt(true_mask)
        assert np.all(dist_out[mf[t].mask] <= 4.0) and np.all(dist_in[~mf[t].mask] <= 4.0), "errors stay near edges"
        assert (mf[t].mask != true_mask).sum() > 0
        u, v = bad.pixels[t, :, 0], bad.pixels[t, :, 1]
        off = ~true_mask[v, u]
        outside += int(off.sum())
        assert np.all(bad.labels[t, off] == 0) and np.all(bad.flow[t, off] == 0)
        world = transform_points(bad.world_from_cam[0], bad.points[t, off].astype(float))
        np.testing.assert_allclose(world[:, 2], -0.001, atol=2e-3)  # they lie on the floor
    assert outside > 0
    rigid_check(bad)


def test_pose_drift_changes_reported_poses_not_what_the_camera_saw():
    (base, _), (drift, _) = run(), run(RealismConfig(pose_drift_deg=0.3, pose_drift_frac=0.004))
    _same(base, drift, ("pixels", "labels", "colors", *GT_FIELDS))
    np.testing.assert_array_equal(drift.world_from_cam[0], base.world_from_cam[0])  # anchored at frame 0
    assert not np.allclose(drift.world_from_cam[1:], base.world_from_cam[1:], atol=1e-6)
    for t in range(base.num_frames):  # same camera-frame observations, placed with different poses
        a = transform_points(invert_transform(base.world_from_cam[t]) @ base.world_from_cam[0], base.points[t])
        b = transform_points(invert_transform(drift.world_from_cam[t]) @ drift.world_from_cam[0], drift.points[t])
        np.testing.assert_allclose(a, b, atol=2e-5)
    root = drift.labels == 0
    apparent = np.linalg.norm(drift.flow[root], axis=-1)
    assert 0 < apparent.max() < 0.1  # static points see the small relative drift between frames


def test_robustness_preset_generates_valid_samples():
    sample, frames = run(RealismConfig.robustness())
    assert set(json.loads(sample.realism)) == {
        "depth_noise_std", "missing_depth_fraction", "missing_depth_edge_px", "mask_error_px", "pose_drift_deg",
        "pose_drift_frac",
    }  # fmt: skip
    assert all(np.isnan(f.depth).any() for f in frames)
    sample.validate()
