"""The Estimator with the motion-consistent segmentation stage (EstimatorConfig.motion_segmentation)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from sim2art_core.estimator import EstimatorConfig, select_parts, select_parts_by_motion
from sim2art_core.types import EstimateStatus

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from scenes import best_iou, render, two_door_cabinet


def test_two_doors_in_one_slot_become_two_joints(estimator):
    scene = render(two_door_cabinet(), T=12, N=400, seed=11)
    window = scene.window()
    plain = estimator.estimate(window, motion_segmentation=False)
    est = estimator.estimate(window, motion_segmentation=True)
    assert plain.status == est.status == EstimateStatus.OK
    assert len(plain.joints) == 1 and len(est.joints) == 2
    assert len(est.parts) == 3 and est.parts[0].is_root
    for k in (1, 2):
        assert best_iou(est.labels, scene.labels == k) > 0.9
    assert "segment" in est.timings and ":motionseg" in est.estimator_id
    # the stage is the selection's: labels, probabilities and part summaries agree
    net = estimator._network(window)
    sel = select_parts_by_motion(window, net, estimator.config)
    np.testing.assert_array_equal(sel.labels, est.labels)
    np.testing.assert_allclose(sel.part_probs[window.valid].sum(-1), 1.0, atol=1e-5)
    assert len(select_parts(window, net, estimator.config).slots) == 1
    assert len(sel.part_observed) == 2 and all(m > 0.05 for m, _ in sel.part_observed)


def test_refinement_fits_the_motion_segmentation_parts(estimator):
    scene = render(two_door_cabinet(), T=12, N=400, seed=12)
    est = estimator.estimate(scene.window(), motion_segmentation=True, refine=True)
    assert est.status == EstimateStatus.OK and len(est.joints) == 2
    axes = np.array([j.axis for j in est.joints])
    assert (np.abs(axes[:, 1]) > np.cos(np.radians(5))).all()  # both hinges are vertical (y)


def test_config_switch_and_static_object(estimator):
    scene = render(two_door_cabinet(lambda t: 0.0, lambda t: 0.0), T=8, N=300, seed=13)
    estimator.config = EstimatorConfig(motion_segmentation=True)
    try:
        est = estimator.estimate(scene.window())
        assert est.status == EstimateStatus.NO_ARTICULATION and est.joints == ()
        assert ":motionseg" in est.estimator_id
    finally:
        estimator.config = EstimatorConfig()


def test_bad_windows_give_failed_not_exceptions(estimator):
    scene = render(two_door_cabinet(), T=6, N=200, seed=14)
    good = scene.window()
    nan = good.points.copy()
    nan[2, 3] = np.nan
    single = dataclasses.replace(good, points=good.points[:1], flow=good.flow[:1], valid=good.valid[:1],
                                 stamps_ns=good.stamps_ns[:1], world_from_cam=good.world_from_cam[:1])  # fmt: skip
    for bad in (dataclasses.replace(good, points=nan), single):
        est = estimator.estimate(bad, motion_segmentation=True)
        assert est.status == EstimateStatus.FAILED and est.message
    # invalid points (NaN where valid is False) are fine and labelled -1
    valid = good.valid.copy()
    valid[:, :20] = False
    pts = good.points.copy()
    pts[:, :20] = np.nan
    est = estimator.estimate(dataclasses.replace(good, points=pts, valid=valid), motion_segmentation=True)
    assert est.status == EstimateStatus.OK and (est.labels[:, :20] == -1).all()
