"""Approximate-time synchronisation of the camera topics (colour, depth, camera_info, [mask]).

On a ROS install the node uses ``message_filters.ApproximateTimeSynchronizer``;
message_filters is not installable here, so :class:`ApproximateSync` does the same
job: every input keeps its newest ``queue_size`` messages; a set is emitted when
every other input has a message within ``slop`` of a colour (pivot) message; the
newest such set wins and everything older is discarded. Colour messages discarded
without a match are counted as sync misses (the diagnostic that tells a user why
nothing happens, e.g. a missing camera_info or a clock mismatch).

The callback runs outside the lock, so a slow consumer never blocks the inputs
(unlike message_filters' Python synchroniser, ros2/message_filters#65); the node's
callback only queues the set anyway.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable


def header_stamp_ns(msg) -> int:
    s = msg.header.stamp
    return int(s.sec) * 1_000_000_000 + int(s.nanosec)


class ApproximateSync:
    """Match messages of ``num_inputs`` streams by header stamp.

    Args:
        num_inputs: number of streams; input 0 is the pivot (the colour image).
        queue_size: messages kept per input while waiting for partners.
        slop_s: largest stamp difference between the pivot and any partner.
        callback: called with one message per input (in input order) for every matched set.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop_s: float, callback: Callable[..., None]):
        if num_inputs < 1 or queue_size < 1 or slop_s < 0:
            raise ValueError("ApproximateSync needs num_inputs >= 1, queue_size >= 1, slop_s >= 0")
        self.num_inputs = num_inputs
        self.queue_size = queue_size
        self.slop_ns = int(round(slop_s * 1e9))
        self.callback = callback
        self._stamps: list[list[int]] = [[] for _ in range(num_inputs)]
        self._msgs: list[list[object]] = [[] for _ in range(num_inputs)]
        self._lock = threading.Lock()
        self.matched = 0
        self.pivot_misses = 0  # pivot messages discarded without a partner set

    def reset(self) -> None:
        with self._lock:
            self._stamps = [[] for _ in range(self.num_inputs)]
            self._msgs = [[] for _ in range(self.num_inputs)]

    def queued(self) -> int:
        """Messages currently held (bounded by num_inputs * queue_size)."""
        with self._lock:
            return sum(len(s) for s in self._stamps)

    def add(self, index: int, msg) -> None:
        """Offer a message of input ``index``; emits a matched set if one is complete."""
        stamp = header_stamp_ns(msg)
        with self._lock:
            stamps, msgs = self._stamps[index], self._msgs[index]
            i = bisect.bisect_right(stamps, stamp)
            stamps.insert(i, stamp)
            msgs.insert(i, msg)
            if len(stamps) > self.queue_size:
                del stamps[0]
                del msgs[0]
                if index == 0:
                    self.pivot_misses += 1
            match = self._find_match()
        if match is not None:
            self.callback(*match)

    def _find_match(self):
        pivots = self._stamps[0]
        for p in range(len(pivots) - 1, -1, -1):  # newest pivot first
            s = pivots[p]
            picks = [p]
            for k in range(1, self.num_inputs):
                cand = self._stamps[k]
                if not cand:
                    return None
                j = bisect.bisect_left(cand, s)
                best = min((c for c in (j - 1, j) if 0 <= c < len(cand)), key=lambda c: abs(cand[c] - s))
                if abs(cand[best] - s) > self.slop_ns:
                    break
                picks.append(best)
            else:
                out = tuple(self._msgs[k][picks[k]] for k in range(self.num_inputs))
                self.pivot_misses += p  # older pivots can no longer be matched
                for k in range(self.num_inputs):
                    del self._stamps[k][: picks[k] + 1]
                    del self._msgs[k][: picks[k] + 1]
                self.matched += 1
                return out
        return None
