"""The perception node's outputs in one table: topic, message type, QoS and converter per output.

A new output is one :class:`Output` entry in :data:`OUTPUTS` plus one converter
``PublishContext -> message | None`` (``None``: nothing to publish this time, e.g. a disabled
output or an estimate without moving joints). The converter should be a thin call into
``sim2art_ros.conversions`` (pure functions with their own tests). The node creates one publisher
per entry (:class:`Outputs`) and, for every estimate, publishes the entries in table order;
for FAILED estimates only the entries with ``on_failed`` (the last good joint frames and
markers stay). ``/diagnostics`` and the re-sent joint frames are timer-driven and live in the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window
from sim2art_ros.conversions.articulation import estimate_to_msg, joint_state_msg, joint_transforms, moving_joints
from sim2art_ros.conversions.markers import estimate_markers, segmented_cloud
from sim2art_ros.msg import Articulation

ARTICULATION_TOPIC = "articulation"
ARTICULATION_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)  # tf2_ros' broadcaster/listener
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


@dataclass(frozen=True)
class PublishContext:
    """What a converter gets for one estimate (add a field here when a new output needs more)."""

    estimate: ArticulationEstimate
    window: Window
    """The window the estimate was computed on (its newest frame stamps the messages)."""
    object_id: str
    header: Header
    """Stamp = the window's newest frame, frame_id = the estimate's frame."""
    params: Mapping[str, Any]
    """The node's parameters (``publish_markers``, ``marker_axis_length_m``, ``planner_joints``, ...)."""
    extras: Mapping[str, Any] = field(default_factory=dict)
    """Anything else the node keeps over time (e.g. a fused object model), by name."""


@dataclass(frozen=True)
class Output:
    """One output topic of the node."""

    name: str
    """Key in :attr:`Outputs.publishers` and in the dict :meth:`Outputs.publish` returns."""
    topic: str
    """Relative (remappable), private (``~/``) or absolute (``/tf``, by convention)."""
    msg_type: type
    qos: QoSProfile | int
    convert: Callable[[PublishContext], Any]
    """PublishContext -> message, or None to publish nothing this time."""
    on_failed: bool = False
    """Also called for FAILED estimates (the others keep the last good output)."""


def _articulation(ctx: PublishContext):
    failed = ctx.estimate.status == EstimateStatus.FAILED
    return None if failed and not ctx.params["publish_failed"] else estimate_to_msg(ctx.estimate, ctx.object_id)


def _joint_frames(ctx: PublishContext):
    # facts only (planner_joints confirmed, the default): an unconfirmed joint gets no frame, as the URDF
    # fixes it. An estimate without such joints publishes nothing: the node then stops re-sending old frames
    transforms = joint_transforms(ctx.estimate, ctx.object_id, joints=ctx.params["planner_joints"])
    return TFMessage(transforms=transforms) if transforms else None


def _joint_states(ctx: PublishContext):
    joints = ctx.params["planner_joints"]
    return joint_state_msg(ctx.estimate, ctx.object_id, joints=joints) if moving_joints(ctx.estimate, joints) else None


def _markers(ctx: PublishContext):
    if not ctx.params["publish_markers"]:
        return None
    return estimate_markers(ctx.estimate, ctx.object_id, ctx.header, ctx.params["marker_axis_length_m"])


def _points(ctx: PublishContext):
    if not ctx.params["publish_point_cloud"]:
        return None
    return segmented_cloud(ctx.window, ctx.estimate.labels, ctx.header)


#: The node's per-estimate outputs, published in this order (docs/NODE.md "Outputs").
OUTPUTS: tuple[Output, ...] = (
    Output("articulation", ARTICULATION_TOPIC, Articulation, ARTICULATION_QOS, _articulation, on_failed=True),
    Output("tf", "/tf", TFMessage, TF_QOS, _joint_frames),
    Output("joint_states", "~/joint_states", JointState, 10, _joint_states),
    Output("markers", "~/markers", MarkerArray, 10, _markers),
    Output("points", "~/points", PointCloud2, 5, _points),
)


class Outputs:
    """One publisher per table entry on ``node``; :meth:`publish` runs the converters."""

    def __init__(self, node, table: tuple[Output, ...] = OUTPUTS):
        names = [o.name for o in table]
        if len(set(names)) != len(names):
            raise ValueError(f"output names must be unique: {names}")
        self.table = table
        self.publishers = {o.name: node.create_publisher(o.msg_type, o.topic, o.qos) for o in table}

    def publish(self, ctx: PublishContext) -> dict[str, Any]:
        """Publish every applicable output for one estimate; returns {name: message} of what was sent."""
        failed = ctx.estimate.status == EstimateStatus.FAILED
        sent = {}
        for o in self.table:
            if failed and not o.on_failed:
                continue
            msg = o.convert(ctx)
            if msg is not None:
                self.publishers[o.name].publish(msg)
                sent[o.name] = msg
        return sent
