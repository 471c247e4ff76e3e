"""The node's output table: one publisher per entry, converters in table order, FAILED estimates gated.

No DDS: a stand-in node records ``create_publisher`` and what each publisher sends. The estimates
come from the FixedAnswerEstimator stand-in (one revolute joint) on a small window.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Header

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.window import Window
from sim2art_ros.msg import Articulation
from sim2art_ros.perception.outputs import OUTPUTS, Output, Outputs, PublishContext

sys.path.insert(0, str(Path(__file__).parent))
from standin_estimators import FixedAnswerEstimator

PARAMS = {
    "publish_failed": True, "publish_markers": True, "publish_point_cloud": True, "marker_axis_length_m": 0.4,
    "planner_joints": "confirmed",
}  # fmt: skip


class FakeNode:
    def __init__(self):
        self.sent: list[tuple[str, object]] = []
        self.created: list[tuple[type, str, object]] = []

    def create_publisher(self, msg_type, topic, qos):
        self.created.append((msg_type, topic, qos))
        node = self

        class Pub:
            def publish(self, msg):
                node.sent.append((topic, msg))

        return Pub()


@pytest.fixture
def window() -> Window:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (3, 40, 3))
    return Window(
        pts, np.zeros_like(pts), np.ones((3, 40), bool), np.array([1, 2, 3]) * 10**8, np.tile(np.eye(4), (3, 1, 1))
    )


def _confirmed(est: ArticulationEstimate) -> ArticulationEstimate:
    """As the fused model presents a joint it confirmed."""
    return replace(est, joints=tuple(replace(j, confirmed=True, support_windows=2) for j in est.joints))


def _ctx(est, window, **params) -> PublishContext:
    return PublishContext(est, window, "object_0", Header(frame_id="odom"), {**PARAMS, **params})


def test_every_entry_gets_one_publisher_and_publishes_in_table_order(window):
    node = FakeNode()
    outputs = Outputs(node)
    assert [t for _, t, _ in node.created] == [o.topic for o in OUTPUTS]
    sent = outputs.publish(_ctx(_confirmed(FixedAnswerEstimator(num_frames=3).estimate(window)), window))
    assert list(sent) == ["articulation", "tf", "joint_states", "markers", "points"]
    assert [t for t, _ in node.sent] == ["articulation", "/tf", "~/joint_states", "~/markers", "~/points"]
    assert [t.child_frame_id for t in sent["tf"].transforms] == ["object_0/joint_1"]


def test_disabled_outputs_and_failed_estimates(window):
    node = FakeNode()
    outputs = Outputs(node)
    ok = _confirmed(FixedAnswerEstimator(num_frames=3).estimate(window))
    assert list(outputs.publish(_ctx(ok, window, publish_markers=False, publish_point_cloud=False))) == [
        "articulation", "tf", "joint_states",
    ]  # fmt: skip
    failed = ArticulationEstimate.failed("boom", "odom", window.stamps_ns, window.valid.shape)
    sent = outputs.publish(_ctx(failed, window))
    assert list(sent) == ["articulation"] and sent["articulation"].status == Articulation.STATUS_FAILED
    assert outputs.publish(_ctx(failed, window, publish_failed=False)) == {}


def test_unconfirmed_joints_are_not_presented_as_facts(window):
    """planner_joints confirmed (default): a hypothesis (a per-window estimate, or a fused joint not yet
    confirmed) gets no joint frame and no joint state; /articulation carries it flagged, the markers
    draw it tentative. planner_joints all: every joint, as per-window estimates were published before."""
    node = FakeNode()
    outputs = Outputs(node)
    hypothesis = FixedAnswerEstimator(num_frames=3).estimate(window)
    sent = outputs.publish(_ctx(hypothesis, window))
    assert list(sent) == ["articulation", "markers", "points"]
    assert [(j.name, j.confirmed) for j in sent["articulation"].joints] == [("joint_1", False)]
    assert {m.ns for m in sent["markers"].markers[1:]} == {"sim2art/object_0/unconfirmed", "sim2art/object_0"}
    sent = outputs.publish(_ctx(hypothesis, window, planner_joints="all"))
    assert list(sent) == ["articulation", "tf", "joint_states", "markers", "points"]
    assert list(sent["joint_states"].name) == [t.child_frame_id for t in sent["tf"].transforms] == ["object_0/joint_1"]
    # once confirmed: the same names
    sent = outputs.publish(_ctx(_confirmed(hypothesis), window))
    assert list(sent["joint_states"].name) == [t.child_frame_id for t in sent["tf"].transforms] == ["object_0/joint_1"]


def test_a_new_output_is_one_entry(window):
    """What the fused-model or robot_description outputs will do: one more row, one converter."""
    node = FakeNode()
    extra = Output("labels", "~/label_count", Header, 1, lambda c: Header(frame_id=str(int(c.estimate.labels.max()))))
    outputs = Outputs(node, OUTPUTS + (extra,))
    sent = outputs.publish(_ctx(FixedAnswerEstimator(num_frames=3).estimate(window), window))
    assert sent["labels"].frame_id == "1" and node.sent[-1][0] == "~/label_count"
    with pytest.raises(ValueError, match="unique"):
        Outputs(FakeNode(), OUTPUTS + (OUTPUTS[0],))
