"""A small analytic RGB-D scene for the preprocessing and node tests (exact depth, known motion).

A textured floor (z = 0, the supporting plane), a cabinet body and a door that turns
about a vertical hinge, or slides out like a drawer. Rays are cast against the plane
and oriented boxes in closed form; the texture is a function of each surface's LOCAL
coordinates, so it moves with the door and optical flow can track it. A second,
smaller box can stand beside the cabinet (largest-object selection).

World frame: z up (REP 103). Camera poses are optical frames (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core.camera import Intrinsics
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import make_transform, rotation_about_axis, transform_points

BODY_CENTER = np.array([0.0, 0.0, 0.4])
BODY_HALF = np.array([0.2, 0.25, 0.4])
DOOR_HALF = np.array([0.01, 0.25, 0.38])
HINGE = np.array([-0.215, -0.25, 0.4])  # on the door's left edge, in front of the body
HINGE_AXIS = np.array([0.0, 0.0, 1.0])  # + opens the door towards -x (the camera)
DRAWER_AXIS = np.array([-1.0, 0.0, 0.0])
SIDE_BOX_CENTER = np.array([0.1, 0.6, 0.1])
SIDE_BOX_HALF = np.array([0.08, 0.08, 0.1])


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """world_from_cam of an optical frame at ``eye`` looking at ``target``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=float))
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), eye)


def _hash(ix, iy, iz, seed: float) -> np.ndarray:
    h = np.sin(ix * 12.9898 + iy * 78.233 + iz * 37.719 + seed * 11.13) * 43758.5453
    return h - np.floor(h)


def _value_noise(p: np.ndarray, cell: float, seed: float) -> np.ndarray:
    """Trilinear value noise in [0, 1] on a lattice of ``cell`` metres (aperiodic, flow-friendly)."""
    q = p / cell
    i = np.floor(q)
    f = q - i
    f = f * f * (3 - 2 * f)  # smoothstep
    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (f[..., 0] if dx else 1 - f[..., 0])
                    * (f[..., 1] if dy else 1 - f[..., 1])
                    * (f[..., 2] if dz else 1 - f[..., 2])
                )
                out = out + w * _hash(i[..., 0] + dx, i[..., 1] + dy, i[..., 2] + dz, seed)
    return out


def _texture(local: np.ndarray, seed: float) -> np.ndarray:
    """Texture of local surface coordinates (values 0..255): two octaves of value noise."""
    t = 0.65 * _value_noise(local, 0.05, seed) + 0.35 * _value_noise(local, 0.017, seed + 3.1)
    return np.clip(255 * (t - 0.5) * 1.6 + 128, 0, 255)


def _box_hit(o, d, pose, half):
    """Ray parameter (inf = miss) and local hit point of rays (o, d) against an oriented box."""
    R, p = pose[:3, :3], pose[:3, 3]
    ol = (o - p) @ R
    dl = d @ R
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - ol) / dl
        t2 = (half - ol) / dl
    tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (tmax >= np.maximum(tmin, 0)) & (tmin > 0)
    t = np.where(hit, tmin, np.inf)
    return t, ol + np.where(hit, t, 0)[..., None] * dl


@dataclass(frozen=True)
class Scene:
    """What to render. ``joint`` is "revolute" (door) or "prismatic" (drawer)."""

    joint: str = "revolute"
    side_box: bool = False
    floor: bool = True

    def door_pose(self, amount: float) -> np.ndarray:
        rest = make_transform(None, HINGE + np.array([0.0, DOOR_HALF[1], 0.0]))
        if self.joint == "revolute":
            R = rotation_about_axis(HINGE_AXIS, amount)
            motion = make_transform(R, HINGE - R @ HINGE)
        else:
            motion = make_transform(None, DRAWER_AXIS * amount)
        return motion @ rest

    def render(self, world_from_cam: np.ndarray, intr: Intrinsics, amount: float):
        """(rgb uint8 (H, W, 3), depth float32 m NaN = nothing, part (H, W) int16: -1 floor/none, 0 body, 1 door)."""
        v, u = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
        dc = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)
        d = dc @ world_from_cam[:3, :3].T  # t along d is the optical z-depth
        o = np.broadcast_to(world_from_cam[:3, 3], d.shape)
        surfaces = [
            (make_transform(None, BODY_CENTER), BODY_HALF, 0, 0.1),
            (self.door_pose(amount), DOOR_HALF, 1, 0.37),
        ]
        if self.side_box:
            surfaces.append((make_transform(None, SIDE_BOX_CENTER), SIDE_BOX_HALF, 2, 0.61))
        depth = np.full(u.shape, np.inf)
        part = np.full(u.shape, -1, dtype=np.int16)
        hits = []  # (surface id, local coordinates); the texture is evaluated only where a surface wins
        if self.floor:
            with np.errstate(divide="ignore", invalid="ignore"):
                tf = np.where(d[..., 2] < -1e-9, -o[..., 2] / d[..., 2], np.inf)
            depth = np.where(tf < 8.0, tf, np.inf)
            hits.append((-2, o + np.where(np.isfinite(depth), depth, 0)[..., None] * d, 0.9))
            part = np.where(np.isfinite(depth), -2, part).astype(np.int16)
        for pose, half, pid, seed in surfaces:
            t, local = _box_hit(o, d, pose, half)
            closer = t < depth
            depth = np.where(closer, t, depth)
            part = np.where(closer, pid, part).astype(np.int16)
            hits.append((pid, local, seed))
        grey = np.zeros(u.shape)
        for pid, local, seed in hits:
            won = part == pid
            grey[won] = _texture(local[won], seed) * (0.6 if pid == -2 else 1.0) + (40 if pid == -2 else 0)
        part[part == -2] = -1
        rgb = np.stack([grey, 0.9 * grey + 10, 0.8 * grey + 20], axis=-1).clip(0, 255).astype(np.uint8)
        depth = np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)
        return rgb, depth, part


def camera_path(num: int, moving: bool = True, radius: float = 1.6, arc_deg: float = 12.0) -> list[np.ndarray]:
    """Camera poses on a short arc in front of the cabinet (static when ``moving`` is False)."""
    poses = []
    for i in range(num):
        a = np.deg2rad(200 + (arc_deg * i / max(num - 1, 1) if moving else 0.0))
        eye = np.array([radius * np.cos(a), radius * np.sin(a), 1.0])
        poses.append(look_at(eye, np.array([0.0, 0.0, 0.35])))
    return poses


def make_frames(
    num: int,
    width: int = 320,
    height: int = 240,
    scene: Scene | None = None,
    max_amount: float = 0.5,
    moving_camera: bool = True,
    period_ns: int = 100_000_000,
    start_ns: int = 1_000_000_000,
    with_mask: bool = False,
    arc_deg: float = 12.0,
) -> tuple[list[RGBDFrame], np.ndarray]:
    """``num`` frames with the joint opening linearly to ``max_amount``; returns (frames, amounts)."""
    scene = scene or Scene()
    intr = Intrinsics.from_fov(width, height, np.deg2rad(55))
    amounts = np.linspace(0.0, max_amount, num)
    frames = []
    for i, (pose, amount) in enumerate(zip(camera_path(num, moving_camera, arc_deg=arc_deg), amounts, strict=True)):
        rgb, depth, part = scene.render(pose, intr, float(amount))
        frames.append(
            RGBDFrame(
                rgb=rgb,
                depth=depth,
                intrinsics=intr,
                world_from_cam=pose,
                stamp_ns=start_ns + i * period_ns,
                mask=(part >= 0) & (part <= 1) if with_mask else None,
                part_mask=part,
            )
        )
    return frames, amounts


def true_motion(scene: Scene, a0: float, a1: float, points: np.ndarray) -> np.ndarray:
    """World displacement of door points ``points`` (at amount a0) when the joint moves to a1."""
    T = scene.door_pose(a1) @ np.linalg.inv(scene.door_pose(a0))
    return transform_points(T, points) - points
