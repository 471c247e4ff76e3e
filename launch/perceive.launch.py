"""ros2 launch sim2art_ros perceive.launch.py [arg:=value ...]

Starts the sim2art perception node (executable ``perceive_node``, installed by
CMakeLists.txt from nodes/) with the parameters of ``params_file`` and the camera
topics remapped from the launch arguments. Defaults: a RealSense started with
``ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true``.

Launch arguments override the same parameters in ``params_file``. Only launch and
launch_ros are imported here (the tests parse this file without them).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ("color_topic", "/camera/camera/color/image_raw", "colour image (rgb8/bgr8/rgba8/bgra8/mono8)"),
    ("depth_topic", "/camera/camera/aligned_depth_to_color/image_raw", "depth registered to colour, 16UC1/32FC1"),
    ("camera_info_topic", "/camera/camera/color/camera_info", "camera_info of the colour image"),
    ("mask_topic", "/object_mask", "object mask (mono8), used with use_mask:=true in the params file"),
    ("articulation_topic", "/articulation", "output topic of the estimates"),
    ("fixed_frame", "odom", "fixed frame of the estimates (odom, map, base_link)"),
    ("params_file", None, "parameter YAML (default: the installed config/perceive.yaml)"),
    ("checkpoint", "", "estimator checkpoint ('' = the shipped one)"),
    ("device", "auto", "inference device: auto, cpu, cuda, cuda:N"),
    ("inference_mode", "process", "estimator in a child process (process) or a thread of the node (thread)"),
    ("publish_mode", "fused", "what /articulation carries: fused (object model over windows) or window"),
    ("confirm_windows", "2", "fused model: windows that must support a joint before it is confirmed"),
    ("planner_joints", "confirmed", "joints /tf, joint_states, robot_description show movable: confirmed or all"),
    ("use_sim_time", "false", "follow /clock (bag replay with --clock)"),
    ("namespace", "", "node namespace"),
]


def generate_launch_description() -> LaunchDescription:
    installed_params = PathJoinSubstitution([FindPackageShare("sim2art_ros"), "config", "perceive.yaml"])
    args = [
        DeclareLaunchArgument(name, default_value=installed_params if default is None else default, description=doc)
        for name, default, doc in ARGUMENTS
    ]
    node = Node(
        package="sim2art_ros",
        executable="perceive_node",
        name="sim2art_perceive",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "fixed_frame": LaunchConfiguration("fixed_frame"),
                "checkpoint": LaunchConfiguration("checkpoint"),
                "device": LaunchConfiguration("device"),
                "inference_mode": LaunchConfiguration("inference_mode"),
                "publish_mode": LaunchConfiguration("publish_mode"),
                "confirm_windows": ParameterValue(LaunchConfiguration("confirm_windows"), value_type=int),
                "planner_joints": LaunchConfiguration("planner_joints"),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
            },
        ],
        # the node's own input names are relative (image_pipeline convention); the defaults of the
        # arguments above are realsense-ros 4.x's (camera_namespace:=camera camera_name:=camera)
        remappings=[
            ("camera/color/image_raw", LaunchConfiguration("color_topic")),
            ("camera/aligned_depth_to_color/image_raw", LaunchConfiguration("depth_topic")),
            ("camera/color/camera_info", LaunchConfiguration("camera_info_topic")),
            ("object_mask", LaunchConfiguration("mask_topic")),
            ("articulation", LaunchConfiguration("articulation_topic")),
        ],
    )
    return LaunchDescription([*args, node])
