"""Pinhole camera model in the OpenCV / ROS optical convention.

Optical frame (REP 103 ``*_optical_frame``): x right, y down, z forward. Pixel
(u, v) = (column, row); the integer pixel (u, v) has its centre at image
coordinates (u, v), the convention of OpenCV and of ``sensor_msgs/CameraInfo``'s
K. Depth is the z coordinate in metres (not the ray length); NaN or <= 0 means
invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core import geometry


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics without distortion (images are rectified).

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (OpenCV convention, see module doc).
        width, height: image size in pixels.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def K(self) -> np.ndarray:
        """3x3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_K(cls, K: np.ndarray, width: int, height: int) -> Intrinsics:
        K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))

    @classmethod
    def from_fov(cls, width: int, height: int, fov_y: float) -> Intrinsics:
        """Square pixels, vertical field of view ``fov_y`` (rad), centred principal point."""
        f = height / (2.0 * np.tan(fov_y / 2.0))
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera at another resolution (pixel-centre convention kept)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height
        )


def lift(uv: np.ndarray, depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Back-project pixels to 3-D points in the optical frame.

    Args:
        uv: (..., 2) pixel coordinates (u = column, v = row), integer or sub-pixel.
        depth: (...) z-depth in metres at those pixels.
        intr: camera intrinsics.

    Returns:
        (..., 3) float32 points; rows with invalid depth come out NaN.
    """
    z = np.asarray(depth, dtype=np.float64)
    z = np.where(np.isfinite(z) & (z > 0), z, np.nan)
    return geometry.lift(uv, z, (intr.fx, intr.fy, intr.cx, intr.cy)).astype(np.float32)


def project(points: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Project optical-frame points (..., 3) to pixel coordinates (..., 2) (float)."""
    p = np.asarray(points, dtype=np.float64)
    z = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intr.fx * p[..., 0] / z + intr.cx
        v = intr.fy * p[..., 1] / z + intr.cy
    return np.stack([u, v], axis=-1)


def sample_depth(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Depth at integer pixels (nearest pixel for sub-pixel input); NaN outside the image."""
    h, w = depth.shape[:2]
    uv = np.asarray(uv)
    u = np.rint(uv[..., 0]).astype(np.int64)
    v = np.rint(uv[..., 1]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    out = np.full(u.shape, np.nan, dtype=np.float32)
    out[inside] = depth[v[inside], u[inside]]
    return out
