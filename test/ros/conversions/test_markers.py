"""RViz markers and the segmented point cloud."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import point_line_distance
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window
from sim2art_ros.conversions.markers import cloud_to_array, estimate_markers, segmented_cloud

HEADER = Header(frame_id="odom")


def _estimate(kind: JointType, status=EstimateStatus.OK, confirmed: bool = True) -> ArticulationEstimate:
    base = PartEstimate(0, True, 10, np.zeros(3), -np.ones(3), np.ones(3), 0.9)
    door = PartEstimate(1, False, 10, np.array([0.5, 0.0, 0.0]), np.zeros(3), np.ones(3), 0.9)
    joint = JointEstimate(
        1, 0, kind, np.array([0.8, 0.1, 0.1]), np.array([0.0, 0.0, 1.0]), np.zeros(3),
        np.array([0.0, 0.3, 0.6]), 0.8, support_windows=3 if confirmed else 1, confirmed=confirmed,
    )  # fmt: skip
    return ArticulationEstimate(status, "odom", np.array([1, 2, 3]), np.zeros((3, 4), np.int16), (base, door), (joint,))


def test_revolute_markers_arc_around_the_axis():
    markers = estimate_markers(_estimate(JointType.REVOLUTE), "o", HEADER).markers
    assert markers[0].action == Marker.DELETEALL
    arrow = next(m for m in markers[1:] if m.type == Marker.ARROW)
    assert [arrow.points[0].z, arrow.points[1].z] == [-0.2, 0.2]  # along +z, centred on the origin
    arc = next(m for m in markers if m.type == Marker.LINE_STRIP)
    pts = np.array([[p.x, p.y, p.z] for p in arc.points])
    np.testing.assert_allclose(point_line_distance(pts, np.zeros(3), np.array([0, 0, 1.0])), 0.5, atol=1e-9)
    np.testing.assert_allclose(pts[-1], [0.5, 0.0, 0.0], atol=1e-9)  # ends at the child's current centroid
    texts = [m.text for m in markers if m.type == Marker.TEXT_VIEW_FACING]
    assert texts == ["base", "part_1: revolute +0.60 rad"]
    assert len({(m.ns, m.id) for m in markers[1:]}) == len(markers) - 1


def test_prismatic_and_failed_markers():
    markers = estimate_markers(_estimate(JointType.PRISMATIC), "o", HEADER).markers
    travel = [m for m in markers[1:] if m.type == Marker.ARROW][1]
    assert travel.points[1].z - travel.points[0].z == 0.6
    failed = estimate_markers(_estimate(JointType.REVOLUTE, EstimateStatus.FAILED), "o", HEADER).markers
    assert [m.action for m in failed] == [Marker.DELETEALL]


def test_unconfirmed_joints_are_drawn_tentative():
    """A person sees which joints are hypotheses: own namespace, greyed, half transparent, dashed, tagged."""
    sure = estimate_markers(_estimate(JointType.REVOLUTE), "o", HEADER).markers[1:]
    maybe = estimate_markers(_estimate(JointType.REVOLUTE, confirmed=False), "o", HEADER).markers[1:]
    assert {m.ns for m in sure} == {"sim2art/o"}
    tentative = [m for m in maybe if m.ns == "sim2art/o/unconfirmed"]
    assert {m.type for m in tentative} == {Marker.ARROW, Marker.LINE_LIST, Marker.TEXT_VIEW_FACING}
    assert all(m.color.a == 0.5 for m in tentative) and all(m.color.a == 1.0 for m in sure)
    arrow = next(m for m in tentative if m.type == Marker.ARROW)
    assert max(arrow.color.r, arrow.color.g, arrow.color.b) - min(arrow.color.r, arrow.color.g, arrow.color.b) < 0.3
    texts = [m.text for m in maybe if m.type == Marker.TEXT_VIEW_FACING]
    assert texts == ["base", "part_1: revolute +0.60 rad [unconfirmed, 1 window]"]
    # the arc is dashed: segment pairs on the same circle, covering about half its length
    solid = next(m for m in sure if m.type == Marker.LINE_STRIP)
    dashes = next(m for m in tentative if m.type == Marker.LINE_LIST)
    d = np.array([[p.x, p.y, p.z] for p in dashes.points])
    s = np.array([[p.x, p.y, p.z] for p in solid.points])
    assert len(d) % 2 == 0 and len(d) > 10
    np.testing.assert_allclose(point_line_distance(d, np.zeros(3), np.array([0, 0, 1.0])), 0.5, atol=1e-3)  # chords
    drawn = np.linalg.norm(d[1::2] - d[0::2], axis=1).sum()
    total = np.linalg.norm(np.diff(s, axis=0), axis=1).sum()
    assert 0.4 < drawn / total < 0.6
    # prismatic: the travel is a dashed line too (no arrow head claiming a motion)
    slide = estimate_markers(_estimate(JointType.PRISMATIC, confirmed=False), "o", HEADER).markers[1:]
    travel = next(m for m in slide if m.type == Marker.LINE_LIST)
    assert travel.ns == "sim2art/o/unconfirmed" and travel.points[-1].z <= 0.6 and len(travel.points) >= 10
    assert "[unconfirmed, 1 window]" in [m.text for m in slide if m.type == Marker.TEXT_VIEW_FACING][-1]


def test_cloud_round_trip_skips_unlabelled_points():
    T, N = 2, 5
    pts = np.arange(T * N * 3, dtype=np.float32).reshape(T, N, 3)
    colors = np.full((T, N, 3), [10, 20, 30], np.uint8)
    valid = np.ones((T, N), bool)
    valid[1, 0] = False
    w = Window(pts, np.zeros_like(pts), valid, np.array([1, 2]), np.tile(np.eye(4), (T, 1, 1)), "odom", colors)
    labels = np.array([[0, 0, 0, 0, 0], [1, 0, -1, 2, 1]], np.int16)
    cloud = segmented_cloud(w, labels, HEADER)
    arr = cloud_to_array(cloud)
    assert cloud.width == 3 and arr["part_id"].tolist() == [0, 2, 1]
    np.testing.assert_allclose(np.column_stack([arr["x"], arr["y"], arr["z"]]), pts[1][[1, 3, 4]])
    assert int(arr["rgb"][0]) == (10 << 16) | (20 << 8) | 30
    assert segmented_cloud(w, np.full((T, N), -1, np.int16), HEADER) is None
    assert segmented_cloud(w, np.zeros((T, 0), np.int16), HEADER) is None
