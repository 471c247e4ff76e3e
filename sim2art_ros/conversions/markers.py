"""RViz output of an estimate: MarkerArray (axes, motion, labels) and the segmented PointCloud2.

Markers (namespace ``sim2art/<object_id>``), all in the estimate's fixed frame:

* per moving joint an ARROW along the axis from its origin (revolute: red, prismatic: blue);
* revolute: a LINE_STRIP arc through the child's centroid around the axis over the
  observed range [lower, upper]; prismatic: an ARROW from the child's centroid over
  the observed travel;
* per part a TEXT label ("base", "part_3: revolute 0.45 rad");

Every array starts with a DELETEALL marker, so markers of an older estimate with more
joints never linger (the OMIP pattern). The point cloud has fields x, y, z, rgb and
``part_id`` (uint16, = ArticulatedPart.label); points without a label are left out.
sensor_msgs_py is not installable here, so the cloud is packed with a NumPy
structured array.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.geometry import point_line_distance, rotation_about_axis, unit
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window
from sim2art_ros.conversions.articulation import moving_joints

JOINT_COLORS = {JointType.REVOLUTE: (0.9, 0.2, 0.2), JointType.PRISMATIC: (0.2, 0.4, 0.95)}

CLOUD_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "rgb", "part_id"],
        "formats": ["<f4", "<f4", "<f4", "<u4", "<u2"],
        "offsets": [0, 4, 8, 12, 16],
        "itemsize": 20,
    }
)
CLOUD_FIELDS = [
    PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
    PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
    PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
    # RViz convention: packed 0x00RRGGBB declared as FLOAT32
    PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1),
    PointField(name="part_id", offset=16, datatype=PointField.UINT16, count=1),
]


def _p(v) -> Point:
    x, y, z = (float(c) for c in np.asarray(v, dtype=np.float64).reshape(3))
    return Point(x=x, y=y, z=z)


def _color(rgb, a: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(a))


def delete_all_markers(header) -> MarkerArray:
    """A MarkerArray that clears everything this publisher drew."""
    m = Marker(action=Marker.DELETEALL)
    m.header = header
    return MarkerArray(markers=[m])


def estimate_markers(estimate: ArticulationEstimate, object_id: str, header, axis_length: float = 0.4) -> MarkerArray:
    """Markers of one estimate (see module doc); ``header`` carries the fixed frame and stamp."""
    ns = f"sim2art/{object_id}"
    out = delete_all_markers(header).markers
    if estimate.status == EstimateStatus.FAILED:
        return MarkerArray(markers=out)

    def marker(mtype: int, mid: int, rgb, scale) -> Marker:
        m = Marker(ns=ns, id=mid, type=mtype, action=Marker.ADD)
        m.header = header
        m.pose.orientation.w = 1.0
        m.scale.x, m.scale.y, m.scale.z = (float(s) for s in scale)
        m.color = _color(rgb)
        return m

    parts = {p.label: p for p in estimate.parts}
    joints = moving_joints(estimate)
    for i, j in enumerate(joints):
        rgb = JOINT_COLORS[j.type]
        axis, origin = unit(j.axis), np.asarray(j.origin, dtype=np.float64)
        arrow = marker(Marker.ARROW, 100 + i, rgb, (0.015, 0.03, 0.05))
        arrow.points = [_p(origin - 0.5 * axis_length * axis), _p(origin + 0.5 * axis_length * axis)]
        out.append(arrow)
        child = parts.get(j.child)
        if child is None:
            continue
        c0 = np.asarray(child.centroid, dtype=np.float64)
        lo, hi = j.lower, j.upper
        if j.type == JointType.REVOLUTE:
            arc = marker(Marker.LINE_STRIP, 200 + i, rgb, (0.01, 0, 0))
            now = j.state
            # the centroid is at the newest state: turn it back to each angle of the observed range
            angles = np.linspace(lo, hi, max(2, int(np.ceil(abs(hi - lo) / np.deg2rad(3))) + 1))
            arc.points = [_p(rotation_about_axis(axis, a - now) @ (c0 - origin) + origin) for a in angles]
            if point_line_distance(c0, origin, axis) > 1e-3:
                out.append(arc)
        else:
            travel = marker(Marker.ARROW, 200 + i, rgb, (0.01, 0.025, 0.04))
            start = c0 - (j.state - lo) * axis
            travel.points = [_p(start), _p(start + (hi - lo) * axis)]
            out.append(travel)
    kinds = {j.child: j for j in joints}
    for k, part in enumerate(estimate.parts):
        text = marker(Marker.TEXT_VIEW_FACING, 300 + k, (1.0, 1.0, 1.0), (0, 0, 0.05))
        text.pose.position = _p(np.asarray(part.centroid) + np.array([0.0, 0.0, 0.05]))
        j = kinds.get(part.label)
        if j is None:
            text.text = part.name
        elif j.type == JointType.REVOLUTE:
            text.text = f"{part.name}: revolute {j.state:+.2f} rad"
        else:
            text.text = f"{part.name}: prismatic {j.state:+.3f} m"
        out.append(text)
    return MarkerArray(markers=out)


def segmented_cloud(window: Window, labels: np.ndarray, header) -> PointCloud2 | None:
    """The window's newest frame as a PointCloud2 (x, y, z, rgb, part_id); None without labelled points.

    ``labels`` is the estimate's (T, N) part labels; -1 (no label) points are left out.
    """
    labels = np.asarray(labels)
    if labels.shape != window.valid.shape:
        return None
    keep = window.valid[-1] & (labels[-1] >= 0)
    n = int(keep.sum())
    if n == 0:
        return None
    cloud = np.zeros(n, dtype=CLOUD_DTYPE)
    pts = window.points[-1][keep]
    cloud["x"], cloud["y"], cloud["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if window.colors is not None:
        c = window.colors[-1][keep].astype(np.uint32)
        cloud["rgb"] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    cloud["part_id"] = labels[-1][keep].astype(np.uint16)
    msg = PointCloud2(
        height=1, width=n, fields=CLOUD_FIELDS, is_bigendian=False, point_step=CLOUD_DTYPE.itemsize, is_dense=True
    )
    msg.header = header
    msg.row_step = msg.point_step * n
    msg.data = cloud.tobytes()
    return msg


def cloud_to_array(msg: PointCloud2) -> np.ndarray:
    """Structured array (x, y, z, rgb, part_id) of a cloud written by :func:`segmented_cloud` (tests, tools)."""
    return np.frombuffer(bytes(msg.data), dtype=CLOUD_DTYPE, count=int(msg.width) * int(msg.height))
