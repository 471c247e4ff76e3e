"""The sim2art perception node: RGB-D frames + camera poses in, articulation estimates out.

Run it here with ``sim2art-perceive --ros-args -p fixed_frame:=odom ...`` and on a robot
with ``ros2 launch sim2art_ros perceive.launch.py``; docs/NODE.md has the topics,
QoS, parameters, TF frames and diagnostics.

Threads (callbacks never block):

* executor (one thread): subscriptions decode nothing; they feed the approximate-time
  synchroniser, whose matched (colour, depth, camera_info[, mask]) set goes into a
  bounded frame queue (oldest dropped, counted). Timers, services and publishing
  also run here.
* preprocessing thread: camera pose from TF at the image stamp (waits up to
  ``tf_timeout_s``; a frame without a pose is dropped and counted), keyframe
  pre-check from stamp and pose, decoding, and ``WindowBuilder.add`` (object points,
  optical/scene flow). Each completed window is stored as "the newest window".
* inference thread (:class:`~sim2art_core.runtime.inference_worker.InferenceWorker`): the
  estimator on the newest window submitted by the rate timer or the ``~/trigger``
  service (latest-window policy, drops counted). Results go back to the executor
  through a guard condition and are published there.

Bad input never stops the node: every decode error, size mismatch, missing pose,
rejected frame and failed inference is logged (throttled), counted and shown on
``/diagnostics``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.frames import RGBDFrame
from sim2art_core.preprocess import WindowBuilder
from sim2art_core.preprocess import window_builder as wb
from sim2art_core.runtime.estimator_loader import EstimatorLoadError, load_estimator
from sim2art_core.runtime.inference_worker import InferenceWorker
from sim2art_core.runtime.sync import ApproximateSync
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window
from sim2art_ros.conversions.articulation import estimate_to_msg, joint_state_msg, joint_transforms, moving_joints
from sim2art_ros.conversions.image_codec import (
    ImageDecodeError,
    camera_info_to_intrinsics,
    image_to_depth,
    image_to_mask,
    image_to_rgb,
    ns_to_stamp,
    stamp_to_ns,
)
from sim2art_ros.conversions.markers import delete_all_markers, estimate_markers, segmented_cloud
from sim2art_ros.msg import Articulation
from sim2art_ros.perception import diagnostics as diag
from sim2art_ros.perception.params import check_choices, declare_all, preprocess_config
from sim2art_ros.perception.tf_buffer import Tf2RosLookup, TfBuffer, TransformUnavailable, tf2_ros_available
from sim2art_ros.spin import spin_until_shutdown

NODE_NAME = "sim2art_perceive"

# Input names are relative (the image_pipeline convention), so a node namespace applies; remap them
# (``-r camera/color/image_raw:=/my/rgb``). launch/perceive.launch.py remaps them to realsense-ros 4.x
# with align_depth.enable:=true (/camera/camera/...), and the bag tools to the bag's BagLayout.
COLOR_TOPIC = "camera/color/image_raw"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
MASK_TOPIC = "object_mask"
ARTICULATION_TOPIC = "articulation"

#: Without synchronised frames for this long while colour images arrive, diagnostics warn.
SYNC_STALL_S = 3.0
#: Fallback window size when no estimator could be loaded (preprocessing still runs).
FALLBACK_FRAMES, FALLBACK_POINTS = 16, 1024

ARTICULATION_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)  # tf2_ros' broadcaster/listener
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class PerceiveNode(Node):
    """The perception node (module doc). ``estimator`` overrides the ``estimator`` parameter (tests)."""

    def __init__(self, estimator=None, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        p = self.p = declare_all(self)
        check_choices(p)
        self.stats = diag.Stats()
        self.rates = {k: diag.RateMeter() for k in ("color", "depth", "info", "mask", "synced", "keyframes")}
        self._throttle: dict[str, float] = {}

        # ---- estimator (a failure keeps the node up, with an ERROR diagnostic)
        self.estimator = estimator
        self.estimator_error = ""
        if self.estimator is None:
            try:
                self.estimator = load_estimator(p["estimator"], p["checkpoint"], p["device"], p["estimator_kwargs"])
            except EstimatorLoadError as e:
                self.estimator_error = str(e)
                self.get_logger().error(f"no inference: {e}")
        self._limit_torch_threads(p["torch_threads"])
        num_frames = p["num_frames"] or getattr(self.estimator, "num_frames", FALLBACK_FRAMES)
        num_points = p["num_points"] or getattr(self.estimator, "num_points", FALLBACK_POINTS)
        self.pre_cfg = preprocess_config(p, num_frames, num_points)
        self.fixed_frame = p["fixed_frame"]
        self.object_id = p["object_id"]
        self.features = self._make_features()
        self.builder = WindowBuilder(self.pre_cfg, self.fixed_frame, rng=p["seed"], features=self.features)

        # ---- state shared between threads
        self._frames: deque = deque()
        self._frames_cond = threading.Condition()
        self._window_lock = threading.Lock()
        self._newest: tuple[int, Window] | None = None  # (builder version, window)
        self._submitted_version = -1
        self._last_submit = -1e9
        self._request_lock = threading.Lock()
        self._reset_requested = threading.Event()
        self._stop = threading.Event()
        self._results: deque = deque(maxlen=4)
        self._last_tf: list = []
        self._last_estimate: ArticulationEstimate | None = None
        self._camera_frame = ""
        self._warned_distortion = False

        # ---- publishers
        self.pub_articulation = self.create_publisher(Articulation, ARTICULATION_TOPIC, ARTICULATION_QOS)
        self.pub_tf = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_points = self.create_publisher(PointCloud2, "~/points", 5)
        self.pub_joint_states = self.create_publisher(JointState, "~/joint_states", 10)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        # ---- camera poses
        self.tf_backend = "static_camera"
        self.tf = None
        if not p["static_camera"]:
            if p["use_tf2_ros"] and tf2_ros_available():
                self.tf, self.tf_backend = Tf2RosLookup(self), "tf2_ros"
            else:
                self.tf, self.tf_backend = TfBuffer(), "builtin"
                tf_group = ReentrantCallbackGroup()
                self.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS, callback_group=tf_group)
                self.create_subscription(
                    TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS, callback_group=tf_group
                )

        # ---- camera inputs, synchronised
        self._make_inputs()

        # ---- workers, services, timers
        self.worker = InferenceWorker(self._infer, self._on_worker_error, name="sim2art_inference")
        ctl = MutuallyExclusiveCallbackGroup()  # services, timers and publishing: one at a time
        self._results_gc = self.create_guard_condition(self._publish_results, callback_group=ctl)
        self._pre_thread = threading.Thread(target=self._preprocess_loop, name="sim2art_preprocess", daemon=True)
        self._pre_thread.start()
        self.create_service(Trigger, "~/trigger", self._on_trigger, callback_group=ctl)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=ctl)
        if p["rate_hz"] > 0:
            self.create_timer(1.0 / p["rate_hz"], self._on_rate_timer, callback_group=ctl)
        if p["tf_republish_hz"] > 0:
            self.create_timer(1.0 / p["tf_republish_hz"], self._republish_tf, callback_group=ctl)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics, callback_group=ctl)
        self._started = time.monotonic()
        self.get_logger().info(
            f"ready: T={num_frames} N={num_points}, fixed frame '{self.fixed_frame}', poses from {self.tf_backend}, "
            f"sync by {self.sync_backend}, estimator "
            f"{type(self.estimator).__name__ if self.estimator is not None else 'NONE'}"
        )

    def _limit_torch_threads(self, n: int) -> None:
        """Cap torch's intra-op threads when the estimator uses torch (0: leave torch's default).

        The node already runs the executor, the preprocessing (OpenCV) and the inference threads;
        torch's OpenMP pool on top oversubscribes a small CPU, and spin-waiting OpenMP threads then
        make inference 30-70x slower (tiny model on this 2-core machine under load: 2.2 s with
        2 threads, 0.03 s with 1).
        """
        if n > 0 and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(n))

    def _make_features(self):
        """The per-point image feature extractor when ``image_features`` names a local model (else None).

        A checkpoint trained with image features needs one: without it every inference would fail,
        so the node says so at start (ERROR diagnostic) instead.
        """
        p = self.p
        need = int(getattr(getattr(self.estimator, "model_config", None), "image_feature_dim", 0) or 0)
        if not p["image_features"]:
            if need:
                self.estimator_error = (
                    f"the checkpoint needs {need}-d image features: set image_features to the local ViT directory"
                )
                self.get_logger().error(self.estimator_error)
                self.estimator = None
            return None
        try:
            from sim2art_core.estimator import resolve_device
            from sim2art_core.features import ViTPatchFeatures

            extractor = ViTPatchFeatures(
                p["image_features"], short_side=p["image_features_short_side"], device=str(resolve_device(p["device"]))
            )
        except Exception as e:  # a missing directory or a model transformers cannot load
            self.estimator_error = f"image features from '{p['image_features']}' unavailable: {e}"
            self.get_logger().error(self.estimator_error)
            self.estimator = None
            return None
        if need and extractor.dim != need:
            self.estimator_error = f"image features are {extractor.dim}-d, the checkpoint needs {need}-d"
            self.get_logger().error(self.estimator_error)
            self.estimator = None
        return extractor

    # ------------------------------------------------------------------ inputs
    def _make_inputs(self) -> None:
        p = self.p
        qos = QoSProfile(
            depth=p["input_queue_depth"],
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE
            if p["input_reliability"] == "reliable"
            else qos_profile_sensor_data.reliability,
        )
        topics = [("color", Image, COLOR_TOPIC), ("depth", Image, DEPTH_TOPIC), ("info", CameraInfo, INFO_TOPIC)]
        if p["use_mask"]:
            topics.append(("mask", Image, MASK_TOPIC))
        group = ReentrantCallbackGroup()
        self.color_topic = self.resolve_topic_name(COLOR_TOPIC)
        self.sync_backend = "builtin"
        mf = None
        if p["use_message_filters"]:
            try:
                import message_filters as mf
            except ImportError:
                mf = None
        if mf is not None:
            self.sync_backend = "message_filters"
            subs = [mf.Subscriber(self, t, name, qos_profile=qos, callback_group=group) for _, t, name in topics]
            for (key, _, _), sub in zip(topics, subs, strict=True):
                sub.registerCallback(lambda _m, k=key: self.rates[k].tick())
            self._mf_sync = mf.ApproximateTimeSynchronizer(subs, p["sync_queue_size"], p["sync_slop_s"])
            self._mf_sync.registerCallback(self._on_synced)
            self.sync = None
            return
        self.sync = ApproximateSync(len(topics), p["sync_queue_size"], p["sync_slop_s"], self._on_synced)
        for i, (key, mtype, name) in enumerate(topics):

            def cb(msg, i=i, key=key):
                self.rates[key].tick()
                self.sync.add(i, msg)

            self.create_subscription(mtype, name, cb, qos, callback_group=group)

    def _on_tf(self, msg: TFMessage) -> None:
        self.tf.ingest(msg.transforms, static=False)

    def _on_tf_static(self, msg: TFMessage) -> None:
        self.tf.ingest(msg.transforms, static=True)

    def _on_synced(self, *msgs) -> None:
        """A matched (colour, depth, info[, mask]) set: queue it for the preprocessing thread."""
        self.rates["synced"].tick()
        with self._frames_cond:
            if len(self._frames) >= self.p["frame_queue_size"]:
                self._frames.popleft()
                self.stats.count("frames_dropped_queue")
            self._frames.append(msgs)
            self._frames_cond.notify()

    # ------------------------------------------------------------------ preprocessing thread
    def _preprocess_loop(self) -> None:
        while not self._stop.is_set():
            with self._frames_cond:
                self._frames_cond.wait_for(lambda: self._frames or self._stop.is_set(), timeout=0.5)
                item = self._frames.popleft() if self._frames else None
            if self._reset_requested.is_set():
                self._reset_requested.clear()
                self.builder.reset()
                with self._window_lock:  # a window completed while the reset was requested is stale too
                    self._newest = None
            if item is None:
                continue
            try:
                self._preprocess(*item)
            except Exception as e:  # a bug must not kill the thread: count it and go on
                self.stats.count("preprocess_errors")
                self._report("preprocess", f"preprocessing failed: {type(e).__name__}: {e}", traceback.format_exc())

    def _pose(self, camera_frame: str, stamp_ns: int) -> np.ndarray | None:
        if self.tf is None:
            return np.eye(4)
        try:
            return self.tf.wait_for(self.fixed_frame, camera_frame, stamp_ns, self.p["tf_timeout_s"])
        except TransformUnavailable as e:
            self.stats.count("frames_dropped_tf")
            self._report("tf", f"frame dropped, no camera pose: {e}")
            return None

    def _preprocess(self, color: Image, depth: Image, info: CameraInfo, mask: Image | None = None) -> None:
        stamp = stamp_to_ns(color.header.stamp)
        camera_frame = color.header.frame_id.lstrip("/")
        if not camera_frame and self.tf is not None:
            self.stats.count("frames_rejected_no_frame_id")
            self._report("frame_id", "colour image without header.frame_id: cannot look up its pose")
            return
        out_frame = camera_frame if self.tf is None else self.fixed_frame
        if out_frame != self.builder.frame_id:
            self.builder.reset()
            self.builder.frame_id = out_frame
        if self._camera_frame and camera_frame != self._camera_frame:
            self._report("frame_id", f"camera frame changed from '{self._camera_frame}' to '{camera_frame}'")
        self._camera_frame = camera_frame
        last = self.builder.last_stamp_ns
        if last is not None and stamp <= last:
            self._reject(wb.REJECTED_STAMP, f"stamp {stamp} ns is not after the last frame's {last} ns")
            return
        pose = self._pose(camera_frame, stamp)
        if pose is None:
            return
        skip = self.builder.precheck(stamp, pose)
        if skip is not None:
            self.stats.count(f"frames_{skip}")
            return
        try:
            frame = self._decode(color, depth, info, mask, stamp, pose)
        except ImageDecodeError as e:
            self._reject("decode_error", str(e))
            return
        t0 = time.perf_counter()
        result = self.builder.add(frame)
        dt = time.perf_counter() - t0
        if result.outcome != wb.NOT_KEYFRAME:
            self.stats.set("preprocess_ms", 1e3 * dt)
        if result.restarted:
            self.stats.count("window_restarts")
        if result.outcome == wb.KEYFRAME:
            self.rates["keyframes"].tick()
            self.stats.count("keyframes")
        elif result.outcome != wb.NOT_KEYFRAME:
            self._reject(result.outcome, result.reason)
        else:
            self.stats.count(f"frames_{result.outcome}")
        if result.completed and self.builder.ready:
            window = self.builder.window()
            with self._window_lock:
                self._newest = (self.builder.version, window)
            if self._rate_allows():  # continuous mode: start at once instead of waiting for the timer
                self._request(forced=False)

    def _decode(self, color, depth, info, mask, stamp: int, pose: np.ndarray) -> RGBDFrame:
        """Messages -> RGBDFrame; raises ImageDecodeError naming the problem."""
        rgb = image_to_rgb(color)
        d = image_to_depth(depth)
        if d.shape != rgb.shape[:2]:
            raise ImageDecodeError(
                f"depth {d.shape[1]}x{d.shape[0]} does not match colour {rgb.shape[1]}x{rgb.shape[0]} "
                "(depth must be registered to colour: align_depth.enable:=true)"
            )
        intr = camera_info_to_intrinsics(info)
        if any(abs(float(c)) > 1e-9 for c in info.d) and not self._warned_distortion:
            self._warned_distortion = True  # once: the images are used as rectified (K only)
            self.get_logger().warning(
                f"camera_info has distortion {list(info.d)} ({info.distortion_model}): sim2art assumes rectified "
                "images (K only); remap the rectified image topics (image_proc) if these are raw"
            )
        if (intr.width, intr.height) != (rgb.shape[1], rgb.shape[0]):
            raise ImageDecodeError(
                f"camera_info is for {intr.width}x{intr.height}, colour image is {rgb.shape[1]}x{rgb.shape[0]}"
            )
        m = None
        if mask is not None:
            m = image_to_mask(mask)
            if m.shape != rgb.shape[:2]:
                raise ImageDecodeError(f"mask {m.shape[1]}x{m.shape[0]} does not match colour image")
        return RGBDFrame(rgb=rgb, depth=d, intrinsics=intr, world_from_cam=pose, stamp_ns=stamp, mask=m)

    def _reject(self, reason: str, detail: str) -> None:
        self.stats.count(f"frames_rejected_{reason}")
        self._report(reason, f"frame rejected ({reason}): {detail}")

    # ------------------------------------------------------------------ triggers
    def _request(self, forced: bool) -> tuple[bool, str]:
        """Submit the newest window to the inference thread (called from the executor and the
        preprocessing thread; serialised by a lock)."""
        if self.estimator is None:
            return False, f"no estimator: {self.estimator_error}"
        with self._request_lock:
            with self._window_lock:
                newest = self._newest
            if newest is None:
                return False, (
                    f"window not full yet: {self.builder.num_entries}/{self.pre_cfg.num_frames} frames "
                    f"(+1 for the last flow)"
                )
            version, window = newest
            if not forced and version == self._submitted_version:
                return False, "no new keyframe since the last inference"
            self._submitted_version = version
            self._last_submit = time.monotonic()
            if self.worker.submit((window, self._last_submit)):
                self.stats.count("windows_dropped")
        return True, f"queued the window ending at {window.stamps_ns[-1]} ns ({window.num_frames} frames)"

    def _rate_allows(self) -> bool:
        """Continuous mode: at most rate_hz submissions a second (10 % slack for timer jitter)."""
        rate = self.p["rate_hz"]
        return rate > 0 and time.monotonic() - self._last_submit >= 0.9 / rate

    def _on_rate_timer(self) -> None:
        # catches windows completed too soon after the previous submission (see _preprocess)
        if self._rate_allows():
            self._request(forced=False)

    def _on_trigger(self, request, response):
        response.success, response.message = self._request(forced=True)
        return response

    def _on_reset(self, request, response):
        self._reset_requested.set()
        with self._window_lock:
            self._newest = None
        with self._frames_cond:
            self._frames.clear()
            self._frames_cond.notify()
        if self.sync is not None:
            self.sync.reset()
        self.worker.clear()
        with self._request_lock:
            self._submitted_version = -1
        self._last_tf = []
        self._last_estimate = None
        if self.p["publish_markers"]:
            self.pub_markers.publish(delete_all_markers(Header(frame_id=self.builder.frame_id)))
        self.stats.count("resets")
        response.success, response.message = True, "window, queued frames and pending inference cleared"
        return response

    # ------------------------------------------------------------------ inference thread
    def _infer(self, job) -> None:
        window, submitted = job
        t0 = time.perf_counter()
        try:
            est = self.estimator.estimate(window)
            if not isinstance(est, ArticulationEstimate):
                raise TypeError(f"estimate() returned {type(est).__name__}, not ArticulationEstimate")
        except Exception as e:
            self.stats.count("inference_errors")
            self._report("inference", f"inference failed: {type(e).__name__}: {e}", traceback.format_exc())
            est = ArticulationEstimate.failed(
                f"inference error: {type(e).__name__}: {e}", window.frame_id, window.stamps_ns, window.valid.shape
            )
        self.stats.set("inference_s", time.perf_counter() - t0)
        self.stats.set("queue_wait_s", max(0.0, time.monotonic() - submitted - (time.perf_counter() - t0)))
        self._results.append((window, est))
        self._results_gc.trigger()

    def _on_worker_error(self, e: BaseException) -> None:
        self.stats.count("inference_errors")
        self._report("inference", f"inference worker error: {e!r}")

    # ------------------------------------------------------------------ outputs (executor thread)
    def _publish_results(self) -> None:
        while self._results:
            window, est = self._results.popleft()
            self._publish(window, est)

    def _publish(self, window: Window, est: ArticulationEstimate) -> None:
        self.stats.count(f"estimates_{est.status.name.lower()}")
        if est.status == EstimateStatus.FAILED and est.message:
            self.stats.error(est.message)
        if est.status != EstimateStatus.FAILED or self.p["publish_failed"]:
            self.pub_articulation.publish(estimate_to_msg(est, self.object_id))
        now = self.get_clock().now()
        self.stats.set("latency_s", (now.nanoseconds - int(window.stamps_ns[-1])) * 1e-9)
        self.stats.set("last_status", est.status.name)
        if est.status == EstimateStatus.FAILED:
            return  # keep the last good TF frames and markers
        header = Header(stamp=ns_to_stamp(int(window.stamps_ns[-1])), frame_id=est.frame_id)
        self._last_estimate = est
        self._last_tf = joint_transforms(est, self.object_id)
        if self._last_tf:
            self.pub_tf.publish(TFMessage(transforms=self._last_tf))
        if moving_joints(est):
            self.pub_joint_states.publish(joint_state_msg(est, self.object_id))
        if self.p["publish_markers"]:
            self.pub_markers.publish(estimate_markers(est, self.object_id, header, self.p["marker_axis_length_m"]))
        if self.p["publish_point_cloud"]:
            cloud = segmented_cloud(window, est.labels, header)
            if cloud is not None:
                self.pub_points.publish(cloud)

    def _republish_tf(self) -> None:
        if not self._last_tf:
            return
        stamp = self.get_clock().now().to_msg()
        for t in self._last_tf:
            t.header.stamp = stamp
        self.pub_tf.publish(TFMessage(transforms=self._last_tf))

    # ------------------------------------------------------------------ diagnostics
    def _report(self, key: str, message: str, details: str = "", period_s: float = 5.0) -> None:
        """Remember the error for diagnostics and log it at most every ``period_s`` per key."""
        self.stats.error(message)
        now = time.monotonic()
        if now - self._throttle.get(key, -1e9) >= period_s:
            self._throttle[key] = now
            self.get_logger().warning(message + (f"\n{details}" if details else ""))

    def diagnostics(self) -> DiagnosticArray:
        """The node's DiagnosticArray (inputs, window, inference)."""
        counts, values, last_error = self.stats.snapshot()
        now = time.monotonic()
        rates = {k: m.rate(now) for k, m in self.rates.items()}
        hw = f"sim2art:{self.object_id}"
        sync_misses = (
            self.sync.pivot_misses
            if self.sync is not None
            else max(0, self.rates["color"].total - self.rates["synced"].total)
        )
        level, msg = diag.OK, "receiving"
        color_age, synced_age = self.rates["color"].age(now), self.rates["synced"].age(now)
        if color_age is None or color_age > SYNC_STALL_S:
            level, msg = diag.WARN, f"no colour images on {self.color_topic}"
        elif synced_age is None or synced_age > SYNC_STALL_S:
            missing = []
            for k in self._active_inputs()[1:]:
                age = self.rates[k].age(now)
                if age is None or age > SYNC_STALL_S:
                    missing.append(k)
            level = diag.WARN
            msg = "colour arrives but nothing synchronises" + (
                f": no {', '.join(missing)}" if missing else f": stamps differ by more than {self.p['sync_slop_s']} s"
            )
        inputs = {f"{k} rate (Hz)": rates[k] for k in self._active_inputs()}
        inputs.update(
            {
                "synchronised rate (Hz)": rates["synced"],
                "colour frames received": self.rates["color"].total,
                "synchronised frames": self.rates["synced"].total,
                "sync misses": sync_misses,
                "frames dropped (queue full)": counts.get("frames_dropped_queue", 0),
                "frames dropped (no TF pose)": counts.get("frames_dropped_tf", 0),
                "frames rejected (decode/size)": counts.get("frames_rejected_decode_error", 0),
                "frame queue": len(self._frames),
                "sync queue (messages)": self.sync.queued() if self.sync is not None else -1,
                "pose source": self.tf_backend,
                "sync": self.sync_backend,
            }
        )
        rejected = {k: v for k, v in counts.items() if k.startswith("frames_rejected_")}
        window_vals = {
            "frames in window": f"{self.builder.num_entries}/{self.pre_cfg.num_frames}",
            "keyframe rate (Hz)": rates["keyframes"],
            "keyframes": counts.get("keyframes", 0),
            "window restarts": counts.get("window_restarts", 0),
            "preprocess per keyframe (ms)": float(values.get("preprocess_ms", 0.0)),
            **{k.replace("frames_rejected_", "rejected: "): v for k, v in rejected.items()},
        }
        w_level = diag.WARN if rejected and counts.get("keyframes", 0) == 0 else diag.OK
        w_msg = "waiting for keyframes" if self.builder.num_entries < self.pre_cfg.num_frames else "window full"
        inf_vals = {
            "estimator": type(self.estimator).__name__ if self.estimator is not None else "none",
            "device": self.p["device"],
            "inferences": self.worker.completed,
            "pending inferences": self.worker.pending,
            "windows dropped (busy)": self.worker.dropped,
            "inference errors": counts.get("inference_errors", 0),
            "inference time (s)": float(values.get("inference_s", 0.0)),
            "end-to-end latency (s)": float(values.get("latency_s", 0.0)),
            "last status": values.get("last_status", "none"),
            "last error": last_error,
        }
        if self.estimator is None:
            i_level, i_msg = diag.ERROR, f"no estimator: {self.estimator_error}"
        elif values.get("last_status") == "FAILED":
            i_level, i_msg = diag.WARN, "last inference failed"
        else:
            i_level, i_msg = diag.OK, "idle" if not self.worker.busy else "running"
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [
            diag.status(f"{NODE_NAME}: inputs", level, msg, hw, inputs),
            diag.status(f"{NODE_NAME}: window", w_level, w_msg, hw, window_vals),
            diag.status(f"{NODE_NAME}: inference", i_level, i_msg, hw, inf_vals),
        ]
        return arr

    def _active_inputs(self) -> list[str]:
        return ["color", "depth", "info"] + (["mask"] if self.p["use_mask"] else [])

    def _publish_diagnostics(self) -> None:
        self.pub_diagnostics.publish(self.diagnostics())

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Stop the worker threads (call before destroy_node)."""
        self._stop.set()
        with self._frames_cond:
            self._frames_cond.notify_all()
        self._pre_thread.join(timeout=5.0)
        self.worker.stop(timeout=10.0)


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
