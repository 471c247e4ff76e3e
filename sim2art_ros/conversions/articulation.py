"""ArticulationEstimate <-> sim2art_ros/msg/Articulation, plus the joint TF frames and JointState.

The conversion is 1:1 and follows the comments in msg/*.msg:

* every geometric field is in ``header.frame_id`` (the estimate's fixed frame);
* ``header.stamp`` = the newest window stamp; ``window_stamps`` = all T stamps;
* joint states are relative to the first window frame, ``state`` = the newest one,
  limits = the observed range (``limits_observed`` is always true for sim2art);
* unknown covariances carry ``-1`` in element 0, an unknown state variance and
  an unfitted ``fit_residual`` are ``-1``;
* a part's box is axis-aligned in the header frame (identity orientation);
* ``support_windows`` / ``confirmed`` carry the fused model's support (1 / false per window);
* the joint frames and JointState carry facts only when asked (``joints="confirmed"``, the node's
  ``planner_joints``): unconfirmed joints are then left out, as the URDF export fixes them.

:func:`msg_to_estimate` reads both rclpy messages and the dataclasses that
``rosbags`` deserialises from a bag (it only reads attributes), so the bag
evaluation can decode recorded ``/articulation`` topics with it. The message does
not carry per-point labels: the decoded estimate has ``labels`` of shape (T, 0).
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, TransformStamped, Vector3
from sensor_msgs.msg import JointState

from sim2art_core.estimate import PLANNER_JOINTS, ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.export.urdf import joint_name
from sim2art_core.geometry import frame_with_z_along, quaternion_from_matrix
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.conversions.image_codec import ns_to_stamp, stamp_to_ns
from sim2art_ros.msg import ArticulatedPart, Articulation, ArticulationJoint

UNKNOWN = -1.0


def _vec(v) -> Vector3:
    x, y, z = (float(c) for c in np.asarray(v, dtype=np.float64).reshape(3))
    return Vector3(x=x, y=y, z=z)


def _point(p) -> Point:
    x, y, z = (float(c) for c in np.asarray(p, dtype=np.float64).reshape(3))
    return Point(x=x, y=y, z=z)


def _xyz(m) -> np.ndarray:
    return np.array([m.x, m.y, m.z], dtype=np.float64)


def inference_seconds(estimate: ArticulationEstimate) -> float:
    """Wall time of the estimator: ``timings['total']`` if given, else the sum of the stages."""
    t = estimate.timings or {}
    if "total" in t:
        return float(t["total"])
    return float(sum(float(v) for v in t.values()))


def part_to_msg(part: PartEstimate) -> ArticulatedPart:
    lo = np.asarray(part.bbox_min, dtype=np.float64)
    hi = np.asarray(part.bbox_max, dtype=np.float64)
    return ArticulatedPart(
        name=part.name,
        label=int(part.label),
        is_root=bool(part.is_root),
        num_points=int(part.num_points),
        centroid=_point(part.centroid),
        bbox_center=Pose(position=_point((lo + hi) / 2.0), orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
        bbox_size=_vec(np.maximum(hi - lo, 0.0)),
        score=float(part.score),
    )


def joint_to_msg(joint: JointEstimate, part_names: dict[int, str]) -> ArticulationJoint:
    amounts = np.asarray(joint.amounts, dtype=np.float64).reshape(-1)
    axis_cov = [UNKNOWN, 0.0, 0.0, 0.0] if joint.axis_cov is None else np.asarray(joint.axis_cov).ravel()
    origin_cov = [UNKNOWN] + [0.0] * 8 if joint.origin_cov is None else np.asarray(joint.origin_cov).ravel()
    residual = float(joint.fit_residual)
    return ArticulationJoint(
        name=joint.name,
        parent_part=part_names.get(int(joint.parent), "base" if joint.parent == 0 else f"part_{joint.parent}"),
        child_part=part_names.get(int(joint.child), f"part_{joint.child}"),
        type=int(joint.type),
        type_probabilities=[float(p) for p in np.asarray(joint.type_probs, dtype=np.float64).reshape(3)],
        axis=_vec(joint.axis),
        origin=_point(joint.origin),
        axis_covariance=[float(c) for c in axis_cov],
        origin_covariance=[float(c) for c in origin_cov],
        state=float(amounts[-1]) if amounts.size else 0.0,
        state_variance=UNKNOWN if joint.state_variance is None else float(joint.state_variance),
        state_trajectory=amounts.tolist(),
        lower_limit=float(amounts.min()) if amounts.size else 0.0,
        upper_limit=float(amounts.max()) if amounts.size else 0.0,
        limits_observed=True,
        confidence=float(joint.confidence),
        source=str(joint.source),
        fit_residual=residual if np.isfinite(residual) else UNKNOWN,
        support_windows=max(int(joint.support_windows), 0),
        confirmed=bool(joint.confirmed),
    )


def estimate_to_msg(estimate: ArticulationEstimate, object_id: str) -> Articulation:
    """The Articulation message of one estimate (stamp = newest window frame)."""
    stamps = np.asarray(estimate.stamps_ns, dtype=np.int64).reshape(-1)
    msg = Articulation()
    msg.header.frame_id = estimate.frame_id
    if stamps.size:
        msg.header.stamp = ns_to_stamp(int(stamps[-1]))
    msg.status = int(estimate.status)
    msg.status_message = "" if estimate.status == EstimateStatus.OK else str(estimate.message)
    msg.object_id = object_id
    msg.parts = [part_to_msg(p) for p in estimate.parts]
    names = {int(p.label): p.name for p in estimate.parts}
    msg.joints = [joint_to_msg(j, names) for j in estimate.joints]
    msg.window_stamps = [ns_to_stamp(int(s)) for s in stamps]
    msg.observed_motion = float(estimate.observed_motion)
    msg.estimator = str(estimate.estimator_id)
    msg.inference_time = inference_seconds(estimate)
    return msg


def _cov_or_none(values, shape: tuple[int, int]) -> np.ndarray | None:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != shape[0] * shape[1] or arr[0] < 0:
        return None
    return arr.reshape(shape)


def msg_to_estimate(msg) -> ArticulationEstimate:
    """Inverse of :func:`estimate_to_msg` for an rclpy or a rosbags Articulation message.

    Per-point labels are not in the message: ``labels`` is an empty (T, 0) array.
    """
    stamps = np.array([stamp_to_ns(s) for s in msg.window_stamps], dtype=np.int64)
    parts = []
    for p in msg.parts:
        c = _xyz(p.bbox_center.position)
        half = _xyz(p.bbox_size) / 2.0
        parts.append(
            PartEstimate(
                label=int(p.label),
                is_root=bool(p.is_root),
                num_points=int(p.num_points),
                centroid=_xyz(p.centroid),
                bbox_min=c - half,
                bbox_max=c + half,
                score=float(p.score),
            )
        )
    labels_by_name = {str(p.name): int(p.label) for p in msg.parts}

    def label_of(name: str) -> int:
        if name in labels_by_name:
            return labels_by_name[name]
        if name == "base":
            return 0
        if name.startswith("part_") and name[5:].isdigit():
            return int(name[5:])
        raise ValueError(f"Articulation joint refers to an unknown part '{name}'")

    joints = []
    for j in msg.joints:
        variance = float(j.state_variance)
        residual = float(j.fit_residual)
        joints.append(
            JointEstimate(
                child=label_of(str(j.child_part)),
                parent=label_of(str(j.parent_part)),
                type=JointType(int(j.type)),
                type_probs=np.asarray(j.type_probabilities, dtype=np.float64).reshape(3),
                axis=_xyz(j.axis),
                origin=_xyz(j.origin),
                amounts=np.asarray(j.state_trajectory, dtype=np.float64).reshape(-1),
                confidence=float(j.confidence),
                source=str(j.source),
                axis_cov=_cov_or_none(j.axis_covariance, (2, 2)),
                origin_cov=_cov_or_none(j.origin_covariance, (3, 3)),
                state_variance=None if variance < 0 else variance,
                fit_residual=float("nan") if residual < 0 else residual,
                # bags recorded before these fields existed decode as one unconfirmed window
                support_windows=int(getattr(j, "support_windows", 1)),
                confirmed=bool(getattr(j, "confirmed", False)),
            )
        )
    return ArticulationEstimate(
        status=EstimateStatus(int(msg.status)),
        frame_id=str(msg.header.frame_id),
        stamps_ns=stamps,
        labels=np.zeros((len(stamps), 0), dtype=np.int16),
        parts=tuple(parts),
        joints=tuple(joints),
        message=str(msg.status_message),
        observed_motion=float(msg.observed_motion),
        estimator_id=str(msg.estimator),
        timings={"total": float(msg.inference_time)},
    )


#: ``joints`` choices of the facts-only outputs (the node's ``planner_joints``, ``ExportConfig.joints``).
JOINT_CHOICES = PLANNER_JOINTS


def moving_joints(estimate: ArticulationEstimate, joints: str = "all") -> list[JointEstimate]:
    """The joints that get a TF frame and a JointState entry: revolute and prismatic ones of an OK estimate;
    ``joints="confirmed"`` keeps only those the fused model confirmed (``JointEstimate.confirmed``; a
    per-window estimate confirms none), like the URDF export's ``ExportConfig.joints``."""
    if joints not in JOINT_CHOICES:
        raise ValueError(f"joints must be one of {list(JOINT_CHOICES)}, got {joints!r}")
    if estimate.status != EstimateStatus.OK:
        return []
    return [j for j in estimate.joints if j.type in (JointType.REVOLUTE, JointType.PRISMATIC) and j.presented(joints)]


def joint_frame_name(object_id: str, joint: JointEstimate) -> str:
    """TF child frame and JointState name of a joint: ``<object_id>/<joint name>`` (msg/ArticulationJoint.msg),
    sanitised exactly as the URDF export names its joint (:func:`sim2art_core.export.joint_name`), so
    ``~/joint_states``, the joint frames and ``~/robot_description`` always agree."""
    return joint_name(f"{object_id}/", joint.child)


def joint_transforms(
    estimate: ArticulationEstimate, object_id: str, stamp=None, joints: str = "all"
) -> list[TransformStamped]:
    """One transform per moving joint (:func:`moving_joints` with ``joints``): fixed frame ->
    ``<object_id>/joint_<child>``.

    The joint frame has its origin at the joint's ``origin`` and +z along ``axis``
    (:func:`sim2art_core.geometry.frame_with_z_along`), so URDF ``axis="0 0 1"``
    matches it. ``stamp`` defaults to the newest window stamp.
    """
    if stamp is None:
        stamp = ns_to_stamp(int(estimate.stamps_ns[-1]))
    out = []
    for j in moving_joints(estimate, joints):
        pose = frame_with_z_along(j.axis, j.origin)
        q = quaternion_from_matrix(pose)
        t = TransformStamped()
        t.header.stamp = stamp
        t.header.frame_id = estimate.frame_id
        t.child_frame_id = joint_frame_name(object_id, j)
        t.transform.translation = _vec(pose[:3, 3])
        t.transform.rotation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
        out.append(t)
    return out


def joint_state_msg(estimate: ArticulationEstimate, object_id: str, stamp=None, joints: str = "all") -> JointState:
    """sensor_msgs/JointState of the moving joints (:func:`moving_joints` with ``joints``): names
    ``<object_id>/<joint>``, position = current state."""
    js = JointState()
    js.header.stamp = stamp if stamp is not None else ns_to_stamp(int(estimate.stamps_ns[-1]))
    js.header.frame_id = estimate.frame_id
    chosen = moving_joints(estimate, joints)
    js.name = [joint_frame_name(object_id, j) for j in chosen]
    js.position = [j.state for j in chosen]
    return js
