"""The DiagnosticArray the node publishes on ``/diagnostics``, from :mod:`sim2art_core.runtime.health`.

diagnostic_updater is not installable here; the node fills
``diagnostic_msgs/DiagnosticArray`` itself (the same message, so rqt_robot_monitor and
the aggregator show it on a robot). What the statuses say is decided ROS-free in
``sim2art_core.runtime.health.node_health``; this module only converts.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from sim2art_core.runtime.health import HealthStatus

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


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
