"""Evaluate the perception node on bags: ``sim2art-bag-eval BAG_OR_FOLDER --out DIR``.

Per bag, in one go:

1. check the bag (integrity, topics) and read its ground truth, if any, from
   ``/articulation_ground_truth``;
2. start the perception node in its own process (``use_sim_time``), and wait until
   it has subscribed to the camera topics;
3. replay the bag (:class:`~sim2art_ros.bags.player.BagPlayer`, ``/clock`` before every
   message) while a :class:`~sim2art_ros.bags.record.Recorder` records
   ``/articulation`` and the node's segmented cloud, noting when each colour image
   went out and when each estimate came back;
4. wait for the node to finish the last window, stop it, and write the recording
   as a bag (``recorded/``) next to the node's log;
5. compare every estimate with the ground truth (:mod:`sim2art_ros.tools.bag_compare`,
   metrics of ``sim2art_core.eval.metrics``) and draw the axes over the segmented
   cloud and the latency.

Then one report for all bags (:mod:`sim2art_ros.tools.bag_report`): ``report.md``
(Markdown tables), ``results.json`` and the PNGs. A bag without ground truth gets
the latency report and the pictures. docs/BAGS.md describes the report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.layout import BagLayout
from sim2art_ros.bags.node_process import NodeProcess, NodeProcessError, node_command

ROOT = Path(__file__).resolve().parents[1]
#: The node's segmented cloud (sensor_msgs/PointCloud2 with a ``part_id`` field; docs/NODE.md ``~/points``).
CLOUD_TOPIC = "/sim2art_perceive/points"
#: Longest wait (s, wall time) for the segmented cloud of the final estimate after the estimate itself arrived.
CLOUD_GRACE_S = 2.0


@dataclass(frozen=True)
class EvalOptions:
    """How to run the node on the bags.

    Attributes:
        rate: replay speed factor (< 1 gives a slow CPU more time per frame).
        checkpoint: model checkpoint for the node (None: the node's default).
        params_file: node parameter YAML (None: config/perceive.yaml when it exists).
        node_args: extra ROS arguments for the node, e.g. ("-p", "window_size:=8").
        layout: topic and frame names of the bags.
        cloud_topic: the node's segmented cloud ("" = do not record one).
        start_timeout_s: how long the node may take to subscribe to the camera topics.
        drain_quiet_s: after the replay, stop once no estimate arrived for this long ...
        drain_timeout_s: ... or after this long at most.
        progress: tqdm progress bars (the replay's, and one over the bags when there are several).
        keep_going: a bag whose node fails (does not start, dies) is reported without estimates and the
            next bag runs (default: stop with the error).
        domain_id: ROS domain of the node and the replay (None: ``ROS_DOMAIN_ID`` as set, else 0). Bags
            from the data engine all start at the same stamp, so another replay on the same domain (a
            second evaluation or demo on this machine) mixes its frames into the node's unnoticed; a
            domain of their own keeps them apart (:func:`private_domain_id`).
    """

    rate: float = 1.0
    checkpoint: Path | None = None
    params_file: Path | None = None
    node_args: tuple[str, ...] = ()
    layout: BagLayout = field(default_factory=BagLayout)
    cloud_topic: str = CLOUD_TOPIC
    start_timeout_s: float = 120.0
    drain_quiet_s: float = 5.0
    drain_timeout_s: float = 60.0
    progress: bool = True
    keep_going: bool = False
    domain_id: int | None = None


def private_domain_id(seed: int | None = None) -> int:
    """A ROS domain id for one evaluation run in 1..101 that no other sim2art process on this machine holds
    (:func:`sim2art_ros.network_safety.reserve_domain_id`: held until this process exits). ``seed``: where the
    search starts, for tests (default: the system's randomness)."""
    import random

    from sim2art_ros.network_safety import reserve_domain_id

    return reserve_domain_id(None if seed is None else random.Random(seed))


@dataclass(frozen=True)
class RunRecord:
    """What happened while one bag was replayed into the node.

    Attributes:
        bag: the bag.
        out_dir: this bag's output folder.
        image_sent: colour image header stamp (ns) -> wall time it was published (s).
        estimates: (arrival wall time, rclpy Articulation) in arrival order.
        clouds: (arrival wall time, rclpy PointCloud2) in arrival order.
        replay_s: wall time of the replay.
        node_log: the node's log file.
    """

    bag: Path
    out_dir: Path
    image_sent: dict[int, float]
    estimates: list
    clouds: list
    replay_s: float
    node_log: Path


def node_ros_args(options: EvalOptions) -> list[str]:
    """ROS arguments of the node: its inputs remapped to the bag's topics, sim time, the parameter
    file, the checkpoint, then the user's."""
    from sim2art_ros.perception.node import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC

    lay = options.layout
    args = [
        *("-r", f"{COLOR_TOPIC}:={lay.color_topic}"),
        *("-r", f"{DEPTH_TOPIC}:={lay.depth_topic}"),
        *("-r", f"{INFO_TOPIC}:={lay.color_info_topic}"),
        *("-p", "use_sim_time:=true"),
    ]
    params = options.params_file
    if params is None and (ROOT / "config" / "perceive.yaml").is_file():
        params = ROOT / "config" / "perceive.yaml"
    if params is not None:
        args += ["--params-file", str(params)]
    if options.checkpoint is not None:
        args += ["-p", f"checkpoint:={Path(options.checkpoint).resolve()}"]
    return args + list(options.node_args)


def run_bag(bag: Path, out_dir: Path, options: EvalOptions) -> RunRecord:
    """Steps 2-4 of the module doc for one bag."""
    import rclpy
    from rclpy.context import Context

    from sim2art_ros.bags.player import BagPlayer, ReplayOptions
    from sim2art_ros.bags.record import Recorder
    from sim2art_ros.spin import shut_down

    lay = options.layout
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "recorded").exists():  # a previous run into the same folder (the demo's default)
        shutil.rmtree(out_dir / "recorded")
    topics = {lay.articulation_topic: bag_io.ARTICULATION_TYPE}
    if options.cloud_topic:
        topics[options.cloud_topic] = "sensor_msgs/msg/PointCloud2"
    context = Context()
    domain = {} if options.domain_id is None else {"domain_id": int(options.domain_id)}
    rclpy.init(
        context=context, args=["sim2art-bag-eval"], **domain
    )  # not sys.argv: "--node-arg=a:=b" looks like a remap
    recorder = Recorder(context, topics, node_name="sim2art_bag_eval_recorder")
    player_node = rclpy.create_node("sim2art_bag_eval_replay", context=context)
    image_sent: dict[int, float] = {}

    def on_publish(topic: str, t_bag: int, raw, wall: float) -> None:
        if topic == lay.color_topic:
            image_sent[bag_io.header_stamp_ns(raw)] = wall

    log = out_dir / "node.log"
    try:
        env = None if options.domain_id is None else {**os.environ, "ROS_DOMAIN_ID": str(int(options.domain_id))}
        with NodeProcess(node_command(node_ros_args(options)), log, env=env) as node:
            player = BagPlayer(
                player_node,
                bag,
                ReplayOptions(
                    rate=options.rate,
                    clock_hz=50.0,
                    clock_each_message=True,
                    check=False,  # checked by the caller
                    progress=options.progress,
                ),
            )
            _wait_for_node(player, node, [lay.color_topic, lay.depth_topic, lay.color_info_topic], options)
            t0 = time.monotonic()
            player.play(on_publish=on_publish)
            replay_s = time.monotonic() - t0
            node.check_alive("during the replay")
            _drain(player, recorder, lay.articulation_topic, sorted(image_sent), options, options.cloud_topic)
        recorder.write_bag(out_dir / "recorded")
        estimates = recorder.decoded(lay.articulation_topic)
        clouds = recorder.decoded(options.cloud_topic) if options.cloud_topic else []
    finally:
        recorder.close()
        shut_down(player_node, context=context)
    return RunRecord(bag, out_dir, image_sent, estimates, clouds, replay_s, log)


def _drain(player, recorder, topic: str, image_stamps: list[int], options: EvalOptions, cloud_topic: str = "") -> None:
    """Keep sim time going until the node has estimated the last window.

    Done when an estimate of the newest frame that can end a window arrives (the
    second newest image: the newest one only provides the flow of the one before)
    and, when ``cloud_topic`` is recorded, the segmented cloud the node publishes right
    after that estimate (same header stamp; at most ``CLOUD_GRACE_S`` later: the digital
    twin of the final estimate needs it), or when no estimate arrived for
    ``drain_quiet_s`` since the replay ended or since the last estimate, or after
    ``drain_timeout_s``.
    """
    final = image_stamps[-2] if len(image_stamps) >= 2 else (image_stamps[-1] if image_stamps else 0)
    t_end = time.monotonic()
    state = {"n": recorder.count(topic), "t": t_end, "final": None, "final_t": 0.0}

    def cloud_arrived(stamp: int) -> bool:
        return any(bag_io.header_stamp_ns(r.raw) == stamp for r in recorder.records(cloud_topic))

    def done() -> bool:
        if state["final"] is not None:  # the final estimate is in: wait for its cloud (bounded)
            return cloud_arrived(state["final"]) or time.monotonic() - state["final_t"] > CLOUD_GRACE_S
        recs = recorder.records(topic)
        if len(recs) != state["n"]:
            state["n"], state["t"] = len(recs), time.monotonic()
            last = [bag_io.header_stamp_ns(r.raw) for r in recs if bag_io.header_stamp_ns(r.raw) >= final]
            if last:
                if not cloud_topic:
                    return True
                state["final"], state["final_t"] = last[-1], time.monotonic()
                return cloud_arrived(last[-1])
        return time.monotonic() - state["t"] > options.drain_quiet_s

    player.continue_clock(done, options.drain_timeout_s)


def _wait_for_node(player, node: NodeProcess, topics: Sequence[str], options: EvalOptions) -> None:
    """Wait until the node subscribes to the camera topics, failing early if it dies."""
    deadline = time.monotonic() + options.start_timeout_s
    wanted = [t for t in topics if t in player.topics.values()]
    while True:
        node.check_alive("before subscribing to the camera topics")
        try:
            player.wait_for_subscribers(wanted, timeout_s=0.5)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise NodeProcessError(
                    f"the perception node did not subscribe to {wanted} within {options.start_timeout_s:.0f} s; "
                    f"log {node.log_path}:\n{node.log_tail()}"
                ) from None


def evaluate(bags: Sequence[Path], out: Path, options: EvalOptions):
    """Run and score every bag; write the report. Returns the :class:`~sim2art_ros.tools.bag_report.Report`."""
    from tqdm import tqdm

    from sim2art_ros.tools.bag_compare import score_run
    from sim2art_ros.tools.bag_report import Report, write_report

    out.mkdir(parents=True, exist_ok=True)
    results = []
    report = Report(results=results, options=options, bags=[str(b) for b in bags])
    bar = tqdm(bags, desc="bags", unit="bag", disable=not options.progress or len(bags) < 2)
    for bag in bar:
        bar.set_postfix_str(bag.name)
        bag_io.check_bag(bag)
        truth, object_id = read_ground_truth(bag, options.layout.ground_truth_topic, with_object_id=True)
        name = bag.name if bag.is_dir() else bag.stem
        try:
            run = run_bag(bag, out / name, options)
        except NodeProcessError as exc:
            if not options.keep_going:
                raise
            print(f"sim2art-bag-eval: warning: {name}: {exc}", file=sys.stderr)  # scored as no estimate
            run = RunRecord(bag, out / name, {}, [], [], 0.0, out / name / "node.log")
        results.append(score_run(run, truth, object_id))
        write_report(report, out)  # after every bag: a long run that is stopped keeps what it measured
    write_report(report, out)
    return report


def read_ground_truth(bag: Path, topic: str, with_object_id: bool = False):
    """The newest ground-truth estimate on ``topic`` (ArticulationEstimate), or None when the bag has none.

    With ``with_object_id``: (estimate or None, the message's ``object_id`` or "")."""
    from sim2art_ros.conversions.articulation import msg_to_estimate

    last = None
    with bag_io.open_bag(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in bag_io.iter_raw(reader, conns, bag) if conns else ():
            last = reader.deserialize(raw, conn.msgtype)
    truth = None if last is None else msg_to_estimate(last)
    if with_object_id:
        return truth, "" if last is None else str(last.object_id)
    return truth


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-bag-eval",
        description="Run the sim2art perception node on rosbag2 bags and report accuracy (against "
        "/articulation_ground_truth when present), latency and pictures. See docs/BAGS.md. Exit code 2: a bag "
        "or the node could not be used; 1: the node produced no estimate for any bag.",
    )
    p.add_argument("bags", type=Path, help="a bag, or a folder of bags")
    p.add_argument("--out", type=Path, default=Path("bag_eval"), help="report folder (default ./bag_eval)")
    p.add_argument("-r", "--rate", type=float, default=1.0, help="replay speed factor (default 1.0)")
    p.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint for the node")
    p.add_argument("--params-file", type=Path, default=None, help="node parameters (default config/perceive.yaml)")
    p.add_argument(
        "--node-arg", action="append", default=[], metavar="ARG",
        help="extra ROS argument for the node, repeatable (e.g. --node-arg=-p --node-arg=window_size:=8)",
    )  # fmt: skip
    p.add_argument("--cloud-topic", default=CLOUD_TOPIC, help="the node's segmented cloud ('' = none)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="seconds the node may take to start")
    p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the last estimates")
    p.add_argument(
        "--keep-going", action="store_true",
        help="a bag whose node fails is reported without estimates and the next bag runs (default: stop)",
    )  # fmt: skip
    p.add_argument(
        "--domain-id", default=None, metavar="ID|auto",
        help="ROS domain of the node and the replay: a number, or 'auto' for a private one (default: "
        "ROS_DOMAIN_ID); keeps other replays on this machine out of the node",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def parse_domain_id(value: str | None) -> int | None:
    """``--domain-id``: None, 'auto' (:func:`private_domain_id`) or an id in 0..232."""
    if value is None:
        return None
    if value == "auto":
        return private_domain_id()
    if not value.isdigit() or not 0 <= int(value) <= 232:
        raise ValueError(f"--domain-id must be 'auto' or an integer in 0..232, got {value!r}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    args = build_parser().parse_args(argv)
    try:
        domain_id = parse_domain_id(args.domain_id)
    except ValueError as exc:
        print(f"sim2art-bag-eval: error: {exc}", file=sys.stderr)
        return 2
    options = EvalOptions(
        rate=args.rate,
        checkpoint=args.checkpoint,
        params_file=args.params_file,
        node_args=tuple(args.node_arg),
        cloud_topic=args.cloud_topic,
        start_timeout_s=args.start_timeout,
        drain_timeout_s=args.drain_timeout,
        progress=not args.quiet,
        keep_going=args.keep_going,
        domain_id=domain_id,
    )
    if args.checkpoint is not None and not args.checkpoint.is_file():
        print(f"sim2art-bag-eval: error: checkpoint {args.checkpoint} does not exist", file=sys.stderr)
        return 2
    try:
        bags = bag_io.find_bags(args.bags)
        report = evaluate(bags, args.out, options)
    except (bag_io.BagError, NodeProcessError) as exc:
        print(f"sim2art-bag-eval: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary_text())
    print(f"report: {(args.out / 'report.md').resolve()}")
    silent = [r.name for r in report.results if not r.scores]
    if silent:
        print(f"sim2art-bag-eval: warning: no estimate for {silent}; see <bag>/node.log", file=sys.stderr)
    return 1 if len(silent) == len(report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
