"""Camera poses from TF: tf2_ros where it exists, a small buffer of our own otherwise.

tf2_ros is not installable in the pip-only environment (ros_pip_environment.md §6),
so :class:`TfBuffer` does what the node needs of it: a tree of static and
time-stamped dynamic transforms fed from ``/tf`` and ``/tf_static``, looked up at an
image stamp with interpolation (linear translation, SLERP rotation through
``scipy.spatial.transform.Slerp``) and tf2's rules: no extrapolation, stamp 0 means
"latest", a dynamic edge holds ``cache_time_s`` of history. It imports nothing from
rclpy, so bag tools can use it too (feed :meth:`TfBuffer.ingest` rosbags messages).

:func:`make_tf_lookup` returns the tf2_ros-backed lookup when tf2_ros is importable
(a real ROS install) and ours otherwise; both offer ``wait_for(target, source,
stamp_ns, timeout_s) -> 4x4 target_from_source``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from sim2art_core.geometry import invert_transform, make_transform, matrix_from_quaternion


class TransformUnavailable(LookupError):
    """A transform cannot be looked up; ``kind`` says why.

    Kinds: "unknown_frame", "unconnected" (frames in different trees), "future" (the stamp
    is newer than the newest transform: it may still arrive), "past" (older than the cache).
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind

    @property
    def may_arrive(self) -> bool:
        """Waiting could help (the data may still come)."""
        return self.kind in ("future", "unknown_frame", "unconnected")


def transform_msg_to_matrix(transform) -> np.ndarray:
    """4x4 of a geometry_msgs/Transform (rclpy or rosbags)."""
    t, q = transform.translation, transform.rotation
    return make_transform(matrix_from_quaternion([q.x, q.y, q.z, q.w]), [t.x, t.y, t.z])


class _Edge:
    """parent_from_child over time for one child frame."""

    def __init__(self, parent: str):
        self.parent = parent
        self.static: np.ndarray | None = None
        self.stamps: list[int] = []
        self.mats: list[np.ndarray] = []

    def insert(self, stamp_ns: int, mat: np.ndarray, cache_ns: int) -> bool:
        """Add one transform; returns True when it was older than the whole cache (time went back).

        Such a transform would be cut at once and every later lookup on the new time line would
        fail ("past"): the old history is dropped instead (tf2 clears its buffer on a jump back too).
        """
        jumped = bool(self.stamps) and stamp_ns < self.stamps[-1] - cache_ns
        if jumped:
            self.stamps, self.mats = [], []
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.mats[i] = mat  # a re-sent transform replaces the old one
        else:
            self.stamps.insert(i, stamp_ns)
            self.mats.insert(i, mat)
        cut = bisect.bisect_left(self.stamps, self.stamps[-1] - cache_ns)
        if cut:
            del self.stamps[:cut]
            del self.mats[:cut]
        return jumped

    def keep_between(self, lo_ns: int, hi_ns: int) -> None:
        keep = [i for i, s in enumerate(self.stamps) if lo_ns <= s <= hi_ns]
        self.stamps = [self.stamps[i] for i in keep]
        self.mats = [self.mats[i] for i in keep]

    def at(self, stamp_ns: int, child: str) -> np.ndarray:
        if self.static is not None:
            return self.static
        if not self.stamps:
            raise TransformUnavailable("unknown_frame", f"no transform {self.parent} -> {child} yet")
        if stamp_ns == 0:
            return self.mats[-1]
        if stamp_ns > self.stamps[-1]:
            raise TransformUnavailable(
                "future",
                f"{self.parent} -> {child} at {stamp_ns} ns: newest transform is "
                f"{(stamp_ns - self.stamps[-1]) * 1e-9:.3f} s older (no extrapolation)",
            )
        if stamp_ns < self.stamps[0]:
            raise TransformUnavailable(
                "past",
                f"{self.parent} -> {child} at {stamp_ns} ns: older than the cache "
                f"(oldest {(self.stamps[0] - stamp_ns) * 1e-9:.3f} s newer)",
            )
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if self.stamps[i] == stamp_ns:
            return self.mats[i]
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        a, b = self.mats[i - 1], self.mats[i]
        alpha = (stamp_ns - t0) / (t1 - t0)
        rot = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([a[:3, :3], b[:3, :3]])))([alpha]).as_matrix()[0]
        return make_transform(rot, (1 - alpha) * a[:3, 3] + alpha * b[:3, 3])


class TfBuffer:
    """Thread-safe TF tree: ``set_transform`` / ``ingest`` to fill, ``lookup`` / ``wait_for`` to query.

    Args:
        cache_time_s: history kept per dynamic edge (tf2's default is 10 s).
    """

    def __init__(self, cache_time_s: float = 10.0):
        self._cache_ns = int(cache_time_s * 1e9)
        self._edges: dict[str, _Edge] = {}
        self._cond = threading.Condition()
        self.time_jumps = 0  # dynamic transforms older than an edge's whole cache (see _Edge.insert)

    def clear(self, keep_between_ns: tuple[int, int] | None = None) -> None:
        """Forget the dynamic transforms (all, or those outside ``keep_between_ns``); static ones stay.

        Like tf2's ``clear()``: /tf_static is latched and never re-sent, so it must survive.
        """
        with self._cond:
            for edge in self._edges.values():
                if keep_between_ns is None:
                    edge.stamps, edge.mats = [], []
                else:
                    edge.keep_between(*keep_between_ns)

    def set_transform(self, parent: str, child: str, stamp_ns: int, parent_from_child: np.ndarray, static: bool):
        """Add one transform; a new parent for a child replaces the child's history (tf2 behaviour)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"invalid transform frames '{parent}' -> '{child}'")
        mat = np.asarray(parent_from_child, dtype=np.float64)
        if mat.shape != (4, 4) or not np.all(np.isfinite(mat)):
            raise ValueError(f"transform {parent} -> {child} is not a finite 4x4 matrix")
        with self._cond:
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent:
                edge = self._edges[child] = _Edge(parent)
            if static:
                edge.static = mat
            else:
                self.time_jumps += int(edge.insert(int(stamp_ns), mat, self._cache_ns))
            self._cond.notify_all()

    def ingest(self, transforms: Iterable, static: bool) -> int:
        """Add the TransformStamped items of a TFMessage (rclpy or rosbags); returns how many were used.

        Malformed items (empty frame names, NaN) are skipped, never raised: TF is input data.
        """
        used = 0
        for t in transforms:
            try:
                stamp = int(t.header.stamp.sec) * 1_000_000_000 + int(t.header.stamp.nanosec)
                mat = transform_msg_to_matrix(t.transform)
                self.set_transform(t.header.frame_id, t.child_frame_id, stamp, mat, static)
                used += 1
            except ValueError:
                continue
        return used

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        seen = {frame}
        while chain[-1] in self._edges:
            parent = self._edges[chain[-1]].parent
            if parent in seen:  # a loop in the published tree: stop rather than spin
                break
            chain.append(parent)
            seen.add(parent)
        return chain

    def _root_from(self, chain: list[str], stop: str, stamp_ns: int) -> np.ndarray:
        """stop_from_chain[0] by composing edges up to ``stop``."""
        T = np.eye(4)
        for child in chain:
            if child == stop:
                break
            T = self._edges[child].at(stamp_ns, child) @ T
        return T

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """4x4 ``target_from_source`` at ``stamp_ns`` (0 = latest); raises :class:`TransformUnavailable`."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        with self._cond:
            for f in (target, source):
                if f not in self._edges and not any(e.parent == f for e in self._edges.values()):
                    raise TransformUnavailable("unknown_frame", f"frame '{f}' does not exist in the TF tree")
            up_s, up_t = self._chain(source), self._chain(target)
            common = next((f for f in up_s if f in set(up_t)), None)
            if common is None:
                raise TransformUnavailable(
                    "unconnected", f"'{target}' and '{source}' are not connected (roots {up_t[-1]}, {up_s[-1]})"
                )
            common_from_source = self._root_from(up_s, common, int(stamp_ns))
            common_from_target = self._root_from(up_t, common, int(stamp_ns))
        return invert_transform(common_from_target) @ common_from_source

    def wait_for(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        """:meth:`lookup`, waiting up to ``timeout_s`` for transforms that may still arrive."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            try:
                return self.lookup(target, source, stamp_ns)
            except TransformUnavailable as e:
                left = deadline - time.monotonic()
                if not e.may_arrive or left <= 0:
                    raise
                with self._cond:
                    self._cond.wait(timeout=min(left, 0.05))


class Tf2RosLookup:
    """The same ``wait_for`` on top of tf2_ros (a real ROS install): Buffer + TransformListener."""

    def __init__(self, node, cache_time_s: float = 10.0):
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2 = tf2_ros
        self.buffer = tf2_ros.Buffer(cache_time=Duration(seconds=cache_time_s))
        self.listener = tf2_ros.TransformListener(self.buffer, node, spin_thread=False)

    def clear(self, keep_between_ns: tuple[int, int] | None = None) -> None:
        """tf2's ``Buffer.clear()`` (dynamic transforms only; tf2 cannot keep a time range)."""
        self.buffer.clear()

    def wait_for(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            t = self.buffer.lookup_transform(
                target, source, Time(nanoseconds=int(stamp_ns)), timeout=Duration(seconds=max(0.0, timeout_s))
            )
        except self._tf2.TransformException as e:
            raise TransformUnavailable("tf2", f"{type(e).__name__}: {e}") from e
        return transform_msg_to_matrix(t.transform)


def tf2_ros_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True
