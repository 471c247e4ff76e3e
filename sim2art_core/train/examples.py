"""SequenceSample -> normalised training example -> batch tensors.

Steps per sample: choose T frames (optionally a random start, re-expressed in that
frame's camera: the network always works in the first camera of its window), choose
N points per frame, augment (flow noise / dropout / outliers, point jitter, a roll
about the optical axis), normalise to [-1, 1] (sim2art_core.model.normalize), and
sign the ground-truth axes so that the largest amount is positive (the Estimator's
output convention, estimate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.geometry import invert_transform, rotate_vectors, rotation_about_axis, transform_points
from sim2art_core.model.config import ModelConfig
from sim2art_core.model.losses import Targets
from sim2art_core.model.normalize import Normalization
from sim2art_core.types import JointType


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time perturbations that close the sim-to-real gap (real flow and depth are noisy)."""

    random_start: bool = True
    """Start the window at a random frame when the sample has more frames than the model."""
    flow_noise_rel: float = 0.05
    """Gaussian flow noise, sigma relative to each point's |flow|."""
    flow_noise_abs: float = 0.0005
    """Gaussian flow noise, absolute sigma in m per frame."""
    flow_dropout: float = 0.02
    """Fraction of points whose flow is zeroed (tracking failures)."""
    flow_outliers: float = 0.01
    """Fraction of points whose flow is replaced by N(0, 2 cm) (gross flow errors)."""
    point_jitter: float = 0.001
    """Gaussian noise on point positions, m (on top of the data engine's depth noise)."""
    roll_deg: float = 20.0
    """Uniform random rotation of the whole window about the camera's optical (z) axis, +-deg."""

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class Example:
    """One normalised window with targets. Shapes: T, N; P parts."""

    points: np.ndarray  # (T, N, 3) float32 normalised, first camera of the window
    flow: np.ndarray  # (T, N, 3) float32 normalised
    labels: np.ndarray  # (T, N) int64
    types: np.ndarray  # (P,) int64
    axes: np.ndarray  # (P, 3) float32
    pivots: np.ndarray  # (P, 3) float32 normalised
    amounts: np.ndarray  # (P, T) float32 rad | normalised
    moving: np.ndarray  # (P,) bool
    scale: float  # normalised units per metre
    category: str


def _choose_points(rng: np.random.Generator, n_have: int, n_want: int) -> np.ndarray:
    if n_have >= n_want:
        return rng.choice(n_have, size=n_want, replace=False)
    return np.concatenate([np.arange(n_have), rng.choice(n_have, size=n_want - n_have, replace=True)])


def example_from_sample(
    sample: SequenceSample, cfg: ModelConfig, rng: np.random.Generator, aug: AugmentConfig | None = None
) -> Example:
    """Turn a sample into a training example for a model with ``cfg`` (module doc)."""
    aug = aug or AugmentConfig.none()
    T, N = cfg.num_frames, cfg.num_points
    Ts = sample.num_frames
    if Ts < T:
        raise ValueError(f"sample {sample.object_id} has {Ts} frames, the model needs {T}")
    s = int(rng.integers(0, Ts - T + 1)) if aug.random_start else 0
    frames = slice(s, s + T)
    points = sample.points[frames].astype(np.float64)
    flow = sample.flow[frames].astype(np.float64)
    labels = sample.labels[frames]
    axes = sample.part_axes.astype(np.float64)
    pivots = sample.part_pivots.astype(np.float64)
    amounts = sample.part_amounts[:, frames].astype(np.float64)
    amounts = amounts - amounts[:, :1]
    cs_from_c0 = invert_transform(sample.world_from_cam[s]) @ sample.world_from_cam[0]
    if aug.roll_deg > 0:
        roll = rotation_about_axis([0.0, 0.0, 1.0], np.deg2rad(rng.uniform(-aug.roll_deg, aug.roll_deg)))
        cs_from_c0 = np.block([[roll, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]) @ cs_from_c0
    points = transform_points(cs_from_c0, points)
    flow = rotate_vectors(cs_from_c0, flow)
    axes = rotate_vectors(cs_from_c0, axes)
    pivots = transform_points(cs_from_c0, pivots)

    idx = np.stack([_choose_points(rng, sample.num_points, N) for _ in range(T)])
    points = np.take_along_axis(points, idx[..., None], axis=1)
    flow = np.take_along_axis(flow, idx[..., None], axis=1)
    labels = np.take_along_axis(labels, idx, axis=1).astype(np.int64)

    if aug.point_jitter > 0:
        points = points + rng.normal(0.0, aug.point_jitter, points.shape)
    if aug.flow_noise_rel > 0 or aug.flow_noise_abs > 0:
        sigma = aug.flow_noise_rel * np.linalg.norm(flow, axis=-1, keepdims=True) + aug.flow_noise_abs
        flow = flow + rng.normal(size=flow.shape) * sigma
    if aug.flow_dropout > 0:
        flow[rng.random((T, N)) < aug.flow_dropout] = 0.0
    if aug.flow_outliers > 0:
        bad = rng.random((T, N)) < aug.flow_outliers
        flow[bad] = rng.normal(0.0, 0.02, (int(bad.sum()), 3))

    norm = Normalization.fit(points)
    types = sample.part_types.astype(np.int64)
    prismatic = types == JointType.PRISMATIC
    amounts = np.where(prismatic[:, None], amounts * norm.scale, amounts)
    # Sign convention of the outputs: the amount of largest magnitude is positive.
    peak = amounts[np.arange(len(amounts)), np.abs(amounts).argmax(axis=1)]
    flip = np.where(peak < 0, -1.0, 1.0)
    axes = axes * flip[:, None]
    amounts = amounts * flip[:, None]
    moving = sample.part_moving.copy()
    return Example(
        points=norm.points(points),
        flow=norm.vectors(flow),
        labels=labels,
        types=types,
        axes=axes.astype(np.float32),
        pivots=norm.points(pivots),
        amounts=amounts.astype(np.float32),
        moving=moving,
        scale=float(norm.scale),
        category=sample.category,
    )


def _pad_parts(arrays: list[np.ndarray], num_parts: int, fill: object, dtype: type) -> torch.Tensor:
    """(B, P, ...) tensor of the per-example (p_b, ...) ``arrays``; rows p_b .. P-1 hold ``fill``
    (a scalar or one row)."""
    out = np.empty((len(arrays), num_parts, *arrays[0].shape[1:]), dtype=dtype)
    out[:] = fill
    for b, a in enumerate(arrays):
        out[b, : len(a)] = a
    return torch.from_numpy(out)


def collate(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, Targets, torch.Tensor]:
    """Stack examples: (points, flow, targets, scales). Parts are padded to the batch maximum (padding:
    invalid, static, axis +z, pivot 0, amounts 0, not moving)."""
    P = max(len(e.types) for e in examples)
    targets = Targets(
        labels=torch.from_numpy(np.stack([e.labels for e in examples])),
        part_valid=_pad_parts([np.ones(len(e.types), dtype=bool) for e in examples], P, False, np.bool_),
        types=_pad_parts([e.types for e in examples], P, int(JointType.STATIC), np.int64),
        axes=_pad_parts([e.axes for e in examples], P, (0.0, 0.0, 1.0), np.float32),
        pivots=_pad_parts([e.pivots for e in examples], P, 0.0, np.float32),
        amounts=_pad_parts([e.amounts for e in examples], P, 0.0, np.float32),
        moving=_pad_parts([e.moving for e in examples], P, False, np.bool_),
    )
    points = torch.from_numpy(np.stack([e.points for e in examples]))
    flow = torch.from_numpy(np.stack([e.flow for e in examples]))
    scales = torch.tensor([e.scale for e in examples])
    return points, flow, targets, scales
