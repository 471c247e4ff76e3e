"""The estimator's input: a window of T frames of object points in a fixed frame.

Produced at run time by ``sim2art_core.preprocess`` (frames -> window) in the
ROS node and the tools, and offline from a synthetic sample with
:func:`sim2art_core.data.to_window.window_from_sample`, so evaluation and the robot
share one code path. This module imports no part of the data engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PointFrames:
    """Mixin of the T x N point containers (:class:`Window`, the data engine's samples): their sizes from
    the ``points`` (T, N, 3) field."""

    points: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.points.shape[1])


@dataclass(frozen=True)
class Window(PointFrames):
    """T frames x N points of one object. Shapes below; units m, s.

    Attributes:
        points: (T, N, 3) float32, m, in the fixed frame ``frame_id``.
        flow: (T, N, 3) float32, m, fixed frame: displacement of each point from frame t to
            t + 1 caused by object motion (camera motion removed). At run time the window's last
            frame gets its flow from one extra, newer image.
        valid: (T, N) bool; False marks padding or points without depth/flow (ignored).
        stamps_ns: (T,) int64 frame stamps, oldest first, strictly increasing.
        world_from_cam: (T, 4, 4) float64 pose of each frame's camera optical frame in the fixed
            frame. The network works in the first camera's optical frame (as in training).
        frame_id: name of the fixed frame (e.g. "odom"; "world" for synthetic samples).
        colors: optional (T, N, 3) uint8 RGB of each point.
        features: optional (T, N, C) float32 per-point image features (see sim2art_core.features).
    """

    points: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    stamps_ns: np.ndarray
    world_from_cam: np.ndarray
    frame_id: str = "world"
    colors: np.ndarray | None = None
    features: np.ndarray | None = None

    def validate(self) -> Window:
        """Check shapes and values; raise ValueError naming the problem (never silently fix)."""
        if self.points.ndim != 3 or self.points.shape[-1] != 3:
            raise ValueError(f"Window.points must be (T, N, 3), got {self.points.shape}")
        T, N = self.points.shape[:2]
        if T < 2:
            raise ValueError(f"Window needs at least 2 frames, got {T}")
        checks = {"flow": (T, N, 3), "valid": (T, N), "stamps_ns": (T,), "world_from_cam": (T, 4, 4)}
        for name, shape in checks.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"Window.{name} must be {shape}, got {getattr(self, name).shape}")
        if self.colors is not None and self.colors.shape != (T, N, 3):
            raise ValueError(f"Window.colors must be {(T, N, 3)}, got {self.colors.shape}")
        if self.features is not None and self.features.shape[:2] != (T, N):
            raise ValueError(f"Window.features must be (T, N, C), got {self.features.shape}")
        if not np.all(np.diff(self.stamps_ns) > 0):
            raise ValueError("Window.stamps_ns must be strictly increasing")
        v = self.valid
        # (finite or invalid) per point: no copy of the valid subset (this runs once per window)
        if not (np.isfinite(self.points).all(-1) | ~v).all() or not (np.isfinite(self.flow).all(-1) | ~v).all():
            raise ValueError("Window: valid points or flow contain NaN/inf")
        if not np.all(np.isfinite(self.world_from_cam)):
            raise ValueError("Window.world_from_cam contains NaN/inf")
        if not v.any(axis=1).all():
            raise ValueError("Window: a frame has no valid point")
        return self
