"""Point-cloud operators in pure PyTorch (CPU and GPU, no compiled extension).

Written by hand because the reference implementations (pointnet2 ``_ext_src``, used by
PSTNet / P4Transformer) are CUDA-only, and pytorch3d / torch-cluster need wheels built
for a matching torch. Two quirks of those CUDA kernels are deliberately NOT copied
(docs/MODEL.md, ml_methods.md §2.4):

* their farthest point sampling never picks points with |p|^2 <= 1e-3 (bad for
  coordinates centred in [-1, 1]); ours treats every point alike;
* their ball query returns the first k points in index order and silently groups
  point 0 when a ball is empty; ours returns the k *nearest* points and a mask that is
  False for neighbours outside the radius, so callers can ignore them.

Shapes: B batch (often batch x frames flattened), N points, K centres, k neighbours.
"""

from __future__ import annotations

import torch


def gather_points(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick rows of ``values`` (B, N, C) with ``index`` (B, ...) -> (B, ..., C).

    One ``index_select`` on the flattened rows (about twice as fast on CPU as the equivalent
    advanced indexing ``values[arange(B)[:, None], index]``, and the same values).
    """
    B, N, C = values.shape
    offset = torch.arange(B, device=values.device).mul_(N).view(B, *([1] * (index.dim() - 1)))
    return values.reshape(B * N, C).index_select(0, (index + offset).reshape(-1)).view(*index.shape, C)


def square_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared distances (B, P, Q) of a (B, P, 3) and b (B, Q, 3).

    |a|^2 + |b|^2 - 2 a.b with one batched matmul: cheaper than ``cdist(a, b) ** 2`` on CPU
    (no square root); clamped at 0 against rounding.
    """
    aa = a.square().sum(-1, keepdim=True)
    bb = b.square().sum(-1).unsqueeze(1)
    return torch.baddbmm(aa, a, b.transpose(1, 2), alpha=-2.0).add_(bb).clamp_min_(0.0)


def farthest_point_sample(points: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Farthest point sampling.

    Args:
        points: (B, N, 3).
        num_samples: K <= N.

    Returns:
        (B, K) int64 indices. The first sample is the point farthest from the cloud's
        centroid, so the result does not depend on the order of the points (up to ties).
    """
    B, N, _ = points.shape
    if not 0 < num_samples <= N:
        raise ValueError(f"farthest_point_sample: need 0 < K <= N, got K={num_samples}, N={N}")
    pts = points.detach()
    centroid = pts.mean(dim=1, keepdim=True)
    current = ((pts - centroid) ** 2).sum(-1).argmax(dim=1)  # (B,)
    index = torch.empty(B, num_samples, dtype=torch.long, device=points.device)
    min_d2 = torch.full((B, N), float("inf"), device=points.device, dtype=pts.dtype)
    offset = torch.arange(B, device=points.device) * N
    sq = pts.square().sum(-1)  # (B, N)
    # |p - c|^2 = |p|^2 + |c|^2 - 2 p.c, accumulated elementwise as
    # (((|p|^2 + |c|^2) + (-2 p_x) c_x) + (-2 p_y) c_y) + (-2 p_z) c_z: a product, then a sum, never fused,
    # in xyz order. That is bitwise what the (B, N, 3) x (B, 3, 1) baddbmm this loop used before
    # computes with the torch CPU wheel's BLAS for B >= 2 (checked in test_fast_forward.py; the same
    # keypoints), at ~2.5x less time per iteration (a batched mat-vec with k = 3 is mostly call
    # overhead). |c|^2 and c come from one row lookup.
    m2p = (pts * -2.0).permute(2, 0, 1).contiguous()  # (3, B, N)
    table = torch.cat([pts.reshape(B * N, 3), sq.reshape(B * N, 1)], dim=1)  # (B*N, 4): c, |c|^2
    d2 = torch.empty_like(min_d2)
    prod = torch.empty_like(min_d2)
    for i in range(num_samples):
        index[:, i] = current
        c = table.index_select(0, current + offset).unsqueeze(-1)  # (B, 4, 1)
        torch.add(sq, c[:, 3], out=d2)
        for j in range(3):
            d2.add_(torch.mul(m2p[j], c[:, j], out=prod))
        torch.minimum(min_d2, d2, out=min_d2)
        current = min_d2.argmax(dim=1)
    return index


def random_sample(points: torch.Tensor, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """K distinct random indices per batch row (B, K); cheaper than FPS, less even."""
    B, N, _ = points.shape
    if not 0 < num_samples <= N:
        raise ValueError(f"random_sample: need 0 < K <= N, got K={num_samples}, N={N}")
    keys = torch.rand(B, N, generator=generator, device=points.device)
    return keys.topk(num_samples, dim=1).indices


def ball_query(
    centers: torch.Tensor, points: torch.Tensor, radius: float, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k nearest points of each centre, with a mask of those inside ``radius``.

    Args:
        centers: (B, K, 3).
        points: (B, N, 3).
        radius: ball radius (same units as the points).
        k: neighbours per centre; if N < k, the missing slots are masked out.

    Returns:
        index (B, K, k) int64 into ``points`` (nearest first), mask (B, K, k) bool (True:
        inside the ball; False entries must be ignored by the caller), and squared
        distances (B, K, k).
    """
    N = points.shape[1]
    d2 = square_distance(centers, points)
    kk = min(k, N)
    dist2, index = d2.topk(kk, dim=-1, largest=False)
    if kk < k:  # pad with masked copies of the nearest point
        pad = k - kk
        index = torch.cat([index, index[..., :1].expand(*index.shape[:-1], pad)], dim=-1)
        dist2 = torch.cat([dist2, torch.full_like(dist2[..., :1], float("inf")).expand(*dist2.shape[:-1], pad)], -1)
    mask = dist2 <= radius * radius
    return index, mask, dist2


def inverse_distance_interpolate(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, k: int = 3, eps: float = 1e-8
) -> torch.Tensor:
    """Paper Eq. 3: inverse-squared-distance weighted mean over the k nearest keys.

    Args:
        query: (B, Q, 3) points that receive values.
        keys: (B, K, 3) points that carry values.
        values: (B, K, C).
        k: nearest keys used (clipped to K).

    Returns:
        (B, Q, C). A query that coincides with a key gets (almost exactly) that key's value.
    """
    return torch.bmm(inverse_distance_weights(query, keys, k, eps), values)


def inverse_distance_weights(query: torch.Tensor, keys: torch.Tensor, k: int = 3, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 3's weights as a dense (B, Q, K) matrix: row q holds 1/(d^2 + eps) of its k nearest
    keys, normalised to sum 1, and 0 elsewhere. ``weights @ values`` is the interpolation: one
    batched matmul instead of gathering k rows of C channels per query (about 2x faster on CPU),
    and a linear layer on the result can be applied to the K keys' values first.
    """
    kk = min(k, keys.shape[1])
    # topk, not k passes of min (1.7x faster for k = 3 of 64): quantised depth gives exact ties
    # in distance, and topk's choice among them is the one the model was trained with.
    dist2, index = square_distance(query, keys).topk(kk, dim=-1, largest=False)
    w = 1.0 / (dist2 + eps)
    w = w / w.sum(dim=-1, keepdim=True)
    return torch.zeros(*query.shape[:2], keys.shape[1], dtype=w.dtype, device=w.device).scatter_(-1, index, w)


def masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` ignoring entries where ``mask`` is False (all-False rows give 0)."""
    neg = torch.finfo(x.dtype).min
    out = x.masked_fill(~mask.unsqueeze(-1), neg).amax(dim=dim)
    any_valid = mask.any(dim=dim).unsqueeze(-1)
    return torch.where(any_valid, out, torch.zeros_like(out))


def masked_max_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor | None, dim: int
) -> torch.Tensor:
    """``masked_max(F.linear(x, weight, bias), mask, dim)`` with less memory traffic.

    The bias is the same for every entry along ``dim``, so it is added after the max
    (max_s(x_s W + b) = max_s(x_s W) + b); the masked entries of the fresh ``x W`` are filled in
    place (``x W`` is not saved for backward, so autograd allows it). One (..., S, C_out) buffer
    instead of three. All-masked rows give 0, as in :func:`masked_max`; ``mask=None``: nothing masked.
    """
    y = torch.matmul(x, weight.t())
    if mask is None:
        out = y.amax(dim=dim)
        return out if bias is None else out + bias
    y.masked_fill_(~mask.unsqueeze(-1), torch.finfo(y.dtype).min)
    out = y.amax(dim=dim)
    if bias is not None:
        out = out + bias
    any_valid = mask.any(dim=dim).unsqueeze(-1)
    return torch.where(any_valid, out, torch.zeros_like(out))


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean over ``dim`` of entries where ``mask`` is True (all-False rows give 0)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=dim) / m.sum(dim=dim).clamp_min(1.0)
