"""The sim2art perception node: RGB-D frames + camera poses in, articulation estimates out.

Run it here with ``sim2art-perceive --ros-args -p fixed_frame:=odom ...`` and on a robot
with ``ros2 launch sim2art_ros perceive.launch.py``; docs/NODE.md has the topics,
QoS, parameters, TF frames and diagnostics.

This file is wiring only. The work is done by:

* :mod:`~sim2art_ros.perception.inputs`: subscriptions and the approximate-time synchroniser,
  whose matched (colour, depth, camera_info[, mask]) set goes to the frame pipeline;
* :class:`~sim2art_core.runtime.frame_pipeline.FramePipeline` (no ROS): bounded frame queue,
  camera pose from TF, time jumps, keyframes, the window, the request policy and the counters,
  run on the preprocessing thread;
* :class:`~sim2art_core.runtime.inference_worker.InferenceWorker`: the estimator on the newest
  submitted window (latest-window policy); results come back to the executor through a guard
  condition and go out through the output table (:mod:`~sim2art_ros.perception.outputs`); with
  ``inference_mode: process`` (default) the estimator itself runs in a child process
  (:class:`~sim2art_core.runtime.process_estimator.ProcessEstimator`, built by ``setup_model``);
* :func:`~sim2art_core.runtime.health.node_health`: ``/diagnostics`` from a stats snapshot.

Bad input never stops the node: every decode error, size mismatch, missing pose,
rejected frame and failed inference is logged (throttled), counted and shown on
``/diagnostics``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from sim2art_core.runtime.cpu_affinity import CpuSplit, allowed_cpus, pin_process, split_cpus
from sim2art_core.runtime.estimator_loader import setup_model
from sim2art_core.runtime.frame_pipeline import FramePipeline, PipelineConfig, ResetEvent, run_estimator
from sim2art_core.runtime.health import HealthSnapshot, node_health
from sim2art_core.runtime.inference_worker import InferenceWorker
from sim2art_core.runtime.latency import LatencyTrace
from sim2art_core.runtime.process_estimator import ProcessEstimator
from sim2art_core.tracking import ObjectModel
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window
from sim2art_ros.conversions.image_codec import frame_from_messages, has_distortion, ns_to_stamp, stamp_to_ns
from sim2art_ros.conversions.markers import delete_all_markers
from sim2art_ros.perception.diagnostics import estimator_name, snapshot_of, to_array
from sim2art_ros.perception.inputs import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, MASK_TOPIC, CameraInputs, subscribe_tf
from sim2art_ros.perception.outputs import ARTICULATION_QOS, ARTICULATION_TOPIC, Outputs, PublishContext
from sim2art_ros.perception.params import (
    check_choices,
    declare_all,
    object_model_config,
    preprocess_config,
    unknown_parameters,
)
from sim2art_ros.perception.tf_buffer import Tf2RosLookup, TfBuffer, tf2_ros_available
from sim2art_ros.perception.twin import DigitalTwin
from sim2art_ros.spin import spin_until_shutdown

# the topic names and QoS the tools and tests import from here
__all__ = ["ARTICULATION_QOS", "ARTICULATION_TOPIC", "COLOR_TOPIC", "DEPTH_TOPIC", "INFO_TOPIC", "MASK_TOPIC"]
__all__ += ["NODE_NAME", "PerceiveNode", "main"]
NODE_NAME = "sim2art_perceive"
#: Fallback window size when no estimator could be loaded (preprocessing still runs).
FALLBACK_FRAMES, FALLBACK_POINTS = 16, 1024


class PerceiveNode(Node):
    """The perception node (module doc). ``estimator`` overrides the ``estimator`` parameter (tests)."""

    def __init__(self, estimator=None, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        p = self.p = declare_all(self)
        check_choices(p)
        # rclpy keeps every -p / params-file value for this node here, declared or not (no public accessor)
        for warning in unknown_parameters(set(self._parameter_overrides)):
            self.get_logger().warning(warning)
        split = cpu_split(p, injected=estimator is not None)
        model = setup_model(p, estimator, split.estimator)
        self.estimator, self.features, self.estimator_error = model.estimator, model.features, model.error
        if self.estimator_error:
            self.get_logger().error(f"no inference: {self.estimator_error}")
        self.node_cpus = self._pin(split)
        num_frames = p["num_frames"] or getattr(self.estimator, "num_frames", FALLBACK_FRAMES)
        num_points = p["num_points"] or getattr(self.estimator, "num_points", FALLBACK_POINTS)
        self.pre_cfg = preprocess_config(p, num_frames, num_points)
        self.fixed_frame, self.object_id = p["fixed_frame"], p["object_id"]
        self._results: deque = deque(maxlen=4)
        self._last_tf: list = []
        self._warned_distortion = False
        self._stop = threading.Event()

        # ---- camera poses
        self.tf_backend, self.tf = "static_camera", None
        if not p["static_camera"]:
            if p["use_tf2_ros"] and tf2_ros_available():
                self.tf, self.tf_backend = Tf2RosLookup(self), "tf2_ros"
            else:
                self.tf, self.tf_backend = TfBuffer(), "builtin"
                subscribe_tf(self, self.tf)

        # ---- the ROS-free frame pipeline and the inference thread
        self.worker = InferenceWorker(self._infer, self._on_worker_error, name="sim2art_inference")
        cfg = PipelineConfig(
            preprocess=self.pre_cfg, fixed_frame=self.fixed_frame, queue_size=p["frame_queue_size"],
            rate_hz=p["rate_hz"], busy_policy=p["busy_policy"], tf_timeout_s=p["tf_timeout_s"],
            time_jump_back_s=p["time_jump_back_s"], time_jump_forward_s=p["time_jump_forward_s"], seed=p["seed"],
            preprocess_niceness=p["preprocess_niceness"], busy_keyframe_hold_s=p["busy_keyframe_hold_s"],
        )  # fmt: skip
        self.pipeline = FramePipeline(
            cfg, self._describe, self._decode, lambda w, trace: self.worker.submit((w, trace)),
            poses=self.tf, warn=self.get_logger().warning, features=self.features,
            busy=lambda: self.worker.busy or self.worker.pending > 0,
            in_flight=self._estimate_in_flight,
            stamp_clock=lambda: self.get_clock().now().nanoseconds,
        )  # fmt: skip
        if self.estimator is None:
            self.pipeline.blocked = f"no estimator: {self.estimator_error}"
        self.stats = self.pipeline.stats

        # ---- inputs and outputs
        self.inputs = CameraInputs(self, p, lambda *msgs: self.pipeline.offer(msgs))
        self.outputs = Outputs(self)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pipeline.on_reset += [self.inputs.reset, lambda _e: self.worker.clear(), self._clear_poses]
        # the object model fused over windows (publish_mode fused): what the outputs carry; cleared by
        # ~/reset and time jumps (on_reset runs on the preprocessing thread, hence the lock)
        self.object_model = ObjectModel(object_model_config(p)) if p["publish_mode"] == "fused" else None
        if p["publish_mode"] == "window" and p["planner_joints"] == "confirmed":
            # one window is a hypothesis (confirmed false on /articulation): no joint becomes a fact
            self.get_logger().warning(
                "publish_mode 'window' confirms no joint: /tf, ~/joint_states and ~/robot_description present "
                "none as movable (planner_joints 'all' shows every window's joints; markers show them greyed)"
            )
        self._model_lock = threading.Lock()
        self.pipeline.on_reset.append(self._reset_model)

        # ---- threads, services, timers
        ctl = MutuallyExclusiveCallbackGroup()  # services, timers and publishing: one at a time
        self._results_gc = self.create_guard_condition(self._publish_results, callback_group=ctl)
        self._pre_thread = threading.Thread(
            target=self.pipeline.run, args=(self._stop,), name="sim2art_preprocess", daemon=True
        )
        self._pre_thread.start()
        self.create_service(Trigger, "~/trigger", self._on_trigger, callback_group=ctl)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=ctl)
        # ~/robot_description + ~/save_urdf: exported on the twin's own thread (not an Outputs entry: 0.05-0.3 s)
        self.twin = (
            DigitalTwin(
                self,
                self.object_id,
                p["urdf_folder"],
                ctl,
                p["robot_description_niceness"],
                p["robot_description_min_period_s"],
                p["planner_joints"],
            )
            if p["publish_robot_description"]
            else None
        )
        if self.twin is not None:
            self.pipeline.on_reset.append(self.twin.reset)
        if p["rate_hz"] > 0:
            self.create_timer(1.0 / p["rate_hz"], self.pipeline.on_rate_timer, callback_group=ctl)
        if p["tf_republish_hz"] > 0:
            self.create_timer(1.0 / p["tf_republish_hz"], self._republish_tf, callback_group=ctl)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics, callback_group=ctl)
        self.get_logger().info(
            f"ready: T={num_frames} N={num_points}, fixed frame '{self.fixed_frame}', poses from {self.tf_backend}, "
            f"sync by {self.inputs.backend}, estimator "
            f"{estimator_name(self.estimator) if self.estimator is not None else 'NONE'}"
        )

    def _pin(self, split: CpuSplit) -> tuple[int, ...]:
        """Every thread of this process onto the node's CPUs once the child runs on its own; the CPUs, or ()."""
        if split.note:
            self.get_logger().warning(split.note)
        if not split.node or not isinstance(self.estimator, ProcessEstimator):
            return ()
        pin_process(split.node)
        self.get_logger().info(f"estimator child on CPUs {list(self.estimator.cpus)}, node on {sorted(split.node)}")
        return tuple(sorted(split.node))

    # ------------------------------------------------------------------ frame pipeline callbacks
    @staticmethod
    def _describe(msgs) -> tuple[int, str]:
        return stamp_to_ns(msgs[0].header.stamp), msgs[0].header.frame_id

    def _decode(self, msgs, stamp_ns: int, pose: np.ndarray):
        color, depth, info, mask = (*msgs, None)[:4]
        if has_distortion(info) and not self._warned_distortion:
            self._warned_distortion = True  # once: the images are used as rectified (K only)
            self.get_logger().warning(
                f"camera_info has distortion {list(info.d)} ({info.distortion_model}): sim2art assumes rectified "
                "images (K only); remap the rectified image topics (image_proc) if these are raw"
            )
        return frame_from_messages(color, depth, info, mask, stamp_ns, pose)

    def _clear_poses(self, event: ResetEvent) -> None:
        """Camera-pose history: all of it on ~/reset, what lies on the old time line on a jump."""
        if self.tf is None:
            return
        if event.stamp_ns is None:
            self.tf.clear()
        else:
            r = int(self.p["time_jump_back_s"] * 1e9)
            self.tf.clear(keep_between_ns=(event.stamp_ns - r, event.stamp_ns + r))

    def _reset_model(self, _event: ResetEvent | None = None) -> None:
        if self.object_model is not None:
            with self._model_lock:
                self.object_model.reset()

    # ------------------------------------------------------------------ services
    def _on_trigger(self, request, response):
        response.success, response.message = self.pipeline.request(forced=True)
        return response

    def _on_reset(self, request, response):
        self.pipeline.reset()
        self._last_tf = []
        if self.p["publish_markers"]:
            self.outputs.publishers["markers"].publish(
                delete_all_markers(Header(frame_id=self.pipeline.builder.frame_id))
            )
        response.success = True
        response.message = "window, queued frames, last stamp, camera poses, pending inference and fused model cleared"
        return response

    # ------------------------------------------------------------------ inference thread
    def _infer(self, job) -> None:
        window, timing = job
        started = time.monotonic()
        est, trace = run_estimator(self.estimator, window)
        returned = time.monotonic()
        if trace:
            self.stats.count("inference_errors")
            why = est.message.removeprefix("inference error: ")
            self.pipeline.report("inference", f"inference failed: {why}", trace)
        # a child process says when it had the window and when its estimate was done; in a thread: now
        received, estimated = getattr(self.estimator, "last_times", None) or (started, returned)
        timing = timing.mark("started", started).mark("received", received).mark("estimated", estimated)
        self.stats.set("inference_s", returned - started)
        self.stats.set("queue_wait_s", started - (timing.time_of("submitted") or started))
        self._results.append((window, est, timing.mark("returned", returned)))
        self._results_gc.trigger()

    def _on_worker_error(self, e: BaseException) -> None:
        self.stats.count("inference_errors")
        self.pipeline.report("inference", f"inference worker error: {e!r}")

    # ------------------------------------------------------------------ outputs (executor thread)
    def _publish_results(self) -> None:
        while self._results:
            self._publishing = True  # before the pop: _estimate_in_flight never sees a gap
            try:
                self._publish(*self._results.popleft())
            finally:
                self._publishing = False

    _publishing = False

    def _estimate_in_flight(self) -> bool:
        """An estimate is running, waiting or done and not yet published (``busy_keyframe_hold_s``)."""
        return self.worker.busy or self.worker.pending > 0 or bool(self._results) or self._publishing

    def _publish(self, window: Window, est, timing: LatencyTrace | None = None) -> None:
        timing = (timing or LatencyTrace()).mark("handed")
        self.stats.count(f"estimates_{est.status.name.lower()}")
        if est.status == EstimateStatus.FAILED and est.message:
            self.stats.error(est.message)
        window_status = est.status
        if self.object_model is not None and window_status != EstimateStatus.FAILED:
            # never raises; a FAILED window stays FAILED on /articulation (status says why) and leaves the model
            with self._model_lock:
                est = self.object_model.update(est, window.points)  # points: long-baseline joint states
        timing = timing.mark("fused")
        header = Header(stamp=ns_to_stamp(int(window.stamps_ns[-1])), frame_id=est.frame_id)
        sent = self.outputs.publish(PublishContext(est, window, self.object_id, header, self.p))
        self._record(timing.mark("published"))
        self.stats.set("latency_s", (self.get_clock().now().nanoseconds - int(window.stamps_ns[-1])) * 1e-9)
        self.stats.set("last_status", est.status.name)
        if est.status != EstimateStatus.FAILED:  # a FAILED estimate keeps the last good joint frames
            self._last_tf = list(sent["tf"].transforms) if "tf" in sent else []
        if self.twin is not None:
            self.twin.update(window, est)  # ignores FAILED (the last good URDF stays)

    def _record(self, timing: LatencyTrace) -> None:
        """The window's stage durations into the rolling medians of ``/diagnostics`` ("latency breakdown")."""
        for stage, seconds in timing.durations().items():
            self.stats.timing(stage, seconds)
        if timing.transport_s == timing.transport_s:  # not NaN
            self.stats.timing("transport", timing.transport_s)

    def _republish_tf(self) -> None:
        if not self._last_tf:
            return
        stamp = self.get_clock().now().to_msg()
        for t in self._last_tf:
            t.header.stamp = stamp
        self.outputs.publishers["tf"].publish(TFMessage(transforms=self._last_tf))

    # ------------------------------------------------------------------ diagnostics
    def health_snapshot(self) -> HealthSnapshot:
        return snapshot_of(self)

    def diagnostics(self) -> DiagnosticArray:
        """The node's DiagnosticArray (inputs, window, inference)."""
        statuses = node_health(self.health_snapshot())
        return to_array(statuses, NODE_NAME, f"sim2art:{self.object_id}", self.get_clock().now().to_msg())

    def _publish_diagnostics(self) -> None:
        self.pub_diagnostics.publish(self.diagnostics())

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Stop the worker threads (call before destroy_node)."""
        self._stop.set()
        self.pipeline.wake()
        self._pre_thread.join(timeout=5.0)
        if hasattr(self.estimator, "close"):  # a ProcessEstimator: ends its child (and a running estimate)
            self.estimator.close()
        self.worker.stop(timeout=10.0)
        if self.twin is not None:
            self.twin.close()


def cpu_split(p: dict, injected: bool = False) -> CpuSplit:
    """``estimator_cpus`` within the CPUs this process may use (only the estimator child can be pinned)."""
    if str(p["estimator_cpus"]).strip() == "none":
        return CpuSplit()
    if injected or p["inference_mode"] != "process":
        return CpuSplit(note="estimator_cpus ignored: it pins the estimator child of inference_mode 'process'")
    return split_cpus(p["estimator_cpus"], allowed_cpus(), p["torch_threads"])


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``sim2art-perceive`` / ``ros2 run sim2art_ros perceive_node``."""
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()  # loopback discovery + our Fast DDS profile unless the user set them
    # OpenMP threads that spin while waiting steal the CPU from the node's other threads (and other
    # processes); must be set before torch is imported (the estimator imports it).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv if argv is None else argv
    try:
        rclpy.init(args=argv)
    except Exception as e:  # e.g. a -p value that is not valid YAML
        print(f"sim2art_perceive: cannot start: {e}", file=sys.stderr)
        return 2
    node = None
    try:
        node = PerceiveNode()
    except Exception as e:  # bad parameters: a clear message, exit code 2
        print(f"sim2art_perceive: {type(e).__name__}: {e}", file=sys.stderr)
        if rclpy.ok():
            rclpy.shutdown()
        return 2
    # One executor thread is enough (callbacks only queue work; the heavy work has its own threads)
    # and costs about half the CPU of rclpy's MultiThreadedExecutor at 30 Hz VGA input (13 % vs 23 %).
    return spin_until_shutdown(node, executor=SingleThreadedExecutor(), close=node.close)


if __name__ == "__main__":
    sys.exit(main())
