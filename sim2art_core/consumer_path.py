"""Gripper poses along a joint's motion: the geometry of the manipulator consumer (no ROS).

Given an estimate (fixed frame, newest window frame = "now"), pick a joint and
plan what an arm needs to open it: the handle point on the moving part, a grasp
pose there, and that grasp carried rigidly with the part from the current joint
state to the requested one. Every pose k is ``motion(s_k - s_now) @ grasp``, so
positions stay exactly on the joint's circle (revolute) or line (prismatic) and
the gripper keeps its hold on the part.

Conventions (msg/ArticulationJoint.msg): states are rad | m relative to the
window's first frame; +state is a right-handed rotation about +axis or a
translation along +axis, the direction the part was seen moving ("opening").

Grasp frame (gripper convention of MoveIt/ROS-Industrial tool frames):
* +z, the approach direction, points against the part's +state motion at the
  handle (revolute: -(axis x r), r the radial vector from the axis to the handle;
  prismatic: -axis). The gripper stands on the side the part moves toward, so
  +state pulls and -state pushes without re-grasping.
* +x: revolute: the joint axis (fingers close across a bar handle parallel to the
  hinge); prismatic: the first tangent vector of the axis
  (:func:`sim2art_core.geometry.tangent_basis`), a deterministic choice.
* +y = z x x.

Handle point: the message only carries each part's centroid and axis-aligned box
at the newest frame, so the handle is placed on the ray from the centroid away
from the hinge (revolute, the door's free edge) or along +axis (prismatic, the
drawer front), at ``handle_offset`` of the way from the centroid to where that
ray leaves the part's box (0 = centroid, 1 = box surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core.estimate import PLANNER_JOINTS, ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import (
    closest_point_on_line,
    make_transform,
    prismatic_motion,
    revolute_motion,
    tangent_basis,
    unit,
)
from sim2art_core.types import EstimateStatus, JointType

MOVABLE = (JointType.REVOLUTE, JointType.PRISMATIC)
OPENING_MODES = ("relative", "absolute")


class PathError(ValueError):
    """No path can be planned from this estimate; the message says why."""


@dataclass(frozen=True)
class OpeningRequest:
    """What to plan.

    Attributes:
        opening: rad | m. mode "relative": move this much from the current state (+ = further
            open); mode "absolute": go to this state (message convention, relative to the
            window's first frame).
        mode: "relative" or "absolute".
        num_waypoints: poses in the path, >= 2 (the first is the current grasp).
        handle_offset: [0, 1], where the handle sits between the centroid (0) and the part's box
            surface (1), see module doc.
        min_confidence: joints below this confidence are not used.
        joints: "confirmed" (default): only a joint the fused model confirmed is planned (an unconfirmed one is
            a hypothesis, as the node's ``planner_joints``; a per-window estimate confirms none); "all": any.
    """

    opening: float = 0.5
    mode: str = "relative"
    num_waypoints: int = 20
    handle_offset: float = 0.9
    min_confidence: float = 0.0
    joints: str = "confirmed"

    def __post_init__(self):
        if self.joints not in PLANNER_JOINTS:
            raise ValueError(f"OpeningRequest.joints must be one of {PLANNER_JOINTS}, got {self.joints!r}")
        if self.mode not in OPENING_MODES:
            raise ValueError(f"OpeningRequest.mode must be one of {OPENING_MODES}, got {self.mode!r}")
        if self.num_waypoints < 2:
            raise ValueError(f"OpeningRequest.num_waypoints must be >= 2, got {self.num_waypoints}")
        if not 0.0 <= self.handle_offset <= 1.0:
            raise ValueError(f"OpeningRequest.handle_offset must be in [0, 1], got {self.handle_offset}")
        if not np.isfinite(self.opening):
            raise ValueError("OpeningRequest.opening must be finite")


@dataclass(frozen=True)
class GraspPath:
    """Planned gripper poses, all in the estimate's fixed frame.

    Attributes:
        joint: the joint followed.
        poses: (K, 4, 4) gripper poses, the first at the current state.
        states: (K,) joint state at each pose (rad | m, message convention).
        handle: (3,) m, handle point at the current state.
    """

    joint: JointEstimate
    poses: np.ndarray
    states: np.ndarray
    handle: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        return self.poses[:, :3, 3]


def select_joint(
    estimate: ArticulationEstimate, joint_name: str = "", min_confidence: float = 0.0, joints: str = "confirmed"
) -> JointEstimate:
    """The named joint, or (name "") the most confident revolute/prismatic one, among those ``joints``
    (PLANNER_JOINTS) lets a planner act on: with "confirmed" an unconfirmed joint (a hypothesis of the node's fused
    model, or any joint of a per-window estimate) is never planned. PathError otherwise, saying why."""
    if estimate.status != EstimateStatus.OK:
        reason = estimate.message or estimate.status.name
        raise PathError(f"estimate status is {estimate.status.name}: {reason}")
    if joint_name:
        found = [j for j in estimate.joints if j.name == joint_name]
        if not found:
            raise PathError(f"no joint named {joint_name!r} (have {[j.name for j in estimate.joints]})")
        joint = found[0]
        if joint.type not in MOVABLE:
            raise PathError(f"joint {joint_name!r} is {joint.type.name}: nothing to open")
        if not joint.presented(joints):
            raise PathError(
                f"joint {joint_name!r} is unconfirmed ({joint.support_windows} window(s)): a hypothesis, not "
                "planned (joints 'all' plans on hypotheses)"
            )
    else:
        movable = [j for j in estimate.joints if j.type in MOVABLE]
        if not movable:
            raise PathError("the estimate has no revolute or prismatic joint")
        usable = [j for j in movable if j.presented(joints)]
        if not usable:
            raise PathError(
                f"none of the {len(movable)} movable joints is confirmed yet: hypotheses are not planned (joints "
                "'all' plans on them; a per-window estimate confirms none)"
            )
        joint = max(usable, key=lambda j: j.confidence)
    if joint.confidence < min_confidence:
        raise PathError(f"joint {joint.name} confidence {joint.confidence:.2f} < min_confidence {min_confidence:.2f}")
    return joint


def _check_joint(joint: JointEstimate) -> tuple[np.ndarray, np.ndarray, float]:
    axis = np.asarray(joint.axis, dtype=np.float64).reshape(3)
    origin = np.asarray(joint.origin, dtype=np.float64).reshape(3)
    amounts = np.asarray(joint.amounts, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(axis)) if np.all(np.isfinite(axis)) else float("nan")
    if not 0.5 < norm < 2.0:
        raise PathError(f"joint {joint.name}: axis {axis.tolist()} is not a unit vector")
    if not np.all(np.isfinite(origin)):
        raise PathError(f"joint {joint.name}: origin is not finite")
    if amounts.size == 0 or not np.all(np.isfinite(amounts)):
        raise PathError(f"joint {joint.name}: state trajectory is empty or not finite")
    return axis / norm, origin, float(amounts[-1])


def _part(estimate: ArticulationEstimate, label: int, joint: JointEstimate) -> PartEstimate:
    part = next((p for p in estimate.parts if p.label == label), None)
    if part is None:
        raise PathError(f"joint {joint.name}: its child part {label} is not in the estimate")
    arrays = (part.centroid, part.bbox_min, part.bbox_max)
    if not all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays):
        raise PathError(f"part {part.name}: centroid or box is not finite")
    return part


def ray_box_exit(start: np.ndarray, direction: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Distance along the unit ``direction`` from ``start`` (inside [lo, hi]) to the box surface (>= 0)."""
    d = np.asarray(direction, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d > 1e-12, (hi - start) / d, np.where(d < -1e-12, (lo - start) / d, np.inf))
    return float(max(0.0, np.min(t)))


def handle_direction(
    joint_type: JointType, centre: np.ndarray, origin: np.ndarray, axis: np.ndarray, part: str, joint: str
) -> np.ndarray:
    """Unit direction from a moving part's ``centre`` towards its handle: away from a revolute axis (the
    free edge; PathError naming ``part`` and ``joint`` when the centre is on the axis), +axis when prismatic."""
    if joint_type == JointType.REVOLUTE:
        r = centre - closest_point_on_line(centre, origin, axis)
        if np.linalg.norm(r) < 1e-3:
            raise PathError(f"{part} is centred on the axis of {joint}: no lever to grasp")
        return unit(r)
    return axis


def handle_point(joint: JointEstimate, child: PartEstimate, handle_offset: float) -> np.ndarray:
    """Handle on the moving part (module doc); PathError if the part sits on a revolute axis."""
    axis, origin, _ = _check_joint(joint)
    c = np.asarray(child.centroid, dtype=np.float64)
    lo = np.minimum(np.asarray(child.bbox_min, dtype=np.float64), c)
    hi = np.maximum(np.asarray(child.bbox_max, dtype=np.float64), c)
    direction = handle_direction(joint.type, c, origin, axis, f"part {child.name}", joint.name)
    return c + handle_offset * ray_box_exit(c, direction, lo, hi) * direction


def grasp_pose(joint: JointEstimate, handle: np.ndarray) -> np.ndarray:
    """4x4 gripper pose at ``handle`` (frame convention in the module doc)."""
    axis, origin, _ = _check_joint(joint)
    if joint.type == JointType.REVOLUTE:
        r = handle - closest_point_on_line(handle, origin, axis)
        if np.linalg.norm(r) < 1e-6:
            raise PathError(f"handle lies on the axis of {joint.name}")
        z = -unit(np.cross(axis, r))
        x = axis
    else:
        z = -axis
        x = tangent_basis(axis)[0]
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), handle)


def joint_motion(joint: JointEstimate, delta: float) -> np.ndarray:
    """4x4 motion of the child part when the state changes by ``delta`` (rad | m)."""
    axis, origin, _ = _check_joint(joint)
    if joint.type == JointType.REVOLUTE:
        return revolute_motion(axis, origin, delta)
    return prismatic_motion(axis, delta)


def opening_path(estimate: ArticulationEstimate, request: OpeningRequest, joint_name: str = "") -> GraspPath:
    """Plan the grasp path for one joint of ``estimate`` (PathError when it cannot)."""
    joint = select_joint(estimate, joint_name, request.min_confidence, request.joints)
    _, _, now = _check_joint(joint)
    child = _part(estimate, joint.child, joint)
    handle = handle_point(joint, child, request.handle_offset)
    grasp = grasp_pose(joint, handle)
    target = now + request.opening if request.mode == "relative" else float(request.opening)
    states = np.linspace(now, target, request.num_waypoints)
    poses = np.stack([joint_motion(joint, s - now) @ grasp for s in states])
    return GraspPath(joint=joint, poses=poses, states=states, handle=handle)
