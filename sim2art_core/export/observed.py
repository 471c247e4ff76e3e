"""Observed geometry of each part at joint state 0: what the export turns into meshes.

The export needs, per part, points on its surface with every joint at state 0 (the pose of the
estimate's first frame; ``JointEstimate.amounts`` are relative to it). One window provides them
(:func:`observed_geometry_from_window`: every frame's points, moved back by the estimated joint
motion); a model fused over many windows can provide the same type later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim2art_core.estimate import ArticulationEstimate, JointEstimate
from sim2art_core.geometry import invert_transform, prismatic_motion, revolute_motion, transform_points
from sim2art_core.types import JointType
from sim2art_core.window import Window


@dataclass(frozen=True)
class ObservedGeometry:
    """Per-part surface points at joint state 0.

    Attributes:
        frame_id: the fixed frame of the points (the estimate's ``frame_id``).
        points: part label -> (M, 3) float64 points, m, in ``frame_id`` with every joint at state 0.
            Non-finite rows are allowed here; the export drops them (and counts them in the URDF).
    """

    frame_id: str
    points: Mapping[int, np.ndarray]

    def validate(self) -> ObservedGeometry:
        """Raise ValueError for wrongly shaped point arrays."""
        for label, pts in self.points.items():
            if np.asarray(pts).ndim != 2 or np.asarray(pts).shape[1] != 3:
                raise ValueError(f"ObservedGeometry: points of part {label} must be (M, 3), got {np.shape(pts)}")
        return self


def joint_motion(joint: JointEstimate, amount: float) -> np.ndarray:
    """4x4 motion of the child relative to its parent at state ``amount`` (rad | m); identity for static."""
    if joint.type == JointType.REVOLUTE:
        return revolute_motion(joint.axis, joint.origin, amount)
    if joint.type == JointType.PRISMATIC:
        return prismatic_motion(joint.axis, amount)
    return np.eye(4)


def part_poses(estimate: ArticulationEstimate, states: Mapping[int, float]) -> dict[int, np.ndarray]:
    """fixed_from_part (4x4) of every part when each joint (keyed by child label) is at ``states``.

    Joint axes and origins are in the fixed frame with every joint at state 0, so a part's pose is its
    parent's pose composed with its own joint motion (the root stays at identity). A joint missing
    from ``states`` is at 0.
    """
    by_child = {j.child: j for j in estimate.joints}
    poses: dict[int, np.ndarray] = {}

    def pose(label: int, depth: int = 0) -> np.ndarray:
        if label in poses:
            return poses[label]
        j = by_child.get(label)
        if j is None or depth > len(by_child):  # root, or a cycle (never produced; do not recurse forever)
            poses[label] = np.eye(4)
        else:
            poses[label] = pose(j.parent, depth + 1) @ joint_motion(j, float(states.get(label, 0.0)))
        return poses[label]

    for part in estimate.parts:
        pose(part.label)
    return poses


def observed_geometry_from_window(window: Window, estimate: ArticulationEstimate) -> ObservedGeometry:
    """Every valid point of every frame of ``window``, grouped by the estimate's labels and moved back to
    joint state 0 with the estimated per-frame joint states (``JointEstimate.amounts``).

    Raises:
        ValueError: the estimate's labels or joint states do not match the window's (T, N).
    """
    T, N = window.num_frames, window.num_points
    if estimate.labels.shape != (T, N):
        raise ValueError(f"observed_geometry_from_window: labels {estimate.labels.shape} != window {(T, N)}")
    for j in estimate.joints:
        if np.shape(j.amounts) != (T,):
            raise ValueError(f"observed_geometry_from_window: {j.name} has {np.shape(j.amounts)} states, not ({T},)")
    chunks: dict[int, list[np.ndarray]] = {p.label: [] for p in estimate.parts}
    for t in range(T):
        poses = part_poses(estimate, {j.child: float(j.amounts[t]) for j in estimate.joints})
        for label, fixed_from_part in poses.items():
            sel = (estimate.labels[t] == label) & window.valid[t]
            if sel.any():
                pts = window.points[t][sel].astype(np.float64)
                chunks[label].append(transform_points(invert_transform(fixed_from_part), pts))
    points = {k: (np.concatenate(v) if v else np.zeros((0, 3))) for k, v in chunks.items()}
    return ObservedGeometry(frame_id=estimate.frame_id, points=points)


def observed_geometry_from_cloud(
    estimate: ArticulationEstimate, points: np.ndarray, part_ids: np.ndarray
) -> ObservedGeometry:
    """Geometry from one labelled cloud of the estimate's **newest** frame (the node's ``~/points``): each
    part's points moved back from the newest joint states (``amounts[-1]``) to state 0.

    Args:
        points: (M, 3) m, fixed frame, at the newest frame.
        part_ids: (M,) part label of each point (labels not in the estimate are ignored).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    part_ids = np.asarray(part_ids).reshape(-1)
    if len(points) != len(part_ids):
        raise ValueError(f"observed_geometry_from_cloud: {len(points)} points but {len(part_ids)} part ids")
    poses = part_poses(estimate, {j.child: float(j.amounts[-1]) for j in estimate.joints if len(j.amounts)})
    out = {label: transform_points(invert_transform(pose), points[part_ids == label]) for label, pose in poses.items()}
    return ObservedGeometry(frame_id=estimate.frame_id, points=out)


def observed_geometry_from_bounds(estimate: ArticulationEstimate) -> ObservedGeometry:
    """Coarse geometry when no point is available (``/articulation`` alone): the 8 corners of each part's
    axis-aligned bounds at the newest frame (``PartEstimate.bbox_min/max``), moved back to state 0, so each
    link becomes a box. Parts with unknown (NaN) bounds get no point (the export's small empty box)."""
    poses = part_poses(estimate, {j.child: float(j.amounts[-1]) for j in estimate.joints if len(j.amounts)})
    out = {}
    for part in estimate.parts:
        lo, hi = np.asarray(part.bbox_min, float), np.asarray(part.bbox_max, float)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            out[part.label] = np.zeros((0, 3))
            continue
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        out[part.label] = transform_points(invert_transform(poses[part.label]), corners)
    return ObservedGeometry(frame_id=estimate.frame_id, points=out)
