"""Which pixels of a frame belong to the object.

Two sources (:class:`~sim2art_core.preprocess.config.ObjectSelectionConfig`):

* a mask from a segmenter (``RGBDFrame.mask``), restricted to pixels with usable depth;
* a region of interest: an axis-aligned box in the FIXED frame. The pixels are lifted
  with depth, moved into the fixed frame, kept when inside the box and above the
  supporting plane (RANSAC) by more than a band set from the plane's measured depth
  noise (so flat objects stay), split at depth discontinuities, and the largest
  connected region in the image is the object (the documented choice when several
  objects stand in the box).

Either way the mask is eroded by a few pixels so that flying pixels at the object's
border (depth mixing foreground and background) are not sampled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from sim2art_core.camera import Intrinsics
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import unit
from sim2art_core.preprocess.config import ObjectSelectionConfig


@dataclass(frozen=True)
class Plane:
    """Plane ``normal . p + offset = 0`` in the fixed frame; ``normal`` is unit and points up.

    ``noise_m`` is the measured depth noise of the plane's points (m): the RMS height of its points below
    it (an object only adds points above the plane, so the lower side is the sensor's alone); 0 unknown.
    """

    normal: np.ndarray
    offset: float
    inlier_fraction: float
    noise_m: float = 0.0

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (m) of points (..., 3) above the plane (in the points' float dtype)."""
        points = np.asarray(points)
        dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
        return points @ self.normal.astype(dtype) + dtype.type(self.offset)

    def band(self, cfg: ObjectSelectionConfig) -> float:
        """Height (m) up to which points belong to the plane: ``plane_noise_sigmas`` x ``noise_m``, at
        least ``plane_min_distance_m``, at most ``plane_distance_m`` (the fixed band when the noise
        multiple is 0 or the noise is unknown)."""
        if cfg.plane_noise_sigmas <= 0 or not self.noise_m > 0:
            return float(cfg.plane_distance_m)
        return float(min(cfg.plane_distance_m, max(cfg.plane_min_distance_m, cfg.plane_noise_sigmas * self.noise_m)))


def depth_usable(depth: np.ndarray, cfg: ObjectSelectionConfig) -> np.ndarray:
    """(H, W) bool: finite depth within [min_depth_m, max_depth_m]."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth >= cfg.min_depth_m) & (depth <= cfg.max_depth_m)


def fit_support_plane(points: np.ndarray, cfg: ObjectSelectionConfig, rng: np.random.Generator) -> Plane | None:
    """RANSAC plane whose normal is within ``plane_max_tilt_deg`` of ``plane_up``, refined by least squares.

    Written by hand: no library available here (Open3D, scikit-learn) provides RANSAC plane fitting,
    and the tilt constraint is specific to a supporting plane. Returns None when no such plane holds
    ``plane_min_inliers`` of the points.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < 3:
        return None
    if len(pts) > 4000:  # scoring on a subset is enough for a dominant plane
        pts = pts[rng.choice(len(pts), 4000, replace=False)]
    up = unit(np.asarray(cfg.plane_up, dtype=np.float64))
    cos_tilt = np.cos(np.deg2rad(cfg.plane_max_tilt_deg))
    thr = cfg.plane_distance_m
    triples = rng.integers(0, len(pts), size=(cfg.ransac_iterations, 3))
    a, b, c = pts[triples[:, 0]], pts[triples[:, 1]], pts[triples[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    normals[ok] /= norms[ok, None]
    normals *= np.sign(normals @ up)[:, None]  # point up
    ok &= normals @ up >= cos_tilt
    if not ok.any():
        return None
    normals, anchors = normals[ok], a[ok]
    offsets = -np.einsum("ij,ij->i", normals, anchors)
    counts = (np.abs(pts @ normals.T + offsets) < thr).sum(axis=0)
    best = int(np.argmax(counts))
    inliers = pts[np.abs(pts @ normals[best] + offsets[best]) < thr]
    if len(inliers) < max(3, cfg.plane_min_inliers * len(pts)):
        return None
    fraction = len(inliers) / len(pts)
    n, centre = normals[best], anchors[best]
    # Least-squares refit, trimmed to the band the plane's own noise sets: the inliers within
    # plane_distance_m also hold the lowest few millimetres of any object (a flat one entirely), which
    # would lift and tilt the fit. The noise is measured on the points below the plane (objects only add
    # points above it): RMS height, then keep |h| < 3 x that and refit, a few rounds.
    keep, noise = inliers, 0.0
    for _ in range(3):
        if len(keep) < 3:
            break
        c = keep.mean(axis=0)
        m = np.linalg.svd(keep - c, full_matrices=False)[2][-1]
        m = m * (1.0 if m @ up >= 0 else -1.0)
        if m @ up < cos_tilt:  # the refit tilted too far: keep the previous plane
            break
        n, centre = m, c
        h = inliers @ n - n @ centre
        below = h[h < 0]
        if len(below) < 3:
            break
        noise = float(np.sqrt(np.mean(below**2)))
        keep = inliers[np.abs(h) < max(3.0 * noise, 1e-6)]
    return Plane(normal=n, offset=float(-n @ centre), inlier_fraction=fraction, noise_m=noise)


def _depth_edges(depth: np.ndarray, ratio: float) -> np.ndarray:
    """(H, W) bool: pixels whose depth differs from a 4-neighbour by more than ``ratio`` x depth."""
    d = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    edge = np.zeros(d.shape, dtype=bool)
    dx = np.abs(np.diff(d, axis=1)) > ratio * np.maximum(d[:, 1:], d[:, :-1])
    dy = np.abs(np.diff(d, axis=0)) > ratio * np.maximum(d[1:], d[:-1])
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    return edge


def _largest_component(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = 1 + int(np.argmax(areas))
    if areas[best - 1] < min_pixels:
        return np.zeros_like(mask)
    return labels == best


def _remove_small(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels]


@functools.lru_cache(maxsize=8)
def _ray_grid(intr: Intrinsics, stride: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) float32 x/z and y/z of the rays through every ``stride``-th pixel (cached per camera)."""
    u = np.arange(w, dtype=np.float32) * stride
    v = np.arange(h, dtype=np.float32) * stride
    rx = np.broadcast_to((u - np.float32(intr.cx)) / np.float32(intr.fx), (h, w))
    ry = np.broadcast_to(((v - np.float32(intr.cy)) / np.float32(intr.fy))[:, None], (h, w))
    return np.ascontiguousarray(rx), np.ascontiguousarray(ry)


def select_in_box(frame: RGBDFrame, cfg: ObjectSelectionConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool object mask from the fixed-frame region of interest (see module doc)."""
    s = max(1, int(cfg.stride))
    depth = frame.depth[::s, ::s]
    usable = depth_usable(depth, cfg)
    h, w = depth.shape
    rx, ry = _ray_grid(frame.intrinsics, s, h, w)
    z = np.where(usable, depth, np.float32(np.nan)).astype(np.float32, copy=False)
    # world = R (rx z, ry z, z) + t = (R (rx, ry, 1)) z + t: three multiply-adds per coordinate on
    # contiguous float32 planes (a (N, 3) @ (3, 3) matmul was 10-20x slower here)
    pose = np.asarray(frame.world_from_cam, dtype=np.float64)
    R, t = pose[:3, :3].astype(np.float32), pose[:3, 3].astype(np.float32)
    world = [(R[i, 0] * rx + R[i, 1] * ry + R[i, 2]) * z + t[i] for i in range(3)]
    lo, hi = np.asarray(cfg.roi_min, np.float32), np.asarray(cfg.roi_max, np.float32)
    inside = usable.copy()
    for i in range(3):
        inside &= (world[i] >= lo[i]) & (world[i] <= hi[i])
    if cfg.remove_support_plane and inside.any():
        plane = fit_support_plane(np.stack([c[inside] for c in world], axis=1), cfg, rng)
        if plane is not None:
            n = plane.normal.astype(np.float32)
            height = n[0] * world[0] + n[1] * world[1] + n[2] * world[2] + np.float32(plane.offset)
            inside &= height > np.float32(plane.band(cfg))
    if cfg.depth_edge_ratio > 0:
        inside &= ~_depth_edges(z, cfg.depth_edge_ratio)
    min_px = max(1, int(np.ceil(cfg.min_component_pixels / (s * s))))
    inside = _largest_component(inside, min_px) if cfg.largest_component else _remove_small(inside, min_px)
    if s > 1:
        H, W = frame.shape
        inside = cv2.resize(inside.astype(np.uint8), (w * s, h * s), interpolation=cv2.INTER_NEAREST)[:H, :W]
        inside = inside.astype(bool)
    return inside


def select_object(frame: RGBDFrame, cfg: ObjectSelectionConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool pixels of the object with usable depth, eroded by ``erode_px``.

    Raises ValueError when ``cfg.source`` is "mask" and the frame has none.
    """
    use_mask = cfg.source == "mask" or (cfg.source == "auto" and frame.mask is not None)
    if use_mask:
        if frame.mask is None:
            raise ValueError("object selection 'mask' needs a mask with every frame, this frame has none")
        mask = np.asarray(frame.mask, dtype=bool)
    else:
        mask = select_in_box(frame, cfg, rng)
    if cfg.erode_px > 0 and mask.any():
        k = 2 * int(cfg.erode_px) + 1
        mask = cv2.erode(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    return mask & depth_usable(frame.depth, cfg)
