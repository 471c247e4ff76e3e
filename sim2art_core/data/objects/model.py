"""Frozen description of an articulated object: links with shapes and colours, joints, kinematics.

Conventions (URDF): a joint places its child link's frame at ``origin(xyz, rpy)`` in the parent link's
frame and then moves it by ``q`` about (revolute, continuous) or along (prismatic) the unit ``axis``
given in that frame. rpy are fixed-axis roll, pitch, yaw (R = Rz(yaw) Ry(pitch) Rx(roll)).

World frame = the root link's frame. Procedural objects stand on z = 0 with their front facing +x.

Parts: links attached by fixed joints merge into their parent, so each part is the child link of one
movable joint (plus its fixed descendants) or the root (plus its fixed descendants). Part 0 is the root;
parts 1..P-1 follow the movable joints in (topological) joint order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.geometry import transform_points
from sim2art_core.types import JointType

#: URDF joint types the engine supports. "continuous" is a revolute joint without limits.
MOVABLE_JOINT_TYPES = ("revolute", "continuous", "prismatic")
SUPPORTED_JOINT_TYPES = (*MOVABLE_JOINT_TYPES, "fixed")
SHAPES = ("box", "cylinder", "sphere", "mesh")


@dataclass(frozen=True)
class Visual:
    """One visual primitive of a link, in the link frame.

    Attributes:
        shape: "box" | "cylinder" | "sphere" | "mesh".
        size: box: full extents (x, y, z) m; cylinder: (radius, radius, length) m, axis along local z;
            sphere: (radius, radius, radius) m; mesh: scale (sx, sy, sz).
        xyz, rpy: pose of the primitive in the link frame (m, rad).
        rgba: material colour in [0, 1], or None to keep a mesh's own material.
        mesh: absolute path of the mesh file (shape "mesh" only).
    """

    shape: str
    size: tuple[float, float, float]
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = (0.7, 0.7, 0.7, 1.0)
    mesh: str | None = None

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"Visual.shape must be one of {SHAPES}, got {self.shape!r}")
        if (self.shape == "mesh") != (self.mesh is not None):
            raise ValueError("Visual.mesh must be set exactly for shape 'mesh'")
        if self.shape != "mesh" and min(self.size) <= 0:
            raise ValueError(f"Visual of shape {self.shape} needs positive sizes, got {self.size}")

    @property
    def pose(self) -> np.ndarray:
        """4x4 pose of the primitive in the link frame."""
        return origin_matrix(self.xyz, self.rpy)

    def local_corners(self) -> np.ndarray:
        """(8, 3) corners of the primitive's bounding box in its own frame."""
        if self.shape == "box":
            h = np.asarray(self.size) / 2.0
        elif self.shape == "cylinder":
            h = np.array([self.size[0], self.size[0], self.size[2] / 2.0])
        elif self.shape == "sphere":
            h = np.full(3, self.size[0])
        else:
            from sim2art_core.data.objects.meshes import mesh_bounds

            lo, hi = mesh_bounds(self.mesh)
            s = np.asarray(self.size)
            lo, hi = np.minimum(lo * s, hi * s), np.maximum(lo * s, hi * s)
            return _box_corners(lo, hi)
        return _box_corners(-h, h)


@dataclass(frozen=True)
class Link:
    """A rigid link.

    Attributes:
        name: unique link name.
        visuals: its primitives.
        texture: texture applied to all its visuals: a name from
            :data:`sim2art_core.data.textures.TEXTURE_NAMES`, an image path, or None.
    """

    name: str
    visuals: tuple[Visual, ...] = ()
    texture: str | None = None


@dataclass(frozen=True)
class Joint:
    """A URDF joint.

    Attributes:
        name: unique joint name.
        type: "revolute" | "continuous" | "prismatic" | "fixed".
        parent, child: link names.
        xyz, rpy: child frame in the parent frame at q = 0.
        axis: unit axis in the child (joint) frame.
        lower, upper: limits, rad | m (continuous: -inf, +inf).
    """

    name: str
    type: str
    parent: str
    child: str
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    lower: float = 0.0
    upper: float = 0.0

    def __post_init__(self):
        if self.type not in SUPPORTED_JOINT_TYPES:
            raise ValueError(
                f"joint {self.name!r}: unsupported type {self.type!r} (supported: {SUPPORTED_JOINT_TYPES})"
            )
        if self.type in MOVABLE_JOINT_TYPES:
            n = float(np.linalg.norm(self.axis))
            if not math.isfinite(n) or n < 1e-9:
                raise ValueError(f"joint {self.name!r}: axis {self.axis} is not a direction")
            object.__setattr__(self, "axis", tuple(float(a) / n for a in self.axis))
        if self.type == "continuous":
            object.__setattr__(self, "lower", -math.inf)
            object.__setattr__(self, "upper", math.inf)
        elif self.type in ("revolute", "prismatic") and not self.lower <= self.upper:
            raise ValueError(f"joint {self.name!r}: lower limit {self.lower} > upper limit {self.upper}")

    @property
    def movable(self) -> bool:
        return self.type in MOVABLE_JOINT_TYPES

    @property
    def joint_type(self) -> JointType:
        """The sim2art joint type (continuous counts as revolute)."""
        if self.type in ("revolute", "continuous"):
            return JointType.REVOLUTE
        return JointType.PRISMATIC if self.type == "prismatic" else JointType.STATIC

    @property
    def limited(self) -> bool:
        return math.isfinite(self.lower) and math.isfinite(self.upper)

    @property
    def origin(self) -> np.ndarray:
        return origin_matrix(self.xyz, self.rpy)


@dataclass(frozen=True)
class Part:
    """A rigid part: the links that move together. ``joint`` is None for the root part."""

    index: int
    name: str
    links: tuple[str, ...]
    joint: Joint | None
    parent: int


@dataclass(frozen=True)
class ArticulatedObject:
    """An articulated object: a kinematic tree of links.

    Attributes:
        name: object name (used in file names).
        category: one of ``sequence.CATEGORIES`` or "urdf".
        seed: instance seed of a procedural object (0 for external URDFs).
        links: all links, root first, parents before children.
        joints: all joints, parents before children.
        source: path of the URDF it was loaded from, if any.
    """

    name: str
    category: str
    seed: int
    links: tuple[Link, ...]
    joints: tuple[Joint, ...]
    source: str | None = None

    def __post_init__(self):
        names = [lk.name for lk in self.links]
        if len(set(names)) != len(names):
            raise ValueError(f"object {self.name!r}: duplicate link names")
        if len({j.name for j in self.joints}) != len(self.joints):
            raise ValueError(f"object {self.name!r}: duplicate joint names")
        seen = {names[0]} if names else set()
        children = set()
        for j in self.joints:
            if j.parent not in seen:
                raise ValueError(f"object {self.name!r}: joint {j.name!r} has parent {j.parent!r} before it is defined")
            if j.child in children or j.child == names[0]:
                raise ValueError(f"object {self.name!r}: link {j.child!r} has more than one parent")
            if j.child not in names:
                raise ValueError(f"object {self.name!r}: joint {j.name!r} names an unknown child {j.child!r}")
            children.add(j.child)
            seen.add(j.child)
        if len(children) != len(names) - 1:
            raise ValueError(f"object {self.name!r}: links {sorted(set(names[1:]) - children)} are not connected")

    # ----------------------------------------------------------------- structure
    @property
    def root(self) -> str:
        return self.links[0].name

    @cached_property
    def link_index(self) -> dict[str, int]:
        return {lk.name: i for i, lk in enumerate(self.links)}

    @cached_property
    def movable_joints(self) -> tuple[Joint, ...]:
        """Movable joints in order; joint j moves part j + 1."""
        return tuple(j for j in self.joints if j.movable)

    @cached_property
    def parts(self) -> tuple[Part, ...]:
        """Rigid parts after merging fixed joints (root first)."""
        part_of = {self.root: 0}
        heads: list[tuple[str, Joint | None, int]] = [(self.root, None, -1)]
        for j in self.joints:
            if j.movable:
                part_of[j.child] = len(heads)
                heads.append((j.child, j, part_of[j.parent]))
            else:
                part_of[j.child] = part_of[j.parent]
        members: list[list[str]] = [[] for _ in heads]
        for lk in self.links:
            members[part_of[lk.name]].append(lk.name)
        return tuple(Part(i, name, tuple(members[i]), joint, parent) for i, (name, joint, parent) in enumerate(heads))

    def subtree(self, link: str) -> set[str]:
        """Names of ``link`` and all links below it."""
        out = {link}
        for j in self.joints:  # parents come before children
            if j.parent in out:
                out.add(j.child)
        return out

    @cached_property
    def link_part(self) -> np.ndarray:
        """(L,) part index of every link (in ``links`` order)."""
        out = np.zeros(len(self.links), dtype=np.int16)
        for p in self.parts:
            for name in p.links:
                out[self.link_index[name]] = p.index
        return out

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    def joint_limits(self) -> np.ndarray:
        """(J, 2) lower/upper limits of the movable joints (inf for continuous)."""
        return np.array([[j.lower, j.upper] for j in self.movable_joints], dtype=np.float64).reshape(-1, 2)

    # ---------------------------------------------------------------- kinematics
    def forward_kinematics(self, q: np.ndarray) -> np.ndarray:
        """World (root-frame) poses of all links.

        Args:
            q: (..., J) movable joint positions (rad | m), J = len(movable_joints).

        Returns:
            (..., L, 4, 4) float64 poses ``world_from_link`` in ``links`` order.
        """
        q = np.asarray(q, dtype=np.float64)
        J = len(self.movable_joints)
        if q.shape[-1:] != (J,):
            raise ValueError(f"{self.name}: expected {J} joint positions, got shape {q.shape}")
        batch = q.shape[:-1]
        poses = np.zeros((*batch, len(self.links), 4, 4))
        poses[..., 0, :, :] = np.eye(4)
        k = 0
        for j in self.joints:
            parent = poses[..., self.link_index[j.parent], :, :]
            base = parent @ j.origin
            if j.movable:
                motion = np.tile(np.eye(4), (*batch, 1, 1))
                if j.type == "prismatic":
                    motion[..., :3, 3] = q[..., k, None] * np.asarray(j.axis)
                else:
                    rotvec = q[..., k, None] * np.asarray(j.axis)
                    motion[..., :3, :3] = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(*batch, 3, 3)
                base = base @ motion
                k += 1
            poses[..., self.link_index[j.child], :, :] = base
        return poses

    def joint_frames(self, q: np.ndarray) -> np.ndarray:
        """(J, 4, 4) world poses of the movable joints' frames (before their own motion) at positions q (J,)."""
        poses = self.forward_kinematics(q)
        return np.stack([poses[self.link_index[j.parent]] @ j.origin for j in self.movable_joints]).reshape(-1, 4, 4)

    # -------------------------------------------------------------------- bounds
    def link_corners(self) -> list[np.ndarray]:
        """Per link, (8 * V, 3) corners of its primitives' boxes in the link frame (empty for no visuals)."""
        return self._corners

    @cached_property
    def _corners(self) -> list[np.ndarray]:
        out = []
        for lk in self.links:
            pts = [transform_points(v.pose, v.local_corners()) for v in lk.visuals]
            out.append(np.concatenate(pts) if pts else np.zeros((0, 3)))
        return out

    def link_boxes(self) -> np.ndarray:
        """(L, 8, 3) corners of each link's axis-aligned bounding box in its frame (zeros without visuals)."""
        boxes = np.zeros((len(self.links), 8, 3))
        for i, c in enumerate(self.link_corners()):
            if len(c):
                boxes[i] = _box_corners(c.min(0), c.max(0))
        return boxes

    def has_geometry(self) -> np.ndarray:
        """(L,) bool: the link has at least one visual."""
        return np.array([len(lk.visuals) > 0 for lk in self.links])

    def world_bounds(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned world bounds (lo, hi) of the object over joint states q (..., J)."""
        poses = self.forward_kinematics(q).reshape(-1, len(self.links), 4, 4)
        pts = []
        for i, c in enumerate(self.link_corners()):
            if len(c):
                pts.append((np.einsum("tij,nj->tni", poses[:, i, :3, :3], c) + poses[:, i, None, :3, 3]).reshape(-1, 3))
        if not pts:
            raise ValueError(f"object {self.name!r} has no visual geometry")
        allp = np.concatenate(pts)
        return allp.min(0), allp.max(0)

    def lowest_points(self, q: np.ndarray, links: set[str] | None = None) -> np.ndarray:
        """(S,) lowest world z of the primitive boxes (of ``links``, default all) for S joint states q (S, J)."""
        poses = self.forward_kinematics(np.asarray(q, dtype=np.float64).reshape(-1, len(self.movable_joints)))
        low = np.full(len(poses), np.inf)
        for i, c in enumerate(self.link_corners()):
            if len(c) and (links is None or self.links[i].name in links):
                z = np.einsum("sj,nj->sn", poses[:, i, 2, :3], c) + poses[:, i, None, 2, 3]
                low = np.minimum(low, z.min(axis=1))
        return low

    def part_centroids(self, q: np.ndarray) -> np.ndarray:
        """(P, 3) world centres of each part's bounding box at joint state q (J,)."""
        poses = self.forward_kinematics(q)
        corners = self.link_corners()
        out = np.zeros((self.num_parts, 3))
        for p in self.parts:
            pts = [
                corners[self.link_index[n]] @ poses[self.link_index[n], :3, :3].T + poses[self.link_index[n], :3, 3]
                for n in p.links
                if len(corners[self.link_index[n]])
            ]
            if pts:
                allp = np.concatenate(pts)
                out[p.index] = (allp.min(0) + allp.max(0)) / 2.0
            else:
                out[p.index] = poses[self.link_index[p.name], :3, 3]
        return out

    # ---------------------------------------------------------------------- URDF
    def to_urdf(self, directory: str | Path) -> Path:
        """Write this object as URDF into ``directory`` and return the file's path.

        The file name contains a hash of the content, so two different objects never share a path
        (PyBullet caches files by path; see docs/DATA.md). Procedural textures are written next to it.
        """
        from sim2art_core.data.objects.urdf import write_urdf

        return write_urdf(self, Path(directory))


def origin_matrix(xyz, rpy) -> np.ndarray:
    """4x4 transform of a URDF origin (xyz in m, fixed-axis rpy in rad)."""
    T = np.eye(4)
    if any(rpy):
        T[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
    T[:3, 3] = xyz
    return T


def _box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    idx = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
    return np.where(idx == 1, np.asarray(hi, dtype=np.float64), np.asarray(lo, dtype=np.float64))
