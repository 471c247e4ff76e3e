"""Handheld-like camera arcs around an object on the upper hemisphere (paper §4.1).

The camera starts at a random azimuth (measured from the object's front, +x) and elevation, at a
distance that makes the object's bounding sphere fill a random share of the field of view, and
moves along an arc of random length and direction (azimuth sweep plus a smaller elevation change)
at a slightly uneven speed. Handheld noise: a smooth random walk of the position and of the look-at
point, small distance changes, and a roll about the viewing axis (an offset plus a slow wobble).
Afterwards every frame is checked to contain the object's bounding boxes fully; if not, the whole
path is pushed outwards (10 % at a time) until it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim2art_core.camera import Intrinsics
from sim2art_core.geometry import unit


@dataclass(frozen=True)
class CameraPathConfig:
    """Camera path parameters (mirrored in SequenceConfig; angles in degrees).

    Attributes:
        distance_scale: (lo, hi) camera distance relative to the distance at which the object's
            bounding sphere exactly fills the narrower field of view.
        elevation_deg: (lo, hi) start elevation above the horizontal plane through the object centre.
        azimuth_deg: (lo, hi) start azimuth relative to the object's front (+x axis).
        arc_deg: (lo, hi) azimuth swept over the sequence (random sign).
        arc_elevation_deg: max absolute elevation change over the sequence.
        position_noise: std of the handheld position jitter as a fraction of the distance.
        target_noise: std of the look-at jitter as a fraction of the bounding radius.
        roll_deg: std of the roll offset about the viewing axis (the wobble is half of it).
    """

    distance_scale: tuple[float, float] = (0.75, 1.25)
    elevation_deg: tuple[float, float] = (15.0, 60.0)
    azimuth_deg: tuple[float, float] = (-80.0, 80.0)
    arc_deg: tuple[float, float] = (10.0, 70.0)
    arc_elevation_deg: float = 12.0
    position_noise: float = 0.012
    target_noise: float = 0.04
    roll_deg: float = 4.0


def _smooth_walk(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    """(n, dims) zero-mean random walk scaled to unit RMS (a smooth handheld drift)."""
    steps = rng.standard_normal((n, dims))
    walk = np.cumsum(steps, axis=0)
    walk -= walk.mean(axis=0)
    rms = np.sqrt(np.mean(walk**2))
    return walk / rms if rms > 1e-12 else walk


def look_at(eye: np.ndarray, target: np.ndarray, roll: np.ndarray | float) -> np.ndarray:
    """world_from_cam (OpenCV optical frame) looking from ``eye`` at ``target`` with world z up, rolled by
    ``roll`` rad about the viewing axis. Broadcasts: eye, target (..., 3), roll (...) -> (..., 4, 4)."""
    eye, target = np.asarray(eye, dtype=float), np.asarray(target, dtype=float)
    z = unit(target - eye)
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    x = np.where(n > 1e-6, x / np.maximum(n, 1e-12), np.array([1.0, 0.0, 0.0]))  # straight down: any x
    y = np.cross(z, x)
    c, s = np.cos(roll)[..., None], np.sin(roll)[..., None]
    # rotate the image axes about z (the viewing axis) by roll
    xr, yr = c * x + s * y, -s * x + c * y
    T = np.zeros((*z.shape[:-1], 4, 4))
    T[..., :3, 0], T[..., :3, 1], T[..., :3, 2], T[..., :3, 3] = xr, yr, z, eye
    T[..., 3, 3] = 1.0
    return T


def sample_camera_path(center: np.ndarray, radius: float, num_poses: int, intr: Intrinsics, rng: np.random.Generator,
                       cfg: CameraPathConfig, boxes: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """world_from_cam (num_poses, 4, 4) of a handheld arc around an object.

    Args:
        center: (3,) object centre (world, z up); radius: its bounding-sphere radius (m).
        num_poses: number of camera poses.
        intr: camera intrinsics (for framing).
        rng: random generator.
        cfg: path parameters.
        boxes: optional (num_poses, K, 3) world points per pose (e.g. link box corners) that must
            project inside the image.
    """
    center = np.asarray(center, dtype=float)
    half_fov = min(math.atan(intr.height / (2 * intr.fy)), math.atan(intr.width / (2 * intr.fx)))
    fill_distance = radius / math.sin(half_fov)
    d0 = rng.uniform(*cfg.distance_scale) * fill_distance
    az0 = math.radians(rng.uniform(*cfg.azimuth_deg))
    el0 = math.radians(rng.uniform(*cfg.elevation_deg))
    d_az = math.radians(rng.uniform(*cfg.arc_deg)) * (1 if rng.random() < 0.5 else -1)
    d_el = math.radians(rng.uniform(-cfg.arc_elevation_deg, cfg.arc_elevation_deg))
    speed = rng.uniform(0.6, 1.4, num_poses)
    progress = np.concatenate([[0.0], np.cumsum(speed[1:])])
    progress = progress / progress[-1] if progress[-1] > 0 else progress
    pos_noise = _smooth_walk(rng, num_poses, 3) * cfg.position_noise
    tgt_noise = _smooth_walk(rng, num_poses, 3) * cfg.target_noise * radius
    dist_noise = 1.0 + 0.04 * _smooth_walk(rng, num_poses, 1)[:, 0]
    roll = (
        math.radians(rng.normal(0.0, cfg.roll_deg))
        + math.radians(cfg.roll_deg / 2) * _smooth_walk(rng, num_poses, 1)[:, 0] / 2
    )
    az = az0 + d_az * progress
    el = np.clip(el0 + d_el * progress, math.radians(5.0), math.radians(80.0))
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
    scale = 1.0
    for _ in range(30):
        d = d0 * scale * dist_noise
        eyes = center + dirs * d[:, None] + pos_noise * d[:, None]
        poses = look_at(eyes, center + tgt_noise, roll)
        if boxes is None or _all_in_view(poses, boxes, intr):
            return poses
        scale *= 1.1
    raise RuntimeError("camera path: could not frame the object (bounding boxes never fit in view)")


def _all_in_view(poses: np.ndarray, boxes: np.ndarray, intr: Intrinsics, margin_px: float = 1.0) -> bool:
    R = poses[:, :3, :3]
    t = poses[:, :3, 3]
    p = np.einsum("tji,tkj->tki", R, boxes - t[:, None, :])  # cam_from_world applied
    z = p[..., 2]
    if np.any(z <= 0.05):
        return False
    u = intr.fx * p[..., 0] / z + intr.cx
    v = intr.fy * p[..., 1] / z + intr.cy
    return bool(
        np.all(u >= margin_px)
        and np.all(u <= intr.width - 1 - margin_px)
        and np.all(v >= margin_px)
        and np.all(v <= intr.height - 1 - margin_px)
    )
