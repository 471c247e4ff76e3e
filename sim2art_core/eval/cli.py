"""sim2art-eval: evaluate methods on a dataset split under one or more conditions; paper-style tables,
CSVs and bar charts, and the robustness table across conditions.

    sim2art-eval --data data/synth --split test --methods sim2art,sim2art-norefine,featclust --out eval_out
    sim2art-eval --data data/synth --split test --conditions gt-flow,realism,optical-flow,realism+optical-flow \
                 --methods sim2art,sim2art-norefine,sim2art-refined-only,featclust,featclust-oracle-k,gtseg-refine

Writes into --out (one condition) or --out/<condition>/ (several): table.md (per-category and mean,
like the paper's Table 2), table.csv (long format: metric, method, column, mean, std, count),
samples.csv (one row per sample and method), joints.csv (one row per scored joint), bars.png and
summary.json (command, counts, timing). With several conditions also --out/robustness.md (every
method x condition with the cost of each condition, and issue 8's side-by-side table),
robustness.csv and items.csv (per sample and condition: window, flow error). Conditions and metric
conventions: docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.eval.conditions import CONDITIONS, GT_FLOW, EvalItem, flow_errors_mm
from sim2art_core.eval.methods import MethodOptions, RunFn, build_method, method_specs
from sim2art_core.eval.plots import bar_charts
from sim2art_core.metrics.aggregate import EXTRA_METRICS, TABLE_METRICS, aggregate, to_csv, to_markdown
from sim2art_core.metrics.sample import JOINT_PART_SETS, EvalConfig, SampleMetrics, evaluate_sample
from sim2art_core.window import Window

DEFAULT_METHODS = "sim2art,sim2art-norefine,featclust"
Results = dict[str, list[tuple[SampleMetrics, float]]]


def run_method(run: RunFn, sample: SequenceSample, window: Window) -> tuple[ArticulationEstimate, float]:
    """One estimate and its wall time; an exception becomes a FAILED estimate (scored worst-case)."""
    t0 = time.perf_counter()
    try:
        est = run(sample, window)
    except Exception as e:  # a method crashing on one sample must not stop the evaluation
        est = ArticulationEstimate.failed(f"{type(e).__name__}: {e}", window.frame_id, window.stamps_ns,
                                          sample.labels.shape)  # fmt: skip
    return est, time.perf_counter() - t0


def evaluate_items(
    items: Iterable[EvalItem],
    methods: dict[str, RunFn],
    cfg: EvalConfig = EvalConfig(),  # noqa: B008 - frozen, immutable default
    total: int | None = None,
    progress: bool = True,
    desc: str = "evaluating",
) -> Results:
    """Run every method on every item's window: {method: [(metrics, seconds), ...]} in item order.

    Every method sees the same window; only the item's valid points are scored. An item without a
    window (the condition could not produce one) is a FAILED estimate for every method.
    """
    out: Results = {m: [] for m in methods}
    for item in tqdm(items, total=total, desc=desc, unit="sample", disable=not progress):
        for name, run in methods.items():
            if item.window is None:
                stamps = np.arange(item.sample.num_frames, dtype=np.int64)
                est = ArticulationEstimate.failed(item.note, "world", stamps, item.sample.labels.shape)
                seconds = float("nan")  # nothing ran: left out of the mean time per window
            else:
                est, seconds = run_method(run, item.sample, item.window)
            out[name].append((evaluate_sample(item.sample, est, cfg, item.valid), seconds))
    return out


def select_samples(dataset, categories: Sequence[str] | None, per_category: int | None,
                   limit: int | None) -> Iterable[SequenceSample]:  # fmt: skip
    """Samples of the split in index order, filtered by category and capped per category / in total."""
    counts: dict[str, int] = {}
    taken = 0
    for i in range(len(dataset)):
        if limit is not None and taken >= limit:
            return
        s = dataset[i]
        if categories and s.category not in categories:
            continue
        if per_category is not None and counts.get(s.category, 0) >= per_category:
            continue
        counts[s.category] = counts.get(s.category, 0) + 1
        taken += 1
        yield s


def mean_ms(results: Results) -> dict[str, float]:
    """Mean wall time per window of each method (ms), over the items it ran on (NaN when none)."""
    out = {}
    for name, rows in results.items():
        times = [t for _, t in rows if math.isfinite(t)]
        out[name] = 1000.0 * sum(times) / len(times) if times else float("nan")
    return out


def write_outputs(results: Results, out: Path, meta: dict) -> str:
    """Write every output file; returns the Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    tables = [aggregate([m for m, _ in rows], name) for name, rows in results.items()]
    md = to_markdown(tables, TABLE_METRICS) + "\nAdditional metrics (docs/EVALUATION.md):\n\n"
    md += to_markdown(tables, EXTRA_METRICS)
    times = mean_ms(results)
    md += "\nMean time per window (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()) + "\n"
    (out / "table.md").write_text(md)
    (out / "table.csv").write_text(to_csv(tables))
    with open(out / "samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "object_id", "category", "status", "miou", "num_pred_parts", "num_joints",
                    "excluded_joints", "seconds", "message", "num_pred_joints"])  # fmt: skip
        for name, rows in results.items():
            for m, t in rows:
                w.writerow([name, m.object_id, m.category, m.status.name, f"{m.miou:.6g}", m.num_pred_parts,
                            len(m.joints), m.excluded_joints, f"{t:.4f}", m.message, m.num_pred_joints])  # fmt: skip
    fields = ["axis_angle_deg", "axis_position_cm", "axis_line_distance_cm", "part_rotation_deg",
              "part_translation_cm", "part_rotation_geodesic_deg", "part_translation_vector_cm"]  # fmt: skip
    with open(out / "joints.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "object_id", "category", "gt_part", "gt_type", "pred_type", "status", *fields,
                    "type_correct"])  # fmt: skip
        for name, rows in results.items():
            for m, _ in rows:
                for j in m.joints:
                    pred = j.pred_type.name if j.pred_type is not None else ""
                    w.writerow([name, m.object_id, m.category, j.gt_part, j.gt_type.name, pred, j.status,
                                *(f"{getattr(j, k):.6g}" for k in fields), int(j.type_correct)])  # fmt: skip
    if tables and any(t.num_samples.get("All", 0) for t in tables):
        bar_charts(tables, out / "bars.png")
    (out / "summary.json").write_text(json.dumps({**meta, "ms_per_window": times}, indent=1) + "\n")
    return md


def _parse_resolution(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-eval",
        description="Evaluate articulation methods on a synthetic dataset split (paper §4.2 metrics).",
        epilog="Methods: " + "; ".join(f"{m.name}: {m.description}" for m in method_specs())
        + ". Conditions: " + ", ".join(CONDITIONS) + " (docs/EVALUATION.md).",
    )  # fmt: skip
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset root (written by sim2art-generate)")
    src.add_argument("--urdf-dir", default=None,
                     help="evaluate on your own objects: every *.urdf under this folder, rendered by the data "
                          "engine (docs/EVALUATION.md §2.3); one table column per URDF")  # fmt: skip
    p.add_argument("--split", default="test", help="split to evaluate (default: test; not with --urdf-dir)")
    p.add_argument("--sequences-per-urdf", type=int, default=2, help="with --urdf-dir: sequences per URDF")
    p.add_argument("--urdf-seed", type=int, default=0, help="with --urdf-dir: seed of the sequences")
    p.add_argument("--frames", type=int, default=None, help="with --urdf-dir: T (default: the test split's 16)")
    p.add_argument("--points", type=int, default=None, help="with --urdf-dir: N (default: the test split's 2048)")
    p.add_argument("--render-size", type=_parse_resolution, default=None, metavar="WxH",
                   help="with --urdf-dir: rendered size of the gt-flow/realism samples (default: 160x120)")  # fmt: skip
    p.add_argument("--surfaces", default=None, choices=("textured", "plain", "lacquer"),
                   help="with --urdf-dir: 'textured' renders each URDF as written (its colours and "
                        "textures; default), 'plain' drops its textures, 'lacquer' paints it white/grey")  # fmt: skip
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated (default: {DEFAULT_METHODS})")
    p.add_argument("--conditions", "--condition", default=GT_FLOW,
                   help=f"comma-separated, from {', '.join(CONDITIONS)} (default: {GT_FLOW})")  # fmt: skip
    p.add_argument("--flow-resolution", type=_parse_resolution, default=(640, 480), metavar="WxH",
                   help="rendered image size of the optical-flow conditions (default: 640x480, "
                        "docs/EVALUATION.md: DIS flow needs it)")  # fmt: skip
    p.add_argument("--cache", default=None,
                   help="folder of re-generated condition windows (default: OUT/cache); reruns reuse them")  # fmt: skip
    p.add_argument("--checkpoint", default=None, help="sim2art checkpoint (default: the shipped one)")
    p.add_argument("--device", default="auto", help="torch device for sim2art: auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: leaves a core free)")
    p.add_argument("--refine-set", action="append", default=[], metavar="NAME=VALUE",
                   help="RefineConfig field for the refining sim2art methods (repeatable), "
                        "e.g. max_fit_residual_m=0.02")  # fmt: skip
    p.add_argument("--refine-grid", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="also run sim2art for every combination of these RefineConfig values (repeatable; "
                        "tune the fusion thresholds on --split val)")  # fmt: skip
    p.add_argument("--grid-method", default="sim2art",
                   help="the registered method each --refine-grid combination runs (default: sim2art; e.g. "
                        "sim2art-typecheck to tune the type check without the refinement)")  # fmt: skip
    p.add_argument("--out", default="eval_out", help="output directory (default: eval_out)")
    p.add_argument("--categories", default=None, help="comma-separated categories (default: all)")
    p.add_argument("--per-category", type=int, default=None, help="at most this many samples per category")
    p.add_argument("--limit", type=int, default=None, help="at most this many samples in total")
    p.add_argument("--joint-parts", choices=JOINT_PART_SETS, default="moving",
                   help="ground-truth parts that get joint metrics (default: moving)")  # fmt: skip
    p.add_argument("--min-joint-visibility", type=float, default=EvalConfig.min_joint_visibility,
                   help="score a joint only when its part holds at least this fraction of the window's "
                        f"points (default {EvalConfig.min_joint_visibility}; 0: all; exclusions reported)")  # fmt: skip
    p.add_argument("--miou-without-root", action="store_true", help="average the mIoU over non-base parts only")
    p.add_argument(
        "--miou-parts",
        choices=("moving", "all"),
        default="moving",
        help="mIoU ground-truth parts: 'moving' merges links that never moved into the base (default), "
        "'all' scores every link; the other one is reported too (docs/EVALUATION.md)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _build_methods(args) -> dict[str, RunFn]:
    from sim2art_core.eval.methods import parse_refine_set, refine_grid, variant_name

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    overrides = parse_refine_set(args.refine_set)
    options = MethodOptions(checkpoint=args.checkpoint, device=args.device, refine_overrides=overrides)
    methods = {name: build_method(name, options) for name in names}
    for combo in refine_grid(args.refine_grid):
        opt = replace(options, refine_overrides=overrides + combo)
        methods[variant_name(args.grid_method, combo)] = build_method(args.grid_method, opt)
    if not methods:
        raise ValueError("no method to run (--methods is empty)")
    return methods


def _checkpoint_sha256(path: str | None) -> str | None:
    from sim2art_core.estimator import DEFAULT_CHECKPOINT
    from sim2art_core.model.checkpoint import file_digest

    p = Path(path) if path else DEFAULT_CHECKPOINT
    return file_digest(p, length=64) if p.is_file() else None


def _summarise(items: list[EvalItem], results: Results):
    from sim2art_core.eval.robustness import ConditionSummary

    moving, everything, valid = [], [], []
    for it in items:
        if it.window is None:
            continue
        e = flow_errors_mm(it.sample, it.valid)
        moving.append(e["moving"])
        everything.append(e["all"])
        valid.append(float(it.valid.mean()))
    med = lambda v: float(np.nanmedian(v)) if v and not all(math.isnan(x) for x in v) else float("nan")  # noqa: E731
    return ConditionSummary(
        items=len(items),
        no_window=sum(it.window is None for it in items),
        camera_differs=sum(not it.gt_matches_dataset for it in items),
        flow_error_moving_mm=med(moving),
        flow_error_all_mm=med(everything),
        valid_fraction=float(np.mean(valid)) if valid else float("nan"),
        ms_per_window=mean_ms(results),
    ), [moving, everything, valid]


def _urdf_samples(args):
    """The --urdf-dir evaluation set (the test split's SequenceConfig unless overridden)."""
    from sim2art_core.data.generator import SequenceConfig
    from sim2art_core.eval.urdf_set import UrdfSamples

    over = {"surfaces": args.surfaces or "textured"}
    if args.frames is not None:
        over["num_frames"] = args.frames
    if args.points is not None:
        over["num_points"] = args.points
    if args.render_size is not None:
        over["width"], over["height"] = args.render_size
    cfg = replace(SequenceConfig(), **over)
    return UrdfSamples(args.urdf_dir, cfg, args.sequences_per_urdf, args.urdf_seed, progress=not args.no_progress)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from sim2art_core.data.dataset import SequenceDataset
    from sim2art_core.eval.conditions import ConditionConfig, ItemCache, dataset_key
    from sim2art_core.eval.robustness import robustness_csv, robustness_markdown, side_by_side_markdown
    from sim2art_core.model.checkpoint import CheckpointError

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    try:
        bad = [c for c in conditions if c not in CONDITIONS]
        if bad or not conditions:
            raise ValueError(f"unknown condition(s) {bad}; known: {', '.join(CONDITIONS)}")
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        cfg = EvalConfig(include_root_in_miou=not args.miou_without_root, miou_parts=args.miou_parts,
                         joint_parts=args.joint_parts,
                         min_joint_visibility=args.min_joint_visibility)  # fmt: skip
        regenerate = None
        urdf_only = [f"--{k.replace('_', '-')}" for k in ("frames", "points", "render_size", "surfaces")
                     if getattr(args, k) is not None]  # fmt: skip
        if urdf_only and not args.urdf_dir:
            raise ValueError(f"{', '.join(urdf_only)} only apply with --urdf-dir (a dataset has its own settings)")
        if args.urdf_dir:
            dataset = _urdf_samples(args)
            regenerate = dataset.regenerate
            for path, why in dataset.skipped.items():
                print(f"sim2art-eval: skipped {path}: {why}", file=sys.stderr)
        else:
            dataset = SequenceDataset(args.data, args.split)
        ccfg = ConditionConfig(width=args.flow_resolution[0], height=args.flow_resolution[1])
        torch.set_num_threads(args.threads)
        methods = _build_methods(args)
    except (FileNotFoundError, ValueError, CheckpointError, OSError) as e:
        print(f"sim2art-eval: {e}", file=sys.stderr)
        return 2
    cats = [c.strip() for c in args.categories.split(",")] if args.categories else None
    samples = list(select_samples(dataset, cats, args.per_category, args.limit))
    out = Path(args.out)
    cache = ItemCache(Path(args.cache) if args.cache else out / "cache", ccfg, dataset_key(dataset.index), regenerate)
    meta = {"command": " ".join(["sim2art-eval", *(sys.argv[1:] if argv is None else argv)]), "args": vars(args),
            "eval_config": asdict(cfg), "condition_config": asdict(ccfg), "dataset_seed": dataset.index.get("seed"),
            "dataset_config": dataset.index.get("config"), "checkpoint_sha256": _checkpoint_sha256(args.checkpoint),
            "torch_threads": torch.get_num_threads()}  # fmt: skip
    if args.urdf_dir:
        meta["urdf_set"] = {"files": dataset.index["files"], "skipped": dataset.skipped,
                            "sequences_per_urdf": args.sequences_per_urdf, "seed": args.urdf_seed}  # fmt: skip
    tables, summaries, item_rows = {}, {}, []
    for cond in conditions:
        bar = tqdm(samples, desc=f"{cond}: windows", unit="sample", disable=args.no_progress)
        items = [cache.get(s, cond, dataset.config) for s in bar]
        results = evaluate_items(items, methods, cfg, len(items), not args.no_progress, desc=f"{cond}: methods")
        target = out if len(conditions) == 1 else out / cond
        summary, _ = _summarise(items, results)
        summaries[cond] = summary
        cond_meta = {**meta, "condition": cond, "num_samples": {k: len(v) for k, v in results.items()},
                     "condition_summary": asdict(summary)}  # fmt: skip
        md = write_outputs(results, target, cond_meta)
        tables[cond] = [aggregate([m for m, _ in rows], name) for name, rows in results.items()]
        for it in items:
            e = flow_errors_mm(it.sample, it.valid) if it.window is not None else {"moving": math.nan, "all": math.nan}
            item_rows.append([cond, it.sample.object_id, it.sample.sequence_seed, it.sample.category,
                              it.window is not None, it.gt_matches_dataset, f"{e['moving']:.4g}", f"{e['all']:.4g}",
                              f"{float(it.valid.mean()):.4f}", it.note])  # fmt: skip
        if len(conditions) == 1:
            print(md)
    with open(out / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["condition", "object_id", "sequence_seed", "category", "has_window", "camera_as_dataset",
                    "flow_error_moving_mm", "flow_error_all_mm", "valid_fraction", "note"])  # fmt: skip
        w.writerows(item_rows)
    if len(conditions) > 1:
        md = "## Robustness: every method under every condition\n\n" + robustness_markdown(tables, summaries)
        md += "\n## Side by side (issue 8)\n\n" + side_by_side_markdown(tables)
        (out / "robustness.md").write_text(md)
        (out / "robustness.csv").write_text(robustness_csv(tables))
        all_meta = {**meta, "conditions": {c: asdict(s) for c, s in summaries.items()}}
        (out / "summary.json").write_text(json.dumps(all_meta, indent=1) + "\n")
        print(md)
        print(f"wrote {out}/robustness.md, robustness.csv, items.csv and per condition {out}/<condition>/table.md, "
              "table.csv, samples.csv, joints.csv, bars.png, summary.json")  # fmt: skip
    else:
        print(f"wrote {out}/table.md, table.csv, samples.csv, joints.csv, items.csv, bars.png, summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
