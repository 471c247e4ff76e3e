"""QoS of bag topics: what the writer stores in metadata.yaml, what the replay offers.

Replay picks one profile per topic, in this order (as ``ros2 bag play`` does,
plus the depth rule below):

1. an override from a YAML file in the format of ``ros2 bag play
   --qos-profile-overrides-path`` (``/topic: {reliability: reliable, durability:
   transient_local, history: keep_last, depth: 1}``), so one file serves both;
2. the profiles the recording publishers offered (metadata ``offered_qos_profiles``):
   reliable only if every publisher was reliable, transient-local only if every
   publisher was (the most compatible choice);
3. by name: ``/tf_static`` (any namespace) reliable + transient-local, everything
   else reliable + volatile (a reliable publisher matches both reliable and
   best-effort subscribers, e.g. the node's sensor-data QoS).

Transient-local topics keep every message of the bag on that topic (up to 1000),
not only the last: one replay publisher stands in for all the static TF
broadcasters of the recording, and a late-joining subscriber must get all their
transforms (rosbag2#1049, rviz#916 are the classic failures of doing otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

DEFAULT_DEPTH = 10
TF_DEPTH = 100  # tf2_ros' TransformBroadcaster default
MAX_LATCHED = 1000
_OVERRIDE_KEYS = {"history", "depth", "reliability", "durability"}


def is_tf_static(topic: str) -> bool:
    return topic == "/tf_static" or topic.endswith("/tf_static")


def rosbags_qos(reliable: bool = True, transient_local: bool = False, depth: int = DEFAULT_DEPTH) -> Qos:
    """An offered QoS profile for ``rosbags.rosbag2.Writer.add_connection`` (metadata only)."""
    zero = QosTime(0, 0)  # rmw: 0 = the default (infinite deadline/lifespan/lease)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=int(depth),
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


def load_overrides(path: str | Path | None) -> dict[str, QoSProfile]:
    """Parse a ``ros2 bag play``-style QoS override YAML; ValueError naming the bad entry."""
    if path is None:
        return {}
    text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of topic -> QoS settings, got {type(data).__name__}")
    out = {}
    for topic, spec in data.items():
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: QoS of {topic!r} must be a mapping")
        unknown = set(spec) - _OVERRIDE_KEYS
        if unknown:
            allowed = sorted(_OVERRIDE_KEYS)
            raise ValueError(f"{path}: {topic!r}: unsupported QoS keys {sorted(unknown)} (use {allowed})")
        out[str(topic)] = _profile(
            reliability=_enum(ReliabilityPolicy, spec.get("reliability", "reliable"), path, topic),
            durability=_enum(DurabilityPolicy, spec.get("durability", "volatile"), path, topic),
            history=_enum(HistoryPolicy, spec.get("history", "keep_last"), path, topic),
            depth=int(spec.get("depth", DEFAULT_DEPTH)),
        )
    return out


def replay_qos(
    topic: str, offered: Sequence[Qos], count: int, overrides: dict[str, QoSProfile] | None = None
) -> QoSProfile:
    """The profile the replay publisher of ``topic`` offers (rules in the module doc)."""
    if overrides and topic in overrides:
        return overrides[topic]
    known = [q for q in offered if q.reliability in (QosReliability.RELIABLE, QosReliability.BEST_EFFORT)]
    if known:
        reliable = all(q.reliability == QosReliability.RELIABLE for q in known)
        latched = all(q.durability == QosDurability.TRANSIENT_LOCAL for q in known)
        depth = max([q.depth for q in known if q.history == QosHistory.KEEP_LAST] + [1])
    else:
        reliable, latched = True, is_tf_static(topic)
        depth = TF_DEPTH if topic.endswith("/tf") or topic == "/tf" else DEFAULT_DEPTH
    if latched:
        depth = max(depth, min(max(count, 1), MAX_LATCHED))
    else:
        depth = max(depth, DEFAULT_DEPTH)
    return _profile(
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
    )


def describe(qos: QoSProfile) -> str:
    """Short text for logs: 'reliable/transient_local/keep_last(5)'."""
    hist = qos.history.name.lower() + (f"({qos.depth})" if qos.history == HistoryPolicy.KEEP_LAST else "")
    return f"{qos.reliability.name.lower()}/{qos.durability.name.lower()}/{hist}"


def _profile(reliability, durability, history, depth: int) -> QoSProfile:
    return QoSProfile(reliability=reliability, durability=durability, history=history, depth=max(int(depth), 1))


def _enum(enum_cls, value, path, topic):
    try:
        return enum_cls[str(value).upper()]
    except KeyError:
        choices = [m.name.lower() for m in enum_cls]
        raise ValueError(f"{path}: {topic!r}: {enum_cls.__name__} {value!r} is not one of {choices}") from None
