"""Ablations as in the paper's Table 4: variants, their evaluation and the table.

Every variant is the shipped recipe (docs/MODEL.md §5.1) at one short, equal step budget, differing
only in the ``ModelConfig`` switches below; ``scripts/train_ablations.sh`` trains them into
``RUNS/<name>/`` and then runs ``sim2art-benchmark ablation`` (this module), which evaluates each
``final.pt`` (the equal budget; ``best.pt`` would pick a different step per variant) on the test split
with ground-truth flow and writes the table. "w/o DINO" is the shipped model itself (no image features
on this CPU), so it has no row of its own.

The paper's Table 4 averages over Storage2, Storage6, Box, Eyeglasses, Laptop and Stapler; the table
reports that mean and the mean over all evaluated categories.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from sim2art_core.metrics.aggregate import TABLE_METRICS


@dataclass(frozen=True)
class Variant:
    """One ablation: its run folder name, the table's label and its ``sim2art-train --set`` overrides."""

    name: str
    label: str
    sets: tuple[str, ...]


VARIANTS: tuple[Variant, ...] = (
    Variant("full", "Complete method (motion-cue heads)", ()),
    Variant("paper-heads", "Paper heads (use_motion_cues=false): reference for w/o flow", ("use_motion_cues=false",)),
    Variant("no-flow", "w/o flow", ("use_flow=false", "use_motion_cues=false")),
    Variant("no-time-encoding", "w/o γ(t)", ("use_time_encoding=false",)),
    Variant("no-frame-fraction", "w/o t/T", ("use_frame_fraction=false",)),
)
#: The categories the paper's Table 4 averages over.
PAPER_TABLE4_CATEGORIES = ("Storage2", "Storage6", "Box", "Eyeglasses", "Laptop", "Stapler")
#: What each variant is evaluated with: the network (as the paper's ablation) and ours with refinement.
ABLATION_METHODS = ("sim2art-norefine", "sim2art")


def read_table_csv(path: str | Path) -> dict[tuple[str, str, str], float]:
    """(metric, method, column) -> mean, from a ``sim2art-eval`` table.csv."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            out[(r["metric"], r["method"], r["column"])] = float(r["mean"])
    return out


def _category_mean(cells: dict, metric: str, method: str, categories: tuple[str, ...] | None) -> float:
    cols = {c for (m, me, c) in cells if m == metric and me == method and c not in ("Mean", "All")}
    use = [c for c in cols if categories is None or c in categories]
    vals = [cells[(metric, method, c)] for c in use if cells[(metric, method, c)] == cells[(metric, method, c)]]
    return sum(vals) / len(vals) if vals else float("nan")


def ablation_markdown(runs: dict[str, Path], method: str = "sim2art-norefine") -> str:
    """Table 4 layout: one row per variant with an evaluated ``table.csv`` (others are listed as missing).

    ``runs``: variant name -> the folder of its ``sim2art-eval`` output.
    """
    head = "| Variant | categories | " + " | ".join(m.title for m in TABLE_METRICS) + " |"
    lines = [head, "|" + "---|" * (len(TABLE_METRICS) + 2)]
    missing = []
    for v in VARIANTS:
        path = runs.get(v.name)
        if path is None or not (Path(path) / "table.csv").is_file():
            missing.append(v.name)
            continue
        cells = read_table_csv(Path(path) / "table.csv")
        for cats, label in ((PAPER_TABLE4_CATEGORIES, "paper's 6"), (None, "all")):
            vals = [_category_mean(cells, m.key, method, cats) for m in TABLE_METRICS]
            lines.append(f"| {v.label} | {label} | " + " | ".join("-" if x != x else f"{x:.2f}" for x in vals) + " |")
    md = "\n".join(lines) + "\n"
    if missing:
        md += f"\nNot evaluated (no checkpoint or no evaluation): {', '.join(missing)}.\n"
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="sim2art-benchmark ablation",
        description="Evaluate the ablation checkpoints (RUNS/<variant>/final.pt) on the test split and write "
        "the Table 4 style table.",
    )
    p.add_argument("--runs-dir", default="runs/ablations", help="folder with one training run per variant")
    p.add_argument("--data", help="evaluation dataset (split --split); required unless --table-only")
    p.add_argument("--split", default="test")
    p.add_argument("--out", default="out/ablation", help="evaluation outputs and ablation.md")
    p.add_argument("--checkpoint-name", default="final.pt", help="checkpoint file of each run (default final.pt)")
    p.add_argument("--table-only", action="store_true", help="only rebuild the table from existing evaluations")
    p.add_argument("--print-variants", action="store_true", help="print 'name --set a --set b' lines and exit")
    p.add_argument("--eval-arg", action="append", default=[], help="extra sim2art-eval argument (repeatable)")
    args = p.parse_args(argv)
    if args.print_variants:
        for v in VARIANTS:
            print(" ".join([v.name, *(f"--set {s}" for s in v.sets)]))
        return 0
    out = Path(args.out)
    runs = {}
    for v in VARIANTS:
        ck = Path(args.runs_dir) / v.name / args.checkpoint_name
        target = out / v.name
        if not args.table_only:
            if not ck.is_file():
                print(f"ablation: {v.name}: no {ck}, skipped", file=sys.stderr)
                continue
            if not args.data:
                p.error("--data is required to evaluate")
            from sim2art_core.eval.cli import main as eval_main

            eval_args = ["--data", args.data, "--split", args.split, "--methods", ",".join(ABLATION_METHODS),
                         "--checkpoint", str(ck), "--out", str(target), "--no-progress", *args.eval_arg]  # fmt: skip
            rc = eval_main(eval_args)
            if rc != 0:
                return rc
        runs[v.name] = target
    md = "### Network only (as the paper's Table 4)\n\n" + ablation_markdown(runs, "sim2art-norefine")
    md += "\n### With the geometric refinement\n\n" + ablation_markdown(runs, "sim2art")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
