"""ArticulationEstimate + observed geometry -> URDF text and mesh files.

Frames: every link frame is parallel to the estimate's fixed frame with all joints at state 0. The
base link's origin is the base part's centroid; a moving part's link origin is its joint's origin
(revolute: a point on the axis; prismatic: the child's centroid at frame 0). Joint ``<axis>`` is the
estimate's axis (in the parent link's frame = fixed-frame axes), joint ``<origin>`` the child link's
origin relative to the parent's, so the joint line in the fixed frame equals the estimate's.
Joint zero is the pose of the estimate's first frame (``JointEstimate.amounts`` are relative to it).
Static joints are merged into their parent link (one rigid body as far as the video shows).
"""

from __future__ import annotations

import re
import xml.sax.saxutils as sx
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sim2art_core.estimate import ArticulationEstimate, JointEstimate
from sim2art_core.export.config import ExportConfig
from sim2art_core.export.mesh import (
    MassProperties,
    PartMesh,
    combined_mass_properties,
    convex_pieces,
    obj_bytes,
    stl_bytes,
)
from sim2art_core.export.observed import ObservedGeometry
from sim2art_core.types import EstimateStatus, JointType

#: Version of the exported URDF's layout (names, frames, comments); bumped on any change a consumer sees.
URDF_SCHEMA_VERSION = 1


class ExportError(ValueError):
    """The estimate cannot be exported (FAILED, non-finite joint, broken kinematic tree)."""


@dataclass(frozen=True)
class ExportedLink:
    """One link of the exported model.

    Attributes:
        name: URDF link name.
        parts: estimate part labels merged into it (the first is the link's own part).
        origin: (3,) m, link origin in the fixed frame at joint state 0.
        meshes: the link's convex pieces in the link frame (one for a convex part).
        mesh_files: their paths relative to the URDF file (one ``<visual>`` and ``<collision>`` each).
        mass: inertial properties (link frame).
        num_points: finite observed points used; dropped_points: non-finite ones left out.
    """

    name: str
    parts: tuple[int, ...]
    origin: np.ndarray
    meshes: tuple[PartMesh, ...]
    mesh_files: tuple[str, ...]
    mass: MassProperties
    num_points: int
    dropped_points: int


@dataclass(frozen=True)
class UrdfModel:
    """The exported model.

    Attributes:
        urdf: the URDF text (UTF-8 XML).
        files: mesh path relative to the URDF file -> file bytes.
        links: part label -> link (the base link under the root part's label).
        joint_names: child part label -> URDF joint name of every movable joint (the names a
            ``sensor_msgs/JointState`` for this model uses), in URDF order.
        root_link: the URDF's root link (the fixed frame's name, or the base link).
        base_only: True when no part moved (the URDF holds the base only, and says so).
    """

    urdf: str
    files: dict[str, bytes]
    links: dict[int, ExportedLink]
    joint_names: dict[int, str]
    root_link: str
    base_only: bool
    joint_limits: dict[int, tuple[float, float]] = field(default_factory=dict)

    def write(self, folder: str | Path, filename: str = "object.urdf") -> Path:
        """Write the URDF and its meshes into ``folder`` (created); returns the URDF's path."""
        folder = Path(folder)
        for rel, data in self.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / filename
        path.write_text(self.urdf, encoding="utf-8")
        return path


def sanitize_name(text: str, slash: bool = False) -> str:
    """A URDF / TF-safe name: [A-Za-z0-9_] (and inner single "/" when ``slash``, the TF namespace
    separator, as in the node's ``<object_id>/joint_3``), not starting with a digit, never empty."""
    name = re.sub(r"[^A-Za-z0-9_/]" if slash else r"[^A-Za-z0-9_]", "_", text.strip())
    name = re.sub(r"/+", "/", name).strip("/") or "frame"
    return f"_{name}" if name[0].isdigit() else name


def joint_name(prefix: str, child: int) -> str:
    """URDF name of the joint that moves part ``child``: ``<prefix>joint_<child>``, sanitised. The node's
    ``~/joint_states`` entries and joint TF frames use it too (prefix ``<object_id>/``), so all three name a
    joint alike whatever characters ``object_id`` has (the URDF renames it only if the fixed frame itself
    were called so)."""
    return sanitize_name(f"{prefix}joint_{child}", slash=True)


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        k += 1
        out = f"{name}_{k}"
    used.add(out)
    return out


def _check_joint(j: JointEstimate) -> None:
    if j.type == JointType.STATIC:
        return
    vals = np.concatenate([np.ravel(j.axis), np.ravel(j.origin), np.ravel(j.amounts)]).astype(float)
    if not np.all(np.isfinite(vals)):
        raise ExportError(f"cannot export {j.name}: its axis, origin or states contain NaN/inf")
    if not 0.5 < float(np.linalg.norm(j.axis)) < 2.0:
        raise ExportError(f"cannot export {j.name}: axis {np.asarray(j.axis).tolist()} is not a unit vector")


def export_urdf(
    estimate: ArticulationEstimate, geometry: ObservedGeometry, cfg: ExportConfig | None = None
) -> UrdfModel:
    """Build the URDF of ``estimate`` with meshes from ``geometry`` (see module doc for the frames).

    Raises:
        ExportError: FAILED estimate, no root part, a movable joint with non-finite axis / origin /
            states, a joint whose parent is not a part, or a kinematic cycle.
    """
    cfg = cfg or ExportConfig()
    if estimate.status == EstimateStatus.FAILED:
        raise ExportError(f"cannot export a FAILED estimate: {estimate.message or 'no reason given'}")
    root = estimate.root
    if root is None:
        raise ExportError("cannot export: the estimate has no root part")
    geometry.validate()
    labels = {p.label for p in estimate.parts}
    joints = {j.child: j for j in estimate.joints if j.child in labels and j.child != root.label}
    if cfg.joints == "confirmed":  # an unconfirmed joint is fixed: its part merges into its parent's link
        joints = {
            c: (replace(j, type=JointType.STATIC) if j.type != JointType.STATIC and not j.confirmed else j)
            for c, j in joints.items()
        }
    for j in joints.values():
        if j.parent not in labels:
            raise ExportError(f"cannot export {j.name}: parent part {j.parent} is not in the estimate")
        _check_joint(j)

    # each part's link: movable parts own one; static parts merge into the nearest movable ancestor
    def owner(label: int, seen: tuple[int, ...] = ()) -> int:
        if label in seen:
            raise ExportError(f"cannot export: kinematic cycle through parts {seen}")
        j = joints.get(label)
        if j is None or j.type != JointType.STATIC:
            return label
        return owner(j.parent, (*seen, label))

    link_parts: dict[int, list[int]] = {}
    for label in sorted(labels):
        link_parts.setdefault(owner(label), []).append(label)
    movable = sorted(k for k in link_parts if k != root.label)
    for k in movable:  # cycles among movable joints
        owner_chain, cur = [], k
        while cur != root.label:
            if cur in owner_chain:
                raise ExportError(f"cannot export: kinematic cycle through parts {owner_chain}")
            owner_chain.append(cur)
            cur = owner(joints[cur].parent)

    used: set[str] = set()
    fixed_link = sanitize_name(estimate.frame_id or "world", slash=True) if cfg.attach_to_fixed_frame else None
    if fixed_link:
        used.add(fixed_link)
    prefix = cfg.link_prefix
    base_name = _unique(sanitize_name(prefix + "base", slash=True), used)
    names = {root.label: base_name}
    for k in movable:
        names[k] = _unique(sanitize_name(f"{prefix}part_{k}", slash=True), used)
    joint_names = {k: _unique(joint_name(prefix, k), used) for k in movable}

    # link origins in the fixed frame (state 0)
    pts_of = {k: _finite_points(geometry, link_parts[k]) for k in link_parts}
    origins: dict[int, np.ndarray] = {}
    base_pts = pts_of[root.label][0]
    origins[root.label] = base_pts.mean(axis=0) if len(base_pts) else np.zeros(3)
    for k in movable:
        origins[k] = np.asarray(joints[k].origin, dtype=np.float64)

    links: dict[int, ExportedLink] = {}
    ext = cfg.mesh_format
    for k in [root.label, *movable]:
        pts, dropped = pts_of[k]
        towards = None if k == root.label else _towards(pts_of, root.label, origins[k])
        meshes = convex_pieces(pts - origins[k], cfg, towards=towards)
        many = len(meshes) > 1
        links[k] = ExportedLink(
            name=names[k], parts=tuple(link_parts[k]), origin=origins[k], meshes=meshes,
            mesh_files=tuple(f"{cfg.mesh_dir}/{names[k].replace('/', '_')}{f'_{i}' if many else ''}.{ext}"
                             for i in range(len(meshes))),  # fmt: skip
            mass=combined_mass_properties(meshes, cfg.density, cfg.min_mass), num_points=len(pts),
            dropped_points=dropped,
        )  # fmt: skip

    files = {
        path: stl_bytes(mesh, link.name) if ext == "stl" else obj_bytes(mesh, cfg.decimals)
        for link in links.values()
        for mesh, path in zip(link.meshes, link.mesh_files, strict=True)
    }
    limits = {k: _limits(joints[k], cfg) for k in movable}
    text = _urdf_text(estimate, cfg, links, joints, movable, owner, joint_names, limits, fixed_link, root.label)
    return UrdfModel(
        urdf=text, files=files, links=links, joint_names=joint_names,
        root_link=fixed_link or base_name, base_only=not movable, joint_limits=limits,
    )  # fmt: skip


def _towards(pts_of: dict, root_label: int, origin: np.ndarray) -> np.ndarray | None:
    """The base's centroid relative to ``origin``: a flat moving front is thickened towards the body."""
    base = pts_of[root_label][0]
    return None if len(base) == 0 else base.mean(axis=0) - origin


def _text(s: str) -> str:
    """``s`` safe inside an XML comment."""
    return sx.escape(str(s)).replace("--", "- -")


def _finite_points(geometry: ObservedGeometry, parts: list[int]) -> tuple[np.ndarray, int]:
    arrays = [np.asarray(geometry.points.get(p, np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3) for p in parts]
    pts = np.concatenate(arrays) if arrays else np.zeros((0, 3))
    ok = np.isfinite(pts).all(axis=1)
    return pts[ok], int((~ok).sum())


def _limits(j: JointEstimate, cfg: ExportConfig) -> tuple[float, float]:
    margin = cfg.revolute_margin if j.type == JointType.REVOLUTE else cfg.prismatic_margin
    a = np.asarray(j.amounts, dtype=np.float64)
    return float(min(a.min(), 0.0) - margin), float(max(a.max(), 0.0) + margin)


def _urdf_text(estimate, cfg, links, joints, movable, owner, joint_names, limits, fixed_link, root_label) -> str:
    d = cfg.decimals

    def num(x: float) -> str:
        if not np.isfinite(x):  # checked above; this guard keeps NaN out of the file whatever changes
            raise ExportError(f"internal: a non-finite number {x} would reach the URDF")
        s = f"{float(x):.{d}f}"
        return "0" if float(s) == 0.0 else s.rstrip("0").rstrip(".")

    def sci(x: float) -> str:  # mass and inertia span many decades: significant digits
        num(x)  # the finiteness guard
        return f"{float(x):.{d}g}"

    def vec(v) -> str:
        return " ".join(num(x) for x in np.asarray(v, dtype=np.float64))

    def link_xml(link: ExportedLink) -> list[str]:
        m, inertia = link.mass, link.mass.inertia
        geoms = [f'<geometry><mesh filename="{sx.escape(f)}"/></geometry>' for f in link.mesh_files]
        kinds = sorted({mesh.kind for mesh in link.meshes})
        return [
            f"  <!-- parts {list(link.parts)}: {len(link.meshes)} convex piece(s) ({', '.join(kinds)})"
            f" of {link.num_points} observed points"
            + (f", {link.dropped_points} non-finite dropped" if link.dropped_points else "")
            + " -->",
            f'  <link name="{link.name}">',
            "    <inertial>",
            f'      <origin xyz="{vec(m.com)}" rpy="0 0 0"/>',
            f'      <mass value="{sci(m.mass)}"/>',
            f'      <inertia ixx="{sci(inertia[0, 0])}" ixy="{sci(inertia[0, 1])}" ixz="{sci(inertia[0, 2])}" '
            f'iyy="{sci(inertia[1, 1])}" iyz="{sci(inertia[1, 2])}" izz="{sci(inertia[2, 2])}"/>',
            "    </inertial>",
            *(f"    <visual>{g}</visual>" for g in geoms),
            *(f"    <collision>{g}</collision>" for g in geoms),
            "  </link>",
        ]

    stamp = int(estimate.stamps_ns[-1]) if len(estimate.stamps_ns) else 0
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f"<!-- sim2art URDF export, schema version {URDF_SCHEMA_VERSION} -->",
        f"<!-- estimate: status {EstimateStatus(estimate.status).name}, fixed frame '{_text(estimate.frame_id)}',"
        f" newest stamp {stamp} ns, estimator '{_text(estimate.estimator_id)}' -->",
        f"<!-- mass from the convex hull at density {num(cfg.density)} kg/m^3 (a solid; not measured);"
        " joint zero = the estimate's first frame -->",
    ]
    unconfirmed = sum(1 for j in estimate.joints if j.type != JointType.STATIC and not j.confirmed)
    if cfg.joints == "confirmed" and unconfirmed:
        out.append(f"<!-- {unconfirmed} unconfirmed joint(s) of the estimate exported as fixed (joints: confirmed) -->")
    if not movable:
        fixed_all = cfg.joints == "confirmed" and unconfirmed
        what = "no confirmed moving part" if fixed_all else "no moving part was observed"
        out.append(f"<!-- {what}: this URDF holds the base only -->")
    out.append(f'<robot name="{sanitize_name(cfg.robot_name)}">')
    base = links[root_label]
    if fixed_link:
        out += [f'  <link name="{fixed_link}"/>',
                f'  <joint name="{base.name}_joint" type="fixed">',
                f'    <parent link="{fixed_link}"/>', f'    <child link="{base.name}"/>',
                f'    <origin xyz="{vec(base.origin)}" rpy="0 0 0"/>', "  </joint>"]  # fmt: skip
    out += link_xml(base)
    for k in movable:
        j, link = joints[k], links[k]
        parent = links[owner(j.parent)]
        lo, hi = limits[k]
        kind = "revolute" if j.type == JointType.REVOLUTE else "prismatic"
        out += link_xml(link)
        out += [
            f"  <!-- {kind} joint of part {k}: confidence {num(j.confidence)}, source {_text(j.source)},"
            f" observed states [{num(np.min(j.amounts))}, {num(np.max(j.amounts))}] -->",
            f'  <joint name="{joint_names[k]}" type="{kind}">',
            f'    <parent link="{parent.name}"/>',
            f'    <child link="{link.name}"/>',
            f'    <origin xyz="{vec(link.origin - parent.origin)}" rpy="0 0 0"/>',
            f'    <axis xyz="{vec(j.axis)}"/>',
            f'    <limit lower="{num(lo)}" upper="{num(hi)}" effort="{num(cfg.effort)}"'
            f' velocity="{num(cfg.velocity)}"/>',
            "  </joint>",
        ]
    out.append("</robot>")
    return "\n".join(out) + "\n"
