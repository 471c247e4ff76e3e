"""Benchmark of the perception node and its preprocessing (numbers for docs/BENCHMARKS.md).

    python -m sim2art_ros.tools.perceive_benchmark --out bench_perceive.json [--checkpoint PATH] [--quick]

Measures, on frames rendered by the data engine (640x480 by default):

1. **preprocessing cost per frame** (sim2art_core only, no ROS): decoding the ROS messages,
   the keyframe pre-check of a skipped frame, and a keyframe (object selection, sampling,
   optical/scene flow) in mask and box mode; the average per input frame at 30 Hz with the
   default keyframe period;
2. **CPU while idle**: the node process with no input (timers and threads only);
3. **end-to-end latency** over DDS: a 30 Hz stream into the node (continuous inference at
   up to 30 Hz), for every ``/articulation``: receive time - header stamp (the window's
   newest frame), and the part after the frame that completed the window arrived (the newest
   window frame needs one more keyframe for its flow, so a keyframe period is inherent);
   with a zero-cost stand-in estimator and with the real Estimator;
4. **maximum sustained input rate**: increasing publish rates; the highest one the node
   still synchronises >= 95 % of, without dropping frames from its queue.

The node runs as in deployment (``python -m sim2art_ros.perception.node``) in its own process on
a private ROS domain; this process publishes camera images, camera_info and TF like a camera
driver and a robot would. Run it under ``nice -n 10``; the machine's load is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def machine() -> dict:
    import psutil

    from sim2art_core.benchmarks.latency import cpu_model_name

    return {
        "cpu": cpu_model_name(),
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def render_frames(category: str, num: int, width: int, height: int):
    from sim2art_core.data.generator import SequenceConfig, generate_sequence

    _, frames = generate_sequence(category, 0, 1, SequenceConfig(num_frames=num - 1, width=width, height=height), True)
    return frames


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def preprocessing_cost(frames, num_points: int, repeat: int) -> dict:
    """Per-frame costs of decoding, skipping and keyframes (ms, medians)."""
    from dataclasses import replace

    from sim2art_core.benchmarks.latency import keyframe_times
    from sim2art_core.preprocess import KeyframeConfig, ObjectSelectionConfig, PreprocessConfig, WindowBuilder
    from sim2art_ros.conversions.image_codec import (
        camera_info_to_intrinsics,
        depth_to_image,
        image_to_depth,
        image_to_rgb,
        intrinsics_to_camera_info,
        rgb_to_image,
    )

    f0 = frames[0]
    msgs = (rgb_to_image(f0.rgb), depth_to_image(f0.depth), intrinsics_to_camera_info(f0.intrinsics))

    def decode():
        image_to_rgb(msgs[0]), image_to_depth(msgs[1]), camera_info_to_intrinsics(msgs[2])

    out = {"image": f"{f0.shape[1]}x{f0.shape[0]}", "num_points": num_points, "decode_ms": _median_ms(decode, 50)}
    for source in ("mask", "box"):
        cfg = PreprocessConfig(
            num_frames=len(frames) - 1,
            num_points=num_points,
            object=ObjectSelectionConfig(source=source),
            keyframes=KeyframeConfig(period_s=0.0),
        )
        stream = frames if source == "mask" else [replace(f, mask=None) for f in frames]
        times = keyframe_times(cfg, stream, repeat)
        out[f"keyframe_{source}_ms"] = 1e3 * float(np.median(times))
    b = WindowBuilder(PreprocessConfig(num_points=num_points), "world", rng=0)
    b.add(frames[0])
    stamp = frames[0].stamp_ns + 1_000_000
    out["skipped_frame_ms"] = _median_ms(lambda: b.precheck(stamp, frames[0].world_from_cam), 200)
    # 30 Hz input, a keyframe every 0.2 s: 1 keyframe (decoded) per 6 frames
    for source in ("mask", "box"):
        per = (out["decode_ms"] + out[f"keyframe_{source}_ms"] + 5 * out["skipped_frame_ms"]) / 6
        out[f"per_input_frame_at_30hz_{source}_ms"] = per
    return out


def markdown(r: dict) -> str:
    p = r["preprocessing"]
    lines = [
        f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, load average at start "
        f"{', '.join(f'{x:.1f}' for x in r['machine']['load_average'])}. Command: `{r['command']}`.",
        "",
        f"| preprocessing ({p['image']}, N = {p['num_points']}) | ms |",
        "|---|---|",
        f"| decode rgb8 + 16UC1 + camera_info | {p['decode_ms']:.1f} |",
        f"| skipped frame (keyframe pre-check) | {p['skipped_frame_ms']:.3f} |",
        f"| keyframe, mask input | {p['keyframe_mask_ms']:.1f} |",
        f"| keyframe, box selection | {p['keyframe_box_ms']:.1f} |",
        f"| per input frame at 30 Hz, keyframe every 0.2 s (mask / box) | "
        f"{p['per_input_frame_at_30hz_mask_ms']:.1f} / {p['per_input_frame_at_30hz_box_ms']:.1f} |",
        "",
        "| node | value |",
        "|---|---|",
        f"| CPU while idle (no input, timers only) | {r['idle']['cpu_percent']:.1f} % of a core, "
        f"RSS {r['idle']['rss_mb']:.0f} MB |",
    ]
    for name, lat in r["latency"].items():
        a, b = lat["latency_from_newest_window_frame"], lat["latency_from_completing_frame"]
        lines += [
            f"| latency, {name}: newest window frame -> /articulation | median {a['median_ms']:.0f} ms, p90 "
            f"{a['p90_ms']:.0f} ms ({a['n']} estimates) |",
            f"| latency, {name}: frame completing the window -> /articulation | median {b['median_ms']:.0f} ms, "
            f"p90 {b['p90_ms']:.0f} ms |",
            f"| node CPU at 30 Hz VGA input, {name} | {lat['node_cpu_percent_at_30hz']:.0f} % of a core |",
        ]
    m = r["max_rate"]
    steps = "; ".join(
        f"{s['published_hz']:.0f} Hz -> {100 * s['synchronised_fraction']:.0f} % synced, "
        f"{s['queue_drops']} queue drops, CPU {s['node_cpu_percent']:.0f} %"
        for s in m["steps"]
    )
    lines += [f"| maximum sustained input rate | {m['max_sustained_hz']:.0f} Hz ({steps}) |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("bench_perceive.json"), help="JSON results")
    ap.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint for the real-Estimator latency (default: the shipped one, else a tiny random one)",
    )
    ap.add_argument("--category", default="Storage1", help="data-engine category of the frames")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of each streaming run")
    ap.add_argument("--rates", type=float, nargs="+", default=[15, 30, 45, 60, 90], help="input rates to try (Hz)")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of this script)")
    ap.add_argument("--domain", type=int, default=190 + os.getpid() % 30, help="private ROS_DOMAIN_ID")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.rates = 6.0, [30.0]
    from tqdm import tqdm

    from sim2art_ros.tools.node_bench import idle_cpu, latency, max_rate

    result: dict = {"command": " ".join(["python -m sim2art_ros.tools.perceive_benchmark", *(argv or sys.argv[1:])])}
    result["machine"] = machine()
    tmp = Path(tempfile.mkdtemp(prefix="sim2art_bench_"))
    steps = tqdm(total=5, desc="perceive benchmark", unit="step")
    frames = render_frames(args.category, 10, args.width, args.height)
    steps.update()
    result["preprocessing"] = preprocessing_cost(frames, 1024, 1 if args.quick else 3)
    steps.update()
    standin = {
        "estimator": "sim2art_ros.tools.perceive_benchmark:ZeroCostEstimator",
        "estimator_kwargs": '{"num_frames": 16, "num_points": 1024}',
    }
    result["idle"] = idle_cpu(standin, args.domain, tmp / "idle.log", 5.0 if args.quick else 20.0)
    steps.update()
    checkpoint = args.checkpoint
    from sim2art_core.estimator import DEFAULT_CHECKPOINT

    if checkpoint is None and DEFAULT_CHECKPOINT.is_file():
        checkpoint, which = DEFAULT_CHECKPOINT, "shipped checkpoint"
    elif checkpoint is None:
        from sim2art_core.model import build_model, preset
        from sim2art_core.model.checkpoint import save_checkpoint

        cfg = preset("tiny", num_frames=8, num_points=256)
        checkpoint, which = save_checkpoint(tmp / "tiny.pt", build_model(cfg), cfg), "tiny random checkpoint"
    else:
        which = f"checkpoint {checkpoint.name}"
    real = {"checkpoint": str(checkpoint), "device": "auto"}
    result["latency"] = {
        "zero-cost stand-in estimator": latency(frames, standin, args.domain, tmp / "lat0.log", args.seconds, 0.2),
        f"Estimator ({which}, CPU)": latency(frames, real, args.domain, tmp / "lat1.log", args.seconds, 0.2),
    }
    steps.update()
    result["max_rate"] = max_rate(frames, standin, args.domain, tmp / "rate.log", args.rates, args.seconds / 2)
    steps.update()
    steps.close()
    result["machine"]["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=2))
    # The markdown beside the JSON is what sim2art-benchmark pastes into docs/BENCHMARKS.md (core never imports ROS).
    args.out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(markdown(result))
    print(f"\nwritten {args.out} and {args.out.with_suffix('.md')}")
    return 0


class ZeroCostEstimator:
    """A WindowEstimator that answers instantly (one static root part): isolates the node's own latency."""

    def __init__(self, checkpoint=None, device="auto", num_frames: int = 16, num_points: int = 1024):
        self.num_frames, self.num_points = int(num_frames), int(num_points)

    def estimate(self, window):
        from sim2art_core.estimate import ArticulationEstimate, PartEstimate
        from sim2art_core.types import EstimateStatus

        pts = window.points[-1][window.valid[-1]]
        root = PartEstimate(0, True, len(pts), pts.mean(0), pts.min(0), pts.max(0), 1.0)
        labels = np.where(window.valid, 0, -1).astype(np.int16)
        return ArticulationEstimate(
            EstimateStatus.NO_ARTICULATION, window.frame_id, window.stamps_ns, labels, parts=(root,),
            message="zero-cost benchmark estimator", estimator_id="benchmark:zero_cost",
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
