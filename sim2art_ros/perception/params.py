"""Parameters of the perception node: one table, declared with descriptors, read into typed configs.

Every parameter has a description and a range (``ros2 param describe`` shows them) and
is read once at start (``read_only``: set them with ``--ros-args --params-file`` or
``-p``; a run-time ``ros2 param set`` is refused rather than silently ignored).
Defaults are those of ``config/perceive.yaml``; docs/NODE.md has the table (it is
generated from :data:`PARAMETERS`, see ``parameter_table_markdown``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from sim2art_core.preprocess import FlowConfig, KeyframeConfig, ObjectSelectionConfig, PreprocessConfig
from sim2art_core.preprocess.config import FLOW_METHODS, KEYFRAME_MODES
from sim2art_core.preprocess.flow_methods import DISConfig
from sim2art_core.runtime.cpu_affinity import check_setting
from sim2art_core.runtime.estimator_loader import DEFAULT_ESTIMATOR
from sim2art_core.tracking import ObjectModelConfig
from sim2art_ros.conversions.articulation import JOINT_CHOICES


@dataclass(frozen=True)
class Param:
    """One parameter: name, default, description, numeric range or allowed strings."""

    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    number_as_text: bool = False  # a string parameter that also takes a bare number (-p estimator_cpus:=3)

    @property
    def is_float(self) -> bool:
        return isinstance(self.default, float) or (
            isinstance(self.default, list) and all(isinstance(v, float) for v in self.default)
        )

    def descriptor(self) -> ParameterDescriptor:
        # Floats accept integers too (``-p rate_hz:=2``, ``roi_min:=[0,0,0]``): rclpy would otherwise
        # refuse an INTEGER override of a DOUBLE parameter. coerce() converts and range-checks them.
        d = ParameterDescriptor(
            name=self.name, description=self.description, read_only=True,
            dynamic_typing=self.is_float or self.number_as_text,
        )  # fmt: skip
        if self.choices:
            d.additional_constraints = "one of: " + ", ".join(self.choices)
        if self.lo is not None and isinstance(self.default, bool) is False:
            if isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(self.lo), to_value=int(self.hi), step=0)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(self.lo), to_value=float(self.hi))]
        return d

    def coerce(self, value: Any) -> Any:
        """The value in the parameter's type (int -> float for floats), range-checked; ValueError otherwise."""
        if self.number_as_text and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if self.is_float:
            items = value if isinstance(self.default, list) else [value]
            if isinstance(items, (str, bytes)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in items
            ):
                raise ValueError(f"parameter {self.name}={value!r} must be a number (or a list of numbers)")
            value = [float(v) for v in items] if isinstance(self.default, list) else float(value)
        if self.lo is not None and not isinstance(value, (list, bool)) and not self.lo <= value <= self.hi:
            raise ValueError(f"parameter {self.name}={value} is outside [{self.lo:g}, {self.hi:g}]")
        return value


PARAMETERS: tuple[Param, ...] = (
    # frames and object
    Param("fixed_frame", "odom", "Fixed frame of the estimate and of the region of interest (odom, map, base_link)"),
    Param("static_camera", False, "Camera does not move: identity poses, output in the image's optical frame, no TF"),
    Param("object_id", "object_0", "Object id in /articulation; joint TF frames are <object_id>/joint_<n>"),
    # estimator
    Param("estimator", DEFAULT_ESTIMATOR, "module:attribute of the estimator factory (WindowEstimator)"),
    Param("checkpoint", "", "Checkpoint path for the estimator ('' = the shipped default)"),
    Param("device", "auto", "Inference device: auto (GPU if available), cpu, cuda, cuda:N"),
    Param("estimator_kwargs", "", "Extra estimator arguments as a JSON object ('' = none)"),
    Param("torch_threads", 1, "Intra-op CPU threads of a torch estimator (0 = torch's default)", 0, 256),
    Param(
        "inference_mode",
        "process",
        "Run the estimator in a child process (no GIL shared with preprocessing) or in a thread of the node",
        choices=("process", "thread"),
    ),
    Param(
        "estimator_cpus",
        "none",
        "Pin the estimator child to CPUs and the node to the others: none, auto (torch_threads CPUs of those allowed) "
        "or a list like '3' / '2-3' (Linux, process mode)",
        number_as_text=True,
    ),
    Param(
        "inference_timeout_s",
        60.0,
        "Longest estimate in process mode; a child over it (or dead) is killed, counted and restarted",
        1.0,
        3600.0,
    ),
    Param("image_features", "", "Local directory of a DINOv2/v3 ViT for per-point image features ('' = none)"),
    Param("image_features_short_side", 224, "Image short side fed to the feature ViT (pixels)", 14, 2048),
    Param("num_frames", 0, "Frames per window T (0 = the estimator's num_frames)", 0, 512),
    Param("num_points", 0, "Points per frame N (0 = the estimator's num_points)", 0, 65536),
    # triggers and outputs
    Param("rate_hz", 1.0, "Continuous inference rate on the newest window (0 = only on ~/trigger)", 0.0, 30.0),
    Param(
        "busy_policy",
        "skip",
        "Window completed while the estimator is busy: skip it (lowest latency) or let it wait (more, older estimates)",
        choices=("skip", "wait"),
    ),
    Param(
        "publish_mode",
        "fused",
        "What /articulation carries: the object model fused over windows, or each window's estimate",
        choices=("fused", "window"),
    ),
    Param(
        "confirm_windows",
        2,
        "Fused model: a joint is confirmed once this many windows agree on it and show it moving",
        1,
        100,
    ),
    Param("model_max_axis_angle_deg", 25.0, "Fused model: largest axis angle to match a joint (deg)", 1.0, 90.0),
    Param(
        "model_max_line_distance_m", 0.15, "Fused model: largest axis-line distance to match a joint (m)", 0.005, 2.0
    ),
    Param("publish_failed", True, "Publish FAILED estimates on /articulation (status says why)"),
    Param("publish_point_cloud", True, "Publish the segmented newest frame on ~/points"),
    Param("publish_markers", True, "Publish RViz markers on ~/markers"),
    Param("publish_robot_description", True, "Export each estimate to a URDF on ~/robot_description (docs/EXPORT.md)"),
    Param(
        "robot_description_niceness",
        0,
        "Added to the URDF export thread's nice value (Linux; 0 = unchanged): keyframes and estimate go first",
        0,
        19,
    ),
    Param(
        "robot_description_min_period_s",
        0.0,
        "Pause after each URDF export (s; newer estimates replace the waiting one; 0 = none): ~0.4 estimate of CPU",
        0.0,
        3600.0,
    ),
    Param(
        "planner_joints",
        "confirmed",
        "Joints /tf, ~/joint_states and ~/robot_description present as movable: confirmed (facts only; "
        "publish_mode window confirms none) or all (every hypothesis)",
        choices=JOINT_CHOICES,
    ),
    Param("urdf_folder", "sim2art_urdf", "Folder ~/save_urdf writes the URDF and its meshes to"),
    Param("marker_axis_length_m", 0.4, "Length of the axis arrows in RViz (m)", 0.01, 5.0),
    Param(
        "tf_republish_hz",
        10.0,
        "Re-send the joint frames on /tf with the current time (0 = only per estimate)",
        0.0,
        100.0,
    ),
    Param("diagnostics_period_s", 1.0, "Period of /diagnostics (s)", 0.1, 60.0),
    # inputs
    Param("use_mask", False, "Subscribe to object_mask (mono8, from a segmenter) instead of the box selection"),
    Param(
        "input_reliability",
        "best_effort",
        "QoS reliability of the camera subscriptions",
        choices=("best_effort", "reliable"),
    ),
    Param("input_queue_depth", 5, "QoS depth of the camera subscriptions", 1, 100),
    Param("sync_slop_s", 0.02, "Largest stamp difference between colour, depth, camera_info and mask (s)", 0.0, 1.0),
    Param("sync_queue_size", 10, "Messages per input kept while waiting for partners", 1, 200),
    Param("use_message_filters", True, "Use message_filters' ApproximateTimeSynchronizer when it is installed"),
    Param("frame_queue_size", 4, "Synchronised frames waiting for preprocessing (older ones are dropped)", 1, 30),
    Param(
        "preprocess_niceness",
        0,
        "Added to the preprocessing thread's nice value (Linux) so the estimator gets the CPU first (0 = unchanged)",
        0,
        19,
    ),
    Param("busy_keyframe_hold_s", 0.0, "Longest wait of a keyframe for an estimate in flight (s, 0 = off)", 0.0, 1.0),
    Param("use_tf2_ros", True, "Use tf2_ros when installed (else the built-in buffer fed from /tf, /tf_static)"),
    Param("tf_timeout_s", 0.3, "How long a frame waits for its camera pose on TF before it is dropped (s)", 0.0, 5.0),
    # time jumps (docs/NODE.md "Time jumps and reset"): window, poses and models are cleared
    Param("time_jump_back_s", 1.0, "A stamp this much older than the newest is a time jump (s)", 0.0, 3600.0),
    Param("time_jump_forward_s", 10.0, "A stamp this much newer than the newest is a time jump (s)", 0.1, 1e9),
    Param("seed", 0, "Seed of point sampling and RANSAC", 0, 2**31 - 1),
    # object selection
    Param("roi_min", [-5.0, -5.0, -1.0], "Region of interest lower corner (x, y, z) in fixed_frame (m)"),
    Param("roi_max", [5.0, 5.0, 3.0], "Region of interest upper corner (x, y, z) in fixed_frame (m)"),
    Param("min_depth_m", 0.1, "Ignore depth below (m)", 0.0, 10.0),
    Param("max_depth_m", 4.0, "Ignore depth beyond (m)", 0.1, 100.0),
    Param("remove_support_plane", True, "Remove the supporting plane (table, floor) found by RANSAC in the box"),
    Param(
        "plane_distance_m",
        0.015,
        "RANSAC inlier distance of the plane, and the widest band removed with it (m)",
        0.001,
        0.2,
    ),
    Param(
        "plane_noise_sigmas",
        5.0,
        "Band removed with the plane = this many times its measured depth noise (0 = always plane_distance_m)",
        0.0,
        100.0,
    ),
    Param("plane_min_distance_m", 0.002, "Narrowest band removed with the plane (m)", 0.0001, 0.2),
    Param("plane_up", [0.0], "Up direction in fixed_frame for the plane ([0.0] = auto: z, or -y with static_camera)"),
    Param("plane_max_tilt_deg", 25.0, "Largest tilt of the supporting plane from up (deg)", 0.0, 90.0),
    Param("selection_stride", 2, "Box selection runs on every n-th pixel", 1, 16),
    Param("largest_component", True, "Keep only the largest connected region in the box (the object)"),
    Param("min_component_pixels", 200, "Smallest object region (pixels)", 1, 1000000),
    Param("erode_px", 2, "Erode the object mask to avoid flying pixels at borders (pixels)", 0, 20),
    Param("min_valid_points", 32, "Frames with fewer object pixels with depth are rejected", 1, 65536),
    Param("min_flow_fraction", 0.1, "A flow step tracking fewer of the points restarts the window", 0.0, 1.0),
    # keyframes
    Param("keyframe_mode", "time", "Keyframe selection", choices=KEYFRAME_MODES),
    Param(
        "keyframe_period_s", 0.2, "Time stride (time mode) or minimum spacing (motion mode) of keyframes (s)", 0.0, 10.0
    ),
    Param("keyframe_max_period_s", 1.0, "Motion mode: a keyframe at least this often (s)", 0.0, 60.0),
    Param("keyframe_min_translation_m", 0.03, "Motion mode: camera translation that makes a keyframe (m)", 0.0, 10.0),
    Param("keyframe_min_rotation_deg", 3.0, "Motion mode: camera rotation that makes a keyframe (deg)", 0.0, 180.0),
    Param(
        "keyframe_min_image_change",
        4.0,
        "Motion mode: mean grey change in the object box that makes a keyframe",
        0.0,
        255.0,
    ),
    Param("max_keyframe_gap_s", 1.5, "Keyframes further apart restart the window (s)", 0.01, 600.0),
    # flow
    Param("flow_method", "dis", "Dense optical flow (OpenCV)", choices=FLOW_METHODS),
    Param(
        "flow_preset",
        "medium",
        "Preset of OpenCV DIS optical flow (speed vs accuracy)",
        choices=("ultrafast", "fast", "medium"),
    ),
    Param("flow_width", 640, "Optical flow runs on images resized to this width (never enlarged; 0 = full)", 0, 8192),
    Param("flow_consistency_px", 1.0, "Forward-backward check threshold (pixels; 0 = off)", 0.0, 100.0),
    Param(
        "flow_depth_edge_ratio",
        0.02,
        "No flow for points on or flowing onto a depth edge of this relative step (0 = off)",
        0.0,
        1.0,
    ),
    Param("max_flow_m", 0.5, "Longer 3-D displacements between keyframes are mismatches (m)", 0.01, 10.0),
    Param(
        "flow_crop_margin_px",
        64,
        "Flow only in the object's box grown by this many pixels (-1 = whole image)",
        -1,
        4096,
    ),
)


def declare_all(node) -> dict[str, Any]:
    """Declare every parameter with its descriptor; returns {name: value} as given at start.

    Raises ValueError for a value of the wrong type or outside its range.
    """
    values = {}
    for p in PARAMETERS:
        values[p.name] = p.coerce(node.declare_parameter(p.name, p.default, p.descriptor()).value)
    return values


#: Former parameter names -> their successor, named in the warning instead of a guess.
RENAMED_PARAMETERS = {"robot_description_joints": "planner_joints (it now also chooses /tf and ~/joint_states)"}

#: Parameters every rclpy node has (never "unknown").
BUILTIN_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service", "start_parameter_event_publisher"})


def unknown_parameters(given: list[str] | set[str]) -> list[str]:
    """A warning per given parameter name the node does not have, naming the closest real one.

    rclpy silently ignores ``-p`` overrides of undeclared parameters, so ``-p rate:=5`` would
    otherwise do nothing without a word.
    """
    known = [p.name for p in PARAMETERS]
    out = []
    for name in sorted(set(given)):
        if name in known or name in BUILTIN_PARAMETERS or name.startswith("qos_overrides."):
            continue
        if name in RENAMED_PARAMETERS:
            out.append(f"parameter '{name}' is ignored: it was renamed to {RENAMED_PARAMETERS[name]}")
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "docs/NODE.md lists the parameters"
        out.append(f"unknown parameter '{name}' is ignored: {hint}")
    return out


def check_choices(values: dict[str, Any]) -> None:
    """Raise ValueError for a string parameter outside its choices or a wrong-length vector."""
    for p in PARAMETERS:
        if p.choices and values[p.name] not in p.choices:
            raise ValueError(f"parameter {p.name}='{values[p.name]}' must be one of {list(p.choices)}")
    for name in ("roi_min", "roi_max"):
        if len(values[name]) != 3:
            raise ValueError(f"parameter {name} must have 3 values (x, y, z), got {list(values[name])}")
    check_setting(values["estimator_cpus"])
    up = list(values["plane_up"])
    if not (len(up) == 3 or up == [0.0]):
        raise ValueError(f"parameter plane_up must be [x, y, z] or [0.0] (auto), got {up}")


def object_model_config(values: dict[str, Any]) -> ObjectModelConfig:
    """The fused object model's configuration (sim2art_core.tracking) from the node parameters."""
    return ObjectModelConfig(
        confirm_windows=int(values["confirm_windows"]),
        max_axis_angle_deg=float(values["model_max_axis_angle_deg"]),
        max_line_distance_m=float(values["model_max_line_distance_m"]),
    )


def preprocess_config(values: dict[str, Any], num_frames: int, num_points: int) -> PreprocessConfig:
    """The core preprocessing configuration from the node parameters (validated)."""
    up = list(values["plane_up"])
    if up == [0.0]:
        up = [0.0, -1.0, 0.0] if values["static_camera"] else [0.0, 0.0, 1.0]
    return PreprocessConfig(
        num_frames=num_frames,
        num_points=num_points,
        min_valid_points=int(values["min_valid_points"]),
        min_flow_fraction=float(values["min_flow_fraction"]),
        object=ObjectSelectionConfig(
            source="mask" if values["use_mask"] else "box",
            roi_min=tuple(float(v) for v in values["roi_min"]),
            roi_max=tuple(float(v) for v in values["roi_max"]),
            min_depth_m=float(values["min_depth_m"]),
            max_depth_m=float(values["max_depth_m"]),
            remove_support_plane=bool(values["remove_support_plane"]),
            plane_distance_m=float(values["plane_distance_m"]),
            plane_noise_sigmas=float(values["plane_noise_sigmas"]),
            plane_min_distance_m=float(values["plane_min_distance_m"]),
            plane_up=tuple(float(v) for v in up),
            plane_max_tilt_deg=float(values["plane_max_tilt_deg"]),
            stride=int(values["selection_stride"]),
            largest_component=bool(values["largest_component"]),
            min_component_pixels=int(values["min_component_pixels"]),
            erode_px=int(values["erode_px"]),
        ),
        flow=FlowConfig(
            method=values["flow_method"],
            dis=DISConfig(preset=values["flow_preset"]),
            width=int(values["flow_width"]),
            consistency_px=float(values["flow_consistency_px"]),
            depth_edge_ratio=float(values["flow_depth_edge_ratio"]),
            max_flow_m=float(values["max_flow_m"]),
            crop_margin_px=int(values["flow_crop_margin_px"]),
        ),
        keyframes=KeyframeConfig(
            mode=values["keyframe_mode"],
            period_s=float(values["keyframe_period_s"]),
            max_period_s=float(values["keyframe_max_period_s"]),
            min_translation_m=float(values["keyframe_min_translation_m"]),
            min_rotation_deg=float(values["keyframe_min_rotation_deg"]),
            min_image_change=float(values["keyframe_min_image_change"]),
            max_gap_s=float(values["max_keyframe_gap_s"]),
        ),
    ).validate()


def parameter_table_markdown() -> str:
    """The parameters as a Markdown table (docs/NODE.md)."""
    rows = ["| parameter | default | range | description |", "|---|---|---|---|"]
    for p in PARAMETERS:
        if p.choices:
            rng = " / ".join(p.choices)
        elif p.lo is not None and isinstance(p.default, int):
            rng = f"[{int(p.lo)}, {int(p.hi)}]"
        elif p.lo is not None:
            rng = f"[{p.lo:g}, {p.hi:g}]"
        else:
            rng = ""
        default = f'"{p.default}"' if isinstance(p.default, str) else str(p.default)
        default = default.lower() if isinstance(p.default, bool) else default
        rows.append(f"| `{p.name}` | `{default}` | {rng} | {p.description} |")
    return "\n".join(rows)
