"""Hungarian matching of predicted to ground-truth parts by IoU over all points of all frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class PartMatching:
    """Result of :func:`match_parts`.

    Attributes:
        gt_to_pred: ground-truth part -> matched predicted label (only pairs with IoU > 0).
        ious: (G,) IoU of each ground-truth part with its match; 0 when unmatched.
        gt_present: (G,) the ground-truth part has at least one point (absent parts are not scored).
        iou_matrix: (G, L) IoU of every ground-truth part with every predicted label in ``pred_ids``.
        pred_ids: (L,) the predicted labels (>= 0) that occur.
    """

    gt_to_pred: dict[int, int]
    ious: np.ndarray
    gt_present: np.ndarray
    iou_matrix: np.ndarray
    pred_ids: np.ndarray

    def mean_iou(self, include_root: bool = True) -> float:
        """Mean IoU over the present ground-truth parts (part 0 = root optional); NaN if none."""
        keep = self.gt_present.copy()
        if not include_root:
            keep[0] = False
        return float(np.mean(self.ious[keep])) if keep.any() else float("nan")


def match_parts(
    pred_labels: np.ndarray, gt_labels: np.ndarray, num_gt_parts: int, valid: np.ndarray | None = None
) -> PartMatching:
    """Match predicted parts to ground-truth parts maximising the total IoU (Hungarian, scipy).

    Args:
        pred_labels: (T, N) predicted part label per point; -1 = no part (the point still counts in
            its ground-truth part's union, so unlabelled points lower the IoU).
        gt_labels: (T, N) ground-truth part in [0, num_gt_parts).
        num_gt_parts: G.
        valid: optional (T, N) bool: only these points count (a run-time window's points without
            depth or flow, which no method sees); None = all.

    Every ground-truth part is matched to at most one predicted part and vice versa; a ground-truth
    part left unmatched (fewer predicted parts, or zero overlap) gets IoU 0.
    """
    if np.shape(pred_labels) != np.shape(gt_labels):
        raise ValueError(f"match_parts: label shapes differ: {np.shape(pred_labels)} vs {np.shape(gt_labels)}")
    pred = np.asarray(pred_labels).reshape(-1).astype(np.int64)
    gt = np.asarray(gt_labels).reshape(-1).astype(np.int64)
    if valid is not None:
        if np.shape(valid) != np.shape(gt_labels):
            raise ValueError(f"match_parts: valid mask {np.shape(valid)} != label shape {np.shape(gt_labels)}")
        keep = np.asarray(valid, dtype=bool).reshape(-1)
        pred, gt = pred[keep], gt[keep]
    if gt.size and (gt.min() < 0 or gt.max() >= num_gt_parts):
        raise ValueError(f"match_parts: ground-truth labels must lie in [0, {num_gt_parts})")
    pred_ids = np.unique(pred[pred >= 0])
    G, L = num_gt_parts, len(pred_ids)
    gt_size = np.bincount(gt, minlength=G).astype(float)
    if L == 0:
        return PartMatching({}, np.zeros(G), gt_size > 0, np.zeros((G, 0)), pred_ids)
    col = np.searchsorted(pred_ids, pred)
    labelled = pred >= 0
    inter = np.bincount(gt[labelled] * L + col[labelled], minlength=G * L).reshape(G, L).astype(float)
    pred_size = np.bincount(col[labelled], minlength=L).astype(float)
    union = gt_size[:, None] + pred_size[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    rows, cols = linear_sum_assignment(-iou)
    ious = np.zeros(G)
    gt_to_pred: dict[int, int] = {}
    for r, c in zip(rows, cols, strict=True):
        if iou[r, c] > 0:
            gt_to_pred[int(r)] = int(pred_ids[c])
            ious[r] = iou[r, c]
    return PartMatching(gt_to_pred, ious, gt_size > 0, iou, pred_ids)
