"""The manipulator consumer: path geometry on synthetic estimates with known joints, and the node's robustness."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sim2art_core.consumer_path import OpeningRequest, PathError, opening_path
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import closest_point_on_line, invert_transform, make_transform, point_line_distance
from sim2art_core.types import EstimateStatus, JointType

T = 5


def make_estimate(kind: str, pose: np.ndarray | None = None, current: float = 0.3) -> ArticulationEstimate:
    """A door (hinge along z at x=1, y=2) or a drawer (sliding along (0.6, 0.8, 0)), optionally moved by ``pose``."""
    pose = np.eye(4) if pose is None else pose
    R, t = pose[:3, :3], pose[:3, 3]

    def P(p):
        return R @ np.asarray(p, float) + t

    if kind == "door":
        axis, origin = np.array([0.0, 0.0, 1.0]), np.array([1.0, 2.0, 0.5])
        centroid, lo, hi = np.array([1.4, 2.0, 0.5]), np.array([1.0, 1.98, 0.0]), np.array([1.8, 2.02, 1.0])
        jtype = JointType.REVOLUTE
    else:
        axis = np.array([0.6, 0.8, 0.0])
        centroid = np.array([0.5, 0.5, 0.3])
        origin = centroid - 0.1 * axis
        lo, hi = centroid - [0.2, 0.2, 0.05], centroid + [0.2, 0.2, 0.05]
        jtype = JointType.PRISMATIC
    # the part's box after the pose is no longer axis-aligned: use the bounds of the moved corners
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    moved = corners @ R.T + t
    base = PartEstimate(0, True, 500, P([0, 0, 0]), P([0, 0, 0]) - 0.5, P([0, 0, 0]) + 0.5, 0.9)
    child = PartEstimate(1, False, 200, P(centroid), moved.min(0), moved.max(0), 0.8)
    joint = JointEstimate(
        child=1, parent=0, type=jtype, type_probs=np.eye(3)[int(jtype)], axis=R @ axis, origin=P(origin),
        amounts=np.linspace(0.0, current, T), confidence=0.9, support_windows=3, confirmed=True,
    )  # fmt: skip
    return ArticulationEstimate(
        status=EstimateStatus.OK, frame_id="odom", stamps_ns=np.arange(T, dtype=np.int64) * 10**8,
        labels=np.zeros((T, 0), np.int16), parts=(base, child), joints=(joint,),
    )  # fmt: skip


def test_door_path_stays_on_the_hinge_circle_and_rotates_the_grasp():
    est = make_estimate("door", current=0.3)
    path = opening_path(est, OpeningRequest(opening=1.0, num_waypoints=11, handle_offset=1.0))
    # handle on the door's free edge: box surface along the lever from the hinge
    np.testing.assert_allclose(path.handle, [1.8, 2.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(path.states, np.linspace(0.3, 1.3, 11))
    pos = path.positions
    np.testing.assert_allclose(point_line_distance(pos, [1.0, 2.0, 0.0], [0, 0, 1]), 0.8, atol=1e-9)
    np.testing.assert_allclose(pos[:, 2], 0.5, atol=1e-12)  # in the plane perpendicular to the axis
    angles = np.unwrap(np.arctan2(pos[:, 1] - 2.0, pos[:, 0] - 1.0))
    np.testing.assert_allclose(angles - angles[0], np.linspace(0, 1.0, 11), atol=1e-9)  # right-handed about +z
    # the grasp: approach against the opening motion (-y at the start), x along the hinge; carried rigidly
    np.testing.assert_allclose(path.poses[0][:3, 2], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(path.poses[0][:3, 0], [0, 0, 1], atol=1e-12)
    for k in range(11):
        rel = path.poses[k] @ invert_transform(path.poses[0])
        np.testing.assert_allclose(
            Rotation.from_matrix(rel[:3, :3]).as_rotvec(), [0, 0, angles[k] - angles[0]], atol=1e-9
        )
        assert np.linalg.det(path.poses[k][:3, :3]) == pytest.approx(1.0)


def test_a_confirmed_joint_wins_over_a_more_confident_hypothesis():
    """The fused model flags one-window joints as unconfirmed: the automatic choice skips them, and by default
    (joints "confirmed", the node's planner_joints) a hypothesis is never planned, even by name."""
    import dataclasses

    est = make_estimate("door")
    door = dataclasses.replace(est.joints[0], confidence=0.5, support_windows=3, confirmed=True)
    ghost = dataclasses.replace(est.joints[0], child=2, confidence=0.95, support_windows=1, confirmed=False)
    ghost_part = dataclasses.replace(est.parts[1], label=2)
    fused = dataclasses.replace(est, parts=(*est.parts, ghost_part), joints=(door, ghost))
    assert opening_path(fused, OpeningRequest(opening=0.5)).joint.name == "joint_1"
    with pytest.raises(PathError, match="'joint_2' is unconfirmed \\(1 window"):
        opening_path(fused, OpeningRequest(opening=0.5), joint_name="joint_2")
    assert opening_path(fused, OpeningRequest(opening=0.5, joints="all"), joint_name="joint_2").joint.name == "joint_2"
    # a per-window estimate confirms nothing: refused by default, the most confident joint with joints "all"
    window = dataclasses.replace(fused, joints=(dataclasses.replace(door, confirmed=False), ghost))
    with pytest.raises(PathError, match="none of the 2 movable joints is confirmed"):
        opening_path(window, OpeningRequest(opening=0.5))
    assert opening_path(window, OpeningRequest(opening=0.5, joints="all")).joint.name == "joint_2"
    with pytest.raises(ValueError, match="OpeningRequest.joints"):
        OpeningRequest(joints="some")


def test_drawer_path_stays_on_the_sliding_line():
    est = make_estimate("drawer", current=0.05)
    path = opening_path(est, OpeningRequest(opening=0.25, mode="absolute", num_waypoints=6, handle_offset=1.0))
    axis = np.array([0.6, 0.8, 0.0])
    c = np.array([0.5, 0.5, 0.3])
    # the drawer front: where the +axis ray from the centroid leaves the box (|0.2 / 0.8| = 0.25 m)
    np.testing.assert_allclose(path.handle, c + 0.25 * axis, atol=1e-9)
    np.testing.assert_allclose(path.states, np.linspace(0.05, 0.25, 6))
    np.testing.assert_allclose(point_line_distance(path.positions, path.handle, axis), 0.0, atol=1e-12)
    np.testing.assert_allclose((path.positions - path.handle) @ axis, np.linspace(0, 0.2, 6), atol=1e-12)
    for pose in path.poses:  # pure translation: the grasp orientation never changes, approach = -axis
        np.testing.assert_allclose(pose[:3, :3], path.poses[0][:3, :3], atol=1e-12)
        np.testing.assert_allclose(pose[:3, 2], -axis, atol=1e-12)


@pytest.mark.parametrize("kind", ["door", "drawer"])
def test_path_moves_with_the_object(kind):
    """Same object elsewhere in the fixed frame (any axis direction): the path is the moved path."""
    rng = np.random.default_rng(3)
    pose = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))
    req = OpeningRequest(opening=-0.4 if kind == "door" else 0.1, num_waypoints=7, handle_offset=0.0)
    ref = opening_path(make_estimate(kind), req)
    moved = opening_path(make_estimate(kind, pose), req)
    np.testing.assert_allclose(moved.positions, ref.positions @ pose[:3, :3].T + pose[:3, 3], atol=1e-9)
    np.testing.assert_allclose(moved.states, ref.states)
    if kind == "door":  # handle_offset 0: the centroid, on the circle of radius 0.4
        axis_pt = pose[:3, :3] @ [1.0, 2.0, 0.5] + pose[:3, 3]
        d = point_line_distance(moved.positions, axis_pt, pose[:3, :3] @ [0, 0, 1])
        np.testing.assert_allclose(d, 0.4, atol=1e-9)


def test_unplannable_estimates_raise_path_error():
    req = OpeningRequest()
    failed = ArticulationEstimate.failed("no depth", "odom", np.arange(T), (T, 0))
    with pytest.raises(PathError, match="FAILED"):
        opening_path(failed, req)
    est = make_estimate("door")
    with pytest.raises(PathError, match="no joint named"):
        opening_path(est, req, joint_name="joint_9")
    j = est.joints[0]
    on_axis = closest_point_on_line(est.parts[1].centroid, j.origin, j.axis)
    child = PartEstimate(1, False, 10, on_axis, on_axis - 0.1, on_axis + 0.1, 0.5)  # a fan hub: no lever
    with pytest.raises(PathError, match="centred on the axis"):
        opening_path(ArticulationEstimate(**{**est.__dict__, "parts": (est.parts[0], child)}), req)
    fixed = JointEstimate(**{**j.__dict__, "type": JointType.STATIC})
    with pytest.raises(PathError, match="no revolute or prismatic"):
        opening_path(ArticulationEstimate(**{**est.__dict__, "joints": (fixed,)}), req)
    with pytest.raises(ValueError, match="mode"):
        OpeningRequest(mode="sideways")


# -- the node ------------------------------------------------------------------------------------


def _spin_until(executor, cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return cond()


def test_consumer_node_publishes_paths_and_survives_bad_messages(ros_context):
    import rclpy
    from nav_msgs.msg import Path
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import DurabilityPolicy, QoSProfile

    from sim2art_ros.consumer.node import ArticulationConsumer
    from sim2art_ros.conversions.articulation import estimate_to_msg
    from sim2art_ros.msg import Articulation

    consumer = ArticulationConsumer(
        context=ros_context,
        parameter_overrides=[Parameter("opening", value=0.5), Parameter("num_waypoints", value=9)],
    )
    io = rclpy.create_node("consumer_test_io", context=ros_context)
    pub = io.create_publisher(
        Articulation, "/articulation", QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    )
    paths: list[Path] = []
    io.create_subscription(Path, "/articulation_consumer/opening_path", paths.append, 10)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(consumer)
    ex.add_node(io)
    assert _spin_until(ex, lambda: pub.get_subscription_count() > 0 and consumer.path_pub.get_subscription_count() > 0)

    good = estimate_to_msg(make_estimate("door"), "cabinet_0")
    bad = []
    bad.append(estimate_to_msg(ArticulationEstimate.failed("bad depth", "odom", np.arange(T), (T, 0)), "cabinet_0"))
    bad.append(Articulation())  # empty: no frame, no parts
    nan_axis = estimate_to_msg(make_estimate("door"), "cabinet_0")
    nan_axis.joints[0].axis.x = float("nan")
    bad.append(nan_axis)
    unknown_part = estimate_to_msg(make_estimate("door"), "cabinet_0")
    unknown_part.joints[0].child_part = "lid_7"
    bad.append(unknown_part)
    bad_type = estimate_to_msg(make_estimate("door"), "cabinet_0")
    bad_type.joints[0].type = 7
    bad.append(bad_type)
    no_traj = estimate_to_msg(make_estimate("door"), "cabinet_0")
    no_traj.joints[0].state_trajectory = []
    bad.append(no_traj)
    for i, m in enumerate(bad, start=1):  # one at a time: the latched input keeps only the newest
        pub.publish(m)
        assert _spin_until(ex, lambda i=i: sum(consumer.drops.values()) == i), consumer.drops
    assert paths == [] and consumer.published == 0
    assert consumer.drops["not_ok"] == 1 and consumer.drops["malformed"] >= 3

    pub.publish(good)
    assert _spin_until(ex, lambda: len(paths) == 1)
    path = paths[0]
    assert path.header.frame_id == "odom" and len(path.poses) == 9
    pos = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in path.poses])
    np.testing.assert_allclose(point_line_distance(pos, [1.0, 2.0, 0.0], [0, 0, 1]), 0.4 + 0.9 * 0.4, atol=1e-6)

    # a parameter change re-plans from the last good message; invalid values are refused
    assert not consumer.set_parameters([Parameter("opening_mode", value="sideways")])[0].successful
    assert not consumer.set_parameters([Parameter("handle_offset", value=2.0)])[0].successful
    assert consumer.set_parameters([Parameter("opening", value=-0.2)])[0].successful
    assert _spin_until(ex, lambda: len(paths) == 2)
    assert consumer.last_path.states[-1] == pytest.approx(0.3 - 0.2)
    ex.shutdown()
    consumer.destroy_node()
    io.destroy_node()


def test_consumer_plans_from_the_urdf_of_the_same_estimate(ros_context, confirmed_gt_estimate):
    import rclpy
    from nav_msgs.msg import Path
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    from sim2art_core.export import ExportConfig, export_urdf, observed_geometry_from_window
    from sim2art_ros.consumer.node import ArticulationConsumer
    from sim2art_ros.conversions.articulation import estimate_to_msg
    from sim2art_ros.msg import Articulation

    # as the node's fused model gives it once confirmed (the consumer plans confirmed joints only by default)
    window, est = confirmed_gt_estimate("Laptop", 3, 1, 5, 256)
    model = export_urdf(est, observed_geometry_from_window(window, est), ExportConfig(link_prefix="lap/"))
    joint = est.joints[0]

    consumer = ArticulationConsumer(context=ros_context)
    io = rclpy.create_node("consumer_urdf_io", context=ros_context)
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = io.create_publisher(Articulation, "/articulation", latched)
    pub_urdf = io.create_publisher(String, "/robot_description", latched)
    paths: list[Path] = []
    io.create_subscription(Path, "/articulation_consumer/opening_path", paths.append, 10)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(consumer)
    ex.add_node(io)
    try:
        assert _spin_until(ex, lambda: pub_urdf.get_subscription_count() > 0 and pub.get_subscription_count() > 0)
        # a URDF of another estimate (other newest stamp) is not used: the message's axis fields are
        pub_urdf.publish(String(data=model.urdf.replace("newest stamp", "newest stamp 1")))
        pub.publish(estimate_to_msg(est, "lap"))
        assert _spin_until(ex, lambda: len(paths) >= 1)
        _spin_until(ex, lambda: False, timeout=0.3)  # the mismatching URDF arrives (a re-plan, not from it)
        assert consumer.plans["urdf"] == 0 and consumer.plans["articulation"] >= 1
        # the URDF of this estimate arrives: re-planned from it, on the circle about the estimated hinge
        n = len(paths)
        pub_urdf.publish(String(data=model.urdf))
        assert _spin_until(ex, lambda: consumer.plans["urdf"] == 1 and len(paths) == n + 1)
        pos = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in paths[-1].poses])
        r = point_line_distance(pos, joint.origin, joint.axis)
        np.testing.assert_allclose(r, r[0], atol=1e-5)
        assert r[0] > 0.05 and consumer.last_path.joint.name == "joint_1"
        np.testing.assert_allclose(consumer.last_path.states[0], joint.state, atol=1e-9)
    finally:
        ex.shutdown()
        consumer.destroy_node()
        io.destroy_node()
