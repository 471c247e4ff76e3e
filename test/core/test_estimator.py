"""Estimator: Window -> ArticulationEstimate conventions, resampling, NO_ARTICULATION, FAILED, devices."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimate import WindowEstimator
from sim2art_core.estimator import (
    Estimator,
    EstimatorConfig,
    finish_estimate,
    network_joints,
    observed_motions,
    resolve_device,
    select_parts,
)
from sim2art_core.eval.scenes import cabinet
from sim2art_core.geometry import (
    make_transform,
    point_line_distance,
    rotate_vectors,
    rotation_about_axis,
    transform_points,
)
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import CheckpointError, save_checkpoint
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.types import EstimateStatus, JointType

sys.path.insert(0, str(Path(__file__).parent))
from oracle_nets import MovingIsSlotOneNet

CFG = preset("tiny", num_frames=8, num_points=64)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(CFG), CFG)


def _moved_window(sample, frame_id="odom"):
    """The sample's window in a fixed frame that is neither the camera's nor the sample's world."""
    w = window_from_sample(sample)
    odom_from_world = make_transform(rotation_about_axis([0.3, -0.5, 0.8], 1.1), [1.0, -2.0, 0.5])
    return dataclasses.replace(
        w,
        points=transform_points(odom_from_world, w.points),
        flow=rotate_vectors(odom_from_world, w.flow),
        world_from_cam=odom_from_world @ w.world_from_cam,
        frame_id=frame_id,
    ), odom_from_world


class OracleSegmentationNet(MovingIsSlotOneNet):
    """The real network, except that points with flow are labelled slot 1 and the rest slot 0,
    and slot 1 gets the given joint type: exercises the real motion-cue heads and every
    de-normalisation / frame transform of the Estimator with a known segmentation."""

    def __init__(self, cfg, joint_type):
        super().__init__(cfg)
        self.joint_type = joint_type

    def forward(self, points, flow, image=None):
        out = super().forward(points, flow, image)
        out.type_logits = torch.full_like(out.type_logits, -10.0)
        out.type_logits[..., JointType.STATIC] = 10.0
        out.type_logits[:, 1, :] = -10.0
        out.type_logits[:, 1, self.joint_type] = 10.0
        return out


def _oracle_estimator(ckpt, joint_type):
    est = Estimator(ckpt, "cpu")
    net = OracleSegmentationNet(CFG, joint_type)
    net.load_state_dict(est.model.state_dict())
    est.model = net.eval()
    return est


def test_estimator_implements_the_protocol(ckpt):
    est = Estimator(ckpt, "cpu")
    proto: WindowEstimator = est  # static check; the protocol is not runtime_checkable
    assert callable(proto.estimate) and isinstance(proto.num_frames, int) and isinstance(proto.num_points, int)
    assert (est.num_frames, est.num_points) == (8, 64)
    assert est.estimator_id.startswith("sim2art:tiny.pt@")


@pytest.mark.parametrize("kind", ["revolute", "prismatic"])
@pytest.mark.parametrize("T,N", [(8, 64), (12, 150), (5, 40)])
def test_joint_is_returned_in_the_fixed_frame_with_the_documented_conventions(ckpt, kind, T, N):
    sample = analytic_sample(kind, seed=3, num_frames=T, num_points=N)
    window, odom_from_world = _moved_window(sample)
    jt = JointType.REVOLUTE if kind == "revolute" else JointType.PRISMATIC
    est = _oracle_estimator(ckpt, jt).estimate(window)
    assert est.status == EstimateStatus.OK, est.message
    assert est.frame_id == "odom" and est.labels.shape == (T, N)
    assert [p.is_root for p in est.parts] == [True, False]
    np.testing.assert_array_equal(est.labels == 1, sample.labels == 1)  # every point labelled, any T, N
    (joint,) = est.joints
    assert joint.type == jt and joint.child == 1 and joint.parent == 0 and joint.source == "network"
    # ground truth in the odom frame, signed so that the largest amount is positive
    gt_axis = rotate_vectors(odom_from_world @ sample.world_from_cam[0], sample.part_axes[1])
    gt_amounts = sample.part_amounts[1].astype(np.float64)
    if gt_amounts[np.argmax(np.abs(gt_amounts))] < 0:
        gt_axis, gt_amounts = -gt_axis, -gt_amounts
    angle = np.degrees(np.arccos(np.clip(joint.axis @ gt_axis, -1, 1)))
    assert angle < 3.0, angle
    assert abs(np.linalg.norm(joint.axis) - 1) < 1e-9
    assert joint.amounts.shape == (T,) and joint.amounts[0] == 0
    tol = 0.03 if kind == "revolute" else 0.005  # rad | m
    np.testing.assert_allclose(joint.amounts, gt_amounts, atol=tol + 0.05 * np.abs(gt_amounts).max())
    assert joint.amounts[np.argmax(np.abs(joint.amounts))] > 0
    child0 = window.points[0][est.labels[0] == 1].astype(np.float64).mean(axis=0)
    if kind == "revolute":
        gt_pivot = transform_points(odom_from_world @ sample.world_from_cam[0], sample.part_pivots[1])
        assert point_line_distance(joint.origin, gt_pivot, gt_axis) < 0.01
        assert abs((child0 - joint.origin) @ joint.axis) < 1e-6  # foot of the perpendicular
    else:
        np.testing.assert_allclose(joint.origin, child0, atol=1e-5)
    assert 0 < joint.confidence <= 1 and abs(joint.type_probs.sum() - 1) < 1e-9
    assert est.observed_motion > 0.01


def test_a_part_seen_moving_is_reported_even_if_the_type_head_says_static(ckpt):
    window, _ = _moved_window(analytic_sample("revolute", seed=3, num_frames=8, num_points=64))
    est = _oracle_estimator(ckpt, JointType.REVOLUTE)
    real_forward = est.model.forward

    def static_first(points, flow, image=None):
        out = real_forward(points, flow, image)
        out.type_logits[:, 1] = torch.tensor([5.0, 0.0, 10.0])  # static > revolute > prismatic
        return out

    est.model.forward = static_first
    out = est.estimate(window)
    assert out.status == EstimateStatus.OK, out.message
    (joint,) = out.joints
    assert joint.type == JointType.REVOLUTE and joint.type_probs[JointType.STATIC] > 0.9
    assert joint.confidence < 0.1  # the network's doubt shows in the confidence


def test_motionless_window_gives_no_articulation(ckpt):
    window, _ = _moved_window(analytic_sample("revolute", seed=1, num_frames=8, num_points=64))
    still = dataclasses.replace(window, flow=np.zeros_like(window.flow))
    for est in (Estimator(ckpt, "cpu").estimate(still), _oracle_estimator(ckpt, JointType.REVOLUTE).estimate(still)):
        assert est.status == EstimateStatus.NO_ARTICULATION, est.message
        assert "no part moved" in est.message and est.joints == ()
        assert len(est.parts) == 1 and est.parts[0].is_root
        assert np.all(est.labels == 0) and est.observed_motion < 0.01


def test_static_object_gives_no_articulation(ckpt):
    window, _ = _moved_window(analytic_sample("static", seed=2, num_frames=8, num_points=64))
    assert Estimator(ckpt, "cpu").estimate(window).status == EstimateStatus.NO_ARTICULATION


def test_bad_input_gives_failed_with_the_reason(ckpt):
    est = Estimator(ckpt, "cpu")
    window, _ = _moved_window(analytic_sample("revolute", seed=1, num_frames=8, num_points=64))
    nan_points = window.points.copy()
    nan_points[2, 5] = np.nan
    cases = {
        "NaN": dataclasses.replace(window, points=nan_points),
        "Window.flow must be": dataclasses.replace(window, flow=window.flow[:, :10]),
        "strictly increasing": dataclasses.replace(window, stamps_ns=window.stamps_ns[::-1].copy()),
        "a frame has no valid point": dataclasses.replace(window, valid=np.zeros_like(window.valid)),
    }
    for reason, bad in cases.items():
        out = est.estimate(bad)
        assert out.status == EstimateStatus.FAILED and reason in out.message, out.message
        assert out.parts == () and out.joints == () and out.labels.shape == window.points.shape[:2]
        assert np.all(out.labels == -1)
    garbage = est.estimate("not a window")  # type: ignore[arg-type]
    assert garbage.status == EstimateStatus.FAILED


def test_invalid_points_are_labelled_minus_one_and_ignored(ckpt):
    window, _ = _moved_window(analytic_sample("revolute", seed=4, num_frames=8, num_points=80))
    valid = window.valid.copy()
    valid[:, :7] = False
    pts = window.points.copy()
    pts[:, :7] = np.nan  # invalid points may hold garbage
    est = _oracle_estimator(ckpt, JointType.REVOLUTE).estimate(dataclasses.replace(window, points=pts, valid=valid))
    assert est.status == EstimateStatus.OK, est.message
    assert np.all(est.labels[:, :7] == -1) and np.all(est.labels[:, 7:] >= 0)


def test_estimates_are_repeatable(ckpt):
    window, _ = _moved_window(analytic_sample("prismatic", seed=5, num_frames=10, num_points=100))
    est = Estimator(ckpt, "cpu")
    a, b = est.estimate(window), est.estimate(window)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_devices(ckpt, monkeypatch):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        Estimator(ckpt, "cuda")
    assert Estimator(ckpt, "auto").device.type == "cpu"


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt: file not found"):
        Estimator(tmp_path / "missing.pt", "cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt.pt: cannot be read"):
        Estimator(corrupt, "cpu")


def test_refine_hook_uses_refinement_joints(ckpt):
    pytest.importorskip("sim2art_core.refine")
    window, _ = _moved_window(analytic_sample("revolute", seed=3, num_frames=8, num_points=64))
    est = _oracle_estimator(ckpt, JointType.REVOLUTE)
    est.refine = True
    out = est.estimate(window)
    assert out.status == EstimateStatus.OK, out.message
    assert "refine" in out.timings and len(out.joints) == 1
    assert out.joints[0].source in ("refined", "fused", "network")


def test_per_call_refine_reuses_the_network_run_of_the_same_window(ckpt):
    window, _ = _moved_window(analytic_sample("revolute", seed=3, num_frames=8, num_points=64))
    est = _oracle_estimator(ckpt, JointType.REVOLUTE)
    calls = []
    forward = est.model.forward
    est.model.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    plain = est.estimate(window)
    refined = est.estimate(window, refine=True)
    assert len(calls) == 1  # one network run for both
    assert "refine" in refined.timings and "refine" not in plain.timings
    assert refined.timings["network"] == plain.timings["network"] > 0  # the network's own time, reported
    assert refined.estimator_id.endswith(":refine") and not plain.estimator_id.endswith(":refine")
    np.testing.assert_array_equal(plain.labels, refined.labels)
    # the same result as an estimator built with refine=True
    fresh = _oracle_estimator(ckpt, JointType.REVOLUTE)
    fresh.refine = True
    expected = fresh.estimate(window)
    np.testing.assert_allclose(refined.joints[0].axis, expected.joints[0].axis)
    # other content (even in the same array objects' place) runs the network again
    moved = dataclasses.replace(window, flow=window.flow * 1.5)
    est.estimate(moved)
    assert len(calls) == 2


def test_observed_motions_are_each_parts_motion_relative_to_the_base():
    """The decision rule's measurement: per frame pair rigid fits of each part's and the base's flow,
    chained, relative to the base; the largest displacement of 64 first-frame points. A camera-pose
    error common to all parts cancels; a slot with 1-2 points per frame moves by their mean flow."""
    T = 8
    wobble = np.stack([make_transform(rotation_about_axis([1, 1, 0], 0.02 * np.sin(t)), [0.01 * t, 0, 0])
                       for t in range(T)])  # fmt: skip
    sc = cabinet(num_frames=T, num_points=600, common_motion=wobble)
    w, labels = sc.window, sc.labels
    tiny = np.zeros_like(labels, dtype=bool)
    for t in range(T):  # two drawer points per frame form their own slot
        tiny[t, np.flatnonzero(labels[t] == 2)[:2]] = True
    masks = [(labels == 1), (labels == 2) & ~tiny, tiny]
    (door, door_rms), (drawer, _), (pair, pair_rms) = observed_motions(w, labels == 0, masks)
    # The pair's steps are translations only, which cannot undo the wobble's rotation exactly.
    for got, mask, part, tol in [(door, masks[0], 1, 1e-5), (drawer, masks[1], 2, 1e-5), (pair, masks[2], 2, 1e-3)]:
        probe = w.points[0][mask[0]][:64].astype(np.float64)  # in frame 0 the common motion is identity
        moved = [transform_points(sc.parts[part].motion(a), probe) - probe for a in sc.amounts[part]]
        assert abs(got - np.linalg.norm(moved, axis=-1).max()) < tol, (part, got)
    assert door_rms < 1e-6 and np.isnan(pair_rms)  # 2 points cannot be fitted rigidly: no RMS
    assert observed_motions(w, labels == 0, []) == []


def test_min_motion_decides_which_parts_are_reported(ckpt):
    window, _ = _moved_window(analytic_sample("prismatic", seed=2, num_frames=8, num_points=64))
    est = _oracle_estimator(ckpt, JointType.PRISMATIC)
    seen = est.estimate(window)
    assert seen.status == EstimateStatus.OK and seen.observed_motion > 0.05
    travel = seen.observed_motion
    est.config = EstimatorConfig(min_motion_m=travel * 1.01)
    still = est.estimate(window)
    assert still.status == EstimateStatus.NO_ARTICULATION and still.joints == ()
    assert abs(still.observed_motion - travel) < 1e-9 and f"{travel * 100:.2f} cm" in still.message
    est.config = EstimatorConfig(min_motion_m=travel * 0.99)
    assert est.estimate(window).status == EstimateStatus.OK


def test_the_decoding_stages_compose_into_the_estimate(ckpt):
    """select_parts -> network_joints -> finish_estimate is the Estimator's pipeline (without refinement), so a
    stage inserted between them sees exactly what the estimate reports."""
    sample = analytic_sample("revolute", seed=3, num_frames=12, num_points=150)
    window, _ = _moved_window(sample)
    est = _oracle_estimator(ckpt, JointType.REVOLUTE)
    full = est.estimate(window, refine=False)
    net = est._network(window)
    sel = select_parts(window, net, est.config)
    assert sel.slots == (1,) and sel.moved == {1} and sel.part_probs.shape == (12, 150, 2)
    np.testing.assert_allclose(sel.part_probs.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(sel.labels, full.labels)
    joints = network_joints(window, net, sel)
    assert len(joints) == 1 and joints[0].source == "network"
    np.testing.assert_array_equal(joints[0].axis, full.joints[0].axis)
    out = finish_estimate(window, sel, joints, sel.observed_motion, True, 0.01, "id", {})
    assert out.status == EstimateStatus.OK and out.observed_motion == full.observed_motion
    none = finish_estimate(window, sel, joints, 0.004, False, 0.01, "id", {})
    assert none.status == EstimateStatus.NO_ARTICULATION and not none.joints and "0.40 cm" in none.message
    assert (none.labels[window.valid] == 0).all()
