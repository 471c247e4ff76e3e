"""Every size and switch of the sim2art network in one dataclass (nerfstudio style).

Coordinates inside the network are normalised (sim2art_core.model.normalize): the
window's points fit in [-1, 1]^3, so radii are in those units. The defaults are the
CPU-sized configuration documented in docs/MODEL.md (measured there); the paper's
own sizes (N = 2048, 512-d encoder) are reachable by changing fields, not code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

KEYPOINT_SAMPLERS = ("fps", "random")

#: Names in sim2art_core.model.registry.MODEL_REGISTRY (a test checks they agree).
ModelName = Literal["sim2art"]

#: Fields introduced after the first checkpoints, with the value that means "as before".
FIELDS_ADDED_LATER: dict[str, Any] = {"relative_flow": False}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`sim2art_core.model.network.Sim2ArtNet`."""

    name: ModelName = "sim2art"
    """Registry key (sim2art_core.model.registry.MODEL_REGISTRY)."""
    num_frames: int = 16
    """T, frames per window. Windows with another T are resampled by the Estimator."""
    num_points: int = 1024
    """N, points per frame the encoder sees. Other N are resampled by the Estimator."""
    num_keypoints: int = 64
    """K, keypoints per frame (encoder tokens); the transformer attends over T*K tokens."""
    keypoint_sampler: str = "fps"
    """"fps" (farthest point sampling, paper) or "random" (cheaper, less even)."""
    ball_radius: float = 0.25
    """r_s, spatial radius of a keypoint's neighbourhood, normalised units (object spans 2)."""
    temporal_radius: int = 1
    """r_t, a keypoint of frame t groups points of frames t-r_t .. t+r_t."""
    num_neighbors: int = 16
    """k, nearest points per keypoint and frame; those outside r_s are masked out."""
    flow_scale: float = 50.0
    """Multiplier on normalised per-frame flow before it enters an MLP. Measured on generated windows:
    the flow of moving points relative to the dominant motion is ~0.008 (median; 0.026 at p90), so x50
    brings it to ~0.4-1.3, the scale of the other inputs (docs/MODEL.md §6)."""
    encoder_hidden: int = 64
    """Width of the first per-neighbour layer ("conv 1")."""
    dim: int = 128
    """Token width (encoder output, transformer model width)."""
    depth: int = 2
    """Transformer layers."""
    heads: int = 4
    """Attention heads (dim must be divisible by heads)."""
    mlp_ratio: float = 2.0
    """Transformer feed-forward width = mlp_ratio * dim."""
    dropout: float = 0.0
    """Dropout inside the transformer."""
    pos_encoding_levels: int = 6
    """L of the frame encoding gamma(t) (Eq. 2): frequencies 2^0 .. 2^L, sin and cos."""
    propagation_neighbors: int = 3
    """Keypoints averaged (inverse squared distance, Eq. 3) to give each point its feature."""
    point_dim: int = 128
    """Width of the per-point feature f''(p) that meets the part queries."""
    num_queries: int = 20
    """M, part queries; slot 0 is reserved for the static root part."""
    head_hidden: int = 128
    """Hidden width of the part / motion heads."""
    image_feature_dim: int = 0
    """C of raw per-point image features (e.g. 1024 for DINOv3-L); 0: the "w/o DINO" model."""
    image_feature_proj_dim: int = 3
    """Image features are projected per point to this many dims by a small MLP (paper: 3)."""
    use_flow: bool = True
    """Ablation "w/o flow" when False: scene flow enters nowhere (encoder, points, cues)."""
    relative_flow: bool = True
    """Also feed each point's flow minus its frame's dominant rigid motion (a robust fit over all
    points): camera-pose errors move the whole scene and cancel; the base is usually dominant."""
    use_time_encoding: bool = True
    """Ablation "w/o gamma(t)" when False: no frame positional encoding on the tokens."""
    use_frame_fraction: bool = True
    """Ablation "w/o t/T" when False: no normalised frame index in the encoder features."""
    use_motion_cues: bool = True
    """Feed the heads closed-form rigid-motion summaries of each soft part's flow and predict
    axes / pivot / amounts as residuals on them (docs/MODEL.md "motion cues"). Needs use_flow."""

    def __post_init__(self) -> None:
        checks = [
            (self.num_frames >= 2, "num_frames must be >= 2"),
            (self.num_points >= 1, "num_points must be >= 1"),
            (0 < self.num_keypoints <= self.num_points, "need 0 < num_keypoints <= num_points"),
            (self.keypoint_sampler in KEYPOINT_SAMPLERS, f"keypoint_sampler must be one of {KEYPOINT_SAMPLERS}"),
            (self.ball_radius > 0, "ball_radius must be > 0"),
            (self.temporal_radius >= 0, "temporal_radius must be >= 0"),
            (self.num_neighbors >= 1, "num_neighbors must be >= 1"),
            (self.dim % self.heads == 0, f"dim ({self.dim}) must be divisible by heads ({self.heads})"),
            (self.depth >= 0, "depth must be >= 0"),
            (self.num_queries >= 2, "num_queries must be >= 2 (root + at least one part)"),
            (self.image_feature_dim >= 0, "image_feature_dim must be >= 0"),
            (not (self.use_motion_cues and not self.use_flow), "use_motion_cues needs use_flow"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"ModelConfig: {msg}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error (they mean a mismatched checkpoint).

        Fields added after a checkpoint was written take the value that reproduces the old
        behaviour (:data:`FIELDS_ADDED_LATER`), not today's default.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"ModelConfig: unknown fields {unknown}")
        return cls(**{**FIELDS_ADDED_LATER, **d})

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the training loss (paper Eq. 6-11; lambdas all 1 in the paper)."""

    mask_bce: float = 2.0
    """w_BCE of the part-label loss and the matching cost (Eq. 6)."""
    mask_dice: float = 1.0
    """w_Dice of the part-label loss and the matching cost (Eq. 6)."""
    joint_type: float = 1.0
    """lambda_jt (Eq. 7)."""
    unmatched_type: float = 0.1
    """Relative weight of the "static" target given to unmatched queries (DETR's eos_coef)."""
    axis: float = 1.0
    """lambda_a, geodesic axis loss in rad (Eq. 8)."""
    pivot: float = 1.0
    """lambda_p, point-to-line pivot loss in normalised units (Eq. 9)."""
    amount: float = 1.0
    """lambda_ma, L1 on per-frame amounts: rad (revolute) / normalised units (prismatic) (Eq. 10)."""
    moving: float = 1.0
    """Auxiliary per-point BCE "does this point's part move" (not in the paper; speeds up learning)."""


PRESETS: dict[str, dict[str, Any]] = {
    # What the shipped checkpoint uses (CPU-trainable, docs/MODEL.md).
    "cpu": {},
    # Unit tests and smoke runs: seconds per step.
    "tiny": dict(
        num_frames=4, num_points=64, num_keypoints=8, num_neighbors=8, encoder_hidden=16, dim=32, depth=1,
        heads=2, point_dim=32, head_hidden=32, num_queries=6, ball_radius=0.5,
    ),
    # The paper's sizes (GPU): N = 2048, 512-d tokens.
    "paper": dict(num_points=2048, num_keypoints=128, num_neighbors=32, dim=512, depth=4, heads=8, point_dim=256,
                  head_hidden=256, encoder_hidden=128),
}  # fmt: skip


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named configuration from :data:`PRESETS`, with field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose from {sorted(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


__all__ = ["KEYPOINT_SAMPLERS", "LossConfig", "ModelConfig", "PRESETS", "preset"]
