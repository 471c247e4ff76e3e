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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COLOR = "/camera/color/image_raw"  # the node's relative default names, in the root namespace
DEPTH = "/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/color/camera_info"
OPTICAL, LINK = "camera_color_optical_frame", "camera_link"


def machine() -> dict:
    import psutil

    from sim2art_core.eval.latency import cpu_model_name

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
        times = []
        for _ in range(repeat):
            b = WindowBuilder(cfg, "world", rng=0)
            b.add(stream[0])
            for f in stream[1:]:
                t0 = time.perf_counter()
                b.add(f)
                times.append(time.perf_counter() - t0)
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


class Bench:
    """The node in a subprocess plus a publishing/recording driver node here."""

    def __init__(self, params: dict, domain: int, log: Path):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        from tf2_msgs.msg import TFMessage

        from sim2art_ros.msg import Articulation
        from sim2art_ros.perception.node import ARTICULATION_QOS

        args = [sys.executable, "-m", "sim2art_ros.perception.node", "--ros-args", "--log-level", "warn"]
        for k, v in params.items():
            value = ("true" if v else "false") if isinstance(v, bool) else v
            args += ["-p", f"{k}:={value!r}" if isinstance(v, str) else f"{k}:={value}"]
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        self.log = log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("perceive_benchmark", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        n = self.node
        self.pubs = {
            "color": n.create_publisher(Image, COLOR, 10),
            "depth": n.create_publisher(Image, DEPTH, 10),
            "info": n.create_publisher(CameraInfo, INFO, 10),
        }
        self.pub_tf = n.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.pub_tf_static = n.create_publisher(TFMessage, "/tf_static", latched)
        self.estimates: list[tuple[float, object]] = []
        n.create_subscription(
            Articulation, "/articulation", lambda m: self.estimates.append((time.time(), m)), ARTICULATION_QOS
        )
        from diagnostic_msgs.msg import DiagnosticArray

        self.diag: dict[str, str] = {}
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._wait(
            lambda: all(p.get_subscription_count() > 0 for p in self.pubs.values()) or self.proc.poll() is not None, 120
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"the node did not start:\n{log.read_text()}")
        import psutil

        self.ps = psutil.Process(self.proc.pid)

    def _on_diag(self, arr) -> None:
        for s in arr.status:
            if s.name.startswith("sim2art_perceive"):
                self.diag.update({kv.key: kv.value for kv in s.values})

    def _wait(self, pred, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            self.ex.spin_once(timeout_sec=0.05)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def stream(self, frames, rate_hz: float, seconds: float) -> dict:
        """Publish frames (looped, fresh stamps, pose on /tf) at rate_hz; returns what was sent."""
        from tf2_msgs.msg import TFMessage

        from sim2art_core.geometry import invert_transform, make_transform
        from sim2art_ros.conversions.image_codec import (
            depth_to_image,
            intrinsics_to_camera_info,
            ns_to_stamp,
            rgb_to_image,
        )

        link_from_optical = make_transform(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
        self.pub_tf_static.publish(TFMessage(transforms=[_tf("camera_link", OPTICAL, link_from_optical, 0)]))
        sets = [
            {
                "depth": depth_to_image(f.depth, None, OPTICAL),
                "info": intrinsics_to_camera_info(f.intrinsics, None, OPTICAL),
                "color": rgb_to_image(f.rgb, None, OPTICAL),
            }
            for f in frames
        ]
        poses = [f.world_from_cam @ invert_transform(link_from_optical) for f in frames]
        sent = []
        start = time.monotonic()
        next_t, k = start, 0
        while (now := time.monotonic()) - start < seconds:
            if now >= next_t:
                # ping-pong through the rendered frames so the motion stays continuous
                cyc = 2 * len(frames) - 2
                j = k % cyc
                i = j if j < len(frames) else cyc - j
                stamp_ns = time.time_ns()
                stamp = ns_to_stamp(stamp_ns)
                self.pub_tf.publish(TFMessage(transforms=[_tf("odom", LINK, poses[i], stamp_ns)]))
                for key in ("depth", "info", "color"):
                    sets[i][key].header.stamp = stamp
                    self.pubs[key].publish(sets[i][key])
                sent.append(stamp_ns)
                k += 1
                next_t = max(next_t + 1.0 / rate_hz, now - 1.0 / rate_hz)
            self.ex.spin_once(timeout_sec=max(0.0, min(next_t - time.monotonic(), 0.005)))
        return {"sent": sent, "seconds": time.monotonic() - start}

    def close(self) -> None:
        import rclpy

        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def _tf(parent: str, child: str, T: np.ndarray, stamp_ns: int):
    from geometry_msgs.msg import TransformStamped

    from sim2art_core.geometry import quaternion_from_matrix
    from sim2art_ros.conversions.image_codec import ns_to_stamp

    t = TransformStamped()
    t.header.stamp = ns_to_stamp(stamp_ns)
    t.header.frame_id, t.child_frame_id = parent, child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in T[:3, 3])
    q = quaternion_from_matrix(T)
    t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = map(float, q)
    return t


def _stamp_ns(s) -> int:
    return int(s.sec) * 1_000_000_000 + int(s.nanosec)


def latency(frames, params: dict, domain: int, log: Path, seconds: float, period_s: float) -> dict:
    bench = Bench({**params, "rate_hz": 30.0, "keyframe_period_s": period_s}, domain, log)
    try:
        bench.spin(1.5)
        synced0 = int(float(bench.diag.get("synchronised frames", 0)))
        c0, t0 = bench.cpu_seconds(), time.monotonic()
        sent = bench.stream(frames, 30.0, seconds)
        cpu = (bench.cpu_seconds() - c0) / (time.monotonic() - t0)
        bench.spin(3.0)
        synced = int(float(bench.diag.get("synchronised frames", 0))) - synced0
    finally:
        bench.close()
    sent_arr = np.array(sent["sent"], dtype=np.int64)
    e2e, after = [], []
    statuses: dict[int, int] = {}
    for recv, msg in bench.estimates:
        statuses[msg.status] = statuses.get(msg.status, 0) + 1
        newest = _stamp_ns(msg.header.stamp)
        lat = recv - newest * 1e-9
        later = sent_arr[sent_arr >= newest + int(0.9 * period_s * 1e9)]
        e2e.append(lat)
        if len(later):
            after.append(recv - later[0] * 1e-9)
    if not e2e:
        raise RuntimeError(f"no /articulation received; node log:\n{log.read_text()}")

    def stats(v):
        v = np.asarray(v) * 1e3
        return {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)), "n": int(len(v))}

    return {
        "published_hz": len(sent["sent"]) / sent["seconds"],
        "estimates": len(e2e),
        "statuses": statuses,
        "latency_from_newest_window_frame": stats(e2e),
        "latency_from_completing_frame": stats(after),
        "node_cpu_percent_at_30hz": 100 * cpu,
        "inference_time_s": bench.diag.get("inference time (s)"),
        "preprocess_per_keyframe_ms": bench.diag.get("preprocess per keyframe (ms)"),
        "synchronised_fraction": synced / max(1, len(sent["sent"])),
    }


def idle_cpu(params: dict, domain: int, log: Path, seconds: float) -> dict:
    bench = Bench({**params, "rate_hz": 1.0}, domain, log)
    try:
        bench.spin(3.0)
        c0, t0 = bench.cpu_seconds(), time.monotonic()
        time.sleep(seconds)  # not spinning: only the node's own timers and threads run
        cpu = (bench.cpu_seconds() - c0) / (time.monotonic() - t0)
        rss = bench.ps.memory_info().rss / 1e6
    finally:
        bench.close()
    return {"cpu_percent": 100 * cpu, "rss_mb": rss, "seconds": seconds}


def max_rate(frames, params: dict, domain: int, log: Path, rates: list[float], seconds: float) -> dict:
    bench = Bench({**params, "rate_hz": 1.0}, domain, log)
    steps = []
    try:
        bench.spin(1.0)
        for rate in rates:
            d0 = dict(bench.diag)
            c0, t0 = bench.cpu_seconds(), time.monotonic()
            sent = bench.stream(frames, rate, seconds)
            bench.spin(1.5)
            cpu = (bench.cpu_seconds() - c0) / (time.monotonic() - t0)
            d1 = dict(bench.diag)
            published = len(sent["sent"]) / sent["seconds"]

            def delta(key, d0=d0, d1=d1):
                return int(float(d1.get(key, 0))) - int(float(d0.get(key, 0)))

            synced = delta("synchronised frames") / sent["seconds"]
            steps.append(
                {
                    "requested_hz": rate,
                    "published_hz": published,
                    "synchronised_hz": synced,
                    "received_fraction": delta("colour frames received") / max(1, len(sent["sent"])),
                    "synchronised_fraction": delta("synchronised frames") / max(1, len(sent["sent"])),
                    "queue_drops": delta("frames dropped (queue full)"),
                    "sync_misses": delta("sync misses"),
                    "node_cpu_percent": 100 * cpu,
                }
            )
    finally:
        bench.close()
    ok = [s for s in steps if s["synchronised_fraction"] >= 0.95 and s["queue_drops"] == 0]
    return {"steps": steps, "max_sustained_hz": max((s["published_hz"] for s in ok), default=0.0)}


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
