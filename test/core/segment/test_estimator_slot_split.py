"""The Estimator with the slot split (EstimatorConfig.slot_split): a network that merges every moving part into
one slot reports a door and a small drawer as one part; with the split, as two, the drawer with a refined joint."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.estimator import EstimatorConfig
from sim2art_core.types import EstimateStatus, JointType

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from scenes import best_iou, render
from test_slot_split import _door_and_drawer


@pytest.mark.parametrize("refine", [False, True])
def test_a_drawer_in_the_doors_slot_becomes_its_own_joint(estimator, refine):
    scene = render(_door_and_drawer(), T=12, N=800, seed=21)
    window = scene.window()
    plain = estimator.estimate(window, refine=refine, slot_split=False)
    est = estimator.estimate(window, refine=refine, slot_split=True)
    assert plain.status == est.status == EstimateStatus.OK
    assert len(plain.joints) == 1 and len(est.joints) == 2
    assert len(est.parts) == 3 and est.parts[0].is_root
    assert best_iou(est.labels, scene.labels == 1) > 0.95
    assert best_iou(est.labels, scene.labels == 2) > 0.9
    drawer = est.joints[1]
    assert drawer.child == 2 and drawer.type == JointType.PRISMATIC
    assert abs(float(drawer.axis @ np.array([0.0, 0.0, -1.0]))) > np.cos(np.radians(3.0))
    assert "slot_split" in est.timings and ":slotsplit" in est.estimator_id
    assert est.joints[0].child == 1 and est.joints[0].source == plain.joints[0].source


def test_off_by_default_and_by_config(estimator):
    assert EstimatorConfig().slot_split is False
    scene = render(_door_and_drawer(), T=12, N=800, seed=22)
    assert len(estimator.estimate(scene.window()).joints) == 1
