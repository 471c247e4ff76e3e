"""The end-to-end demo (``make demo`` -> scripts/run_demo.sh -> ``sim2art-demo``): what a newcomer runs first.

In one go, on this machine, no robot and no GPU needed:

1. check the checkpoint (``sim2art_core/checkpoints/default.pt`` or ``--checkpoint``);
2. render a short synthetic sequence of an articulated object with the data engine and
   write it as a rosbag2 bag with what a robot records (colour, depth, camera_info,
   /tf, /tf_static) plus the ground truth (``--bag`` uses an existing bag instead);
3. start the perception node with that checkpoint in its own process, replay the bag
   into it with ``/clock``, record ``/articulation``;
4. print the estimated joints next to the ground truth, the metrics and the
   end-to-end latency, and write the report and pictures (``report.md``) to the
   output folder it names.

The node gets settings that suit a synthetic bag: every frame is a keyframe (the
renderer already spaces frames like the training sequences) and an estimate up to
five times per second of bag time (the newest window waits for a busy estimator,
``busy_policy: wait``: a replay is about accuracy over the whole bag, not about latency).
docs/BAGS.md explains the bag, the replay and the report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sim2art_core.data.cli_args import add_object_arguments, add_size_arguments

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("demo_output")
#: Node settings for synthetic bags (see the module doc); the user's --node-arg come after them.
DEMO_NODE_ARGS = ("-p", "keyframe_period_s:=0.0", "-p", "rate_hz:=5.0", "-p", "busy_policy:=wait")


def say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def checkpoint_info(path: Path) -> dict:
    """Frames, points and size of a checkpoint (CheckpointError when unusable)."""
    from sim2art_core.model.checkpoint import file_digest, read_checkpoint

    payload = read_checkpoint(path)
    cfg = payload["model_config"]
    return {
        "num_frames": int(cfg.get("num_frames", 16)),
        "num_points": int(cfg.get("num_points", 0)),
        "digest": file_digest(path),
        "trained": payload.get("train", {}).get("steps", payload.get("train", {}).get("step", "?")),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-demo",
        description="End-to-end demo: synthetic bag -> perception node -> /articulation -> report "
        "(estimated joints next to the ground truth, metrics, latency, pictures).",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    p.add_argument(
        "--checkpoint", type=Path, default=None,
        help="model checkpoint (default sim2art_core/checkpoints/default.pt)",
    )  # fmt: skip
    p.add_argument("--bag", type=Path, default=None, help="replay this bag instead of generating one")
    add_object_arguments(p, sequence_seed=1)  # of the generated bag
    # 640x480 (a RealSense's VGA): the node's DIS optical flow needs it on these small synthetic objects
    # (docs/BENCHMARKS.md, "Optical-flow conditions"; at 320x240 the demo misses a door)
    add_size_arguments(p, 0, 640, 480, "frames in the bag (default: the model's 2T + 8)")
    p.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1", help="depth encoding of the bag")
    p.add_argument("-r", "--rate", type=float, default=0.5, help="replay speed factor (default 0.5: CPU headroom)")
    p.add_argument("--node-arg", action="append", default=[], metavar="ARG", help="extra ROS argument for the node")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    args = build_parser().parse_args(argv)
    t_start = time.monotonic()
    out = args.out.resolve()

    # 1. checkpoint -------------------------------------------------------------------------------
    from sim2art_core.estimator import DEFAULT_CHECKPOINT
    from sim2art_core.model.checkpoint import CheckpointError

    ckpt = (args.checkpoint or DEFAULT_CHECKPOINT).resolve()
    try:
        info = checkpoint_info(ckpt)
    except CheckpointError as exc:
        print(
            f"sim2art-demo: error: {exc}\n  Pass --checkpoint PATH, or train one with sim2art-train (--help).",
            file=sys.stderr,
        )
        return 2
    say("1/4", f"checkpoint {ckpt} ({info['digest']}): T={info['num_frames']} frames, N={info['num_points']} points")

    # 2. bag ---------------------------------------------------------------------------------------
    from sim2art_ros.bags import io as bag_io

    if args.bag is not None:
        bag = args.bag
        say("2/4", f"using the bag {bag}")
    else:
        from sim2art_core.data.generator import SequenceConfig
        from sim2art_ros.bags.writer import BagWriterConfig, write_sequence_bag

        # 2T + 8: the fused model confirms a joint only with windows sharing at most half of their frames
        # (ObjectModelConfig.independent_overlap), so the bag holds two such windows even when the node,
        # busy with an estimate, skips the first few
        frames = args.frames or 2 * info["num_frames"] + 8
        bag = out / "bags" / f"{args.category}-{args.object_seed}-{args.sequence_seed}"
        if bag.exists():
            import shutil

            shutil.rmtree(bag)
        say("2/4", f"rendering {args.category} (object {args.object_seed}, sequence {args.sequence_seed}): {frames} "
                   f"frames at {args.width}x{args.height} -> {bag}")  # fmt: skip
        seq = SequenceConfig(num_frames=frames, width=args.width, height=args.height)
        try:
            summary = write_sequence_bag(
                bag, args.category, args.object_seed, args.sequence_seed, seq,
                BagWriterConfig(depth_encoding=args.depth_encoding),
            )  # fmt: skip
        except (ValueError, RuntimeError, ImportError) as exc:
            print(f"sim2art-demo: error: cannot generate the bag: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        say("2/4", f"wrote {sum(summary.counts.values())} messages, {summary.duration_s:.2f} s of bag time")
    try:
        topics = bag_io.check_bag(bag)
    except bag_io.BagError as exc:
        print(f"sim2art-demo: error: {exc}", file=sys.stderr)
        return 2
    for t in topics:
        print(f"        {t.name:<52} {t.msgtype:<34} {t.count:>4}")

    # 3. node + replay + recording ------------------------------------------------------------------
    from sim2art_ros.bags.node_process import NodeProcessError
    from sim2art_ros.tools.bag_eval import EvalOptions, evaluate, private_domain_id, read_ground_truth
    from sim2art_ros.tools.bag_report import accuracy, fmt, joint_rows, stats, text_table

    # A ROS domain of its own unless the user chose one: synthetic bags share stamps, so another demo or
    # bag evaluation on this machine would otherwise feed its frames into this node.
    domain = int(os.environ["ROS_DOMAIN_ID"]) if os.environ.get("ROS_DOMAIN_ID") else private_domain_id()
    options = EvalOptions(
        rate=args.rate,
        checkpoint=ckpt,
        node_args=DEMO_NODE_ARGS + tuple(args.node_arg),
        progress=False,
        domain_id=domain,
    )
    say(
        "3/4",
        f"starting the perception node (ROS domain {domain}), replaying at rate {args.rate}, recording /articulation",
    )
    try:
        report = evaluate([bag], out, options)
    except (bag_io.BagError, NodeProcessError) as exc:
        print(f"sim2art-demo: error: {exc}", file=sys.stderr)
        return 2

    # 4. results -----------------------------------------------------------------------------------
    (result,) = report.results
    has_truth = read_ground_truth(bag, options.layout.ground_truth_topic) is not None
    c = result.status_counts()
    say("4/4", f"{len(result.scores)} estimates received ({c['OK']} OK, {c['NO_ARTICULATION']} no articulation, "
               f"{c['FAILED']} failed) for {result.images_sent} images")  # fmt: skip
    if result.final is None:
        tail = result.node_log.read_text(errors="replace").splitlines()[-8:] if result.node_log else []
        print(f"sim2art-demo: error: no estimate arrived; {result.node_log} ends with:", file=sys.stderr)
        print("\n".join("    " + line for line in tail), file=sys.stderr)
        return 1
    else:
        print(
            f"        final estimate: {result.final.status}"
            + (f" ({result.final.message})" if result.final.message else "")
        )
        print()
        cols = ["true joint", "estimated", "axis true", "axis est.", "motion true", "motion est.",
                "axis err [deg]", "axis pos. err [cm]", "motion err"]  # fmt: skip
        print(text_table(joint_rows(result), cols))
        print()
        if has_truth:
            acc = accuracy(result.final)
            print(
                f"        metrics (final estimate): type accuracy {fmt(acc['type_accuracy'], 2)}, axis angle "
                f"{fmt(acc['axis_angle_deg'])} deg, axis position {fmt(acc['axis_position_cm'])} cm (revolute), "
                f"part rotation {fmt(acc['part_rotation_deg'])} deg, part translation "
                f"{fmt(acc['part_translation_cm'])} cm"
            )
        lat, inf = stats(result.latencies() * 1e3), stats(result.inference_times() * 1e3)
        print(
            f"        end-to-end latency (image sent -> estimate received): median {fmt(lat['median'], 0)} ms, "
            f"max {fmt(lat['max'], 0)} ms over {lat['n']} estimates; node inference median {fmt(inf['median'], 0)} ms"
        )
        export_twin(result.out_dir)
    print()
    print(f"Report and pictures: {out / 'report.md'}  (axes: {result.plots.get('axes')})")
    print(f"Done in {time.monotonic() - t_start:.0f} s.")
    return 0


def export_twin(bag_out: Path) -> Path | None:
    """The digital twin of the recorded final estimate: ``<bag_out>/object/object.urdf`` + meshes and
    ``object_posed.png`` (the model at the first and the last estimated joint state). Never fails the demo."""
    from sim2art_core.export.picture import plot_posed_model
    from sim2art_ros.tools.export_urdf import export_from_bag, fixed_note

    try:
        exported = export_from_bag(bag_out / "recorded", bag_out / "object")
        if exported is None:
            print("        digital twin: no non-FAILED estimate recorded, no URDF written")
            return None
        model, path, source, est = exported
        picture = plot_posed_model(model, est, bag_out / "object" / "object_posed.png")
    except Exception as exc:  # the twin is an extra: report, never break the demo's main job
        print(f"        digital twin: export failed: {type(exc).__name__}: {exc}")
        return None
    print(f"        digital twin: {path} ({len(model.links)} links, {len(model.joint_names)} movable joints, "
          f"meshes from the {source}{fixed_note(est, 'confirmed')}); posed at the first and last state: "
          f"{picture}")  # fmt: skip
    return path


if __name__ == "__main__":
    sys.exit(main())
