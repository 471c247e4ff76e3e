"""Exact-geometry articulated scenes (boxes, no rendering) for tests, benchmarks and sanity checks.

Every frame samples new points on each part (as a depth camera would), moves them with the part's
exact motion and gives them their exact scene flow to the next frame, so a method's error can be
traced to the method, not to the data. The synthetic data engine (``sim2art_core.data.generator``)
renders realistic samples; this module only builds controlled cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.geometry import (
    closest_point_on_line,
    invert_transform,
    prismatic_motion,
    revolute_motion,
    transform_points,
    unit,
)
from sim2art_core.types import JointType
from sim2art_core.window import Window


@dataclass(frozen=True)
class BoxPart:
    """A box-shaped rigid part attached to the root (part 0).

    Attributes:
        center: (3,) m, box centre at frame 0 (world frame).
        size: (3,) m, box extents along world x, y, z at frame 0.
        type: joint type (the root and non-moving parts: STATIC).
        axis: (3,) joint axis (ignored for STATIC).
        pivot: (3,) m, a point on the revolute axis (ignored otherwise).
        amounts: (T,) rad | m joint amount per frame relative to frame 0 (None: all 0).
    """

    center: Sequence[float]
    size: Sequence[float]
    type: JointType = JointType.STATIC
    axis: Sequence[float] = (0.0, 0.0, 1.0)
    pivot: Sequence[float] = (0.0, 0.0, 0.0)
    amounts: np.ndarray | None = None

    def motion(self, amount: float) -> np.ndarray:
        """4x4 motion of the part at joint amount ``amount`` (world frame)."""
        if self.type == JointType.REVOLUTE:
            return revolute_motion(np.asarray(self.axis, float), np.asarray(self.pivot, float), amount)
        if self.type == JointType.PRISMATIC:
            return prismatic_motion(np.asarray(self.axis, float), amount)
        return np.eye(4)


@dataclass(frozen=True)
class Scene:
    """A window with its exact ground truth.

    Attributes:
        window: the Window (world frame).
        labels: (T, N) int16 true part of each point.
        parts: the parts (part 0 = root).
        amounts: (P, T) joint amounts.
    """

    window: Window
    labels: np.ndarray
    parts: tuple[BoxPart, ...]
    amounts: np.ndarray


def _surface_points(size: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniformly on the surface of an axis-aligned box centred at 0."""
    half = np.asarray(size, float) / 2.0
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]]) * 2
    face_axis = rng.choice(3, size=n, p=areas / areas.sum())
    p = rng.uniform(-half, half, size=(n, 3))
    sign = rng.choice([-1.0, 1.0], size=n)
    p[np.arange(n), face_axis] = sign * half[face_axis]
    return p


def make_scene(
    parts: Sequence[BoxPart],
    num_frames: int,
    points_per_part: Sequence[int],
    *,
    seed: int = 0,
    flow_noise_m: float = 0.0,
    outlier_fraction: float = 0.0,
    outlier_scale_m: float = 0.05,
    common_motion: np.ndarray | None = None,
) -> Scene:
    """Build a window of box parts moving with their exact joint motions.

    Args:
        parts: part 0 is the root (static base).
        num_frames: T.
        points_per_part: points of each part per frame (N = their sum).
        seed: random seed of the point sampling and noise.
        flow_noise_m: std of Gaussian noise added to every flow vector.
        outlier_fraction: fraction of flow vectors replaced by random vectors of std ``outlier_scale_m``.
        common_motion: optional (T, 4, 4) motion applied to the whole object after the joints (what a
            camera-pose error does to a window in a fixed frame).
    """
    rng = np.random.default_rng(seed)
    T = num_frames
    P = len(parts)
    if len(points_per_part) != P:
        raise ValueError("make_scene: one point count per part")
    amounts = np.zeros((P, T + 1))
    for p, part in enumerate(parts):
        if part.amounts is not None:
            a = np.asarray(part.amounts, float)
            if a.shape != (T,):
                raise ValueError(f"make_scene: part {p} amounts must be ({T},), got {a.shape}")
            # One more state for the last frame's flow: extrapolate linearly.
            amounts[p, :T] = a
            amounts[p, T] = a[-1] + (a[-1] - a[-2] if T > 1 else 0.0)
    common = np.tile(np.eye(4), (T + 1, 1, 1)) if common_motion is None else np.asarray(common_motion, float)
    if common.shape[0] == T:
        common = np.concatenate([common, common[-1:]], axis=0)
    N = int(sum(points_per_part))
    points = np.zeros((T, N, 3))
    flow = np.zeros((T, N, 3))
    labels = np.zeros((T, N), dtype=np.int16)
    for t in range(T):
        start = 0
        for p, part in enumerate(parts):
            n = int(points_per_part[p])
            local = _surface_points(np.asarray(part.size, float), n, rng) + np.asarray(part.center, float)
            now = common[t] @ part.motion(amounts[p, t])
            nxt = common[t + 1] @ part.motion(amounts[p, t + 1])
            x = transform_points(now, local)
            points[t, start : start + n] = x
            flow[t, start : start + n] = transform_points(nxt @ invert_transform(now), x) - x
            labels[t, start : start + n] = p
            start += n
    if flow_noise_m > 0:
        flow += rng.normal(scale=flow_noise_m, size=flow.shape)
    if outlier_fraction > 0:
        bad = rng.random((T, N)) < outlier_fraction
        flow[bad] = rng.normal(scale=outlier_scale_m, size=(int(bad.sum()), 3))
    window = Window(
        points=points.astype(np.float32),
        flow=flow.astype(np.float32),
        valid=np.ones((T, N), dtype=bool),
        stamps_ns=np.arange(T, dtype=np.int64) * 66_666_667,
        world_from_cam=np.tile(np.eye(4), (T, 1, 1)),
    )
    return Scene(window=window.validate(), labels=labels, parts=tuple(parts), amounts=amounts[:, :T])


def cabinet(num_frames: int = 16, num_points: int = 1024, door_angle: float = 1.0, drawer_travel: float = 0.2,
            **kwargs) -> Scene:  # fmt: skip
    """Base box, a door on a vertical hinge and a drawer (three parts, N split 2:1:1)."""
    T = num_frames
    ramp = np.linspace(0.0, 1.0, T)
    base = BoxPart(center=(0.0, 0.0, 0.4), size=(0.5, 0.4, 0.8))
    door = BoxPart(
        center=(0.25, 0.21, 0.6), size=(0.5, 0.02, 0.4), type=JointType.REVOLUTE,
        axis=(0.0, 0.0, 1.0), pivot=(0.5, 0.21, 0.0), amounts=door_angle * ramp,
    )  # fmt: skip
    drawer = BoxPart(
        center=(0.0, 0.05, 0.2), size=(0.45, 0.32, 0.2), type=JointType.PRISMATIC,
        axis=(0.0, 1.0, 0.0), amounts=drawer_travel * ramp,
    )  # fmt: skip
    n = [num_points // 2, num_points // 4, num_points - num_points // 2 - num_points // 4]
    return make_scene([base, door, drawer], T, n, **kwargs)


def scene_to_sample(scene: Scene, cam0_from_world: np.ndarray | None = None, category: str = "Storage1",
                    object_seed: int = 0) -> SequenceSample:  # fmt: skip
    """The scene as a SequenceSample (GT in cam0), so evaluation code can be tested without rendering.

    ``cam0_from_world`` defaults to a fixed non-trivial pose, so frame handling is exercised; all
    cameras share it (the window's points are already in the fixed frame).
    """
    if cam0_from_world is None:
        from sim2art_core.geometry import make_transform, rotation_about_axis

        cam0_from_world = make_transform(rotation_about_axis([1.0, 0.2, -0.3], 2.0), [0.1, -0.3, 1.5])
    T, N = scene.labels.shape
    P = len(scene.parts)
    w_from_c = invert_transform(cam0_from_world)
    R = cam0_from_world[:3, :3]
    axes = np.zeros((P, 3), np.float32)
    pivots = np.zeros((P, 3), np.float32)
    types = np.zeros(P, np.int8)
    for p, part in enumerate(scene.parts):
        types[p] = int(part.type)
        if part.type == JointType.STATIC:
            continue
        axes[p] = R @ unit(np.asarray(part.axis, float))
        # Contract: revolute pivot = foot of the perpendicular from the part's centroid; prismatic = centroid.
        center = np.asarray(part.center, float)
        pivot_w = center
        if part.type == JointType.REVOLUTE:
            pivot_w = closest_point_on_line(center, np.asarray(part.pivot, float), np.asarray(part.axis, float))
        pivots[p] = transform_points(cam0_from_world, pivot_w)
    moving = np.array(
        [
            part.type != JointType.STATIC and np.max(np.abs(scene.amounts[p])) > 1e-3
            for p, part in enumerate(scene.parts)
        ]
    )
    return SequenceSample(
        object_id=f"{category}-{object_seed}",
        category=category,
        object_seed=object_seed,
        sequence_seed=0,
        points=transform_points(cam0_from_world, scene.window.points.astype(np.float64)).astype(np.float32),
        flow=(scene.window.flow.astype(np.float64) @ R.T).astype(np.float32),
        colors=np.zeros((T, N, 3), np.uint8),
        pixels=np.zeros((T, N, 2), np.int16),
        labels=scene.labels.astype(np.int16),
        part_names=tuple(f"link_{p}" for p in range(P)),
        part_parents=np.array([-1] + [0] * (P - 1), np.int16),
        part_types=types,
        part_axes=axes,
        part_pivots=pivots,
        part_amounts=scene.amounts.astype(np.float32),
        part_moving=moving,
        intrinsics=np.array([500.0, 500.0, 320.0, 240.0]),
        image_size=(640, 480),
        world_from_cam=np.tile(w_from_c, (T, 1, 1)),
        joint_states=np.zeros((T + 1, P - 1)),
        joint_names=tuple(f"joint_{p}" for p in range(1, P)),
    ).validate()
