"""Where a true part is lost on the run-time path, stage by stage (issue 11: "accuracy per stage").

    python -m sim2art_core.eval.part_trace --category Storage1 --object-seed 0 --sequence-seed 1 \\
        --frames 40 --width 640 --height 480

Renders one synthetic sequence with the data engine, builds the node's windows from its frames with the
node's default preprocessing (box selection, support-plane removal, DIS optical flow and its masks; every
frame a keyframe, as ``sim2art-demo`` runs the node), and for every window and every true moving part
reports what each stage makes of it:

* **motion**: the joint's true motion over the window (rad | m) and the median true displacement of the
  part's points per window step (mm): what the flow has to carry;
* **points**: the part's points in the window (sum over frames), their share of the object's, the frames it
  is seen in, the fraction with a valid flow;
* **flow**: median error of the scene flow on the part's valid points against the true motion (mm), and the
  median gain of the flow along the true motion (1 = unbiased, 0 = the flow says the part is still);
* **network**: the share of the part's points the network gives the root slot, the slot holding most of
  the rest and which true part owns most of that slot's points (a slot shared with another part gives the
  other part's joint);
* **decoding**: the estimator's joint whose child holds most of the part's points (if that child is mostly
  this part), with its axis and axis-line errors;
* **oracle**: the geometric refinement (``sim2art_core.refine.refine_joints``) on the TRUE segmentation,
  with the window's flow: whether the flow holds the joint at all;
* **plane** (revolute parts): the hinge as the intersection of the planes of the part's true points in the
  window's first and last frame (depth only, no flow): whether the geometry holds it when the flow does not.

``--flow gt`` replaces the scene flow by the true one (the points, masks and network stay): whether the
network and the refinement would find the part with exact flow. Ground truth comes from the rendered part
masks (each window point's source pixel) and the sample's joints. No ROS; the network runs on the CPU.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from sim2art_core.geometry import invert_transform, prismatic_motion, revolute_motion, transform_points
from sim2art_core.metrics.joint_metrics import axis_angle_error_deg, point_to_line_cm
from sim2art_core.types import JointType


@dataclass(frozen=True)
class PartStage:
    """One true moving part in one window, stage by stage (see the module doc; NaN where not defined).

    Attributes:
        window: index of the window (0 = the first full window).
        first_frame, last_frame: frame indices of the window's first entry and of its last entry's flow target.
        part: the part's link name; joint_type: "revolute" / "prismatic".
        motion: the joint's true motion over the window (max - min amount from first_frame to last_frame;
            rad | m).
        step_motion_mm: median true displacement of the part's valid points per window step (mm).
        points: the part's points in the window (all frames); share: of the object's points.
        frames_seen: frames with at least one of its points; valid_fraction: of its points with a flow.
        flow_error_mm: median |scene flow - true flow| over its valid points (mm).
        flow_gain: median projection of the flow on the true flow over |true flow|^2 (points moving > 1 mm).
        root_share: fraction of its valid points in the network's root slot.
        top_slot: the non-root slot holding most of its valid points (-1: none); top_slot_share: that fraction.
        top_slot_owner: the true part owning most of that slot's points (this part or another).
        reported: the estimate has a joint whose child holds most of this part's non-root points and is
            mostly this part.
        axis_deg, line_cm: errors of that joint (axis angle; axis-line distance of revolute joints).
        oracle_type: the refinement's joint type on the true segmentation; oracle_axis_deg, oracle_line_cm.
        plane_axis_deg, plane_line_cm: revolute parts: the hinge as the intersection of the planes fitted to the
            part's true points in the first and the last frame with ``PLANE_MIN_POINTS`` of them (depth only, no
            flow; a flat part such as a door or a lid), when the planes are ``PLANE_MIN_DEG`` apart.
    """

    window: int
    first_frame: int
    last_frame: int
    part: str
    joint_type: str
    motion: float
    step_motion_mm: float
    points: int
    share: float
    frames_seen: int
    valid_fraction: float
    flow_error_mm: float
    flow_gain: float
    root_share: float
    top_slot: int
    top_slot_share: float
    top_slot_owner: str
    reported: bool
    axis_deg: float
    line_cm: float
    oracle_type: str
    oracle_axis_deg: float
    oracle_line_cm: float
    plane_axis_deg: float = math.nan
    plane_line_cm: float = math.nan


#: The plane oracle needs this many true points of the part in a frame ...
PLANE_MIN_POINTS = 20
#: ... and planes at least this far apart (deg) to intersect them.
PLANE_MIN_DEG = 2.0


def plane_hinge(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(direction, point) of the line where the least-squares planes of two point sets (M, 3) meet, or None
    when they are less than ``PLANE_MIN_DEG`` apart (a flat part turned about a hinge: the hinge)."""
    planes = []
    for x in (first, last):
        c = x.mean(0)
        planes.append((np.linalg.svd(x - c, full_matrices=False)[2][2], c))
    (n0, c0), (n1, c1) = planes
    d = np.cross(n0, n1)
    if np.linalg.norm(d) < math.sin(math.radians(PLANE_MIN_DEG)):
        return None
    d /= np.linalg.norm(d)
    point = np.linalg.solve(np.stack([n0, n1, d]), np.array([n0 @ c0, n1 @ c1, d @ (c0 + c1) / 2]))
    return d, point


def extended_amounts(sample) -> np.ndarray:
    """(P, T + 1) part amounts relative to frame 0 for all T + 1 rendered frames: ``part_amounts`` has T
    columns; the last state comes from ``joint_states`` (joint j moves part j + 1), with the sign relating
    the two fitted on the first T states."""
    amounts = np.asarray(sample.part_amounts, dtype=np.float64)
    states = np.asarray(sample.joint_states, dtype=np.float64)
    out = np.zeros((amounts.shape[0], amounts.shape[1] + 1))
    out[:, :-1] = amounts
    for p in range(1, amounts.shape[0]):
        raw = states[: amounts.shape[1], p - 1] - states[0, p - 1]
        sign = 1.0 if float(raw @ amounts[p]) >= 0 else -1.0
        out[p, -1] = sign * (states[-1, p - 1] - states[0, p - 1])
    return out


def true_step(sample, amounts: np.ndarray, part: int, a: int, b: int) -> np.ndarray:
    """(4, 4) motion of ``part`` from frame a to frame b in the world (the frames' fixed frame)."""
    w0 = np.asarray(sample.world_from_cam[0], dtype=np.float64)
    axis = w0[:3, :3] @ np.asarray(sample.part_axes[part], dtype=np.float64)
    pivot = transform_points(w0, np.asarray(sample.part_pivots[part], dtype=np.float64))
    d = float(amounts[part, b] - amounts[part, a])
    kind = int(sample.part_types[part])
    if kind == JointType.REVOLUTE:
        return revolute_motion(axis, pivot, d)
    if kind == JointType.PRISMATIC:
        return prismatic_motion(axis, d)
    return np.eye(4)


def true_labels(frame, points: np.ndarray) -> np.ndarray:
    """(N,) true part of each point (its pixel in the frame's rendered part mask; -1 background / outside /
    a non-finite point)."""
    points = np.asarray(points, dtype=np.float64)
    cam = transform_points(invert_transform(frame.world_from_cam), np.nan_to_num(points).astype(np.float64))
    k = frame.intrinsics
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.rint(k.fx * cam[:, 0] / cam[:, 2] + k.cx)
        v = np.rint(k.fy * cam[:, 1] / cam[:, 2] + k.cy)
    ok = np.isfinite(points).all(1) & np.isfinite(u) & np.isfinite(v) & (cam[:, 2] > 0)
    ok &= (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
    out = np.full(len(points), -1, dtype=np.int64)
    out[ok] = frame.part_mask[v[ok].astype(np.int64), u[ok].astype(np.int64)]
    return out


def build_windows(frames, cfg, stride: int = 1, seed: int = 0):
    """The node's windows of ``frames`` (every ``stride``-th frame a keyframe): [(window, frame indices)],
    the T + 1 frame indices being the window's entries and the newest keyframe (the last entry's flow target)."""
    from sim2art_core.preprocess import WindowBuilder

    keyframes = replace(cfg.keyframes, mode="time", period_s=0.0)
    builder = WindowBuilder(replace(cfg, keyframes=keyframes), "world", rng=seed)
    index, out = {}, []
    for i in range(0, len(frames), stride):
        f = frames[i]
        index[int(f.stamp_ns)] = i
        builder.add(replace(f, mask=None, part_mask=None))  # the node selects the object itself
        if builder.ready:
            w = builder.window()
            out.append((w, [index[int(s)] for s in w.stamps_ns] + [i]))
    return out


@dataclass(frozen=True)
class JointEstimatePoint:
    """A revolute axis line (what :func:`_joint_errors` reads of a joint)."""

    axis: np.ndarray
    origin: np.ndarray
    type: JointType = JointType.REVOLUTE


def _joint_errors(joint, sample, part: int) -> tuple[float, float]:
    w0 = np.asarray(sample.world_from_cam[0], dtype=np.float64)
    axis = w0[:3, :3] @ np.asarray(sample.part_axes[part], dtype=np.float64)
    pivot = transform_points(w0, np.asarray(sample.part_pivots[part], dtype=np.float64))
    ang = axis_angle_error_deg(np.asarray(joint.axis), axis)
    line = math.nan
    if int(sample.part_types[part]) == JointType.REVOLUTE and joint.type == JointType.REVOLUTE:
        line = point_to_line_cm(pivot, np.asarray(joint.origin), np.asarray(joint.axis))
    return ang, line


def trace_window(sample, frames, window, idx: list[int], estimator, amounts: np.ndarray, flow: str = "dis",
                 number: int = 0) -> list[PartStage]:  # fmt: skip
    """Every true moving part of ``sample`` through one window's stages (see :class:`PartStage`); ``idx``: the
    T + 1 frame indices of :func:`build_windows` (entry t's flow goes from frame idx[t] to idx[t + 1])."""
    from sim2art_core.estimator import _window_slot_probs
    from sim2art_core.refine import RefineConfig, refine_joints

    T, N = window.valid.shape
    P = len(sample.part_names)
    labels = np.stack([true_labels(frames[idx[t]], window.points[t]) for t in range(T)])
    true_flow = np.zeros_like(window.flow)
    for t in range(T):
        for p in range(P):
            m = labels[t] == p
            x = np.nan_to_num(window.points[t][m]).astype(np.float64)
            true_flow[t][m] = transform_points(true_step(sample, amounts, p, idx[t], idx[t + 1]), x) - x
    if flow == "gt":
        window = replace(window, flow=np.where(window.valid[..., None], true_flow, 0.0).astype(np.float32))
    valid = np.asarray(window.valid, bool)
    # the network's slots on every window point (the estimator's own decoding helpers; one network run)
    net = estimator._network(window)
    slot = np.where(valid, _window_slot_probs(window, net).argmax(-1), -1)
    est = estimator.estimate(window)
    n_obj = max(int((labels >= 0).sum()), 1)
    # the true segmentation of the moving parts (everything else is the root) for the refinement
    moving_parts = np.flatnonzero(np.asarray(sample.part_moving))
    lut = np.zeros(P + 1, dtype=np.int64)  # label -1 (background) -> the last entry -> root
    lut[moving_parts] = np.arange(1, len(moving_parts) + 1)
    one_hot = np.eye(len(moving_parts) + 1, dtype=np.float32)[lut[labels]] * valid[..., None]
    oracle = refine_joints(window, one_hot, 0, (), RefineConfig(), check_window=False)
    out = []
    for p in moving_parts:
        mine, mv = labels == p, (labels == p) & valid
        err = np.linalg.norm(window.flow[mv] - true_flow[mv], axis=-1)
        g = np.linalg.norm(true_flow[mv], axis=-1)
        moving = g > 1e-3
        gain = (window.flow[mv] * true_flow[mv]).sum(-1)[moving] / g[moving] ** 2
        nv = int(mv.sum())
        counts = np.bincount(slot[mv], minlength=int(slot.max()) + 1 if slot.size else 1)
        top, owner, top_share = -1, "", math.nan
        if nv and counts[1:].sum() > 0:
            top = int(np.argmax(counts[1:]) + 1)
            top_share = float(counts[top] / nv)
            owner_counts = np.bincount(labels[(slot == top) & (labels >= 0)], minlength=P)
            owner = str(sample.part_names[int(np.argmax(owner_counts))])
        reported, axis_deg, line_cm = False, math.nan, math.nan
        labelled = mv & (np.asarray(est.labels) >= 0)  # a FAILED estimate labels nothing
        child_counts = np.bincount(est.labels[labelled], minlength=len(est.parts)) if labelled.any() else []
        for j in est.joints:
            if j.child < len(child_counts) and child_counts[j.child] == max(child_counts[1:], default=0) > 0:
                child = (est.labels == j.child) & valid & (labels >= 0)
                if np.bincount(labels[child], minlength=P).argmax() == p:
                    reported = True
                    axis_deg, line_cm = _joint_errors(j, sample, int(p))
        oj = next((j for j in oracle.joints if j.child == lut[p]), None)
        o_type, o_axis, o_line = "", math.nan, math.nan
        if oj is not None:
            o_type = JointType(oj.type).name.lower()
            o_axis, o_line = _joint_errors(oj, sample, int(p))
        plane_axis, plane_line = math.nan, math.nan
        if int(sample.part_types[p]) == JointType.REVOLUTE:
            seen = [t for t in range(T) if int(mv[t].sum()) >= PLANE_MIN_POINTS]
            hinge = (
                plane_hinge(window.points[seen[0]][mv[seen[0]]], window.points[seen[-1]][mv[seen[-1]]])
                if seen
                else None
            )
            if hinge is not None:
                plane = JointEstimatePoint(hinge[0], hinge[1])
                plane_axis, plane_line = _joint_errors(plane, sample, int(p))
        span = amounts[p, idx[0] : idx[-1] + 1]
        out.append(
            PartStage(
                window=number, first_frame=idx[0], last_frame=idx[-1], part=str(sample.part_names[p]),
                joint_type=JointType(int(sample.part_types[p])).name.lower(), motion=float(np.ptp(span)),
                step_motion_mm=float(np.median(g) * 1e3) if nv else math.nan, points=int(mine.sum()),
                share=float(mine.sum() / n_obj), frames_seen=int(mine.any(1).sum()),
                valid_fraction=float(nv / max(int(mine.sum()), 1)),
                flow_error_mm=float(np.median(err) * 1e3) if nv else math.nan,
                flow_gain=float(np.median(gain)) if moving.any() else math.nan,
                root_share=float(counts[0] / nv) if nv else math.nan, top_slot=top, top_slot_share=top_share,
                top_slot_owner=owner, reported=reported, axis_deg=axis_deg, line_cm=line_cm,
                oracle_type=o_type, oracle_axis_deg=o_axis, oracle_line_cm=o_line, plane_axis_deg=plane_axis,
                plane_line_cm=plane_line,
            )
        )  # fmt: skip
    return out


COLUMNS = (
    ("window", "win"), ("first_frame", "frames"), ("part", "part"), ("motion", "motion"),
    ("step_motion_mm", "step [mm]"), ("share", "share"), ("frames_seen", "seen"), ("valid_fraction", "valid"),
    ("flow_error_mm", "flow err [mm]"), ("flow_gain", "gain"), ("root_share", "root"),
    ("top_slot_share", "top slot (owner)"), ("reported", "joint"), ("axis_deg", "axis [deg]"),
    ("line_cm", "line [cm]"), ("oracle_type", "oracle"), ("oracle_axis_deg", "oracle axis"),
    ("oracle_line_cm", "oracle line"), ("plane_axis_deg", "plane axis"), ("plane_line_cm", "plane line"),
)  # fmt: skip


def markdown(rows: Sequence[PartStage]) -> str:
    """The trace as a markdown table (one row per window and part)."""

    def cell(r: PartStage, key: str) -> str:
        v = getattr(r, key)
        if key == "first_frame":
            return f"{r.first_frame}-{r.last_frame}"
        if key == "top_slot_share":
            return "–" if r.top_slot < 0 else f"{v:.2f} (slot {r.top_slot}: {r.top_slot_owner})"
        if key == "reported":
            return "yes" if v else "no"
        if isinstance(v, float):
            if math.isnan(v):
                return "–"
            return f"{v:.3f}" if key == "motion" else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v) if v != "" else "–"

    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    return "\n".join([head, rule] + ["| " + " | ".join(cell(r, k) for k, _ in COLUMNS) + " |" for r in rows])


def build_parser() -> argparse.ArgumentParser:
    from sim2art_core.data.cli_args import add_object_arguments, add_size_arguments

    p = argparse.ArgumentParser(
        prog="python -m sim2art_core.eval.part_trace",
        description="Trace every true moving part of one rendered sequence through the node's stages "
        "(motion, points, DIS flow, network slots, decoding, refinement on the true segmentation).",
    )
    add_object_arguments(p, sequence_seed=1)
    add_size_arguments(p, 40, 640, 480, "rendered frames (default 40: the demo's bag)")
    p.add_argument("--flow", choices=("dis", "gt"), default="dis", help="scene flow: the node's (dis) or the true one")
    p.add_argument("--stride", type=int, default=1, help="every n-th rendered frame is a keyframe (default 1)")
    p.add_argument("--windows", default="", help="comma-separated window indices (default: every 3rd)")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0, help="point sampling seed (the node's default 0)")
    p.add_argument(
        "--depth-hypotheses",
        action="store_true",
        help="the estimator with EstimatorConfig.depth_hypotheses (regions whose depth moved: own parts)",
    )
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import json

    import torch

    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.estimator import Estimator
    from sim2art_core.preprocess import PreprocessConfig

    torch.set_num_threads(1)
    if args.frames < 3 or args.stride < 1:
        print("part_trace: need --frames >= 3 and --stride >= 1", file=sys.stderr)
        return 2
    seq = SequenceConfig(num_frames=args.frames - 1, width=args.width, height=args.height)
    sample, frames = generate_sequence(args.category, args.object_seed, args.sequence_seed, seq, return_frames=True)
    from sim2art_core.estimator import EstimatorConfig

    est = Estimator(
        checkpoint=args.checkpoint, device="cpu", config=EstimatorConfig(depth_hypotheses=args.depth_hypotheses)
    )
    cfg = PreprocessConfig(num_frames=est.num_frames, num_points=est.num_points)
    cfg = replace(cfg, object=replace(cfg.object, source="box"))
    windows = build_windows(frames, cfg, args.stride, args.seed)
    if not windows:
        print(f"part_trace: {len(frames)} frames at stride {args.stride} give no full window", file=sys.stderr)
        return 1
    pick = [int(x) for x in args.windows.split(",") if x.strip()] or list(range(0, len(windows), 3))
    amounts = extended_amounts(sample)
    rows = []
    for k in pick:
        if not 0 <= k < len(windows):
            print(f"part_trace: window {k} does not exist ({len(windows)} windows)", file=sys.stderr)
            return 2
        w, idx = windows[k]
        rows += trace_window(sample, frames, w, idx, est, amounts, args.flow, k)
    print(f"{args.category} object {args.object_seed} sequence {args.sequence_seed}: {len(frames)} frames "
          f"{args.width}x{args.height}, stride {args.stride}, {len(windows)} windows, flow {args.flow}")  # fmt: skip
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in rows], fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
