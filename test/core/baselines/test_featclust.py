"""sim2art_core.baselines.FeatClust: segmentation, k selection, joints, failure modes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim2art_core.baselines import FeatClust, FeatClustConfig
from sim2art_core.eval.scenes import BoxPart, cabinet, make_scene, scene_to_sample
from sim2art_core.metrics import evaluate_sample
from sim2art_core.types import EstimateStatus, JointType


def two_boxes(angle: float, T: int = 6):
    """A base and a lid far apart, the lid rotating about a hinge on its own edge."""
    base = BoxPart(center=(0.0, 0.0, 0.0), size=(0.3, 0.3, 0.3))
    lid = BoxPart(center=(1.0, 0.0, 0.0), size=(0.3, 0.3, 0.05), type=JointType.REVOLUTE, axis=(0, 1, 0),
                  pivot=(0.85, 0.0, 0.0), amounts=np.linspace(0, angle, T))  # fmt: skip
    return make_scene([base, lid], T, [200, 200])


def test_oracle_k_on_separated_parts_segments_and_fits_the_hinge():
    sc = two_boxes(0.6)
    est = FeatClust(FeatClustConfig(k=2)).estimate(sc.window)
    assert est.status == EstimateStatus.OK and est.labels.shape == sc.labels.shape
    assert est.root is not None and est.root.label == 0 and est.parts[0].is_root
    m = evaluate_sample(scene_to_sample(sc, category="Box"), est)
    assert m.miou == pytest.approx(1.0)
    (j,) = m.joints
    assert j.type_correct and j.axis_angle_deg < 1e-3 and j.axis_position_cm < 1e-3


def test_model_selection_finds_the_articulation_without_being_told_k():
    sc = cabinet(num_frames=8, num_points=600)
    est = FeatClust().estimate(sc.window)
    assert est.status == EstimateStatus.OK and len(est.parts) >= 3
    assert len(est.joints) == len(est.parts) - 1
    assert {j.child for j in est.joints} == {p.label for p in est.parts if not p.is_root}
    m = evaluate_sample(scene_to_sample(sc), est)
    door, drawer = m.joints
    assert door.pred_type == JointType.REVOLUTE and door.axis_angle_deg < 2.0
    assert drawer.pred_type == JointType.PRISMATIC and drawer.axis_angle_deg < 2.0


def test_static_object_gives_no_articulation_with_one_root_part():
    sc = two_boxes(0.0)
    est = FeatClust().estimate(sc.window)
    assert est.status == EstimateStatus.NO_ARTICULATION
    assert len(est.parts) == 1 and est.parts[0].is_root and not est.joints
    assert np.all(est.labels == 0)


def test_image_features_drive_the_clusters_when_weighted():
    sc = two_boxes(0.6)
    rng = np.random.default_rng(0)
    feats = np.eye(8, dtype=np.float32)[sc.labels * 3] + 0.01 * rng.normal(size=(*sc.labels.shape, 8))
    window = replace(sc.window, features=feats.astype(np.float32))
    cfg = FeatClustConfig(k=2, xyz_weight=0.0, flow_weight=0.0)
    est = FeatClust(cfg).estimate(window)
    m = evaluate_sample(scene_to_sample(sc), est)
    assert m.miou == pytest.approx(1.0)


def test_repeatable_and_k_override():
    sc = cabinet(num_frames=6, num_points=400)
    fc = FeatClust()
    a, b = fc.estimate(sc.window), fc.estimate(sc.window)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert len(fc.estimate(sc.window, k=2).parts) <= 2


def test_bad_window_gives_failed_estimate_not_an_exception():
    sc = two_boxes(0.3)
    flow = sc.window.flow.copy()
    flow[0, 0] = np.nan
    est = FeatClust().estimate(replace(sc.window, flow=flow))
    assert est.status == EstimateStatus.FAILED and "NaN" in est.message
    assert np.all(est.labels == -1)
    with pytest.raises(ValueError, match="k_min"):
        FeatClustConfig(k_min=3, k_max=2)
