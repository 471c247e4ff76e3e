"""Example manipulator-side consumer of ``/articulation``: a gripper path that opens a joint.

Subscribes ``articulation`` (sim2art_ros/Articulation; remap as needed), picks a
joint and publishes, in the message's fixed frame:

* ``~/opening_path`` (nav_msgs/Path): gripper poses from the current joint state to
  the requested opening, carried rigidly with the moving part (geometry and grasp
  convention in :mod:`sim2art_core.consumer_path`);
* ``~/grasp_pose`` (geometry_msgs/PoseStamped): the first of them, where to grasp.

With ``plan_from`` "urdf" (default) it also subscribes ``robot_description`` (std_msgs/String, transient
local; remap to the perception node's ``~/robot_description``) and plans from the URDF of the same estimate
(:func:`sim2art_core.export.kinematics.urdf_opening_path`: grasp on the child link, waypoints by moving the
joint in the URDF, current states from the message). Until the URDF of the message's estimate (same newest
stamp) has arrived, or when the joint is not in it, it plans from the message's axis fields and counts that
(:attr:`ArticulationConsumer.plans`); the arrival of the matching URDF re-plans.

Parameters (all with descriptors; ``ros2 param describe`` lists them):
``joint_name`` ("" = most confident revolute/prismatic joint), ``object_id`` ("" = any),
``opening`` (rad | m), ``opening_mode`` ("relative" | "absolute"), ``num_waypoints``,
``handle_offset``, ``min_confidence``, ``planner_joints`` ("confirmed" = only joints the fused model confirmed,
the perception node's default; "all" = hypotheses too), ``latched_input``, ``plan_from``.

Robustness: FAILED / NO_ARTICULATION estimates, empty or malformed messages
(non-unit axis, NaN, unknown parts, bad enum values) are dropped with a throttled
warning and counted per reason (:attr:`ArticulationConsumer.drops`); nothing is
published for them, so a stale path is never replaced by a wrong one. Changing a
parameter re-plans from the last good message.

Usage: ``sim2art-consumer --ros-args -p opening:=0.8 -r articulation:=/articulation``
(``ros2 run sim2art_ros articulation_consumer`` on a ROS install).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import Path
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from sim2art_core.consumer_path import OPENING_MODES, GraspPath, OpeningRequest, PathError, opening_path, select_joint
from sim2art_core.estimate import PLANNER_JOINTS
from sim2art_core.export.kinematics import UrdfKinematics, urdf_opening_path
from sim2art_core.geometry import quaternion_from_matrix
from sim2art_ros.conversions.articulation import joint_frame_name, msg_to_estimate
from sim2art_ros.msg import Articulation

NODE_NAME = "articulation_consumer"


def pose_msg(T: np.ndarray) -> Pose:
    """geometry_msgs/Pose of a 4x4 transform."""
    p = Pose()
    p.position.x, p.position.y, p.position.z = (float(v) for v in T[:3, 3])
    q = quaternion_from_matrix(T)
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in q)
    return p


class ArticulationConsumer(Node):
    """The consumer node (module doc)."""

    def __init__(self, name: str = NODE_NAME, **kwargs):
        super().__init__(name, **kwargs)
        self._declare_parameters()
        self.drops: Counter[str] = Counter()
        self.published = 0
        self.last_path: GraspPath | None = None
        self._last_msg: Articulation | None = None
        latched = bool(self.get_parameter("latched_input").value)
        in_qos = QoSProfile(
            depth=1 if latched else 10,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )
        self.path_pub = self.create_publisher(Path, "~/opening_path", 10)
        self.grasp_pub = self.create_publisher(PoseStamped, "~/grasp_pose", 10)
        self.sub = self.create_subscription(Articulation, "articulation", self.on_articulation, in_qos)
        self.plans: Counter[str] = Counter()
        self._urdf: tuple[int, UrdfKinematics] | None = None  # (newest stamp of its estimate, kinematics)
        if str(self.get_parameter("plan_from").value) == "urdf":
            latched_qos = QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
            )
            self.create_subscription(String, "robot_description", self.on_robot_description, latched_qos)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._replan)
        self.get_logger().info(
            f"listening on {self.sub.topic_name}; publishing {self.path_pub.topic_name}, {self.grasp_pub.topic_name}"
        )

    # -- parameters -------------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        def desc(text, **kw):
            return ParameterDescriptor(description=text, **kw)

        self.declare_parameter(
            "joint_name", "", desc('joint to open, e.g. "joint_1"; "" = most confident movable (confirmed first)')
        )
        self.declare_parameter("object_id", "", desc('only use Articulation messages of this object_id; "" = any'))
        self.declare_parameter(
            "opening", 0.5,
            desc("rad (revolute) or m (prismatic); see opening_mode",
                 floating_point_range=[FloatingPointRange(from_value=-10.0, to_value=10.0, step=0.0)]),
        )  # fmt: skip
        self.declare_parameter(
            "opening_mode", "relative",
            desc('"relative": move by `opening` from the current state (+ = further open); '
                 '"absolute": go to state `opening` (relative to the window\'s first frame)'),
        )  # fmt: skip
        self.declare_parameter(
            "num_waypoints", 20,
            desc("poses in the path, the first at the current state",
                 integer_range=[IntegerRange(from_value=2, to_value=1000, step=1)]),
        )  # fmt: skip
        self.declare_parameter(
            "handle_offset", 0.9,
            desc("handle position: 0 = part centroid, 1 = surface of the part's box, along the lever (revolute) "
                 "or the axis (prismatic)",
                 floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)]),
        )  # fmt: skip
        self.declare_parameter(
            "min_confidence", 0.0,
            desc("ignore joints with a lower confidence",
                 floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)]),
        )  # fmt: skip
        self.declare_parameter(
            "planner_joints", "confirmed",
            desc('"confirmed": plan only joints the fused model confirmed (an unconfirmed joint is a hypothesis; '
                 'a per-window estimate confirms none); "all": hypotheses too'),
        )  # fmt: skip
        self.declare_parameter(
            "latched_input", True,
            desc("subscribe transient-local (get the last estimate on start; the publisher must be "
                 "transient-local too) or volatile", read_only=True),
        )  # fmt: skip

        self.declare_parameter(
            "plan_from", "urdf",
            desc('"urdf": plan from robot_description (the exported URDF of the same estimate) when it has '
                 'arrived; "articulation": from the message\'s axis fields only', read_only=True),
        )  # fmt: skip

    def _validate_parameters(self, params) -> SetParametersResult:
        for p in params:
            if p.name == "planner_joints" and p.value not in PLANNER_JOINTS:
                return SetParametersResult(successful=False, reason=f"planner_joints must be one of {PLANNER_JOINTS}")
            if p.name == "opening_mode" and p.value not in OPENING_MODES:
                return SetParametersResult(successful=False, reason=f"opening_mode must be one of {OPENING_MODES}")
            if p.name == "opening" and not np.isfinite(p.value):
                return SetParametersResult(successful=False, reason="opening must be finite")
        return SetParametersResult(successful=True)

    def _replan(self, _params) -> None:
        if self._last_msg is not None:
            self._plan(self._last_msg, replanning=True)

    def request(self) -> OpeningRequest:
        g = self.get_parameter
        return OpeningRequest(
            opening=float(g("opening").value),
            mode=str(g("opening_mode").value),
            num_waypoints=int(g("num_waypoints").value),
            handle_offset=float(g("handle_offset").value),
            min_confidence=float(g("min_confidence").value),
            joints=str(g("planner_joints").value),
        )

    # -- messages ---------------------------------------------------------------------------------
    def _drop(self, reason: str, detail: str) -> None:
        self.drops[reason] += 1
        self.get_logger().warning(
            f"dropped Articulation ({reason}, {self.drops[reason]} so far): {detail}", throttle_duration_sec=5.0
        )

    def on_robot_description(self, msg: String) -> None:
        stamp = re.search(r"newest stamp (\d+) ns", msg.data)
        try:
            kin = UrdfKinematics.from_text(msg.data)
        except ValueError as exc:
            self.get_logger().warning(f"ignored robot_description: {exc}", throttle_duration_sec=5.0)
            return
        self._urdf = (int(stamp.group(1)) if stamp else -1, kin)
        self._replan(None)

    def _urdf_path(self, msg: Articulation, estimate, request: OpeningRequest) -> GraspPath | None:
        """The path planned from the URDF of this estimate, or None when there is none (yet)."""
        if self._urdf is None or self._urdf[0] != int(estimate.stamps_ns[-1]):
            return None
        kin = self._urdf[1]
        if kin.root != msg.header.frame_id:
            return None
        joint = select_joint(
            estimate, str(self.get_parameter("joint_name").value), request.min_confidence, request.joints
        )
        name = joint_frame_name(msg.object_id, joint)  # the URDF's name of the joint, sanitised alike
        if name not in kin.joints:
            return None
        q = {joint_frame_name(msg.object_id, j): j.state for j in estimate.joints}
        return replace(urdf_opening_path(kin, name, q, request), joint=joint)

    def on_articulation(self, msg: Articulation) -> None:
        wanted = str(self.get_parameter("object_id").value)
        if wanted and msg.object_id != wanted:
            return
        self._plan(msg)

    def _plan(self, msg: Articulation, replanning: bool = False) -> None:
        if not msg.header.frame_id:
            self._drop("malformed", "empty header.frame_id: the geometry has no frame")
            return
        try:
            estimate = msg_to_estimate(msg)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            self._drop("malformed", str(exc))
            return
        try:
            request = self.request()
            path, source = self._urdf_path(msg, estimate, request), "urdf"
            if path is None:
                path, source = (
                    opening_path(estimate, request, str(self.get_parameter("joint_name").value)),
                    "articulation",
                )
        except PathError as exc:
            reason = "not_ok" if "status is" in str(exc) else "unplannable"
            self._drop(reason, str(exc))
            return
        if not replanning:
            self._last_msg = msg
        self.plans[source] += 1
        self.last_path = path
        self._publish(msg, path)

    def _publish(self, msg: Articulation, path: GraspPath) -> None:
        out = Path()
        out.header.stamp = msg.header.stamp
        out.header.frame_id = msg.header.frame_id
        for T in path.poses:
            ps = PoseStamped()
            ps.header = out.header
            ps.pose = pose_msg(T)
            out.poses.append(ps)
        self.path_pub.publish(out)
        self.grasp_pub.publish(out.poses[0])
        self.published += 1
        kind = path.joint.type.name.lower()
        unit = "rad" if kind == "revolute" else "m"
        self.get_logger().info(
            f"{msg.object_id}/{path.joint.name} ({kind}): path of {len(out.poses)} poses, state "
            f"{path.states[0]:+.3f} -> {path.states[-1]:+.3f} {unit}, handle {np.round(path.handle, 3).tolist()}",
            throttle_duration_sec=2.0,
        )


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    import argparse

    import rclpy
    from rclpy.utilities import remove_ros_args

    from sim2art_ros.spin import spin_until_shutdown

    args = list(sys.argv if argv is None else ["sim2art-consumer", *argv])
    parser = argparse.ArgumentParser(
        prog="sim2art-consumer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(remove_ros_args(args)[1:])  # only --help; settings are ROS parameters
    rclpy.init(args=args)
    return spin_until_shutdown(ArticulationConsumer())


if __name__ == "__main__":
    sys.exit(main())
