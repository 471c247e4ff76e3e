"""Training targets, Hungarian matching and the losses of paper §3.6 (Eq. 6-11).

Deviations from the paper, all documented in docs/MODEL.md:

* Query slot 0 is always the static root part (ground-truth part 0); the Hungarian
  algorithm matches slots 1..M-1 to the other parts. This fixed the base/moving
  confusion in early experiments (ml_methods.md §8).
* Unmatched queries get the target "static" in the type loss with weight
  ``LossConfig.unmatched_type`` (DETR's no-object class): at inference a non-root
  query predicted static is "not a moving part".
* Amounts are in rad (revolute) and normalised units (prismatic) instead of degrees
  and centimetres, which keeps the L1 terms of the same order as the others.
* An auxiliary per-point "moving / static" BCE (LossConfig.moving).
* The axis of a part that did not move during the window cannot be signed from the
  video; its axis loss is sign-agnostic.

The BCE of Eq. 6 is computed on the softmax probabilities (the model predicts a
softmax over M queries per point, not per-query sigmoids as Mask2Former).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from sim2art_core.model.config import LossConfig
from sim2art_core.model.network import NetworkOutput
from sim2art_core.types import JointType

_EPS = 1e-6


@dataclass
class Targets:
    """Ground truth of a batch in normalised units. P = most parts of any sample in the batch.

    Attributes:
        labels: (B, T, N) int64 part index per point, -1 = ignore.
        part_valid: (B, P) bool, False for padding parts.
        types: (B, P) int64 JointType.
        axes: (B, P, 3) unit axes, sign such that the largest |amount| is positive.
        pivots: (B, P, 3) points on revolute axes (normalised coordinates).
        amounts: (B, P, T) rad (revolute) | normalised units (prismatic), amounts[..., 0] = 0.
        moving: (B, P) bool, the part moved noticeably during the window.
    """

    labels: torch.Tensor
    part_valid: torch.Tensor
    types: torch.Tensor
    axes: torch.Tensor
    pivots: torch.Tensor
    amounts: torch.Tensor
    moving: torch.Tensor

    def to(self, device: torch.device | str) -> Targets:
        return Targets(**{k: v.to(device) for k, v in vars(self).items()})


def _pairwise_mask_costs(prob: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE and Dice between every target mask and every predicted mask.

    prob (n, M) predicted probabilities, onehot (n, G) targets -> two (G, M) matrices.
    """
    n = prob.shape[0]
    p = prob.clamp(_EPS, 1 - _EPS)
    pos, neg = torch.log(p), torch.log1p(-p)
    bce = -(onehot.t() @ pos + (1 - onehot).t() @ neg) / n
    inter = onehot.t() @ prob
    dice = 1 - (2 * inter + 1) / (onehot.sum(0)[:, None] + prob.sum(0)[None, :] + 1)
    return bce, dice


@torch.no_grad()
def match_parts(probs: torch.Tensor, targets: Targets, cfg: LossConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Hungarian matching of queries to ground-truth parts with cost w_BCE*BCE + w_Dice*Dice.

    Args:
        probs: (B, T, N, M) per-point part probabilities.

    Returns:
        Per sample (query indices, part indices), both int64 arrays of equal length. Query 0
        is paired with part 0 (the root) whenever part 0 has points; parts without any point
        in the window are left unmatched.
    """
    B, M = probs.shape[0], probs.shape[-1]
    result = []
    for b in range(B):
        lab = targets.labels[b].reshape(-1)
        keep = lab >= 0
        prob = probs[b].reshape(-1, M)[keep].float()
        P = targets.part_valid.shape[1]
        onehot = F.one_hot(lab[keep], P).float()
        present = (onehot.sum(0) > 0) & targets.part_valid[b]
        gt = torch.nonzero(present).flatten().cpu().numpy()
        bce, dice = _pairwise_mask_costs(prob, onehot[:, present])
        cost = (cfg.mask_bce * bce + cfg.mask_dice * dice).cpu().numpy()  # (G, M)
        q_idx, g_idx = [], []
        rows = np.arange(len(gt))
        if len(gt) and gt[0] == 0:  # the root is fixed to slot 0
            q_idx.append(0)
            g_idx.append(0)
            rows = rows[1:]
        if len(rows):
            r, c = linear_sum_assignment(cost[rows][:, 1:])
            q_idx += list(c + 1)
            g_idx += list(gt[rows[r]])
        result.append((np.asarray(q_idx, dtype=np.int64), np.asarray(g_idx, dtype=np.int64)))
    return result


def _angle(a: torch.Tensor, b: torch.Tensor, signed: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (rad) between unit vectors (Eq. 8); sign-agnostic where ``signed`` is False."""
    c = (a * b).sum(-1)
    c = torch.where(signed, c, c.abs())
    return torch.arccos(c.clamp(-1 + 1e-6, 1 - 1e-6))


def compute_losses(
    out: NetworkOutput, targets: Targets, cfg: LossConfig, matches: list[tuple[np.ndarray, np.ndarray]] | None = None
) -> tuple[torch.Tensor, dict[str, float], list[tuple[np.ndarray, np.ndarray]]]:
    """Total loss (Eq. 11 plus the auxiliary term), its parts as floats, and the matching."""
    probs = out.part_probs
    if matches is None:
        matches = match_parts(probs, targets, cfg)
    B, T, N, M = probs.shape
    dev = probs.device
    mask_terms, axis_terms, pivot_terms, amount_terms = [], [], [], []
    type_target = torch.full((B, M), int(JointType.STATIC), dtype=torch.long, device=dev)
    type_weight = torch.full((B, M), cfg.unmatched_type, device=dev)
    for b, (qi, gi) in enumerate(matches):
        if len(qi) == 0:
            continue
        q = torch.as_tensor(qi, device=dev)
        g = torch.as_tensor(gi, device=dev)
        lab = targets.labels[b].reshape(-1)
        keep = lab >= 0
        prob = probs[b].reshape(-1, M)[keep][:, q].clamp(_EPS, 1 - _EPS)  # (n, G)
        tgt = (lab[keep][:, None] == g[None, :]).float()
        bce = -(tgt * prob.log() + (1 - tgt) * (1 - prob).log()).mean(0)
        dice = 1 - (2 * (tgt * prob).sum(0) + 1) / (tgt.sum(0) + prob.sum(0) + 1)
        mask_terms.append(cfg.mask_bce * bce + cfg.mask_dice * dice)
        type_target[b, q] = targets.types[b, g]
        type_weight[b, q] = 1.0
        nonroot = g != 0
        q, g = q[nonroot], g[nonroot]
        if len(g) == 0:
            continue
        types = targets.types[b, g]
        rev = types == JointType.REVOLUTE
        pri = types == JointType.PRISMATIC
        movable = rev | pri
        axis_pred = torch.where(rev[:, None], out.revolute_axis[b, q], out.prismatic_axis[b, q])
        ang = _angle(axis_pred, targets.axes[b, g], targets.moving[b, g])
        axis_terms.append(ang[movable])
        if rev.any():
            a = targets.axes[b, g][rev]
            d = out.pivot[b, q][rev] - targets.pivots[b, g][rev]
            pivot_terms.append(torch.sqrt(torch.cross(a, d, dim=-1).square().sum(-1) + 1e-9))
        amt_pred = torch.where(rev[:, None], out.revolute_amounts[b, q], out.prismatic_amounts[b, q])
        amount_terms.append((amt_pred - targets.amounts[b, g]).abs().mean(-1)[movable])
    zero = probs.sum() * 0.0

    def mean(terms: list[torch.Tensor]) -> torch.Tensor:
        terms = [t for t in terms if t.numel()]
        return torch.cat(terms).mean() if terms else zero

    l_mask = mean(mask_terms)
    ce = F.cross_entropy(out.type_logits.reshape(-1, 3), type_target.reshape(-1), reduction="none")
    l_type = (ce * type_weight.reshape(-1)).sum() / type_weight.sum()
    l_axis, l_pivot, l_amount = mean(axis_terms), mean(pivot_terms), mean(amount_terms)
    valid_pts = targets.labels >= 0
    gt_moving = torch.gather(targets.moving, 1, targets.labels.clamp_min(0).reshape(B, -1)).reshape(B, T, N)
    gt_moving = gt_moving & (targets.labels > 0)
    l_moving = F.binary_cross_entropy_with_logits(out.moving_logits[valid_pts], gt_moving[valid_pts].float())
    total = (
        l_mask + cfg.joint_type * l_type + cfg.axis * l_axis + cfg.pivot * l_pivot + cfg.amount * l_amount
        + cfg.moving * l_moving
    )  # fmt: skip
    parts = {
        "loss": float(total.detach()),
        "mask": float(l_mask.detach()),
        "type": float(l_type.detach()),
        "axis": float(l_axis.detach()),
        "pivot": float(l_pivot.detach()),
        "amount": float(l_amount.detach()),
        "moving": float(l_moving.detach()),
    }
    return total, parts, matches
