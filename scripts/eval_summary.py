#!/usr/bin/env python3
"""The Mean column of a ``sim2art-eval`` output folder per method, with spurious joints per sample.

    python scripts/eval_summary.py eval_out/optical-flow

Spurious joints of a sample = predicted joints - predicted joints matched to a scored ground-truth joint
(joints.csv rows whose status is neither "missed" nor "failed"), summed per object and divided by the
method's number of samples (samples.csv). Prints a Markdown table (docs/EVALUATION.md §8 quotes it).
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

from sim2art_core.metrics.sample import predicted_joints


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    rows: dict[str, dict[str, float]] = collections.defaultdict(dict)
    with open(out / "table.csv") as f:
        for r in csv.DictReader(f):
            if r["column"] == "Mean":
                rows[r["method"]][r["metric"]] = float(r["mean"])
    matched: collections.Counter = collections.Counter()
    predicted: collections.Counter = collections.Counter()
    samples: collections.Counter = collections.Counter()
    with open(out / "joints.csv") as f:
        for r in csv.DictReader(f):
            if r["status"] not in ("missed", "failed"):
                matched[(r["method"], r["object_id"])] += 1
    with open(out / "samples.csv") as f:
        for r in csv.DictReader(f):
            predicted[(r["method"], r["object_id"])] += predicted_joints(r)
            samples[r["method"]] += 1
    spurious: collections.Counter = collections.Counter()
    for (method, obj), n in predicted.items():
        spurious[method] += max(0, n - matched[(method, obj)])
    print("| method | mIoU | axis (°) | axis position (cm) | type (%) | missed joints (%) | spurious joints / sample |")
    print("|---|---|---|---|---|---|---|")
    for method, d in rows.items():
        per_sample = spurious[method] / samples[method]
        print(f"| {method} | {d['miou']:.3f} | {d['axis_angle_deg']:.1f} | {d['axis_position_cm']:.1f} | "
              f"{d['type_accuracy']:.1f} | {d['missed_joints']:.1f} | {per_sample:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
