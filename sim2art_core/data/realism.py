"""Optional sensor imperfections for robustness training and evaluation (all off by default).

Each option is independent and draws from its own random stream, so switching one on never changes
what another one does, nor the camera path, the joint motion or the colours.

* **Depth noise** (``depth_noise_std``): Gaussian noise on each depth pixel with std
  ``depth_noise_std * z**2`` (std at 1 m; quadratic growth as for stereo / structured-light sensors).
  Points are lifted from the noisy depth. Flow end points are observed with independent noise of the
  same law at t + 1, so flow = (noisy observation of the moved point at t + 1) - (noisy point at t),
  which is what a sensor-based scene-flow estimate would see.
* **Missing depth** (``missing_depth_fraction``, ``missing_depth_edge_px``): random blob-shaped holes
  covering about the given fraction of pixels, plus invalid pixels within ``missing_depth_edge_px``
  of depth discontinuities (jumps > 3 % of the depth, the background counting as far away when no
  floor is rendered; flying pixels are usually removed by drivers),
  each dropped with probability 1/2 so that thin structures thin out rather than vanish.
  Invalid depth is NaN in the frames; points are never sampled there.
* **Mask boundary errors** (``mask_error_px``): the observed object mask is the true mask grown by up
  to ``mask_error_px`` or shrunk by up to half of it (one random offset per frame; segmenters rarely
  erase thin parts) with a ragged boundary (smooth noise of half that amplitude). Points sampled on
  observed-mask pixels outside the true object lie on the floor (or whatever is behind); they are
  labelled with the static root part (0) and their flow is that of the static background: zero up to
  the sensor effects above.
* **Camera-pose drift** (``pose_drift_deg``, ``pose_drift_frac``): the reported camera poses differ
  from the true ones by a random walk (per-frame increments with the given std per axis, applied in
  the camera frame; translation steps scale with the camera-object distance, as a monocular / SLAM
  error does); frame 0 is exact, like a SLAM system anchored at its first frame. Points are lifted
  with the reported poses, and flow compares the reported positions at t and t + 1, so static points
  get the small apparent flow a real pipeline would see. Ground-truth axes/pivots stay exact in cam0.
* **Run-time-like flow error** (``flow_error``): the flow gets an error drawn from the noise model of the
  node's optical-flow path (DIS optical flow + depth) measured at 640x480
  (sim2art_core.data.flow_error.FlowErrorModel: Gaussian inliers growing with depth, motion and nearness to
  depth edges; gross errors mostly along the viewing ray, likely at depth edges). The value scales it
  (1 = as measured). Not part of ``robustness()`` (the evaluation's realism condition stays as it was).
* **Run-time-like flow drops** (``flow_drop``): the node's flow masks (forward-backward check, depth-edge
  mask, no depth at the target) give some points no flow, mostly at outlines; the run-time window refills
  each frame from its kept points (repeats). Each point is dropped with the measured drop probability
  (``FlowErrorModel.drop_probability``, times the value, capped at 1) and replaced by a kept point of the
  same frame drawn at random. Not part of ``robustness()`` either.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from sim2art_core.geometry import make_transform, rotation_about_axis


@dataclass(frozen=True)
class RealismConfig:
    """Sensor imperfections; every field at 0 means off (the default). See the module doc.

    Attributes:
        depth_noise_std: m, depth noise std at 1 m depth (std grows with z**2).
        missing_depth_fraction: [0, 1) share of pixels in random holes.
        missing_depth_edge_px: pixels invalidated on each side of depth discontinuities.
        mask_error_px: px, maximum growth of the object mask (shrinkage: half of it).
        pose_drift_deg: deg, std per axis of the per-frame rotation drift increment.
        pose_drift_frac: std per axis of the per-frame translation drift increment, as a fraction of
            the distance from the camera to the object centre (0.002 = 2 mm per frame at 1 m).
        flow_error: scale of the run-time-like flow error model (0 = off, 1 = as measured at 640x480).
        flow_drop: scale of the run-time flow masks' drop probability (0 = off, 1 = as measured at 640x480):
            a dropped point is replaced by a repeat of a kept point of the same frame, as the run-time
            window does (see the module doc).
    """

    depth_noise_std: float = 0.0
    missing_depth_fraction: float = 0.0
    missing_depth_edge_px: int = 0
    mask_error_px: float = 0.0
    pose_drift_deg: float = 0.0
    pose_drift_frac: float = 0.0
    flow_error: float = 0.0
    flow_drop: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"RealismConfig.{f.name} must be a finite number >= 0, got {v!r}")
        if self.missing_depth_fraction >= 1:
            raise ValueError("RealismConfig.missing_depth_fraction must be < 1")

    @classmethod
    def robustness(cls) -> RealismConfig:
        """All four options on at moderate levels (used by the robustness evaluation).

        2 mm depth noise at 1 m (8 mm at 2 m), 5 % holes plus 1 px at depth edges, masks off by up to
        2 px, pose drift of 0.15 deg and 0.2 % of the distance per frame (about 0.6 deg and 0.8 % of the
        distance after 16 frames).
        """
        return cls(
            depth_noise_std=0.002,
            missing_depth_fraction=0.05,
            missing_depth_edge_px=1,
            mask_error_px=2.0,
            pose_drift_deg=0.15,
            pose_drift_frac=0.002,
        )

    @property
    def depth_noise(self) -> bool:
        return self.depth_noise_std > 0

    @property
    def missing_depth(self) -> bool:
        return self.missing_depth_fraction > 0 or self.missing_depth_edge_px > 0

    @property
    def mask_errors(self) -> bool:
        return self.mask_error_px > 0

    @property
    def pose_drift(self) -> bool:
        return self.pose_drift_deg > 0 or self.pose_drift_frac > 0

    @property
    def any(self) -> bool:
        return (
            self.depth_noise
            or self.missing_depth
            or self.mask_errors
            or self.pose_drift
            or self.flow_error > 0
            or self.flow_drop > 0
        )

    def to_json(self) -> str:
        """Compact JSON of the options that are on ("{}" when none)."""
        return json.dumps({k: v for k, v in asdict(self).items() if v}, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> RealismConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"RealismConfig: unknown options {sorted(unknown)}")
        return cls(**d)


def depth_noise_std(cfg: RealismConfig, z: np.ndarray) -> np.ndarray:
    """Noise std (m) at depth z (m)."""
    return cfg.depth_noise_std * np.square(z)


def noisy_depth(depth: np.ndarray, cfg: RealismConfig, rng: np.random.Generator) -> np.ndarray:
    """Depth map with noise (NaN stays NaN); noise never makes depth <= 1 cm."""
    if not cfg.depth_noise:
        return depth
    n = rng.standard_normal(depth.shape).astype(np.float32)
    out = depth + n * depth_noise_std(cfg, depth).astype(np.float32)
    return np.where(np.isfinite(out), np.maximum(out, 0.01), out).astype(np.float32)


def missing_depth_mask(depth: np.ndarray, cfg: RealismConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool: pixels whose depth the simulated sensor drops."""
    H, W = depth.shape
    drop = np.zeros((H, W), dtype=bool)
    if cfg.missing_depth_fraction > 0:
        # smooth noise at 1/8 resolution thresholded at the requested quantile -> blob-shaped holes
        small = rng.standard_normal((max(H // 8, 2), max(W // 8, 2))).astype(np.float32)
        field = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
        field += 0.3 * rng.standard_normal((H, W)).astype(np.float32)
        drop |= field > np.quantile(field, 1.0 - cfg.missing_depth_fraction)
    if cfg.missing_depth_edge_px > 0:
        d = np.where(np.isfinite(depth), depth, 1e3).astype(np.float32)
        k = 2 * int(cfg.missing_depth_edge_px) + 1
        kernel = np.ones((k, k), np.uint8)
        hi = cv2.dilate(d, kernel)
        lo = cv2.erode(d, kernel)
        drop |= ((hi - lo) > 0.03 * lo) & (rng.random((H, W)) < 0.5)
    return drop


def observed_mask(true_mask: np.ndarray, cfg: RealismConfig, rng: np.random.Generator) -> np.ndarray:
    """The object mask a segmenter would return: the true mask with boundary errors (see module doc)."""
    if not cfg.mask_errors:
        return true_mask
    H, W = true_mask.shape
    m = true_mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    signed = np.where(true_mask, inside - 0.5, -(outside - 0.5))  # > 0 inside the true mask
    offset = rng.uniform(-cfg.mask_error_px / 2, cfg.mask_error_px)
    small = rng.standard_normal((max(H // 6, 2), max(W // 6, 2))).astype(np.float32)
    ragged = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC) * (cfg.mask_error_px / 2)
    return (signed + offset + ragged) > 0


def drift_transforms(num_poses: int, cfg: RealismConfig, rng: np.random.Generator, distance: float = 1.0) -> np.ndarray:
    """(num_poses, 4, 4) camera-frame drift E_t (reported = true @ E_t), E_0 = identity; ``distance`` (m)
    scales the translation steps."""
    E = np.tile(np.eye(4), (num_poses, 1, 1))
    if not cfg.pose_drift:
        return E
    rot_steps = rng.normal(0.0, math.radians(cfg.pose_drift_deg), (num_poses, 3))
    trans_steps = rng.normal(0.0, cfg.pose_drift_frac * distance, (num_poses, 3))
    rotvec, trans = np.zeros(3), np.zeros(3)
    for t in range(1, num_poses):
        rotvec = rotvec + rot_steps[t]
        trans = trans + trans_steps[t]
        angle = float(np.linalg.norm(rotvec))
        R = rotation_about_axis(rotvec, angle) if angle > 0 else np.eye(3)
        E[t] = make_transform(R, trans)
    return E
