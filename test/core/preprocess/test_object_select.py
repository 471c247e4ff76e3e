"""Supporting-plane RANSAC, sampling without duplicates, scene-flow validity rules."""

from __future__ import annotations

import numpy as np

from sim2art_core.camera import Intrinsics
from sim2art_core.geometry import rotation_about_axis
from sim2art_core.preprocess import ObjectSelectionConfig, fit_support_plane
from sim2art_core.preprocess.config import FlowConfig
from sim2art_core.preprocess.flow import sample_depth_smooth, scene_flow
from sim2art_core.preprocess.sampling import sample_pixels


def _plane_points(rng, normal_tilt_deg: float, n: int = 3000):
    xy = rng.uniform(-1, 1, size=(n, 2))
    pts = np.column_stack([xy, np.zeros(n)])
    R = rotation_about_axis(np.array([1.0, 0.0, 0.0]), np.deg2rad(normal_tilt_deg))
    return pts @ R.T + np.array([0.0, 0.0, 0.7]) + rng.normal(0, 0.002, size=(n, 3))


def test_plane_found_among_object_points():
    rng = np.random.default_rng(0)
    table = _plane_points(rng, 10.0)
    clutter = rng.uniform([-0.2, -0.2, 0.75], [0.2, 0.2, 1.2], size=(1500, 3))
    plane = fit_support_plane(np.vstack([table, clutter]), ObjectSelectionConfig(), rng)
    assert plane is not None
    expected = rotation_about_axis(np.array([1.0, 0.0, 0.0]), np.deg2rad(10.0))[:, 2]
    assert np.degrees(np.arccos(min(1.0, plane.normal @ expected))) < 1.0
    assert np.median(np.abs(plane.height(table))) < 0.004
    assert np.all(plane.height(clutter) > 0.0)  # the normal points up: objects are above
    assert 0.6 < plane.inlier_fraction < 0.75


def test_walls_and_sparse_planes_are_not_support_planes():
    rng = np.random.default_rng(1)
    cfg = ObjectSelectionConfig(plane_max_tilt_deg=25.0)
    assert fit_support_plane(_plane_points(rng, 80.0), cfg, rng) is None  # a wall
    blob = rng.uniform(-1, 1, size=(2000, 3))
    assert fit_support_plane(blob, cfg, rng) is None  # no plane holds 10 % of the points
    assert fit_support_plane(np.zeros((2, 3)), cfg, rng) is None


def test_sampling_never_duplicates_and_pads_when_short():
    rng = np.random.default_rng(2)
    mask = np.zeros((20, 30), bool)
    mask[5:8, 10:20] = True  # 30 pixels
    uv, valid = sample_pixels(mask, 50, rng)
    assert valid.sum() == 30 and not valid[30:].any()
    assert len({tuple(p) for p in uv[valid]}) == 30
    assert mask[uv[valid, 1], uv[valid, 0]].all()
    uv, valid = sample_pixels(mask, 10, rng)
    assert valid.all() and len({tuple(p) for p in uv}) == 10


def test_depth_interpolation_never_mixes_across_an_edge():
    depth = np.full((10, 10), 1.0, np.float32)
    depth[:, 5:] = 3.0
    z = sample_depth_smooth(depth, np.array([[2.5, 4.0], [4.6, 4.0], [4.4, 4.0], [20.0, 1.0]]))
    assert z[0] == 1.0 and z[1] == 3.0 and z[2] == 1.0 and np.isnan(z[3])
    ramp = np.tile(np.linspace(1.0, 1.09, 10, dtype=np.float32), (10, 1))
    assert sample_depth_smooth(ramp, np.array([[2.5, 3.0]]))[0] == np.float32(1.025)


def test_scene_flow_validity_rules():
    intr = Intrinsics(100.0, 100.0, 9.5, 9.5, 20, 20)
    depth = np.full((20, 20), 2.0, np.float32)
    depth[:, 15:] = np.nan
    uv = np.array([[5.0, 5.0], [13.0, 5.0], [18.0, 5.0], [10.0, 10.0]], np.float32)
    points = np.array([[0, 0, 2.0], [0, 0, 2.0], [0, 0, 2.0], [np.nan] * 3])
    forward = np.zeros((20, 20, 2), np.float32)
    forward[..., 0] = 2.0  # everything moves 2 px right
    backward = -forward
    sf = scene_flow(points, uv, forward, backward, depth, intr, np.eye(4), FlowConfig(width=0))
    # 0: lands on valid depth; 1: lands on NaN depth; 2: leaves the image; 3: no point
    assert sf.valid.tolist() == [True, False, False, False]
    np.testing.assert_allclose(sf.uv_next[0], [7.0, 5.0])
    assert np.all(sf.flow[~sf.valid] == 0)
    wrong_back = np.zeros_like(forward)  # backward flow disagrees by 2 px
    sf = scene_flow(points, uv, forward, wrong_back, depth, intr, np.eye(4), FlowConfig(width=0, consistency_px=1.0))
    assert not sf.valid.any()


def test_flow_resolution_and_crop():
    from sim2art_core.preprocess.flow import flow_crop

    assert FlowConfig(width=640).scale_for(1280) == 0.5
    assert FlowConfig(width=640).scale_for(320) == 1.0  # never enlarged
    assert FlowConfig(width=0).scale_for(1920) == 1.0
    cfg = FlowConfig(width=320, crop_margin_px=20)
    uv = np.array([[100.0, 100.0], [200.0, 150.0], [600.0, 470.0]])
    valid = np.array([True, True, False])
    # 640x480 -> 320x240 flow images; the box of the valid pixels (100..200, 100..150) +- 20 px, halved
    assert flow_crop(uv, valid, (640, 480), cfg) == (39, 39, 111, 86)
    assert flow_crop(uv, valid, (640, 480), FlowConfig(width=320, crop_margin_px=-1)) == (0, 0, 320, 240)
    assert flow_crop(uv, np.zeros(3, bool), (640, 480), cfg) == (0, 0, 320, 240)
    x0, y0, x1, y1 = flow_crop(np.array([[5.0, 5.0]]), np.array([True]), (640, 480), FlowConfig(crop_margin_px=0))
    assert x1 - x0 == 32 and y1 - y0 == 32 and x0 <= 5 < x1  # DIS needs a minimum size
