"""Evaluation of one estimate against one synthetic sample (paper §4.2, Table 2 metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.estimate import ArticulationEstimate, JointEstimate
from sim2art_core.geometry import rotate_vectors, transform_points
from sim2art_core.metrics.joint_metrics import JointErrors, JointParams, WorstCase, evaluate_joint
from sim2art_core.metrics.matching import PartMatching, match_parts
from sim2art_core.types import EstimateStatus, JointType

JOINT_PART_SETS = ("moving", "movable", "all")
MIOU_PART_SETS = ("moving", "all")


@dataclass(frozen=True)
class EvalConfig:
    """What is scored.

    Attributes:
        include_root_in_miou: mIoU averages over the base part too (default, the paper scores the
            whole object's segmentation); False averages over the other parts only (GAMMA style).
        miou_parts: what a ground-truth part is for ``SampleMetrics.miou``:
            "moving" (default): parts that did not move during the window (``part_moving`` False) are
            merged into the base before matching. A part that never moves relative to the base is one
            rigid body with it as far as the video shows, and sim2art reports the parts it saw move
            (msg/Articulation.msg); scoring a still drawer as a separate part measures guessing it from
            appearance;
            "all": every link of the object is a separate part (strict). Both are always computed:
            ``SampleMetrics.miou_all`` holds the "all" score whatever this says.
        joint_parts: which ground-truth non-root parts get joint metrics:
            "moving" (default): parts that moved during the sequence (``part_moving``) - a joint that
            never moves cannot be observed from the video;
            "movable": every part with a revolute or prismatic joint, moving or not;
            "all": every non-root part, static ones included (type accuracy only for those).
        worst: values of missed / invalid joints.
        min_joint_visibility: a ground-truth joint of the ``joint_parts`` set is scored only when its
            part holds at least this fraction of the sample's (valid) points over all frames: 0.005 is
            about 10 of 2048 points per frame, a sliver a few pixels wide at 160x120. A joint whose
            part is seen on a handful of points cannot be observed; scoring it measures guessing.
            Excluded joints are counted (``SampleMetrics.excluded_joints``) and every table reports
            the count. 0 scores every part with at least one point.
    """

    include_root_in_miou: bool = True
    miou_parts: str = "moving"
    joint_parts: str = "moving"
    worst: WorstCase = field(default_factory=WorstCase)
    min_joint_visibility: float = 0.005

    def __post_init__(self) -> None:
        if self.miou_parts not in MIOU_PART_SETS:
            raise ValueError(f"EvalConfig.miou_parts must be one of {MIOU_PART_SETS}, got {self.miou_parts!r}")
        if self.joint_parts not in JOINT_PART_SETS:
            raise ValueError(f"EvalConfig.joint_parts must be one of {JOINT_PART_SETS}, got {self.joint_parts!r}")
        if not 0.0 <= self.min_joint_visibility < 1.0:
            raise ValueError(f"EvalConfig.min_joint_visibility must be in [0, 1), got {self.min_joint_visibility}")


@dataclass(frozen=True)
class SampleMetrics:
    """The metrics of one sample.

    Attributes:
        object_id, category: of the sample.
        status: the estimate's status.
        miou: mean IoU over the parts chosen by EvalConfig.miou_parts (see also include_root_in_miou);
            0 for a FAILED estimate.
        miou_all: the same over every link of the object (EvalConfig.miou_parts = "all").
        part_ious: (G,) IoU per ground-truth part (NaN for parts without points).
        joints: errors of every scored ground-truth joint (``gt_part`` set).
        num_pred_parts: parts in the estimate.
        num_pred_joints: joints in the estimate (0 for a FAILED one): with ``joints`` (the scored ground-truth
            joints, missed ones included) it counts the spurious joints.
        message: the estimate's message (why it failed).
        excluded_joints: ground-truth joints of the scored set left out because their part is seen on
            fewer points than ``EvalConfig.min_joint_visibility`` (reported in every table).
    """

    object_id: str
    category: str
    status: EstimateStatus
    miou: float
    part_ious: np.ndarray
    joints: tuple[JointErrors, ...]
    num_pred_parts: int
    message: str = ""
    excluded_joints: int = 0
    miou_all: float = float("nan")
    num_pred_joints: int = 0

    @property
    def failed(self) -> bool:
        return self.status == EstimateStatus.FAILED


def gt_joint_params(sample: SequenceSample, part: int) -> JointParams:
    """Ground-truth joint of ``part`` in the world frame of ``window_from_sample(sample)``."""
    w_from_c0 = sample.world_from_cam[0]
    return JointParams(
        type=JointType(int(sample.part_types[part])),
        axis=rotate_vectors(w_from_c0, sample.part_axes[part].astype(np.float64)),
        pivot=transform_points(w_from_c0, sample.part_pivots[part].astype(np.float64)),
        amounts=sample.part_amounts[part].astype(np.float64),
    )


def part_visibility(labels: np.ndarray, num_parts: int, valid: np.ndarray | None = None) -> np.ndarray:
    """(P,) fraction of the (valid) points of all frames that belong to each part."""
    lab = np.asarray(labels).reshape(-1)
    if valid is not None:
        lab = lab[np.asarray(valid, dtype=bool).reshape(-1)]
    counts = np.bincount(lab.astype(np.int64), minlength=num_parts)[:num_parts].astype(float)
    return counts / max(len(lab), 1)


def scored_parts(
    sample: SequenceSample, cfg: EvalConfig, present: np.ndarray, visibility: np.ndarray | None = None
) -> tuple[list[int], list[int]]:
    """(scored, excluded): ground-truth non-root parts of the ``joint_parts`` set with points in the
    sample, split by ``min_joint_visibility`` (``visibility`` from :func:`part_visibility`; None = all seen)."""
    parts, excluded = [], []
    for p in range(1, sample.num_parts):
        if not present[p]:
            continue
        movable = int(sample.part_types[p]) != JointType.STATIC
        in_set = cfg.joint_parts == "all" or (cfg.joint_parts == "movable" and movable)
        in_set |= cfg.joint_parts == "moving" and movable and bool(sample.part_moving[p])
        if not in_set:
            continue
        if visibility is not None and visibility[p] < cfg.min_joint_visibility:
            excluded.append(p)
        else:
            parts.append(p)
    return parts, excluded


def evaluate_sample(
    sample: SequenceSample,
    estimate: ArticulationEstimate,
    cfg: EvalConfig = EvalConfig(),
    valid: np.ndarray | None = None,
) -> SampleMetrics:
    """Score ``estimate`` (in the world frame of ``window_from_sample(sample)``) against ``sample``.

    ``valid`` (T, N) limits the scoring to the points the methods saw (a run-time window's points
    without depth or flow are not part of the input); None = all points.

    Predicted parts are matched to ground-truth parts by IoU over all points of all frames
    (Hungarian). The joint of a scored ground-truth part is compared with the predicted joint whose
    child is the matched predicted part; a part matched to nothing or to the predicted root, or whose
    matched part has no joint, is a missed joint (worst-case values). A FAILED estimate scores
    mIoU 0 and misses every joint.

    Raises:
        ValueError: the estimate's labels do not have the sample's (T, N) shape, or its joints'
            amounts not T frames.
    """
    T, N = sample.labels.shape
    failed = estimate.status == EstimateStatus.FAILED
    if not failed and estimate.labels.shape != (T, N):
        raise ValueError(f"evaluate_sample: estimate labels {estimate.labels.shape} != sample labels {(T, N)}")
    pred_labels = np.full((T, N), -1) if failed else estimate.labels
    matching_all = match_parts(pred_labels, sample.labels, sample.num_parts, valid)
    if cfg.miou_parts == "moving":
        # still parts join the base (label 0); moving parts keep their labels, so joints map as before
        still = ~sample.part_moving.astype(bool)
        still[0] = False
        gt_labels = np.where(still[sample.labels], 0, sample.labels)
        matching = match_parts(pred_labels, gt_labels, sample.num_parts, valid)
    else:
        matching = matching_all
    root_label = None if failed or estimate.root is None else estimate.root.label
    joints_by_child: dict[int, JointEstimate] = {} if failed else {j.child: j for j in estimate.joints}

    errors = []
    visibility = part_visibility(sample.labels, sample.num_parts, valid)
    # still parts are only scored for joints with joint_parts "movable"/"all": match them as links then
    joint_matching = matching if cfg.joint_parts == "moving" else matching_all
    scored, excluded = scored_parts(sample, cfg, joint_matching.gt_present, visibility)
    for p in scored:
        pred = _predicted_joint(p, joint_matching, root_label, joints_by_child)
        e = evaluate_joint(pred, gt_joint_params(sample, p), cfg.worst)
        errors.append(replace(e, gt_part=p))
    part_ious = np.where(matching.gt_present, matching.ious, np.nan)
    return SampleMetrics(
        object_id=sample.object_id,
        category=sample.category,
        status=EstimateStatus(estimate.status),
        miou=0.0 if failed else matching.mean_iou(cfg.include_root_in_miou),
        miou_all=0.0 if failed else matching_all.mean_iou(cfg.include_root_in_miou),
        part_ious=part_ious,
        joints=tuple(errors),
        num_pred_parts=0 if failed else len(estimate.parts),
        num_pred_joints=0 if failed else len(estimate.joints),
        message=estimate.message,
        excluded_joints=len(excluded),
    )


def _predicted_joint(
    gt_part: int, matching: PartMatching, root_label: int | None, joints_by_child: dict[int, JointEstimate]
) -> JointParams | None:
    label = matching.gt_to_pred.get(gt_part)
    if label is None or label == root_label:
        return None
    joint = joints_by_child.get(label)
    return None if joint is None else JointParams.from_estimate(joint)


def predicted_joints(row: dict) -> int:
    """Joints the estimate of one samples.csv row predicted: ``num_pred_joints``; folders written before that
    column existed only have ``num_joints``, the count of *scored ground-truth* joints (so "spurious" there
    was the count of missed joints), and ``num_pred_parts`` - 1 (one joint per non-root part, as sim2art's
    estimates) stands in for it."""
    if row.get("num_pred_joints") not in (None, ""):
        return int(row["num_pred_joints"])
    return max(int(row.get("num_pred_parts") or 1) - 1, 0)
