"""Sample N object pixels of a frame and lift them into the fixed frame (paper §3.1)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sim2art_core.camera import Intrinsics, lift
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import transform_points

#: scale of the small grey image kept for the keyframe image-change test
CHANGE_SCALE = 0.125


@dataclass(frozen=True)
class FrameSample:
    """One keyframe: its sampled object points plus what the next flow step needs.

    Attributes:
        stamp_ns: frame stamp.
        world_from_cam: (4, 4) camera pose in the fixed frame.
        intrinsics: the frame's intrinsics.
        uv: (N, 2) float32 full-resolution pixels of the samples (0 for padding).
        points: (N, 3) float32, m, fixed frame (0 for padding).
        valid: (N,) bool, False for padding (fewer object pixels than N).
        colors: (N, 3) uint8 RGB.
        grey: uint8 grey image at the flow scale (flow source for the next keyframe).
        small: uint8 grey image at :data:`CHANGE_SCALE` (keyframe image-change test).
        box: (u0, v0, u1, v1) pixel box of the object at :data:`CHANGE_SCALE`.
        features: optional (N, C) float32 per-point image features (0 for padding).
        on_depth_edge: optional (N,) bool, the sample's pixel lies on a depth edge
            (``FlowConfig.depth_edge_ratio``): it gets no flow.
    """

    stamp_ns: int
    world_from_cam: np.ndarray
    intrinsics: Intrinsics
    uv: np.ndarray
    points: np.ndarray
    valid: np.ndarray
    colors: np.ndarray
    grey: np.ndarray
    small: np.ndarray
    box: tuple[int, int, int, int]
    features: np.ndarray | None = None
    on_depth_edge: np.ndarray | None = None

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())


def sample_pixels(mask: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct pixels of ``mask`` drawn uniformly (paper: random pixels on the mask).

    Returns (uv (n, 2) int64 (column, row), valid (n,) bool). With fewer than ``n`` mask pixels all
    are taken and the rest is padding (valid False, uv 0): no point is duplicated.
    """
    rows, cols = np.nonzero(mask)
    m = len(rows)
    uv = np.zeros((n, 2), dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    idx = rng.choice(m, size=n, replace=False) if m > n else rng.permutation(m)
    k = len(idx)
    uv[:k, 0], uv[:k, 1] = cols[idx], rows[idx]
    valid[:k] = True
    return uv, valid


def grey_at(rgb: np.ndarray, scale: float) -> np.ndarray:
    """uint8 grey image of an RGB frame resized by ``scale`` (area interpolation)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def sample_frame(
    frame: RGBDFrame, mask: np.ndarray, n: int, flow_scale: float, rng: np.random.Generator
) -> FrameSample:
    """Sample ``n`` object pixels (``mask``), lift them with depth and move them into the fixed frame."""
    uv, valid = sample_pixels(mask, n, rng)
    z = frame.depth[uv[:, 1], uv[:, 0]]
    points = transform_points(frame.world_from_cam, lift(uv, z, frame.intrinsics))
    valid &= np.all(np.isfinite(points), axis=1)
    points = np.where(valid[:, None], points, 0.0).astype(np.float32)
    colors = np.where(valid[:, None], frame.rgb[uv[:, 1], uv[:, 0]], 0).astype(np.uint8)
    full = grey_at(frame.rgb, 1.0)
    grey = full
    if flow_scale != 1.0:
        grey = cv2.resize(full, None, fx=flow_scale, fy=flow_scale, interpolation=cv2.INTER_AREA)
    small = cv2.resize(full, None, fx=CHANGE_SCALE, fy=CHANGE_SCALE, interpolation=cv2.INTER_AREA)
    if valid.any():
        lo = np.floor(uv[valid].min(axis=0) * CHANGE_SCALE).astype(int)
        hi = np.ceil((uv[valid].max(axis=0) + 1) * CHANGE_SCALE).astype(int)
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    else:
        box = (0, 0, small.shape[1], small.shape[0])
    return FrameSample(
        stamp_ns=int(frame.stamp_ns),
        world_from_cam=np.asarray(frame.world_from_cam, dtype=np.float64),
        intrinsics=frame.intrinsics,
        uv=uv.astype(np.float32),
        points=points,
        valid=valid,
        colors=colors,
        grey=grey,
        small=small,
        box=box,
    )
