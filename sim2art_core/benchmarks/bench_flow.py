"""Which rendered resolution the run-time optical-flow path needs (the optical-flow conditions' setting).

    sim2art-benchmark flow-resolution --data DATASET --split val --per-category 1 \\
        --resolutions 160x120 320x240 640x480

For each resolution, every selected sample is re-rendered with its T + 1 frames and turned into a
window by the run-time preprocessing (``make_item(..., "optical-flow")``), and reported are: the
median scene-flow error of the points of moving parts against the ground-truth joint motion, the
share of window points with a valid flow, the joint errors of the oracle "true segmentation +
refinement" (what the flow alone allows), and the time per window (rendering + preprocessing).
Use the val split: the setting is chosen on it, not on the test split.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from sim2art_core.markdown import markdown_table


def measure(samples, dataset_cfg, resolutions: list[tuple[int, int]], progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    from sim2art_core.eval.conditions import ConditionConfig, flow_errors_mm, make_item
    from sim2art_core.eval.methods import MethodOptions, build_method
    from sim2art_core.metrics.sample import evaluate_sample

    oracle = build_method("gtseg-refine", MethodOptions())
    rows = []
    for w, h in resolutions:
        ccfg = ConditionConfig(width=w, height=h)
        flow_moving, valid, seconds, axis, pos, no_window = [], [], [], [], [], 0
        for s in tqdm(samples, desc=f"{w}x{h}", unit="sample", disable=not progress):
            t0 = time.perf_counter()
            item = make_item(s, "optical-flow", dataset_cfg, ccfg)
            seconds.append(time.perf_counter() - t0)
            if item.window is None:
                no_window += 1
                continue
            flow_moving.append(flow_errors_mm(item.sample, item.valid)["moving"])
            valid.append(float(item.valid.mean()))
            m = evaluate_sample(item.sample, oracle(item.sample, item.window), valid=item.valid)
            axis += [j.axis_angle_deg for j in m.joints]
            pos += [j.axis_position_cm for j in m.joints if np.isfinite(j.axis_position_cm)]
        rows.append({
            "resolution": f"{w}x{h}", "samples": len(samples), "no_window": no_window,
            "flow_error_moving_mm_median": float(np.nanmedian(flow_moving)) if flow_moving else float("nan"),
            "valid_percent": 100.0 * float(np.mean(valid)) if valid else float("nan"),
            "oracle_axis_deg_mean": float(np.mean(axis)) if axis else float("nan"),
            "oracle_axis_deg_median": float(np.median(axis)) if axis else float("nan"),
            "oracle_axis_pos_cm_mean": float(np.mean(pos)) if pos else float("nan"),
            "joints": len(axis), "seconds_per_window": float(np.median(seconds)),
        })  # fmt: skip
    return rows


def markdown(rows: list[dict]) -> str:
    return markdown_table([{
        "rendered resolution": r["resolution"],
        "samples": r["samples"],
        "scene-flow error, moving points (mm, median)": f"{r['flow_error_moving_mm_median']:.2f}",
        "valid points (%)": f"{r['valid_percent']:.1f}",
        "true seg. + refinement: axis error (°, mean / median)":
            f"{r['oracle_axis_deg_mean']:.1f} / {r['oracle_axis_deg_median']:.1f}",
        "axis position (cm, mean)": f"{r['oracle_axis_pos_cm_mean']:.1f}",
        "joints": r["joints"],
        "no window": r["no_window"],
        "s per window (render + preprocess)": f"{r['seconds_per_window']:.2f}",
    } for r in rows])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from sim2art_core.eval.cli import _parse_resolution, select_samples

    p = argparse.ArgumentParser(prog="sim2art-benchmark flow-resolution", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--split", default="val", help="split (default val: the setting is chosen on it)")
    p.add_argument("--per-category", type=int, default=1, help="samples per category")
    p.add_argument("--categories", default=None, help="comma-separated (default: all)")
    p.add_argument("--resolutions", nargs="+", type=_parse_resolution, default=[(160, 120), (320, 240), (640, 480)])
    p.add_argument("--json", default=None, help="also write the rows here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from sim2art_core.data.dataset import SequenceDataset

    try:
        ds = SequenceDataset(args.data, args.split)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"flow-resolution: {e}", file=sys.stderr)
        return 2
    cats = args.categories.split(",") if args.categories else None
    samples = list(select_samples(ds, cats, args.per_category, None))
    rows = measure(samples, ds.config, args.resolutions, not args.no_progress)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
