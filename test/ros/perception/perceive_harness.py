"""Test harness: the perception node in its own process, a driver node in the test process.

The node runs as ``python -m sim2art_ros.perception.node`` (the console script's code) in
a subprocess with a private ROS_DOMAIN_ID, so parallel test runs on this machine never
see each other's /tf or camera topics. The driver publishes synthetic frames the way a
robot does (realsense-ros topic names; /tf odom -> camera_link, /tf_static
camera_link -> camera_color_optical_frame) and records every output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import String
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import invert_transform, make_transform, quaternion_from_matrix
from sim2art_ros.conversions.image_codec import (
    depth_to_image,
    intrinsics_to_camera_info,
    mask_to_image,
    ns_to_stamp,
    rgb_to_image,
)
from sim2art_ros.msg import Articulation

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
COLOR = "/camera/color/image_raw"  # the node's relative default names, in the root namespace
DEPTH = "/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/color/camera_info"
OPTICAL = "camera_color_optical_frame"
LINK = "camera_link"
#: camera_link (x forward, z up) -> optical frame (x right, y down, z forward)
LINK_FROM_OPTICAL = make_transform(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def private_domain() -> int:
    """A ROS_DOMAIN_ID unlikely to be used by another test run on this machine."""
    return 100 + (os.getpid() % 100)


class NodeProcess:
    """``sim2art_ros.perception.node`` in a subprocess (stopped with SIGINT like ros2 launch does)."""

    def __init__(self, domain: int, params: dict, log_path: Path):
        args = [sys.executable, "-m", "sim2art_ros.perception.node", "--ros-args", "--log-level", "warn"]
        for k, v in params.items():
            args += ["-p", f"{k}:={_ros_value(v)}"]
        env = dict(os.environ)
        env["ROS_DOMAIN_ID"] = str(domain)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def _ros_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_ros_value(x) for x in v) + "]"
    if isinstance(v, str):  # YAML single-quoted, so JSON or ':' survive the -p parser
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def transform_msg(parent: str, child: str, T: np.ndarray, stamp_ns: int) -> TransformStamped:
    t = TransformStamped()
    t.header.stamp = ns_to_stamp(stamp_ns)
    t.header.frame_id, t.child_frame_id = parent, child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in T[:3, 3])
    q = quaternion_from_matrix(T)
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in q)
    return t


class Driver:
    """Publishes camera frames + TF, records the node's outputs, calls its services."""

    def __init__(self, domain: int, node_name: str = "sim2art_perceive", fixed_frame: str = "odom"):
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("perceive_test_driver", context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.fixed_frame = fixed_frame
        n = self.node
        self.pub_color = n.create_publisher(Image, COLOR, 10)
        self.pub_depth = n.create_publisher(Image, DEPTH, 10)
        self.pub_info = n.create_publisher(CameraInfo, INFO, 10)
        self.pub_mask = n.create_publisher(Image, "/object_mask", 10)
        self.pub_tf = n.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
        self.pub_tf_static = n.create_publisher(TFMessage, "/tf_static", LATCHED)
        self.received: dict[str, list] = defaultdict(list)
        ns = f"/{node_name}"
        for topic, mtype, qos in [
            ("/articulation", Articulation, LATCHED),
            ("/tf", TFMessage, QoSProfile(depth=100)),
            (f"{ns}/markers", MarkerArray, 10),
            (f"{ns}/points", PointCloud2, 5),
            (f"{ns}/joint_states", JointState, 10),
            (f"{ns}/robot_description", String, LATCHED),
            ("/diagnostics", DiagnosticArray, 10),
        ]:
            n.create_subscription(mtype, topic, lambda m, t=topic: self.received[t].append(m), qos)
        self.trigger = n.create_client(Trigger, f"{ns}/trigger")
        self.reset = n.create_client(Trigger, f"{ns}/reset")
        self.odom_from_world = np.eye(4)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)

    # ---- spinning helpers
    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(0.0, end - time.monotonic())))

    def wait_for(self, predicate, timeout: float, what: str = "condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            self.executor.spin_once(timeout_sec=0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def call(self, client, timeout: float = 10.0) -> Trigger.Response:
        self.wait_for(lambda: client.service_is_ready(), timeout, f"service {client.srv_name}")
        future = client.call_async(Trigger.Request())
        self.wait_for(future.done, timeout, f"reply of {client.srv_name}")
        return future.result()

    def wait_for_node(self, node: NodeProcess, timeout: float = 60.0, mask: bool = False) -> None:
        """Until the node's services are up and its camera subscriptions matched (or it died)."""

        def ready():
            if not node.alive():
                return True
            pubs = [self.pub_color, self.pub_depth, self.pub_info] + ([self.pub_mask] if mask else [])
            return self.trigger.service_is_ready() and all(p.get_subscription_count() > 0 for p in pubs)

        self.wait_for(ready, timeout, "the node's services and subscriptions")
        assert node.alive(), node.log()

    # ---- publishing
    def publish_static_tf(self) -> None:
        self.pub_tf_static.publish(TFMessage(transforms=[transform_msg(LINK, OPTICAL, LINK_FROM_OPTICAL, 0)]))

    def publish_pose(self, world_from_cam: np.ndarray, stamp_ns: int) -> None:
        odom_from_link = self.odom_from_world @ world_from_cam @ invert_transform(LINK_FROM_OPTICAL)
        self.pub_tf.publish(TFMessage(transforms=[transform_msg(self.fixed_frame, LINK, odom_from_link, stamp_ns)]))

    def frame_messages(
        self, frame: RGBDFrame, stamp_ns: int, depth_encoding: str = "16UC1", with_mask: bool = False
    ) -> dict:
        stamp = ns_to_stamp(stamp_ns)
        msgs = {
            "color": rgb_to_image(frame.rgb, stamp, OPTICAL),
            "depth": depth_to_image(frame.depth, stamp, OPTICAL, depth_encoding),
            "info": intrinsics_to_camera_info(frame.intrinsics, stamp, OPTICAL),
        }
        if with_mask:
            mask = frame.mask if frame.mask is not None else np.zeros(frame.shape, bool)
            msgs["mask"] = mask_to_image(mask, stamp, OPTICAL)
        return msgs

    def publish_messages(self, msgs: dict) -> None:
        pubs = {"color": self.pub_color, "depth": self.pub_depth, "info": self.pub_info, "mask": self.pub_mask}
        for key in ("depth", "info", "mask", "color"):
            if key in msgs:
                pubs[key].publish(msgs[key])

    def publish_frame(self, frame: RGBDFrame, stamp_ns: int, tf: bool = True, **kwargs) -> None:
        if tf:
            self.publish_pose(frame.world_from_cam, stamp_ns)
        self.publish_messages(self.frame_messages(frame, stamp_ns, **kwargs))

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    # ---- outputs
    def diagnostics_values(self) -> dict[str, str]:
        """Key/values of the newest /diagnostics array from the node, all statuses merged."""
        arrays = [a for a in self.received["/diagnostics"] if any("sim2art_perceive" in s.name for s in a.status)]
        if not arrays:
            return {}
        out = {}
        for s in arrays[-1].status:
            out[f"{s.name.split(': ')[-1]}.level"] = int.from_bytes(s.level, "little")
            out[f"{s.name.split(': ')[-1]}.message"] = s.message
            out.update({kv.key: kv.value for kv in s.values})
        return out

    def fresh_diagnostics(self, timeout: float = 5.0) -> dict[str, str]:
        n = len(self.received["/diagnostics"])
        self.wait_for(lambda: len(self.received["/diagnostics"]) > n, timeout, "a new /diagnostics array")
        return self.diagnostics_values()
