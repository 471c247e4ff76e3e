"""Validation metrics during training (quick, in the network's normalised frame).

The full evaluation protocol (sim2art_core.eval) runs the Estimator on windows; these
numbers only track learning. Conventions follow ml_methods.md §5: sign-agnostic axis
angle, revolute pivot as the point-to-line distance from the predicted pivot to the
ground-truth axis, part IoU after Hungarian matching on IoU (root included).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from sim2art_core.model.losses import Targets
from sim2art_core.model.network import NetworkOutput
from sim2art_core.types import JointType


def part_iou(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """mIoU over ground-truth parts (all, and moving = non-root) after IoU-Hungarian matching.

    pred, gt: (T, N) int labels (gt < 0 ignored). Unmatched ground-truth parts count 0.
    """
    keep = gt >= 0
    pred, gt = pred[keep], gt[keep]
    g_ids, p_ids = np.unique(gt), np.unique(pred)
    inter = np.array([[np.sum((gt == g) & (pred == p)) for p in p_ids] for g in g_ids], dtype=np.float64)
    union = np.array([[np.sum((gt == g) | (pred == p)) for p in p_ids] for g in g_ids], dtype=np.float64)
    iou = inter / np.maximum(union, 1)
    r, c = linear_sum_assignment(-iou)
    per_part = np.zeros(len(g_ids))
    per_part[r] = iou[r, c]
    nonroot = g_ids != 0
    return float(per_part.mean()), float(per_part[nonroot].mean()) if nonroot.any() else float("nan")


class MetricAccumulator:
    """Collects per-sample metrics over a validation pass; :meth:`summary` averages them."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)

    def add(
        self,
        out: NetworkOutput,
        targets: Targets,
        matches: list[tuple[np.ndarray, np.ndarray]],
        scales: torch.Tensor,
    ) -> None:
        pred = out.part_logits.argmax(-1).cpu().numpy()
        labels = targets.labels.cpu().numpy()
        type_pred = out.type_logits.argmax(-1).cpu().numpy()
        for b, (qs, gs) in enumerate(matches):
            miou, miou_moving = part_iou(pred[b], labels[b])
            self.values["miou"].append(miou)
            if np.isfinite(miou_moving):
                self.values["miou_moving"].append(miou_moving)
            scale = float(scales[b])
            for q, g in zip(qs, gs, strict=True):
                if g == 0:
                    continue
                gt_type = int(targets.types[b, g])
                self.values["type_acc"].append(float(type_pred[b, q] == gt_type))
                rev = gt_type == JointType.REVOLUTE
                axis = (out.revolute_axis if rev else out.prismatic_axis)[b, q].detach().cpu().double().numpy()
                gt_axis = targets.axes[b, g].cpu().double().numpy()
                ang = np.degrees(np.arccos(np.clip(abs(axis @ gt_axis), 0.0, 1.0)))
                self.values["axis_err_deg"].append(float(ang))
                amounts = (out.revolute_amounts if rev else out.prismatic_amounts)[b, q].detach().cpu().numpy()
                err = np.abs(amounts - targets.amounts[b, g].cpu().numpy()).mean()
                if rev:
                    d = out.pivot[b, q].detach().cpu().double().numpy() - targets.pivots[b, g].cpu().double().numpy()
                    self.values["pivot_err_cm"].append(float(np.linalg.norm(np.cross(gt_axis, d)) / scale * 100))
                    self.values["rot_err_deg"].append(float(np.degrees(err)))
                else:
                    self.values["trans_err_cm"].append(float(err / scale * 100))

    def summary(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in sorted(self.values.items()) if v}


METRIC_NAMES = ("miou", "miou_moving", "type_acc", "axis_err_deg", "pivot_err_cm", "rot_err_deg", "trans_err_cm")
