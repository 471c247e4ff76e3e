"""The perception node's health: a pure function from a snapshot of its counters to three statuses.

``sim2art_ros.perception.diagnostics`` turns the statuses into a
``diagnostic_msgs/DiagnosticArray``; this module needs no ROS, so its rules are tested
without rclpy (test/core/runtime/test_health.py). Levels are diagnostic_msgs' numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim2art_core.runtime.latency import format_breakdown

OK, WARN, ERROR = 0, 1, 2

#: Without synchronised frames (or with refusals only) for this long, the statuses warn (s).
STALL_S = 3.0


@dataclass(frozen=True)
class HealthStatus:
    """One status: ``name`` is the part after "<node>: " (inputs, window, inference)."""

    name: str
    level: int
    message: str
    values: dict = field(default_factory=dict)
    """Key -> value shown in rqt_robot_monitor (numbers or strings)."""


@dataclass(frozen=True)
class HealthSnapshot:
    """Everything the statuses are computed from, read at one instant."""

    counts: Mapping[str, int]
    """Event counters (``Stats.counts``: frames_rejected_<reason>, keyframes, time_jumps, ...)."""
    values: Mapping[str, float | str]
    """Latest values (inference_s, latency_s, preprocess_ms, last_status, last_refusal)."""
    last_error: str
    rates: Mapping[str, float]
    """Hz per stream: color, depth, info, mask (subscriptions), synced, keyframes, refused."""
    ages: Mapping[str, float | None]
    """Seconds since the last event per stream (None: never)."""
    totals: Mapping[str, int]
    """Events per stream since start."""
    active_inputs: tuple[str, ...]
    """Subscribed camera inputs, colour first (color, depth, info[, mask])."""
    color_topic: str
    sync_slop_s: float
    sync_misses: int
    sync_queued: int
    """Messages held by the synchroniser (-1 with message_filters)."""
    frame_queue: int
    pose_source: str
    sync_backend: str
    frames_in_window: int
    num_frames: int
    estimator: str
    """Class name of the estimator, '' if none could be built."""
    estimator_error: str
    device: str
    inferences: int
    pending_inferences: int
    windows_dropped: int
    inference_busy: bool
    inference_mode: str = "thread"
    """Where the estimator runs: process (a child) or thread (the node's process)."""
    estimator_deaths: int = 0
    """Estimator child processes that died or timed out (process mode)."""
    estimator_restarts: int = 0
    """Estimator child processes started after one died (process mode)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Median seconds per latency stage of the recent estimates (``Stats.timing_medians``,
    stages of :data:`sim2art_core.runtime.latency.STAGES` plus transport and node total)."""


def _stale(age: float | None, stall_s: float) -> bool:
    return age is None or age > stall_s


def inputs_status(s: HealthSnapshot, stall_s: float = STALL_S) -> HealthStatus:
    level, msg = OK, "receiving"
    if _stale(s.ages.get("color"), stall_s):
        level, msg = WARN, f"no colour images on {s.color_topic}"
    elif _stale(s.ages.get("synced"), stall_s):
        missing = [k for k in s.active_inputs[1:] if _stale(s.ages.get(k), stall_s)]
        level = WARN
        msg = "colour arrives but nothing synchronises" + (
            f": no {', '.join(missing)}" if missing else f": stamps differ by more than {s.sync_slop_s} s"
        )
    values = {f"{k} rate (Hz)": s.rates.get(k, 0.0) for k in s.active_inputs}
    values.update(
        {
            "synchronised rate (Hz)": s.rates.get("synced", 0.0),
            "colour frames received": s.totals.get("color", 0),
            "synchronised frames": s.totals.get("synced", 0),
            "sync misses": s.sync_misses,
            "frames dropped (queue full)": s.counts.get("frames_dropped_queue", 0),
            "frames dropped (no TF pose)": s.counts.get("frames_dropped_tf", 0),
            "frames rejected (decode/size)": s.counts.get("frames_rejected_decode_error", 0),
            "frame queue": s.frame_queue,
            "sync queue (messages)": s.sync_queued,
            "pose source": s.pose_source,
            "sync": s.sync_backend,
        }
    )
    return HealthStatus("inputs", level, msg, values)


def window_status(s: HealthSnapshot, stall_s: float = STALL_S) -> HealthStatus:
    """WARN when frames arrive but none is accepted: refused (rejected or without a pose) in the
    last ``stall_s`` and no keyframe for as long, or refusals and never a keyframe."""
    rejected = {k: v for k, v in s.counts.items() if k.startswith("frames_rejected_")}
    values = {
        "frames in window": f"{s.frames_in_window}/{s.num_frames}",
        "keyframe rate (Hz)": s.rates.get("keyframes", 0.0),
        "keyframes": s.counts.get("keyframes", 0),
        "window restarts": s.counts.get("window_restarts", 0),
        "time jumps": s.counts.get("time_jumps", 0),
        "resets": s.counts.get("resets", 0),
        "preprocess per keyframe (ms)": float(s.values.get("preprocess_ms", 0.0)),
        "keyframes held (estimate in flight)": s.counts.get("keyframes_held_busy", 0),
        "keyframe hold (ms, last)": float(s.values.get("keyframe_hold_ms", 0.0)),
        **{k.replace("frames_rejected_", "rejected: "): v for k, v in rejected.items()},
    }
    refused_recently = not _stale(s.ages.get("refused"), stall_s)
    no_keyframe = _stale(s.ages.get("keyframes"), stall_s)
    if refused_recently and no_keyframe:
        since = s.ages.get("keyframes")
        how_long = "since start" if since is None else f"for {since:.1f} s"
        why = s.values.get("last_refusal", "")
        return HealthStatus("window", WARN, f"frames arrive but none is accepted {how_long} (last: {why})", values)
    if rejected and s.counts.get("keyframes", 0) == 0:
        return HealthStatus("window", WARN, "waiting for keyframes (every frame so far was rejected)", values)
    msg = "waiting for keyframes" if s.frames_in_window < s.num_frames else "window full"
    return HealthStatus("window", OK, msg, values)


def inference_status(s: HealthSnapshot) -> HealthStatus:
    values = {
        "estimator": s.estimator or "none",
        "device": s.device,
        "inferences": s.inferences,
        "pending inferences": s.pending_inferences,
        "windows dropped (busy)": s.windows_dropped,
        "windows skipped (busy)": s.counts.get("windows_skipped_busy", 0),
        "inference errors": s.counts.get("inference_errors", 0),
        "inference mode": s.inference_mode,
        "estimator process deaths": s.estimator_deaths,
        "estimator process restarts": s.estimator_restarts,
        "inference time (s)": float(s.values.get("inference_s", 0.0)),
        "end-to-end latency (s)": float(s.values.get("latency_s", 0.0)),
        "latency breakdown (ms, median)": format_breakdown(dict(s.timings)),
        "last status": s.values.get("last_status", "none"),
        "last error": s.last_error,
    }
    if not s.estimator:
        return HealthStatus("inference", ERROR, f"no estimator: {s.estimator_error}", values)
    if s.values.get("last_status") == "FAILED":
        return HealthStatus("inference", WARN, "last inference failed", values)
    return HealthStatus("inference", OK, "running" if s.inference_busy else "idle", values)


def node_health(s: HealthSnapshot, stall_s: float = STALL_S) -> tuple[HealthStatus, HealthStatus, HealthStatus]:
    """The node's three statuses (inputs, window, inference); docs/NODE.md "Diagnostics" lists them."""
    return inputs_status(s, stall_s), window_status(s, stall_s), inference_status(s)
