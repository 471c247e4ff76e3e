"""PyBullet renderer: pixel-centre convention against analytic depth, file caching, link poses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from sim2art_core.camera import Intrinsics
from sim2art_core.data.camera_path import look_at
from sim2art_core.data.objects import ArticulatedObject, Link, Visual, generate_object
from sim2art_core.data.renderer import get_renderer, pybullet_intrinsics
from sim2art_core.geometry import invert_transform, transform_points


def _box_object(name: str, size, xyz, rpy) -> ArticulatedObject:
    return ArticulatedObject(name, "urdf", 0, (Link("base", (Visual("box", size, xyz, rpy),)),), ())


def _ray_box_depth(intr: Intrinsics, world_from_cam: np.ndarray, size, xyz, rpy) -> np.ndarray:
    """Closed-form z-depth of a box (slab method) for every pixel; NaN where the ray misses."""
    from sim2art_core.data.objects.model import origin_matrix

    u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
    d_cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, float)], -1)  # z = 1
    box_from_cam = invert_transform(origin_matrix(xyz, rpy)) @ world_from_cam
    o = box_from_cam[:3, 3]
    d = d_cam @ box_from_cam[:3, :3].T
    h = np.asarray(size) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-h - o) / d, (h - o) / d
    tmin = np.minimum(t1, t2).max(-1)
    tmax = np.maximum(t1, t2).min(-1)
    return np.where((tmax >= tmin) & (tmin > 0), tmin, np.nan)


SIZE, XYZ, RPY = (0.5, 0.4, 0.3), (0.05, -0.02, 0.2), (0.3, -0.2, 0.6)


@pytest.mark.parametrize("wh", [(160, 120), (64, 48), (200, 100)])
def test_principal_point_matches_analytic_box_depth(wh):
    """PyBullet's pixel-centre trap: with (W/2, H/2 - 1) rendered depth matches closed form; (W-1)/2 does not."""
    W, H = wh
    intr = pybullet_intrinsics(W, H, math.radians(50))
    cam = look_at(np.array([1.1, -0.7, 0.9]), np.array([0.0, 0.0, 0.15]), math.radians(12))
    r = get_renderer()
    r.set_floor(None)
    loaded = r.load(_box_object("box_cx", SIZE, XYZ, RPY))
    img = r.render(loaded, np.zeros(0), cam, intr)
    interior = ndimage.binary_erosion(img.part_mask == 0, iterations=1)
    assert interior.sum() > 0.05 * W * H
    err = np.abs(img.depth - _ray_box_depth(intr, cam, SIZE, XYZ, RPY))[interior]
    assert np.nanmax(err) < 2e-4  # < 0.2 mm (float32 z-buffer)
    naive = Intrinsics(intr.fx, intr.fy, (W - 1) / 2, (H - 1) / 2, W, H)
    err_naive = np.abs(img.depth - _ray_box_depth(naive, cam, SIZE, XYZ, RPY))[interior]
    assert np.nanmedian(err_naive) > 10 * np.nanmedian(err)
    assert np.nanmax(err_naive) > 1e-3


def test_new_object_is_rendered_not_a_cached_one():
    """PyBullet's file-cache trap: two objects of the same name but different geometry render differently."""
    W, H = 96, 72
    intr = pybullet_intrinsics(W, H, math.radians(50))
    cam = look_at(np.array([1.2, 0.3, 0.8]), np.array([0.0, 0.0, 0.15]), 0.0)
    r = get_renderer()
    r.set_floor(None)
    for size in [(0.3, 0.3, 0.3), (0.6, 0.2, 0.4)]:
        loaded = r.load(_box_object("same_name", size, (0, 0, 0.2), (0, 0, 0.4)))
        img = r.render(loaded, np.zeros(0), cam, intr)
        expected = _ray_box_depth(intr, cam, size, (0, 0, 0.2), (0, 0, 0.4))
        interior = ndimage.binary_erosion(img.part_mask == 0, iterations=1)
        np.testing.assert_allclose(img.depth[interior], expected[interior], atol=2e-4)
        assert (
            abs(int((img.part_mask == 0).sum()) - int(np.isfinite(expected).sum())) < 0.05 * np.isfinite(expected).sum()
        )


@pytest.mark.parametrize(("category", "seed"), [("Fan", 1), ("Box", 2), ("Box", 5), ("Storage3", 0), ("Eyeglasses", 4)])
def test_rendered_parts_sit_where_forward_kinematics_puts_them(category, seed):
    """Pixels of each link, lifted and moved into that link's frame, fall inside the link's geometry box."""
    obj = generate_object(category, seed)
    lim = obj.joint_limits()
    q = np.array([row.mean() if np.isfinite(row).all() else 0.7 for row in lim])
    poses = obj.forward_kinematics(q)
    lo, hi = obj.world_bounds(q)
    center, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)
    intr = pybullet_intrinsics(160, 120, math.radians(50))
    cam = look_at(center + radius * np.array([2.0, 1.2, 1.6]), center, math.radians(-8))
    r = get_renderer()
    r.set_floor(None)
    img = r.render(r.load(obj), q, cam, intr)
    assert set(np.unique(img.part_mask[img.part_mask >= 0])) == set(range(obj.num_parts))
    v, u = np.nonzero(img.link_mask >= 0)
    z = img.depth[v, u].astype(float)
    pts = transform_points(cam, np.stack([(u - intr.cx) / intr.fx * z, (v - intr.cy) / intr.fy * z, z], 1))
    boxes = obj.link_boxes()
    for i in np.unique(img.link_mask[v, u]):
        sel = img.link_mask[v, u] == i
        local = transform_points(invert_transform(poses[i]), pts[sel])
        lo_b, hi_b = boxes[i].min(0), boxes[i].max(0)
        # 2 mm tolerance: Bullet tessellates cylinders and spheres coarsely (inside their boxes anyway)
        assert np.all(local >= lo_b - 2e-3) and np.all(local <= hi_b + 2e-3), obj.links[i].name
