"""Procedural articulated scenes with exact scene flow for the motion-segmentation tests.

A scene is a list of rigid parts, each a set of rectangles (centre, two edge vectors) with a pose per frame
(4x4, relative to its rest pose). Every frame samples its own points (as the run-time window does), and
each point's flow is where the same material point is at the next frame. Nothing here is one of the data
engine's categories: the tests build odd objects (a box with a door hinged at the bottom, a tall wardrobe,
a drawer under a door).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.window import Window

Pose = Callable[[float], np.ndarray]


def still(_t: float) -> np.ndarray:
    return np.eye(4)


def hinge(origin, axis, angle: Callable[[float], float]) -> Pose:
    """Rotation by angle(t) about the line through ``origin`` along ``axis``."""
    o, a = np.asarray(origin, float), np.asarray(axis, float) / np.linalg.norm(axis)

    def pose(t: float) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(a * angle(t)).as_matrix()
        T[:3, 3] = o - T[:3, :3] @ o
        return T

    return pose


def slide(direction, distance: Callable[[float], float]) -> Pose:
    d = np.asarray(direction, float) / np.linalg.norm(direction)

    def pose(t: float) -> np.ndarray:
        T = np.eye(4)
        T[:3, 3] = d * distance(t)
        return T

    return pose


def ramp(total: float, start: float = 0.0, stop: float = 1.1) -> Callable[[float], float]:
    """0 before ``start``, ``total`` after ``stop`` (fractions of the window), linear between."""
    return lambda t: total * float(np.clip((t - start) / max(stop - start, 1e-9), 0.0, 1.0))


@dataclass
class Part:
    rects: list[tuple[tuple, tuple, tuple]]  # (centre, edge u, edge v), the rectangle is centre +- u/2 +- v/2
    pose: Pose
    share: float  # fraction of each frame's points


@dataclass
class Scene:
    points: np.ndarray  # (T, N, 3)
    flow: np.ndarray
    valid: np.ndarray
    labels: np.ndarray  # (T, N) true part

    def window(self, period_ns: int = 66_000_000) -> Window:
        """The scene as the estimator's input: frames ``period_ns`` apart, camera at the world origin."""
        T = self.valid.shape[0]
        return Window(
            points=self.points.astype(np.float32),
            flow=self.flow.astype(np.float32),
            valid=self.valid.copy(),
            stamps_ns=np.arange(T, dtype=np.int64) * period_ns,
            world_from_cam=np.tile(np.eye(4), (T, 1, 1)),
            frame_id="odom",
        )


def box(centre, size) -> list[tuple]:
    """The five faces of an open-front box (no front face)."""
    c, (w, h, d) = np.asarray(centre, float), size
    x, y, z = np.array([w, 0, 0.0]), np.array([0, h, 0.0]), np.array([0, 0, d])
    return [
        (c + z / 2, x, y),  # back
        (c - x / 2, y, z),  # left
        (c + x / 2, y, z),  # right
        (c - y / 2, x, z),  # bottom
        (c + y / 2, x, z),  # top
    ]


def render(parts: list[Part], T: int = 16, N: int = 1024, seed: int = 0) -> Scene:
    rng = np.random.default_rng(seed)
    shares = np.array([p.share for p in parts], float)
    counts = np.maximum(1, np.round(shares / shares.sum() * N).astype(int))
    counts[0] += N - counts.sum()
    points = np.zeros((T, N, 3))
    flow = np.zeros((T, N, 3))
    labels = np.zeros((T, N), dtype=np.int64)
    for t in range(T):
        s, e = t / max(T - 1, 1), (t + 1) / max(T - 1, 1)
        start = 0
        for k, (part, n) in enumerate(zip(parts, counts, strict=True)):
            areas = np.array([np.linalg.norm(np.cross(u, v)) for _, u, v in part.rects])
            which = rng.choice(len(part.rects), size=n, p=areas / areas.sum())
            ab = rng.uniform(-0.5, 0.5, size=(n, 2))
            c, u, v = (np.array([np.asarray(r[j], float) for r in part.rects])[which] for j in range(3))
            rest = c + ab[:, :1] * u + ab[:, 1:] * v
            P0, P1 = part.pose(s), part.pose(e)
            x = rest @ P0[:3, :3].T + P0[:3, 3]
            x1 = rest @ P1[:3, :3].T + P1[:3, 3]
            points[t, start : start + n] = x
            flow[t, start : start + n] = x1 - x
            labels[t, start : start + n] = k
            start += n
    return Scene(points, flow, np.ones((T, N), bool), labels)


def network_probs(labels: np.ndarray, slot_of_part: list[int], num_slots: int = 6, confidence: float = 0.9):
    """Slot probabilities a network would give: ``confidence`` on the slot of each point's true part."""
    probs = np.full((*labels.shape, num_slots), (1.0 - confidence) / (num_slots - 1))
    slot = np.asarray(slot_of_part)[labels]
    np.put_along_axis(probs, slot[..., None], confidence, axis=-1)
    return probs


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.count_nonzero(pred | gt)
    return float(np.count_nonzero(pred & gt) / union) if union else 0.0


def best_iou(labels: np.ndarray, gt: np.ndarray) -> float:
    """IoU of the predicted part that overlaps the true mask ``gt`` most."""
    ids = np.unique(labels[gt])
    return max((iou(labels == i, gt) for i in ids if i >= 0), default=0.0)


# ----------------------------------------------------------------------------------------------- objects
def two_door_cabinet(left_angle=None, right_angle=None) -> list[Part]:
    """A 0.8 x 0.8 x 0.4 m cabinet with two doors hinged at its outer vertical edges (front at z = -0.2);
    by default they open by 0.6 rad each over the window."""
    left_angle = left_angle or ramp(0.6)
    right_angle = right_angle or ramp(-0.6)
    return [
        Part(box((0, 0, 0), (0.8, 0.8, 0.4)), still, 0.55),
        Part([((-0.2, 0, -0.21), (0.39, 0, 0), (0, 0.78, 0))], hinge((-0.4, 0, -0.21), (0, 1, 0), left_angle), 0.22),
        Part([((0.2, 0, -0.21), (0.39, 0, 0), (0, 0.78, 0))], hinge((0.4, 0, -0.21), (0, 1, 0), right_angle), 0.23),
    ]
