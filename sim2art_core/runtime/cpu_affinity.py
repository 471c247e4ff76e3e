"""Which CPUs the estimator child and the node run on (``estimator_cpus``; docs/NODE.md "Real-time budget").

On a small CPU the estimator child and the node's preprocessing (intake, keyframes: DIS optical
flow with OpenCV's thread pool) compete for the same cores, and the scheduler moves them across
each other: the estimate and the completing keyframe are both slower than alone. Pinning the
child to some CPUs and every thread of the node to the others keeps the node's work off the
estimator's cores (Linux ``sched_setaffinity``; no privilege needed for one's own threads).

:func:`split_cpus` decides, from the setting and the CPUs this process is *allowed*
(``os.sched_getaffinity(0)``: a ``taskset`` / cpuset / container limit is respected, never
widened), which CPUs each side gets; it never pins when that is impossible (one allowed CPU, no
``sched_setaffinity``) and then says why in :attr:`CpuSplit.note` (the node logs it). Settings:

* ``none``: nothing is pinned (the scheduler decides, as before).
* ``auto``: the child gets the ``k`` highest-numbered allowed CPUs, ``k`` = ``torch_threads``
  (0: half of them), at most all but one; the node keeps the rest.
* a CPU list (``"3"``, ``"2,3"``, ``"4-7"``): the child gets these (those not allowed are left
  out, with a note), the node the remaining allowed CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: ``estimator_cpus`` settings besides a CPU list.
KEYWORDS = ("none", "auto")


@dataclass(frozen=True)
class CpuSplit:
    """Where the estimator child and the node run. Empty sets: that side is not pinned."""

    estimator: frozenset[int] = frozenset()
    """CPUs of the estimator child (empty = not pinned)."""
    node: frozenset[int] = frozenset()
    """CPUs of every thread of the node's process (empty = not pinned)."""
    note: str = ""
    """Why less than asked was pinned ('' when the setting was applied as given or is ``none``)."""


def parse_cpu_list(text: str) -> frozenset[int]:
    """``"0,2-3"`` -> {0, 2, 3}. Raises ValueError for anything else (empty, negative, reversed range)."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"'{text}' is not a CPU list like '3', '2,3' or '4-7'") from None
        if a < 0 or b < a:
            raise ValueError(f"'{text}': CPU ranges must be 'low-high' with 0 <= low <= high")
        cpus.update(range(a, b + 1))
    return frozenset(cpus)


def check_setting(text: str) -> str:
    """The setting, stripped; ValueError unless it is ``none``, ``auto`` or a CPU list."""
    text = str(text).strip()
    if text not in KEYWORDS:
        try:
            parse_cpu_list(text)
        except ValueError as e:
            raise ValueError(f"estimator_cpus must be 'none', 'auto' or a CPU list: {e}") from None
    return text


def allowed_cpus() -> frozenset[int]:
    """CPUs this process may run on (empty where the OS cannot pin threads)."""
    if not hasattr(os, "sched_getaffinity") or not hasattr(os, "sched_setaffinity"):
        return frozenset()
    return frozenset(os.sched_getaffinity(0))


def split_cpus(setting: str, allowed: frozenset[int] | set[int], torch_threads: int = 1) -> CpuSplit:
    """The CPUs of the estimator child and of the node (module doc) within ``allowed``."""
    setting = check_setting(setting)
    allowed = frozenset(allowed)
    if setting == "none":
        return CpuSplit()
    if not allowed:
        return CpuSplit(note="estimator_cpus ignored: this OS cannot pin threads to CPUs (Linux only)")
    if len(allowed) < 2:
        return CpuSplit(note=f"estimator_cpus ignored: this process may only use CPU {min(allowed)}, nothing to split")
    ordered = sorted(allowed)
    note = ""
    if setting == "auto":
        want = torch_threads if torch_threads > 0 else len(ordered) // 2
        k = min(want, len(ordered) - 1)
        if k < want:
            note = f"estimator_cpus auto: {want} torch threads but {len(ordered)} CPUs allowed: child gets {k}"
        estimator = frozenset(ordered[-k:])
    else:
        asked = parse_cpu_list(setting)
        estimator = asked & allowed
        if not estimator:
            return CpuSplit(note=f"estimator_cpus ignored: CPUs {setting} are not among the allowed {_fmt(allowed)}")
        if estimator != asked:
            note = f"estimator_cpus: CPUs {_fmt(asked - allowed)} not allowed here, child gets {_fmt(estimator)}"
    node = allowed - estimator
    if not node:
        note = (note + "; " if note else "") + "node not pinned: estimator_cpus covers every allowed CPU"
    return CpuSplit(estimator, node, note)


def pin_thread(cpus: frozenset[int] | set[int], tid: int = 0) -> bool:
    """Pin one thread (``tid`` 0 = the calling one) to ``cpus``; False where that is impossible."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(tid, cpus)
    except (OSError, ValueError):  # a CPU outside the cpuset, a thread that just exited
        return False
    return True


def pin_process(cpus: frozenset[int] | set[int]) -> int:
    """Pin every thread of this process to ``cpus`` (threads started later inherit it); returns how many.

    ``sched_setaffinity`` acts on one thread, so each entry of ``/proc/self/task`` is set
    (Python's, OpenCV's and DDS's threads alike). 0 where that is impossible.
    """
    if not cpus or not os.path.isdir("/proc/self/task"):
        return 0
    return sum(pin_thread(cpus, int(tid)) for tid in os.listdir("/proc/self/task"))


def _fmt(cpus) -> str:
    return ",".join(map(str, sorted(cpus)))
