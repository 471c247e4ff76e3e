"""Topic and frame names of the bags sim2art writes and evaluates (realsense-ros defaults).

A RealSense camera started with ``ros2 launch realsense2_camera rs_launch.py
align_depth.enable:=true`` publishes under ``/camera/camera/`` (namespace and
camera name both "camera") and broadcasts ``camera_link -> camera_color_frame ->
camera_color_optical_frame`` on ``/tf_static``. A robot adds the moving
``odom -> ... -> camera_link`` on ``/tf``; the bags have ``odom -> camera_link``
directly. docs/BAGS.md shows the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core.geometry import make_transform


@dataclass(frozen=True)
class BagLayout:
    """Names used in a bag. Defaults: realsense-ros 4.x with aligned depth, REP 105 ``odom``.

    Attributes:
        color_topic: sensor_msgs/Image rgb8.
        depth_topic: sensor_msgs/Image 16UC1 (mm, 0 invalid) or 32FC1 (m, NaN invalid),
            registered to the colour image.
        color_info_topic, depth_info_topic: sensor_msgs/CameraInfo of the two (same K).
        ground_truth_topic: sim2art_ros/msg/Articulation, the true articulation in ``fixed_frame``.
        articulation_topic: where the perception node publishes its estimates.
        fixed_frame: the world-fixed frame (TF root; frame of the ground truth).
        camera_base_frame: the camera's mounting frame, moving in ``fixed_frame`` on /tf.
        color_frame: the colour sensor's body frame (x forward, z up), static below the base.
        optical_frame: the colour optical frame (x right, y down, z forward); images' frame_id.
    """

    color_topic: str = "/camera/camera/color/image_raw"
    depth_topic: str = "/camera/camera/aligned_depth_to_color/image_raw"
    color_info_topic: str = "/camera/camera/color/camera_info"
    depth_info_topic: str = "/camera/camera/aligned_depth_to_color/camera_info"
    ground_truth_topic: str = "/articulation_ground_truth"
    articulation_topic: str = "/articulation"
    fixed_frame: str = "odom"
    camera_base_frame: str = "camera_link"
    color_frame: str = "camera_color_frame"
    optical_frame: str = "camera_color_optical_frame"


#: REP 103 body frame (x forward, y left, z up) -> optical frame (x right, y down, z forward):
#: columns are the optical axes in the body frame (x_opt = -y, y_opt = -z, z_opt = x).
COLOR_FROM_OPTICAL = make_transform(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))

#: camera_link -> camera_color_frame of a RealSense D435 (colour imager 15 mm left of the link origin).
LINK_FROM_COLOR = make_transform(None, np.array([0.0, 0.015, 0.0]))
