"""The ground truth of a synthetic sample expressed as an :class:`ArticulationEstimate`.

Used for the ``/articulation_ground_truth`` bag topic and wherever ground truth and predictions should
be handled by the same code. The estimate is in the sample's world frame (``"world"``, the frame of
:func:`sim2art_core.data.to_window.window_from_sample`), with the same stamps as that window.

Conventions follow :class:`~sim2art_core.estimate.JointEstimate`: a joint's axis sign is chosen so
that the amount of largest magnitude is positive (axis and amounts flip together, which describes the
same motion); ``origin`` is the sample's pivot. Every non-root part is reported, also parts that did
not move during the window (``SequenceSample.part_moving`` tells which did). If no part moved the
status is NO_ARTICULATION with a single root part, as an estimator would report it.
"""

from __future__ import annotations

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import prismatic_motion, revolute_motion, rotate_vectors, transform_points
from sim2art_core.types import EstimateStatus, JointType

ESTIMATOR_ID = "ground_truth"


def _part_estimate(label: int, is_root: bool, pts_last: np.ndarray, pts_any: np.ndarray, fallback: np.ndarray):
    pts = pts_last if len(pts_last) else pts_any
    if len(pts):
        lo, hi, c = pts.min(0), pts.max(0), pts.mean(0)
    else:
        lo = hi = c = fallback
    return PartEstimate(label, is_root, len(pts_last), c.astype(np.float64), lo.astype(np.float64),
                        hi.astype(np.float64), 1.0)  # fmt: skip


def _max_displacement(kind: int, axis: np.ndarray, pivot: np.ndarray, amounts: np.ndarray, pts_by_t) -> float:
    """Largest displacement of the part's observed points between any two frames of the window."""
    best = 0.0
    for t, pts in enumerate(pts_by_t):
        if not len(pts):
            continue
        for target in (amounts.min(), amounts.max()):
            d = float(target - amounts[t])
            M = revolute_motion(axis, pivot, d) if kind == JointType.REVOLUTE else prismatic_motion(axis, d)
            best = max(best, float(np.max(np.linalg.norm(transform_points(M, pts) - pts, axis=1))))
    return best


def ground_truth_estimate(sample: SequenceSample, frame_period_s: float = 1.0 / 15.0) -> ArticulationEstimate:
    """The sample's ground truth as an estimate in its world frame (see module doc)."""
    T = sample.num_frames
    stamps = (np.arange(T) * round(frame_period_s * 1e9)).astype(np.int64)
    w_from_c0 = sample.world_from_cam[0]
    pts_w = transform_points(w_from_c0, sample.points.astype(np.float64))  # (T, N, 3)
    labels = sample.labels.astype(np.int16)
    pivots_w = transform_points(w_from_c0, sample.part_pivots.astype(np.float64))
    axes_w = rotate_vectors(w_from_c0, sample.part_axes.astype(np.float64))

    if not sample.part_moving.any():
        root = _part_estimate(0, True, pts_w[-1].reshape(-1, 3), pts_w.reshape(-1, 3), pivots_w[0])
        return ArticulationEstimate(
            status=EstimateStatus.NO_ARTICULATION, frame_id="world", stamps_ns=stamps,
            labels=np.zeros_like(labels), parts=(root,), message="no part moved in this window",
            estimator_id=ESTIMATOR_ID,
        )  # fmt: skip

    parts, joints, motion = [], [], 0.0
    for p in range(sample.num_parts):
        mask = labels == p
        parts.append(_part_estimate(p, p == 0, pts_w[-1][mask[-1]], pts_w[mask], pivots_w[p]))
        if p == 0:
            continue
        kind = JointType(int(sample.part_types[p]))
        axis, amounts = axes_w[p].copy(), sample.part_amounts[p].astype(np.float64)
        if kind != JointType.STATIC and amounts[np.argmax(np.abs(amounts))] < 0:
            axis, amounts = -axis, -amounts
        if kind != JointType.STATIC:
            motion = max(
                motion, _max_displacement(kind, axis, pivots_w[p], amounts, [pts_w[t][mask[t]] for t in range(T)])
            )
        probs = np.zeros(3)
        probs[int(kind)] = 1.0
        joints.append(
            JointEstimate(
                child=p, parent=int(sample.part_parents[p]), type=kind, type_probs=probs, axis=axis,
                origin=pivots_w[p].copy(), amounts=amounts, confidence=1.0, source=ESTIMATOR_ID,
            )
        )  # fmt: skip
    return ArticulationEstimate(
        status=EstimateStatus.OK, frame_id="world", stamps_ns=stamps, labels=labels, parts=tuple(parts),
        joints=tuple(joints), observed_motion=motion, estimator_id=ESTIMATOR_ID,
    )  # fmt: skip
