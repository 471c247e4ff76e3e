"""How many *independent* windows support a joint (issue 11: confirmed spurious joints through the node).

The node estimates a window of T keyframes about once per second while a window spans T - 1 keyframe periods
(3 s at the defaults), so consecutive windows share most of their frames and their optical flow. A joint that
flow noise produces on some frames recurs in every window holding those frames: counting windows counts the
same evidence several times. :func:`independent_support` counts instead the largest number of supporting
windows whose frame spans pairwise overlap by at most a given fraction of the shorter span (at 0: windows
that share no frame step), i.e. how many disjoint stretches of the video show the joint.

The maximum is found by the greedy earliest-end rule of interval scheduling (optimal for disjoint intervals;
with an allowed overlap it compares each window to the last one taken, which is what the fraction means
for windows of one length). Hand-written: a dozen intervals, no library needed.
"""

from __future__ import annotations

import numpy as np


def independent_support(first_ns: np.ndarray, last_ns: np.ndarray, max_shared: float = 0.0) -> int:
    """The largest number of windows ``[first_ns[i], last_ns[i]]`` (stamps of their first and newest frame,
    ns; (n,) each) such that any two taken one after the other share at most ``max_shared`` times the shorter
    one's span (0: no common frame step; 1: every window counts, the plain window count).

    A window of a single frame (zero span) overlaps nothing. Raises ValueError for arrays of different shape,
    a window ending before it starts or ``max_shared`` outside [0, 1].
    """
    first = np.asarray(first_ns, dtype=np.int64).reshape(-1)
    last = np.asarray(last_ns, dtype=np.int64).reshape(-1)
    if first.shape != last.shape:
        raise ValueError(f"first_ns and last_ns differ in shape: {first.shape} vs {last.shape}")
    if np.any(last < first):
        raise ValueError("a window ends before it starts")
    if not 0.0 <= float(max_shared) <= 1.0:
        raise ValueError(f"max_shared must be in [0, 1], got {max_shared}")
    if float(max_shared) >= 1.0:
        return int(first.size)
    count, end, start = 0, None, None
    for i in np.lexsort((first, last)):  # earliest end first (ties: the earlier start)
        if end is not None:
            shared = max(0, int(end) - max(int(start), int(first[i])))  # last[i] >= end
            span = min(int(last[i] - first[i]), int(end - start))
            if shared > max_shared * span:
                continue
        count += 1
        start, end = first[i], last[i]
    return count
