"""The node's digital twin outputs (issue 13): ``~/robot_description`` and ``~/save_urdf``.

Each non-FAILED estimate is exported to a URDF (:mod:`sim2art_core.export`) on a small worker thread (an
export takes 0.05-0.3 s: docs/BENCHMARKS.md, so it never blocks the executor; a newer estimate replaces one
still waiting; an export starts at least ``min_period_s`` after the previous one ended, the
``robot_description_min_period_s`` parameter, 0 by default: an export costs about 0.4 of an estimate of CPU
and runs beside the next keyframes and estimate, docs/BENCHMARKS.md; the thread's nice value is raised by
``niceness``, the ``robot_description_niceness`` parameter). The URDF is published on
``~/robot_description`` (std_msgs/String, reliable, transient local: a late ``robot_state_publisher`` gets
the newest) whenever its text changes. Its joints are named
``<object_id>/joint_<child>``, like the node's ``~/joint_states`` entries, so
``robot_state_publisher`` on those two topics gives the object's link TFs (docs/EXPORT.md).
``~/save_urdf`` (std_srvs/Trigger) writes the newest URDF and its meshes to the ``urdf_folder`` parameter.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.export import ExportConfig, ExportError, UrdfModel, export_urdf, observed_geometry_from_window
from sim2art_core.runtime.frame_pipeline import lower_thread_priority
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window

ROBOT_DESCRIPTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class DigitalTwin:
    """URDF of the newest estimate: publisher, save service and the export thread of one node."""

    def __init__(self, node, object_id: str, folder: str, callback_group=None, niceness: int = 0,
                 min_period_s: float = 0.0, joints: str = "confirmed"):  # fmt: skip
        self.node = node
        self.niceness = int(niceness)
        self.min_period_s = max(0.0, float(min_period_s))
        self._last_end = -math.inf
        self.nice: int | None = None
        """The export thread's nice value once lowered (None: unchanged, or not Linux)."""
        self.folder = folder
        self.cfg = ExportConfig(link_prefix=f"{object_id}/", robot_name=object_id, joints=joints)
        self.pub = node.create_publisher(String, "~/robot_description", ROBOT_DESCRIPTION_QOS)
        node.create_service(Trigger, "~/save_urdf", self._on_save, callback_group=callback_group)
        self.model: UrdfModel | None = None
        self.exports = self.errors = 0
        self._cond = threading.Condition()
        self._pending: tuple[Window, ArticulationEstimate] | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="sim2art_urdf_export", daemon=True)
        self._thread.start()

    def update(self, window: Window, estimate: ArticulationEstimate) -> None:
        """Queue the export of ``estimate`` (FAILED ones are ignored: the last good URDF stays)."""
        if estimate.status == EstimateStatus.FAILED:
            return
        with self._cond:
            self._pending = (window, estimate)
            self._cond.notify()

    def reset(self, _event=None) -> None:
        """Forget the pending export and the newest model (``~/reset``, time jumps): ``~/save_urdf`` then
        answers "no URDF yet" until a new estimate is exported. The latched topic keeps its last message
        (a topic cannot be emptied); the next export replaces it."""
        with self._cond:
            self._pending = None
            self.model = None
            self._generation += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no export is pending or running (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    _busy = False
    _generation = 0

    def _loop(self) -> None:
        if self.niceness > 0:  # background work: the keyframes and the estimator get the CPU first
            self.nice = lower_thread_priority(self.niceness)
            if self.nice is None:
                self.node.get_logger().info("robot_description_niceness is ignored: per-thread priorities need Linux")
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                wait = self._last_end + self.min_period_s - time.monotonic()
                if wait > 0:  # too soon after the last export: newer estimates replace the pending one meanwhile
                    self._cond.wait_for(lambda: self._stop, timeout=wait)
                    if self._stop:
                        return
                    if self._pending is None:  # reset meanwhile
                        continue
                (window, est), self._pending, self._busy = self._pending, None, True
                generation = self._generation
            try:
                model = export_urdf(est, observed_geometry_from_window(window, est), self.cfg)
                if generation != self._generation:
                    continue  # started before a reset: dropped (the finally block still runs)
                changed = self.model is None or model.urdf != self.model.urdf
                self.model = model
                self.exports += 1
                if changed:
                    self.pub.publish(String(data=model.urdf))
            except (ExportError, ValueError) as e:
                self.errors += 1
                self.node.get_logger().warning(f"URDF export failed: {e}", throttle_duration_sec=5.0)
            finally:
                with self._cond:
                    self._busy = False
                    self._last_end = time.monotonic()
                    self._cond.notify_all()

    def _on_save(self, request, response):
        model = self.model
        if model is None:
            response.success, response.message = False, "no URDF yet: no estimate has been exported"
            return response
        try:
            path = model.write(Path(self.folder).expanduser())
        except OSError as e:
            response.success, response.message = False, f"cannot write to {self.folder}: {e}"
            return response
        response.success, response.message = True, f"wrote {path} and {len(model.files)} mesh file(s)"
        return response

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
