"""Re-fusing recorded per-window estimates offline: what the node would publish, the state error split."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.tracking import ObjectModelConfig
from sim2art_core.types import EstimateStatus
from sim2art_ros.tools.bag_compare import moving_truth_joints, score_estimate
from sim2art_ros.tools.bag_refuse import decompose, model_config, refuse
from test.ros.tools.test_bag_compare import truth, window_estimate


def _windows(gt):
    failed = ArticulationEstimate.failed("flow failed", "odom", gt.stamps_ns[4:10], (6, 0))
    return [window_estimate(gt, 0, 5), failed, window_estimate(gt, 3, 8), window_estimate(gt, 6, 11)]


def test_refuse_passes_failed_windows_and_continues_the_states():
    gt = truth()
    published = refuse(_windows(gt))
    assert [e.status for e in published] == [EstimateStatus.OK, EstimateStatus.FAILED, EstimateStatus.OK,
                                              EstimateStatus.OK]  # fmt: skip
    door = next(j for j in published[-1].joints if abs(j.axis[2]) > 0.9)
    # exact windows: the fused door state at the last frame is the true one since the first frame
    assert door.amounts[-1] == pytest.approx(gt.joints[0].amounts[-1], abs=1e-9)
    assert door.support_windows == 3


def test_decompose_splits_the_error_into_carried_state_and_newest_window():
    gt = truth()
    windows = _windows(gt)
    # the newest window under-estimates its motion by half
    last = windows[-1]
    windows[-1] = type(last)(**{**last.__dict__, "joints": tuple(
        type(j)(**{**j.__dict__, "amounts": 0.5 * np.asarray(j.amounts)}) for j in last.joints)})  # fmt: skip
    published = refuse(windows, ObjectModelConfig(state_method="chain"))
    history = published[:-1]
    score, _ = score_estimate(published[-1], gt, moving_truth_joints(gt), float("nan"), history)
    splits = decompose("bag", published[-1], score, gt)
    assert len(splits) == 2
    for s in splits:
        assert s.estimated - s.true == pytest.approx(s.carry + s.window, abs=1e-9)
        assert s.window < 0  # the halved newest window
    exact = refuse(_windows(gt), ObjectModelConfig(state_method="chain"))
    score, _ = score_estimate(exact[-1], gt, moving_truth_joints(gt), float("nan"), exact[:-1])
    for s in decompose("bag", exact[-1], score, gt):
        assert abs(s.carry) < 1e-9 and abs(s.window) < 1e-9


def test_model_config_parses_fields_and_rejects_others():
    cfg = model_config(["state_method=chain", "confirm_windows=3", "state_registration=false"])
    assert cfg.state_method == "chain" and cfg.confirm_windows == 3 and cfg.state_registration is False
    for bad in (["nope=1"], ["state_method"], ["state_method=sum"]):
        with pytest.raises(ValueError):
            model_config(bad)
