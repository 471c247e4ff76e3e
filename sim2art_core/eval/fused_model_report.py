"""What the final fused models of recorded bags get wrong (used by ``sim2art_ros.tools.bag_refuse``).

:func:`spurious_joints` lists every movable joint of a final fused model that no true joint is matched to,
with what it lies near (a duplicate of a matched joint, a static region, the support plane);
:func:`confirmation_summary` says what a planner acting on confirmed joints gets over a set of bags.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import point_line_distance
from sim2art_core.metrics.joint_metrics import axis_angle_error_deg
from sim2art_core.types import EstimateStatus, JointType


@dataclass(frozen=True)
class SpuriousJoint:
    """One movable joint of a final fused model that no true joint is matched to.

    Attributes:
        bag: the bag's name; joint: its index in the estimate; type: REVOLUTE / PRISMATIC.
        confirmed: presented as a fact; support: windows that matched it.
        parent: its parent part's label (0 = the root).
        motion_m: how far its child moved over the newest window (m; NaN when unknown).
        near_truth_deg / near_truth_m: axis angle and pivot-to-line distance to the nearest true moving
            joint (NaN without one).
        near_estimate_deg / near_estimate_m: the same to the nearest *other* movable joint of the estimate
            that is matched to a true joint (a duplicate when both are small).
        child_to_moving_m / child_to_static_m: distance of its child's centroid to the nearest true moving /
            non-moving part's centroid.
        child_height_m: its child's centroid above the lowest true part's box bottom (m), along the fixed
            frame's z.
    """

    bag: str
    joint: int
    type: str
    confirmed: bool
    support: int
    parent: int
    motion_m: float
    near_truth_deg: float
    near_truth_m: float
    near_estimate_deg: float
    near_estimate_m: float
    child_to_moving_m: float
    child_to_static_m: float
    child_height_m: float


def spurious_joints(result) -> list[SpuriousJoint]:
    """The unmatched movable joints of ``result``'s final fused model, each with what it lies near (for
    telling flow noise on the body from a split part, a duplicate track or the support plane); ``result``: a
    :class:`~sim2art_ros.tools.bag_compare.BagResult`."""
    from sim2art_core.tracking.track import window_motion

    est, score, truth = result.final_estimate, result.final, result.truth
    if est is None or score is None or truth is None or est.status != EstimateStatus.OK:
        return []
    movable = [k for k, j in enumerate(est.joints) if j.type != JointType.STATIC]
    used = {m for m in score.matches if m is not None}
    parts = {p.label: p for p in est.parts}
    true_joints = [truth.joints[i] for i in result.truth_joints]
    moving_labels = {int(j.child) for j in true_joints}
    moving_c = [p.centroid for p in truth.parts if p.label in moving_labels]
    static_c = [p.centroid for p in truth.parts if p.label not in moving_labels]
    floor = min((float(p.bbox_min[2]) for p in truth.parts if np.all(np.isfinite(p.bbox_min))), default=math.nan)

    def nearest(j: JointEstimate, others: Sequence[JointEstimate]) -> tuple[float, float]:
        best = (math.nan, math.nan)
        for o in others:
            pivot = np.asarray(o.origin, float)
            d = float(point_line_distance(pivot, np.asarray(j.origin, float), np.asarray(j.axis, float)))
            a = axis_angle_error_deg(np.asarray(j.axis, float), np.asarray(o.axis, float))
            if not math.isfinite(best[0]) or a / 90 + min(d / 0.5, 1) < best[0] / 90 + min(best[1] / 0.5, 1):
                best = (a, d)
        return best

    def dist(c, cs) -> float:
        c = np.asarray(c, float)
        return min((float(np.linalg.norm(c - np.asarray(x, float))) for x in cs), default=math.nan)

    out = []
    for k in movable:
        if k in used:
            continue
        j = est.joints[k]
        child = parts.get(int(j.child))
        centroid = child.centroid if child is not None else np.full(3, np.nan)
        t_deg, t_m = nearest(j, true_joints)
        e_deg, e_m = nearest(j, [est.joints[m] for m in used])
        out.append(
            SpuriousJoint(
                bag=result.name, joint=k, type=JointType(j.type).name, confirmed=bool(j.confirmed),
                support=int(j.support_windows), parent=int(j.parent), motion_m=window_motion(j, child),
                near_truth_deg=t_deg, near_truth_m=t_m, near_estimate_deg=e_deg, near_estimate_m=e_m,
                child_to_moving_m=dist(centroid, moving_c), child_to_static_m=dist(centroid, static_c),
                child_height_m=float(centroid[2]) - floor,
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class ConfirmationSummary:
    """What a planner acting on confirmed joints gets from the final fused models of a set of bags.

    Attributes:
        bags: bags scored; dirty_bags: of them, bags whose final model has a confirmed spurious joint.
        confirmed_spurious: confirmed joints that no true joint is matched to (all bags).
        true_joints: scored true joints; true_confirmed: of them, those matched to a confirmed joint.
        accurate: true joints matched within ``ACCURATE_DEG`` and (revolute) ``ACCURATE_CM``;
            accurate_confirmed: of them, those whose matched joint is confirmed.
    """

    bags: int
    dirty_bags: int
    confirmed_spurious: int
    true_joints: int
    true_confirmed: int
    accurate: int
    accurate_confirmed: int

    def line(self) -> str:
        return (
            f"bags with a confirmed spurious joint: {self.dirty_bags} of {self.bags} (clean "
            f"{self.bags - self.dirty_bags}); confirmed spurious joints: {self.confirmed_spurious}; true joints "
            f"confirmed: {self.true_confirmed} of {self.true_joints}; accurate (<= {ACCURATE_DEG:g} deg / "
            f"{ACCURATE_CM:g} cm) confirmed: {self.accurate_confirmed} of {self.accurate}"
        )


ACCURATE_DEG = 10.0
ACCURATE_CM = 10.0


def confirmation_summary(results) -> ConfirmationSummary:
    """:class:`ConfirmationSummary` of :class:`~sim2art_ros.tools.bag_compare.BagResult` s' final estimates."""
    n = [0] * 7
    for r in results:
        s, est = r.final, r.final_estimate
        if s is None or est is None:
            continue
        n[0] += 1
        n[1] += s.extra_confirmed > 0
        n[2] += s.extra_confirmed
        for e, m in zip(s.errors, s.matches, strict=True):
            n[3] += 1
            if m is None:
                continue
            pos = float(e.axis_position_cm)
            ok = float(e.axis_angle_deg) <= ACCURATE_DEG and (not math.isfinite(pos) or pos <= ACCURATE_CM)
            confirmed = bool(est.joints[m].confirmed)
            n[4] += confirmed
            n[5] += ok
            n[6] += ok and confirmed
    return ConfirmationSummary(*n)


@dataclass(frozen=True)
class TrueJointConfirmation:
    """Why one scored true joint of a final fused model is (not) matched to a confirmed joint.

    Attributes:
        bag: the bag's name; joint: the true joint's index among the scored ones; type: its type.
        matched_type: the matched joint's type ("" when missed).
        axis_deg / position_cm: the match's axis angle and (revolute) line position errors (NaN when missed).
        accurate: within ``ACCURATE_DEG`` and ``ACCURATE_CM`` (as :func:`confirmation_summary`).
        reason: "missed", "untracked" (the matched joint has no track), "confirmed", or the first confirmation
            rule its track fails (:data:`sim2art_core.tracking.config.UNCONFIRMED_REASONS`).
        windows / independent / type_prob: its track's :class:`~sim2art_core.tracking.ConfirmationEvidence`
            (0 / 0 / NaN without one).
    """

    bag: str
    joint: int
    type: str
    matched_type: str
    axis_deg: float
    position_cm: float
    accurate: bool
    reason: str
    windows: int = 0
    independent: int = 0
    type_prob: float = math.nan


def true_joint_confirmations(result, evidence) -> list[TrueJointConfirmation]:
    """:class:`TrueJointConfirmation` of every scored true joint of ``result``'s final fused model (a
    :class:`~sim2art_ros.tools.bag_compare.BagResult`); ``evidence``: the model's
    :meth:`~sim2art_core.tracking.ObjectModel.confirmation_evidence` after the bag (track label -> evidence)."""
    est, score, truth = result.final_estimate, result.final, result.truth
    if est is None or score is None or truth is None:
        return []
    out = []
    for k, (i, e, m) in enumerate(zip(result.truth_joints, score.errors, score.matches, strict=True)):
        ttype = JointType(truth.joints[i].type).name
        if m is None:
            out.append(TrueJointConfirmation(result.name, k, ttype, "", math.nan, math.nan, False, "missed"))
            continue
        j = est.joints[m]
        deg, pos = float(e.axis_angle_deg), float(e.axis_position_cm)
        ok = deg <= ACCURATE_DEG and (not math.isfinite(pos) or pos <= ACCURATE_CM)
        ev = evidence.get(int(j.child))
        reason = "untracked" if ev is None else ev.reason
        if ev is not None and bool(j.confirmed) != ev.confirmed:  # the published flag is the fact
            reason = "confirmed" if j.confirmed else reason
        out.append(
            TrueJointConfirmation(
                result.name, k, ttype, JointType(j.type).name, deg, pos, ok, reason,
                0 if ev is None else ev.windows, 0 if ev is None else ev.independent,
                math.nan if ev is None else ev.type_prob,
            )
        )  # fmt: skip
    return out


def why_unconfirmed_table(rows: Sequence[TrueJointConfirmation]) -> list[dict[str, str]]:
    """Rows of a markdown table: true joints by reason (missed, confirmed, each rule), accurate or not."""
    from sim2art_core.tracking.config import UNCONFIRMED_REASONS

    order = ["confirmed", *UNCONFIRMED_REASONS, "untracked", "missed"]
    table = []
    for reason in order:
        mine = [r for r in rows if r.reason == reason]
        if not mine and reason == "untracked":
            continue
        acc = sum(r.accurate for r in mine)
        split = ("-", "-") if reason == "missed" else (str(acc), str(len(mine) - acc))
        table.append({"true joints": reason, "accurate": split[0], "inaccurate": split[1], "total": str(len(mine))})
    matched = [r for r in rows if r.reason != "missed"]
    acc = sum(r.accurate for r in matched)
    table.append({"true joints": "all", "accurate": str(acc), "inaccurate": str(len(matched) - acc),
                  "total": str(len(rows))})  # fmt: skip
    return table
