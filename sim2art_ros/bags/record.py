"""Record topics from the ROS graph (what ``ros2 bag record`` does, absent here), in memory and to a bag.

Subscriptions are raw (``raw=True``): the serialized CDR is kept as it arrived,
with the wall time of its arrival, and written to a rosbag2 bag unchanged. The
recorder spins its own node in a background thread with ``spin_once`` and a stop
flag, so :meth:`Recorder.close` never shuts an executor down while it spins (that
aborts the process: ros_pip_environment.md §9) and leaves the context running.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Writer

from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.qos import rosbags_qos
from sim2art_ros.bags.writer import STORAGES


@dataclass(frozen=True)
class Received:
    """One recorded message: topic, arrival wall time (s since epoch, ``time.time()``), raw CDR."""

    topic: str
    wall_time: float
    raw: bytes


class Recorder:
    """Raw subscriptions to ``topics`` (name -> type) on a node of its own, spun in a thread.

    The subscriptions are reliable and volatile with a deep queue: they match
    reliable publishers of any durability and lose nothing while the thread is busy.
    """

    def __init__(self, context, topics: dict[str, str], node_name: str = "sim2art_recorder", depth: int = 1000):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = context
        self.topics = dict(topics)
        self.node = rclpy.create_node(node_name, context=context)
        self._lock = threading.Lock()
        self._records: list[Received] = []
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        self._classes = {}
        for topic, msgtype in self.topics.items():
            cls = bag_io.message_class(msgtype)
            self._classes[topic] = cls
            self.node.create_subscription(cls, topic, self._callback(topic), qos, raw=True)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="recorder", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while not self._stop.is_set() and self.context.ok():
                self._executor.spin_once(timeout_sec=0.05)
        except ExternalShutdownException:
            pass

    def _callback(self, topic: str):
        def cb(raw: bytes) -> None:
            item = Received(topic, time.time(), bytes(raw))
            with self._lock:
                self._records.append(item)

        return cb

    def records(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._records if topic is None or r.topic == topic]

    def count(self, topic: str) -> int:
        return len(self.records(topic))

    def decoded(self, topic: str) -> list[tuple[float, object]]:
        """(arrival wall time, rclpy message) of every message on ``topic``."""
        cls = self._classes[topic]
        return [(r.wall_time, deserialize_message(r.raw, cls)) for r in self.records(topic)]

    def write_bag(self, path: str | Path, storage: str = "mcap") -> Path:
        """Write everything recorded so far as a rosbag2 bag (log time = arrival wall time)."""
        path = Path(path)
        store = bag_io.project_typestore()
        records = self.records()
        with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
            conns = {
                t: writer.add_connection(t, mt, typestore=store, offered_qos_profiles=[rosbags_qos()])
                for t, mt in self.topics.items()
            }
            for r in sorted(records, key=lambda r: r.wall_time):
                writer.write(conns[r.topic], int(r.wall_time * 1e9), r.raw)
        return path

    def close(self) -> None:
        """Stop the spin thread, then destroy the executor and the node (the context stays up)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._executor.remove_node(self.node)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
