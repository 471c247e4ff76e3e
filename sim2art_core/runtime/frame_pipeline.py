"""The perception node's frame pipeline without ROS: intake, keyframes, window, request policy, counters.

``sim2art_ros.perception.node`` only wires ROS to it: its synchroniser hands every matched
(colour, depth, camera_info[, mask]) message set to :meth:`FramePipeline.offer`; the
preprocessing thread runs :meth:`FramePipeline.run`; the rate timer and ``~/trigger`` call
:meth:`FramePipeline.request`; ``~/reset`` calls :meth:`FramePipeline.reset`. Tests drive the
same object with plain Python items (see test/core/runtime/test_frame_pipeline.py).

What happens to one offered item (on the preprocessing thread, :meth:`FramePipeline.process`):

1. ``describe(item) -> (stamp_ns, camera_frame)``; an empty camera frame with a pose source
   is rejected (``frames_rejected_no_frame_id``).
2. **Time jumps**: a stamp more than ``time_jump_back_s`` before the newest stamp seen (a bag
   replayed again, sim time restarted, the end of a burst of future stamps) or more than
   ``time_jump_forward_s`` after it (a clock jump forward) is a time jump: the window, the
   pending request state and everything registered in :attr:`FramePipeline.on_reset` (the
   camera-pose buffer, models built over time) are cleared, the jump is logged once and
   counted (``time_jumps``), and the frame starts the new time line. Smaller steps back are
   out-of-order frames, rejected as ``stamp_not_increasing``.
3. Stamp not after the window's newest keyframe: rejected (``stamp_not_increasing``).
4. Camera pose: ``poses.wait_for(fixed_frame, camera_frame, stamp_ns, tf_timeout_s)`` (identity
   without a pose source); a ``LookupError`` drops the frame (``frames_dropped_tf``).
5. Keyframe pre-check from stamp and pose (skipped frames are never decoded); with
   ``busy_keyframe_hold_s`` > 0 and ``busy_policy`` skip, the first keyframe that arrives while an
   estimate is in flight (``in_flight()``) waits for it to be published, at most that long (counted
   ``keyframes_held_busy``; one per estimate): its window would be skipped anyway, so its
   preprocessing need not take the CPU from the estimate; then
   ``decode(item, stamp_ns, pose) -> RGBDFrame`` (a ``ValueError`` rejects it as
   ``decode_error``) and :meth:`WindowBuilder.add`.
6. A completed window becomes "the newest window"; in continuous mode (``rate_hz`` > 0) it is
   submitted at once unless the previous submission is less than ``1 / rate_hz`` old. What
   happens to a window that completes while the estimator is still busy is ``busy_policy``:

   * ``skip`` (default): it is not queued (counted ``windows_skipped_busy``); the estimator only
     starts on a window the moment it completes, so no estimate starts on a window that waited.
     The next window completes one keyframe period later (in ``motion`` keyframe mode at least
     every ``keyframe_max_period_s``). Only when the input pauses or stops (the end of a bag) does
     the rate timer submit the newest window late (:meth:`FramePipeline.on_rate_timer`).
   * ``wait``: it waits in the inference worker's one-window slot (a newer one replaces it,
     counted ``windows_dropped``) and starts when the estimator frees, and the rate timer
     submits a window that completed too soon after the previous submission: more estimates
     per second, each up to a keyframe period (plus the rest of an inference) older.

   ``~/trigger`` (``request(forced=True)``) always submits, busy or not.

Every rejection is counted, remembered as the last error and logged at most every 5 s per
reason; frames dropped from the full intake queue are counted and logged the same way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.frames import RGBDFrame
from sim2art_core.preprocess import PreprocessConfig, WindowBuilder
from sim2art_core.preprocess import window_builder as wb
from sim2art_core.runtime.latency import LatencyTrace
from sim2art_core.runtime.stats import RateMeter, Stats, Throttle
from sim2art_core.window import Window


@dataclass(frozen=True)
class PipelineConfig:
    """How the pipeline treats frames (the node fills it from its parameters)."""

    preprocess: PreprocessConfig
    """Window size (T, N), object selection, flow and keyframe settings."""
    fixed_frame: str
    """Frame of the window and the estimate when camera poses come from ``poses``."""
    queue_size: int = 4
    """Offered items waiting for preprocessing; the oldest is dropped (and counted) beyond it."""
    rate_hz: float = 1.0
    """Continuous inference: at most this many submissions a second (0 = only on request)."""
    busy_policy: Literal["skip", "wait"] = "skip"
    """Continuous inference, a window completed while the estimator is busy: ``skip`` it (the
    estimator starts only on just-completed windows: lowest latency) or let it ``wait`` for the
    estimator (more estimates, each older; module doc, step 6)."""
    tf_timeout_s: float = 0.3
    """How long a frame waits for its camera pose (s)."""
    time_jump_back_s: float = 1.0
    """A stamp this much older than the newest one seen is a time jump (s); smaller steps back are
    rejected as out of order."""
    time_jump_forward_s: float = 10.0
    """A stamp this much newer than the newest one seen is a time jump (s): beyond a TF cache
    (10 s) no pose history joins the two sides."""
    seed: int = 0
    """Seed of point sampling and RANSAC."""
    preprocess_niceness: int = 0
    """Added to the preprocessing thread's nice value (Linux; 0 = unchanged): while the estimator runs,
    the keyframes it is not waiting for yield the CPU to it -- but also to every other process of the
    machine (docs/NODE.md "Real-time budget": opt-in)."""
    busy_keyframe_hold_s: float = 0.0
    """``busy_policy`` skip: the first keyframe that arrives while an estimate is in flight (running, or done
    and not yet published) waits up to this long (s) before it is preprocessed, so the estimate and its
    publishing get the CPU (later ones during the same estimate are not held: with a long estimate the
    keyframes would fall behind); the window it completes is skipped as busy, held or not (0 = no hold, the
    default here; the node's parameter defaults to 0.15; module doc, step 5)."""


@dataclass(frozen=True)
class ResetEvent:
    """Why state built over time is being cleared (passed to every :attr:`FramePipeline.on_reset` hook)."""

    reason: Literal["reset", "time_jump"]
    """``reset``: the ``~/reset`` service (or a caller); ``time_jump``: see the module doc."""
    stamp_ns: int | None = None
    """time_jump: the stamp of the frame that starts the new time line (None for a reset)."""
    message: str = ""
    """Human-readable description (the log line)."""


class PoseSource(Protocol):
    """Camera poses by stamp: ``TfBuffer`` / ``Tf2RosLookup`` in the node (raises LookupError)."""

    def wait_for(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray: ...


def run_estimator(estimator, window: Window) -> tuple[ArticulationEstimate, str]:
    """``estimator.estimate(window)``; any exception becomes a FAILED estimate. Returns (estimate, traceback or '')."""
    try:
        est = estimator.estimate(window)
        if not isinstance(est, ArticulationEstimate):
            raise TypeError(f"estimate() returned {type(est).__name__}, not ArticulationEstimate")
        return est, ""
    except Exception as e:
        failed = ArticulationEstimate.failed(
            f"inference error: {type(e).__name__}: {e}", window.frame_id, window.stamps_ns, window.valid.shape
        )
        return failed, traceback.format_exc()


def lower_thread_priority(niceness: int) -> int | None:
    """Add ``niceness`` to the calling thread's nice value; returns the new value (None: not Linux).

    On Linux ``setpriority(PRIO_PROCESS, tid)`` applies to one thread (the kernel schedules
    threads); elsewhere it would renice the whole process, so nothing is done. Raising one's own
    nice value needs no privilege.
    """
    if not sys.platform.startswith("linux") or niceness <= 0:
        return None
    tid = threading.get_native_id()
    nice = min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(niceness))
    os.setpriority(os.PRIO_PROCESS, tid, nice)
    return nice


class FramePipeline:
    """Frames in, complete windows out to ``submit`` (module doc). Thread-safe where the node needs it.

    Args:
        cfg: see :class:`PipelineConfig`.
        describe: ``item -> (stamp_ns, camera_frame)``, cheap (no decoding).
        decode: ``(item, stamp_ns, world_from_cam) -> RGBDFrame``; raises ValueError for bad input.
        submit: ``(window, trace) -> bool`` hands a window to inference with its
            :class:`~sim2art_core.runtime.latency.LatencyTrace` (the completing frame's, marked
            ``submitted``); True if it replaced a waiting one.
        poses: camera poses; None = static camera (identity poses, output in the camera's frame).
        warn: where throttled warnings go (the node's logger).
        features: per-point image feature extractor for the window builder (or None).
        busy: ``() -> bool``, whether the estimator is running or has a window waiting
            (``busy_policy`` skip); None = never busy.
        in_flight: ``() -> bool``, whether an estimate is running or done and not yet published
            (``busy_keyframe_hold_s``); None = ``busy``.
        clock: monotonic seconds of the request policy (rate limit, paused input; tests pass a fake one).
        stamp_clock: now in the clock of the frame stamps (ns; the node's ROS clock, sim time under
            ``use_sim_time``), for the latency trace's transport time (camera stamp -> intake).
    """

    #: ``busy_policy`` skip: no frame for this long (s) means the input paused (:meth:`on_rate_timer`).
    PAUSED_AFTER_S = 0.5

    def __init__(
        self,
        cfg: PipelineConfig,
        describe: Callable[[Any], tuple[int, str]],
        decode: Callable[[Any, int, np.ndarray], RGBDFrame],
        submit: Callable[[Window, LatencyTrace], bool],
        poses: PoseSource | None = None,
        warn: Callable[[str], None] = print,
        features=None,
        busy: Callable[[], bool] | None = None,
        in_flight: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: Callable[[], int] = time.time_ns,
    ):
        if cfg.busy_policy not in ("skip", "wait"):
            raise ValueError(f"busy_policy must be 'skip' or 'wait', not {cfg.busy_policy!r}")
        self.cfg = cfg
        self._busy = busy or (lambda: False)
        self._in_flight = in_flight or (lambda: self._busy())
        self._describe, self._decode, self._submit, self.poses = describe, decode, submit, poses
        self.warn = warn
        self.builder = WindowBuilder(cfg.preprocess, cfg.fixed_frame, rng=cfg.seed, features=features)
        self.stats = Stats()
        self.rates = {k: RateMeter() for k in ("synced", "keyframes", "refused")}
        self.throttle = Throttle(warn)
        #: hooks called with a :class:`ResetEvent` on ``~/reset`` and on a time jump; add yours
        #: (a model fused over time clears itself here). Called from the caller's thread of
        #: :meth:`reset` or from the preprocessing thread: hooks must be thread-safe and quick.
        self.on_reset: list[Callable[[ResetEvent], None]] = []
        #: why requests are refused (e.g. "no estimator: ..."); '' = requests allowed.
        self.blocked = ""
        self._queue: deque = deque()
        self._queue_cond = threading.Condition()
        self._window_lock = threading.Lock()
        self._newest: tuple[int, Window, LatencyTrace] | None = None  # (builder version, window, trace)
        self._request_lock = threading.Lock()
        self._submitted_version = -1
        self._skipped_version = -1
        self._submissions = 0  # windows submitted so far (busy_keyframe_hold_s: one held keyframe per estimate)
        self._held_for = -1  # the submission during which a keyframe was last held
        self._last_submit = -1e9
        self._clock = clock
        self._stamp_clock = stamp_clock
        self._last_offer: float | None = None  # clock() of the newest offered item
        self._offer_interval = 0.0  # between the last two offered items (s)
        self._reset_requested = threading.Event()
        self._newest_stamp: int | None = None  # newest stamp seen (any frame), for time-jump detection
        self._camera_frame = ""

    # ------------------------------------------------------------------ intake (any thread)
    def offer(self, item) -> None:
        """Queue one synchronised item for preprocessing (the oldest is dropped when the queue is full)."""
        self.rates["synced"].tick()
        dropped = False
        arrival = (time.monotonic(), self._stamp_clock())
        now = self._clock()
        if self._last_offer is not None:
            self._offer_interval = now - self._last_offer
        self._last_offer = now
        with self._queue_cond:
            if len(self._queue) >= self.cfg.queue_size:
                self._queue.popleft()
                dropped = True
            self._queue.append((item, arrival))
            self._queue_cond.notify()
        if dropped:
            self.stats.count("frames_dropped_queue")
            self.throttle(
                "queue",
                f"frame dropped: preprocessing is behind the input ({self.cfg.queue_size} frames queued, "
                f"{self.stats.snapshot()[0].get('frames_dropped_queue', 0)} dropped so far; "
                "frame_queue_size, a lower camera rate or flow_width trade this off)",
            )

    @property
    def queued(self) -> int:
        with self._queue_cond:
            return len(self._queue)

    # ------------------------------------------------------------------ preprocessing thread
    def run(self, stop: threading.Event) -> None:
        """The preprocessing thread's loop: process queued items until ``stop`` is set."""
        if self.cfg.preprocess_niceness > 0:
            nice = lower_thread_priority(self.cfg.preprocess_niceness)
            if nice is None:
                self.warn("preprocess_niceness is ignored: per-thread priorities need Linux")
            else:
                self.stats.set("preprocess_nice", nice)
        while not stop.is_set():
            with self._queue_cond:
                self._queue_cond.wait_for(lambda: self._queue or stop.is_set(), timeout=0.5)
            self.process_pending()

    def wake(self) -> None:
        """Wake :meth:`run` (after setting its stop event)."""
        with self._queue_cond:
            self._queue_cond.notify_all()

    def process_pending(self) -> int:
        """Process every queued item on the calling thread (the loop body; tests call it directly)."""
        n = 0
        while True:
            self._apply_reset()
            with self._queue_cond:
                entry = self._queue.popleft() if self._queue else None
            if entry is None:
                return n
            n += 1
            item, (arrived, arrived_stamp_ns) = entry
            try:
                self.process(item, arrived, arrived_stamp_ns)
            except Exception as e:  # a bug must not kill the thread: count it and go on
                self.stats.count("preprocess_errors")
                self.report("preprocess", f"preprocessing failed: {type(e).__name__}: {e}", traceback.format_exc())

    def process(self, item, arrived: float | None = None, arrived_stamp_ns: int | None = None) -> None:
        """One item through steps 1-6 of the module doc.

        ``arrived`` / ``arrived_stamp_ns``: when :meth:`offer` took it (``time.monotonic()`` / the
        stamp clock; default now), the start of the window's latency trace.
        """
        dequeued = time.monotonic()
        stamp, camera_frame = self._describe(item)
        stamp, camera_frame = int(stamp), camera_frame.lstrip("/")
        wall = self._stamp_clock() if arrived_stamp_ns is None else arrived_stamp_ns
        trace = LatencyTrace(stamp, (wall - stamp) * 1e-9)
        trace = trace.mark("arrived", dequeued if arrived is None else arrived).mark("dequeued", dequeued)
        if not camera_frame and self.poses is not None:
            self._refuse("no_frame_id", "colour image without header.frame_id: cannot look up its pose")
            return
        out_frame = camera_frame if self.poses is None else self.cfg.fixed_frame
        if out_frame != self.builder.frame_id:
            self.builder.reset()
            self.builder.frame_id = out_frame
        if self._camera_frame and camera_frame != self._camera_frame:
            self.report("frame_id", f"camera frame changed from '{self._camera_frame}' to '{camera_frame}'")
        self._camera_frame = camera_frame
        self._check_time_jump(stamp)
        last = self.builder.last_stamp_ns
        if last is not None and stamp <= last:
            self._refuse(wb.REJECTED_STAMP, f"stamp {stamp} ns is not after the last frame's {last} ns")
            return
        pose = self._pose(camera_frame, stamp)
        if pose is None:
            return
        skip = self.builder.precheck(stamp, pose)
        if skip is not None:
            self.stats.count(f"frames_{skip}")
            return
        held = self._hold_keyframe()
        try:
            frame = self._decode(item, stamp, pose)
        except ValueError as e:
            self._refuse("decode_error", str(e))
            return
        trace = trace.mark("decoded")
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
            self._refuse(result.outcome, result.reason)
        else:
            self.stats.count(f"frames_{result.outcome}")
        if result.completed and self.builder.ready:
            with self._window_lock:
                self._newest = (self.builder.version, self.builder.window(), trace.mark("completed"))
            if self.rate_allows():  # continuous mode: start at once instead of waiting for the timer
                self.request(forced=False, busy=held)

    def _hold_keyframe(self) -> bool:
        """``busy_keyframe_hold_s``: wait while an estimate is in flight, at most that long; True if one was
        (the window this keyframe completes then counts as completed while busy)."""
        limit = self.cfg.busy_keyframe_hold_s
        if limit <= 0 or self.cfg.busy_policy != "skip" or not self._in_flight():
            return False
        if self._held_for == self._submissions:  # one per estimate: a long one must not starve the keyframes
            return False
        self._held_for = self._submissions
        t0 = time.monotonic()
        while self._in_flight() and time.monotonic() - t0 < limit and not self._reset_requested.is_set():
            time.sleep(0.002)  # polled: a few wake-ups per estimate, no coupling to the publishing thread
        self.stats.count("keyframes_held_busy")
        self.stats.set("keyframe_hold_ms", 1e3 * (time.monotonic() - t0))
        return True

    def _check_time_jump(self, stamp: int) -> None:
        newest = self._newest_stamp
        if newest is not None:
            step_s = (stamp - newest) * 1e-9
            if step_s < -self.cfg.time_jump_back_s or step_s > self.cfg.time_jump_forward_s:
                kind = "back" if step_s < 0 else "forward"
                message = (
                    f"time jumped {kind} by {abs(step_s):.3f} s (frame stamp {stamp} ns after {newest} ns; "
                    "a bag replayed again, sim time restarted or a clock jump): window, camera poses and "
                    "models built over time cleared"
                )
                self.stats.count("time_jumps")
                self.stats.error(message)
                self.warn(message)  # once per jump (a jump is one event)
                self._clear(ResetEvent("time_jump", stamp, message))
                self.builder.reset()
                newest = None
        self._newest_stamp = stamp if newest is None else max(newest, stamp)

    def _pose(self, camera_frame: str, stamp_ns: int) -> np.ndarray | None:
        if self.poses is None:
            return np.eye(4)
        try:
            return self.poses.wait_for(self.cfg.fixed_frame, camera_frame, stamp_ns, self.cfg.tf_timeout_s)
        except LookupError as e:
            self.stats.count("frames_dropped_tf")
            self.rates["refused"].tick()
            self.stats.set("last_refusal", "no TF pose")
            self.report("tf", f"frame dropped, no camera pose: {e}")
            return None

    def _refuse(self, reason: str, detail: str) -> None:
        self.stats.count(f"frames_rejected_{reason}")
        self.rates["refused"].tick()
        self.stats.set("last_refusal", reason)
        self.report(reason, f"frame rejected ({reason}): {detail}")

    def report(self, key: str, message: str, details: str = "", period_s: float = 5.0) -> None:
        """Remember the error for diagnostics and log it at most every ``period_s`` per key."""
        self.stats.error(message)
        self.throttle(key, message + (f"\n{details}" if details else ""), period_s)

    # ------------------------------------------------------------------ requests (executor / preprocessing)
    def rate_allows(self) -> bool:
        """Continuous mode: at most rate_hz submissions a second (10 % slack for timer jitter)."""
        rate = self.cfg.rate_hz
        return rate > 0 and self._clock() - self._last_submit >= 0.9 / rate

    def on_rate_timer(self) -> None:
        """The continuous-mode timer.

        ``wait``: catches windows completed too soon after the previous submission. ``skip``: only
        when the input paused or stopped (the end of a bag): the newest window, skipped or
        rate-limited, is submitted once the estimator is idle, nothing is queued and no frame has
        arrived for :attr:`PAUSED_AFTER_S` (or twice the last frame interval, if longer) -- a late
        estimate beats none, and none fresher is coming. While frames keep arriving, a fresher
        window is coming, however slow the preprocessing.
        """
        if not self.rate_allows():
            return
        if self.cfg.busy_policy == "wait" or (self._input_paused() and not self._busy()):
            self.request(forced=False)

    def _input_paused(self) -> bool:
        with self._window_lock:
            newest = self._newest
        if newest is None or newest[0] == self._submitted_version or self._last_offer is None or self.queued:
            return False
        return self._clock() - self._last_offer > max(self.PAUSED_AFTER_S, 2.0 * self._offer_interval)

    def request(self, forced: bool, busy: bool = False) -> tuple[bool, str]:
        """Submit the newest window; ``forced`` (``~/trigger``) also re-submits the same window; ``busy``: the
        window completed while the estimator was busy, whatever it is now (a held keyframe's).

        Returns (submitted, reason) -- the ``~/trigger`` reply.
        """
        if self.blocked:
            return False, self.blocked
        with self._request_lock:
            with self._window_lock:
                newest = self._newest
            if newest is None:
                return False, (
                    f"window not full yet: {self.builder.num_entries}/{self.cfg.preprocess.num_frames} frames "
                    f"(+1 for the last flow)"
                )
            version, window, trace = newest
            if not forced and version == self._submitted_version:
                return False, "no new keyframe since the last inference"
            if not forced and self.cfg.busy_policy == "skip" and (busy or self._busy()):
                if version != self._skipped_version:
                    self._skipped_version = version
                    self.stats.count("windows_skipped_busy")
                return False, "the estimator is busy: window skipped (busy_policy skip)"
            self._submitted_version = version
            self._submissions += 1
            self._last_submit = self._clock()
            if self._submit(window, trace.mark("submitted")):
                self.stats.count("windows_dropped")
        return True, f"queued the window ending at {window.stamps_ns[-1]} ns ({window.num_frames} frames)"

    # ------------------------------------------------------------------ reset
    def reset(self) -> None:
        """Forget the window, queued frames, the newest stamp and everything in :attr:`on_reset` (``~/reset``).

        The window builder belongs to the preprocessing thread: it is reset there, before the next item.
        """
        self._reset_requested.set()
        with self._queue_cond:
            self._queue.clear()
            self._queue_cond.notify()
        self._clear(ResetEvent("reset", None, "reset requested"))
        self.stats.count("resets")

    def _clear(self, event: ResetEvent) -> None:
        with self._window_lock:
            self._newest = None
        with self._request_lock:
            self._submitted_version = self._skipped_version = -1
        for hook in list(self.on_reset):
            try:
                hook(event)
            except Exception as e:  # one bad hook must not keep the others from clearing
                self.report("on_reset", f"on_reset hook {hook!r} failed: {type(e).__name__}: {e}")

    def _apply_reset(self) -> None:
        if self._reset_requested.is_set():
            self._reset_requested.clear()
            self.builder.reset()
            self._newest_stamp = None
            with self._window_lock:  # a window completed while the reset was requested is stale too
                self._newest = None
