"""The perception node's inputs: camera subscriptions synchronised by stamp, and /tf for the built-in buffer.

Input names are relative (the image_pipeline convention), so a node namespace applies; remap them
(``-r camera/color/image_raw:=/my/rgb``). launch/perceive.launch.py remaps them to realsense-ros 4.x
with align_depth.enable:=true (/camera/camera/...), and the bag tools to the bag's BagLayout.
Subscription callbacks only tick a rate meter and hand the message to the synchroniser
(message_filters' ApproximateTimeSynchronizer where installed, ours otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from sim2art_core.runtime.stats import RateMeter
from sim2art_core.runtime.sync import ApproximateSync
from sim2art_ros.perception.outputs import TF_QOS, TF_STATIC_QOS

COLOR_TOPIC = "camera/color/image_raw"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
MASK_TOPIC = "object_mask"


def active_inputs(use_mask: bool) -> tuple[str, ...]:
    """Input keys, colour (the synchroniser's pivot) first."""
    return ("color", "depth", "info") + (("mask",) if use_mask else ())


def input_qos(p: dict) -> QoSProfile:
    return QoSProfile(
        depth=p["input_queue_depth"],
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE
        if p["input_reliability"] == "reliable"
        else qos_profile_sensor_data.reliability,
    )


class CameraInputs:
    """Subscribes to the camera topics; every matched set goes to ``on_synced(color, depth, info[, mask])``.

    Attributes:
        rates: one RateMeter per input key (color, depth, info, mask).
        sync: our ApproximateSync, or None when message_filters does the matching.
        backend: "message_filters" or "builtin".
        color_topic: the resolved colour topic (diagnostics name it).
    """

    def __init__(self, node, p: dict, on_synced: Callable[..., None]):
        self.keys = active_inputs(p["use_mask"])
        self.rates = {k: RateMeter() for k in ("color", "depth", "info", "mask")}
        types = {"color": (Image, COLOR_TOPIC), "depth": (Image, DEPTH_TOPIC), "info": (CameraInfo, INFO_TOPIC)}
        types["mask"] = (Image, MASK_TOPIC)
        topics = [(k, *types[k]) for k in self.keys]
        qos, group = input_qos(p), ReentrantCallbackGroup()
        self.color_topic = node.resolve_topic_name(COLOR_TOPIC)
        self.sync: ApproximateSync | None = None
        mf = None
        if p["use_message_filters"]:
            try:
                import message_filters as mf
            except ImportError:
                mf = None
        if mf is not None:
            self.backend = "message_filters"
            subs = [mf.Subscriber(node, t, name, qos_profile=qos, callback_group=group) for _, t, name in topics]
            for (key, _, _), sub in zip(topics, subs, strict=True):
                sub.registerCallback(lambda _m, k=key: self.rates[k].tick())
            self._mf_sync = mf.ApproximateTimeSynchronizer(subs, p["sync_queue_size"], p["sync_slop_s"])
            self._mf_sync.registerCallback(on_synced)
            return
        self.backend = "builtin"
        self.sync = ApproximateSync(len(topics), p["sync_queue_size"], p["sync_slop_s"], on_synced)
        for i, (key, mtype, name) in enumerate(topics):

            def cb(msg, i=i, key=key):
                self.rates[key].tick()
                self.sync.add(i, msg)

            node.create_subscription(mtype, name, cb, qos, callback_group=group)

    def reset(self, _event=None) -> None:
        """Forget messages waiting for partners (our synchroniser; message_filters keeps its own)."""
        if self.sync is not None:
            self.sync.reset()

    def sync_misses(self, synced_total: int) -> int:
        """Colour images that never became part of a matched set."""
        if self.sync is not None:
            return self.sync.pivot_misses
        return max(0, self.rates["color"].total - synced_total)


def subscribe_tf(node, tf_buffer) -> None:
    """Feed the built-in TF buffer from /tf and /tf_static (tf2_ros' listener does this on a ROS install)."""
    group = ReentrantCallbackGroup()
    node.create_subscription(
        TFMessage, "/tf", lambda m: tf_buffer.ingest(m.transforms, static=False), TF_QOS, callback_group=group
    )
    node.create_subscription(
        TFMessage,
        "/tf_static",
        lambda m: tf_buffer.ingest(m.transforms, static=True),
        TF_STATIC_QOS,
        callback_group=group,
    )
