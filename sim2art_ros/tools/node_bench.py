"""The perception node under load, for the benchmark (docs/NODE.md "Performance").

:class:`Bench` starts the node as in deployment (``python -m sim2art_ros.perception.node``) in its own
process on a private ROS domain and drives it from a node here that publishes camera images,
camera_info and TF like a camera driver and a robot would; :func:`latency`, :func:`idle_cpu` and
:func:`max_rate` are the three node measurements of ``sim2art_ros.tools.perceive_benchmark``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sim2art_core.runtime.latency import parse_breakdown
from sim2art_ros.bags.writer import transform_message
from sim2art_ros.conversions.image_codec import stamp_to_ns

ROOT = Path(__file__).resolve().parents[2]
COLOR = "/camera/color/image_raw"  # the node's relative default names, in the root namespace
DEPTH = "/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/color/camera_info"
OPTICAL, LINK = "camera_color_optical_frame", "camera_link"


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

    def _tree(self) -> list:
        """The node's process and its live children (the estimator process in process mode)."""
        import psutil

        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return [self.ps]

    def cpu_seconds(self) -> float:
        """CPU time of the node and of its live children (inference_mode: process)."""
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # a child that just exited
                pass
        return total

    def rss_mb(self) -> dict:
        """Resident memory of the node and of its children (MB)."""
        out = {"node": self.ps.memory_info().rss / 1e6, "children": 0.0}
        for p in self._tree()[1:]:
            try:
                out["children"] += p.memory_info().rss / 1e6
            except Exception:
                pass
        return out

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
        mount = transform_message(LINK, OPTICAL, link_from_optical, 0)
        self.pub_tf_static.publish(TFMessage(transforms=[mount]))
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
                self.pub_tf.publish(TFMessage(transforms=[transform_message("odom", LINK, poses[i], stamp_ns)]))
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


def latency(frames, params: dict, domain: int, log: Path, seconds: float, period_s: float) -> dict:
    bench = Bench({**params, "rate_hz": 30.0, "keyframe_period_s": period_s}, domain, log)
    try:
        bench.spin(1.5)
        synced0 = int(float(bench.diag.get("synchronised frames", 0)))
        c0, t0 = bench.cpu_seconds(), time.monotonic()
        sent = bench.stream(frames, 30.0, seconds)
        cpu = (bench.cpu_seconds() - c0) / (time.monotonic() - t0)
        rss = bench.rss_mb()
        bench.spin(3.0)
        synced = int(float(bench.diag.get("synchronised frames", 0))) - synced0
    finally:
        bench.close()
    sent_arr = np.array(sent["sent"], dtype=np.int64)
    e2e, after = [], []
    statuses: dict[int, int] = {}
    for recv, msg in bench.estimates:
        statuses[msg.status] = statuses.get(msg.status, 0) + 1
        newest = stamp_to_ns(msg.header.stamp)
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
        "rss_mb": rss,
        "inference_time_s": bench.diag.get("inference time (s)"),
        "preprocess_per_keyframe_ms": bench.diag.get("preprocess per keyframe (ms)"),
        # the node's own medians per stage (sim2art_core.runtime.latency), from /diagnostics
        "breakdown_ms": parse_breakdown(bench.diag.get("latency breakdown (ms, median)", "")),
        "windows_dropped": int(float(bench.diag.get("windows dropped (busy)", 0))),
        "windows_skipped": int(float(bench.diag.get("windows skipped (busy)", 0))),
        "frames_dropped_queue": int(float(bench.diag.get("frames dropped (queue full)", 0))),
        "keyframes_held": int(float(bench.diag.get("keyframes held (estimate in flight)", 0))),
        "synchronised_fraction": synced / max(1, len(sent["sent"])),
    }


def idle_cpu(params: dict, domain: int, log: Path, seconds: float) -> dict:
    bench = Bench({**params, "rate_hz": 1.0}, domain, log)
    try:
        bench.spin(3.0)
        c0, t0 = bench.cpu_seconds(), time.monotonic()
        time.sleep(seconds)  # not spinning: only the node's own timers and threads run
        cpu = (bench.cpu_seconds() - c0) / (time.monotonic() - t0)
        rss = bench.rss_mb()
    finally:
        bench.close()
    return {"cpu_percent": 100 * cpu, "rss_mb": rss["node"] + rss["children"], "rss": rss, "seconds": seconds}


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
