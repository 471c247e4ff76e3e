"""One RGB-D camera frame: what a robot's camera (or the renderer) provides.

The renderer produces these for bags and for the optical-flow robustness
evaluation; the ROS node builds them from Image/CameraInfo/TF; the run-time
preprocessing (``sim2art_core.preprocess``) turns a list of them into a
:class:`~sim2art_core.window.Window`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core.camera import Intrinsics


@dataclass(frozen=True)
class RGBDFrame:
    """A registered colour + depth frame with its camera pose.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order.
        depth: (H, W) float32 z-depth in metres registered to ``rgb``; NaN marks invalid pixels.
        intrinsics: pinhole intrinsics of ``rgb`` (and of the registered depth).
        world_from_cam: (4, 4) float64 pose of the camera optical frame in the fixed frame.
        stamp_ns: acquisition time, nanoseconds.
        mask: optional (H, W) bool object mask (from a segmenter, or the renderer).
        part_mask: optional (H, W) int16 ground-truth part label per pixel, -1 for background
            (synthetic frames only).
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    world_from_cam: np.ndarray
    stamp_ns: int
    mask: np.ndarray | None = None
    part_mask: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.depth.shape[0]), int(self.depth.shape[1])

    def validate(self) -> RGBDFrame:
        """Raise ValueError naming the first inconsistency."""
        h, w = self.shape
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(f"RGBDFrame.rgb must be ({h}, {w}, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.depth.dtype != np.float32:
            raise ValueError(f"RGBDFrame.depth must be float32 metres, got {self.depth.dtype}")
        if (self.intrinsics.width, self.intrinsics.height) != (w, h):
            raise ValueError(
                f"RGBDFrame: intrinsics are for {self.intrinsics.width}x{self.intrinsics.height}, image is {w}x{h}"
            )
        if self.world_from_cam.shape != (4, 4) or not np.all(np.isfinite(self.world_from_cam)):
            raise ValueError("RGBDFrame.world_from_cam must be a finite 4x4 transform")
        for name in ("mask", "part_mask"):
            m = getattr(self, name)
            if m is not None and m.shape != (h, w):
                raise ValueError(f"RGBDFrame.{name} must be ({h}, {w}), got {m.shape}")
        return self
