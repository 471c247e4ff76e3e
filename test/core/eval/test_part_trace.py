"""sim2art_core.eval.part_trace: ground truth per window point, and the stages of one window."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.eval import part_trace as pt
from sim2art_core.geometry import rotate_vectors, transform_points
from sim2art_core.preprocess import PreprocessConfig


@pytest.fixture(scope="module")
def scene():
    """A two-door cabinet (Storage1: one door opens and closes, one opens), 12 frames at 160x120."""
    sample, frames = generate_sequence(
        "Storage1", 0, 1, SequenceConfig(num_frames=11, width=160, height=120, num_points=512), return_frames=True
    )
    return sample, frames


def test_extended_amounts_and_true_step_reproduce_the_samples_true_flow(scene):
    sample, _ = scene
    amounts = pt.extended_amounts(sample)
    T = sample.points.shape[0]
    assert amounts.shape == (len(sample.part_names), T + 1)
    np.testing.assert_allclose(amounts[:, :T], sample.part_amounts, atol=1e-6)
    w0 = np.asarray(sample.world_from_cam[0])
    for t in range(T):  # including the last frame, whose target state is only in joint_states
        for p in np.flatnonzero(sample.part_moving):
            m = sample.labels[t] == p
            x = transform_points(w0, sample.points[t][m].astype(np.float64))
            pred = transform_points(pt.true_step(sample, amounts, int(p), t, t + 1), x) - x
            truth = rotate_vectors(w0, sample.flow[t][m].astype(np.float64))
            np.testing.assert_allclose(pred, truth, atol=2e-4)


def test_true_labels_reads_each_points_source_pixel(scene):
    from sim2art_core.camera import lift

    _, frames = scene
    f = frames[3]
    v, u = np.nonzero((f.part_mask >= 0) & np.isfinite(f.depth))
    uv = np.stack([u, v], 1).astype(np.float64)
    pts = transform_points(f.world_from_cam, lift(uv, f.depth[v, u], f.intrinsics))
    labels = pt.true_labels(f, pts)
    assert np.mean(labels == f.part_mask[v, u]) > 0.99
    assert (pt.true_labels(f, np.full((2, 3), np.nan)) == -1).all()  # never a part for a missing point


def _window(scene):
    sample, frames = scene
    cfg = PreprocessConfig(num_frames=8, num_points=512)
    cfg = replace(cfg, object=replace(cfg.object, source="box"))
    windows = pt.build_windows(frames, cfg)
    assert len(windows) == len(frames) - 8  # T + 1 keyframes make the first window, then one per frame
    window, idx = windows[-1]
    assert idx == list(range(len(frames) - 9, len(frames)))  # T entries and the last one's flow target
    return window, idx


@pytest.fixture(scope="module")
def estimator():
    from sim2art_core.estimator import Estimator

    return Estimator(device="cpu")


def test_trace_with_true_flow_has_no_flow_error_and_the_refinement_finds_each_moving_joint(scene, estimator):
    sample, frames = scene
    window, idx = _window(scene)
    rows = pt.trace_window(sample, frames, window, idx, estimator, pt.extended_amounts(sample), flow="gt", number=3)
    moving = [str(sample.part_names[p]) for p in np.flatnonzero(sample.part_moving)]
    assert [r.part for r in rows] == moving and all(r.window == 3 for r in rows)
    for r in rows:
        assert r.points > 0 and 0 < r.share < 1 and 0 < r.valid_fraction <= 1
        assert r.flow_error_mm == pytest.approx(0.0, abs=1e-3)
        assert r.flow_gain == pytest.approx(1.0, abs=1e-3)
    # a part seen in every frame that moves in the window: exact flow holds its joint (at 160x120 the other
    # door is seen edge-on in 2 frames only, and the refinement cannot tell its type: what the trace is for)
    seen = [r for r in rows if r.frames_seen == len(idx) - 1 and r.share > 0.05 and r.motion > 0.1]
    assert seen
    for r in seen:
        assert r.oracle_type == "revolute" and r.oracle_axis_deg < 1.0 and r.oracle_line_cm < 1.0
    table = pt.markdown(rows)
    assert len(table.splitlines()) == 2 + len(rows) and "door" in table


def test_trace_with_the_nodes_flow_measures_a_flow_error(scene, estimator):
    sample, frames = scene
    window, idx = _window(scene)
    rows = pt.trace_window(sample, frames, window, idx, estimator, pt.extended_amounts(sample), flow="dis")
    errors = [r.flow_error_mm for r in rows if r.points]
    assert errors and all(math.isfinite(e) and e > 0.1 for e in errors)  # DIS flow is never exact
    for r in rows:
        assert 0.0 <= r.root_share <= 1.0
        assert (r.top_slot < 0) == (r.top_slot_owner == "")


def test_cli_rejects_bad_arguments(capsys):
    assert pt.main(["--frames", "2"]) == 2
    assert "--frames" in capsys.readouterr().err


def test_keyframe_stride_pairs_each_entry_with_its_flow_target(scene, estimator):
    """Every 2nd frame a keyframe: the true flow goes to the next keyframe, so the node's flow matches it in
    size along the motion (gain about 1, not 2 as against the motion of one rendered frame)."""
    sample, frames = scene
    cfg = PreprocessConfig(num_frames=4, num_points=512)
    windows = pt.build_windows(frames, replace(cfg, object=replace(cfg.object, source="box")), stride=2)
    assert [idx for _, idx in windows] == [[0, 2, 4, 6, 8], [2, 4, 6, 8, 10]]
    window, idx = windows[0]
    rows = pt.trace_window(sample, frames, window, idx, estimator, pt.extended_amounts(sample))
    well_seen = [r for r in rows if r.share > 0.05 and r.step_motion_mm > 5.0]
    assert well_seen
    for r in well_seen:
        assert 0.8 < r.flow_gain < 1.25


def test_plane_hinge_is_where_a_turned_flat_part_meets_its_first_pose():
    from sim2art_core.geometry import revolute_motion

    rng = np.random.default_rng(0)
    axis, pivot = np.array([0.1, 0.0, 1.0]) / np.hypot(0.1, 1.0), np.array([0.3, -0.4, 1.0])
    u, v = rng.uniform(0.02, 0.3, 200), rng.uniform(-0.4, 0.4, 200)  # a 28 x 80 cm door beside its hinge
    side = np.cross(axis, [1.0, 0.0, 0.0])
    door = pivot + np.outer(u, side / np.linalg.norm(side)) + np.outer(v, axis)
    turned = transform_points(revolute_motion(axis, pivot, 0.3), door)
    d, p = pt.plane_hinge(door, turned)
    assert abs(d @ axis) > np.cos(np.radians(0.01))
    off = p - pivot
    assert np.linalg.norm(off - (off @ axis) * axis) < 1e-6
    assert pt.plane_hinge(door, transform_points(revolute_motion(axis, pivot, 0.01), door)) is None  # < 2 deg


def test_a_failed_estimate_reports_no_joint(scene, estimator):
    from sim2art_core.estimate import ArticulationEstimate

    class Failing:  # the network runs, the estimate fails (labels all -1)
        _network = staticmethod(estimator._network)

        @staticmethod
        def estimate(w):
            return ArticulationEstimate.failed("test", w.frame_id, w.stamps_ns, w.valid.shape)

    sample, frames = scene
    window, idx = _window(scene)
    rows = pt.trace_window(sample, frames, window, idx, Failing(), pt.extended_amounts(sample))
    assert rows and not any(r.reported for r in rows)
    assert all(math.isnan(r.axis_deg) for r in rows)
