"""generate_sequence: ground-truth consistency for every category, frames, camera path, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from sim2art_core.camera import project
from sim2art_core.data.generator import (
    SequenceConfig,
    generate_sequence,
    generate_sequence_for_object,
    generate_sequence_from_urdf,
)
from sim2art_core.data.motion import MotionConfig
from sim2art_core.data.objects import generate_object
from sim2art_core.data.renderer import pybullet_intrinsics
from sim2art_core.data.sequence import ALL_CATEGORIES, BROAD_CATEGORIES
from sim2art_core.geometry import invert_transform, transform_points
from sim2art_core.types import JointType


@pytest.mark.parametrize("category", ALL_CATEGORIES)
def test_ground_truth_is_rigid_and_matches_the_joints(category, tiny, rigid_check):
    sample, _ = tiny(category)
    assert sample.category == category and sample.object_id == f"{category}-1"
    assert rigid_check(sample) > 0
    assert sample.part_moving.any(), "at least one joint moves noticeably"
    thr = np.where(sample.part_types == JointType.PRISMATIC, 0.005, math.radians(1.0))
    np.testing.assert_array_equal(sample.part_moving, np.abs(sample.part_amounts).max(1) > thr)
    np.testing.assert_allclose(np.linalg.norm(sample.part_axes[1:], axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("category", ALL_CATEGORIES)
def test_points_labels_colours_come_from_the_frames(category, tiny):
    sample, frames = tiny(category)
    T = sample.num_frames
    assert len(frames) == T + 1
    W, H = sample.image_size
    for t in range(T + 1):
        f = frames[t].validate()
        assert f.stamp_ns == round(t * SequenceConfig().frame_period_s * 1e9)
        if t < T:
            np.testing.assert_array_equal(f.world_from_cam, sample.world_from_cam[t])
    for t in range(T):
        f = frames[t]
        u, v = sample.pixels[t, :, 0], sample.pixels[t, :, 1]
        np.testing.assert_array_equal(sample.labels[t], f.part_mask[v, u])
        np.testing.assert_array_equal(sample.colors[t], f.rgb[v, u])
        assert f.mask[v, u].all()
        z = f.depth[v, u].astype(float)
        cam = np.stack([(u - f.intrinsics.cx) / f.intrinsics.fx * z, (v - f.intrinsics.cy) / f.intrinsics.fy * z, z], 1)
        c0_from_t = invert_transform(sample.world_from_cam[0]) @ sample.world_from_cam[t]
        np.testing.assert_allclose(sample.points[t], transform_points(c0_from_t, cam), atol=1e-5)
        # labels cover every part that is visible on a few percent of the object's pixels
        counts = np.bincount(f.part_mask[f.part_mask >= 0], minlength=sample.num_parts)
        visible = np.flatnonzero(counts > 0.03 * counts.sum())
        assert set(visible) <= set(np.unique(sample.labels[t])), (t, counts)


@pytest.mark.parametrize("category", ALL_CATEGORIES)
def test_flow_lands_on_the_next_frames_surface(category, tiny):
    """Moving points: p + flow, seen from camera t + 1, is on the rendered surface of the same part (unless
    occluded). Catches forward kinematics that disagree with PyBullet, wrong signs or frames."""
    sample, frames = tiny(category)
    ok = total = 0
    for t in range(sample.num_frames):
        nxt = frames[t + 1]
        moved = sample.points[t] + sample.flow[t]
        cam = transform_points(invert_transform(nxt.world_from_cam) @ sample.world_from_cam[0], moved.astype(float))
        uv = np.rint(project(cam, nxt.intrinsics)).astype(int)
        W, H = sample.image_size
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        d = np.full(len(uv), np.nan)
        d[inside] = nxt.depth[uv[inside, 1], uv[inside, 0]]
        # rounding to the nearest pixel moves up to half a pixel along the surface: allow for the local slope
        depth = np.where(np.isfinite(nxt.depth), nxt.depth, 0.0)
        slope = np.zeros(len(uv))
        slope[inside] = (
            ndimage.maximum_filter(depth, 3)[uv[inside, 1], uv[inside, 0]]
            - ndimage.minimum_filter(depth, 3)[uv[inside, 1], uv[inside, 0]]
        )
        same = np.zeros(len(uv), bool)
        same[inside] = nxt.part_mask[uv[inside, 1], uv[inside, 0]] == sample.labels[t, inside]
        moving = np.linalg.norm(sample.flow[t], axis=1) > 0
        ok += int(np.sum((same & (np.abs(d - cam[:, 2]) < 2e-3 + 0.5 * slope))[moving]))
        total += int(moving.sum())
    # the rest: occluded or at silhouettes after the motion (a reversed flow scores 4-52 %)
    assert total > 0 and ok > 0.75 * total, ok / total


def test_camera_path_is_a_handheld_arc_on_the_upper_hemisphere(tiny):
    for category in ("Storage4", "Laptop", "Scissors", "Table2"):
        sample, frames = tiny(category)
        obj = generate_object(category, 1)
        lo, hi = obj.world_bounds(sample.joint_states)
        center = (lo + hi) / 2
        eyes = np.array([f.world_from_cam[:3, 3] for f in frames])
        assert np.all(eyes[:, 2] > center[2]), "cameras above the object centre"
        az = np.degrees(np.arctan2(eyes[:, 1] - center[1], eyes[:, 0] - center[0]))
        assert abs(az[-1] - az[0]) > 5.0, "the camera moves along an arc"
        for f in frames:
            R = f.world_from_cam[:3, :3]
            z, x = R[:, 2], R[:, 0]
            horizontal_x = np.cross(z, [0, 0, 1])
            horizontal_x /= np.linalg.norm(horizontal_x)
            roll = math.degrees(math.atan2(np.dot(np.cross(horizontal_x, x), z), np.dot(horizontal_x, x)))
            assert abs(roll) < 25.0
            m = f.part_mask >= 0
            assert m.any() and not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()), "object in view"
        rolls = [f.world_from_cam[2, 0] for f in frames]
        assert np.ptp(rolls) > 0, "the roll changes a little along the path"


def test_intrinsics_are_pybullets():
    cfg = SequenceConfig(num_frames=2, num_points=64, width=80, height=60, fov_y_deg=(50.0, 50.0))
    s = generate_sequence("Box", 0, 0, cfg)
    i = pybullet_intrinsics(80, 60, math.radians(50.0))
    np.testing.assert_allclose(s.intrinsics, [i.fx, i.fy, 40.0, 29.0])
    assert s.image_size == (80, 60)


@pytest.mark.parametrize("category", BROAD_CATEGORIES)
def test_broader_families_respect_joint_limits_and_are_seed_deterministic(category):
    cfg = SequenceConfig(num_frames=4, num_points=200, width=80, height=60)
    for object_seed in (0, 5):
        obj = generate_object(category, object_seed)
        lim = obj.joint_limits()
        a = generate_sequence(category, object_seed, 3, cfg)
        assert np.all(a.joint_states >= lim[:, 0] - 1e-9) and np.all(a.joint_states <= lim[:, 1] + 1e-9)
        b = generate_sequence(category, object_seed, 3, cfg)
        for k, v in a.to_arrays().items():
            np.testing.assert_array_equal(v, b.to_arrays()[k], err_msg=k)


def test_same_seeds_give_identical_samples_and_frames_do_not_change_them():
    cfg = SequenceConfig(num_frames=3, num_points=200, width=80, height=60)
    a = generate_sequence("Storage5", 7, 11, cfg)
    b, frames = generate_sequence("Storage5", 7, 11, cfg, return_frames=True)
    for k, v in a.to_arrays().items():
        np.testing.assert_array_equal(v, b.to_arrays()[k], err_msg=k)
    c = generate_sequence("Storage5", 7, 12, cfg)
    assert not np.array_equal(a.points, c.points)
    assert len(frames) == 4


def test_still_joints_and_forced_motion():
    still = SequenceConfig(num_frames=4, num_points=128, width=64, height=48, motion=MotionConfig(still_prob=1.0))
    s = generate_sequence("Storage2", 3, 5, still)
    assert s.part_moving.sum() == 1, "everything still except the one joint forced to move"
    none = SequenceConfig(num_frames=4, num_points=128, width=64, height=48,
                          motion=MotionConfig(still_prob=1.0, min_moving=0))  # fmt: skip
    s = generate_sequence("Storage2", 3, 5, none)
    assert not s.part_moving.any() and np.all(s.flow == 0)


def test_external_mesh_urdf_sequence(mesh_object, rigid_check):
    cfg = SequenceConfig(num_frames=4, num_points=512, width=96, height=72, motion=MotionConfig(still_prob=0.0))
    sample, frames = generate_sequence_from_urdf(mesh_object, 3, cfg, return_frames=True)
    assert sample.category == "urdf" and sample.object_id == "mesh_cabinet"
    assert sample.part_names == ("base", "door", "wheel", "drawer")
    assert list(sample.part_types) == [JointType.STATIC, JointType.REVOLUTE, JointType.REVOLUTE, JointType.PRISMATIC]
    assert rigid_check(sample) > 0
    assert sample.part_moving[1:].all()
    assert set(np.unique(frames[0].part_mask)) == {-1, 0, 1, 2, 3}


def test_object_ids_of_custom_objects():
    obj = generate_object("Laptop", 2)
    cfg = SequenceConfig(num_frames=2, num_points=64, width=64, height=48)
    s = generate_sequence_for_object(obj, "my-laptop", 0, cfg)
    assert s.object_id == "my-laptop" and s.category == "Laptop" and s.object_seed == 2


def test_config_round_trips_through_a_dict():
    cfg = SequenceConfig(num_frames=8, width=64, height=48)
    assert SequenceConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        SequenceConfig.from_dict({"num_frame": 3})
    with pytest.raises(ValueError):
        SequenceConfig(width=2)
