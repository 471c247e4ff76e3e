"""sim2art_ros.perception.twin: ~/robot_description (transient local, on change) and ~/save_urdf."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import rclpy
import yourdfpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String
from std_srvs.srv import Trigger

from sim2art_core.estimate import ArticulationEstimate
from sim2art_ros.conversions.articulation import joint_state_msg
from sim2art_ros.perception import twin as twin_module
from sim2art_ros.perception.twin import ROBOT_DESCRIPTION_QOS, DigitalTwin

JOINTS = ("confirmed", "all")


@pytest.fixture(scope="module")
def laptop(confirmed_gt_estimate):
    return confirmed_gt_estimate("Laptop", 3, 1, 5, 256)  # the lid's joint confirmed


@contextmanager
def twins_on_a_node(ros_context, kwargs: list[dict]):
    """DigitalTwins (one per kwargs) on one node called like the perception node; all closed afterwards."""
    node = rclpy.create_node("sim2art_perceive", context=ros_context)
    twins = [DigitalTwin(node, **kw) for kw in kwargs]
    try:
        yield twins
    finally:
        for twin in twins:
            twin.close()
        node.destroy_node()


def _spin_until(executor, cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        executor.spin_once(timeout_sec=0.05)
    return cond()


def _call(executor, node, name):
    client = node.create_client(Trigger, name)
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(Trigger.Request())
    assert _spin_until(executor, future.done)
    return future.result()


def test_robot_description_save_urdf_and_joint_state_names(ros_context, laptop, tmp_path):
    window, est = laptop
    node = rclpy.create_node("sim2art_perceive", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    twin = DigitalTwin(node, "cabinet", str(tmp_path / "saved"))
    try:
        early = []
        node.create_subscription(String, "/sim2art_perceive/robot_description", early.append, ROBOT_DESCRIPTION_QOS)
        reply = _call(executor, node, "/sim2art_perceive/save_urdf")
        assert not reply.success and "no URDF yet" in reply.message

        twin.update(window, ArticulationEstimate.failed("x", "world", window.stamps_ns, window.valid.shape))
        assert twin.wait_idle() and twin.model is None  # FAILED: nothing exported

        twin.update(window, est)
        assert twin.wait_idle() and _spin_until(executor, lambda: len(early) == 1)
        twin.update(window, est)  # the same URDF again: not republished
        assert twin.wait_idle()
        _spin_until(executor, lambda: len(early) > 1, timeout=0.5)
        assert len(early) == 1 and twin.exports == 2

        late = []  # transient local: a subscriber started afterwards still gets the URDF
        node.create_subscription(String, "/sim2art_perceive/robot_description", late.append, ROBOT_DESCRIPTION_QOS)
        assert _spin_until(executor, lambda: len(late) == 1)
        assert late[0].data == twin.model.urdf and '<robot name="cabinet">' in late[0].data

        reply = _call(executor, node, "/sim2art_perceive/save_urdf")
        assert reply.success, reply.message
        urdf = yourdfpy.URDF.load(str(tmp_path / "saved" / "object.urdf"), load_meshes=True)
        assert urdf.actuated_joint_names == list(joint_state_msg(est, "cabinet").name) == ["cabinet/joint_1"]
        assert len(urdf.scene.geometry) >= 2
        np.testing.assert_allclose(
            urdf.get_transform("cabinet/part_1", "world")[:3, 3], est.joints[0].origin, atol=1e-6
        )
        twin.reset()  # ~/reset: the model is forgotten until the next export
        reply = _call(executor, node, "/sim2art_perceive/save_urdf")
        assert not reply.success and twin.model is None
    finally:
        twin.close()
        executor.shutdown()
        node.destroy_node()


def test_unconfirmed_joints_are_fixed_by_default_and_movable_with_joints_all(ros_context, laptop, tmp_path):
    window, est = laptop
    hypothesis = replace(est, joints=tuple(replace(j, confirmed=False) for j in est.joints))
    with twins_on_a_node(
        ros_context, [dict(object_id="cab", folder=str(tmp_path / k), joints=k) for k in JOINTS]
    ) as twins:
        for twin in twins:
            twin.update(window, hypothesis)
            assert twin.wait_idle()
        assert twins[0].model.joint_names == {} and "1 unconfirmed joint(s)" in twins[0].model.urdf
        assert list(twins[1].model.joint_names) == [est.joints[0].child]


def test_unwritable_folder_is_a_clear_failure(ros_context, laptop, tmp_path):
    window, est = laptop
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    node = rclpy.create_node("sim2art_perceive", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    twin = DigitalTwin(node, "object_0", str(blocker / "sub"))
    try:
        twin.update(window, est)
        assert twin.wait_idle()
        reply = _call(executor, node, "/sim2art_perceive/save_urdf")
        assert not reply.success and "cannot write" in reply.message
    finally:
        twin.close()
        executor.shutdown()
        node.destroy_node()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_niceness_lowers_only_the_export_thread(ros_context, laptop, tmp_path):
    window, est = laptop
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with twins_on_a_node(
        ros_context, [dict(object_id="object_0", folder=str(tmp_path), niceness=n) for n in (0, 3)]
    ) as twins:
        for twin in twins:
            twin.update(window, est)  # the export thread has started (and lowered itself) once it is idle again
            assert twin.wait_idle() and twin.exports == 1
        plain, lowered = twins
        assert plain.nice is None and os.getpriority(os.PRIO_PROCESS, plain._thread.native_id) == mine
        assert lowered.nice == min(19, mine + 3) == os.getpriority(os.PRIO_PROCESS, lowered._thread.native_id)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's thread unchanged


def test_exports_are_rate_limited_and_the_newest_estimate_wins(ros_context, laptop, tmp_path):
    window, est = laptop
    node = rclpy.create_node("sim2art_perceive", context=ros_context)
    twin = DigitalTwin(node, "object_0", str(tmp_path), min_period_s=1.0)
    starts = []
    real_export = twin_module.export_urdf

    def export(estimate, *args):
        starts.append((time.monotonic(), estimate))
        return real_export(estimate, *args)

    try:
        twin_module.export_urdf = export
        twin.update(window, est)
        assert twin.wait_idle()  # the first export starts at once
        newer = [dataclasses.replace(est, message=f"newer {k}") for k in (1, 2, 3)]
        for e in newer:  # three estimates within the period: one export, of the newest
            twin.update(window, e)
        assert twin.wait_idle(10.0)
        assert twin.exports == 2 and starts[0][1] is est and starts[1][1] is newer[-1]
        assert starts[1][0] - starts[0][0] >= 1.0
    finally:
        twin_module.export_urdf = real_export
        twin.close()
        node.destroy_node()
