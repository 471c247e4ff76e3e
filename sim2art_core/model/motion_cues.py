"""Closed-form rigid-motion summaries of soft parts' scene flow ("motion cues").

Not in the paper. Regressing axes from pooled features alone learns far too slowly
for a CPU training budget (ml_methods.md §8: the axis stayed at chance after 15 min),
while the flow of a rigid part determines its motion in closed form. So the heads
receive, for every query m, these summaries of the flow of the points softly
assigned to m, and predict axes, pivot and amounts as learned residuals on them.
Everything is computed from the part probabilities *detached* (the cues are inputs,
segmentation is learned by its own losses). Switch: ModelConfig.use_motion_cues.

Per frame t the flow of a rigid part is v = w x (p - c) + u (first order). The
weighted least-squares angular velocity is w = I^-1 L with the part's inertia
tensor I = tr(S) Id - S (S the weighted covariance of the points) and
L = E[p x v] - p_mean x v_mean; the translation of its centroid is v_mean.
Accumulating over frames gives rotation and translation vectors per frame
(A_t = sum_{s<t} w_s, D_t = sum_{s<t} v_mean_s) whose largest one fixes the axis
and its sign with the convention of the targets (largest amount positive), and
A_t . a, D_t . a the amounts. The pivot is the |w|^2-weighted mean over frames of
p_mean + w x v_mean / |w|^2 (the foot of the axis from the centroid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

PART_CUE_DIM = 17
FRAME_CUE_DIM = 10


@dataclass
class RigidVelocity:
    """Per soft part and frame. Shapes: B batch, M parts, T frames (normalised units, rad/frame)."""

    mass: torch.Tensor  # (B, M, T) sum of weights
    centroid: torch.Tensor  # (B, M, T, 3)
    mean_flow: torch.Tensor  # (B, M, T, 3) centroid velocity
    omega: torch.Tensor  # (B, M, T, 3) angular velocity (rad per frame), right-handed


class Products(NamedTuple):
    """Per-point terms of the rigid fits that do not depend on the weights (:func:`products`).

    outer: (B, T, N, 3, 3) p p^T; p_cross_v: (B, T, N, 3) p x v; aug: (B*T, N, 7) [p, 1, v], the
    rows of the residuals' one matmul (:func:`_residual_sq`).
    """

    outer: torch.Tensor
    p_cross_v: torch.Tensor
    aug: torch.Tensor


def products(points: torch.Tensor, flow: torch.Tensor, outer: torch.Tensor | None = None) -> Products:
    """The weight-free terms of :func:`rigid_velocity` for points and flow (B, T, N, 3): built once
    for all its reweighted fits, and shared by fits of the same points (``outer`` depends on the
    points only: pass the one already built)."""
    B, T, N, _ = points.shape
    if outer is None:
        outer = points.unsqueeze(-1) * points.unsqueeze(-2)
    aug = torch.cat([points, points.new_ones(B, T, N, 1), flow], dim=-1).reshape(B * T, N, 7)
    return Products(outer, torch.cross(points, flow, dim=-1), aug)


def _wsum3(weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_n weights[b, t, n, m] x[b, t, n, i] for 3-channel x (B, T, N, 3): (B, M, T, 3).

    The einsum "btnm,btni->bmti" as the batched matmul x^T w ((3, N) x (N, M) per frame), not the
    einsum's w^T x: the same values bitwise with the torch CPU wheel's BLAS (test_fast_forward.py)
    and ~5x faster on CPU at N = 1024, M = 20 (an output of 3 columns is a slow case of its gemm).
    Only for 3 channels: the 9-channel second moment kept its einsum, whose rounding differs.
    """
    B, T, N, M = weights.shape
    out = torch.bmm(x.reshape(B * T, N, 3).transpose(1, 2), weights.reshape(B * T, N, M))  # (BT, 3, M)
    # laid out in memory as the einsum's result, (B, T, M, 3): later reductions over T then add in
    # the same order (a different layout changed the pivot in its last bit)
    return out.transpose(1, 2).contiguous().view(B, T, M, 3).permute(0, 2, 1, 3)


def _weighted_fit(
    points: torch.Tensor,
    flow: torch.Tensor,
    weights: torch.Tensor,
    eps: float,
    prods: Products | None = None,
) -> RigidVelocity:
    # The fit is ill-conditioned for small parts (cov = E[pp^T] - c c^T); each weighted sum keeps its
    # rounding (fusing them into one matmul changed outputs by up to 1e-2 through rounding).
    outer, p_cross_v, _ = products(points, flow) if prods is None else prods
    mass = weights.sum(dim=2).permute(0, 2, 1)  # (B, M, T)
    inv = 1.0 / mass.clamp_min(eps)
    centroid = _wsum3(weights, points) * inv[..., None]
    mean_flow = _wsum3(weights, flow) * inv[..., None]
    second = torch.einsum("btnm,btnij->bmtij", weights, outer) * inv[..., None, None]
    cov = second - centroid.unsqueeze(-1) * centroid.unsqueeze(-2)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    inertia = trace[..., None, None] * eye - cov
    momentum = _wsum3(weights, p_cross_v) * inv[..., None]
    momentum = momentum - torch.cross(centroid, mean_flow, dim=-1)
    # Ridge term: a part reduced to a point or a line has no (or a 1-D) rotation; the fit
    # then returns the minimum-norm angular velocity instead of blowing up.
    reg = (1e-3 * trace + 1e-6)[..., None, None] * eye
    omega = torch.linalg.solve(inertia + reg, momentum.unsqueeze(-1)).squeeze(-1)
    return RigidVelocity(mass=mass, centroid=centroid, mean_flow=mean_flow, omega=omega)


def _skew_t(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) transposed cross-product matrices: p @ _skew_t(w) = w x p (rows)."""
    x, y, z = w.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, z, -y, -z, zero, x, y, -x, zero], dim=-1).view(*w.shape, 3)


def _residual_sq(
    points: torch.Tensor, flow: torch.Tensor, fit: RigidVelocity, aug: torch.Tensor | None = None
) -> torch.Tensor:
    """|v - (w_m x (p - c_m) + v_m)|^2 of every point under every part's motion: (B, T, N, M).

    One batched matmul gives every residual vector: rows [p, 1, v] (``aug``, (B*T, N, 7)) times, per
    part m and axis j, the column [skew(w_m)^T e_j; offset_mj; -e_j] (offset = v_m - w_m x c_m).
    The BLAS accumulates k in order, so each entry is ((p.s + offset) - v_j), bitwise the
    (p.s) + offset - v of the broadcast ops this replaced (test_fast_forward.py; the +0 / -v_j terms
    are exact); the columns ordered (j, m) make the xyz sum three contiguous slices. ~2.5x faster on
    CPU than the broadcast add and subtract over (..., M, 3).
    """
    B, M, T, _ = fit.omega.shape
    N = points.shape[2]
    if aug is None:
        aug = torch.cat([points, points.new_ones(B, T, N, 1), flow], dim=-1).reshape(B * T, N, 7)
    S = _skew_t(fit.omega).permute(0, 2, 3, 4, 1)  # (B, T, 3 k, 3 j, M)
    offset = (fit.mean_flow - torch.cross(fit.omega, fit.centroid, dim=-1)).permute(0, 2, 3, 1)  # (B, T, 3 j, M)
    neg_eye = -torch.eye(3, dtype=points.dtype, device=points.device)
    cols = torch.cat([S, offset.unsqueeze(2), neg_eye.view(1, 1, 3, 3, 1).expand(B, T, 3, 3, M)], dim=2)
    sq = torch.bmm(aug, cols.reshape(B * T, 7, 3 * M)).view(B, T, N, 3, M).square_()
    # the sum over xyz written out: the same (x + y) + z as .sum(-2)
    return torch.add(sq[..., 0, :], sq[..., 1, :]).add_(sq[..., 2, :])


@torch.no_grad()
def rigid_velocity(
    points: torch.Tensor,
    flow: torch.Tensor,
    weights: torch.Tensor,
    robust_iters: int = 2,
    eps: float = 1e-6,
    prods: Products | None = None,
) -> RigidVelocity:
    """Weighted least-squares rigid velocity of every soft part in every frame.

    Args:
        points: (B, T, N, 3); flow: (B, T, N, 3) displacement t -> t+1; weights: (B, T, N, M) >= 0.
        robust_iters: iteratively reweighted refits with Cauchy weights 1 / (1 + (r / s)^2), s the
            part's RMS flow residual in that frame, so a few gross flow errors (outliers of a real
            flow estimator) do not tilt the fit.
        prods: :func:`products` of these points and flow, when the caller already has them.
    """
    prods = products(points, flow) if prods is None else prods
    fit = _weighted_fit(points, flow, weights, eps, prods)
    mass = weights.sum(dim=2, keepdim=True).clamp_min(eps)  # (B, T, 1, M)
    for _ in range(robust_iters):
        r2 = _residual_sq(points, flow, fit, prods.aug)  # (B, T, N, M)
        s2 = (weights * r2).sum(dim=2, keepdim=True) / mass + 1e-8  # (B, T, 1, M)
        fit = _weighted_fit(points, flow, weights / r2.div_(s2).add_(1.0), eps, prods)
    return fit


@dataclass
class MotionCues:
    """Cues per part (B, M, .) and per part and frame (B, M, T, .), normalised units."""

    revolute_axis: torch.Tensor  # (B, M, 3) unit direction of the largest accumulated rotation
    prismatic_axis: torch.Tensor  # (B, M, 3) unit direction of the largest accumulated translation
    pivot: torch.Tensor  # (B, M, 3) flow-derived point on the rotation axis
    centroid: torch.Tensor  # (B, M, 3) mean of the part's points over all frames
    revolute_amounts: torch.Tensor  # (B, M, T) A_t . revolute_axis (rad)
    prismatic_amounts: torch.Tensor  # (B, M, T) D_t . prismatic_axis
    part_features: torch.Tensor  # (B, M, PART_CUE_DIM)
    frame_features: torch.Tensor  # (B, M, T, FRAME_CUE_DIM)


def _largest(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The entry of largest norm along T of (B, M, T, 3) and that norm."""
    norms = v.norm(dim=-1)  # (B, M, T)
    idx = norms.argmax(dim=-1)  # (B, M)
    best = torch.gather(v, 2, idx[..., None, None].expand(*idx.shape, 1, 3)).squeeze(2)
    return best, norms.amax(dim=-1)


def _exclusive_cumsum(x: torch.Tensor) -> torch.Tensor:
    """out[..., t, :] = sum_{s<t} x[..., s, :] along dim -2."""
    return torch.cumsum(x, dim=-2) - x


def _velocity_field(fit: RigidVelocity, points: torch.Tensor, slot: int) -> torch.Tensor:
    """(B, T, N, 3) flow the rigid motion of ``slot`` gives every point."""
    omega = fit.omega[:, slot].unsqueeze(2)  # (B, T, 1, 3)
    q = points - fit.centroid[:, slot].unsqueeze(2)
    return torch.cross(omega.expand_as(q), q, dim=-1) + fit.mean_flow[:, slot].unsqueeze(2)


@torch.no_grad()
def motion_cues(
    points: torch.Tensor,
    flow: torch.Tensor,
    weights: torch.Tensor,
    root_slot: int | None = 0,
    eps: float = 1e-4,
    prods: Products | None = None,
) -> MotionCues:
    """Motion cues of every soft part (see the module doc). Inputs as :func:`rigid_velocity`
    (``prods``: :func:`products` of ``points`` and ``flow``, when the caller has them).

    With ``root_slot`` the flow is first made relative to that part's rigid motion (the root,
    query slot 0): a joint is the child's motion relative to its parent, and camera-pose errors
    that move the whole scene between frames cancel.
    """
    prods = products(points, flow) if prods is None else prods
    if root_slot is not None:
        flow = flow - _velocity_field(rigid_velocity(points, flow, weights, prods=prods), points, root_slot)
        prods = products(points, flow, outer=prods.outer)  # p p^T does not depend on the flow
    rv = rigid_velocity(points, flow, weights, prods=prods)
    A = _exclusive_cumsum(rv.omega)  # (B, M, T, 3) accumulated rotation vector
    D = _exclusive_cumsum(rv.mean_flow)  # accumulated centroid translation
    A_best, A_norm = _largest(A)
    D_best, D_norm = _largest(D)
    a_rev = A_best / (A_norm[..., None] + 1e-9)
    a_pri = D_best / (D_norm[..., None] + 1e-9)
    mass = rv.mass
    centroid = (rv.centroid * mass[..., None]).sum(2) / mass.sum(2).clamp_min(1e-6)[..., None]
    w2 = rv.omega.square().sum(-1)  # (B, M, T)
    num = (w2[..., None] * rv.centroid + torch.cross(rv.omega, rv.mean_flow, dim=-1)).sum(2) + eps * centroid
    pivot = num / (w2.sum(2) + eps)[..., None]
    pivot_rel = (pivot - centroid).clamp(-3.0, 3.0)
    pivot = centroid + pivot_rel
    rev_amounts = (A * a_rev.unsqueeze(2)).sum(-1)
    pri_amounts = (D * a_pri.unsqueeze(2)).sum(-1)
    part_features = torch.cat(
        [A_best, A_norm[..., None], a_rev, D_best, D_norm[..., None], a_pri, pivot_rel], dim=-1
    )  # 3+1+3+3+1+3+3 = PART_CUE_DIM
    frame_features = torch.cat(
        [rev_amounts[..., None], pri_amounts[..., None], A.norm(dim=-1, keepdim=True), D.norm(dim=-1, keepdim=True)]
        + [A, D],
        dim=-1,
    )  # 1+1+1+1+3+3 = FRAME_CUE_DIM
    return MotionCues(
        revolute_axis=a_rev,
        prismatic_axis=a_pri,
        pivot=pivot,
        centroid=centroid,
        revolute_amounts=rev_amounts,
        prismatic_amounts=pri_amounts,
        part_features=part_features,
        frame_features=frame_features,
    )


def soft_centroid(points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, M, 3) weighted mean over all frames and points of each soft part."""
    mass = weights.sum(dim=(1, 2)).clamp_min(1e-6)
    return torch.einsum("btnm,btni->bmi", weights, points) / mass[..., None]
