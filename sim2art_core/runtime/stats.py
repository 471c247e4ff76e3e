"""Thread-safe counters, rate meters and a log throttle for the node's run-time (no ROS).

The perception node's frame pipeline, inference thread and diagnostics share these; the
diagnostics are a pure function of a snapshot of them (:mod:`sim2art_core.runtime.health`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable


class RateMeter:
    """Arrival rate (Hz) over the last ``window_s`` seconds (monotonic clock), bounded memory."""

    def __init__(self, window_s: float = 2.0, max_events: int = 512):
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self.total = 0
        self.last: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self.total += 1
            self.last = now

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._times if now - t <= self.window_s]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last event, None if none yet."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return None if self.last is None else now - self.last


class Stats:
    """Thread-safe event counters plus the last error, a few latest values and recent durations.

    Args:
        timing_window: how many recent durations per key :meth:`timing_medians` covers.
    """

    def __init__(self, timing_window: int = 64):
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.values: dict[str, float | str] = {}
        self._timings: dict[str, deque[float]] = {}
        self._timing_window = int(timing_window)
        self.last_error = ""
        self.last_error_time: float | None = None

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def set(self, key: str, value: float | str) -> None:
        with self._lock:
            self.values[key] = value

    def timing(self, key: str, seconds: float) -> None:
        """Remember one duration of ``key`` (the last ``timing_window`` are kept)."""
        with self._lock:
            self._timings.setdefault(key, deque(maxlen=self._timing_window)).append(float(seconds))

    def timing_medians(self) -> dict[str, float]:
        """Median of the recent durations per key (s)."""
        with self._lock:
            recent = {k: sorted(v) for k, v in self._timings.items() if v}
        return {k: (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 for k, v in recent.items()}

    def error(self, message: str) -> None:
        with self._lock:
            self.last_error = message
            self.last_error_time = time.monotonic()

    def snapshot(self) -> tuple[dict[str, int], dict[str, float | str], str]:
        with self._lock:
            return dict(self.counts), dict(self.values), self.last_error


class Throttle:
    """Calls ``log(message)`` at most once every ``period_s`` per key (thread-safe).

    Args:
        log: where messages go (the node's ``get_logger().warning``).
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str, period_s: float = 5.0) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``period_s`` ago; True if it was logged."""
        now = self._clock()
        with self._lock:
            if now - self._last.get(key, -1e18) < period_s:
                return False
            self._last[key] = now
        self._log(message)
        return True
