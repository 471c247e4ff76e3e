"""One synthetic training sample: an object, a handheld camera arc, joint motion, PyBullet frames,
N sampled object points per frame with ground truth (paper §3.1, §4.1).

    >>> cfg = SequenceConfig(num_frames=16, num_points=2048, width=160, height=120)
    >>> sample = generate_sequence("Laptop", object_seed=3, sequence_seed=11, cfg=cfg)
    >>> sample, frames = generate_sequence("Laptop", 3, 11, cfg, return_frames=True)  # + T + 1 RGBDFrames

Pipeline per sequence: joint trajectories for T + 1 states (motion.py) -> forward kinematics ->
camera arc framing the object in every state (camera_path.py) -> render RGB / depth / part mask of
frames 0..T-1 (and T with ``return_frames``) -> optional sensor effects (realism.py) -> sample N
pixels per frame on the observed object mask with valid depth -> lift them with the depth into the
first camera's frame -> flow of each material point from t to t + 1 by the motion of its link.

Determinism: the output is a pure function of (object, sequence_seed, cfg). Independent random
streams are spawned from the sequence seed for motion, camera, lighting, sampling and each realism
option, so turning one option on changes nothing that does not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from sim2art_core.data.camera_path import CameraPathConfig, sample_camera_path
from sim2art_core.data.flow_error import apply_flow_error, depth_edge_distance_px, flow_drop_indices
from sim2art_core.data.motion import MOVING_THRESHOLD, MotionConfig, sample_joint_trajectories
from sim2art_core.data.objects import ArticulatedObject, generate_object, load_urdf_object
from sim2art_core.data.realism import (
    RealismConfig,
    depth_noise_std,
    drift_transforms,
    missing_depth_mask,
    noisy_depth,
    observed_mask,
)
from sim2art_core.data.renderer import Light, get_renderer, pybullet_intrinsics
from sim2art_core.data.sequence import SequenceSample
from sim2art_core.data.surfaces import SURFACES, Surfaces, apply_surfaces
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import closest_point_on_line, invert_transform, lift, transform_points
from sim2art_core.types import JointType

__all__ = [
    "RealismConfig", "SequenceConfig", "generate_sequence", "generate_sequence_for_object",
    "generate_sequence_from_urdf",
]  # fmt: skip
# independent random streams spawned from the sequence seed (append only: reordering changes every sample)
# New streams go at the end: SeedSequence.spawn gives child i the same seed whatever the count, so the
# existing streams (and every sample generated before) stay unchanged.
_STREAMS = ("motion", "camera", "light", "sample", "depth_noise", "missing", "mask", "drift", "flow_noise", "fov",
            "flow_error", "flow_drop")  # fmt: skip


@dataclass(frozen=True)
class SequenceConfig:
    """How sequences are generated (every field documented; frozen, JSON-serialisable).

    Attributes:
        num_frames: T, frames per sample (T + 1 joint states are simulated so frame T - 1 has flow).
        num_points: N, points sampled per frame on the object mask.
        width, height: rendered image size in pixels.
        fov_y_deg: (lo, hi) vertical field of view, degrees (sampled per sequence).
        frame_period_s: s between frames (frame stamps are t * frame_period_s).
        camera: camera-arc ranges (camera_path.CameraPathConfig).
        motion: joint-motion profile parameters (motion.MotionConfig).
        realism: optional sensor imperfections (realism.RealismConfig; all off by default).
        floor: "auto" renders a textured floor under the object when frames are returned or mask errors
            are on (what a too-large mask reveals must be somewhere); "always" / "never" force it. The
            floor never changes the object's pixels; it costs about 3-4 ms per frame at 160x120.
        surfaces: how the object looks (:mod:`sim2art_core.data.surfaces`): "textured" (the default,
            per-link procedural textures), "plain" (no textures, the generator's colours) or "lacquer"
            (no textures, fronts and carcass in one white/grey lacquer per sequence, handles keep their
            colour): plain fronts, as in real kitchens, where optical flow has little to track. The
            floor stays textured.
    """

    num_frames: int = 16
    num_points: int = 2048
    width: int = 160
    height: int = 120
    fov_y_deg: tuple[float, float] = (40.0, 60.0)
    frame_period_s: float = 1.0 / 15.0
    camera: CameraPathConfig = field(default_factory=CameraPathConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    realism: RealismConfig = field(default_factory=RealismConfig)
    floor: str = "auto"
    surfaces: Surfaces = "textured"

    def __post_init__(self):
        if self.num_frames < 1 or self.num_points < 1:
            raise ValueError("SequenceConfig: num_frames and num_points must be >= 1")
        if not (8 <= self.width <= 32767 and 8 <= self.height <= 32767):
            raise ValueError(f"SequenceConfig: image size {self.width}x{self.height} out of range")
        if not 1.0 <= self.fov_y_deg[0] <= self.fov_y_deg[1] < 170.0:
            raise ValueError(f"SequenceConfig.fov_y_deg must be an increasing range in [1, 170), got {self.fov_y_deg}")
        if self.floor not in ("auto", "always", "never"):
            raise ValueError(f"SequenceConfig.floor must be auto, always or never, got {self.floor!r}")
        if self.surfaces not in SURFACES:
            raise ValueError(f"SequenceConfig.surfaces must be one of {SURFACES}, got {self.surfaces!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SequenceConfig:
        """Inverse of :meth:`to_dict` (lists become tuples; unknown keys are an error)."""
        d = dict(d)
        nested = {"camera": CameraPathConfig, "motion": MotionConfig, "realism": RealismConfig}
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ValueError(f"SequenceConfig: unknown fields {sorted(set(d) - known)}")
        for k, sub in nested.items():
            if k in d and isinstance(d[k], dict):
                d[k] = sub(**{kk: tuple(v) if isinstance(v, list) else v for kk, v in d[k].items()})
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def generate_sequence(
    category: str,
    object_seed: int,
    sequence_seed: int,
    cfg: SequenceConfig | None = None,
    return_frames: bool = False,
) -> SequenceSample | tuple[SequenceSample, list[RGBDFrame]]:
    """A sample of the procedural object (category, object_seed); with return_frames also its T + 1 frames.

    ``cfg`` defaults to ``SequenceConfig()``.
    """
    obj = generate_object(category, object_seed)
    return generate_sequence_for_object(obj, f"{category}-{object_seed}", sequence_seed, cfg, return_frames)


def generate_sequence_from_urdf(urdf_path: str | Path, sequence_seed: int, cfg: SequenceConfig | None = None,
                                return_frames: bool = False, object_id: str | None = None):  # fmt: skip
    """A sample of an external URDF (category "urdf", object_id defaults to the URDF's robot name)."""
    obj = load_urdf_object(urdf_path)
    return generate_sequence_for_object(obj, object_id or obj.name, sequence_seed, cfg, return_frames)


def _random_light(rng: np.random.Generator) -> Light:
    az, el = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(25, 80))
    d = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
    return Light(d, float(rng.uniform(0.45, 0.7)), float(rng.uniform(0.3, 0.55)), float(rng.uniform(0.0, 0.1)))


def _sample_pixels(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n flat indices from the candidate pixels: without replacement when there are enough, else all
    of them (shuffled) followed by draws with replacement."""
    idx = np.flatnonzero(candidates)
    if len(idx) >= n:
        return idx[rng.permutation(len(idx))[:n]]
    return np.concatenate([idx[rng.permutation(len(idx))], idx[rng.integers(0, len(idx), n - len(idx))]])


def generate_sequence_for_object(obj: ArticulatedObject, object_id: str, sequence_seed: int,
                                 cfg: SequenceConfig | None = None, return_frames: bool = False):  # fmt: skip
    """Core of :func:`generate_sequence` for any :class:`ArticulatedObject` (see module doc)."""
    cfg = cfg or SequenceConfig()
    obj = apply_surfaces(obj, cfg.surfaces, sequence_seed)
    T, N, W, H = cfg.num_frames, cfg.num_points, cfg.width, cfg.height
    rs = cfg.realism
    seeds = np.random.SeedSequence([int(sequence_seed), 0x5EED]).spawn(len(_STREAMS))
    rngs = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seeds, strict=True)}
    joints = obj.movable_joints
    J = len(joints)
    prismatic = np.array([j.type == "prismatic" for j in joints], dtype=bool)
    q, _ = sample_joint_trajectories(obj.joint_limits(), prismatic, T, rngs["motion"], cfg.motion)
    link_poses = obj.forward_kinematics(q)  # (T + 1, L, 4, 4)

    # camera framing: every link's box must stay in view in every state
    has_geom = obj.has_geometry()
    boxes = obj.link_boxes()[has_geom]  # (Lg, 8, 3)
    geom_poses = link_poses[:, has_geom]
    corners = np.einsum("tlij,lkj->tlki", geom_poses[..., :3, :3], boxes) + geom_poses[:, :, None, :3, 3]
    corners = corners.reshape(T + 1, -1, 3)
    lo, hi = corners.reshape(-1, 3).min(0), corners.reshape(-1, 3).max(0)
    center, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)
    fov_y = math.radians(rngs["fov"].uniform(*cfg.fov_y_deg))
    intr = pybullet_intrinsics(W, H, fov_y)
    true_cams = sample_camera_path(center, radius, T + 1, intr, rngs["camera"], cfg.camera, corners)
    distance = float(np.mean(np.linalg.norm(true_cams[:, :3, 3] - center, axis=1)))
    reported = true_cams @ drift_transforms(T + 1, rs, rngs["drift"], distance)
    c0_from_world = invert_transform(reported[0])
    light = _random_light(rngs["light"])
    background = (rngs["light"].uniform(0.3, 1.0, 3) * 255).astype(np.uint8)

    renderer = get_renderer()
    loaded = renderer.load(obj)
    floor = cfg.floor == "always" or (cfg.floor == "auto" and (return_frames or rs.mask_errors))
    # floor cells of about half the object's radius (texture detail at the object's scale)
    renderer.set_floor(float(lo[2]) - 0.001 if floor else None, (float(center[0]), float(center[1])), 6.0 * radius)

    points = np.zeros((T, N, 3), np.float32)
    flow = np.zeros((T, N, 3), np.float32)
    colors = np.zeros((T, N, 3), np.uint8)
    pixels = np.zeros((T, N, 2), np.int16)
    labels = np.zeros((T, N), np.int16)
    frames: list[RGBDFrame] = []
    exact_flow = not (rs.depth_noise or rs.pose_drift)
    for t in range(T + 1 if return_frames else T):
        img = renderer.render(loaded, q[t], true_cams[t], intr, light)
        depth_obs = noisy_depth(img.depth, rs, rngs["depth_noise"])
        if rs.missing_depth:
            depth_obs = np.where(missing_depth_mask(img.depth, rs, rngs["missing"]), np.nan, depth_obs)
        mask_obs = observed_mask(img.part_mask >= 0, rs, rngs["mask"])
        if return_frames:
            rgb = np.where(np.isfinite(img.depth)[..., None], img.rgb, background)
            frames.append(
                RGBDFrame(
                    rgb,
                    depth_obs.astype(np.float32, copy=True),
                    intr,
                    reported[t].copy(),
                    int(round(t * cfg.frame_period_s * 1e9)),
                    mask_obs.copy(),
                    img.part_mask.copy(),
                )  # fmt: skip
            )
        if t == T:
            break
        candidates = mask_obs & np.isfinite(depth_obs)
        if not candidates.any():
            raise RuntimeError(f"{object_id} seq {sequence_seed}: frame {t} has no object pixel with valid depth")
        v, u = np.divmod(_sample_pixels(candidates, N, rngs["sample"]), W)
        uv = np.stack([u, v], axis=1)
        link = img.link_mask[v, u]
        lab = img.part_mask[v, u]
        k = (intr.fx, intr.fy, intr.cx, intr.cy)
        x_obs = lift(uv, depth_obs[v, u].astype(np.float64), k)
        x_true = lift(uv, img.depth[v, u].astype(np.float64), k)
        xw = transform_points(true_cams[t], x_true)  # the material point (world)
        motion = link_poses[t + 1] @ invert_transform(link_poses[t])  # (L, 4, 4) per-link motion t -> t+1
        still = np.all(link_poses[t + 1] == link_poses[t], axis=(1, 2))
        motion[still] = np.eye(4)  # exactly: parts that do not move get exactly zero flow
        on = link >= 0
        xw_next = xw.copy()
        xw_next[on] = np.einsum("nij,nj->ni", motion[link[on], :3, :3], xw[on]) + motion[link[on], :3, 3]
        p_c0 = transform_points(c0_from_world @ reported[t], x_obs)
        if exact_flow:
            f = (xw_next - xw) @ c0_from_world[:3, :3].T
        else:
            x_next = transform_points(invert_transform(true_cams[t + 1]), xw_next)
            if rs.depth_noise:
                z = x_next[:, 2]
                noisy_z = np.maximum(z + rngs["flow_noise"].standard_normal(N) * depth_noise_std(rs, z), 0.01)
                x_next = x_next * (noisy_z / z)[:, None]
            f = transform_points(c0_from_world @ reported[t + 1], x_next) - p_c0
        if rs.flow_error > 0 or rs.flow_drop > 0:
            edge = depth_edge_distance_px(img.depth)[uv[:, 1], uv[:, 0]]
            if rs.flow_drop > 0:  # before the error: the drop model's motion term is the true motion
                keep = flow_drop_indices(f, x_true[:, 2], edge, rs.flow_drop, rngs["flow_drop"])
                p_c0, f, x_true, uv, edge, lab = p_c0[keep], f[keep], x_true[keep], uv[keep], edge[keep], lab[keep]
                u, v = uv[:, 0], uv[:, 1]
            if rs.flow_error > 0:
                cam_rot = (c0_from_world @ reported[t])[:3, :3]
                f = apply_flow_error(f, x_true, uv, img.depth, cam_rot, rs.flow_error, rngs["flow_error"], None, edge)
        points[t], flow[t] = p_c0, f
        colors[t] = img.rgb[v, u]  # sampled pixels always hit something: no background colour
        pixels[t] = uv
        labels[t] = np.where(lab >= 0, lab, 0)

    # ---------------------------------------------------------------- per-part ground truth
    P = obj.num_parts
    part_types = np.full(P, int(JointType.STATIC), np.int8)
    axes = np.zeros((P, 3), np.float32)
    pivots = np.zeros((P, 3), np.float32)
    amounts = np.zeros((P, T), np.float32)
    moving = np.zeros(P, bool)
    if J:
        jframes = obj.joint_frames(q[0])
        centroids = obj.part_centroids(q[0])
        for j, jt in enumerate(joints):
            p = j + 1
            part_types[p] = int(jt.joint_type)
            axis_w = jframes[j, :3, :3] @ np.asarray(jt.axis)
            axes[p] = c0_from_world[:3, :3] @ axis_w
            if jt.joint_type == JointType.REVOLUTE:
                pivot_w = closest_point_on_line(centroids[p], jframes[j, :3, 3], axis_w)
            else:
                pivot_w = centroids[p]
            pivots[p] = transform_points(c0_from_world, pivot_w[None])[0]
            amounts[p] = q[:T, j] - q[0, j]
            thr = MOVING_THRESHOLD["prismatic" if prismatic[j] else "revolute"]
            moving[p] = bool(np.max(np.abs(amounts[p])) > thr)
    sample = SequenceSample(
        object_id=object_id,
        category=obj.category,
        object_seed=int(obj.seed),
        sequence_seed=int(sequence_seed),
        points=points,
        flow=flow,
        colors=colors,
        pixels=pixels,
        labels=labels,
        part_names=tuple(p.name for p in obj.parts),
        part_parents=np.array([p.parent for p in obj.parts], np.int16),
        part_types=part_types,
        part_axes=axes,
        part_pivots=pivots,
        part_amounts=amounts,
        part_moving=moving,
        intrinsics=np.array([intr.fx, intr.fy, intr.cx, intr.cy], np.float64),
        image_size=(W, H),
        world_from_cam=reported[:T].astype(np.float64),
        joint_states=q.astype(np.float64),
        joint_names=tuple(j.name for j in joints),
        realism=rs.to_json(),
    ).validate()
    return (sample, frames) if return_frames else sample
