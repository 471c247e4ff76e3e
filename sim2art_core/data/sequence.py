"""One synthetic sample: T frames of N object points with ground truth.

This is the contract between the data engine (which writes it), the dataset
reader, training and evaluation (which read it). Frames:

* ``cam0``: the optical frame (x right, y down, z forward) of the FIRST camera of
  the sequence. Points, flow, axes and pivots are expressed in it (paper §3.1).
* ``world``: the object's root-link frame (z up, the object standing on z = 0).
  ``world_from_cam`` gives every camera's optical frame in it.

Parts are the links of the object's kinematic tree after merging links attached
by fixed joints into their parent; part 0 is the root (static base). Every other
part p has exactly one movable joint, whose raw state is ``joint_states[:, p - 1]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

import numpy as np

from sim2art_core.types import JointType
from sim2art_core.window import PointFrames

SCHEMA_VERSION = 1

#: The 14 categories of the paper (Fig. S1).
CATEGORIES: tuple[str, ...] = (
    "Storage1", "Storage2", "Storage3", "Storage4", "Storage5", "Storage6",
    "Box", "Eyeglasses", "Laptop", "Stapler", "Table1", "Table2", "Fan", "Scissors",
)  # fmt: skip

#: Broader procedural furniture beyond the paper (issue 12; sim2art_core.data.objects.furniture). Not part
#: of the paper's test split (datasets default to CATEGORIES); training may draw from ALL_CATEGORIES.
BROAD_CATEGORIES: tuple[str, ...] = ("Kitchen", "Cupboard", "Appliance")
ALL_CATEGORIES: tuple[str, ...] = (*CATEGORIES, *BROAD_CATEGORIES)


def parse_categories(text: str) -> tuple[str, ...]:
    """Command-line spelling of a category list: 'all' (the paper's 14), 'broad' (:data:`ALL_CATEGORIES`)
    or comma-separated names (ValueError naming the unknown ones)."""
    if text == "all":
        return CATEGORIES
    if text == "broad":
        return ALL_CATEGORIES
    cats = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cats if c not in ALL_CATEGORIES]
    if bad or not cats:
        raise ValueError(f"unknown categories {bad}; known: {', '.join(ALL_CATEGORIES)}")
    return cats


def categories_arg(text: str) -> tuple[str, ...]:
    """argparse ``type=`` of a category list (:func:`parse_categories`; its error is the usage error)."""
    try:
        return parse_categories(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@dataclass(frozen=True)
class SequenceSample(PointFrames):
    """A training/evaluation sample. Shapes: T frames, N points/frame, P parts, J = P - 1 joints.

    Attributes:
        object_id: unique id of the object instance ("<category>-<object_seed>"); dataset splits go by it.
        category: one of :data:`ALL_CATEGORIES` (or "urdf" for an external URDF).
        object_seed: instance seed; the procedural generator rebuilds the same object from (category, seed).
        sequence_seed: seed of the camera path, joint motion and point sampling.
        points: (T, N, 3) float32, m, cam0 frame: sampled object pixels lifted with depth.
        flow: (T, N, 3) float32, m, cam0 frame: 3-D displacement of the same material point from
            frame t to t + 1 caused by object motion only (the camera's motion is not in it).
            The generator renders T + 1 joint states, so the last frame has flow too.
        colors: (T, N, 3) uint8 RGB of the sampled pixels.
        pixels: (T, N, 2) int16 (u, v) = (column, row) of the sampled pixels in frame t.
        labels: (T, N) int16 part index of each point, in [0, P).
        part_names: (P,) link names; part_names[0] is the root.
        part_parents: (P,) int16 parent part index; -1 for the root.
        part_types: (P,) int8 :class:`~sim2art_core.types.JointType` of the joint attaching the part to
            its parent (the root is STATIC). A joint keeps its type when it happens not to move.
        part_axes: (P, 3) float32 unit axis in cam0 at frame 0 (zeros for static parts).
        part_pivots: (P, 3) float32, m, cam0: revolute = a point on the axis (foot of the perpendicular
            from the part's frame-0 centroid); prismatic = the part's centroid at frame 0; static = 0.
        part_amounts: (P, T) float32 joint amount relative to frame 0 (rad for revolute, m for
            prismatic, 0 for static), signed along +axis; part_amounts[:, 0] == 0.
        part_moving: (P,) bool: the part moved noticeably during the sequence (max |amount| above
            1 deg for revolute, 5 mm for prismatic).
        intrinsics: (4,) float64 fx, fy, cx, cy in pixels (OpenCV convention, sim2art_core.camera).
        image_size: (width, height) in pixels of the rendered frames.
        world_from_cam: (T, 4, 4) float64 optical frame of camera t in the world frame.
        joint_states: (T + 1, J) float64 raw joint positions (rad | m) of the URDF joints, used to
            re-render the sequence or turn it into a bag.
        joint_names: (J,) URDF names of the movable joints, aligned with parts 1..P-1.
        realism: JSON text of the realism options applied ("{}" when none).
    """

    object_id: str
    category: str
    object_seed: int
    sequence_seed: int
    points: np.ndarray
    flow: np.ndarray
    colors: np.ndarray
    pixels: np.ndarray
    labels: np.ndarray
    part_names: tuple[str, ...]
    part_parents: np.ndarray
    part_types: np.ndarray
    part_axes: np.ndarray
    part_pivots: np.ndarray
    part_amounts: np.ndarray
    part_moving: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    world_from_cam: np.ndarray
    joint_states: np.ndarray
    joint_names: tuple[str, ...]
    realism: str = "{}"

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    def validate(self) -> SequenceSample:
        """Check shapes, dtypes and invariants; raise ValueError naming the first problem."""
        T, N, P = self.num_frames, self.num_points, self.num_parts
        J = P - 1
        expected = {
            "points": ((T, N, 3), np.float32),
            "flow": ((T, N, 3), np.float32),
            "colors": ((T, N, 3), np.uint8),
            "pixels": ((T, N, 2), np.int16),
            "labels": ((T, N), np.int16),
            "part_parents": ((P,), np.int16),
            "part_types": ((P,), np.int8),
            "part_axes": ((P, 3), np.float32),
            "part_pivots": ((P, 3), np.float32),
            "part_amounts": ((P, T), np.float32),
            "part_moving": ((P,), np.bool_),
            "intrinsics": ((4,), np.float64),
            "world_from_cam": ((T, 4, 4), np.float64),
            "joint_states": ((T + 1, J), np.float64),
        }
        for name, (shape, dtype) in expected.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
                got = f"{a.shape} {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(f"SequenceSample.{name}: expected {shape} {np.dtype(dtype)}, got {got}")
        if len(self.joint_names) != J:
            raise ValueError(f"SequenceSample.joint_names: expected {J} names, got {len(self.joint_names)}")
        if not np.all(np.isfinite(self.points)) or not np.all(np.isfinite(self.flow)):
            raise ValueError("SequenceSample: points or flow contain NaN/inf")
        if self.labels.min() < 0 or self.labels.max() >= P:
            raise ValueError(f"SequenceSample.labels: values must lie in [0, {P})")
        if self.part_parents[0] != -1 or self.part_types[0] != JointType.STATIC:
            raise ValueError("SequenceSample: part 0 must be the static root (parent -1)")
        if np.any(self.part_amounts[:, 0] != 0):
            raise ValueError("SequenceSample.part_amounts: amounts are relative to frame 0 (column 0 must be 0)")
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All fields as NumPy arrays (strings and tuples as 0-d/1-d string arrays)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v if isinstance(v, np.ndarray) else np.asarray(v)
        return out
