"""Forward kinematics of a URDF and the opening path planned from it (the example consumer's URDF mode).

Hand-written (a few lines of XML and 4x4 products; yourdfpy / urdfdom are not run-time dependencies of the
ROS-free core): revolute, continuous, prismatic and fixed joints with ``<origin xyz rpy>`` and ``<axis>``.

The opening path follows :mod:`sim2art_core.consumer_path` (same grasp-frame convention, same
:class:`~sim2art_core.consumer_path.OpeningRequest`), but everything comes from the URDF: the child link's
pose and joint line at the current joint states by forward kinematics, the handle on the child link's
**equivalent inertia box** (the box of the link's mass and inertia: for our export that is the convex
pieces' extent; no mesh file needed), and every waypoint by moving the joint in the URDF:
``pose_k = root_from_link(q_k) @ inv(root_from_link(q_now)) @ grasp``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.consumer_path import GraspPath, OpeningRequest, PathError, grasp_pose, handle_direction
from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import invert_transform, make_transform
from sim2art_core.types import JointType

_TYPES = {"revolute": JointType.REVOLUTE, "continuous": JointType.REVOLUTE, "prismatic": JointType.PRISMATIC}


@dataclass(frozen=True)
class UrdfJoint:
    """One URDF joint: ``parent_from_joint`` (4x4 from ``<origin>``), unit ``axis`` in the joint frame."""

    name: str
    type: str
    parent: str
    child: str
    parent_from_joint: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float


@dataclass(frozen=True)
class UrdfInertia:
    """A link's ``<inertial>``: mass (kg), ``link_from_com`` (4x4), inertia (3x3, kg m^2, COM frame)."""

    mass: float
    link_from_com: np.ndarray
    inertia: np.ndarray

    def equivalent_box(self) -> tuple[np.ndarray, np.ndarray]:
        """(link_from_box 4x4, half extents (3,)): the uniform box of the same mass and inertia."""
        w, v = np.linalg.eigh(self.inertia)
        if np.linalg.det(v) < 0:
            v[:, 2] = -v[:, 2]
        sq = 6.0 / max(self.mass, 1e-12) * (w.sum() - 2 * w)  # a_i^2 = 6 (I_j + I_k - I_i) / m
        half = 0.5 * np.sqrt(np.maximum(sq, 0.0))
        return self.link_from_com @ make_transform(v, None), half


def _origin(el) -> np.ndarray:
    o = el.find("origin") if el is not None else None
    xyz = np.array([float(x) for x in (o.get("xyz", "0 0 0") if o is not None else "0 0 0").split()])
    rpy = np.array([float(x) for x in (o.get("rpy", "0 0 0") if o is not None else "0 0 0").split()])
    return make_transform(Rotation.from_euler("xyz", rpy).as_matrix(), xyz)


@dataclass(frozen=True)
class UrdfKinematics:
    """Joints and inertials of a URDF (tree), with forward kinematics from the root link."""

    root: str
    joints: dict[str, UrdfJoint]
    inertials: dict[str, UrdfInertia]

    @classmethod
    def from_text(cls, text: str) -> UrdfKinematics:
        """Parse URDF text; ValueError for malformed XML, a non-tree or a non-finite number."""
        try:
            robot = ET.fromstring(text)
        except ET.ParseError as e:
            raise ValueError(f"URDF is not valid XML: {e}") from e
        joints, inertials = {}, {}
        for j in robot.findall("joint"):
            axis_el = j.find("axis")
            axis = np.array([float(x) for x in (axis_el.get("xyz") if axis_el is not None else "1 0 0").split()])
            limit = j.find("limit")
            joints[j.get("name")] = UrdfJoint(
                name=j.get("name"), type=j.get("type"), parent=j.find("parent").get("link"),
                child=j.find("child").get("link"), parent_from_joint=_origin(j),
                axis=axis / np.linalg.norm(axis) if np.linalg.norm(axis) > 0 else axis,
                lower=float(limit.get("lower", "-inf")) if limit is not None else -np.inf,
                upper=float(limit.get("upper", "inf")) if limit is not None else np.inf,
            )  # fmt: skip
        for link in robot.findall("link"):
            inertial = link.find("inertial")
            if inertial is None:
                continue
            i = inertial.find("inertia")
            ix = {k: float(i.get(k, "0")) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")}
            inertia = np.array([[ix["ixx"], ix["ixy"], ix["ixz"]], [ix["ixy"], ix["iyy"], ix["iyz"]],
                                [ix["ixz"], ix["iyz"], ix["izz"]]])  # fmt: skip
            mass = float(inertial.find("mass").get("value"))
            inertials[link.get("name")] = UrdfInertia(mass, _origin(inertial), inertia)
        children = {j.child for j in joints.values()}
        roots = [link.get("name") for link in robot.findall("link") if link.get("name") not in children]
        if len(roots) != 1 or len(children) != len(joints):
            raise ValueError(f"URDF is not a tree with one root (roots {roots})")
        for j in joints.values():
            if not (np.isfinite(j.parent_from_joint).all() and np.isfinite(j.axis).all()):
                raise ValueError(f"URDF joint {j.name} has a non-finite origin or axis")
        return cls(roots[0], joints, inertials)

    def root_from_link(self, link: str, q: Mapping[str, float]) -> np.ndarray:
        """4x4 pose of ``link`` in the root link's frame with joint states ``q`` (missing: 0)."""
        by_child = {j.child: j for j in self.joints.values()}
        T = np.eye(4)
        while link != self.root:
            if link not in by_child:
                raise ValueError(f"URDF has no link {link!r} below the root")
            j = by_child[link]
            T = j.parent_from_joint @ _joint_motion(j, float(q.get(j.name, 0.0))) @ T
            link = j.parent
        return T


def _joint_motion(j: UrdfJoint, q: float) -> np.ndarray:
    if j.type in ("revolute", "continuous"):
        return make_transform(Rotation.from_rotvec(j.axis * q).as_matrix(), None)
    if j.type == "prismatic":
        return make_transform(None, j.axis * q)
    return np.eye(4)


def urdf_opening_path(
    kin: UrdfKinematics, joint_name: str, q: Mapping[str, float], request: OpeningRequest
) -> GraspPath:
    """Plan the opening of URDF joint ``joint_name`` from the current states ``q`` (PathError when it cannot).

    The returned poses are in the URDF root link's frame (the estimate's fixed frame for our exports).
    """
    j = kin.joints.get(joint_name)
    if j is None or j.type not in _TYPES:
        movable = [n for n, x in kin.joints.items() if x.type in _TYPES]
        raise PathError(f"no movable URDF joint {joint_name!r} (have {movable})")
    if j.child not in kin.inertials:
        raise PathError(f"URDF link {j.child} has no <inertial>: no geometry to place a handle on")
    now = float(q.get(joint_name, 0.0))
    if not np.isfinite(now):
        raise PathError(f"joint {joint_name}: current state is not finite")
    root_from_parent = kin.root_from_link(j.parent, q)
    joint_frame = root_from_parent @ j.parent_from_joint
    axis, origin = joint_frame[:3, :3] @ j.axis, joint_frame[:3, 3]
    root_from_child = kin.root_from_link(j.child, q)
    link_from_box, half = kin.inertials[j.child].equivalent_box()
    root_from_box = root_from_child @ link_from_box
    com = root_from_box[:3, 3]
    direction = handle_direction(_TYPES[j.type], com, origin, axis, f"link {j.child}", joint_name)
    d_box = root_from_box[:3, :3].T @ direction  # the ray in the box frame: exit distance from the centre
    with np.errstate(divide="ignore"):
        exit_t = float(np.min(np.where(np.abs(d_box) > 1e-12, half / np.abs(d_box), np.inf)))
    handle = com + request.handle_offset * exit_t * direction
    joint = JointEstimate(child=-1, parent=-1, type=_TYPES[j.type], type_probs=np.eye(3)[_TYPES[j.type]],
                          axis=axis, origin=origin, amounts=np.array([now]), confidence=1.0, source="urdf")  # fmt: skip
    grasp = grasp_pose(joint, handle)
    target = now + request.opening if request.mode == "relative" else float(request.opening)
    states = np.linspace(now, target, request.num_waypoints)
    child_from_grasp = invert_transform(root_from_child) @ grasp
    poses = np.stack([kin.root_from_link(j.child, {**q, joint_name: s}) @ child_from_grasp for s in states])
    return GraspPath(joint=joint, poses=poses, states=states, handle=handle)
