"""Joint-level metrics on plain arrays (paper §4.2; conventions: docs/EVALUATION.md).

These functions know nothing about samples, labels or ROS: the sample evaluation
(:mod:`sim2art_core.metrics.sample`) and the bag evaluation (which decodes joints from messages and has
no per-point labels) both call :func:`evaluate_joint`.

Conventions (all sign-agnostic where the sign is arbitrary):

* axis angle (deg): arccos(clip(|a_p . a_g|, 0, 1)), both axes normalised.
* axis position (cm), revolute only: distance from the ground-truth pivot to the predicted axis line
  (the paper's point-to-line). Also reported: the line-to-line distance of the two axes, falling back
  to point-to-line when they are (nearly) parallel - never 0 for parallel, offset axes.
* prismatic joints have no position error (NaN, excluded from averages).
* part rotation (deg, revolute) / part translation (cm, prismatic): mean over frames 1..T-1 of
  |s x pred_amount - gt_amount| with s = sign(a_p . a_g): the predicted axis sign is resolved before
  comparing amounts. A prediction of another type contributes zero motion of this kind.
  The full-motion variants (geodesic angle between the predicted and true relative rotations; distance
  between the predicted and true translation vectors) are reported alongside.
* a missed joint (no prediction, or non-finite values) gets documented worst-case values
  (:class:`WorstCase`): 90 deg, 100 cm, zero predicted motion, wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim2art_core.geometry import point_line_distance, rotation_about_axis, unit
from sim2art_core.types import JointType

#: Below this angle (rad) two axes count as parallel for the line-to-line distance (as in Ditto).
PARALLEL_TOL_RAD = 1e-3


@dataclass(frozen=True)
class JointParams:
    """One joint as plain arrays, in a common frame (m, rad).

    Attributes:
        type: joint type.
        axis: (3,) axis direction (need not be unit; zero = no axis).
        pivot: (3,) m, a point on the axis (prismatic: any point, unused by the metrics).
        amounts: (T,) rad | m joint amount per frame relative to frame 0, along/about +axis.
    """

    type: JointType
    axis: np.ndarray
    pivot: np.ndarray
    amounts: np.ndarray

    @classmethod
    def from_estimate(cls, joint) -> JointParams:
        """From a :class:`sim2art_core.estimate.JointEstimate` (its origin is the pivot)."""
        return cls(JointType(joint.type), np.asarray(joint.axis), np.asarray(joint.origin), np.asarray(joint.amounts))

    def is_finite(self) -> bool:
        return bool(
            np.all(np.isfinite(self.axis)) and np.all(np.isfinite(self.pivot)) and np.all(np.isfinite(self.amounts))
        )


@dataclass(frozen=True)
class WorstCase:
    """Values a missed or invalid predicted joint gets, so averages are not biased by skipping it.

    Attributes:
        axis_angle_deg: the largest sign-agnostic axis error.
        axis_position_cm: iTACO's failure value (1 m).
    """

    axis_angle_deg: float = 90.0
    axis_position_cm: float = 100.0


@dataclass(frozen=True)
class JointErrors:
    """Errors of one ground-truth joint. NaN marks a metric that does not apply to its type.

    Attributes:
        gt_type: ground-truth type.
        pred_type: predicted type, None when the joint was missed.
        status: "ok", "missed" (no predicted joint) or "invalid" (non-finite prediction).
        axis_angle_deg: sign-agnostic axis angle error; NaN for a static GT joint.
        axis_position_cm: GT pivot to predicted axis line; NaN unless GT is revolute.
        axis_line_distance_cm: line-to-line distance (parallel fallback: point-to-line); NaN unless revolute.
        part_rotation_deg: mean |s pred - gt| rotation amount; NaN unless GT is revolute.
        part_translation_cm: mean |s pred - gt| translation amount; NaN unless GT is prismatic.
        part_rotation_geodesic_deg: mean geodesic angle between predicted and GT relative rotations
            (includes the axis error); NaN unless GT is revolute.
        part_translation_vector_cm: mean |d_p a_p - d_g a_g|; NaN unless GT is prismatic.
        type_correct: predicted type == GT type (a missed joint counts as STATIC).
        gt_part: the ground-truth part index (-1 when not set by the caller).
    """

    gt_type: JointType
    pred_type: JointType | None
    status: str
    axis_angle_deg: float
    axis_position_cm: float
    axis_line_distance_cm: float
    part_rotation_deg: float
    part_translation_cm: float
    part_rotation_geodesic_deg: float
    part_translation_vector_cm: float
    type_correct: bool
    gt_part: int = -1


def axis_angle_error_deg(pred_axis: np.ndarray, gt_axis: np.ndarray) -> float:
    """Sign-agnostic angle (deg, [0, 90]) between two axes; a zero axis gives 90."""
    c = abs(float(unit(pred_axis) @ unit(gt_axis)))
    return float(np.degrees(np.arccos(np.clip(c, 0.0, 1.0))))


def point_to_line_cm(gt_pivot: np.ndarray, pred_pivot: np.ndarray, pred_axis: np.ndarray) -> float:
    """Distance (cm) from the ground-truth pivot to the predicted axis line (the paper's metric)."""
    return 100.0 * float(point_line_distance(np.asarray(gt_pivot, float), pred_pivot, pred_axis))


def line_to_line_cm(
    pred_pivot: np.ndarray,
    pred_axis: np.ndarray,
    gt_pivot: np.ndarray,
    gt_axis: np.ndarray,
    parallel_tol_rad: float = PARALLEL_TOL_RAD,
) -> float:
    """Distance (cm) between the predicted and ground-truth axis lines.

    Skew lines: |(p_p - p_g) . (a_p x a_g)| / |a_p x a_g|. (Nearly) parallel lines, where that formula
    is undefined or unstable: the point-to-line distance from the GT pivot to the predicted line,
    which is the exact distance between parallel lines (never 0 for parallel, offset axes).
    """
    ap, ag = unit(pred_axis), unit(gt_axis)
    n = np.cross(ap, ag)
    sin = float(np.linalg.norm(n))
    if sin < np.sin(parallel_tol_rad):
        return point_to_line_cm(gt_pivot, pred_pivot, ap)
    d = np.asarray(pred_pivot, float) - np.asarray(gt_pivot, float)
    return 100.0 * abs(float(d @ n)) / sin


def axis_sign(pred_axis: np.ndarray, gt_axis: np.ndarray) -> float:
    """+1 or -1: the sign that aligns the predicted axis with the ground truth (+1 when perpendicular)."""
    return -1.0 if float(unit(pred_axis) @ unit(gt_axis)) < 0 else 1.0


def rotation_geodesic_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Geodesic angle (deg) between stacks of rotations (..., 3, 3), clipped arccos (PARIS formula)."""
    tr = np.trace(np.swapaxes(Ra, -1, -2) @ Rb, axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def _rotations(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    return np.stack([rotation_about_axis(axis, a) if np.any(axis) else np.eye(3) for a in angles])


def evaluate_joint(pred: JointParams | None, gt: JointParams, worst: WorstCase = WorstCase()) -> JointErrors:
    """All joint metrics of one ground-truth joint against one predicted joint (None: missed).

    Raises:
        ValueError: non-finite ground truth, fewer than 2 frames, or amounts of different lengths.
    """
    if not gt.is_finite():
        raise ValueError("evaluate_joint: ground truth contains NaN/inf")
    T = len(gt.amounts)
    if T < 2:
        raise ValueError(f"evaluate_joint: need at least 2 frames of amounts, got {T}")
    if pred is not None and len(pred.amounts) != T:
        raise ValueError(f"evaluate_joint: predicted amounts have {len(pred.amounts)} frames, ground truth {T}")
    status = "ok"
    if pred is None:
        status = "missed"
    elif not pred.is_finite() or np.linalg.norm(pred.axis) < 1e-12:
        status = "invalid"
    gt_type = JointType(gt.type)
    nan = float("nan")
    revolute, prismatic = gt_type == JointType.REVOLUTE, gt_type == JointType.PRISMATIC
    g_amt = np.asarray(gt.amounts, float)[1:]
    ag = unit(gt.axis)

    if status != "ok":
        zero_rot = float(np.degrees(np.mean(np.abs(g_amt)))) if revolute else nan
        zero_trans = float(100.0 * np.mean(np.abs(g_amt))) if prismatic else nan
        return JointErrors(
            gt_type=gt_type,
            pred_type=None if pred is None else JointType(pred.type),
            status=status,
            axis_angle_deg=nan if gt_type == JointType.STATIC else worst.axis_angle_deg,
            axis_position_cm=worst.axis_position_cm if revolute else nan,
            axis_line_distance_cm=worst.axis_position_cm if revolute else nan,
            part_rotation_deg=zero_rot,
            part_translation_cm=zero_trans,
            part_rotation_geodesic_deg=zero_rot,
            part_translation_vector_cm=zero_trans,
            type_correct=gt_type == JointType.STATIC,
        )

    ap = unit(pred.axis)
    pred_type = JointType(pred.type)
    s = axis_sign(ap, ag)
    p_amt = np.asarray(pred.amounts, float)[1:]
    errs = dict.fromkeys(
        ("axis_position_cm", "axis_line_distance_cm", "part_rotation_deg", "part_translation_cm",
         "part_rotation_geodesic_deg", "part_translation_vector_cm"), nan,
    )  # fmt: skip
    if revolute:
        errs["axis_position_cm"] = point_to_line_cm(gt.pivot, pred.pivot, ap)
        errs["axis_line_distance_cm"] = line_to_line_cm(pred.pivot, ap, gt.pivot, ag)
        p_rot = p_amt if pred_type == JointType.REVOLUTE else np.zeros_like(p_amt)
        errs["part_rotation_deg"] = float(np.degrees(np.mean(np.abs(s * p_rot - g_amt))))
        errs["part_rotation_geodesic_deg"] = float(
            np.mean(rotation_geodesic_deg(_rotations(ap, p_rot), _rotations(ag, g_amt)))
        )
    elif prismatic:
        p_tr = p_amt if pred_type == JointType.PRISMATIC else np.zeros_like(p_amt)
        errs["part_translation_cm"] = float(100.0 * np.mean(np.abs(s * p_tr - g_amt)))
        vec = p_tr[:, None] * ap[None] - g_amt[:, None] * ag[None]
        errs["part_translation_vector_cm"] = float(100.0 * np.mean(np.linalg.norm(vec, axis=1)))
    return JointErrors(
        gt_type=gt_type,
        pred_type=pred_type,
        status="ok",
        axis_angle_deg=nan if gt_type == JointType.STATIC else axis_angle_error_deg(ap, ag),
        type_correct=pred_type == gt_type,
        **errs,
    )
