"""ArticulationEstimate <-> Articulation message, joint TF frames and JointState."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import serialize_message

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.export import ExportConfig, export_urdf, observed_geometry_from_bounds
from sim2art_core.geometry import matrix_from_quaternion, unit
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.conversions.articulation import (
    estimate_to_msg,
    joint_state_msg,
    joint_transforms,
    msg_to_estimate,
)
from sim2art_ros.msg import Articulation, ArticulationJoint

ROOT = Path(__file__).resolve().parents[3]
STAMPS = np.array([1_000_000_000, 1_100_000_000, 1_200_000_000], dtype=np.int64)


def _estimate() -> ArticulationEstimate:
    a = np.array
    base = PartEstimate(0, True, 300, a([1.0, 0.0, 0.5]), a([0.8, -0.3, 0.0]), a([1.2, 0.3, 1.0]), 0.9)
    door = PartEstimate(3, False, 120, a([0.7, 0.1, 0.5]), a([0.6, -0.2, 0.1]), a([0.8, 0.4, 0.9]), 0.8)
    drawer = PartEstimate(5, False, 80, a([0.7, 0.0, 0.2]), a([0.6, -0.2, 0.1]), a([0.8, 0.2, 0.3]), 0.7)
    hinge = JointEstimate(
        child=3, parent=0, type=JointType.REVOLUTE, type_probs=np.array([0.8, 0.15, 0.05]),
        axis=unit(np.array([0.0, 0.1, 1.0])), origin=np.array([0.7, -0.2, 0.5]),
        amounts=np.array([0.0, 0.2, 0.45]), confidence=0.75, source="refined",
        axis_cov=np.array([[0.01, 0.001], [0.001, 0.02]]), origin_cov=np.diag([1e-4, 2e-4, 3e-4]),
        state_variance=0.003, fit_residual=0.004, support_windows=4, confirmed=True,
    )  # fmt: skip
    slide = JointEstimate(
        child=5, parent=0, type=JointType.PRISMATIC, type_probs=np.array([0.1, 0.85, 0.05]),
        axis=np.array([-1.0, 0.0, 0.0]), origin=np.array([0.7, 0.0, 0.2]),
        amounts=np.array([0.0, -0.01, 0.12]), confidence=0.6,
    )  # fmt: skip
    return ArticulationEstimate(
        status=EstimateStatus.OK, frame_id="odom", stamps_ns=STAMPS, labels=np.zeros((3, 10), np.int16),
        parts=(base, door, drawer), joints=(hinge, slide), observed_motion=0.21, estimator_id="standin@abc",
        timings={"network": 0.05, "refine": 0.01},
    )  # fmt: skip


def test_estimate_to_msg_follows_message_comments():
    msg = estimate_to_msg(_estimate(), "object_7")
    assert msg.header.frame_id == "odom" and msg.object_id == "object_7"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1, 200_000_000)
    assert [(s.sec, s.nanosec) for s in msg.window_stamps] == [(1, 0), (1, 100_000_000), (1, 200_000_000)]
    assert msg.status == Articulation.STATUS_OK and msg.status_message == ""
    assert [p.name for p in msg.parts] == ["base", "part_3", "part_5"] and msg.parts[0].is_root
    door = msg.parts[1]
    assert (door.bbox_center.position.x, door.bbox_size.y) == pytest.approx((0.7, 0.6))
    assert door.bbox_center.orientation.w == 1.0
    hinge, slide = msg.joints
    assert hinge.name == "joint_3" and hinge.parent_part == "base" and hinge.child_part == "part_3"
    assert hinge.type == ArticulationJoint.TYPE_REVOLUTE and slide.type == ArticulationJoint.TYPE_PRISMATIC
    assert hinge.state == pytest.approx(0.45) and list(hinge.state_trajectory) == pytest.approx([0, 0.2, 0.45])
    assert (hinge.lower_limit, hinge.upper_limit, hinge.limits_observed) == (0.0, pytest.approx(0.45), True)
    assert list(hinge.axis_covariance) == pytest.approx([0.01, 0.001, 0.001, 0.02])
    assert hinge.origin_covariance[4] == pytest.approx(2e-4)
    assert hinge.fit_residual == pytest.approx(0.004) and hinge.source == "refined"
    # unknowns are -1
    assert slide.axis_covariance[0] == -1 and slide.origin_covariance[0] == -1
    assert slide.state_variance == -1 and slide.fit_residual == -1
    assert slide.lower_limit == pytest.approx(-0.01)
    # support over time: the fused model's count, one unconfirmed window by default
    assert (hinge.support_windows, hinge.confirmed) == (4, True)
    assert (slide.support_windows, slide.confirmed) == (1, False)
    assert msg.inference_time == pytest.approx(0.06) and msg.estimator == "standin@abc"


def _assert_same(a: ArticulationEstimate, b: ArticulationEstimate):
    assert a.status == b.status and a.frame_id == b.frame_id and a.message == b.message
    assert np.array_equal(a.stamps_ns, b.stamps_ns)
    assert b.labels.shape == (len(a.stamps_ns), 0)
    assert [p.name for p in a.parts] == [p.name for p in b.parts]
    for p, q in zip(a.parts, b.parts, strict=True):
        np.testing.assert_allclose(p.bbox_min, q.bbox_min, atol=1e-6)
        np.testing.assert_allclose(p.bbox_max, q.bbox_max, atol=1e-6)
        np.testing.assert_allclose(p.centroid, q.centroid)
        assert (p.label, p.is_root, p.num_points) == (q.label, q.is_root, q.num_points)
    for j, k in zip(a.joints, b.joints, strict=True):
        assert (j.child, j.parent, j.type, j.source) == (k.child, k.parent, k.type, k.source)
        np.testing.assert_allclose(j.axis, k.axis)
        np.testing.assert_allclose(j.origin, k.origin)
        np.testing.assert_allclose(j.amounts, k.amounts)
        np.testing.assert_allclose(j.type_probs, k.type_probs, rtol=1e-6)
        assert (j.axis_cov is None) == (k.axis_cov is None) and (j.origin_cov is None) == (k.origin_cov is None)
        if j.axis_cov is not None:
            np.testing.assert_allclose(j.axis_cov, k.axis_cov)
            np.testing.assert_allclose(j.origin_cov, k.origin_cov)
        assert j.state_variance == (None if k.state_variance is None else pytest.approx(k.state_variance))
        assert np.isnan(j.fit_residual) == np.isnan(k.fit_residual)
        assert (j.support_windows, j.confirmed) == (k.support_windows, k.confirmed)
    assert b.timings["total"] == pytest.approx(0.06)


def test_round_trip_through_rclpy_message():
    est = _estimate()
    _assert_same(est, msg_to_estimate(estimate_to_msg(est, "o")))


def test_round_trip_through_rosbags_deserialisation():
    """The bag evaluation decodes recorded CDR bytes with rosbags, then calls msg_to_estimate."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name in ("ArticulatedPart", "ArticulationJoint", "Articulation"):
        types.update(get_types_from_msg((ROOT / "msg" / f"{name}.msg").read_text(), f"sim2art_ros/msg/{name}"))
    store.register(types)
    est = _estimate()
    raw = serialize_message(estimate_to_msg(est, "o"))
    decoded = store.deserialize_cdr(raw, "sim2art_ros/msg/Articulation")
    _assert_same(est, msg_to_estimate(decoded))


def test_failed_and_no_articulation_status():
    failed = ArticulationEstimate.failed("depth missing", "odom", STAMPS, (3, 4))
    msg = estimate_to_msg(failed, "o")
    assert msg.status == Articulation.STATUS_FAILED and msg.status_message == "depth missing"
    assert not msg.parts and not msg.joints
    back = msg_to_estimate(msg)
    assert back.status == EstimateStatus.FAILED and back.message == "depth missing"
    assert joint_transforms(failed, "o") == [] and list(joint_state_msg(failed, "o").name) == []


def test_joint_transforms_put_z_along_axis_at_origin():
    est = _estimate()
    tfs = joint_transforms(est, "object_7")
    assert [t.child_frame_id for t in tfs] == ["object_7/joint_3", "object_7/joint_5"]
    for t, j in zip(tfs, est.joints, strict=True):
        assert t.header.frame_id == "odom" and t.header.stamp.nanosec == 200_000_000
        r = t.transform.rotation
        R = matrix_from_quaternion([r.x, r.y, r.z, r.w])
        np.testing.assert_allclose(R[:, 2], j.axis, atol=1e-9)
        tr = t.transform.translation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], j.origin)


def test_static_joints_get_no_frame_or_state():
    est = _estimate()
    z = np.zeros(3)
    static = JointEstimate(7, 0, JointType.STATIC, np.array([0.0, 0.0, 1.0]), z, z, z, 0.9)
    est = ArticulationEstimate(**{**est.__dict__, "joints": (*est.joints, static)})
    assert len(joint_transforms(est, "o")) == 2
    js = joint_state_msg(est, "o")
    assert list(js.name) == ["o/joint_3", "o/joint_5"] and list(js.position) == pytest.approx([0.45, 0.12])


def test_facts_only_frames_and_states_leave_unconfirmed_joints_out():
    """joints="confirmed" (the node's planner_joints default): the unconfirmed drawer gets no TF frame and
    no JointState entry; once confirmed it appears under the same name as with joints="all"."""
    est = _estimate()  # hinge confirmed (4 windows), slide unconfirmed
    assert [t.child_frame_id for t in joint_transforms(est, "o", joints="confirmed")] == ["o/joint_3"]
    js = joint_state_msg(est, "o", joints="confirmed")
    assert list(js.name) == ["o/joint_3"] and list(js.position) == pytest.approx([0.45])
    # a per-window estimate confirms nothing: no fact at all
    window = replace(est, joints=tuple(replace(j, confirmed=False, support_windows=1) for j in est.joints))
    assert joint_transforms(window, "o", joints="confirmed") == []
    assert list(joint_state_msg(window, "o", joints="confirmed").name) == []
    assert len(joint_transforms(window, "o", joints="all")) == 2  # "all": every hypothesis, as before
    confirmed = replace(est, joints=tuple(replace(j, confirmed=True) for j in est.joints))
    assert list(joint_state_msg(confirmed, "o", joints="confirmed").name) == list(joint_state_msg(est, "o").name)
    with pytest.raises(ValueError, match="joints must be one of"):
        joint_transforms(est, "o", joints="facts")


@pytest.mark.parametrize("object_id", ["object_7", "kitchen-cabinet 2", "2nd_cabinet", "/lab//cab/"])
def test_frame_and_state_names_are_the_urdf_joint_names(object_id):
    """robot_state_publisher matches ~/joint_states to the URDF by name: equal for any object_id."""
    est = _estimate()
    est = replace(est, joints=tuple(replace(j, confirmed=True) for j in est.joints))
    cfg = ExportConfig(link_prefix=f"{object_id}/", robot_name=object_id, joints="confirmed")
    model = export_urdf(est, observed_geometry_from_bounds(est), cfg)
    urdf_names = [model.joint_names[j.child] for j in est.joints]
    assert list(joint_state_msg(est, object_id, joints="confirmed").name) == urdf_names
    assert [t.child_frame_id for t in joint_transforms(est, object_id, joints="confirmed")] == urdf_names
    assert all(f'<joint name="{n}"' in model.urdf for n in urdf_names)
