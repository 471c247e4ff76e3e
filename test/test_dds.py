"""Two processes talk over DDS on loopback: our Articulation, a 640x480 Image and
tf2_msgs/TFMessage published by a peer process, received and checked here."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

PEER = Path(__file__).resolve().parent / "peers" / "foundation_publisher.py"


def test_articulation_image_and_tf_cross_processes(ros_context):
    import rclpy
    from sensor_msgs.msg import Image
    from tf2_msgs.msg import TFMessage

    from sim2art_ros.msg import Articulation, ArticulationJoint

    node = rclpy.create_node("foundation_subscriber", context=ros_context)
    got = {"articulation": [], "image": [], "tf": []}
    node.create_subscription(
        Articulation,
        "/articulation",
        got["articulation"].append,
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
    )
    node.create_subscription(Image, "/camera/color/image_raw", got["image"].append, qos_profile_sensor_data)
    node.create_subscription(TFMessage, "/tf", got["tf"].append, QoSProfile(depth=100))
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    peer = subprocess.Popen([sys.executable, str(PEER)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 25.0
        while time.monotonic() < deadline and min(len(v) for v in got.values()) < 5:
            executor.spin_once(timeout_sec=0.1)
    finally:
        peer.send_signal(signal.SIGINT)
        try:
            out, err = peer.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            peer.kill()
            out, err = peer.communicate()
        executor.shutdown()
        node.destroy_node()
    assert min(len(v) for v in got.values()) >= 5, f"received {[(k, len(v)) for k, v in got.items()]}; peer: {err}"
    assert peer.returncode == 0, err

    img = got["image"][-1]
    assert (img.width, img.height, img.encoding, img.step) == (640, 480, "rgb8", 1920)
    pixels = np.frombuffer(img.data, np.uint8).reshape(480, 640, 3)
    assert pixels[0, 100, 0] == 100 and pixels[200, 0, 1] == 200
    assert pixels[0, 0, 2] == img.header.stamp.sec % 256  # the frame counter survived the trip

    art = got["articulation"][-1]
    assert art.object_id == "object_0" and art.header.frame_id == "odom"
    assert art.joints[0].type == ArticulationJoint.TYPE_REVOLUTE and art.joints[0].axis.z == 1.0
    assert np.isclose(art.joints[0].state_trajectory[1], 0.1 * art.header.stamp.sec)

    tf = got["tf"][-1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("odom", "camera_link")
    assert tf.transform.translation.x == float(tf.header.stamp.sec)
