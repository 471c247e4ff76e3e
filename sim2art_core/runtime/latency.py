"""Where a window's time goes between the frame that completes it and ``/articulation`` (issue 14.5).

A :class:`LatencyTrace` travels with the frame that completes a window: the frame pipeline
stamps it on intake and after its keyframe preprocessing, the request policy when it submits the
window, the inference thread around the estimate (the estimator process reports when it received
the window and when its estimate was done), the node when it fuses and publishes. Every stamp is
``time.monotonic()``: CLOCK_MONOTONIC is one clock for all processes of a Linux machine, so the
estimator child's stamps line up with the node's. :data:`STAGES` turns consecutive events into
the per-stage durations that ``/diagnostics`` ("latency breakdown") and
``sim2art_ros.tools.realtime_bench`` report as medians.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: The events of one window's life, in order (``time.monotonic()`` seconds each).
EVENTS = (
    "arrived",  # the synchroniser handed the frame set to the pipeline (FramePipeline.offer)
    "dequeued",  # the preprocessing thread took it from the intake queue
    "decoded",  # camera pose looked up, images decoded
    "completed",  # keyframe preprocessing done (flow, points): the window is complete
    "submitted",  # the request policy handed the window to the inference thread
    "started",  # the inference thread started on it
    "received",  # the estimator has it (process mode: unpickled in the child)
    "estimated",  # the estimator's estimate is done
    "returned",  # the estimate is back in the inference thread (process mode: through the pipe)
    "handed",  # the executor's publishing callback started on it
    "fused",  # the object model has fused it (publish_mode fused)
    "published",  # every output published
)

#: (stage, from event, to event): consecutive events, so the stages add up to arrived -> published.
STAGES = (
    ("intake queue", "arrived", "dequeued"),
    ("pose + decode", "dequeued", "decoded"),
    ("keyframe", "decoded", "completed"),
    ("rate wait", "completed", "submitted"),
    ("worker wait", "submitted", "started"),
    ("send", "started", "received"),
    ("estimate", "received", "estimated"),
    ("reply", "estimated", "returned"),
    ("handoff", "returned", "handed"),
    ("fuse", "handed", "fused"),
    ("publish", "fused", "published"),
)
#: The whole path inside the node (the sum of :data:`STAGES`).
TOTAL = ("node total", "arrived", "published")


@dataclass(frozen=True)
class LatencyTrace:
    """The events of one window so far (see :data:`EVENTS`); immutable, :meth:`mark` returns a new one."""

    stamp_ns: int = 0
    """Header stamp of the frame that completed the window (ns)."""
    transport_s: float = float("nan")
    """Arrival minus ``stamp_ns`` in the stamps' clock (the node's ROS clock: sim time under ``use_sim_time``)
    (s): camera/driver, DDS and synchroniser; NaN if unknown."""
    times: tuple[tuple[str, float], ...] = ()
    """(event, ``time.monotonic()``) pairs in the order they were marked."""

    def mark(self, event: str, t: float | None = None) -> LatencyTrace:
        """This trace with ``event`` at ``t`` (default: now); a later mark of the same event replaces it."""
        if event not in EVENTS:
            raise ValueError(f"unknown latency event {event!r}; one of {EVENTS}")
        t = time.monotonic() if t is None else float(t)
        return LatencyTrace(
            self.stamp_ns, self.transport_s, (*((e, v) for e, v in self.times if e != event), (event, t))
        )

    def time_of(self, event: str) -> float | None:
        for e, v in self.times:
            if e == event:
                return v
        return None

    def durations(self) -> dict[str, float]:
        """Seconds per stage of :data:`STAGES` whose two events were marked, plus ``node total``."""
        out = {}
        for name, a, b in (*STAGES, TOTAL):
            ta, tb = self.time_of(a), self.time_of(b)
            if ta is not None and tb is not None:
                out[name] = tb - ta
        return out


def format_breakdown(medians_s: dict[str, float]) -> str:
    """``"intake queue 1.2 | keyframe 41.0 | ... | node total 380.1"`` (ms) in :data:`STAGES` order."""
    order = [s[0] for s in STAGES] + ["transport", TOTAL[0]]
    return " | ".join(f"{k} {1e3 * medians_s[k]:.1f}" for k in order if k in medians_s)


def parse_breakdown(text: str) -> dict[str, float]:
    """Inverse of :func:`format_breakdown` (ms per stage); '' gives {}."""
    out = {}
    for part in text.split("|"):
        name, _, value = part.strip().rpartition(" ")
        if name:
            out[name] = float(value)
    return out
