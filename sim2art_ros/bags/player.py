"""Play a rosbag2 bag into the ROS graph, like ``ros2 bag play``: :class:`BagPlayer` (the CLI is ``replay.py``).

Pure Python on top of ``rosbags`` and rclpy. The stored CDR bytes are published
as they are (rclpy's ``Publisher.publish`` accepts serialized bytes), so nothing
is decoded and re-encoded; the message class only declares the publisher's type
and is found from the type name with importlib.

* timing: each message goes out at ``start + (t_bag - t_first) / rate``;
* ``/clock`` (rosgraph_msgs/Clock) for nodes with ``use_sim_time``: at a fixed
  rate (``clock_hz``) and/or right before each message with its bag time
  (``clock_each_message``, deterministic sim time for TF lookups at image stamps);
* topic selection, exclusion and remapping; QoS per topic (see bag_qos: the
  bag's recorded profiles, ``/tf_static`` transient-local, override YAML);
* the bag is read through once first and checked against its metadata, so a
  truncated or corrupt bag fails with a clear error before anything is sent.

Python: ``BagPlayer(node, bag, ReplayOptions(...)).play()``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags import qos as bag_qos

CLOCK_TOPIC = "/clock"

#: Called right after each message is published: (output topic, bag time ns, raw CDR, wall time s).
PublishHook = Callable[[str, int, bytes, float], None]


@dataclass(frozen=True)
class ReplayOptions:
    """How to play a bag.

    Attributes:
        rate: playback speed factor (0.5 = half speed); > 0.
        clock_hz: publish /clock at this rate during playback (0 = not periodically).
        clock_each_message: publish /clock with the message's bag time right before each message.
        topics: play only these bag topics (empty = all).
        exclude_topics: never play these bag topics.
        remap: bag topic -> published topic.
        qos_overrides: published topic -> QoS profile (see :func:`bag_qos.load_overrides`).
        delay_s: wait this long after creating the publishers before the first message (discovery).
        wait_for_subscribers: published topics that must have a subscriber before playback starts.
        wait_timeout_s: give up waiting for those subscribers after this long (TimeoutError).
        linger_s: after the last message, wait up to this long for reliable subscribers to acknowledge.
        check: read the bag once first and compare it with its metadata (catches truncation).
        progress: show a tqdm progress bar.
    """

    rate: float = 1.0
    clock_hz: float = 0.0
    clock_each_message: bool = False
    topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    remap: Mapping[str, str] = field(default_factory=dict)
    qos_overrides: Mapping[str, QoSProfile] = field(default_factory=dict)
    delay_s: float = 0.2
    wait_for_subscribers: tuple[str, ...] = ()
    wait_timeout_s: float = 10.0
    linger_s: float = 1.0
    check: bool = True
    progress: bool = False

    def __post_init__(self):
        if not self.rate > 0:
            raise ValueError(f"ReplayOptions.rate must be > 0, got {self.rate}")
        if self.clock_hz < 0:
            raise ValueError(f"ReplayOptions.clock_hz must be >= 0, got {self.clock_hz}")


@dataclass(frozen=True)
class ReplayStats:
    """What one playback did.

    Attributes:
        published: published topic -> number of messages sent.
        clock_messages: /clock messages sent.
        bag_duration_s: bag time from the first to the last played message.
        wall_duration_s: wall time from the first to the last message sent.
        max_lateness_s: largest delay of a message behind its schedule.
    """

    published: dict[str, int]
    clock_messages: int
    bag_duration_s: float
    wall_duration_s: float
    max_lateness_s: float

    @property
    def total(self) -> int:
        return sum(self.published.values())


class BagPlayer:
    """Publishes the messages of one bag from ``node`` (no spinning needed).

    Construction opens and checks the bag and creates one publisher per played
    topic (BagError for an unusable bag, a selected topic that is not in it, or
    a type that is not importable); :meth:`play` sends the messages.
    """

    def __init__(self, node: Node, bag: str | Path, options: ReplayOptions | None = None):
        self.node = node
        self.bag = Path(bag)
        self.options = options or ReplayOptions()
        opts = self.options
        if opts.check:
            bag_io.check_bag(self.bag)
        with bag_io.open_bag(self.bag) as reader:
            summary = {t.name: t for t in bag_io.summarize(reader)}
            connections = list(reader.connections)
        missing = [t for t in opts.topics if t not in summary]
        if missing:
            raise bag_io.BagError(f"{self.bag}: topics {missing} are not in the bag (it has {sorted(summary)})")
        self._pubs = {}
        self._out_topic: dict[str, str] = {}
        for name, info in summary.items():
            if (opts.topics and name not in opts.topics) or name in opts.exclude_topics:
                continue
            try:
                cls = bag_io.message_class(info.msgtype)
            except bag_io.BagError as exc:
                if opts.topics:  # explicitly requested: an error
                    raise bag_io.BagError(f"{self.bag}: topic {name}: {exc}") from None
                node.get_logger().warning(f"skipping {name}: {exc}")
                continue
            out = opts.remap.get(name, name)
            offered = [q for c in connections if c.topic == name for q in c.ext.offered_qos_profiles]
            qos = bag_qos.replay_qos(out, offered, info.count, dict(opts.qos_overrides))
            self._pubs[name] = node.create_publisher(cls, out, qos)
            self._out_topic[name] = out
            node.get_logger().debug(f"{name} -> {out} [{info.msgtype}] {bag_qos.describe(qos)}")
        if not self._pubs:
            raise bag_io.BagError(f"{self.bag}: no topic left to play")
        self._clock_pub = None
        self.last_bag_time_ns: int | None = None
        if opts.clock_hz > 0 or opts.clock_each_message:
            from rosgraph_msgs.msg import Clock

            self._clock_cls = Clock
            # reliable matches both rclpy's best-effort TimeSource subscription and reliable ones
            self._clock_pub = node.create_publisher(
                Clock, CLOCK_TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
            )
        self._message_count = sum(summary[t].count for t in self._pubs)

    @property
    def topics(self) -> dict[str, str]:
        """Bag topic -> published topic, for the topics that will be played."""
        return dict(self._out_topic)

    def publisher(self, bag_topic: str):
        return self._pubs[bag_topic]

    def wait_for_subscribers(self, topics: Sequence[str], timeout_s: float) -> None:
        """Block until every published topic in ``topics`` has a subscriber (TimeoutError otherwise)."""
        by_out = {out: self._pubs[t] for t, out in self._out_topic.items()}
        unknown = [t for t in topics if t not in by_out]
        if unknown:
            raise ValueError(f"wait_for_subscribers: {unknown} are not played topics ({sorted(by_out)})")
        deadline = time.monotonic() + timeout_s
        while True:
            waiting = [t for t in topics if by_out[t].get_subscription_count() == 0]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no subscriber on {waiting} after {timeout_s:.1f} s")
            time.sleep(0.02)

    def play(self, on_publish: PublishHook | None = None) -> ReplayStats:
        """Send every selected message at its (rate-scaled) time; return what was sent."""
        opts = self.options
        if opts.wait_for_subscribers:
            self.wait_for_subscribers(opts.wait_for_subscribers, opts.wait_timeout_s)
        if opts.delay_s > 0:
            time.sleep(opts.delay_s)
        counts: Counter[str] = Counter()
        clock_count = 0
        max_late = 0.0
        t_first = t_last = None
        wall_first = wall_last = 0.0
        bar = None
        if opts.progress:
            from tqdm import tqdm

            bar = tqdm(total=self._message_count, unit="msg", desc=f"replay {self.bag.name}")
        with bag_io.open_bag(self.bag) as reader:
            conns = [c for c in reader.connections if c.topic in self._pubs]
            clock_period = 1.0 / opts.clock_hz if opts.clock_hz > 0 else None
            next_clock = None
            start = None
            for conn, t_bag, raw in bag_io.iter_raw(reader, conns, self.bag):
                if start is None:
                    start, t_first = time.perf_counter(), t_bag
                    next_clock = start
                due = start + (t_bag - t_first) / 1e9 / opts.rate
                # Sleep until due, sending periodic /clock (the bag time of "now") on the way.
                while True:
                    now = time.perf_counter()
                    if clock_period is not None and next_clock <= min(now, due):
                        bag_now = t_first + int((next_clock - start) * opts.rate * 1e9)
                        self._publish_clock(bag_now)
                        clock_count += 1
                        # one tick per period; ticks missed while a large message went out are dropped
                        next_clock = max(next_clock + clock_period, now)
                        continue
                    if now >= due:
                        break
                    wake = due if clock_period is None else min(due, next_clock)
                    time.sleep(max(0.0, wake - now))
                if opts.clock_each_message:
                    self._publish_clock(t_bag)
                    clock_count += 1
                self._pubs[conn.topic].publish(bytes(raw))
                sent = time.perf_counter()
                max_late = max(max_late, sent - due)
                out = self._out_topic[conn.topic]
                counts[out] += 1
                if on_publish is not None:
                    on_publish(out, t_bag, raw, time.time())
                if t_last is None:
                    wall_first = sent
                wall_last, t_last = sent, t_bag
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        self.last_bag_time_ns = t_last
        self._linger(opts.linger_s)
        return ReplayStats(
            published=dict(counts),
            clock_messages=clock_count,
            bag_duration_s=((t_last - t_first) / 1e9) if t_first is not None else 0.0,
            wall_duration_s=wall_last - wall_first,
            max_lateness_s=max_late,
        )

    def continue_clock(self, until: Callable[[], bool], timeout_s: float, hz: float = 50.0) -> bool:
        """After :meth:`play`, keep /clock running from the bag's last stamp at the playback rate.

        A bag ends, a robot's clock does not: nodes with ``use_sim_time`` whose timers
        drive their work (e.g. an inference rate timer) need time to go on to finish
        the last data. Publishes until ``until()`` is true (returns True) or
        ``timeout_s`` passed (returns False). Needs /clock (``clock_hz`` or
        ``clock_each_message``) and a finished :meth:`play`.
        """
        if self._clock_pub is None or getattr(self, "last_bag_time_ns", None) is None:
            raise RuntimeError("continue_clock needs /clock publishing and a finished play()")
        start = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - start
            self._publish_clock(self.last_bag_time_ns + int(elapsed * self.options.rate * 1e9))
            if until():
                return True
            if elapsed > timeout_s:
                return False
            time.sleep(1.0 / hz)

    def _publish_clock(self, t_ns: int) -> None:
        msg = self._clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(int(t_ns), 1_000_000_000)
        self._clock_pub.publish(msg)

    def _linger(self, timeout_s: float) -> None:
        """Give reliable subscribers time to acknowledge the last messages before the caller exits."""
        if timeout_s <= 0:
            return
        deadline = time.monotonic() + timeout_s
        for pub in self._pubs.values():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if pub.qos_profile.reliability == ReliabilityPolicy.RELIABLE:
                pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))
