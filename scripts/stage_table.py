#!/usr/bin/env python3
"""Issue 11's accuracy-per-stage table from ``sim2art-eval`` output folders, one folder per condition.

    python scripts/stage_table.py gt-flow=OUT/gt-flow realism=OUT/realism optical-flow=OUT/optical-flow
    python scripts/stage_table.py --stage 'sim2art[gate_min_explained=0]=+ refinement, old gate' gt-flow=OUT/gt-flow

``--stage METHOD=HEADING`` (repeatable) adds a method of the folders (e.g. a ``--refine-grid`` variant) as a
column after the shipped refinement.

Each folder holds one condition's table.csv, joints.csv and samples.csv (``sim2art-eval --conditions C --out
DIR``). Per condition it prints (Markdown) the Mean over categories per stage, with every value that is worse
than network only (``sim2art-norefine``) in bold, and one row per category with mIoU / axis / axis position /
type / missed / spurious per stage. Spurious joints per sample are counted as in scripts/eval_summary.py
(predicted joints not matched to a scored ground-truth joint); the Mean row averages the categories.
Formatting only: every number comes from the folders.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

from sim2art_core.metrics.sample import predicted_joints

# (method, column heading) in stage order; methods a folder lacks are left out
STAGES = [
    ("sim2art-norefine", "network only"),
    ("sim2art", "+ refinement (shipped)"),
    ("sim2art-motionseg", "+ motion seg."),
    ("sim2art-motionseg-refine", "+ motion seg. + refinement"),
    ("sim2art-long-baseline", "+ refinement + long-baseline"),
    ("featclust", "FeatClust (reference)"),
]
REFERENCE = "sim2art-norefine"
# (key, title, format, higher is better)
METRICS = [
    ("miou", "mIoU ↑", "{:.3f}", True),
    ("axis_angle_deg", "axis (°) ↓", "{:.1f}", False),
    ("axis_position_cm", "axis position (cm) ↓", "{:.1f}", False),
    ("type_accuracy", "type (%) ↑", "{:.1f}", True),
    ("part_rotation_deg", "joint state, rotation (°) ↓", "{:.1f}", False),
    ("part_translation_cm", "joint state, translation (cm) ↓", "{:.1f}", False),
    ("missed_joints", "missed joints (%) ↓", "{:.1f}", False),
    ("spurious", "spurious joints / sample ↓", "{:.2f}", False),
]
# the per-category cells (the joint states are in the Mean table and in each folder's table.csv)
PER_CATEGORY = ("miou", "axis_angle_deg", "axis_position_cm", "type_accuracy", "missed_joints", "spurious")
NAN = float("nan")


def load(folder: Path) -> dict[str, dict[str, dict[str, float]]]:
    """method -> column (category, 'Mean') -> metric -> value."""
    out: dict = collections.defaultdict(lambda: collections.defaultdict(dict))
    with open(folder / "table.csv") as f:
        for r in csv.DictReader(f):
            out[r["method"]][r["column"]][r["metric"]] = float(r["mean"]) if int(r["count"]) else NAN
    matched: collections.Counter = collections.Counter()
    with open(folder / "joints.csv") as f:
        for r in csv.DictReader(f):
            if r["status"] not in ("missed", "failed"):
                matched[(r["method"], r["object_id"])] += 1
    predicted: collections.Counter = collections.Counter()
    samples: collections.Counter = collections.Counter()
    category: dict = {}
    with open(folder / "samples.csv") as f:
        for r in csv.DictReader(f):
            predicted[(r["method"], r["object_id"])] += predicted_joints(r)
            samples[(r["method"], r["category"])] += 1
            category[r["object_id"]] = r["category"]
    spurious: collections.Counter = collections.Counter()
    for (method, obj), n in predicted.items():
        spurious[(method, category[obj])] += max(0, n - matched[(method, obj)])
    for (method, cat), n in samples.items():
        out[method][cat]["spurious"] = spurious[(method, cat)] / n
    for cols in out.values():
        per_cat = [v["spurious"] for c, v in cols.items() if c not in ("Mean", "All") and "spurious" in v]
        cols["Mean"]["spurious"] = sum(per_cat) / len(per_cat) if per_cat else NAN
    return out


def worse(value: float, ref: float, higher: bool) -> bool:
    """Worse than the reference by more than the printed precision."""
    if value != value or ref != ref:
        return False
    return value < ref - 1e-9 if higher else value > ref + 1e-9


def fmt(spec: str, value: float) -> str:
    return "-" if value != value else spec.format(value)


def condition_markdown(name: str, data: dict, extra: list[tuple[str, str]] = ()) -> str:
    named = {m for m, _ in extra}
    order = [*STAGES[:2], *extra, *(s for s in STAGES[2:] if s[0] not in named)]
    stages = [(m, h) for m, h in order if m in data]
    ref = data.get(REFERENCE, {})
    lines = [f"**{name}**, Mean over categories (bold: worse than network only at the printed precision)", ""]
    lines += ["| metric | " + " | ".join(h for _, h in stages) + " |", "|---" * (len(stages) + 1) + "|"]
    for key, title, spec, higher in METRICS:
        cells = []
        for m, _ in stages:
            v = data[m]["Mean"].get(key, NAN)
            r = ref.get("Mean", {}).get(key, NAN)
            text = fmt(spec, v)
            shown_v, shown_r = float(text) if text != "-" else NAN, float(fmt(spec, r)) if r == r else NAN
            cells.append(f"**{text}**" if m != REFERENCE and worse(shown_v, shown_r, higher) else text)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    cats = [c for c in next(iter(data.values())) if c not in ("Mean", "All")]
    lines += ["", f"**{name}**, per category: mIoU / axis ° / axis position cm / type % / missed % / spurious per "
              "sample (bold: worse than network only)", ""]  # fmt: skip
    lines += ["| category | " + " | ".join(h for _, h in stages) + " |", "|---" * (len(stages) + 1) + "|"]
    worse_cells = {m: 0 for m, _ in stages}
    for c in [*cats, "Mean"]:
        row = []
        for m, _ in stages:
            d, r = data[m].get(c, {}), ref.get(c, {})
            parts = []
            for key, _, spec, higher in METRICS:
                if key not in PER_CATEGORY:
                    continue
                text, ref_text = fmt(spec, d.get(key, NAN)), fmt(spec, r.get(key, NAN))
                bad = m != REFERENCE and "-" not in (text, ref_text) and worse(float(text), float(ref_text), higher)
                worse_cells[m] += bad and c != "Mean"
                parts.append(f"**{text}**" if bad else text)
            row.append(" / ".join(parts))
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    counts = " | ".join(str(worse_cells[m]) if m != REFERENCE else "-" for m, _ in stages)
    lines.append(f"| (category cells worse than network only, of {len(cats) * len(PER_CATEGORY)}) | {counts} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    extra, folders = [], []
    it = iter(argv)
    for arg in it:
        if arg == "--stage":
            method, _, heading = next(it, "").rpartition("=")
            extra.append((method, heading))
        else:
            folders.append(arg)
    if not folders or any("=" not in a for a in folders) or any(not m for m, _ in extra):
        print(__doc__, file=sys.stderr)
        return 2
    for arg in folders:
        name, _, folder = arg.partition("=")
        print(condition_markdown(name, load(Path(folder)), extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
