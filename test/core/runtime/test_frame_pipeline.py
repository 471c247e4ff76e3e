"""FramePipeline without ROS: intake, window, request policy, time jumps, reset, counters.

Items are the synthetic door scene's RGBDFrames (test/core/preprocess/synthetic_scene.py); the
pose source is a dict of camera poses by stamp, like a TF buffer that only knows those stamps.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.preprocess import KeyframeConfig, ObjectSelectionConfig, PreprocessConfig
from sim2art_core.runtime.frame_pipeline import (
    FramePipeline,
    PipelineConfig,
    ResetEvent,
    lower_thread_priority,
    run_estimator,
)
from sim2art_core.runtime.inference_worker import InferenceWorker
from sim2art_core.types import EstimateStatus

sys.path.insert(0, str(Path(__file__).parents[1] / "preprocess"))
from synthetic_scene import Scene, make_frames

T, N = 3, 128
PERIOD_NS = 100_000_000
PRE = PreprocessConfig(
    num_frames=T, num_points=N, object=ObjectSelectionConfig(source="mask"), keyframes=KeyframeConfig(period_s=0.05)
)


@pytest.fixture(scope="module")
def frames():
    return make_frames(T + 2, 160, 120, Scene(), max_amount=0.4, with_mask=True)[0]


class Poses:
    """Camera poses known at some stamps (else LookupError, as a TF gap)."""

    def __init__(self):
        self.by_stamp: dict[int, np.ndarray] = {}
        self.cleared: list = []

    def wait_for(self, target, source, stamp_ns, timeout_s):
        if stamp_ns not in self.by_stamp:
            raise LookupError(f"no pose at {stamp_ns}")
        return self.by_stamp[stamp_ns]


class Rig:
    """A pipeline with recorded submissions, warnings and reset events."""

    def __init__(self, **cfg):
        self.poses = Poses()
        self.windows, self.warnings, self.events = [], [], []
        self.pipe = FramePipeline(
            PipelineConfig(preprocess=PRE, fixed_frame="odom", **cfg),
            describe=lambda f: (f.stamp_ns, "camera"),
            decode=lambda f, stamp, pose: replace(f, stamp_ns=stamp, world_from_cam=pose),
            submit=lambda w, _trace: self.windows.append(w) or False,
            poses=self.poses,
            warn=self.warnings.append,
        )
        self.pipe.on_reset.append(self.events.append)

    def feed(self, frames, start_ns: int, period_ns: int = PERIOD_NS) -> list[int]:
        stamps = []
        for i, f in enumerate(frames):
            stamp = start_ns + i * period_ns
            self.poses.by_stamp[stamp] = f.world_from_cam
            self.pipe.offer(replace(f, stamp_ns=stamp))
            self.pipe.process_pending()
            stamps.append(stamp)
        return stamps

    def count(self, key: str) -> int:
        return self.pipe.stats.snapshot()[0].get(key, 0)


def test_frames_make_a_window_that_continuous_mode_submits(frames):
    rig = Rig(rate_hz=1.0)
    stamps = rig.feed(frames[: T + 1], 5 * 10**9)
    assert len(rig.windows) == 1
    w = rig.windows[0]
    assert (w.num_frames, w.num_points, w.frame_id) == (T, N, "odom")
    assert list(w.stamps_ns) == stamps[:T]
    assert rig.count("keyframes") == T + 1 and rig.count("time_jumps") == 0
    # the rate limit: the next window waits for the timer
    rig.feed(frames[T + 1 :], stamps[-1] + PERIOD_NS)
    assert len(rig.windows) == 1 and rig.pipe.request(forced=False)[0]
    assert len(rig.windows) == 2 and not rig.pipe.request(forced=False)[0]  # no new keyframe since
    assert rig.pipe.request(forced=True)[0] and len(rig.windows) == 3  # ~/trigger: the same again


def test_request_policy_messages(frames):
    rig = Rig(rate_hz=0.0)
    ok, why = rig.pipe.request(forced=True)
    assert not ok and "window not full yet: 0/3" in why
    rig.feed(frames[: T + 1], 10**9)
    assert rig.windows == []  # rate_hz 0: only on request
    assert rig.pipe.request(forced=False)[0] and len(rig.windows) == 1
    rig.pipe.blocked = "no estimator: broken"
    assert rig.pipe.request(forced=True) == (False, "no estimator: broken")


def test_out_of_order_frames_are_rejected_not_jumps(frames):
    rig = Rig(rate_hz=0.0)
    stamps = rig.feed(frames[:2], 10**9)
    rig.feed([frames[1]], stamps[-1])  # duplicate
    rig.feed([frames[1]], stamps[-1] - PERIOD_NS // 2)  # 50 ms back
    assert rig.count("frames_rejected_stamp_not_increasing") == 2
    assert rig.count("time_jumps") == 0 and rig.events == []


def test_future_stamp_burst_then_valid_frames_recovers(frames):
    rig = Rig(rate_hz=0.0)
    start = 100 * 10**9
    rig.feed(frames[:2], start)
    rig.feed(frames[:3], start + 3600 * 10**9)  # a clock jump: an hour ahead
    assert rig.count("time_jumps") == 1 and rig.events[-1].reason == "time_jump"
    valid = rig.feed(frames[: T + 1], start + 3 * PERIOD_NS)  # the clock is back
    assert rig.count("time_jumps") == 2
    assert [e.stamp_ns for e in rig.events] == [start + 3600 * 10**9, valid[0]]
    assert rig.count("frames_rejected_stamp_not_increasing") == 0  # before: every later frame, for good
    ok, _ = rig.pipe.request(forced=False)
    assert ok and list(rig.windows[-1].stamps_ns) == valid[:T]
    jump_logs = [m for m in rig.warnings if "time jumped" in m]
    assert len(jump_logs) == 2 and "forward by 3599.900 s" in jump_logs[0] and "back by" in jump_logs[1]


def test_replayed_twice_gives_a_window_each_time(frames):
    rig = Rig(rate_hz=0.0)
    for _ in range(2):
        # the same stamps again (a 1.2 s bag replayed): 1.2 s back is more than time_jump_back_s
        stamps = rig.feed(frames[: T + 1], 20 * 10**9, period_ns=4 * PERIOD_NS)
        assert rig.pipe.request(forced=False)[0]
        assert list(rig.windows[-1].stamps_ns) == stamps[:T]
    assert len(rig.windows) == 2 and rig.count("time_jumps") == 1


def test_forward_gap_below_the_threshold_is_no_jump(frames):
    rig = Rig(rate_hz=0.0, time_jump_forward_s=10.0)
    rig.feed(frames[:2], 10**9)
    rig.feed(frames[2:3], 10**9 + 5 * 10**9)  # a 5 s pause: the window restarts (max_gap_s), no jump
    assert rig.count("time_jumps") == 0 and rig.count("window_restarts") == 1


def test_reset_forgets_the_last_stamp_and_calls_the_hooks(frames):
    rig = Rig(rate_hz=0.0)
    stamps = rig.feed(frames[: T + 1], 10**9)
    assert rig.pipe.request(forced=False)[0]
    rig.pipe.reset()
    assert rig.events == [ResetEvent("reset", None, "reset requested")]
    ok, why = rig.pipe.request(forced=True)
    assert not ok and "window not full" in why
    again = rig.feed(frames[: T + 1], 10**9)  # the same stamps are new after a reset
    assert again == stamps and rig.count("frames_rejected_stamp_not_increasing") == 0
    assert rig.pipe.request(forced=False)[0] and rig.count("resets") == 1 and rig.count("time_jumps") == 0


def test_a_failing_hook_does_not_stop_the_others(frames):
    rig = Rig(rate_hz=0.0)
    rig.pipe.on_reset.insert(0, lambda e: 1 / 0)
    rig.pipe.reset()
    assert len(rig.events) == 1 and "on_reset hook" in rig.pipe.stats.snapshot()[2]


def test_full_queue_drops_the_oldest_counts_and_logs_once(frames):
    rig = Rig(rate_hz=0.0, queue_size=2)
    for i in range(5):
        rig.pipe.offer(replace(frames[0], stamp_ns=10**9 + i * PERIOD_NS))
    assert rig.pipe.queued == 2 and rig.count("frames_dropped_queue") == 3
    assert len([m for m in rig.warnings if "frame dropped" in m]) == 1  # throttled


def test_missing_pose_and_bad_decode_are_counted(frames):
    rig = Rig(rate_hz=0.0)
    rig.pipe.offer(frames[0])  # no pose known at its stamp
    rig.pipe.process_pending()
    assert rig.count("frames_dropped_tf") == 1
    rig.pipe._decode = lambda f, s, p: (_ for _ in ()).throw(ValueError("bad encoding"))
    rig.feed(frames[:1], 10**9)
    assert rig.count("frames_rejected_decode_error") == 1 and "bad encoding" in rig.pipe.stats.snapshot()[2]
    assert rig.pipe.rates["refused"].total == 2 and rig.pipe.rates["keyframes"].total == 0


def test_run_estimator_turns_exceptions_into_failed_estimates(frames):
    rig = Rig(rate_hz=0.0)
    rig.feed(frames[: T + 1], 10**9)
    rig.pipe.request(forced=True)

    class Broken:
        def estimate(self, window):
            raise RuntimeError("boom")

    est, trace = run_estimator(Broken(), rig.windows[-1])
    assert est.status == EstimateStatus.FAILED and "RuntimeError: boom" in est.message and "Traceback" in trace


# ---------------------------------------------------------------- busy policy and latency trace (issue 14.5)
@pytest.fixture(scope="module")
def long_frames():
    return make_frames(T + 4, 160, 120, Scene(), max_amount=0.4, with_mask=True)[0]


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@contextmanager
def busy_worker(policy: str, long_frames):
    """A Rig whose submissions go to a real InferenceWorker that blocks until ``gate`` is set, fed until window 1
    completes and the worker started on it; yields (rig, worker, gate, done, stamps) and always frees the worker."""
    gate, started, done = threading.Event(), threading.Event(), []

    def run(job):
        started.set()
        gate.wait(10)
        done.append(job)

    worker = InferenceWorker(run, lambda e: None, "test_inference")
    rig = Rig(rate_hz=1000.0, busy_policy=policy)
    rig.pipe._submit = lambda w, trace: worker.submit((w, trace))
    rig.pipe._busy = lambda: worker.busy or worker.pending > 0
    rig.pipe._clock = rig.clock = FakeClock()
    try:
        stamps = rig.feed(long_frames[: T + 1], 10**9)  # window 1 completes: the idle worker starts on it
        assert started.wait(5) and worker.busy
        yield rig, worker, gate, done, stamps
    finally:
        gate.set()
        worker.stop()


def test_skip_policy_skips_a_window_completed_while_busy_and_sends_the_next_fresh_one(long_frames):
    with busy_worker("skip", long_frames) as (rig, worker, gate, done, stamps):
        rig.clock.t += 0.1
        rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)  # window 2 completes while busy
        assert rig.count("windows_skipped_busy") == 1 and worker.pending == 0
        rig.pipe.on_rate_timer()  # busy: the timer does not queue it either
        assert worker.pending == 0 and worker.submitted == 1 and rig.count("windows_skipped_busy") == 1
        gate.set()
        assert worker.wait_idle(5)
        rig.clock.t += 0.05
        rig.pipe.on_rate_timer()  # idle, but frames still arrive (the last 0.05 s ago): a fresher window is due
        assert worker.submitted == 1
        rig.clock.t += 0.05
        rig.feed(long_frames[T + 2 : T + 3], stamps[-1] + 2 * PERIOD_NS)  # window 3 completes, worker idle
        assert worker.wait_idle(5)
        newest = [list(w.stamps_ns)[-1] for w, _ in done]
        assert newest == [stamps[T - 1], stamps[-1] + PERIOD_NS]  # windows 1 and 3; 2 never ran
        assert worker.dropped == 0 and rig.count("windows_skipped_busy") == 1


def test_skip_policy_still_estimates_the_last_window_when_the_input_stops(long_frames):
    with busy_worker("skip", long_frames) as (rig, worker, gate, done, stamps):
        rig.clock.t += 0.1
        rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)  # the last window: skipped (busy)
        gate.set()
        assert worker.wait_idle(5)
        for _ in range(8):  # frames keep arriving, the preprocessing is behind: a fresher window is coming
            rig.clock.t += 0.1
            rig.pipe.offer(long_frames[0])
            rig.pipe.on_rate_timer()
        assert worker.submitted == 1 and rig.pipe.queued == rig.pipe.cfg.queue_size
        rig.pipe._queue.clear()  # (those frames are not needed for the rest of the test)
        rig.clock.t += 0.1
        rig.pipe.on_rate_timer()
        assert worker.submitted == 1  # no frame for 0.1 s: the next window could still come
        rig.clock.t += 0.5
        rig.pipe.on_rate_timer()  # no frame for 0.6 s > PAUSED_AFTER_S: the input stopped, a late estimate beats none
        assert worker.wait_idle(5) and worker.submitted == 2
        assert [list(w.stamps_ns)[-1] for w, _ in done] == [stamps[T - 1], stamps[-1]]
        rig.clock.t += 1.0
        rig.pipe.on_rate_timer()  # never the same window twice
        assert worker.submitted == 2


def test_wait_policy_keeps_the_newest_window_for_when_the_estimator_frees(long_frames):
    with busy_worker("wait", long_frames) as (rig, worker, gate, done, stamps):
        for k in (1, 2):  # windows 2 and 3 complete while busy
            rig.clock.t += 0.1
            rig.feed(long_frames[T + k : T + k + 1], stamps[-1] + k * PERIOD_NS)
        assert worker.pending == 1 and worker.dropped == 1  # 3 replaced 2 in the slot
        assert rig.count("windows_skipped_busy") == 0
        gate.set()
        assert worker.wait_idle(5)
        newest = [list(w.stamps_ns)[-1] for w, _ in done]
        assert newest == [stamps[T - 1], stamps[-1] + PERIOD_NS]  # window 3 ran after window 1, 2 never


def _held_rig(policy: str = "skip", hold_s: float = 5.0):
    """A Rig whose estimator is never busy and whose 'estimate in flight' is an Event the test sets."""
    rig = Rig(rate_hz=1000.0, busy_policy=policy, busy_keyframe_hold_s=hold_s)
    in_flight = threading.Event()
    rig.pipe._in_flight = in_flight.is_set
    return rig, in_flight


def test_keyframe_hold_waits_for_the_publish_and_skips_its_window(long_frames):
    rig, in_flight = _held_rig(hold_s=5.0)
    stamps = rig.feed(long_frames[: T + 1], 10**9)  # nothing in flight: no hold, the first window goes
    assert len(rig.windows) == 1 and rig.count("keyframes_held_busy") == 0
    in_flight.set()
    timer = threading.Timer(0.3, in_flight.clear)  # the estimate is published 0.3 s later
    timer.start()
    t0 = time.monotonic()
    rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)
    waited = time.monotonic() - t0
    timer.join()
    assert 0.3 <= waited < 5.0  # held until the publish, not for the whole limit
    assert rig.count("keyframes_held_busy") == 1
    # the window completed by the held keyframe is skipped although the estimator is idle by now
    assert len(rig.windows) == 1 and rig.count("windows_skipped_busy") == 1
    assert rig.pipe.stats.snapshot()[1]["keyframe_hold_ms"] >= 300.0
    # the next keyframe arrives with nothing in flight: not held, its window is submitted at once
    rig.feed(long_frames[T + 2 : T + 3], stamps[-1] + 2 * PERIOD_NS)
    assert len(rig.windows) == 2 and rig.count("keyframes_held_busy") == 1
    assert rig.count("windows_skipped_busy") == 1


def test_keyframe_hold_is_bounded_and_off_at_zero_and_under_wait(long_frames):
    rig, in_flight = _held_rig(hold_s=0.05)
    stamps = rig.feed(long_frames[: T + 1], 10**9)
    in_flight.set()  # never published: the keyframe goes on after the limit
    t0 = time.monotonic()
    rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)
    assert 0.05 <= time.monotonic() - t0 < 3.0
    assert rig.count("keyframes_held_busy") == 1 and rig.count("windows_skipped_busy") == 1
    for policy, hold_s in (("skip", 0.0), ("wait", 5.0)):  # no hold: at 0 (PipelineConfig's default) and under wait
        rig, in_flight = _held_rig(policy, hold_s)
        stamps = rig.feed(long_frames[: T + 1], 10**9)
        in_flight.set()
        t0 = time.monotonic()
        rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)
        assert time.monotonic() - t0 < 3.0 and rig.count("keyframes_held_busy") == 0, policy
        assert rig.count("windows_skipped_busy") == 0, policy


def test_one_keyframe_is_held_per_estimate(long_frames):
    rig, in_flight = _held_rig(hold_s=5.0)
    rig.pipe._busy = in_flight.is_set  # the estimator is busy while its estimate is in flight
    stamps = rig.feed(long_frames[: T + 1], 10**9)  # estimate 1 submitted
    in_flight.set()
    threading.Timer(0.1, in_flight.clear).start()
    rig.feed(long_frames[T + 1 : T + 2], stamps[-1] + PERIOD_NS)  # held until the publish
    assert rig.count("keyframes_held_busy") == 1 and len(rig.windows) == 1
    in_flight.set()  # estimate 1 "in flight" again (a long one): the next keyframe is not held a second time
    t0 = time.monotonic()
    rig.feed(long_frames[T + 2 : T + 3], stamps[-1] + 2 * PERIOD_NS)
    assert time.monotonic() - t0 < 5.0 and rig.count("keyframes_held_busy") == 1
    assert len(rig.windows) == 1 and rig.count("windows_skipped_busy") == 2  # skipped: the estimator is busy
    in_flight.clear()
    rig.feed(long_frames[T + 3 : T + 4], stamps[-1] + 3 * PERIOD_NS)  # idle: estimate 2 submitted
    assert len(rig.windows) == 2
    in_flight.set()
    threading.Timer(0.1, in_flight.clear).start()
    rig.feed(long_frames[T + 2 : T + 3], stamps[-1] + 4 * PERIOD_NS)  # a new estimate: held again
    assert rig.count("keyframes_held_busy") == 2


def test_in_flight_defaults_to_busy(frames):
    busy = [False]
    rig = Rig(busy_keyframe_hold_s=1.0)
    pipe = FramePipeline(
        rig.pipe.cfg, rig.pipe._describe, rig.pipe._decode, rig.pipe._submit, busy=lambda: busy[0]
    )  # fmt: skip
    assert not pipe._in_flight()
    busy[0] = True
    assert pipe._in_flight()


def test_trigger_submits_even_when_busy_under_skip(frames):
    rig = Rig(rate_hz=0.0, busy_policy="skip")
    rig.pipe._busy = lambda: True
    rig.feed(frames[: T + 1], 10**9)
    assert rig.pipe.request(forced=False) == (False, "the estimator is busy: window skipped (busy_policy skip)")
    assert rig.pipe.request(forced=True)[0] and len(rig.windows) == 1
    with pytest.raises(ValueError, match="busy_policy"):
        Rig(busy_policy="queue")


def test_submitted_windows_carry_the_completing_frames_latency_trace(frames):
    traces = []
    rig = Rig(rate_hz=1000.0)
    rig.pipe._submit = lambda w, trace: traces.append(trace) or False
    rig.pipe._stamp_clock = lambda: 10**9 + T * PERIOD_NS + 50_000_000  # the stamps' clock (ROS / sim time)
    before = time.monotonic()
    stamps = rig.feed(frames[: T + 1], 10**9)
    assert len(traces) == 1
    trace = traces[0]
    assert trace.stamp_ns == stamps[-1]  # the frame whose flow completed the window, not the window's last
    times = [trace.time_of(e) for e in ("arrived", "dequeued", "decoded", "completed", "submitted")]
    assert before <= times[0] and times == sorted(times) and times[-1] <= time.monotonic()
    d = trace.durations()
    assert set(d) == {"intake queue", "pose + decode", "keyframe", "rate wait"}
    assert d["keyframe"] > 0 and trace.transport_s == pytest.approx(0.05)  # stamp -> intake in that clock


def test_preprocess_niceness_lowers_only_the_preprocessing_thread(frames):
    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread priorities are a Linux feature")
    tid = threading.get_native_id()
    mine = os.getpriority(os.PRIO_PROCESS, tid)
    rig = Rig(rate_hz=0.0, preprocess_niceness=3)
    seen, stop = [], threading.Event()

    def describe(f):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        stop.set()
        return f.stamp_ns, "camera"

    rig.pipe._describe = describe
    thread = threading.Thread(target=rig.pipe.run, args=(stop,))
    thread.start()
    rig.pipe.offer(frames[0])
    thread.join(10)
    assert seen == [min(19, mine + 3)] and rig.pipe.stats.snapshot()[1]["preprocess_nice"] == min(19, mine + 3)
    assert os.getpriority(os.PRIO_PROCESS, tid) == mine  # the calling thread (executor, inference) unchanged
    assert lower_thread_priority(0) is None
