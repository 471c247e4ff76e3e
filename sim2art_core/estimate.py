"""The estimator's output: parts, joints and per-point labels of one window.

Everything is in the window's fixed frame (``frame_id``), metres and radians.
The ROS layer converts it 1:1 into ``sim2art_ros/msg/Articulation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sim2art_core.types import EstimateStatus, JointType

if TYPE_CHECKING:
    from sim2art_core.window import Window


@dataclass(frozen=True)
class PartEstimate:
    """One rigid part.

    Attributes:
        label: the part's value in :attr:`ArticulationEstimate.labels` (>= 0).
        is_root: True for the static base part (exactly one per OK estimate).
        num_points: points of the newest frame assigned to this part.
        centroid: (3,) m, centroid of those points.
        bbox_min, bbox_max: (3,) m, axis-aligned bounds of those points.
        score: [0, 1], mean probability of the points assigned to this part.
    """

    label: int
    is_root: bool
    num_points: int
    centroid: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    score: float

    @property
    def name(self) -> str:
        return "base" if self.is_root else f"part_{self.label}"


def part_from_labels(
    points: np.ndarray, labels: np.ndarray, label: int, probs: np.ndarray | None = None
) -> PartEstimate:
    """Summary of one part from its points in the newest frame of the window that contains any.

    Args:
        points: (T, N, 3) window points (fixed frame).
        labels: (T, N) int part label per point (-1 invalid).
        label: the part's label; label 0 is the root.
        probs: optional (T, N, P) per-point part probabilities; without them (hard labels, e.g.
            k-means) the score is 1.

    Returns:
        The PartEstimate. ``num_points`` counts the newest frame only (0 when the part is not in it).
        A part without any point in the window has NaN centroid and bounds (unknown, never a
        made-up 0) and score 0.
    """
    frames = np.flatnonzero((labels == label).any(axis=1))
    T = labels.shape[0]
    t = int(frames[-1]) if len(frames) else T - 1
    sel = labels[t] == label
    pts = points[t][sel].astype(np.float64)
    if len(pts) == 0:
        nan = np.full(3, np.nan)
        return PartEstimate(label, label == 0, 0, nan, nan, nan, 0.0)
    return PartEstimate(
        label=label,
        is_root=label == 0,
        num_points=int(sel.sum()) if t == T - 1 else 0,
        centroid=pts.mean(axis=0),
        bbox_min=pts.min(axis=0),
        bbox_max=pts.max(axis=0),
        score=1.0 if probs is None else float(probs[t][sel, label].mean()),
    )


#: Which joints the planner-facing outputs present as facts (the node's ``planner_joints``, ``ExportConfig.joints``,
#: the consumer's ``OpeningRequest.joints``): "confirmed" — only those the fused model confirmed — or "all".
PLANNER_JOINTS = ("confirmed", "all")


@dataclass(frozen=True)
class JointEstimate:
    """The joint attaching part ``child`` to part ``parent`` (labels).

    Attributes:
        child, parent: part labels.
        type: the most probable :class:`JointType`.
        type_probs: (3,) probabilities indexed by JointType (sum 1).
        axis: (3,) unit. Revolute: rotation axis; prismatic: translation direction. Its sign is
            chosen so that the observed amount of largest magnitude is positive.
        origin: (3,) m, point on the axis (revolute: foot of the perpendicular from the child's
            centroid; prismatic: the child's centroid at frame 0).
        amounts: (T,) rad | m, joint state per frame relative to frame 0 (amounts[0] = 0),
            right-handed about / along +axis.
        axis_cov: (2, 2) rad^2 covariance in the tangent basis of
            :func:`sim2art_core.geometry.tangent_basis`, or None when unknown.
        origin_cov: (3, 3) m^2 covariance of ``origin``, or None when unknown.
        state_variance: rad^2 | m^2 variance of the newest state, or None when unknown.
        confidence: [0, 1].
        source: "network", "refined" or "fused" (see sim2art_core.refine).
        fit_residual: m, RMS residual of the rigid-motion fit, NaN when not fitted.
        support_windows: windows whose estimate supports this joint: 1 for a per-window estimate,
            the number of matched windows in the fused model (sim2art_core.tracking.object_model).
        confirmed: True once enough of the fused model's windows agree on the joint and show it moving (see
            sim2art_core.tracking.ObjectModelConfig.confirm_windows) to present it as
            a fact; always False for a per-window estimate (one window is a hypothesis).
    """

    child: int
    parent: int
    type: JointType
    type_probs: np.ndarray
    axis: np.ndarray
    origin: np.ndarray
    amounts: np.ndarray
    confidence: float
    source: str = "network"
    axis_cov: np.ndarray | None = None
    origin_cov: np.ndarray | None = None
    state_variance: float | None = None
    fit_residual: float = float("nan")
    support_windows: int = 1
    confirmed: bool = False

    @property
    def name(self) -> str:
        return f"joint_{self.child}"

    def presented(self, joints: str) -> bool:
        """Whether a planner-facing output presents this joint as a fact under ``joints`` (PLANNER_JOINTS):
        "confirmed" only a confirmed joint, "all" every joint (hypotheses included)."""
        if joints not in PLANNER_JOINTS:
            raise ValueError(f"joints must be one of {list(PLANNER_JOINTS)}, got {joints!r}")
        return joints == "all" or self.confirmed

    @property
    def state(self) -> float:
        """State at the newest frame (rad | m)."""
        return float(self.amounts[-1])

    @property
    def lower(self) -> float:
        return float(np.min(self.amounts))

    @property
    def upper(self) -> float:
        return float(np.max(self.amounts))


@dataclass(frozen=True)
class ArticulationEstimate:
    """The estimate of one window.

    Attributes:
        status: OK, NO_ARTICULATION (nothing moved above the noise level; one static root part,
            no joints) or FAILED (``message`` says why; no parts, no joints).
        message: human-readable reason for a non-OK status.
        frame_id: the fixed frame of every geometric field.
        stamps_ns: (T,) the window's frame stamps.
        labels: (T, N) int16 part label per input point; -1 for invalid points.
        parts: the parts; the root first.
        joints: one per non-root part.
        observed_motion: m, largest displacement of object points relative to the root part over
            the window.
        estimator_id: what produced it (model name, checkpoint hash, refinement on/off).
        timings: seconds per stage (e.g. {"network": 0.08, "refine": 0.004}).
    """

    status: EstimateStatus
    frame_id: str
    stamps_ns: np.ndarray
    labels: np.ndarray
    parts: tuple[PartEstimate, ...] = ()
    joints: tuple[JointEstimate, ...] = ()
    message: str = ""
    observed_motion: float = 0.0
    estimator_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def root(self) -> PartEstimate | None:
        return next((p for p in self.parts if p.is_root), None)

    @classmethod
    def failed(cls, message: str, frame_id: str, stamps_ns: np.ndarray, shape: tuple[int, int]) -> ArticulationEstimate:
        """A FAILED estimate carrying ``message`` (labels all -1)."""
        return cls(
            status=EstimateStatus.FAILED,
            frame_id=frame_id,
            stamps_ns=np.asarray(stamps_ns, dtype=np.int64),
            labels=np.full(shape, -1, dtype=np.int16),
            message=message,
        )


__all__ = [
    "ArticulationEstimate", "EstimateStatus", "JointEstimate", "JointType", "PartEstimate", "WindowEstimator",
    "part_from_labels",
]  # fmt: skip


class WindowEstimator(Protocol):
    """What the ROS node and the tools call (implemented by sim2art_core.estimator.Estimator).

    Attributes:
        num_frames: T, frames per window the model expects.
        num_points: N, points per frame the model expects.
    """

    num_frames: int
    num_points: int

    def estimate(self, window: Window) -> ArticulationEstimate:
        """Estimate parts and joints of one window; never raises for bad data, returns FAILED."""
        ...
