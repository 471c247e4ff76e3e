"""Re-fuse recorded per-window estimates offline: ``python -m sim2art_ros.tools.bag_refuse RUN --bags BAGS``.

The fused object model (:class:`sim2art_core.tracking.ObjectModel`) is the node's last stage and depends only
on the window estimates, so a bag run through the node once with ``publish_mode: window`` (every window's
estimate on ``/articulation``, recorded in ``RUN/<bag>/recorded``) can be fused again, with any
:class:`~sim2art_core.tracking.ObjectModelConfig`, in seconds instead of a replay per change:

1. read the recorded window estimates of each bag in arrival order (``msg_to_estimate``) and the bag's
   ground truth (``BAGS/<bag>``, ``/articulation_ground_truth``);
2. fold them into a fresh :class:`ObjectModel` as the node does (a FAILED window is published as it is and
   leaves the model), once per ``--variant``;
3. score every fused estimate like ``sim2art-bag-eval`` (:func:`~sim2art_ros.tools.bag_compare.score_estimate`)
   and print the per-category table of issue 11 (:func:`~sim2art_ros.tools.bag_report.category_table`) per
   variant; ``--details`` lists every spurious joint of the final fused models with what it is near
   (:func:`spurious_joints`).

Latencies are not scored (NaN): the windows were estimated once, the fusion here costs milliseconds. The
windows themselves are the node's, so only the fusion differs from a replay in ``publish_mode: fused``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim2art_core.estimate import ArticulationEstimate, JointEstimate
from sim2art_core.geometry import point_line_distance
from sim2art_core.metrics.joint_metrics import axis_angle_error_deg
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.tools.bag_compare import BagResult, moving_truth_joints, score_estimate

ARTICULATION_TOPIC = "/articulation"


@dataclass(frozen=True)
class RecordedBag:
    """One bag's recorded window estimates and its ground truth."""

    name: str
    windows: tuple[ArticulationEstimate, ...]
    truth: ArticulationEstimate | None
    object_id: str = ""


def read_windows(recorded: Path, topic: str = ARTICULATION_TOPIC) -> list[ArticulationEstimate]:
    """The estimates on ``topic`` of a recorded bag, in recording order."""
    from sim2art_ros.bags import io as bag_io
    from sim2art_ros.conversions.articulation import msg_to_estimate

    out = []
    with bag_io.open_bag(recorded) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in bag_io.iter_raw(reader, conns, recorded) if conns else ():
            out.append(msg_to_estimate(reader.deserialize(raw, conn.msgtype)))
    return out


def load_run(run: Path, bags_dir: Path, names: Sequence[str] = ()) -> list[RecordedBag]:
    """Every bag folder of ``run`` with a ``recorded`` bag (or only ``names``), with its ground truth."""
    from sim2art_ros.tools.bag_eval import read_ground_truth

    out = []
    for d in sorted(p for p in run.iterdir() if (p / "recorded").exists()):
        if names and d.name not in names:
            continue
        truth, object_id = read_ground_truth(bags_dir / d.name, "/articulation_ground_truth", with_object_id=True)
        out.append(RecordedBag(d.name, tuple(read_windows(d / "recorded")), truth, object_id))
    return out


def fuse(windows: Sequence[ArticulationEstimate], config: ObjectModelConfig) -> list[ArticulationEstimate]:
    """What the node publishes in ``publish_mode: fused`` for these window estimates (node.py ``_publish``)."""
    model = ObjectModel(config)
    return [w if w.status == EstimateStatus.FAILED else model.update(w) for w in windows]


def score_bag(bag: RecordedBag, estimates: Sequence[ArticulationEstimate]) -> BagResult:
    """A :class:`BagResult` of ``estimates`` (latency NaN, no plots)."""
    truth_joints = moving_truth_joints(bag.truth) if bag.truth is not None else ()
    scores, history = [], []
    for est in estimates:
        score, _ = score_estimate(est, bag.truth, truth_joints, float("nan"), history)
        scores.append(score)
        history.append(est)
    return BagResult(
        bag=bag.name,
        name=bag.name,
        out_dir=Path(bag.name),
        truth=bag.truth,
        truth_joints=truth_joints,
        images_sent=0,
        scores=tuple(scores),
        final_estimate=estimates[-1] if estimates else None,
        object_id=bag.object_id,
    )


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


def spurious_joints(result: BagResult) -> list[SpuriousJoint]:
    """The unmatched movable joints of ``result``'s final fused model, each with what it lies near (for
    telling flow noise on the body from a split part, a duplicate track or the support plane)."""
    from sim2art_core.tracking.object_model import window_motion

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


def parse_variant(text: str) -> tuple[str, ObjectModelConfig]:
    """``"NAME key=value key=value"`` -> (NAME, ObjectModelConfig with those fields); values are cast to the
    field's default's type."""
    name, *pairs = text.split()
    defaults = ObjectModelConfig()
    kw = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not hasattr(defaults, key):
            raise ValueError(f"variant {name!r}: {pair!r} is not field=value of ObjectModelConfig")
        kind = type(getattr(defaults, key))
        kw[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return name, dataclasses.replace(defaults, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-bag-refuse",
        description="Fuse window estimates recorded through the node (publish_mode: window) again offline and "
        "print issue 11's per-category table per object-model variant.",
    )
    p.add_argument("run", type=Path, help="output folder of sim2art-bag-eval / -benchmark (publish_mode: window)")
    p.add_argument("--bags", type=Path, required=True, help="folder of the bags (for the ground truth)")
    p.add_argument("--only", nargs="*", default=(), help="only these bag names")
    p.add_argument(
        "--variant", action="append", default=[], metavar="'NAME key=value ...'",
        help="an ObjectModelConfig to fuse with (repeatable; default: 'defaults' only)",
    )  # fmt: skip
    p.add_argument("--details", action="store_true", help="list the spurious joints of every final model")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.tools.bag_report import category_table, fmt, text_table

    args = build_parser().parse_args(argv)
    try:
        variants = [parse_variant(v) for v in (args.variant or ["defaults"])]
    except (ValueError, TypeError) as exc:
        print(f"sim2art-bag-refuse: error: {exc}", file=sys.stderr)
        return 2
    bags = load_run(args.run, args.bags, args.only)
    if not bags:
        print(f"sim2art-bag-refuse: error: no <bag>/recorded in {args.run}", file=sys.stderr)
        return 2
    for name, cfg in variants:
        results = [score_bag(b, fuse(b.windows, cfg)) for b in bags]
        rows, data = category_table(results)
        print(f"\n== {name}: {len(results)} bags\n" + text_table(rows))
        if args.details:
            spur = [s for r in results for s in spurious_joints(r)]
            cols = [
                {
                    "bag": s.bag, "j": str(s.joint), "type": s.type[:3], "conf": "Y" if s.confirmed else "n",
                    "supp": str(s.support), "parent": str(s.parent), "motion cm": fmt(100 * s.motion_m),
                    "truth deg/cm": f"{fmt(s.near_truth_deg, 0)}/{fmt(100 * s.near_truth_m, 0)}",
                    "matched est deg/cm": f"{fmt(s.near_estimate_deg, 0)}/{fmt(100 * s.near_estimate_m, 0)}",
                    "child-moving cm": fmt(100 * s.child_to_moving_m, 0),
                    "child-static cm": fmt(100 * s.child_to_static_m, 0),
                    "height cm": fmt(100 * s.child_height_m, 0),
                }
                for s in spur
            ]  # fmt: skip
            print(text_table(cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
