"""The Estimator with depth hypotheses (EstimatorConfig.depth_hypotheses): a flap seen edge-on whose image flow
missed it (the network leaves it in the base) is reported with its hinge only with the stage on; a door the network
reported, which uncovers a static wall, adds no part; off by default."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sim2art_core.estimator import EstimatorConfig
from sim2art_core.metrics.joint_metrics import axis_angle_error_deg
from sim2art_core.types import EstimateStatus, JointType

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from oracle_nets import oracle_estimator
from scenes import best_iou
from test_depth_hypotheses import _render, _window, door_before_an_object, flap_box, turned


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    return oracle_estimator(tmp_path_factory)


def test_a_flap_the_flow_missed_is_reported_only_with_depth_hypotheses(estimator):
    # the flow is zero everywhere: the oracle network puts every point in the base
    scene = _render(turned(flap_box(), 70.0), still_flow=[1], seed=11)
    window = _window(scene)
    plain = estimator.estimate(window, depth_hypotheses=False)
    assert len(plain.joints) == 0
    est = estimator.estimate(window, depth_hypotheses=True)
    assert est.status == EstimateStatus.OK
    assert len(est.joints) == 1 and len(est.parts) == 2 and est.parts[0].is_root
    joint = est.joints[0]
    assert joint.child == 1 and joint.type == JointType.REVOLUTE and joint.source == "refined"
    true_axis = Rotation.from_euler("y", 70.0, degrees=True).as_matrix() @ [1.0, 0, 0]
    assert axis_angle_error_deg(np.asarray(joint.axis), true_axis) < 12.0
    assert best_iou(est.labels, scene.labels == 1) > 0.5
    assert "depth_hypotheses" in est.timings and ":depthhyp" in est.estimator_id


def test_a_reported_door_that_uncovers_a_wall_adds_no_part(estimator):
    scene = _render(turned(door_before_an_object(), 30.0), seed=12)
    window = _window(scene)
    plain = estimator.estimate(window, depth_hypotheses=False)
    est = estimator.estimate(window, depth_hypotheses=True)
    assert len(plain.joints) == 1
    assert len(est.joints) == len(plain.joints)


def test_off_by_default(estimator):
    assert EstimatorConfig().depth_hypotheses is False
    assert estimator.config.depth_hypotheses is False
    scene = _render(turned(flap_box(), 70.0), still_flow=[1], seed=13)
    assert len(estimator.estimate(_window(scene)).joints) == 0


def test_the_constructor_switch_turns_it_on(tmp_path_factory):
    from sim2art_core.estimator import Estimator

    est = oracle_estimator(tmp_path_factory)
    on = Estimator(est.checkpoint.path, "cpu", depth_hypotheses=True)
    assert on.config.depth_hypotheses is True and ":depthhyp" in on.estimator_id
