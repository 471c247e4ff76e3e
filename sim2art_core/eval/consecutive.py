"""Evaluation "fused over consecutive windows" (issue 11.3): the estimator on K consecutive windows of
one longer synthetic sequence, the windows' estimates fused by :class:`sim2art_core.tracking.ObjectModel`,
scored on the last window against the single-window estimate of that same window.

    sim2art-benchmark consecutive --split val --per-category 3 --windows 3 --out out/consecutive
    (= python -m sim2art_core.eval.consecutive ...)

One sequence of K x T frames is generated per object (the data engine's default motion: the joints
move over the whole sequence, so each window sees about 1/K of it, as a robot watching a door open
does). Window k holds frames [kT, (k+1)T), in the sequence's world frame with stamps continuing
across windows (condition gt-flow: the true scene flow, every point valid). Scored on the last
window (``evaluate_sample``, docs/EVALUATION.md conventions):

* ``single (last window)``: the estimate of the last window alone;
* ``single (mean of K windows)``: each window's estimate scored on its own window, averaged;
* ``fused``: the fused model after the K windows (labels = the last window's, mapped to the model's
  parts; joint states re-based on the last window's first frame so the motion metric is the same
  quantity as the single-window one);
* ``fused (confirmed)``: the same with the unconfirmed joints removed (what a planner acts on).

Objects come from the dataset plan (``sim2art_core.data.jobs.plan_splits``, the benchmark dataset's
seed 2025 / 20 objects per category / 3 sequences), so ``--split val`` holds the val objects and
thresholds are never tuned on the test split. Writes table.md, table.csv and samples.csv to --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sim2art_core.data.motion import MOVING_THRESHOLD
from sim2art_core.data.sequence import SequenceSample
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.geometry import invert_transform, rotate_vectors, transform_points
from sim2art_core.metrics.aggregate import aggregate, to_csv, to_markdown
from sim2art_core.metrics.sample import EvalConfig, SampleMetrics, evaluate_sample
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window

SINGLE_LAST = "single (last window)"
SINGLE_MEAN = "single (mean of windows)"
FUSED = "fused"
FUSED_CONFIRMED = "fused (confirmed)"
COLUMNS = (SINGLE_LAST, SINGLE_MEAN, FUSED, FUSED_CONFIRMED)
#: extra column: confirmation by window count only (the rule before the geometric checks), same estimates
COUNT_ONLY = "fused, count-only confirmation"


def slice_sample(sample: SequenceSample, start: int, stop: int) -> SequenceSample:
    """Frames [start, stop) of ``sample`` as a sample of its own (cam0 = camera ``start``).

    Points, flow, axes and pivots go into camera ``start``'s frame, joint amounts are re-based on frame
    ``start`` and ``part_moving`` is recomputed over the slice (the data engine's thresholds). Axes are
    the sequence's frame-0 axes: exact for joints on the base (every generated category), approximate
    for a joint whose parent moves.
    """
    T = sample.num_frames
    if not 0 <= start < stop <= T:
        raise ValueError(f"slice_sample: [{start}, {stop}) is not inside the sample's {T} frames")
    ck_from_c0 = invert_transform(sample.world_from_cam[start]) @ sample.world_from_cam[0]
    amounts = sample.part_amounts[:, start:stop] - sample.part_amounts[:, start : start + 1]
    thr = np.array([
        MOVING_THRESHOLD["prismatic"] if int(t) == JointType.PRISMATIC else MOVING_THRESHOLD["revolute"]
        for t in sample.part_types
    ])  # fmt: skip
    moving = (np.max(np.abs(amounts), axis=1) > thr) & (sample.part_types != JointType.STATIC)
    axes = rotate_vectors(ck_from_c0, sample.part_axes.astype(np.float64))
    axes[sample.part_types == JointType.STATIC] = 0.0
    return replace(
        sample,
        points=transform_points(ck_from_c0, sample.points[start:stop]).astype(np.float32),
        flow=rotate_vectors(ck_from_c0, sample.flow[start:stop]).astype(np.float32),
        colors=sample.colors[start:stop],
        pixels=sample.pixels[start:stop],
        labels=sample.labels[start:stop],
        part_axes=axes.astype(np.float32),
        part_pivots=transform_points(ck_from_c0, sample.part_pivots.astype(np.float64)).astype(np.float32),
        part_amounts=amounts.astype(np.float32),
        part_moving=moving,
        world_from_cam=sample.world_from_cam[start:stop],
        joint_states=sample.joint_states[start : stop + 1],
    )


def consecutive_windows(
    sample: SequenceSample, window_frames: int, frame_period_s: float
) -> list[tuple[SequenceSample, Window]]:
    """(slice, window) for each of the ``num_frames // window_frames`` consecutive windows; stamps continue."""
    period_ns = round(frame_period_s * 1e9)
    out = []
    for k in range(sample.num_frames // window_frames):
        part = slice_sample(sample, k * window_frames, (k + 1) * window_frames)
        w = window_from_sample(part, frame_period_s)
        out.append((part, replace(w, stamps_ns=w.stamps_ns + k * window_frames * period_ns)))
    return out


def consecutive_flow_windows(
    sample: SequenceSample, frames: list, window_frames: int, ccfg=None
) -> list[tuple[SequenceSample, Window | None, np.ndarray]]:
    """(truth, window, valid) per consecutive window through the run-time optical-flow path
    (``sim2art_core.eval.conditions``' optical-flow condition): window k from frames [kT, (k+1)T]
    (T + 1 frames give T), truth from :func:`slice_sample` + ``sample_for_window``. A window the
    preprocessing rejects is None (scored FAILED; the model skips it)."""
    from sim2art_core.eval.conditions import ConditionConfig, sample_for_window
    from sim2art_core.preprocess import build_window

    ccfg = ccfg or ConditionConfig()
    pre = replace(ccfg.preprocess, num_points=sample.num_points)
    out = []
    for k in range(sample.num_frames // window_frames):
        part = slice_sample(sample, k * window_frames, (k + 1) * window_frames)
        chunk = frames[k * window_frames : (k + 1) * window_frames + 1]
        try:
            window = build_window(chunk, pre, rng=ccfg.seed, frame_id="world")
        except ValueError:
            out.append((part, None, np.ones(part.labels.shape, bool)))
            continue
        out.append((sample_for_window(part, window, chunk), window, window.valid.copy()))
    return out


def rebased(model: ArticulationEstimate, confirmed_only: bool = False) -> ArticulationEstimate:
    """The fused model with joint states relative to the window's first frame (optionally confirmed joints only)."""
    joints = tuple(
        replace(j, amounts=np.asarray(j.amounts) - float(j.amounts[0]))
        for j in model.joints
        if not confirmed_only or j.confirmed
    )
    return replace(model, joints=joints)


def spurious_confirmed(model: ArticulationEstimate, confirmed_metrics: SampleMetrics) -> int:
    """Confirmed moving joints of ``model`` that no scored true joint was matched to (``confirmed_metrics``:
    the model's confirmed joints scored with evaluate_sample); what a planner would act on wrongly."""
    if model.status != EstimateStatus.OK:
        return 0
    confirmed = sum(j.confirmed and j.type != JointType.STATIC for j in model.joints)
    return max(0, confirmed - sum(e.status != "missed" for e in confirmed_metrics.joints))


def evaluate_sequence(
    sample: SequenceSample,
    run,
    window_frames: int,
    frame_period_s: float,
    model_cfg: ObjectModelConfig,
    cfg: EvalConfig,
    frames: list | None = None,
    variants: dict[str, ObjectModelConfig] | None = None,
) -> tuple[dict[str, SampleMetrics], dict]:
    """The four columns' metrics for one long sample, and a few facts (windows, fused joints, seconds).

    ``frames`` (the sequence's K T + 1 rendered frames): the optical-flow condition; None: gt-flow.
    ``variants``: more object-model settings fused from the same window estimates (columns ``name`` and
    ``name (confirmed)``), to choose the gates on the val split without re-running the estimator."""
    if frames is None:
        pieces = [(p, w, None) for p, w in consecutive_windows(sample, window_frames, frame_period_s)]
    else:
        pieces = consecutive_flow_windows(sample, frames, window_frames)
    model = ObjectModel(model_cfg)
    others = {name: ObjectModel(c) for name, c in (variants or {}).items()}
    others_out: dict[str, ArticulationEstimate] = {}
    singles, fused, seconds, fuse_s = [], None, 0.0, 0.0
    for k, (part, window, valid) in enumerate(pieces):
        t0 = time.perf_counter()
        if window is None:  # stamps continue (the model must not read a time jump)
            stamps = (np.arange(part.num_frames) + k * window_frames) * round(frame_period_s * 1e9)
            est = ArticulationEstimate.failed("preprocessing rejected a frame", "world", stamps, part.labels.shape)
        else:
            try:
                est = run(part, window)
            except Exception as e:  # a crash on one window is a FAILED estimate, as in sim2art-eval
                est = ArticulationEstimate.failed(f"{type(e).__name__}: {e}", window.frame_id, window.stamps_ns,
                                                  part.labels.shape)  # fmt: skip
        seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        fused = model.update(est)
        fuse_s += time.perf_counter() - t0
        for name, m in others.items():
            others_out[name] = m.update(est)
        singles.append(evaluate_sample(part, est, cfg, valid))
    last, _, last_valid = pieces[-1]
    out = {SINGLE_LAST: singles[-1], FUSED: evaluate_sample(last, rebased(fused), cfg, last_valid)}
    out[FUSED_CONFIRMED] = evaluate_sample(last, rebased(fused, confirmed_only=True), cfg, last_valid)
    out[SINGLE_MEAN] = singles  # averaged by the caller
    for name, f in others_out.items():
        out[name] = evaluate_sample(last, rebased(f), cfg, last_valid)
        out[f"{name} (confirmed)"] = evaluate_sample(last, rebased(f, confirmed_only=True), cfg, last_valid)
    ok = fused.status == EstimateStatus.OK
    facts = {
        "windows": len(pieces),
        "fused_joints": len(fused.joints) if ok else 0,
        "confirmed_joints": sum(j.confirmed for j in fused.joints) if ok else 0,
        # confirmed moving joints that no scored true joint is matched to (what a planner would act on wrongly)
        "spurious_confirmed": spurious_confirmed(fused, out[FUSED_CONFIRMED]),
        "estimator_s": seconds,
        "fuse_ms_per_window": 1e3 * fuse_s / len(pieces),
    }
    for name, f in others_out.items():
        facts[f"spurious_confirmed {name}"] = spurious_confirmed(f, out[f"{name} (confirmed)"])
    return out, facts


def _val_jobs(split: str, per_category: int, categories: Sequence[str] | None, seed: int):
    from sim2art_core.data.jobs import plan_splits
    from sim2art_core.data.sequence import CATEGORIES

    cats = tuple(categories) if categories else tuple(CATEGORIES)
    jobs = plan_splits(cats, 20, 3, seed)[split]
    counts: dict[str, int] = {}
    out = []
    for job in sorted(jobs, key=lambda j: (cats.index(j.category), j.object_seed, j.sequence_seed)):
        if counts.get(job.category, 0) < per_category:
            counts[job.category] = counts.get(job.category, 0) + 1
            out.append(job)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sim2art_core.eval.consecutive", description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="dataset split (default val)")
    p.add_argument("--per-category", type=int, default=2, help="objects per category (default 2)")
    p.add_argument("--categories", default="", help="comma-separated categories ('' = all)")
    p.add_argument("--seed", type=int, default=2025, help="dataset seed (default 2025, the benchmark dataset's)")
    p.add_argument("--windows", type=int, default=3, help="consecutive windows K per sequence (default 3)")
    p.add_argument("--window-frames", type=int, default=16, help="frames T per window (the checkpoint's, 16)")
    p.add_argument(
        "--condition",
        default="gt-flow",
        choices=("gt-flow", "optical-flow"),
        help="gt-flow (true scene flow) or optical-flow (rendered 640x480, the node's DIS path)",
    )
    p.add_argument("--method", default="sim2art", help="evaluation method run on each window (default sim2art)")
    p.add_argument("--checkpoint", default=None, help="sim2art checkpoint (default: the shipped one)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--confirm-windows", type=int, default=ObjectModelConfig().confirm_windows)
    p.add_argument(
        "--model-grid",
        default="",
        metavar="DEG:M[:MOTION_M],...",
        help="more fused columns from the same estimates, one per axis-angle:line-distance gate pair "
        "(optionally with a min_motion_m)",
    )
    p.add_argument("--out", type=Path, default=Path("consecutive_eval"))
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.eval.methods import MethodOptions, build_method

    torch.set_num_threads(args.threads)
    run = build_method(args.method, MethodOptions(checkpoint=args.checkpoint, device=args.device))
    T = args.window_frames
    base = SequenceConfig()
    seq_cfg = replace(base, num_frames=args.windows * T)
    if args.condition == "optical-flow":  # the optical-flow condition's rendering (ConditionConfig)
        from sim2art_core.eval.conditions import OPTICAL_FLOW, ConditionConfig, condition_sequence_config

        seq_cfg = condition_sequence_config(seq_cfg, OPTICAL_FLOW, ConditionConfig())
    model_cfg = ObjectModelConfig(confirm_windows=args.confirm_windows)
    cfg = EvalConfig()
    cats = [c for c in args.categories.split(",") if c]
    jobs = _val_jobs(args.split, args.per_category, cats, args.seed)
    # the confirmation rule before issue 11.3's geometric checks, from the same estimates: a joint is confirmed
    # once confirm_windows windows matched it (no consistency gate, no motion significance, no merging)
    variants = {
        COUNT_ONLY: replace(
            model_cfg, consistency_prob=1.0 - 1e-12, min_motion_m=0.0, min_motion_snr=0.0, same_motion_tol=0.0
        )
    }
    for item in filter(None, args.model_grid.split(",")):
        vals = [float(v) for v in item.split(":")]
        deg, dist = vals[:2]
        name = f"fused {deg:g}deg/{dist:g}m"
        cfg_v = replace(model_cfg, max_axis_angle_deg=deg, max_line_distance_m=dist)
        if len(vals) > 2:  # DEG:M:MOTION_M also varies the significant-motion threshold
            name += f"/motion {vals[2]:g}m"
            cfg_v = replace(cfg_v, min_motion_m=vals[2])
        variants[name] = cfg_v
    names = [*COLUMNS, *(n for v in variants for n in (v, f"{v} (confirmed)"))]
    columns: dict[str, list[SampleMetrics]] = {c: [] for c in names}
    rows = []
    t_start = time.perf_counter()
    for job in tqdm(jobs, desc="consecutive windows", unit="sequence", disable=args.no_progress):
        frames = None
        if args.condition == "optical-flow":
            try:
                sample, frames = generate_sequence(job.category, job.object_seed, job.sequence_seed, seq_cfg, True)
            except RuntimeError as e:  # the generator lost the object in a frame: reported, not scored
                print(f"{job.category}-{job.object_seed}: re-generation failed: {e}", file=sys.stderr)
                continue
        else:
            sample = generate_sequence(job.category, job.object_seed, job.sequence_seed, seq_cfg)
        metrics, facts = evaluate_sequence(sample, run, T, seq_cfg.frame_period_s, model_cfg, cfg, frames, variants)
        for c in (n for n in names if n != SINGLE_MEAN):
            columns[c].append(metrics[c])
        columns[SINGLE_MEAN].extend(metrics[SINGLE_MEAN])
        rows.append({"object_id": sample.object_id, "category": sample.category, **facts})
    tables = [aggregate(columns[c], c) for c in names]
    args.out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(tables)
    (args.out / "table.md").write_text(md)
    (args.out / "table.csv").write_text(to_csv(tables))
    with open(args.out / "samples.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["object_id"])
        w.writeheader()
        w.writerows(rows)
    summary = {
        "command": " ".join(["python -m sim2art_core.eval.consecutive", *(argv if argv is not None else sys.argv[1:])]),
        "sequences": len(rows), "window_frames": T, "windows": args.windows, "condition": args.condition,
        "mean_fuse_ms_per_window": float(np.mean([r["fuse_ms_per_window"] for r in rows])) if rows else None,
        "mean_fused_joints": float(np.mean([r["fused_joints"] for r in rows])) if rows else None,
        "mean_confirmed_joints": float(np.mean([r["confirmed_joints"] for r in rows])) if rows else None,
        "spurious_confirmed": {
            k.removeprefix("spurious_confirmed").strip() or "fused": {
                "mean_per_sequence": float(np.mean([r[k] for r in rows])),
                "sequences_without": float(np.mean([r[k] == 0 for r in rows])),
            }
            for k in (rows[0] if rows else {})
            if k.startswith("spurious_confirmed")
        },
        "wall_s": time.perf_counter() - t_start,
    }  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(md)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
