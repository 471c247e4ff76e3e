"""Re-fuse recorded per-window estimates offline: ``python -m sim2art_ros.tools.bag_refuse RUN --bags-dir BAGS``.

The fused object model (:mod:`sim2art_core.tracking`) is a pure function of the window estimates the node
publishes with ``publish_mode: window``. A bag evaluation run in that mode (``sim2art-bag-benchmark RUN
--node-arg=-p --node-arg=publish_mode:=window``) records them in ``RUN/<bag>/recorded``; this tool feeds them,
in arrival order, through :class:`~sim2art_core.tracking.ObjectModel` as the node does in ``publish_mode:
fused`` (a FAILED window is published as it is and leaves the model), scores every fused estimate against the
bag's ground truth with :mod:`sim2art_ros.tools.bag_compare`, and prints the benchmark's per-category table of
the final fused model. A change to the fused model is then measured in seconds instead of a 25-minute node
run; the windows are those of one node run (the load decides which windows are estimated), so compare
configurations on the same recording. Under the table, one line says what a planner acting on confirmed joints
gets (:func:`confirmation_summary`): bags with a confirmed spurious joint, confirmed spurious joints, true joints
matched to a confirmed joint, and of the accurately matched ones (within 10 deg / 10 cm) those confirmed; a
second line the same for the confirmed joints alone (:func:`planner_view`: the true joints matched again
among them, so an unconfirmed duplicate of a part cannot take the match from its confirmed joint).

``--decompose`` also prints, per bag and matched true joint, where the error of the joint state at the last
frame comes from: the fused state carried into the newest window (``carry``: the error at the window's first
stamp) and the newest window's own motion (``window``: estimated minus true motion over the window; "held"
when the newest window did not see the joint); the total is their sum (signed, in the true axis' sign).

``--variant "NAME FIELD=VALUE ..."`` (repeatable) fuses the same recording once per configuration and prints a
table each; ``--details`` lists every spurious joint of each final fused model with what it lies near
(:func:`spurious_joints`: the nearest true joint, the nearest matched joint — a duplicate when both are close —,
the child's distance to moving and static true parts), for telling a joint the network gave a static region
from a second joint of a real part, a duplicate track or the support plane (issue 11, confirmed spurious
joints through the node). ``--why-unconfirmed`` lists, per scored true joint of each final fused model, the
confirmation rule its matched joint fails (:meth:`~sim2art_core.tracking.ObjectModel.confirmation_evidence`:
too few windows, inconsistent windows, no significant motion, shared frames, type probability, contradiction) and
whether it is accurate, with a count of true joints by reason (:func:`true_joint_confirmations`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.eval.fused_model_report import (  # noqa: F401  (re-exported: the tool's analysis API)
    ACCURATE_CM,
    ACCURATE_DEG,
    ConfirmationSummary,
    SpuriousJoint,
    TrueJointConfirmation,
    confirmation_summary,
    spurious_joints,
    true_joint_confirmations,
    why_unconfirmed_table,
)
from sim2art_core.metrics.joint_metrics import axis_sign
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.types import EstimateStatus, JointType

ARTICULATION_TOPIC = "/articulation"
CLOUD_TOPIC = "/sim2art_perceive/points"


def load_windows(recorded: Path, topic: str = ARTICULATION_TOPIC) -> list[ArticulationEstimate]:
    """The estimates on ``topic`` of a recorded bag, in recording order (undecodable ones become FAILED)."""
    from sim2art_ros.bags import io as bag_io
    from sim2art_ros.conversions.articulation import msg_to_estimate

    out = []
    with bag_io.open_bag(recorded) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in bag_io.iter_raw(reader, conns, recorded) if conns else ():
            try:
                out.append(msg_to_estimate(reader.deserialize(raw, conn.msgtype)))
            except (ValueError, TypeError) as exc:
                out.append(ArticulationEstimate.failed(f"undecodable: {exc}", "", np.zeros(0, np.int64), (0, 0)))
    return out


def load_clouds(recorded: Path, topic: str = CLOUD_TOPIC) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The node's segmented clouds of a recorded bag: newest window stamp (ns) -> ((K, 3) points, (K,) window
    part labels)."""
    from sim2art_ros.bags import io as bag_io
    from sim2art_ros.conversions.markers import cloud_to_array

    out = {}
    with bag_io.open_bag(recorded) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in bag_io.iter_raw(reader, conns, recorded) if conns else ():
            msg = reader.deserialize(raw, conn.msgtype)
            arr = cloud_to_array(msg)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            out[stamp] = (
                np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64),
                arr["part_id"].astype(int),
            )
    return out


def refuse(
    windows: Sequence[ArticulationEstimate],
    config: ObjectModelConfig | None = None,
    clouds: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
    model: ObjectModel | None = None,
):
    """What the node publishes in ``publish_mode: fused`` for these window estimates (one per window);
    ``clouds`` (:func:`load_clouds`) give the model each window's newest points, as the node does. ``model``:
    the model to fold them into (a fresh one with ``config`` by default; pass one to inspect it afterwards,
    e.g. :meth:`~sim2art_core.tracking.ObjectModel.confirmation_evidence`)."""
    model = ObjectModel(config) if model is None else model
    out = []
    for w in windows:
        if w.status == EstimateStatus.FAILED:
            out.append(w)
            continue
        cloud = (clouds or {}).get(int(w.stamps_ns[-1])) if len(w.stamps_ns) else None
        out.append(model.update(w) if cloud is None else model.update(w, cloud[0], cloud[1]))
    return out


@dataclass(frozen=True)
class StateSplit:
    """Where a matched joint's state error at the last frame comes from (true axis' sign; rad or m)."""

    bag: str
    joint: int
    type: str
    true: float
    estimated: float
    carry: float
    """fused state minus true state at the newest window's first stamp (both since the reference)."""
    window: float
    """estimated minus true motion over the newest window."""
    windows: int
    """fused windows of the track (support_windows)."""
    held: bool = False
    """the newest window did not see the joint: its state is constant over the window (held or measured)."""


def decompose(name: str, final: ArticulationEstimate, score, truth: ArticulationEstimate) -> list[StateSplit]:
    """:class:`StateSplit` of every matched scored true joint of the final fused estimate."""
    from sim2art_ros.tools.bag_compare import moving_truth_joints

    out = []
    t = np.asarray(truth.stamps_ns, dtype=np.float64)
    stamps = np.asarray(final.stamps_ns, dtype=np.float64)
    for k, (i, m, st) in enumerate(zip(moving_truth_joints(truth), score.matches, score.states, strict=True)):
        if m is None or not np.isfinite(st.error) or len(stamps) < 2:
            continue
        tj, ej = truth.joints[i], final.joints[m]
        tr = np.asarray(tj.amounts, dtype=np.float64)
        sign = axis_sign(np.asarray(ej.axis, float), np.asarray(tj.axis, float))
        a = sign * np.asarray(ej.amounts, dtype=np.float64)
        ref = np.interp(st.reference_ns, t, tr)
        true0 = np.interp(stamps[0], t, tr) - ref
        true_motion = np.interp(stamps[-1], t, tr) - np.interp(stamps[0], t, tr)
        out.append(
            StateSplit(
                name, k, JointType(tj.type).name, st.true, st.estimated, float(a[0] - true0),
                float(a[-1] - a[0] - true_motion), int(ej.support_windows), bool(np.ptp(a) == 0),
            )
        )  # fmt: skip
    return out


def score_bag(
    run_dir: Path,
    bag: Path,
    config: ObjectModelConfig | None = None,
    fuse: bool = True,
    model: ObjectModel | None = None,
):
    """(BagResult of the re-fused estimates, the final estimate's :class:`StateSplit` list); ``model``: as
    :func:`refuse`."""
    from sim2art_ros.tools.bag_compare import BagResult, moving_truth_joints, score_estimate
    from sim2art_ros.tools.bag_eval import read_ground_truth

    truth, object_id = read_ground_truth(bag, "/articulation_ground_truth", with_object_id=True)
    windows = load_windows(run_dir / bag.name / "recorded")
    clouds = load_clouds(run_dir / bag.name / "recorded") if fuse else None
    published = refuse(windows, config, clouds, model) if fuse else windows
    truth_joints = moving_truth_joints(truth) if truth is not None else ()
    scores, history, final_truth = [], [], ()
    for est in published:
        score, gts = score_estimate(est, truth, truth_joints, float("nan"), history)
        scores.append(score)
        history.append(est)
        final_truth = gts
    result = BagResult(
        bag=str(bag), name=bag.name, out_dir=run_dir / bag.name, truth=truth, truth_joints=truth_joints,
        images_sent=0, scores=tuple(scores), final_estimate=published[-1] if published else None,
        final_truth=final_truth, object_id=object_id,
    )  # fmt: skip
    splits = []
    if truth is not None and published and scores[-1].matches:
        splits = decompose(bag.name, published[-1], scores[-1], truth)
    return result, splits


def planner_view(result):
    """``result`` (a :class:`~sim2art_ros.tools.bag_compare.BagResult`) with its final estimate reduced to what a
    planner acting on confirmed joints sees: the unconfirmed movable joints removed and the true joints matched
    again among the confirmed ones (so an unconfirmed duplicate no longer takes the match from a confirmed
    joint of the same part). Axis and position errors only (no state history)."""
    import dataclasses

    from sim2art_ros.tools.bag_compare import score_estimate

    est = result.final_estimate
    if est is None or result.truth is None or not result.scores:
        return result
    kept = tuple(j for j in est.joints if j.type == JointType.STATIC or j.confirmed)
    seen = dataclasses.replace(est, joints=kept)
    score, _ = score_estimate(seen, result.truth, result.truth_joints, float("nan"))
    return dataclasses.replace(result, scores=(*result.scores[:-1], score), final_estimate=seen)


def model_config(items: Sequence[str]) -> ObjectModelConfig:
    """ObjectModelConfig from ``FIELD=VALUE`` strings (values typed like the field's default)."""
    import dataclasses

    base = ObjectModelConfig()
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in {f.name for f in dataclasses.fields(ObjectModelConfig)}:
            raise ValueError(f"--model expects FIELD=VALUE with an ObjectModelConfig field, got {item!r}")
        default = getattr(base, name)
        values[name] = value.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(value)
    return dataclasses.replace(base, **values)


def parse_variant(text: str, base: Sequence[str] = ()) -> tuple[str, ObjectModelConfig]:
    """``"NAME FIELD=VALUE ..."`` -> (NAME, :func:`model_config` of ``base`` then those fields)."""
    name, *items = text.split()
    return name, model_config([*base, *items])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bag_refuse", description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a bag evaluation folder recorded with publish_mode:=window")
    p.add_argument("--bags-dir", type=Path, required=True, help="the bags (ground truth)")
    p.add_argument("--no-fuse", action="store_true", help="score the windows themselves (no fused model)")
    p.add_argument("--decompose", action="store_true", help="print the state error decomposition per bag")
    p.add_argument(
        "--model", action="append", default=[], metavar="FIELD=VALUE",
        help="an ObjectModelConfig field, repeatable (e.g. --model state_method=chain); default: the node's",
    )  # fmt: skip
    p.add_argument(
        "--variant", action="append", default=[], metavar="'NAME FIELD=VALUE ...'",
        help="fuse once more per variant (fields on top of --model); repeatable; default: one run with --model",
    )  # fmt: skip
    p.add_argument("--details", action="store_true", help="list the spurious joints of every final model")
    p.add_argument(
        "--why-unconfirmed", action="store_true",
        help="per scored true joint: the confirmation rule its matched joint fails, and whether it is accurate",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        variants = [parse_variant(v, args.model) for v in args.variant] or [("model", model_config(args.model))]
    except (ValueError, TypeError) as exc:
        print(f"bag_refuse: error: {exc}", file=sys.stderr)
        return 2
    bags = sorted(b for b in args.bags_dir.iterdir() if (args.run / b.name / "recorded").is_dir())
    if not bags:
        print(f"bag_refuse: error: no recorded bag of {args.bags_dir} in {args.run}", file=sys.stderr)
        return 2
    for name, config in variants:
        if len(variants) > 1:
            print(f"\n== {name}: {len(bags)} bags\n")
        results, splits, why = [], [], []
        for bag in bags:
            model = ObjectModel(config)
            r, s = score_bag(args.run, bag, config, fuse=not args.no_fuse, model=model)
            results.append(r)
            splits += s
            why += true_joint_confirmations(r, model.confirmation_evidence()) if not args.no_fuse else []
        _print_tables(results, splits, args.decompose, args.details)
        if args.why_unconfirmed:
            _print_why(why)
    return 0


def _print_tables(results, splits, decompose_states: bool, details: bool) -> None:
    from sim2art_core.markdown import markdown_table
    from sim2art_ros.tools.bag_categories import category_table
    from sim2art_ros.tools.bag_report import fmt

    rows, _ = category_table(results)
    print(markdown_table(rows))
    print()
    print(confirmation_summary(results).line())
    seen = confirmation_summary([planner_view(r) for r in results])
    print(
        f"planner's view (true joints matched among the confirmed joints only): true joints on a confirmed joint: "
        f"{seen.true_confirmed} of {seen.true_joints}, accurate (<= {ACCURATE_DEG:g} deg / {ACCURATE_CM:g} cm): "
        f"{seen.accurate_confirmed}; bags with a confirmed spurious joint: {seen.dirty_bags}; confirmed spurious "
        f"joints: {seen.confirmed_spurious}"
    )
    if decompose_states:
        unit = {"REVOLUTE": ("rad", 1.0), "PRISMATIC": ("cm", 100.0)}
        table = []
        for s in splits:
            u, f = unit[s.type]
            table.append(
                {
                    "bag": s.bag, "joint": str(s.joint), "type": s.type.lower(), "windows": str(s.windows),
                    "true": f"{s.true * f:+.3f} {u}", "est.": f"{s.estimated * f:+.3f} {u}",
                    "error": f"{(s.estimated - s.true) * f:+.3f}", "carry": f"{s.carry * f:+.3f}",
                    "window": f"{s.window * f:+.3f}" + (" (held)" if s.held else ""),
                }
            )  # fmt: skip
        print()
        print(markdown_table(table))
    if details:
        table = [
            {
                "bag": s.bag, "joint": str(s.joint), "type": s.type.lower(),
                "confirmed": "yes" if s.confirmed else "no", "windows": str(s.support), "parent": str(s.parent),
                "motion [cm]": fmt(100 * s.motion_m),
                "nearest true [deg/cm]": f"{fmt(s.near_truth_deg, 0)}/{fmt(100 * s.near_truth_m, 0)}",
                "nearest matched [deg/cm]": f"{fmt(s.near_estimate_deg, 0)}/{fmt(100 * s.near_estimate_m, 0)}",
                "child to moving / static part [cm]": f"{fmt(100 * s.child_to_moving_m, 0)} / "
                f"{fmt(100 * s.child_to_static_m, 0)}",
                "child height [cm]": fmt(100 * s.child_height_m, 0),
            }
            for r in results
            for s in spurious_joints(r)
        ]  # fmt: skip
        print()
        print(markdown_table(table) if table else "(no spurious joint)")


def _print_why(rows) -> None:
    from sim2art_core.markdown import markdown_table
    from sim2art_ros.tools.bag_report import fmt

    table = [
        {
            "bag": w.bag, "true joint": str(w.joint), "type": w.type.lower(), "matched as": w.matched_type.lower(),
            "axis [deg]": fmt(w.axis_deg), "line [cm]": fmt(w.position_cm),
            "accurate": "-" if w.reason == "missed" else "yes" if w.accurate else "no",
            "windows": str(w.windows), "independent": str(w.independent), "type prob": fmt(w.type_prob, 2),
            "reason": w.reason,
        }
        for w in rows
    ]  # fmt: skip
    print()
    print(markdown_table(table) if table else "(no scored true joint)")
    print()
    print(markdown_table(why_unconfirmed_table(rows)))


if __name__ == "__main__":
    sys.exit(main())
