"""sim2art_core.eval.consecutive: slicing a long sample into consecutive windows, scoring the fused model."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.eval.consecutive import (
    FUSED,
    FUSED_CONFIRMED,
    SINGLE_LAST,
    SINGLE_MEAN,
    consecutive_windows,
    evaluate_sequence,
    slice_sample,
)
from sim2art_core.eval.methods import MethodOptions, build_method
from sim2art_core.metrics.sample import EvalConfig, gt_joint_params
from sim2art_core.tracking import ObjectModelConfig

T = 5
PERIOD = 1.0 / 15.0


@pytest.fixture(scope="module")
def long_sample():
    # a two-door cabinet whose doors move over all 3 x T frames
    return generate_sequence("Storage1", 3, 11, SequenceConfig(num_frames=3 * T, num_points=384))


def test_slices_share_the_world_frame_and_rebase_the_amounts(long_sample):
    full = window_from_sample(long_sample, PERIOD)
    pieces = consecutive_windows(long_sample, T, PERIOD)
    assert len(pieces) == 3
    for k, (part, window) in enumerate(pieces):
        np.testing.assert_allclose(window.points, full.points[k * T : (k + 1) * T], atol=1e-5)
        np.testing.assert_allclose(window.flow, full.flow[k * T : (k + 1) * T], atol=1e-5)
        np.testing.assert_array_equal(window.stamps_ns, full.stamps_ns[k * T : (k + 1) * T])
        assert np.all(part.part_amounts[:, 0] == 0)
        expected = long_sample.part_amounts[:, k * T : (k + 1) * T] - long_sample.part_amounts[:, k * T : k * T + 1]
        np.testing.assert_allclose(part.part_amounts, expected, atol=1e-6)
        for p in range(1, part.num_parts):  # the true joints in the world frame do not depend on the slice
            a, b = gt_joint_params(part, p), gt_joint_params(long_sample, p)
            np.testing.assert_allclose(a.axis, b.axis, atol=1e-5)
            d = a.pivot - b.pivot
            assert np.linalg.norm(d - (d @ b.axis) * b.axis) < 1e-4 or not part.part_types[p] == 0
    with pytest.raises(ValueError):
        slice_sample(long_sample, 10, 20)


def test_fused_model_of_exact_windows_is_exact_and_confirmed(long_sample):
    run = build_method("gtseg-refine", MethodOptions())
    wide = {"wide": ObjectModelConfig(max_axis_angle_deg=60.0, max_line_distance_m=0.5)}
    metrics, facts = evaluate_sequence(
        long_sample, run, T, PERIOD, ObjectModelConfig(confirm_windows=2), EvalConfig(min_joint_visibility=0.0),
        variants=wide,
    )  # fmt: skip
    assert {"wide", "wide (confirmed)"} <= set(metrics)  # gate variants fused from the same estimates
    assert facts["windows"] == 3 and len(metrics[SINGLE_MEAN]) == 3
    moving = int(long_sample.part_moving[1:].sum())
    assert facts["confirmed_joints"] == facts["fused_joints"] == moving
    for column in (SINGLE_LAST, FUSED, FUSED_CONFIRMED):
        m = metrics[column]
        assert m.joints and all(e.status == "ok" for e in m.joints), column
        assert max(e.axis_angle_deg for e in m.joints) < 0.5, column
        # the fused states are re-based on the window: the same motion as the single window's
        single = [e.part_rotation_deg for e in metrics[SINGLE_LAST].joints]
        assert [e.part_rotation_deg for e in m.joints] == pytest.approx(single, abs=1e-6), column


def test_optical_flow_windows_continue_in_time_and_fuse():
    """The optical-flow condition's path on consecutive windows (small images to keep the test quick)."""
    from sim2art_core.eval.consecutive import consecutive_flow_windows

    cfg = SequenceConfig(num_frames=3 * T, num_points=384)
    sample, frames = generate_sequence("Storage1", 3, 11, cfg, return_frames=True)
    pieces = consecutive_flow_windows(sample, frames, T)
    assert len(pieces) == 3
    stamps = [w.stamps_ns for _, w, _ in pieces if w is not None]
    assert len(stamps) >= 2 and all(a[-1] < b[0] for a, b in zip(stamps, stamps[1:], strict=False))
    for part, _, valid in pieces:
        assert part.labels.shape == valid.shape == (T, 384)
    metrics, facts = evaluate_sequence(
        sample, build_method("gtseg-refine", MethodOptions()), T, PERIOD, ObjectModelConfig(), EvalConfig(), frames
    )
    assert facts["windows"] == 3 and set(metrics) == {SINGLE_LAST, SINGLE_MEAN, FUSED, FUSED_CONFIRMED}
