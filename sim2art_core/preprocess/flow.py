"""Scene flow of sampled object points from OpenCV dense optical flow and depth.

For a point sampled at pixel ``uv`` of frame t (lifted with depth_t and moved into
the fixed frame with the camera pose of frame t), the optical flow t -> t+1 gives
its pixel ``uv'`` in frame t+1; lifting ``uv'`` with depth_{t+1} and moving it into
the fixed frame with the camera pose of frame t+1 gives its new position. Both
positions are in the fixed frame, so the difference is the object's motion only:
the camera's motion is compensated by construction.

A point has no flow (``valid`` False) when ``uv'`` leaves the image, depth_{t+1} is
invalid there, the forward-backward check fails (occlusion, mismatch), the point or its
target lies on a depth edge (optional depth-edge mask: flow there mixes two surfaces), or
the 3-D displacement exceeds ``max_flow_m``. Such points are marked invalid, never given a
silently wrong flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sim2art_core.camera import Intrinsics, lift, sample_depth
from sim2art_core.geometry import transform_points
from sim2art_core.preprocess.config import FlowConfig
from sim2art_core.preprocess.flow_methods import build_flow


class OpticalFlow:
    """Dense optical flow between two grey images with the registered method ``cfg.method``
    (:mod:`sim2art_core.preprocess.flow_methods`). One instance keeps its OpenCV object; not thread-safe.
    """

    def __init__(self, cfg: FlowConfig):
        self.cfg = cfg
        self._method = build_flow(cfg)

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        """(h, w, 2) float32 flow (du, dv) in pixels of the given images, from grey0 to grey1."""
        if grey0.shape != grey1.shape:
            raise ValueError(f"optical flow needs images of one size, got {grey0.shape} and {grey1.shape}")
        return self._method(grey0, grey1)


def depth_edges(depth: np.ndarray, ratio: float, radius_px: int = 0) -> np.ndarray:
    """(H, W) bool: pixels within ``radius_px`` of a depth discontinuity.

    Inverse depth is affine in the pixel coordinates on any plane, so its second difference vanishes on
    planes whatever their slope and is large across a step: a pixel is on an edge when, along the rows or
    the columns, ``|1/z(x-1) - 2/z(x) + 1/z(x+1)|`` exceeds ``ratio`` times ``1/z(x)`` (a depth step of
    about ``ratio`` times the depth). Both sides of a step are marked. Missing depth (NaN) is ignored: a
    hole is not an edge. ``radius_px`` grows the marked band. Hand-written (a few NumPy lines; OpenCV has
    no discontinuity detector for depth).
    """
    inv = 1.0 / np.asarray(depth, dtype=np.float32)
    edge = np.zeros(inv.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for axis in (0, 1):
            c = [slice(None)] * 2
            lo, mid, hi = list(c), list(c), list(c)
            lo[axis], mid[axis], hi[axis] = slice(None, -2), slice(1, -1), slice(2, None)
            d2 = np.abs(inv[tuple(lo)] - 2.0 * inv[tuple(mid)] + inv[tuple(hi)])
            edge[tuple(mid)] |= d2 > np.float32(ratio) * inv[tuple(mid)]
    if radius_px > 0:
        edge = cv2.dilate(edge.astype(np.uint8), np.ones((2 * radius_px + 1, 2 * radius_px + 1), np.uint8)) > 0
    return edge


def source_texture(grey: np.ndarray, uv: np.ndarray, scale: float, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(N,) image structure at full-resolution pixels ``uv``: the smallest eigenvalue of the structure
    tensor of ``grey`` (the flow image, resized by ``scale`` and cropped at ``origin``) over 7x7 pixels
    (``cv2.cornerMinEigenVal``), at the nearest pixel; 0 on a uniform surface."""
    eig = cv2.cornerMinEigenVal(grey, 7)
    xy = np.rint(to_flow_pixels(uv, scale, origin)).astype(np.int64)
    h, w = eig.shape
    return eig[np.clip(xy[:, 1], 0, h - 1), np.clip(xy[:, 0], 0, w - 1)]


def to_flow_pixels(uv: np.ndarray, scale: float, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Full-resolution pixels (N, 2) -> coordinates in a flow image resized by ``scale`` and cropped at
    ``origin`` (x, y). Pixel-centre convention: full-res u sits at (u + 0.5) * scale - 0.5."""
    uv = np.asarray(uv, dtype=np.float32).reshape(-1, 2)
    return (uv + 0.5) * np.float32(scale) - 0.5 - np.asarray(origin, dtype=np.float32)


def sample_flow(flow: np.ndarray, uv: np.ndarray, scale: float, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Bilinear flow at full-resolution pixels ``uv`` (N, 2), in full-resolution pixels.

    ``flow`` covers the image resized by ``scale`` and cropped at ``origin`` (x, y).
    """
    xy = to_flow_pixels(uv, scale, origin)
    f = cv2.remap(flow, xy[:, :1].T.copy(), xy[:, 1:].T.copy(), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return f.reshape(-1, 2) / np.float32(scale)


def sample_depth_smooth(depth: np.ndarray, uv: np.ndarray, max_step: float = 0.02) -> np.ndarray:
    """Depth at sub-pixel ``uv``: bilinear where the 4 neighbours agree within ``max_step`` x depth,
    nearest pixel elsewhere (never mixes an object border with the background); NaN outside."""
    H, W = depth.shape
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    near = sample_depth(depth, uv)
    x0 = np.floor(uv[:, 0]).astype(np.int64)
    y0 = np.floor(uv[:, 1]).astype(np.int64)
    ok = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < W) & (y0 + 1 < H)
    x0c, y0c = np.clip(x0, 0, W - 2), np.clip(y0, 0, H - 2)
    q = np.stack([depth[y0c, x0c], depth[y0c, x0c + 1], depth[y0c + 1, x0c], depth[y0c + 1, x0c + 1]], axis=1)
    with np.errstate(invalid="ignore"):
        ok &= np.all(np.isfinite(q), axis=1)
        ok &= (q.max(axis=1) - q.min(axis=1)) <= max_step * q.min(axis=1)
    fx, fy = uv[:, 0] - x0, uv[:, 1] - y0
    bil = (q[:, 0] * (1 - fx) + q[:, 1] * fx) * (1 - fy) + (q[:, 2] * (1 - fx) + q[:, 3] * fx) * fy
    return np.where(ok, bil, near).astype(np.float32)


def flow_crop(
    uv: np.ndarray, valid: np.ndarray, image_size: tuple[int, int], cfg: FlowConfig
) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1) in the resized flow image around the valid pixels ``uv`` plus the margin.

    The whole resized image when ``cfg.crop_margin_px`` < 0 or nothing is valid. The crop is at least
    32 px wide and high (DIS needs a few patches).
    """
    w_img, h_img = image_size
    scale = cfg.scale_for(w_img)
    W, H = int(round(w_img * scale)), int(round(h_img * scale))
    if cfg.crop_margin_px < 0 or not np.any(valid):
        return 0, 0, W, H
    pts = np.asarray(uv)[np.asarray(valid)]
    m = cfg.crop_margin_px
    lo = (pts.min(axis=0) - m + 0.5) * scale - 0.5
    hi = (pts.max(axis=0) + m + 0.5) * scale - 0.5
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(W, int(np.ceil(hi[0])) + 1), min(H, int(np.ceil(hi[1])) + 1)
    if x1 - x0 < 32:
        x0 = max(0, min(x0, W - 32))
        x1 = min(W, x0 + 32)
    if y1 - y0 < 32:
        y0 = max(0, min(y0, H - 32))
        y1 = min(H, y0 + 32)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class SceneFlow:
    """Per-point result of :func:`scene_flow`.

    Attributes:
        flow: (N, 3) float32, m, fixed frame; 0 where not valid.
        valid: (N,) bool.
        uv_next: (N, 2) float32 pixel of each point in the next frame (NaN when lost).
    """

    flow: np.ndarray
    valid: np.ndarray
    uv_next: np.ndarray


def scene_flow(
    points: np.ndarray,
    uv: np.ndarray,
    forward: np.ndarray,
    backward: np.ndarray | None,
    depth_next: np.ndarray,
    intr_next: Intrinsics,
    world_from_cam_next: np.ndarray,
    cfg: FlowConfig,
    origin: tuple[int, int] = (0, 0),
    source_on_edge: np.ndarray | None = None,
    edges_next: np.ndarray | None = None,
) -> SceneFlow:
    """Lift the optical flow of sampled points to 3-D displacements in the fixed frame.

    Args:
        points: (N, 3) fixed-frame positions of the points in frame t (NaN rows are skipped).
        uv: (N, 2) their full-resolution pixels in frame t.
        forward: (h, w, 2) optical flow t -> t+1 on the images resized for ``cfg.width``.
        backward: (h, w, 2) optical flow t+1 -> t, or None to skip the consistency check.
        depth_next: (H, W) float32 metres of frame t+1, NaN invalid.
        intr_next: intrinsics of frame t+1.
        world_from_cam_next: (4, 4) camera pose of frame t+1 in the fixed frame.
        cfg: flow configuration.
        origin: (x, y) of the flow images' crop in the resized image (see :func:`flow_crop`).
        source_on_edge: optional (N,) bool, the point's pixel in frame t is on a depth edge
            (:func:`depth_edges`) or has too little texture (:func:`source_texture`): no flow.
        edges_next: optional (H, W) bool depth-edge map of frame t + 1: a point whose flow target
            lands on it has no flow.
    """
    uv = np.asarray(uv, dtype=np.float32).reshape(-1, 2)
    n = len(uv)
    H, W = depth_next.shape
    scale = cfg.scale_for(W)
    uv_next = uv + sample_flow(forward, uv, scale, origin)
    inside = (uv_next[:, 0] > -0.5) & (uv_next[:, 0] < W - 0.5) & (uv_next[:, 1] > -0.5) & (uv_next[:, 1] < H - 0.5)
    # a point that leaves the crop has no trustworthy flow (the crop's margin allows for motion)
    xy = to_flow_pixels(uv_next, scale, origin)
    h, w = forward.shape[:2]
    inside &= (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
    valid = inside & np.all(np.isfinite(points), axis=1)
    if backward is not None and cfg.consistency_px > 0:
        back = uv_next + sample_flow(backward, np.where(inside[:, None], uv_next, 0), scale, origin)
        valid &= np.linalg.norm(back - uv, axis=1) <= cfg.consistency_px
    if source_on_edge is not None:
        valid &= ~np.asarray(source_on_edge, bool)
    if edges_next is not None:
        iu = np.clip(np.rint(np.nan_to_num(uv_next[:, 0])), 0, W - 1).astype(np.int64)
        iv = np.clip(np.rint(np.nan_to_num(uv_next[:, 1])), 0, H - 1).astype(np.int64)
        valid &= ~edges_next[iv, iu]
    z = sample_depth_smooth(depth_next, uv_next)
    valid &= np.isfinite(z) & (z > 0)
    new = transform_points(world_from_cam_next, lift(uv_next, z, intr_next))
    flow = np.zeros((n, 3), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        d = (new - points).astype(np.float32)
        valid &= np.all(np.isfinite(d), axis=1) & (np.linalg.norm(d, axis=1) <= cfg.max_flow_m)
    flow[valid] = d[valid]
    uv_next = np.where(valid[:, None], uv_next, np.nan).astype(np.float32)
    return SceneFlow(flow=flow, valid=valid, uv_next=uv_next)
