"""``sim2art-replay``: play a rosbag2 bag into the ROS graph, like ``ros2 bag play`` (absent here).

Usage: ``sim2art-replay BAG [--rate 0.5] [--clock [HZ]] [--topics T ...] [--remap FROM:=TO ...]``
(``ros2 run sim2art_ros bag_replay`` on a ROS install). The player itself (timing, /clock, QoS,
the integrity check) is :class:`sim2art_ros.bags.player.BagPlayer`; this module is its command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags import qos as bag_qos
from sim2art_ros.bags.player import CLOCK_TOPIC, BagPlayer, PublishHook, ReplayOptions, ReplayStats

__all__ = ["CLOCK_TOPIC", "BagPlayer", "PublishHook", "ReplayOptions", "ReplayStats", "build_parser", "main"]
__all__ += ["options_from_args", "split_ros_args"]


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    remap = {}
    for rule in args.remap:
        src, sep, dst = rule.partition(":=")
        if not sep or not src or not dst:
            raise ValueError(f"--remap {rule!r}: expected FROM:=TO")
        remap[src] = dst
    return ReplayOptions(
        rate=args.rate,
        clock_hz=args.clock or 0.0,
        clock_each_message=args.clock_each_message,
        topics=tuple(args.topics),
        exclude_topics=tuple(args.exclude_topics),
        remap=remap,
        qos_overrides=bag_qos.load_overrides(args.qos_profile_overrides_path),
        delay_s=args.delay,
        wait_for_subscribers=tuple(args.wait_for_subscribers),
        wait_timeout_s=args.wait_timeout,
        linger_s=args.linger,
        check=not args.no_check,
        progress=not args.quiet,
    )


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, the ``--ros-args ... [--]`` blocks for rclpy).

    rclpy's remove_ros_args would also swallow ``FROM:=TO`` outside ``--ros-args`` (the
    deprecated ROS 1 remap syntax), i.e. the values of ``--remap``; this keeps them ours.
    """
    ours, ros, inside = [], [], False
    for a in argv:
        if a == "--ros-args":
            inside = True
            ros.append(a)
        elif a == "--" and inside:
            inside = False
        else:
            (ros if inside else ours).append(a)
    return ours, ros


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-replay",
        description="Play a rosbag2 bag (mcap or sqlite3) into the ROS graph, like `ros2 bag play`. "
        "ROS arguments (--ros-args ...) are passed to rclpy.",
    )
    p.add_argument("bag", type=Path, help="rosbag2 directory, or a bare .mcap/.db3 file")
    p.add_argument("-r", "--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument(
        "--clock", type=float, nargs="?", const=40.0, default=0.0, metavar="HZ",
        help="publish /clock for use_sim_time nodes at HZ (bare flag: 40 Hz, as ros2 bag play)",
    )  # fmt: skip
    p.add_argument(
        "--clock-each-message", action="store_true",
        help="also publish /clock with each message's bag time right before it (deterministic sim time)",
    )  # fmt: skip
    p.add_argument("--topics", nargs="+", default=[], metavar="TOPIC", help="play only these topics")
    p.add_argument("--exclude-topics", nargs="+", default=[], metavar="TOPIC", help="do not play these topics")
    p.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="publish bag topic FROM as TO")
    p.add_argument(
        "--qos-profile-overrides-path", type=Path, default=None, metavar="YAML",
        help="QoS per published topic, in ros2 bag play's format (e.g. config/replay_qos.yaml)",
    )  # fmt: skip
    p.add_argument("-d", "--delay", type=float, default=0.2, help="seconds to wait before the first message")
    p.add_argument(
        "--wait-for-subscribers", nargs="+", default=[], metavar="TOPIC",
        help="start only once each of these published topics has a subscriber",
    )  # fmt: skip
    p.add_argument("--wait-timeout", type=float, default=30.0, help="seconds to wait for those subscribers")
    p.add_argument("--linger", type=float, default=1.0, help="seconds to wait for acknowledgements at the end")
    p.add_argument("--no-check", action="store_true", help="skip the read-through integrity check before playing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    import rclpy

    from sim2art_ros.spin import shut_down

    ours, ros_args = split_ros_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(ours)
    try:
        options = options_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"sim2art-replay: error: {exc}", file=sys.stderr)
        return 2
    context = rclpy.context.Context()
    rclpy.init(args=["sim2art-replay", *ros_args], context=context)
    node = rclpy.create_node("bag_replay", context=context)
    try:
        player = BagPlayer(node, args.bag, options)
        for src, out in player.topics.items():
            qos = player.publisher(src).qos_profile
            print(f"  {src}{' -> ' + out if out != src else ''}  {bag_qos.describe(qos)}", file=sys.stderr)
        stats = player.play()
    except (bag_io.BagError, TimeoutError) as exc:
        print(f"sim2art-replay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        shut_down(node, context=context)
    print(
        f"played {stats.total} messages on {len(stats.published)} topics in {stats.wall_duration_s:.2f} s "
        f"(bag {stats.bag_duration_s:.2f} s, rate {options.rate}), /clock {stats.clock_messages}, "
        f"max lateness {stats.max_lateness_s * 1e3:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
