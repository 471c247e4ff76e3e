"""The sim2art network (paper §3.3-3.5) in pure PyTorch.

Shapes: B windows, T frames, N points per frame, K keypoints per frame, M part
queries, d = cfg.dim, c = cfg.point_dim. Coordinates are normalised
(sim2art_core.model.normalize); flow is the normalised displacement of a point
from frame t to t + 1.

    points, flow, image features (B, T, N, .)
      -> [encode] FPS keypoints (B, T, K, 3); spatio-temporal ball groups; per neighbour
         [p - k, t' - t, flow, mean flow, image feature, mean image feature, t/T]
         -> 2 shared layers -> masked max -> MLP                        tokens (B, T, K, d)
      -> [tokens; gamma(t/T)] -> linear -> transformer over all T*K tokens  (B, T*K, d)
      -> [point_features] inverse-distance propagation to the points (Eq. 3), concatenated
         with each point's own flow / image feature / t/T -> MLP        f''(p) (B, T, N, c)
      -> part logits f''(p) . Q^T (B, T, N, M); moving logit (B, T, N)
      -> Eq. 4 pooling -> part head: type (B, M, 3), axes (B, M, 3), pivot (B, M, 3)
      -> Eq. 5 pooling -> motion head: amounts (B, M, T) (revolute rad, prismatic normalised)

``point_features`` also labels points that were not encoded (the Estimator uses it
for every point of a window whose N differs from the model's).

No absolute xyz enters a per-point or per-token feature (only differences), which made
the model segment by motion instead of by position (ml_methods.md §8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sim2art_core.model import ops
from sim2art_core.model.config import ModelConfig
from sim2art_core.model.motion_cues import (
    FRAME_CUE_DIM,
    PART_CUE_DIM,
    Products,
    RigidVelocity,
    motion_cues,
    products,
    rigid_velocity,
    soft_centroid,
)

ENCODER_CHUNK_ROWS = 3072
"""Neighbour rows per chunk of the encoder's shared layers at single-threaded inference
(:meth:`SpatioTemporalEncoder._shared_layers_chunked`): one frame's 64 keypoints x 48 neighbours of
the shipped model; its (rows, 128) conv2 output (1.5 MB) stays in cache for the max. With more torch
threads the layers run in one piece: every chunk is a fork/join of the thread pool per op, and on
the shared 2-core machine that cost more than the cache saved (docs/BENCHMARKS.md)."""


def frame_encoding(t: torch.Tensor, levels: int) -> torch.Tensor:
    """gamma(t) = [sin(2^k pi t), cos(2^k pi t)], k = 0..L (Eq. 2), for t (...,) -> (..., 2(L+1)).

    t must be the *normalised* frame index t/T: with integer t every sin(2^k pi t) is 0.
    """
    freqs = (2.0 ** torch.arange(levels + 1, dtype=t.dtype, device=t.device)) * math.pi
    x = t.unsqueeze(-1) * freqs
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)


def flow_feature_dim(cfg: ModelConfig) -> int:
    """Channels of the per-point flow input: flow, plus flow relative to the dominant motion."""
    if not cfg.use_flow:
        return 0
    return 6 if cfg.relative_flow else 3


def _mlp(sizes: list[int], last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@dataclass
class Encoded:
    """Encoder + transformer output: keypoints (B, T, K, 3), features (B, T, K, d), and the
    dominant rigid motion of every frame (when ModelConfig.relative_flow)."""

    keypoints: torch.Tensor
    features: torch.Tensor
    dominant: RigidVelocity | None = None
    flow_in: torch.Tensor | None = None  # (B, T, N, F) the encoded points' flow inputs
    inputs: tuple[torch.Tensor, torch.Tensor] | None = None  # the (points, flow) tensors they were computed from


@dataclass
class NetworkOutput:
    """Raw network outputs (normalised units). See the module doc for shapes."""

    part_logits: torch.Tensor  # (B, T, Q, M)
    moving_logits: torch.Tensor  # (B, T, Q)
    type_logits: torch.Tensor  # (B, M, 3) indexed by JointType
    revolute_axis: torch.Tensor  # (B, M, 3) unit
    pivot: torch.Tensor  # (B, M, 3)
    prismatic_axis: torch.Tensor  # (B, M, 3) unit
    revolute_amounts: torch.Tensor  # (B, M, T) rad, [:, :, 0] == 0
    prismatic_amounts: torch.Tensor  # (B, M, T) normalised units, [:, :, 0] == 0
    keypoints: torch.Tensor  # (B, T, K, 3)
    encoded: Encoded | None = None  # for labelling further points with Sim2ArtNet.point_features

    @property
    def part_probs(self) -> torch.Tensor:
        return self.part_logits.softmax(dim=-1)


class SpatioTemporalEncoder(nn.Module):
    """P4DConv-style tube encoder with the paper's Eq. 1 features (§3.3)."""

    def __init__(self, cfg: ModelConfig, image_dim: int):
        super().__init__()
        self.cfg = cfg
        in_dim = 4 + 2 * flow_feature_dim(cfg) + 2 * image_dim + (1 if cfg.use_frame_fraction else 0)
        self.conv1 = nn.Linear(in_dim, cfg.encoder_hidden)
        self.conv2 = nn.Linear(cfg.encoder_hidden, cfg.dim)
        self.mlp = _mlp([cfg.dim, cfg.dim, cfg.dim])
        self.norm = nn.LayerNorm(cfg.dim)

    def sample_keypoints(self, points: torch.Tensor) -> torch.Tensor:
        """(B*T, N, 3) -> (B*T, K) indices."""
        if self.cfg.keypoint_sampler == "fps":
            return ops.farthest_point_sample(points, self.cfg.num_keypoints)
        return ops.random_sample(points, self.cfg.num_keypoints)

    def forward(
        self, points: torch.Tensor, flow: torch.Tensor | None, image: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """points (B, T, N, 3), flow features (B, T, N, F) or None, image (B, T, N, P) or None.

        Returns keypoints (B, T, K, 3) and tokens (B, T, K, d).
        """
        cfg = self.cfg
        B, T, N, _ = points.shape
        K, r_t = cfg.num_keypoints, cfg.temporal_radius
        flat = points.reshape(B * T, N, 3)
        kp_idx = self.sample_keypoints(flat)
        keypoints = ops.gather_points(flat, kp_idx)  # (BT, K, 3)
        per_point = [points]
        if flow is not None:
            per_point.append(flow)
        if image is not None:
            per_point.append(image)
        values = torch.cat(per_point, dim=-1)  # (B, T, N, V)
        t = torch.arange(T, device=points.device)
        groups, masks, offsets = [], [], []
        for o in range(-r_t, r_t + 1):
            src = t + o
            in_range = (src >= 0) & (src < T)  # frames past the ends are masked, not padded
            src = src.clamp(0, T - 1)
            src_points = points[:, src].reshape(B * T, N, 3)
            idx, mask, _ = ops.ball_query(keypoints, src_points, cfg.ball_radius, cfg.num_neighbors)
            mask = mask & in_range.repeat(B).view(B * T, 1, 1)
            groups.append(ops.gather_points(values[:, src].reshape(B * T, N, -1), idx))  # (BT, K, k, V)
            masks.append(mask)
            offsets.append(torch.full_like(mask, o, dtype=points.dtype))
        grp = torch.cat(groups, dim=2)  # (BT, K, S, V)
        mask = torch.cat(masks, dim=2)  # (BT, K, S)
        dt = torch.cat(offsets, dim=2).unsqueeze(-1) / max(r_t, 1)
        S = grp.shape[2]
        feats = [(grp[..., :3] - keypoints.unsqueeze(2)) / cfg.ball_radius, dt]
        col = 3
        if flow is not None:
            nbr_flow = grp[..., col : col + flow.shape[-1]]
            feats += [nbr_flow, ops.masked_mean(nbr_flow, mask, dim=2).unsqueeze(2).expand(-1, -1, S, -1)]
            col += flow.shape[-1]
        if image is not None:
            nbr_img = grp[..., col:]
            feats += [nbr_img, ops.masked_mean(nbr_img, mask, dim=2).unsqueeze(2).expand(-1, -1, S, -1)]
        if cfg.use_frame_fraction:
            tt = (t.to(points.dtype) / T).repeat(B).view(B * T, 1, 1, 1).expand(-1, K, S, 1)
            feats.append(tt)
        x = torch.cat(feats, dim=-1)
        # "max before ReLU": the last shared layer is pooled before its activation (its bias after
        # the max: ops.masked_max_linear). Every keypoint is a point of its own frame, so the first
        # (nearest) slot of the offset-0 group is the keypoint itself, inside the ball; masked slots
        # get that slot's features, which cannot change the max, and no mask is applied to the
        # (BT, K, S, d) pre-activation (the same result, ~10 % less encoder time on CPU).
        centre = r_t * cfg.num_neighbors
        pool_mask: torch.Tensor | None = mask
        if bool(mask[:, :, centre].all()):
            x = torch.where(mask.unsqueeze(-1), x, x[:, :, centre : centre + 1])
            pool_mask = None
        if torch.is_grad_enabled():
            h1 = F.relu(self.conv1(x))
            h = ops.masked_max_linear(h1, self.conv2.weight, self.conv2.bias, pool_mask, dim=2)  # (BT, K, d)
        else:
            h = self._shared_layers_chunked(x, pool_mask)
        h = F.relu(h)
        tokens = self.norm(h + self.mlp(h))
        return keypoints.view(B, T, K, 3), tokens.view(B, T, K, -1)

    def _shared_layers_chunked(self, x: torch.Tensor, pool_mask: torch.Tensor | None) -> torch.Tensor:
        """conv1 -> ReLU -> masked max of conv2 (before its ReLU) for x (BT, K, S, C): (BT, K, d).

        Inference only: single-threaded, a few keypoints' groups at a time (ENCODER_CHUNK_ROWS
        neighbour rows), so each chunk's (rows, d) output of conv2 is still in cache when the max
        reads it, instead of a (BT*K*S, d) buffer (25 MB at T = 16, K = 64, S = 48) written and read
        back; with more threads, one piece. Row by row the same matmuls: the same values bitwise
        (test_fast_forward.py).
        """
        BT, K, S, C = x.shape
        rows = x.reshape(BT * K, S, C)
        masks = None if pool_mask is None else pool_mask.reshape(BT * K, S)
        out = x.new_empty(BT * K, self.conv2.out_features)
        step = max(1, ENCODER_CHUNK_ROWS // S) if torch.get_num_threads() == 1 else BT * K
        for i in range(0, BT * K, step):
            h1 = F.relu(self.conv1(rows[i : i + step]), inplace=True)
            m = None if masks is None else masks[i : i + step]
            out[i : i + step] = ops.masked_max_linear(h1, self.conv2.weight, self.conv2.bias, m, dim=1)
        return out.view(BT, K, -1)


class Sim2ArtNet(nn.Module):
    """Encoder, video transformer, propagation, part queries and heads (module doc)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        img = cfg.image_feature_proj_dim if cfg.image_feature_dim > 0 else 0
        self.image_proj = _mlp([cfg.image_feature_dim, 32, img]) if img else None
        self.encoder = SpatioTemporalEncoder(cfg, img)
        enc_dim = 2 * (cfg.pos_encoding_levels + 1) if cfg.use_time_encoding else 0
        self.token_in = nn.Linear(cfg.dim + enc_dim, cfg.dim)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, int(cfg.mlp_ratio * cfg.dim), cfg.dropout, activation="gelu",
            batch_first=True, norm_first=True,
        )  # fmt: skip
        self.transformer = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False) if cfg.depth else None
        self.token_norm = nn.LayerNorm(cfg.dim)
        point_in = cfg.dim + flow_feature_dim(cfg) + img + (1 if cfg.use_frame_fraction else 0)
        self.point_mlp = nn.Sequential(_mlp([point_in, cfg.point_dim, cfg.point_dim]), nn.LayerNorm(cfg.point_dim))
        self.queries = nn.Parameter(torch.randn(cfg.num_queries, cfg.point_dim) * cfg.point_dim**-0.5)
        self.moving_head = nn.Linear(cfg.point_dim, 1)
        cue_p = PART_CUE_DIM if cfg.use_motion_cues else 0
        cue_f = FRAME_CUE_DIM if cfg.use_motion_cues else 0
        h = cfg.head_hidden
        self.part_head = _mlp([cfg.point_dim + cue_p, h, h], last_act=True)
        self.type_out = nn.Linear(h, 3)
        self.geom_out = nn.Linear(h, 9)  # revolute axis, pivot, prismatic axis (residuals)
        self.motion_head = _mlp([cfg.point_dim + cue_f + enc_dim, h, h], last_act=True)
        self.amount_out = nn.Linear(h, 2)  # revolute, prismatic
        for lin in (self.geom_out, self.amount_out):  # residual outputs start near the cues
            nn.init.normal_(lin.weight, std=1e-3)
            nn.init.zeros_(lin.bias)

    def _project_image(self, image: torch.Tensor | None, ref: torch.Tensor) -> torch.Tensor | None:
        if self.image_proj is None:
            return None
        if image is None or image.shape[:3] != ref.shape[:3] or image.shape[-1] != self.cfg.image_feature_dim:
            got = None if image is None else tuple(image.shape)
            want = (*ref.shape[:3], self.cfg.image_feature_dim)
            raise ValueError(f"Sim2ArtNet: image features of shape {want} required, got {got}")
        return self.image_proj(image)

    def encode(
        self, points: torch.Tensor, flow: torch.Tensor, image: torch.Tensor | None = None, prods: Products | None = None
    ) -> Encoded:
        """Encoder + transformer: keypoints (B, T, K, 3) and their features (B, T, K, d).

        ``prods``: the rigid fits' :func:`~sim2art_core.model.motion_cues.products` of ``points`` and
        ``flow``, when the caller has them (``forward`` shares them with the motion cues)."""
        cfg = self.cfg
        B, T, N, _ = points.shape
        if points.shape[-1] != 3 or flow.shape != points.shape:
            raise ValueError(f"Sim2ArtNet: points/flow must be (B, T, N, 3), got {points.shape} / {flow.shape}")
        if T != cfg.num_frames:
            raise ValueError(f"Sim2ArtNet: model expects T={cfg.num_frames} frames, got {T}")
        img = self._project_image(image, points)
        ones = points.new_ones(*points.shape[:3], 1)
        dominant = rigid_velocity(points, flow, ones, prods=prods) if cfg.relative_flow else None
        flow_in = self._flow_features(points, flow, dominant, torch.arange(T, device=points.device))
        keypoints, tokens = self.encoder(points, flow_in, img)
        K = keypoints.shape[2]
        x = tokens
        if cfg.use_time_encoding:
            gamma = frame_encoding(self._frame_fraction(T, points), cfg.pos_encoding_levels)
            x = torch.cat([x, gamma.view(1, T, 1, -1).expand(B, T, K, -1)], dim=-1)
        x = self.token_in(x).reshape(B, T * K, cfg.dim)
        if self.transformer is not None:
            x = self.transformer(x) if self.training else self._transformer_eval(x)
        feats = self.token_norm(x).view(B, T, K, cfg.dim)
        return Encoded(keypoints=keypoints, features=feats, dominant=dominant, flow_in=flow_in, inputs=(points, flow))

    def _transformer_eval(self, x: torch.Tensor) -> torch.Tensor:
        """``self.transformer(x)`` in eval mode, with ``F.scaled_dot_product_attention``.

        The same pre-norm layers and parameters as the nn.TransformerEncoder (its forward is the
        reference, test_network.py), written out so that attention runs in SDPA's fused CPU/GPU
        kernel instead of the module's explicit (T*K)^2 score matrix: ~1.5x faster per layer on
        CPU at T*K = 1024. Dropout is off in eval mode, so none is applied.
        """
        B, L, d = x.shape
        for layer in self.transformer.layers:
            attn = layer.self_attn
            h = attn.num_heads
            qkv = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias)
            q, k, v = qkv.view(B, L, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, d/h) each
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, d)
            x = x + attn.out_proj(a)
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return x

    def _flow_features(
        self, points: torch.Tensor, flow: torch.Tensor, dominant: RigidVelocity | None, frames: torch.Tensor
    ) -> torch.Tensor | None:
        """Per-point flow inputs (B, F, N, flow_feature_dim): the flow and, with ``relative_flow``, the
        flow minus the frame's dominant rigid motion (cancels camera-pose errors), both scaled."""
        cfg = self.cfg
        if not cfg.use_flow:
            return None
        out = [flow * cfg.flow_scale]
        if dominant is not None:
            omega = dominant.omega[:, 0, frames].unsqueeze(2)  # (B, F, 1, 3)
            q = points - dominant.centroid[:, 0, frames].unsqueeze(2)
            field = torch.cross(omega.expand_as(q), q, dim=-1) + dominant.mean_flow[:, 0, frames].unsqueeze(2)
            out.append((flow - field) * cfg.flow_scale)
        return torch.cat(out, dim=-1)

    @staticmethod
    def _frame_fraction(T: int, ref: torch.Tensor) -> torch.Tensor:
        return torch.arange(T, device=ref.device, dtype=ref.dtype) / T  # t/T

    def point_features(
        self,
        enc: Encoded,
        points: torch.Tensor,
        flow: torch.Tensor,
        image: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """f''(p) of arbitrary points: Eq. 3 propagation from their frame's keypoints + own cues.

        Args:
            points, flow: (B, F, Q, 3) query points of F frames (normalised units).
            image: (B, F, Q, C) raw image features, or None.
            frames: (F,) int64 model frame of each query frame; default 0..T-1 (F = T).

        Returns:
            (B, F, Q, point_dim).
        """
        cfg = self.cfg
        B, Fq, Q, _ = points.shape
        T = enc.keypoints.shape[1]
        all_frames = frames is None
        if frames is None:
            frames = torch.arange(T, device=points.device)
        if frames.shape != (Fq,):
            raise ValueError(f"Sim2ArtNet.point_features: need one model frame per query frame, got {frames.shape}")
        K = enc.keypoints.shape[2]
        kp = enc.keypoints[:, frames].reshape(B * Fq, K, 3)
        feats = enc.features[:, frames].reshape(B * Fq, K, cfg.dim)
        # The point MLP's first layer is linear in [propagated feature, own cues], and the
        # propagation (Eq. 3) is a weighted mean: its propagated part is applied to the K keypoint
        # features before propagating them to the Q points (K << Q; same result up to rounding).
        first = self.point_mlp[0][0]
        w_prop, w_own = first.weight[:, : cfg.dim], first.weight[:, cfg.dim :]
        weights = ops.inverse_distance_weights(points.reshape(B * Fq, Q, 3), kp, cfg.propagation_neighbors)
        kfeat = feats @ w_prop.t()  # (B*Fq, K, c)
        point_in = []
        if cfg.use_flow:
            same = all_frames and enc.inputs is not None and points is enc.inputs[0] and flow is enc.inputs[1]
            # the encoded points themselves (forward): their flow inputs are the encoder's, already computed
            point_in.append(enc.flow_in if same else self._flow_features(points, flow, enc.dominant, frames))
        img = self._project_image(image, points)
        if img is not None:
            point_in.append(img)
        if cfg.use_frame_fraction:
            tn = frames.to(points.dtype) / T
            point_in.append(tn.view(1, Fq, 1, 1).expand(B, Fq, Q, 1))
        if point_in:  # own + propagated, added in place into the fresh (B*F, Q, c) buffer of the own-cue layer
            own = F.linear(torch.cat(point_in, dim=-1), w_own, first.bias).reshape(B * Fq, Q, -1)
            h = own.baddbmm_(weights, kfeat).view(B, Fq, Q, -1)
        else:
            h = torch.baddbmm(first.bias.expand(B * Fq, Q, -1), weights, kfeat).view(B, Fq, Q, -1)
        return self.point_mlp[1](self.point_mlp[0][1:](h))

    def part_logits(self, f_pt: torch.Tensor) -> torch.Tensor:
        """(..., point_dim) -> (..., M): f''(p) . Q^T (softmax over the last dim gives d(p))."""
        return f_pt @ self.queries.t() * self.cfg.point_dim**-0.5

    def forward(self, points: torch.Tensor, flow: torch.Tensor, image: torch.Tensor | None = None) -> NetworkOutput:
        """Run the whole network on (B, T, N, .) inputs; every input point gets a label."""
        cfg = self.cfg
        B, T = points.shape[:2]
        prods = None
        if cfg.relative_flow and cfg.use_motion_cues:  # both fit rigid motions to the same points and flow
            with torch.no_grad():
                prods = products(points, flow)
        enc = self.encode(points, flow, image, prods)
        f_pt = self.point_features(enc, points, flow, image)  # (B, T, N, c)
        part_logits = self.part_logits(f_pt)
        moving_logits = self.moving_head(f_pt).squeeze(-1)
        probs = part_logits.softmax(dim=-1)  # (B, T, N, M)
        # Eq. 4 / Eq. 5 soft pooling of per-point features into parts (and parts x frames).
        mass_t = probs.sum(dim=2).permute(0, 2, 1)  # (B, M, T)
        f_motion = torch.einsum("btqm,btqc->bmtc", probs, f_pt) / mass_t.clamp_min(1e-6)[..., None]
        f_part = (f_motion * mass_t[..., None]).sum(2) / mass_t.sum(2).clamp_min(1e-6)[..., None]
        if cfg.use_motion_cues:
            cues = motion_cues(points, flow, probs.detach(), prods=prods)
            part_in = torch.cat([f_part, cues.part_features], dim=-1)
            motion_in = [f_motion, cues.frame_features]
        else:
            cues = None
            part_in = f_part
            motion_in = [f_motion]
        if cfg.use_time_encoding:
            gamma = frame_encoding(self._frame_fraction(T, points), cfg.pos_encoding_levels)
            motion_in.append(gamma.view(1, 1, T, -1).expand(B, cfg.num_queries, T, -1))
        hp = self.part_head(part_in)
        type_logits = self.type_out(hp)
        g = self.geom_out(hp)
        hm = self.amount_out(self.motion_head(torch.cat(motion_in, dim=-1)))  # (B, M, T, 2)
        hm = hm - hm[:, :, :1]  # amounts are relative to frame 0
        if cues is not None:
            rev_axis = F.normalize(g[..., 0:3] + cues.revolute_axis, dim=-1)
            pivot = cues.pivot + g[..., 3:6]
            pri_axis = F.normalize(g[..., 6:9] + cues.prismatic_axis, dim=-1)
            rev_amt = cues.revolute_amounts + hm[..., 0]
            pri_amt = cues.prismatic_amounts + hm[..., 1]
        else:
            rev_axis = F.normalize(g[..., 0:3], dim=-1)
            pivot = soft_centroid(points, probs.detach()) + g[..., 3:6]
            pri_axis = F.normalize(g[..., 6:9], dim=-1)
            rev_amt, pri_amt = hm[..., 0], hm[..., 1]
        return NetworkOutput(
            part_logits=part_logits,
            moving_logits=moving_logits,
            type_logits=type_logits,
            revolute_axis=rev_axis,
            pivot=pivot,
            prismatic_axis=pri_axis,
            revolute_amounts=rev_amt,
            prismatic_amounts=pri_amt,
            keypoints=enc.keypoints,
            encoded=enc,
        )
