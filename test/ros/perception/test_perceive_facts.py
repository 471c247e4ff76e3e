"""The node's planner-facing outputs present only facts: ``planner_joints`` in the node itself (in process).

A per-window estimate (``publish_mode: window``) confirms no joint, so with ``planner_joints: confirmed``
(default) neither /tf, ~/joint_states nor ~/robot_description presents its joint as movable; with ``all``
all three do, under one name. The fused mode (a joint becoming a fact once confirmed) runs over DDS in
test_perceive_node.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.eval.methods import MethodOptions, build_method
from sim2art_ros.perception.params import unknown_parameters

sys.path.insert(0, str(Path(__file__).parent))
from standin_estimators import FixedAnswerEstimator


@pytest.fixture(scope="module")
def laptop():
    sample = generate_sequence("Laptop", 3, 1, SequenceConfig(num_frames=5, num_points=256))
    window = window_from_sample(sample)
    return window, build_method("gtseg-refine", MethodOptions())(sample, window)  # one window: unconfirmed


class Recorder:
    def __init__(self):
        self.msgs = []

    def publish(self, msg):
        self.msgs.append(msg)


def _published(args: list[str], window, est) -> tuple[dict, object, list]:
    """{output name: messages}, the URDF model and the joint frames the node re-sends, after it published
    ``est`` once."""
    from sim2art_ros.perception.node import PerceiveNode

    ctx = Context()
    rclpy.init(context=ctx, args=["perceive", "--ros-args", "-p", "rate_hz:=0.0", *args])
    node = PerceiveNode(estimator=FixedAnswerEstimator(num_frames=5, num_points=256), context=ctx)
    try:
        recorders = {name: Recorder() for name in node.outputs.publishers}
        node.outputs.publishers.update(recorders)
        node._publish(window, est)
        assert node.twin.wait_idle()
        return {k: r.msgs for k, r in recorders.items()}, node.twin.model, list(node._last_tf)
    finally:
        node.close()
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_window_mode_presents_no_joint_as_a_fact_by_default(laptop, capfd):
    window, est = laptop
    assert [j.confirmed for j in est.joints] == [False]
    sent, urdf, resent = _published(["-p", "publish_mode:=window"], window, est)
    assert [j.confirmed for j in sent["articulation"][0].joints] == [False]  # flagged on /articulation
    assert sent["tf"] == [] and sent["joint_states"] == [] and resent == []  # not on /tf, ~/joint_states
    assert urdf.joint_names == {}  # fixed in the digital twin
    markers = sent["markers"][0].markers
    assert any(m.ns.endswith("/unconfirmed") and "[unconfirmed" in m.text for m in markers)  # shown tentative
    assert "publish_mode 'window' confirms no joint" in capfd.readouterr().err


def test_planner_joints_all_presents_every_joint_under_the_urdf_name(laptop):
    window, est = laptop
    sent, urdf, resent = _published(["-p", "publish_mode:=window", "-p", "planner_joints:=all"], window, est)
    names = list(sent["joint_states"][0].name)
    assert names == [t.child_frame_id for t in sent["tf"][0].transforms] == [t.child_frame_id for t in resent]
    assert names == list(urdf.joint_names.values()) == ["object_0/joint_1"]


def test_the_former_parameter_name_is_named_in_the_warning():
    assert unknown_parameters({"robot_description_joints"}) == [
        "parameter 'robot_description_joints' is ignored: it was renamed to planner_joints (it now also chooses "
        "/tf and ~/joint_states)"
    ]
