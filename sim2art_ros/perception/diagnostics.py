"""The DiagnosticArray the node publishes on ``/diagnostics``, from :mod:`sim2art_core.runtime.health`.

diagnostic_updater is not installable here; the node fills
``diagnostic_msgs/DiagnosticArray`` itself (the same message, so rqt_robot_monitor and
the aggregator show it on a robot). What the statuses say is decided ROS-free in
``sim2art_core.runtime.health.node_health``; this module only converts.
"""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from sim2art_core.runtime.health import HealthSnapshot, HealthStatus
from sim2art_core.runtime.process_estimator import ProcessEstimator

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def estimator_name(estimator) -> str:
    """Class name of the estimator; for one in a child process, the child's estimator's."""
    return estimator.estimator_name if isinstance(estimator, ProcessEstimator) else type(estimator).__name__


def status(name: str, level: int, message: str, hardware_id: str, values: dict) -> DiagnosticStatus:
    """One DiagnosticStatus with ``values`` as string key/values (floats with 4 significant digits)."""

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    return DiagnosticStatus(
        level=bytes([level]) if isinstance(level, int) else level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=fmt(v)) for k, v in values.items()],
    )


def to_array(statuses: tuple[HealthStatus, ...], node_name: str, hardware_id: str, stamp) -> DiagnosticArray:
    """``<node_name>: <status name>`` statuses stamped ``stamp`` (a builtin_interfaces/Time)."""
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status(f"{node_name}: {s.name}", s.level, s.message, hardware_id, s.values) for s in statuses]
    return arr


def snapshot_of(node) -> HealthSnapshot:
    """The perception node's counters at this instant (:class:`~sim2art_ros.perception.node.PerceiveNode`)."""
    counts, values, last_error = node.stats.snapshot()
    now = time.monotonic()
    meters = {**node.inputs.rates, **node.pipeline.rates}
    remote = isinstance(node.estimator, ProcessEstimator)
    return HealthSnapshot(
        counts=counts, values=values, last_error=last_error,
        rates={k: m.rate(now) for k, m in meters.items()}, ages={k: m.age(now) for k, m in meters.items()},
        totals={k: m.total for k, m in meters.items()}, active_inputs=node.inputs.keys,
        color_topic=node.inputs.color_topic, sync_slop_s=node.p["sync_slop_s"],
        sync_misses=node.inputs.sync_misses(node.pipeline.rates["synced"].total),
        sync_queued=node.inputs.sync.queued() if node.inputs.sync is not None else -1,
        frame_queue=node.pipeline.queued, pose_source=node.tf_backend, sync_backend=node.inputs.backend,
        frames_in_window=node.pipeline.builder.num_entries, num_frames=node.pre_cfg.num_frames,
        estimator=estimator_name(node.estimator) if node.estimator is not None else "",
        estimator_error=node.estimator_error, device=node.p["device"], inferences=node.worker.completed,
        pending_inferences=node.worker.pending, windows_dropped=node.worker.dropped,
        inference_busy=node.worker.busy, inference_mode="process" if remote else "thread",
        estimator_deaths=node.estimator.deaths if remote else 0,
        estimator_restarts=node.estimator.restarts if remote else 0,
        timings=node.stats.timing_medians(),
    )  # fmt: skip
