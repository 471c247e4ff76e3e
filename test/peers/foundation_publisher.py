"""Peer process for test/test_dds.py: publishes an Articulation, a 640x480 rgb8 Image
and a TFMessage at 20 Hz until interrupted (SIGINT) or 30 s have passed."""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage

from sim2art_ros.msg import ArticulatedPart, Articulation, ArticulationJoint
from sim2art_ros.network_safety import require_localhost


def make_image(seq: int) -> Image:
    img = np.zeros((480, 640, 3), np.uint8)
    img[..., 0] = np.arange(640, dtype=np.uint16)[None, :] % 256
    img[..., 1] = np.arange(480, dtype=np.uint16)[:, None] % 256
    img[0, 0, 2] = seq % 256
    msg = Image(height=480, width=640, encoding="rgb8", is_bigendian=0, step=640 * 3)
    msg.header.stamp = Time(sec=seq)
    msg.header.frame_id = "camera_color_optical_frame"
    msg.data = img.tobytes()  # assigning the ndarray itself is ~100x slower
    return msg


def make_articulation(seq: int) -> Articulation:
    joint = ArticulationJoint(
        name="joint_1", parent_part="base", child_part="part_1", type=ArticulationJoint.TYPE_REVOLUTE
    )
    joint.axis.z = 1.0
    joint.state_trajectory = [0.0, 0.1 * seq]
    msg = Articulation(object_id="object_0", parts=[ArticulatedPart(name="base", is_root=True)], joints=[joint])
    msg.header.frame_id = "odom"
    msg.header.stamp = Time(sec=seq)
    return msg


def make_tf(seq: int) -> TFMessage:
    t = TransformStamped()
    t.header.frame_id = "odom"
    t.header.stamp = Time(sec=seq)
    t.child_frame_id = "camera_link"
    t.transform.translation.x = float(seq)
    t.transform.rotation.w = 1.0
    return TFMessage(transforms=[t])


def main() -> int:
    require_localhost()  # inherited from the test process
    rclpy.init()
    node = rclpy.create_node("foundation_publisher")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {
        "articulation": node.create_publisher(Articulation, "/articulation", reliable),
        "image": node.create_publisher(Image, "/camera/color/image_raw", qos_profile_sensor_data),
        "tf": node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100)),
    }
    makers = {"articulation": make_articulation, "image": make_image, "tf": make_tf}
    print("ready", flush=True)
    deadline = time.monotonic() + 30.0
    seq = 0
    try:
        while rclpy.ok() and time.monotonic() < deadline:
            seq += 1
            for key, pub in pubs.items():
                pub.publish(makers[key](seq))
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
