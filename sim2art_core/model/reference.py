"""The network's forward pass written the straightforward way (the oracle of the optimised one).

:class:`sim2art_core.model.network.Sim2ArtNet` runs an optimised forward pass (issue 12: SDPA
attention, projection before propagation with dense Eq. 3 weights, the encoder's bias after its max,
index_select gathers, rigid-fit products built once; docs/BENCHMARKS.md "Inference speed before /
after (hand-run, issue 12)"; a second pass kept every value bitwise: elementwise FPS distances,
x^T w rigid-fit sums, one matmul for the Cauchy residuals, shared rigid-fit products, a chunked
encoder at inference; docs/MODEL.md §1.4). This module keeps the formulas as they were written
before that work, on the *same* module and parameters, so that

* tests check the optimised pass against it (logits within 1e-5; the joint outputs, which read
  motion cues that amplify rounding on near-degenerate slots, within 1e-2; the same estimates), and
* ``sim2art_core.benchmarks.infer_speed`` times "before" and "after" side by side in one process.

Not used at run time. Shapes as in :mod:`sim2art_core.model.network`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sim2art_core.model import ops
from sim2art_core.model.motion_cues import (
    MotionCues,
    RigidVelocity,
    _exclusive_cumsum,
    _largest,
    _skew_t,
    soft_centroid,
)
from sim2art_core.model.network import Encoded, NetworkOutput, Sim2ArtNet, frame_encoding


# --------------------------------------------------------------------------- point ops
def gather_points(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of ``values`` (B, N, C) picked by ``index`` (B, ...) -> (B, ..., C) (advanced indexing)."""
    B = values.shape[0]
    flat = index.reshape(B, -1)
    batch = torch.arange(B, device=values.device).unsqueeze(1)
    return values[batch, flat].reshape(*index.shape, values.shape[-1])


def farthest_point_sample(points: torch.Tensor, num_samples: int) -> torch.Tensor:
    """ops.farthest_point_sample as it was (advanced indexing, |c|^2 recomputed every iteration)."""
    B, N, _ = points.shape
    pts = points.detach()
    current = ((pts - pts.mean(dim=1, keepdim=True)) ** 2).sum(-1).argmax(dim=1)
    index = torch.empty(B, num_samples, dtype=torch.long, device=points.device)
    min_d2 = torch.full((B, N), float("inf"), device=points.device, dtype=pts.dtype)
    batch = torch.arange(B, device=points.device)
    sq = pts.square().sum(-1)
    for i in range(num_samples):
        index[:, i] = current
        c = pts[batch, current]
        d2 = torch.baddbmm((sq + c.square().sum(-1, keepdim=True)).unsqueeze(-1), pts, c.unsqueeze(-1), alpha=-2.0)
        torch.minimum(min_d2, d2.squeeze(-1), out=min_d2)
        current = min_d2.argmax(dim=1)
    return index


def inverse_distance_interpolate(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, k: int = 3, eps: float = 1e-8
) -> torch.Tensor:
    """Eq. 3 as written: gather the k nearest keys' values and take their weighted mean."""
    kk = min(k, keys.shape[1])
    d2 = ops.square_distance(query, keys)
    dist2, index = d2.topk(kk, dim=-1, largest=False)
    w = 1.0 / (dist2 + eps)
    w = w / w.sum(dim=-1, keepdim=True)
    return (gather_points(values, index) * w.unsqueeze(-1)).sum(dim=-2)


def masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    neg = torch.finfo(x.dtype).min
    out = x.masked_fill(~mask.unsqueeze(-1), neg).amax(dim=dim)
    return torch.where(mask.any(dim=dim).unsqueeze(-1), out, torch.zeros_like(out))


# --------------------------------------------------------------------------- motion cues
def weighted_fit(points: torch.Tensor, flow: torch.Tensor, weights: torch.Tensor, eps: float) -> RigidVelocity:
    """One einsum per moment (mass, centroid, mean flow, second moment, angular momentum)."""
    mass = weights.sum(dim=2).permute(0, 2, 1)
    inv = 1.0 / mass.clamp_min(eps)
    centroid = torch.einsum("btnm,btni->bmti", weights, points) * inv[..., None]
    mean_flow = torch.einsum("btnm,btni->bmti", weights, flow) * inv[..., None]
    outer = points.unsqueeze(-1) * points.unsqueeze(-2)
    second = torch.einsum("btnm,btnij->bmtij", weights, outer) * inv[..., None, None]
    cov = second - centroid.unsqueeze(-1) * centroid.unsqueeze(-2)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    inertia = trace[..., None, None] * eye - cov
    momentum = torch.einsum("btnm,btni->bmti", weights, torch.cross(points, flow, dim=-1)) * inv[..., None]
    momentum = momentum - torch.cross(centroid, mean_flow, dim=-1)
    reg = (1e-3 * trace + 1e-6)[..., None, None] * eye
    omega = torch.linalg.solve(inertia + reg, momentum.unsqueeze(-1)).squeeze(-1)
    return RigidVelocity(mass=mass, centroid=centroid, mean_flow=mean_flow, omega=omega)


def residual_sq(points: torch.Tensor, flow: torch.Tensor, fit: RigidVelocity) -> torch.Tensor:
    """|v - (w_m x (p - c_m) + v_m)|^2 of every point under every part's motion: (B, T, N, M)."""
    B, M, T, _ = fit.omega.shape
    S = _skew_t(fit.omega).permute(0, 2, 3, 1, 4).reshape(B * T, 3, M * 3)
    offset = fit.mean_flow - torch.cross(fit.omega, fit.centroid, dim=-1)
    N = points.shape[2]
    pred = torch.bmm(points.reshape(B * T, N, 3), S).view(B, T, N, M, 3)
    pred = pred + offset.permute(0, 2, 1, 3).unsqueeze(2)
    return (flow.unsqueeze(3) - pred).square().sum(-1)


def rigid_velocity(points, flow, weights, robust_iters: int = 2, eps: float = 1e-6) -> RigidVelocity:
    fit = weighted_fit(points, flow, weights, eps)
    for _ in range(robust_iters):
        r2 = residual_sq(points, flow, fit)
        mass = weights.sum(dim=2, keepdim=True).clamp_min(eps)
        s2 = (weights * r2).sum(dim=2, keepdim=True) / mass + 1e-8
        fit = weighted_fit(points, flow, weights / (1.0 + r2 / s2), eps)
    return fit


def motion_cues(points, flow, weights, root_slot: int | None = 0, eps: float = 1e-4) -> MotionCues:
    if root_slot is not None:
        fit = rigid_velocity(points, flow, weights)
        omega = fit.omega[:, root_slot].unsqueeze(2)
        q = points - fit.centroid[:, root_slot].unsqueeze(2)
        flow = flow - (torch.cross(omega.expand_as(q), q, dim=-1) + fit.mean_flow[:, root_slot].unsqueeze(2))
    rv = rigid_velocity(points, flow, weights)
    A = _exclusive_cumsum(rv.omega)
    D = _exclusive_cumsum(rv.mean_flow)
    A_best, A_norm = _largest(A)
    D_best, D_norm = _largest(D)
    a_rev = A_best / (A_norm[..., None] + 1e-9)
    a_pri = D_best / (D_norm[..., None] + 1e-9)
    mass = rv.mass
    centroid = (rv.centroid * mass[..., None]).sum(2) / mass.sum(2).clamp_min(1e-6)[..., None]
    w2 = rv.omega.square().sum(-1)
    num = (w2[..., None] * rv.centroid + torch.cross(rv.omega, rv.mean_flow, dim=-1)).sum(2) + eps * centroid
    pivot = num / (w2.sum(2) + eps)[..., None]
    pivot_rel = (pivot - centroid).clamp(-3.0, 3.0)
    pivot = centroid + pivot_rel
    rev_amounts = (A * a_rev.unsqueeze(2)).sum(-1)
    pri_amounts = (D * a_pri.unsqueeze(2)).sum(-1)
    part_features = torch.cat([A_best, A_norm[..., None], a_rev, D_best, D_norm[..., None], a_pri, pivot_rel], -1)
    frame_features = torch.cat(
        [rev_amounts[..., None], pri_amounts[..., None], A.norm(dim=-1, keepdim=True), D.norm(dim=-1, keepdim=True)]
        + [A, D],
        dim=-1,
    )
    return MotionCues(a_rev, a_pri, pivot, centroid, rev_amounts, pri_amounts, part_features, frame_features)


# --------------------------------------------------------------------------- network
def encoder_forward(net: Sim2ArtNet, points, flow, image) -> tuple[torch.Tensor, torch.Tensor]:
    """SpatioTemporalEncoder.forward before issue 12: build every neighbour's Eq. 1 feature, two
    linear layers on all of them, masked max."""
    enc, cfg = net.encoder, net.cfg
    B, T, N, _ = points.shape
    K, r_t = cfg.num_keypoints, cfg.temporal_radius
    flat = points.reshape(B * T, N, 3)
    fps = cfg.keypoint_sampler == "fps"
    keypoints = gather_points(flat, farthest_point_sample(flat, K) if fps else enc.sample_keypoints(flat))
    values = torch.cat([points] + [x for x in (flow, image) if x is not None], dim=-1)
    t = torch.arange(T, device=points.device)
    groups, masks, offsets = [], [], []
    for o in range(-r_t, r_t + 1):
        src = t + o
        in_range = (src >= 0) & (src < T)
        src = src.clamp(0, T - 1)
        idx, mask, _ = ops.ball_query(keypoints, points[:, src].reshape(B * T, N, 3), cfg.ball_radius,
                                      cfg.num_neighbors)  # fmt: skip
        masks.append(mask & in_range.repeat(B).view(B * T, 1, 1))
        groups.append(gather_points(values[:, src].reshape(B * T, N, -1), idx))
        offsets.append(torch.full_like(mask, o, dtype=points.dtype))
    grp, mask = torch.cat(groups, dim=2), torch.cat(masks, dim=2)
    dt = torch.cat(offsets, dim=2).unsqueeze(-1) / max(r_t, 1)
    S = grp.shape[2]
    feats = [(grp[..., :3] - keypoints.unsqueeze(2)) / cfg.ball_radius, dt]
    col = 3
    if flow is not None:
        nbr = grp[..., col : col + flow.shape[-1]]
        feats += [nbr, ops.masked_mean(nbr, mask, dim=2).unsqueeze(2).expand(-1, -1, S, -1)]
        col += flow.shape[-1]
    if image is not None:
        nbr = grp[..., col:]
        feats += [nbr, ops.masked_mean(nbr, mask, dim=2).unsqueeze(2).expand(-1, -1, S, -1)]
    if cfg.use_frame_fraction:
        feats.append((t.to(points.dtype) / T).repeat(B).view(B * T, 1, 1, 1).expand(-1, K, S, 1))
    x = torch.cat(feats, dim=-1)
    h = F.relu(masked_max(enc.conv2(F.relu(enc.conv1(x))), mask, dim=2))
    tokens = enc.norm(h + enc.mlp(h))
    return keypoints.view(B, T, K, 3), tokens.view(B, T, K, -1)


def flow_features(net: Sim2ArtNet, points, flow, dominant, frames):
    cfg = net.cfg
    if not cfg.use_flow:
        return None
    out = [flow * cfg.flow_scale]
    if dominant is not None:
        omega = dominant.omega[:, 0, frames].unsqueeze(2)
        q = points - dominant.centroid[:, 0, frames].unsqueeze(2)
        field = torch.cross(omega.expand_as(q), q, dim=-1) + dominant.mean_flow[:, 0, frames].unsqueeze(2)
        out.append((flow - field) * cfg.flow_scale)
    return torch.cat(out, dim=-1)


def encode(net: Sim2ArtNet, points, flow, image=None) -> Encoded:
    """Encoder + ``nn.TransformerEncoder`` (the module's own forward)."""
    cfg = net.cfg
    B, T, N, _ = points.shape
    img = net._project_image(image, points)
    ones = points.new_ones(*points.shape[:3], 1)
    dominant = rigid_velocity(points, flow, ones) if cfg.relative_flow else None
    keypoints, tokens = encoder_forward(
        net, points, flow_features(net, points, flow, dominant, torch.arange(T, device=points.device)), img
    )
    K = keypoints.shape[2]
    x = tokens
    if cfg.use_time_encoding:
        gamma = frame_encoding(torch.arange(T, dtype=points.dtype) / T, cfg.pos_encoding_levels)
        x = torch.cat([x, gamma.view(1, T, 1, -1).expand(B, T, K, -1)], dim=-1)
    x = net.token_in(x).reshape(B, T * K, cfg.dim)
    if net.transformer is not None:
        x = net.transformer(x)
    return Encoded(keypoints=keypoints, features=net.token_norm(x).view(B, T, K, cfg.dim), dominant=dominant)


def point_features(net: Sim2ArtNet, enc: Encoded, points, flow, image=None, frames=None) -> torch.Tensor:
    """Propagate the d-dim keypoint features to every point, then the point MLP on the concatenation."""
    cfg = net.cfg
    B, Fq, Q, _ = points.shape
    T, K = enc.keypoints.shape[1:3]
    frames = torch.arange(T, device=points.device) if frames is None else frames
    kp = enc.keypoints[:, frames].reshape(B * Fq, K, 3)
    feats = enc.features[:, frames].reshape(B * Fq, K, cfg.dim)
    prop = inverse_distance_interpolate(points.reshape(B * Fq, Q, 3), kp, feats, cfg.propagation_neighbors)
    point_in = [prop.view(B, Fq, Q, cfg.dim)]
    if cfg.use_flow:
        point_in.append(flow_features(net, points, flow, enc.dominant, frames))
    img = net._project_image(image, points)
    if img is not None:
        point_in.append(img)
    if cfg.use_frame_fraction:
        point_in.append((frames.to(points.dtype) / T).view(1, Fq, 1, 1).expand(B, Fq, Q, 1))
    return net.point_mlp(torch.cat(point_in, dim=-1))


def forward(net: Sim2ArtNet, points, flow, image=None) -> NetworkOutput:
    """Sim2ArtNet.forward before issue 12 (same parameters, straightforward formulas)."""
    cfg = net.cfg
    B, T = points.shape[:2]
    enc = encode(net, points, flow, image)
    f_pt = point_features(net, enc, points, flow, image)
    part_logits = f_pt @ net.queries.t() * cfg.point_dim**-0.5
    moving_logits = net.moving_head(f_pt).squeeze(-1)
    probs = part_logits.softmax(dim=-1)
    mass_t = probs.sum(dim=2).permute(0, 2, 1)
    f_motion = torch.einsum("btqm,btqc->bmtc", probs, f_pt) / mass_t.clamp_min(1e-6)[..., None]
    f_part = (f_motion * mass_t[..., None]).sum(2) / mass_t.sum(2).clamp_min(1e-6)[..., None]
    cues = motion_cues(points, flow, probs.detach()) if cfg.use_motion_cues else None
    part_in = torch.cat([f_part, cues.part_features], dim=-1) if cues is not None else f_part
    motion_in = [f_motion] + ([cues.frame_features] if cues is not None else [])
    if cfg.use_time_encoding:
        gamma = frame_encoding(torch.arange(T, dtype=points.dtype) / T, cfg.pos_encoding_levels)
        motion_in.append(gamma.view(1, 1, T, -1).expand(B, cfg.num_queries, T, -1))
    hp = net.part_head(part_in)
    g = net.geom_out(hp)
    hm = net.amount_out(net.motion_head(torch.cat(motion_in, dim=-1)))
    hm = hm - hm[:, :, :1]
    if cues is not None:
        rev_axis = F.normalize(g[..., 0:3] + cues.revolute_axis, dim=-1)
        pivot = cues.pivot + g[..., 3:6]
        pri_axis = F.normalize(g[..., 6:9] + cues.prismatic_axis, dim=-1)
        rev_amt, pri_amt = cues.revolute_amounts + hm[..., 0], cues.prismatic_amounts + hm[..., 1]
    else:
        rev_axis, pri_axis = F.normalize(g[..., 0:3], dim=-1), F.normalize(g[..., 6:9], dim=-1)
        pivot = soft_centroid(points, probs.detach()) + g[..., 3:6]
        rev_amt, pri_amt = hm[..., 0], hm[..., 1]
    return NetworkOutput(part_logits, moving_logits, net.type_out(hp), rev_axis, pivot, pri_axis, rev_amt, pri_amt,
                         enc.keypoints, enc)  # fmt: skip


class ReferenceModel:
    """The Estimator's model interface (``model(points, flow, image)``, ``point_features``,
    ``part_logits``) on the reference formulas: ``estimator.model = ReferenceModel(estimator.model)``
    gives the Estimator as it ran before issue 12 (benchmarks only)."""

    def __init__(self, net: Sim2ArtNet):
        self.net = net
        self.cfg = net.cfg

    def __call__(self, points, flow, image=None) -> NetworkOutput:
        return forward(self.net, points, flow, image)

    def point_features(self, enc, points, flow, image=None, frames=None) -> torch.Tensor:
        return point_features(self.net, enc, points, flow, image, frames)

    def part_logits(self, f_pt: torch.Tensor) -> torch.Tensor:
        return f_pt @ self.net.queries.t() * self.cfg.point_dim**-0.5
