"""Run-time optical-flow methods: the registry, their sub-configs, and the depth-edge mask."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim2art_core.camera import Intrinsics, lift
from sim2art_core.preprocess import build_window
from sim2art_core.preprocess.config import FLOW_METHODS, FlowConfig, FlowMethodName, PreprocessConfig
from sim2art_core.preprocess.flow import OpticalFlow, depth_edges, scene_flow
from sim2art_core.preprocess.flow_methods import FLOW_REGISTRY, DISConfig, FarnebackConfig, build_flow
from sim2art_core.preprocess.flow_methods.base import FLOW_REGISTRY as BASE_REGISTRY


def _textured_pair(shift=(3.0, -2.0), size=(96, 128)):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur((rng.random(size) * 255).astype(np.uint8), (0, 0), 2.0)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    M = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    return img, cv2.warpAffine(img, M, (size[1], size[0]), borderMode=cv2.BORDER_REFLECT)


def test_config_literal_and_registry_agree():
    FLOW_REGISTRY.check_literal(FlowMethodName)
    assert BASE_REGISTRY is FLOW_REGISTRY
    assert FLOW_METHODS == FLOW_REGISTRY.names()


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_every_registered_method_recovers_a_shift(method):
    g0, g1 = _textured_pair()
    flow = OpticalFlow(FlowConfig(method=method))(g0, g1)
    assert flow.shape == (*g0.shape, 2) and flow.dtype == np.float32
    inner = flow[20:-20, 20:-20].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [3.0, -2.0], atol=0.3)


def test_sub_configs_reach_the_methods():
    g0, g1 = _textured_pair()
    # variational refinement on/off changes the DIS result; the preset's own value is the default
    a = build_flow(FlowConfig(dis=DISConfig(preset="fast")))(g0, g1)
    b = build_flow(FlowConfig(dis=DISConfig(preset="fast", variational_refinement_iterations=0)))(g0, g1)
    assert not np.array_equal(a, b)
    c = build_flow(FlowConfig(method="farneback", farneback=FarnebackConfig(winsize=9)))(g0, g1)
    d = build_flow(FlowConfig(method="farneback"))(g0, g1)
    assert not np.array_equal(c, d)


def test_unknown_method_and_bad_sub_config_are_clear_errors():
    with pytest.raises(ValueError, match="flow.method"):
        PreprocessConfig(flow=FlowConfig(method="raft")).validate()
    with pytest.raises(ValueError, match="unknown flow method 'raft'; registered: dis, farneback"):
        build_flow(FlowConfig(method="raft"))
    with pytest.raises(ValueError, match="flow.dis.preset"):
        PreprocessConfig(flow=FlowConfig(dis=DISConfig(preset="slow"))).validate()
    with pytest.raises(ValueError, match="poly_n"):
        PreprocessConfig(flow=FlowConfig(method="farneback", farneback=FarnebackConfig(poly_n=6))).validate()
    with pytest.raises(ValueError, match="depth_edge"):
        PreprocessConfig(flow=FlowConfig(depth_edge_ratio=-1.0)).validate()


def test_default_method_is_dis_medium():
    cfg = FlowConfig()
    assert cfg.method == "dis" and cfg.dis == DISConfig(preset="medium", variational_refinement_iterations=-1)
    g0, g1 = _textured_pair()
    ref = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g0, g1, None)
    np.testing.assert_array_equal(OpticalFlow(cfg)(g0, g1), ref)


def test_depth_edges_mark_both_sides_and_ignore_holes():
    d = np.full((20, 30), 1.0, np.float32)
    d[:, 15:] = 1.2  # a step: an edge between columns 14 and 15
    d[3:6, 3:6] = np.nan  # a hole is not an edge
    e = depth_edges(d, 0.05)
    assert e[:, 14].all() and e[:, 15].all()
    assert not e[:, :13].any() and not e[:, 17:].any()
    e2 = depth_edges(d, 0.05, radius_px=2)
    assert e2[:, 12:18].all() and not e2[:, :11].any()
    assert not depth_edges(d, 0.25).any()  # a 20 % step is not an edge at 25 %


def test_scene_flow_drops_points_on_depth_edges():
    H, W = 40, 60
    intr = Intrinsics(50.0, 50.0, 30.0, 20.0, W, H)
    depth = np.full((H, W), 1.0, np.float32)
    uv = np.array([[10.0, 10.0], [40.0, 10.0], [20.0, 30.0]], np.float32)
    pts = lift(uv, np.ones(3), intr).astype(np.float32)
    forward = np.zeros((H, W, 2), np.float32)
    cfg = FlowConfig(width=0, consistency_px=0.0)
    base = scene_flow(pts, uv, forward, None, depth, intr, np.eye(4), cfg)
    assert base.valid.all()
    src = np.array([True, False, False])
    edges = np.zeros((H, W), bool)
    edges[30, 20] = True  # the third point's target
    sf = scene_flow(pts, uv, forward, None, depth, intr, np.eye(4), cfg, (0, 0), src, edges)
    np.testing.assert_array_equal(sf.valid, [False, True, False])
    assert np.isnan(sf.uv_next[0]).all() and np.all(sf.flow[~sf.valid] == 0)


def test_window_builder_uses_the_depth_edge_mask():
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic_scene import Scene, make_frames

    frames, _ = make_frames(4, 320, 240, Scene(), max_amount=0.5)
    cfg = PreprocessConfig(num_points=400)
    assert cfg.flow.depth_edge_ratio == 0.02  # on by default (docs/EVALUATION.md, "Run-time optical flow")
    w0 = build_window(frames, replace(cfg, flow=replace(cfg.flow, depth_edge_ratio=0.0)), rng=0)
    w1 = build_window(frames, cfg, rng=0)
    assert w1.valid.sum() < w0.valid.sum()
    assert not (w1.valid & ~w0.valid).any()  # the mask only removes points


def test_a_steep_plane_is_not_a_depth_edge():
    # a plane seen at a grazing angle: depth changes by ~10 % per pixel, but it is no discontinuity
    H, W = 30, 40
    intr = Intrinsics(40.0, 40.0, 20.0, 15.0, W, H)
    u = np.arange(W, dtype=np.float64)
    # plane z = 1 + 2 x (x = (u - cx) z / fx)  ->  1/z = (1 - 2 (u - cx) / fx), affine in u
    inv = 1.0 - 2.0 * (u - intr.cx) / intr.fx * 0.4
    depth = np.tile((1.0 / inv).astype(np.float32), (H, 1))
    assert np.max(np.abs(np.diff(depth[0])) / depth[0, 1:]) > 0.02
    assert not depth_edges(depth, 0.02).any()
