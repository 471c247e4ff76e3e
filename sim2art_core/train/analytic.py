"""Analytic articulated sequences with exact flow, without rendering.

A box base with one moving part (a lid on a hinge, or a drawer on a slider), points
sampled on all box faces (no visibility), seen from a camera that orbits a little.
Used by the unit tests and for smoke runs of the training CLI (``--data analytic``)
while no rendered dataset is at hand; the real training data comes from the
PyBullet data engine (sim2art_core.data.generator).
"""

from __future__ import annotations

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.geometry import (
    invert_transform,
    make_transform,
    prismatic_motion,
    revolute_motion,
    rotate_vectors,
    transform_points,
    unit,
)
from sim2art_core.types import JointType

KINDS = ("revolute", "prismatic", "static")


def box_surface(rng: np.random.Generator, center: np.ndarray, size: np.ndarray, n: int) -> np.ndarray:
    """n points uniformly on the surface of an axis-aligned box (faces chosen by area)."""
    sx, sy, sz = size
    areas = np.array([sy * sz, sy * sz, sx * sz, sx * sz, sx * sy, sx * sy])
    face = rng.choice(6, size=n, p=areas / areas.sum())
    u = rng.uniform(-0.5, 0.5, size=(n, 3)) * size
    axis = face // 2
    sign = np.where(face % 2 == 0, -0.5, 0.5)
    u[np.arange(n), axis] = sign * size[axis]
    return u + center


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """world_from_cam of an optical frame (x right, y down, z forward) at ``eye`` looking at ``target``."""
    z = unit(target - eye)
    x = unit(np.cross(z, [0.0, 0.0, 1.0]))
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0])
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), eye)


def analytic_sample(kind: str, seed: int, num_frames: int = 16, num_points: int = 256) -> SequenceSample:
    """A two-part (or, for "static", one-part) box object with exact points, labels, flow and joints."""
    if kind not in KINDS:
        raise ValueError(f"analytic_sample: kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    T, N = num_frames, num_points
    base_size = rng.uniform([0.25, 0.2, 0.1], [0.5, 0.4, 0.3])
    base_c = np.array([0.0, 0.0, base_size[2] / 2])
    if kind == "revolute":
        part_size = np.array([base_size[0], base_size[1], 0.02])
        part_c = np.array([0.0, 0.0, base_size[2] + 0.01])
        axis_w = np.array([1.0, 0.0, 0.0])
        pivot_w = np.array([0.0, -base_size[1] / 2, base_size[2]])
        q_end = rng.uniform(0.4, 1.2) * rng.choice([-1, 1])
    else:
        part_size = np.array([base_size[0] * 0.8, base_size[1] * 0.9, base_size[2] * 0.4])
        part_c = np.array([0.0, base_size[1] * 0.1, base_size[2] * 0.5])
        axis_w = np.array([0.0, 1.0, 0.0])
        pivot_w = part_c.copy()
        q_end = rng.uniform(0.08, 0.2) * rng.choice([-1, 1])
    if kind == "static":
        q_end = 0.0
    q0 = rng.uniform(0.0, 0.2) * np.sign(q_end) if kind == "revolute" else 0.0
    q = np.linspace(q0, q0 + q_end, T + 1)

    def motion(angle_or_dist: float) -> np.ndarray:
        if kind == "revolute":
            return revolute_motion(axis_w, pivot_w, angle_or_dist)
        return prismatic_motion(axis_w, angle_or_dist)

    target = base_c + np.array([0.0, 0.0, 0.05])
    az0, el, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.9), rng.uniform(1.0, 1.6)
    w_from_c = []
    for t in range(T):
        az = az0 + 0.02 * t
        eye = target + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        w_from_c.append(look_at(eye, target))
    w_from_c = np.stack(w_from_c)
    c0_from_w = invert_transform(w_from_c[0])

    n_parts = 1 if kind == "static" else 2
    points = np.zeros((T, N, 3))
    flow = np.zeros((T, N, 3))
    labels = np.zeros((T, N), dtype=np.int16)
    for t in range(T):
        n_part = 0 if n_parts == 1 else int(N * rng.uniform(0.3, 0.5))
        base_pts = box_surface(rng, base_c, base_size, N - n_part)
        pts, fl = [base_pts], [np.zeros_like(base_pts)]
        if n_part:
            local = box_surface(rng, part_c, part_size, n_part)
            at_t = transform_points(motion(q[t]), local)
            at_next = transform_points(motion(q[t + 1]), local)
            pts.append(at_t)
            fl.append(at_next - at_t)
        points[t] = np.concatenate(pts)
        flow[t] = np.concatenate(fl)
        labels[t, N - n_part :] = 1
    points_c0 = transform_points(c0_from_w, points)
    flow_c0 = rotate_vectors(c0_from_w, flow)

    P = n_parts
    moving_type = JointType.REVOLUTE if kind == "revolute" else JointType.PRISMATIC
    types = np.array([JointType.STATIC] + [moving_type] * (P - 1))
    axes = np.zeros((P, 3))
    pivots = np.zeros((P, 3))
    amounts = np.zeros((P, T))
    if P == 2:
        axes[1] = rotate_vectors(c0_from_w, axis_w)
        if kind == "revolute":
            centroid0 = points[0][labels[0] == 1].mean(axis=0)
            foot = pivot_w + np.dot(centroid0 - pivot_w, axis_w) * axis_w
            pivots[1] = transform_points(c0_from_w, foot)
        else:
            pivots[1] = transform_points(c0_from_w, points[0][labels[0] == 1].mean(axis=0))
        amounts[1] = q[:T] - q[0]
    moving = np.zeros(P, dtype=bool)
    if P == 2:
        moving[1] = np.max(np.abs(amounts[1])) > (np.deg2rad(1.0) if kind == "revolute" else 0.005)
    return SequenceSample(
        object_id=f"analytic_{kind}-{seed}",
        category=f"analytic_{kind}",
        object_seed=seed,
        sequence_seed=seed,
        points=points_c0.astype(np.float32),
        flow=flow_c0.astype(np.float32),
        colors=np.zeros((T, N, 3), dtype=np.uint8),
        pixels=np.zeros((T, N, 2), dtype=np.int16),
        labels=labels,
        part_names=("base",) if P == 1 else ("base", "moving"),
        part_parents=np.array([-1] + [0] * (P - 1), dtype=np.int16),
        part_types=types.astype(np.int8),
        part_axes=axes.astype(np.float32),
        part_pivots=pivots.astype(np.float32),
        part_amounts=amounts.astype(np.float32),
        part_moving=moving,
        intrinsics=np.array([200.0, 200.0, 79.5, 59.5]),
        image_size=(160, 120),
        world_from_cam=w_from_c,
        joint_states=q.reshape(T + 1, 1)[:, : P - 1].astype(np.float64),
        joint_names=tuple(["joint"] * (P - 1)),
    ).validate()
