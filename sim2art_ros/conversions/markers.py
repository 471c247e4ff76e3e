"""RViz output of an estimate: MarkerArray (axes, motion, labels) and the segmented PointCloud2.

Markers (namespace ``sim2art/<object_id>``), all in the estimate's fixed frame:

* per moving joint an ARROW along the axis from its origin (revolute: red, prismatic: blue);
* revolute: a LINE_STRIP arc through the child's centroid around the axis over the
  observed range [lower, upper]; prismatic: an ARROW from the child's centroid over
  the observed travel;
* per part a TEXT label ("base", "part_3: revolute 0.45 rad");
* a joint the fused model has not confirmed (``JointEstimate.confirmed`` false: a hypothesis; every joint
  of a per-window estimate) is drawn so a person sees it is tentative: in namespace
  ``sim2art/<object_id>/unconfirmed`` (RViz can hide it), greyed and half transparent, its motion a
  dashed LINE_LIST, its part's label tagged "[unconfirmed, n windows]". The planner-facing outputs
  (joint frames, JointState, URDF) leave such joints out by default; the markers still show them.

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
#: An unconfirmed joint's colour: its type's colour this far towards grey, at this opacity.
UNCONFIRMED_GREYING, UNCONFIRMED_ALPHA, GREY = 0.7, 0.5, (0.6, 0.6, 0.6)

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


def _greyed(rgb) -> tuple[float, float, float]:
    return tuple((1.0 - UNCONFIRMED_GREYING) * c + UNCONFIRMED_GREYING * g for c, g in zip(rgb, GREY, strict=True))


def _dashed(points: list[np.ndarray], dash_m: float = 0.02) -> list[np.ndarray]:
    """LINE_LIST pairs drawing the polyline ``points`` as dashes of ``dash_m`` with gaps as long, the
    pattern running along the whole polyline (a dash over a vertex bends with it)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < 2:
        return []
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    if arc[-1] <= 0:
        return []

    def at(s: float) -> np.ndarray:
        return np.array([np.interp(s, arc, pts[:, k]) for k in range(3)])

    out: list[np.ndarray] = []
    for s0 in np.arange(0.0, arc[-1], 2 * dash_m):
        s1 = min(s0 + dash_m, arc[-1])
        stops = [at(s0), *pts[(arc > s0) & (arc < s1)], at(s1)]
        for a, b in zip(stops[:-1], stops[1:], strict=True):
            out += [a, b]
    return out


def estimate_markers(estimate: ArticulationEstimate, object_id: str, header, axis_length: float = 0.4) -> MarkerArray:
    """Markers of one estimate (see module doc); ``header`` carries the fixed frame and stamp."""
    ns = f"sim2art/{object_id}"
    out = delete_all_markers(header).markers
    if estimate.status == EstimateStatus.FAILED:
        return MarkerArray(markers=out)

    def marker(mtype: int, mid: int, rgb, scale, confirmed: bool = True) -> Marker:
        m = Marker(ns=ns if confirmed else f"{ns}/unconfirmed", id=mid, type=mtype, action=Marker.ADD)
        m.header = header
        m.pose.orientation.w = 1.0
        m.scale.x, m.scale.y, m.scale.z = (float(s) for s in scale)
        m.color = _color(rgb) if confirmed else _color(_greyed(rgb), UNCONFIRMED_ALPHA)
        return m

    def line(mid: int, rgb, width: float, points: list[np.ndarray], confirmed: bool) -> Marker:
        """A solid LINE_STRIP, or dashes (LINE_LIST) for an unconfirmed joint."""
        m = marker(Marker.LINE_STRIP if confirmed else Marker.LINE_LIST, mid, rgb, (width, 0, 0), confirmed)
        m.points = [_p(v) for v in (points if confirmed else _dashed(points))]
        return m

    parts = {p.label: p for p in estimate.parts}
    joints = moving_joints(estimate)
    for i, j in enumerate(joints):
        rgb, sure = JOINT_COLORS[j.type], bool(j.confirmed)
        axis, origin = unit(j.axis), np.asarray(j.origin, dtype=np.float64)
        arrow = marker(Marker.ARROW, 100 + i, rgb, (0.015, 0.03, 0.05), sure)
        arrow.points = [_p(origin - 0.5 * axis_length * axis), _p(origin + 0.5 * axis_length * axis)]
        out.append(arrow)
        child = parts.get(j.child)
        if child is None:
            continue
        c0 = np.asarray(child.centroid, dtype=np.float64)
        lo, hi = j.lower, j.upper
        if j.type == JointType.REVOLUTE:
            now = j.state
            # the centroid is at the newest state: turn it back to each angle of the observed range
            angles = np.linspace(lo, hi, max(2, int(np.ceil(abs(hi - lo) / np.deg2rad(3))) + 1))
            arc = [rotation_about_axis(axis, a - now) @ (c0 - origin) + origin for a in angles]
            if point_line_distance(c0, origin, axis) > 1e-3:
                out.append(line(200 + i, rgb, 0.01, arc, sure))
        elif sure:
            travel = marker(Marker.ARROW, 200 + i, rgb, (0.01, 0.025, 0.04))
            start = c0 - (j.state - lo) * axis
            travel.points = [_p(start), _p(start + (hi - lo) * axis)]
            out.append(travel)
        else:
            start = c0 - (j.state - lo) * axis
            out.append(line(200 + i, rgb, 0.01, [start, start + (hi - lo) * axis], sure))
    kinds = {j.child: j for j in joints}
    for k, part in enumerate(estimate.parts):
        j = kinds.get(part.label)
        sure = j is None or bool(j.confirmed)
        text = marker(Marker.TEXT_VIEW_FACING, 300 + k, (1.0, 1.0, 1.0), (0, 0, 0.05), sure)
        text.pose.position = _p(np.asarray(part.centroid) + np.array([0.0, 0.0, 0.05]))
        if j is None:
            text.text = part.name
        elif j.type == JointType.REVOLUTE:
            text.text = f"{part.name}: revolute {j.state:+.2f} rad"
        else:
            text.text = f"{part.name}: prismatic {j.state:+.3f} m"
        if not sure:
            n = max(int(j.support_windows), 1)
            text.text += f" [unconfirmed, {n} window{'s' if n != 1 else ''}]"
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
