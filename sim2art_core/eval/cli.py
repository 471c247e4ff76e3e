"""sim2art-eval: evaluate methods on a dataset split and write a paper-style table, CSVs and bar charts.

    sim2art-eval --data data/synth --split test --methods sim2art,sim2art-norefine,featclust --out eval_out

Writes into --out: table.md (per-category and mean, like the paper's Table 2), table.csv (long
format: metric, method, column, mean, std, count), samples.csv (one row per sample and method),
joints.csv (one row per scored joint), bars.png and summary.json (command, counts, timing).
Metric conventions: docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.eval.aggregate import EXTRA_METRICS, TABLE_METRICS, aggregate, to_csv, to_markdown
from sim2art_core.eval.methods import METHODS, MethodOptions, RunFn, build_method
from sim2art_core.eval.plots import bar_charts
from sim2art_core.eval.sample import JOINT_PART_SETS, EvalConfig, SampleMetrics, evaluate_sample
from sim2art_core.window import Window

DEFAULT_METHODS = "sim2art,sim2art-norefine,featclust"


def run_method(run: RunFn, sample: SequenceSample, window: Window) -> tuple[ArticulationEstimate, float]:
    """One estimate and its wall time; an exception becomes a FAILED estimate (scored worst-case)."""
    t0 = time.perf_counter()
    try:
        est = run(sample, window)
    except Exception as e:  # a method crashing on one sample must not stop the evaluation
        est = ArticulationEstimate.failed(f"{type(e).__name__}: {e}", window.frame_id, window.stamps_ns,
                                          sample.labels.shape)  # fmt: skip
    return est, time.perf_counter() - t0


def evaluate_methods(
    samples: Iterable[SequenceSample],
    methods: dict[str, RunFn],
    cfg: EvalConfig = EvalConfig(),  # noqa: B008 - frozen, immutable default
    total: int | None = None,
    progress: bool = True,
) -> dict[str, list[tuple[SampleMetrics, float]]]:
    """Run every method on every sample: {method: [(metrics, seconds), ...]} in sample order."""
    out: dict[str, list[tuple[SampleMetrics, float]]] = {m: [] for m in methods}
    for sample in tqdm(samples, total=total, desc="evaluating", unit="sample", disable=not progress):
        window = Window.from_sample(sample)
        for name, run in methods.items():
            est, seconds = run_method(run, sample, window)
            out[name].append((evaluate_sample(sample, est, cfg), seconds))
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


def write_outputs(results: dict[str, list[tuple[SampleMetrics, float]]], out: Path, meta: dict) -> str:
    """Write every output file; returns the Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    tables = [aggregate([m for m, _ in rows], name) for name, rows in results.items()]
    md = to_markdown(tables, TABLE_METRICS) + "\nAdditional metrics (docs/EVALUATION.md):\n\n"
    md += to_markdown(tables, EXTRA_METRICS)
    times = {name: 1000.0 * sum(t for _, t in rows) / max(len(rows), 1) for name, rows in results.items()}
    md += "\nMean time per window (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()) + "\n"
    (out / "table.md").write_text(md)
    (out / "table.csv").write_text(to_csv(tables))
    with open(out / "samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "object_id", "category", "status", "miou", "num_pred_parts", "num_joints", "seconds",
                    "message"])  # fmt: skip
        for name, rows in results.items():
            for m, t in rows:
                w.writerow([name, m.object_id, m.category, m.status.name, f"{m.miou:.6g}", m.num_pred_parts,
                            len(m.joints), f"{t:.4f}", m.message])  # fmt: skip
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-eval",
        description="Evaluate articulation methods on a synthetic dataset split (paper §4.2 metrics).",
        epilog="Methods: " + "; ".join(f"{m.name}: {m.description}" for m in METHODS.values()),
    )
    p.add_argument("--data", required=True, help="dataset root (written by sim2art-generate)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated (default: {DEFAULT_METHODS})")
    p.add_argument("--checkpoint", default=None, help="sim2art checkpoint (default: the shipped one)")
    p.add_argument("--device", default="auto", help="torch device for sim2art: auto, cpu or cuda")
    p.add_argument("--out", default="eval_out", help="output directory (default: eval_out)")
    p.add_argument("--categories", default=None, help="comma-separated categories (default: all)")
    p.add_argument("--per-category", type=int, default=None, help="at most this many samples per category")
    p.add_argument("--limit", type=int, default=None, help="at most this many samples in total")
    p.add_argument("--joint-parts", choices=JOINT_PART_SETS, default="moving",
                   help="ground-truth parts that get joint metrics (default: moving)")  # fmt: skip
    p.add_argument("--miou-without-root", action="store_true", help="average the mIoU over non-base parts only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sim2art_core.data.dataset import SequenceDataset
    from sim2art_core.model.checkpoint import CheckpointError

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        dataset = SequenceDataset(args.data, args.split)
        options = MethodOptions(checkpoint=args.checkpoint, device=args.device)
        methods = {name: build_method(name, options) for name in names}
    except (FileNotFoundError, ValueError, CheckpointError, OSError) as e:
        print(f"sim2art-eval: {e}", file=sys.stderr)
        return 2
    cats = [c.strip() for c in args.categories.split(",")] if args.categories else None
    cfg = EvalConfig(include_root_in_miou=not args.miou_without_root, joint_parts=args.joint_parts)
    total = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    samples = select_samples(dataset, cats, args.per_category, args.limit)
    results = evaluate_methods(samples, methods, cfg, total=total, progress=not args.no_progress)
    meta = {"command": " ".join(sys.argv), "args": vars(args), "eval_config": asdict(cfg),
            "num_samples": {k: len(v) for k, v in results.items()}}  # fmt: skip
    md = write_outputs(results, Path(args.out), meta)
    print(md)
    print(f"wrote {args.out}/table.md, table.csv, samples.csv, joints.csv, bars.png, summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
