"""Frames -> Window: object points, scene flow with camera motion removed, keyframes, rejections."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.camera import project
from sim2art_core.geometry import invert_transform, transform_points
from sim2art_core.preprocess import (
    FlowConfig,
    KeyframeConfig,
    ObjectSelectionConfig,
    PreprocessConfig,
    WindowBuilder,
    build_window,
)
from sim2art_core.preprocess import window_builder as wb

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_scene import Scene, make_frames, true_motion

SCENE = Scene(side_box=True)
CFG = PreprocessConfig(num_points=400)


@pytest.fixture(scope="module")
def door_frames():
    return make_frames(6, 320, 240, SCENE, max_amount=0.5)


@pytest.fixture(scope="module")
def static_frames():
    """Moving camera, closed door: every scene flow should vanish."""
    return make_frames(4, 320, 240, Scene(), max_amount=0.0, arc_deg=24.0)


def _part_of_points(frame, points):
    uv = project(transform_points(invert_transform(frame.world_from_cam), points), frame.intrinsics)
    u = np.clip(np.rint(uv[:, 0]).astype(int), 0, frame.shape[1] - 1)
    v = np.clip(np.rint(uv[:, 1]).astype(int), 0, frame.shape[0] - 1)
    return frame.part_mask[v, u]


def test_build_window_shapes_and_contract(door_frames):
    frames, _ = door_frames
    w = build_window(frames, CFG, rng=0, frame_id="odom")
    assert (w.num_frames, w.num_points) == (5, 400) and w.frame_id == "odom"
    assert np.array_equal(w.stamps_ns, [f.stamp_ns for f in frames[:5]])
    np.testing.assert_allclose(w.world_from_cam, np.stack([f.world_from_cam for f in frames[:5]]))
    assert w.colors is not None and w.colors.dtype == np.uint8
    assert w.valid.mean() > 0.95
    # the default depth-edge mask only drops points on depth steps (the door's and the cabinet's borders)
    no_mask = build_window(frames, replace(CFG, flow=replace(CFG.flow, depth_edge_ratio=0.0)), rng=0)
    assert no_mask.valid.mean() >= w.valid.mean() and not (w.valid & ~no_mask.valid).any()
    w.validate()


def test_box_selection_picks_the_largest_object_without_floor(door_frames):
    frames, _ = door_frames  # the frames carry no mask: the default "auto" uses the box
    w = build_window(frames, CFG, rng=1)
    for t in range(w.num_frames):
        parts = _part_of_points(frames[t], w.points[t][w.valid[t]])
        # the cabinet (body 0 + door 1) only: no floor (-1), not the smaller side box (2)
        assert np.mean((parts == 0) | (parts == 1)) > 0.98, np.bincount(parts + 1)
        assert np.all(w.points[t][w.valid[t]][:, 2] > 0.01)  # above the supporting plane


def test_mask_selection_uses_the_frame_mask(door_frames):
    frames, _ = door_frames
    door_only = [replace(f, mask=f.part_mask == 1) for f in frames]
    w = build_window(door_only, CFG, rng=2)
    for t in range(w.num_frames):
        assert np.mean(_part_of_points(frames[t], w.points[t][w.valid[t]]) == 1) > 0.98


def test_scene_flow_matches_the_true_door_motion(door_frames):
    frames, amounts = door_frames
    w = build_window(frames, CFG, rng=3)
    errors, body = [], []
    for t in range(w.num_frames):
        parts = _part_of_points(frames[t], w.points[t])
        door = w.valid[t] & (parts == 1)
        truth = true_motion(SCENE, amounts[t], amounts[t + 1], w.points[t][door].astype(np.float64))
        assert np.median(np.linalg.norm(truth, axis=1)) > 0.015  # the door really moves ~2 cm a step
        errors.append(np.linalg.norm(w.flow[t][door] - truth, axis=1))
        body.append(np.linalg.norm(w.flow[t][w.valid[t] & (parts == 0)], axis=1))
    errors, body = np.concatenate(errors), np.concatenate(body)
    assert np.median(errors) < 0.004 and np.percentile(errors, 90) < 0.012
    assert np.median(body) < 0.008  # the static body stays (nearly) still


def test_camera_motion_is_compensated(static_frames):
    frames, _ = static_frames
    w = build_window(frames, CFG, rng=4)
    flow = np.linalg.norm(w.flow[w.valid], axis=1)
    # the same points seen from the next camera move by centimetres in camera coordinates
    t = 0
    cam_next = transform_points(invert_transform(frames[t + 1].world_from_cam), w.points[t][w.valid[t]])
    cam_now = transform_points(invert_transform(frames[t].world_from_cam), w.points[t][w.valid[t]])
    assert np.median(np.linalg.norm(cam_next - cam_now, axis=1)) > 0.03
    assert np.median(flow) < 0.006


def test_farneback_also_works(static_frames):
    frames, _ = static_frames
    cfg = replace(CFG, flow=FlowConfig(method="farneback"))
    w = build_window(frames, cfg, rng=5)
    assert w.valid.mean() > 0.8 and np.median(np.linalg.norm(w.flow[w.valid], axis=1)) < 0.01


def test_build_window_names_the_rejected_frame(door_frames):
    frames, _ = door_frames
    bad = list(frames)
    bad[2] = replace(bad[2], depth=np.full_like(bad[2].depth, np.nan))
    with pytest.raises(ValueError, match=r"frame 2 .*no_object"):
        build_window(bad, CFG, rng=0)
    with pytest.raises(ValueError, match="T \\+ 1 >= 3"):
        build_window(frames[:2], CFG)


def _restamp(frames, stamps):
    return [replace(f, stamp_ns=int(s)) for f, s in zip(frames, stamps, strict=True)]


def test_builder_time_keyframes_and_rolling_window(door_frames):
    frames, _ = door_frames
    cfg = replace(CFG, num_frames=3, keyframes=KeyframeConfig(mode="time", period_s=0.1))
    b = WindowBuilder(cfg, "odom", rng=0)
    # 30 Hz stamps: only every third frame is 0.1 s after the last keyframe
    stream = _restamp(frames, [int(1e9 + i * 1e9 / 30) for i in (0, 1, 2, 3, 4, 6)])
    outcomes = [b.add(f).outcome for f in stream]
    assert outcomes == [wb.KEYFRAME, wb.NOT_KEYFRAME, wb.NOT_KEYFRAME, wb.KEYFRAME, wb.NOT_KEYFRAME, wb.KEYFRAME]
    assert b.num_entries == 2 and not b.ready and b.window() is None
    more = _restamp(frames[:3], [int(1e9 + i * 1e9 / 30) for i in (9, 12, 15)])
    v0 = b.version
    results = [b.add(f) for f in more]
    assert all(r.outcome == wb.KEYFRAME and r.completed for r in results)
    assert b.ready and b.version == v0 + 3
    w = b.window()
    # the newest T completed entries; the newest keyframe is only the flow target
    assert np.array_equal(w.stamps_ns, [stream[5].stamp_ns, more[0].stamp_ns, more[1].stamp_ns])


def test_builder_rejects_bad_frames_with_reasons(door_frames):
    frames, _ = door_frames
    b = WindowBuilder(replace(CFG, keyframes=KeyframeConfig(period_s=0.0)), "odom", rng=0)
    assert b.add(frames[0]).outcome == wb.KEYFRAME
    dup = b.add(frames[0])
    assert dup.outcome == wb.REJECTED_STAMP and "not after" in dup.reason
    older = replace(frames[1], stamp_ns=frames[0].stamp_ns - 1)
    assert b.add(older).outcome == wb.REJECTED_STAMP
    small_depth = replace(frames[1], depth=frames[1].depth[:100])
    r = b.add(small_depth)
    assert r.outcome == wb.REJECTED_INVALID and "rgb must be (100, 320, 3)" in r.reason
    r = b.add(replace(frames[1], mask=np.zeros(frames[1].shape, bool)))
    assert r.outcome == wb.REJECTED_NO_OBJECT and "object pixels" in r.reason
    zero_depth = replace(frames[1], depth=np.zeros_like(frames[1].depth))
    assert b.add(zero_depth).outcome == wb.REJECTED_NO_OBJECT
    # a good frame still links to the last keyframe afterwards
    r = b.add(frames[1])
    assert r.outcome == wb.KEYFRAME and r.completed and b.num_entries == 1


def test_mask_source_without_mask_is_rejected(door_frames):
    frames, _ = door_frames
    cfg = replace(CFG, object=ObjectSelectionConfig(source="mask"))
    r = WindowBuilder(cfg, "odom").add(frames[0])
    assert r.outcome == wb.REJECTED_NO_OBJECT and "needs a mask" in r.reason


def test_gap_restarts_and_reset_clears(door_frames):
    frames, _ = door_frames
    cfg = replace(CFG, keyframes=KeyframeConfig(period_s=0.0, max_gap_s=0.5))
    b = WindowBuilder(cfg, "odom", rng=0)
    for f in _restamp(frames[:3], [1e9, 1.1e9, 1.2e9]):
        b.add(f)
    assert b.num_entries == 2
    r = b.add(replace(frames[3], stamp_ns=int(2.0e9)))
    assert r.outcome == wb.KEYFRAME and r.restarted and "max_gap_s" in r.reason and b.num_entries == 0
    b.reset()
    assert b.num_entries == 0 and b.last_stamp_ns is None
    assert b.add(replace(frames[0], stamp_ns=5)).outcome == wb.KEYFRAME  # old stamps are fine after a reset


def test_motion_keyframes_static_camera(static_frames):
    frames, _ = static_frames
    kf = KeyframeConfig(mode="motion", period_s=0.05, max_period_s=1.0, min_image_change=4.0)
    b = WindowBuilder(replace(CFG, keyframes=kf), "cam", rng=0)
    still = [replace(frames[0], stamp_ns=int(1e9 + i * 1e8)) for i in range(5)]
    assert [b.add(f).outcome for f in still] == [wb.KEYFRAME] + [wb.NOT_KEYFRAME] * 4
    assert b.precheck(int(1.45e9), frames[0].world_from_cam) is None  # needs the image to decide
    # the camera moved (frames[2] is from another pose): a keyframe by motion
    assert b.add(replace(frames[2], stamp_ns=int(1.5e9))).outcome == wb.KEYFRAME
    # nothing changes for max_period_s: a keyframe anyway
    assert b.add(replace(frames[2], stamp_ns=int(1.6e9))).outcome == wb.NOT_KEYFRAME
    assert b.add(replace(frames[2], stamp_ns=int(2.6e9))).outcome == wb.KEYFRAME
    assert b.precheck(int(2.62e9), frames[2].world_from_cam) == wb.NOT_KEYFRAME  # sooner than period_s
    assert b.precheck(int(2.6e9), frames[2].world_from_cam) == wb.REJECTED_STAMP


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"num_frames": 1}, "num_frames"),
        ({"object": ObjectSelectionConfig(source="lidar")}, "object.source"),
        ({"object": ObjectSelectionConfig(roi_min=(0, 0, 0), roi_max=(1, -1, 1))}, "roi_min"),
        ({"flow": FlowConfig(method="raft")}, "flow.method"),
        ({"keyframes": KeyframeConfig(mode="sometimes")}, "keyframes.mode"),
    ],
)
def test_config_validation_names_the_field(change, needle):
    with pytest.raises(ValueError, match=needle):
        replace(CFG, **change).validate()


def test_untrackable_step_restarts_the_window(door_frames):
    frames, _ = door_frames
    b = WindowBuilder(replace(CFG, keyframes=KeyframeConfig(period_s=0.0)), "odom", rng=0)
    assert b.add(frames[0]).completed is False
    assert b.add(frames[1]).completed and b.num_entries == 1
    noise = np.random.default_rng(0).integers(0, 256, size=frames[2].rgb.shape, dtype=np.uint8)
    r = b.add(replace(frames[2], rgb=noise))  # nothing of frame 1 can be found again
    assert r.outcome == wb.REJECTED_FLOW and r.restarted and "valid flow" in r.reason
    assert b.num_entries == 0
    assert b.add(frames[3]).outcome == wb.REJECTED_FLOW  # the noise frame is the new start: again untrackable
    assert b.add(frames[4]).completed and b.num_entries == 1  # and tracking resumes


def test_image_features_follow_the_points(door_frames):
    """A feature extractor (here: the pixel's colour, so the result is checkable) fills Window.features."""
    frames, _ = door_frames
    calls = []

    class ColourFeatures:
        dim = 3

        def __call__(self, images, pixels):
            calls.append(images.shape)
            uv = np.rint(pixels[0]).astype(int)
            return images[0][uv[:, 1], uv[:, 0]][None].astype(np.float32)

    w = build_window(frames[:4], CFG, rng=0, features=ColourFeatures())
    assert w.features.shape == (3, 400, 3) and calls == [(1, 240, 320, 3)] * 4  # once per frame
    np.testing.assert_array_equal(w.features[w.valid], w.colors[w.valid].astype(np.float32))
    assert build_window(frames[:4], CFG, rng=0).features is None


def test_window_is_identical_with_one_or_many_opencv_threads(door_frames):
    """The window does not depend on the machine's core count: OpenCV's DIS splits its work over
    threads (docs/BENCHMARKS.md "The keyframe that completes a window" timed 1 against 2), and no
    thread count may change a value of the window handed to the estimator."""
    import cv2

    frames = door_frames[0]
    before = cv2.getNumThreads()
    cfg = replace(CFG, num_frames=len(frames) - 2, keyframes=KeyframeConfig(period_s=0.0))
    windows = {}
    try:
        for threads in (4, 1):
            cv2.setNumThreads(threads)
            b = WindowBuilder(cfg, "world", rng=7)
            windows[threads] = []
            for f in frames:
                b.add(f)
                if b.window() is not None:
                    windows[threads].append(b.window())
    finally:
        cv2.setNumThreads(before)
    assert len(windows[1]) == len(windows[4]) == 2  # the window slid once
    for a, b in zip(windows[4], windows[1], strict=True):
        assert a.valid.sum() > 0.5 * a.valid.size
        for k in ("points", "flow", "valid", "colors", "stamps_ns", "world_from_cam"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
