"""sim2art-replay on bags the project did not write: plain rosbags, standard types only."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.qos import rosbags_qos
from sim2art_ros.bags.replay import BagPlayer, ReplayOptions, main

TS = get_typestore(Stores.ROS2_KILTED)
T0 = 1_700_000_000_000_000_000
PERIOD = 40_000_000  # 25 Hz
N = 15


def _time(t):
    return TS.types["builtin_interfaces/msg/Time"](sec=t // 10**9, nanosec=t % 10**9)


def write_plain_bag(path: Path, storage: str) -> Path:
    """A bag as any rosbag2 user could have it: Image + String + latched TF, standard types."""
    Image = TS.types["sensor_msgs/msg/Image"]
    Header = TS.types["std_msgs/msg/Header"]
    String = TS.types["std_msgs/msg/String"]
    TFMessage, TS_ = TS.types["tf2_msgs/msg/TFMessage"], TS.types["geometry_msgs/msg/TransformStamped"]
    Transform, Vec, Quat = (TS.types[f"geometry_msgs/msg/{n}"] for n in ("Transform", "Vector3", "Quaternion"))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_img = w.add_connection("/cam/image", "sensor_msgs/msg/Image", typestore=TS)
        c_str = w.add_connection("/chatter", "std_msgs/msg/String", typestore=TS)
        c_tf = w.add_connection(
            "/tf_static", "tf2_msgs/msg/TFMessage", typestore=TS,
            offered_qos_profiles=[rosbags_qos(transient_local=True, depth=1)],
        )  # fmt: skip
        tf = TFMessage(
            transforms=[
                TS_(
                    header=Header(stamp=_time(T0), frame_id="base_link"),
                    child_frame_id="cam",
                    transform=Transform(translation=Vec(x=0.1, y=0.0, z=0.5), rotation=Quat(x=0, y=0, z=0, w=1)),
                )
            ]
        )
        w.write(c_tf, T0, TS.serialize_cdr(tf, "tf2_msgs/msg/TFMessage"))
        for i in range(N):
            t = T0 + (i + 1) * PERIOD
            data = np.full(4 * 3 * 3, i, dtype=np.uint8)
            img = Image(
                header=Header(stamp=_time(t), frame_id="cam"), height=3, width=4, encoding="rgb8",
                is_bigendian=0, step=12, data=data,
            )  # fmt: skip
            w.write(c_img, t, TS.serialize_cdr(img, "sensor_msgs/msg/Image"))
            w.write(c_str, t + 1000, TS.serialize_cdr(String(data=f"msg {i}"), "std_msgs/msg/String"))
    return path


@pytest.fixture(params=["mcap", "sqlite3"])
def plain_bag(request, tmp_path):
    return write_plain_bag(tmp_path / f"plain_{request.param}", request.param)


class Listener:
    """Typed subscribers in their own node, spun in a background thread; records (topic, msg, wall time)."""

    def __init__(self, context, topics: dict[str, type], qos=10):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node("replay_listener", context=context)
        self.received: list[tuple[str, object, float]] = []
        self.lock = threading.Lock()
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, self._cb(topic), qos)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _cb(self, topic):
        def cb(msg):
            with self.lock:
                self.received.append((topic, msg, time.perf_counter()))

        return cb

    def on(self, topic):
        with self.lock:
            return [(m, t) for top, m, t in self.received if top == topic]

    def wait_for(self, topic, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.on(topic)) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.on(topic)


def _stop(context, listener, *nodes):
    """Shutdown order that does not abort (ros_pip_environment.md §9)."""
    import rclpy

    rclpy.shutdown(context=context)
    listener.thread.join(timeout=5)
    for n in (listener.node, *nodes):
        n.destroy_node()


def test_replay_preserves_order_count_content_and_timing(ros_context, plain_bag):
    import rclpy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from tf2_msgs.msg import TFMessage

    rate = 2.0
    listener = Listener(ros_context, {"/cam/image": Image, "/chatter": String, "/clock": Clock})
    player_node = rclpy.create_node("player", context=ros_context)
    player = BagPlayer(
        player_node,
        plain_bag,
        ReplayOptions(rate=rate, clock_each_message=True, wait_for_subscribers=("/cam/image", "/chatter")),
    )
    sent = []
    stats = player.play(on_publish=lambda topic, t, raw, wall: sent.append((topic, t)))
    images = listener.wait_for("/cam/image", N)
    strings = listener.wait_for("/chatter", N)
    clocks = listener.wait_for("/clock", 2 * N + 1)

    # count and order, content decoded from the raw CDR that went out
    assert stats.published == {"/cam/image": N, "/chatter": N, "/tf_static": 1}
    assert [m.data for m, _ in strings] == [f"msg {i}" for i in range(N)]
    assert [int(m.data[0]) for m, _ in images] == list(range(N))
    assert images[3][0].width == 4 and images[3][0].encoding == "rgb8" and len(images[3][0].data) == 36
    assert [t for _, t in sent] == sorted(t for _, t in sent)
    # timing: arrivals follow the bag's spacing divided by the rate
    arrivals = np.array([t for _, t in images])
    expected = np.arange(N) * PERIOD / 1e9 / rate
    err = (arrivals - arrivals[0]) - expected
    assert np.median(np.abs(err)) < 0.02 and np.max(np.abs(err)) < 0.15, err
    assert abs(stats.bag_duration_s - (N * PERIOD + 1000) / 1e9) < 1e-6  # from /tf_static at T0
    # /clock carries bag time, monotonically, ending at the last message
    clock_ns = [m.clock.sec * 10**9 + m.clock.nanosec for m, _ in clocks]
    assert clock_ns == sorted(clock_ns) and clock_ns[0] == T0 and clock_ns[-1] == T0 + N * PERIOD + 1000
    # /tf_static is latched: a subscriber that joins after playback still gets it
    late = []
    listener.node.create_subscription(
        TFMessage, "/tf_static", late.append,
        rclpy.qos.QoSProfile(depth=1, durability=rclpy.qos.DurabilityPolicy.TRANSIENT_LOCAL),
    )  # fmt: skip
    deadline = time.monotonic() + 5
    while not late and time.monotonic() < deadline:
        time.sleep(0.02)
    assert late and late[0].transforms[0].child_frame_id == "cam"
    assert late[0].transforms[0].transform.translation.z == pytest.approx(0.5)
    _stop(ros_context, listener, player_node)


def test_topic_selection_remap_and_periodic_clock(ros_context, tmp_path):
    import rclpy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    bag = write_plain_bag(tmp_path / "b", "mcap")
    listener = Listener(ros_context, {"/talk": String, "/chatter": String, "/cam/image": Image, "/clock": Clock})
    node = rclpy.create_node("player", context=ros_context)
    opts = ReplayOptions(
        rate=4.0, clock_hz=100.0, topics=("/chatter",), remap={"/chatter": "/talk"}, wait_for_subscribers=("/talk",)
    )
    player = BagPlayer(node, bag, opts)
    assert player.topics == {"/chatter": "/talk"}
    stats = player.play()
    talk = listener.wait_for("/talk", N)
    time.sleep(0.2)
    assert [m.data for m, _ in talk] == [f"msg {i}" for i in range(N)]
    assert listener.on("/chatter") == [] and listener.on("/cam/image") == []
    # ~ (N-1) * 40 ms / 4 = 140 ms of playback at 100 Hz
    assert 5 <= stats.clock_messages <= 40
    clock_ns = [m.clock.sec * 10**9 + m.clock.nanosec for m, _ in listener.on("/clock")]
    assert clock_ns and clock_ns == sorted(clock_ns) and T0 <= clock_ns[0] <= T0 + PERIOD * (N + 1)
    _stop(ros_context, listener, node)


def test_selecting_a_missing_topic_is_an_error(ros_context, tmp_path):
    import rclpy

    bag = write_plain_bag(tmp_path / "b", "sqlite3")
    node = rclpy.create_node("player", context=ros_context)
    with pytest.raises(bag_io.BagError, match="/nope"):
        BagPlayer(node, bag, ReplayOptions(topics=("/nope",)))
    node.destroy_node()


def _damage(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    f = next(p for p in dst.iterdir() if p.suffix in (".mcap", ".db3"))
    data = bytearray(f.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:  # overwrite a stretch in the middle of the records
        data[len(data) // 3 : len(data) // 3 + 400] = b"\x55" * 400
    f.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_corrupt_or_truncated_bags_give_a_clear_error(tmp_path, storage):
    good = write_plain_bag(tmp_path / "good", storage)
    assert {t.name: t.count for t in bag_io.check_bag(good)} == {"/cam/image": N, "/chatter": N, "/tf_static": 1}
    with pytest.raises(bag_io.BagError, match="truncated|corrupt|cannot open"):
        bag_io.check_bag(_damage(good, tmp_path / "trunc", "truncate"))
    if storage == "mcap":  # rosbags silently stops early here; the metadata comparison catches it
        with pytest.raises(bag_io.BagError, match="metadata declares"):
            bag_io.check_bag(_damage(good, tmp_path / "garbled", "garble"))
    with pytest.raises(bag_io.BagError, match="does not exist"):
        bag_io.check_bag(tmp_path / "missing")
    (tmp_path / "notabag").mkdir()
    with pytest.raises(bag_io.BagError, match="not a rosbag2 bag"):
        bag_io.check_bag(tmp_path / "notabag")


def test_cli_reports_a_truncated_bag(tmp_path, capsys):
    bad = _damage(write_plain_bag(tmp_path / "good", "mcap"), tmp_path / "trunc", "truncate")
    assert main([str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "trunc" in err


def test_bare_storage_file_without_metadata_is_readable(tmp_path):
    bag = write_plain_bag(tmp_path / "b", "mcap")
    (bag / "metadata.yaml").unlink()
    assert {t.name for t in bag_io.check_bag(bag)} == {"/cam/image", "/chatter", "/tf_static"}


def test_qos_rules_and_shipped_override_file(repo_root, tmp_path):
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from sim2art_ros.bags.qos import load_overrides, replay_qos

    # no recorded QoS: /tf_static latched with room for every static message of the bag, others volatile
    q = replay_qos("/robot/tf_static", [], count=300)
    assert q.durability == DurabilityPolicy.TRANSIENT_LOCAL and q.depth == 300
    q = replay_qos("/cam/image", [], count=300)
    assert q.durability == DurabilityPolicy.VOLATILE and q.reliability == ReliabilityPolicy.RELIABLE
    # recorded profiles win; mixed publishers give the most compatible profile
    q = replay_qos("/x", [rosbags_qos(reliable=False), rosbags_qos(reliable=True)], count=3)
    assert q.reliability == ReliabilityPolicy.BEST_EFFORT
    # the shipped file parses and overrides
    over = load_overrides(repo_root / "config" / "replay_qos.yaml")
    assert over["/tf_static"].durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert replay_qos("/tf_static", [rosbags_qos()], 1, over) is over["/tf_static"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("/x: {reliability: sometimes}\n")
    with pytest.raises(ValueError, match="sometimes"):
        load_overrides(bad)


def test_cli_keeps_remap_values_out_of_rclpy():
    from sim2art_ros.bags.replay import build_parser, options_from_args, split_ros_args

    argv = ["bag", "--remap", "/a:=/b", "--ros-args", "-r", "__node:=p2", "--", "-r", "2"]
    ours, ros = split_ros_args(argv)
    assert ours == ["bag", "--remap", "/a:=/b", "-r", "2"] and ros == ["--ros-args", "-r", "__node:=p2"]
    opts = options_from_args(build_parser().parse_args(ours))
    assert opts.remap == {"/a": "/b"} and opts.rate == 2.0
    with pytest.raises(ValueError, match="FROM:=TO"):
        options_from_args(build_parser().parse_args(["bag", "--remap", "/a=/b"]))
