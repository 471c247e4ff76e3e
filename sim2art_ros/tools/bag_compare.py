"""Score the estimates recorded from a bag against its ground truth (``/articulation_ground_truth``).

Messages carry no per-point labels, so the sample evaluation's part matching by
IoU cannot be used. Instead, each estimate's joints are matched to the ground-truth
joints by geometry (Hungarian, :func:`match_joints`): cost = axis angle / 90 deg +
distance from the true pivot to the estimated axis line / 0.5 m (capped at 1).
A pair whose cost exceeds ``MAX_MATCH_COST`` (e.g. an axis 60 deg off and 30 cm
away) is no match. Every scored ground-truth joint then gets
:func:`sim2art_core.metrics.joint_metrics.evaluate_joint`, with worst-case values when
it is missed (the conventions of docs/EVALUATION.md).

Time alignment: the ground truth holds each joint's amount at every frame stamp
of the bag, relative to the first frame; an estimate's amounts are relative to the
first frame of its window. The true amounts are interpolated at the window stamps
and re-based on the window's first stamp before comparing. The node's fused model
(``publish_mode: fused``, the default) continues a joint's state across windows, so its
amounts start at the state already reached: they are re-based on the window's first stamp
too, i.e. both modes are scored on the motion over the newest window.

Joint state at the last frame (:class:`StateAtLastFrame`): the estimated state at the estimate's newest
stamp against the true one, both relative to the same *reference* stamp. A per-window estimate's states are
relative to its window's first frame; the fused model's to the first frame its joint was ever observed in,
which the message does not carry. It is found in the recording (:func:`state_reference_ns`): walking back
through the estimates that hold the joint (same child part, i.e. the fused model's stable track id), the newest
one whose state trajectory starts at exactly 0 (a track's first window, or any per-window estimate). The
estimated state is put in the true axis' sign; a missed joint counts as no motion (error = |true state|).

Spurious joints: ``extra_joints`` counts every estimated movable joint matched to no true
joint, ``extra_confirmed`` only those the fused model presents as facts (``confirmed``).

Scored ground-truth joints: revolute and prismatic joints that move during the
bag (more than 1 deg / 5 mm, the data engine's ``MOVING_THRESHOLD``); a joint
that never moves cannot be seen in the video (EvalConfig.joint_parts="moving").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from sim2art_core.data.motion import MOVING_THRESHOLD
from sim2art_core.estimate import ArticulationEstimate, JointEstimate
from sim2art_core.geometry import point_line_distance
from sim2art_core.metrics.joint_metrics import JointErrors, JointParams, axis_angle_error_deg, axis_sign, evaluate_joint
from sim2art_core.types import EstimateStatus, JointType

MAX_MATCH_COST = 1.2
POSITION_SCALE_M = 0.5
#: An estimate's stamp is matched to the colour image sent with the same stamp within this tolerance.
STAMP_TOLERANCE_NS = 2_000_000


@dataclass(frozen=True)
class StateAtLastFrame:
    """One scored true joint's state at an estimate's newest stamp (rad for revolute, m for prismatic).

    Attributes:
        true: the true state at the newest stamp relative to ``reference_ns``.
        estimated: the estimated state (sign of the true axis); 0 for a missed joint (no motion).
        error: ``|estimated - true|``; NaN when the reference is unknown (the joint's first window
            was not recorded).
        reference_ns: the stamp both states are relative to (see the module doc).
    """

    true: float
    estimated: float
    error: float
    reference_ns: int


@dataclass(frozen=True)
class EstimateScore:
    """One recorded estimate.

    Attributes:
        stamp_ns: header stamp (newest window frame).
        status: OK / NO_ARTICULATION / FAILED.
        message: status_message.
        latency_s: image published -> estimate received (wall clock); NaN when the image is unknown.
        inference_s: the node's inference_time.
        num_joints: joints in the estimate.
        errors: one per scored ground-truth joint (empty without ground truth).
        matches: estimated joint index per scored ground-truth joint (None = missed).
        extra_joints: estimated movable joints matched to no ground-truth joint.
        extra_confirmed: those of them that are confirmed (the fused model's facts).
        states: the state at the newest stamp per scored ground-truth joint (empty without ground truth).
    """

    stamp_ns: int
    status: str
    message: str
    latency_s: float
    inference_s: float
    num_joints: int
    errors: tuple[JointErrors, ...] = ()
    matches: tuple[int | None, ...] = ()
    extra_joints: int = 0
    extra_confirmed: int = 0
    states: tuple[StateAtLastFrame, ...] = ()

    @property
    def missed(self) -> int:
        """Scored ground-truth joints that no estimated joint matched."""
        return sum(m is None for m in self.matches)


@dataclass(frozen=True)
class BagResult:
    """Everything the report needs about one bag.

    Attributes:
        bag: path of the bag; name: its folder name; out_dir: its output folder.
        truth: the ground truth (fixed frame), or None.
        truth_joints: indices of the scored ground-truth joints.
        images_sent: colour images replayed.
        scores: one per estimate, in arrival order.
        final_estimate: the estimate of the newest window (the last one received), or None.
        final_truth: ground truth of the scored joints over the final estimate's window.
        plots: name -> PNG path (relative to the report folder's parent of ``out_dir``).
        replay_s: wall time of the replay.
        node_log: the node's log.
        object_id: the ground truth's object id ("" without one; the data engine's ``<category>-<seed>``).
    """

    bag: str
    name: str
    out_dir: Path
    truth: ArticulationEstimate | None
    truth_joints: tuple[int, ...]
    images_sent: int
    scores: tuple[EstimateScore, ...]
    final_estimate: ArticulationEstimate | None
    final_truth: tuple[JointParams, ...] = ()
    plots: dict[str, Path] = field(default_factory=dict)
    replay_s: float = 0.0
    node_log: Path | None = None
    object_id: str = ""

    @property
    def final(self) -> EstimateScore | None:
        return self.scores[-1] if self.scores else None

    def status_counts(self) -> dict[str, int]:
        counts = {s.name: 0 for s in EstimateStatus}
        for s in self.scores:
            counts[s.status] += 1
        return counts

    def latencies(self) -> np.ndarray:
        return np.array([s.latency_s for s in self.scores], dtype=np.float64)

    def inference_times(self) -> np.ndarray:
        return np.array([s.inference_s for s in self.scores], dtype=np.float64)


def moving_truth_joints(truth: ArticulationEstimate) -> tuple[int, ...]:
    """Indices of the revolute/prismatic ground-truth joints that move during the bag."""
    out = []
    for i, j in enumerate(truth.joints):
        if j.type == JointType.REVOLUTE:
            thr = MOVING_THRESHOLD["revolute"]
        elif j.type == JointType.PRISMATIC:
            thr = MOVING_THRESHOLD["prismatic"]
        else:
            continue
        if np.max(np.abs(np.asarray(j.amounts, float))) > thr:
            out.append(i)
    return tuple(out)


def truth_over_window(joint: JointEstimate, truth_stamps: np.ndarray, window_stamps: np.ndarray) -> JointParams:
    """The ground-truth joint with its amounts at ``window_stamps``, relative to the first of them.

    Stamps outside the ground truth's range take the nearest end value (np.interp).
    """
    t = np.asarray(truth_stamps, dtype=np.float64)
    a = np.interp(np.asarray(window_stamps, dtype=np.float64), t, np.asarray(joint.amounts, float))
    return JointParams(JointType(joint.type), np.asarray(joint.axis, float), np.asarray(joint.origin, float), a - a[0])


def match_cost(pred: JointEstimate, gt: JointParams) -> float:
    """Axis angle / 90 deg + min(true pivot to estimated line / 0.5 m, 1)."""
    axis = np.asarray(pred.axis, float)
    origin = np.asarray(pred.origin, float)
    if not (np.all(np.isfinite(axis)) and np.all(np.isfinite(origin))) or np.linalg.norm(axis) < 1e-9:
        return np.inf
    angle = axis_angle_error_deg(axis, gt.axis) / 90.0
    dist = float(point_line_distance(np.asarray(gt.pivot, float), origin, axis))
    return angle + min(dist / POSITION_SCALE_M, 1.0)


def match_joints(pred: list[JointEstimate], gts: list[JointParams]) -> list[int | None]:
    """For each ground-truth joint, the index of its predicted joint (None: missed)."""
    if not pred or not gts:
        return [None] * len(gts)
    cost = np.array([[match_cost(p, g) for p in pred] for g in gts])
    finite = np.where(np.isfinite(cost), cost, 1e6)
    rows, cols = linear_sum_assignment(finite)
    out: list[int | None] = [None] * len(gts)
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] <= MAX_MATCH_COST:
            out[r] = int(c)
    return out


def _starts_at_zero(joint: JointEstimate) -> bool:
    amounts = np.asarray(joint.amounts, dtype=np.float64).reshape(-1)
    return bool(amounts.size) and amounts[0] == 0.0


def state_reference_ns(estimate: ArticulationEstimate, child: int, history: Sequence[ArticulationEstimate] = ()):
    """The stamp the states of ``estimate``'s joint with child part ``child`` are relative to, or None.

    ``history``: the estimates recorded before ``estimate`` (oldest first). Walks back from ``estimate``
    through the estimates holding a joint with that child part (others, e.g. FAILED windows, are skipped)
    and returns the first window stamp of the newest one whose state trajectory starts at exactly 0
    (module doc). None when there is none.
    """
    for est in (estimate, *reversed(tuple(history))):
        joint = next((j for j in est.joints if j.child == child), None)
        if joint is None or not len(est.stamps_ns):
            continue
        if _starts_at_zero(joint):
            return int(est.stamps_ns[0])
    return None


def state_at_last_frame(
    estimate: ArticulationEstimate,
    joint: JointEstimate | None,
    truth_joint: JointEstimate,
    truth_stamps: np.ndarray,
    history: Sequence[ArticulationEstimate] = (),
) -> StateAtLastFrame:
    """Estimated vs true state of ``truth_joint`` at ``estimate``'s newest stamp (``joint`` None: missed)."""
    t = np.asarray(truth_stamps, dtype=np.float64)
    amounts = np.asarray(truth_joint.amounts, dtype=np.float64)
    last = float(estimate.stamps_ns[-1]) if len(estimate.stamps_ns) else float(t[-1])

    def true_since(ref_ns: float) -> float:
        return float(np.interp(last, t, amounts) - np.interp(ref_ns, t, amounts))

    if joint is None:  # no motion estimated, relative to the bag's first frame
        true = true_since(t[0])
        return StateAtLastFrame(true=true, estimated=0.0, error=abs(true), reference_ns=int(t[0]))
    ref = state_reference_ns(estimate, joint.child, history)
    sign = axis_sign(np.asarray(joint.axis, float), np.asarray(truth_joint.axis, float))
    est_state = sign * float(np.asarray(joint.amounts, float).reshape(-1)[-1]) if len(joint.amounts) else np.nan
    if ref is None:
        return StateAtLastFrame(true=np.nan, estimated=est_state, error=np.nan, reference_ns=-1)
    true = true_since(ref)
    return StateAtLastFrame(true=true, estimated=est_state, error=abs(est_state - true), reference_ns=ref)


def score_estimate(
    estimate: ArticulationEstimate,
    truth: ArticulationEstimate | None,
    truth_joints: tuple[int, ...],
    latency_s: float,
    history: Sequence[ArticulationEstimate] = (),
) -> tuple[EstimateScore, tuple[JointParams, ...]]:
    """Score one estimate; also returns the ground truth over its window (for printing).

    ``history``: the estimates recorded before this one, oldest first (for the fused model's joint
    state reference, :func:`state_reference_ns`).
    """
    base = EstimateScore(
        stamp_ns=int(estimate.stamps_ns[-1]) if len(estimate.stamps_ns) else 0,
        status=EstimateStatus(estimate.status).name,
        message=estimate.message,
        latency_s=latency_s,
        inference_s=float(estimate.timings.get("total", np.nan)),
        num_joints=len(estimate.joints),
    )
    if truth is None or not truth_joints:
        return base, ()
    stamps = estimate.stamps_ns if len(estimate.stamps_ns) >= 2 else truth.stamps_ns
    gts = [truth_over_window(truth.joints[i], truth.stamps_ns, stamps) for i in truth_joints]
    ok = estimate.status == EstimateStatus.OK and len(estimate.stamps_ns) >= 2
    movable = [j for j in estimate.joints if j.type != JointType.STATIC] if ok else []
    matches = match_joints(movable, gts)
    errors = []
    for gt, m in zip(gts, matches, strict=True):
        pred = None
        if m is not None:
            pred = JointParams.from_estimate(movable[m])
            if len(pred.amounts) != len(gt.amounts):  # a malformed message: treat as invalid, not a crash
                pred = dataclasses.replace(pred, amounts=np.full(len(gt.amounts), np.nan))
            else:  # the fused model's states continue across windows: score the newest window's motion
                pred = dataclasses.replace(pred, amounts=pred.amounts - pred.amounts[0])
        errors.append(evaluate_joint(pred, gt))
    # report the matched estimated joints by their index in estimate.joints
    index = {id(j): k for k, j in enumerate(estimate.joints)}
    matched = tuple(None if m is None else index[id(movable[m])] for m in matches)
    extra = len(movable) - sum(m is not None for m in matches)
    used = {m for m in matches if m is not None}
    extra_confirmed = sum(1 for k, j in enumerate(movable) if k not in used and j.confirmed)
    states = tuple(
        state_at_last_frame(estimate, None if m is None else movable[m], truth.joints[i], truth.stamps_ns, history)
        for i, m in zip(truth_joints, matches, strict=True)
    )
    score = dataclasses.replace(
        base,
        errors=tuple(errors),
        matches=matched,
        extra_joints=extra,
        extra_confirmed=extra_confirmed,
        states=states,
    )
    return score, tuple(gts)


def latency_of(stamp_ns: int, arrival_wall: float, image_sent: dict[int, float]) -> float:
    """Wall time from publishing the colour image with this stamp to receiving the estimate (NaN if unknown)."""
    if stamp_ns in image_sent:
        return arrival_wall - image_sent[stamp_ns]
    if image_sent:
        stamps = np.fromiter(image_sent.keys(), dtype=np.int64)
        k = int(np.argmin(np.abs(stamps - stamp_ns)))
        if abs(int(stamps[k]) - stamp_ns) <= STAMP_TOLERANCE_NS:
            return arrival_wall - image_sent[int(stamps[k])]
    return float("nan")


def score_run(run, truth: ArticulationEstimate | None, object_id: str = "") -> BagResult:
    """Score a :class:`~sim2art_ros.tools.bag_eval.RunRecord` and draw its pictures."""
    from sim2art_core.eval.bag_plots import plot_axes_over_cloud, plot_latency
    from sim2art_ros.conversions.articulation import msg_to_estimate
    from sim2art_ros.conversions.image_codec import stamp_to_ns
    from sim2art_ros.conversions.markers import cloud_to_array

    truth_joints = moving_truth_joints(truth) if truth is not None else ()
    scores, final_truth, final_est, history = [], (), None, []
    for wall, msg in run.estimates:
        try:
            est = msg_to_estimate(msg)
        except (ValueError, TypeError) as exc:  # a malformed message is scored as FAILED
            est = ArticulationEstimate.failed(f"undecodable message: {exc}", "", np.zeros(0, np.int64), (0, 0))
        stamp = stamp_to_ns(msg.header.stamp)
        score, gts = score_estimate(est, truth, truth_joints, latency_of(stamp, wall, run.image_sent), history)
        scores.append(score)
        history.append(est)
        final_truth, final_est = gts, est
    result = BagResult(
        bag=str(run.bag),
        name=run.out_dir.name,
        out_dir=run.out_dir,
        truth=truth,
        truth_joints=truth_joints,
        images_sent=len(run.image_sent),
        scores=tuple(scores),
        final_estimate=final_est,
        final_truth=final_truth,
        replay_s=run.replay_s,
        node_log=run.node_log,
        object_id=object_id,
    )
    plots = {}
    # axes over the segmented cloud of the final estimate (the cloud with the nearest stamp)
    points, labels = np.zeros((0, 3)), None
    if run.clouds and final_est is not None and len(final_est.stamps_ns):
        target = int(final_est.stamps_ns[-1])
        wall, cloud = min(run.clouds, key=lambda wc: abs(stamp_to_ns(wc[1].header.stamp) - target))
        arr = cloud_to_array(cloud)
        points = np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)
        labels = arr["part_id"].astype(np.int64)
    elif truth is not None:  # no cloud: at least show where the parts are
        points = np.array([p.centroid for p in truth.parts], dtype=np.float64)
    est_joints = list(final_est.joints) if final_est is not None else []
    true_joints = [truth.joints[i] for i in truth_joints] if truth is not None else []
    title = f"{result.name}: final estimate ({final_est.status.name if final_est else 'none'})"
    plots["axes"] = plot_axes_over_cloud(
        run.out_dir / "axes.png", points, est_joints, true_joints, labels=labels, title=title
    )
    if scores:
        plots["latency"] = plot_latency(
            run.out_dir / "latency.png",
            np.array([s.stamp_ns for s in scores]) / 1e9,
            result.latencies(),
            result.inference_times(),
            title=f"{result.name}: latency per estimate",
            t0_s=min(run.image_sent) / 1e9 if run.image_sent else None,
        )
    return dataclasses.replace(result, plots=plots)
