"""Error of the run-time optical-flow path against the true scene flow, by distance to depth edges, by motion
size and by depth; and the fit of the training-time noise model (sim2art_core.data.flow_error).

    sim2art-benchmark flow-error --per-category 1 --frames 8 --points 1024 --json runs/flow_error.json
    # = python -m sim2art_core.benchmarks.bench_flow_error ...

Every sequence is rendered at 640x480 (the node's resolution) with its T + 1 frames from validation seeds
(object seed 1e6 + i: never the test split), the window is built by the run-time preprocessing (the
optical-flow condition of sim2art_core.eval.conditions: DIS optical flow + depth, the node's defaults),
and for every valid window point of a part the error vector ``observed flow - true flow`` is recorded with:
its distance (px, 640x480) to the nearest depth edge of its frame (depth jump > 3 % between neighbours, the
background counting as far), the size of its true motion (mm per frame) and its depth (m). The table gives,
per bin, the median and 90th percentile of |error| and the share of gross errors (> GROSS_MM).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

GROSS_MM = 10.0
EDGE_BINS = (0.0, 2.0, 4.0, 8.0, 16.0, np.inf)
MOTION_BINS = (0.0, 1.0, 3.0, 10.0, np.inf)
DEPTH_BINS = (0.0, 1.0, 1.5, 2.0, 3.0, np.inf)


def records_for_sequence(category: str, object_seed: int, sequence_seed: int, num_frames: int, num_points: int,
                         width: int = 640, height: int = 480) -> dict[str, np.ndarray] | None:  # fmt: skip
    """Per-point records of one sequence under the optical-flow condition (module doc); None if no window."""
    from sim2art_core.data.flow_error import depth_edge_distance_px
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.eval.conditions import ConditionConfig, sample_for_window, true_flow
    from sim2art_core.geometry import invert_transform, transform_points
    from sim2art_core.preprocess import build_window

    cfg = SequenceConfig(num_frames=num_frames, num_points=num_points, width=width, height=height)
    try:
        truth, frames = generate_sequence(category, object_seed, sequence_seed, cfg, return_frames=True)
        ccfg = ConditionConfig(width=width, height=height)
        window = build_window(frames, replace(ccfg.preprocess, num_points=num_points), rng=0, frame_id="world")
    except (RuntimeError, ValueError):
        return None
    s = sample_for_window(truth, window, frames)
    gt = true_flow(s)
    sel = window.valid & (s.labels > 0) & np.isfinite(gt).all(-1)
    c0_from_w = invert_transform(np.asarray(truth.world_from_cam[0], np.float64))
    edge, depth, ray = [], [], []
    for t in range(s.num_frames):
        dist = depth_edge_distance_px(frames[t].depth)
        u, v = s.pixels[t, :, 0], s.pixels[t, :, 1]
        edge.append(dist[v, u])
        cam_t = transform_points(invert_transform(c0_from_w @ window.world_from_cam[t]), s.points[t].astype(float))
        depth.append(cam_t[:, 2])
        centre = (c0_from_w @ window.world_from_cam[t])[:3, 3]
        r = s.points[t] - centre
        ray.append(r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-9))
    err = (s.flow.astype(np.float64) - gt)[sel]
    ray_a = np.stack(ray)[sel]
    return {
        "err": err.astype(np.float32),  # (M, 3) m, cam0
        "along_ray": np.sum(err * ray_a, axis=1).astype(np.float32),  # m
        "edge_px": np.stack(edge)[sel].astype(np.float32),
        "motion_mm": (1000.0 * np.linalg.norm(gt[sel], axis=1)).astype(np.float32),
        "depth_m": np.stack(depth)[sel].astype(np.float32),
        "frame_valid": np.array([window.valid.mean()], np.float32),
    }


def collect(categories, per_category: int, num_frames: int, num_points: int, progress: bool = True) -> dict:
    from tqdm import tqdm

    from sim2art_core.train.sources import VAL_SEED_OFFSET

    jobs = [(c, VAL_SEED_OFFSET + i, 7 + i) for c in categories for i in range(per_category)]
    parts = []
    for c, o, q in tqdm(jobs, desc="sequences", unit="seq", disable=not progress):
        r = records_for_sequence(c, o, q, num_frames, num_points)
        if r is not None:
            parts.append(r)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} | {"sequences": len(parts)}


def binned(rec: dict, key: str, bins) -> list[dict]:
    mag = 1000.0 * np.linalg.norm(rec["err"], axis=1)
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (rec[key] >= lo) & (rec[key] < hi)
        if m.sum() < 20:
            continue
        e = mag[m]
        rows.append({
            "bin": f"{lo:g}-{hi:g}", "points": int(m.sum()), "median_mm": float(np.median(e)),
            "p90_mm": float(np.percentile(e, 90)), "gross_percent": float(100 * np.mean(e > GROSS_MM)),
        })  # fmt: skip
    return rows


def markdown(rec: dict, fitted=None) -> str:
    out = []
    for key, bins, title in (("edge_px", EDGE_BINS, "distance to a depth edge (px at 640x480)"),
                             ("motion_mm", MOTION_BINS, "true motion (mm per frame)"),
                             ("depth_m", DEPTH_BINS, "depth (m)")):  # fmt: skip
        out.append(f"| {title} | points | median error (mm) | p90 (mm) | gross > {GROSS_MM:g} mm (%) |")
        out.append("|---|---|---|---|---|")
        for r in binned(rec, key, bins):
            out.append(f"| {r['bin']} | {r['points']} | {r['median_mm']:.2f} | {r['p90_mm']:.1f} | "
                       f"{r['gross_percent']:.1f} |")  # fmt: skip
        if fitted is not None:
            for r in binned(fitted, key, bins):
                out.append(f"| model {r['bin']} | {r['points']} | {r['median_mm']:.2f} | {r['p90_mm']:.1f} | "
                           f"{r['gross_percent']:.1f} |")  # fmt: skip
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from sim2art_core.data.sequence import ALL_CATEGORIES, parse_categories

    p = argparse.ArgumentParser(prog="sim2art-benchmark flow-error", description=__doc__.split("\n\n")[0])
    p.add_argument("--categories", default="broad", help="'all', 'broad' or names (default broad)")
    p.add_argument("--per-category", type=int, default=1)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--npz", default=None, help="also write the per-point records here")
    p.add_argument("--json", default=None, help="write the fitted noise-model parameters and the tables here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        cats = parse_categories(args.categories) if args.categories else ALL_CATEGORIES
    except ValueError as e:
        print(f"bench_flow_error: {e}", file=sys.stderr)
        return 2
    rec = collect(cats, args.per_category, args.frames, args.points, not args.no_progress)
    if args.npz:
        np.savez_compressed(args.npz, **{k: v for k, v in rec.items() if isinstance(v, np.ndarray)})
    from sim2art_core.data.flow_error import FlowErrorModel, fit_flow_error_model

    model = fit_flow_error_model(rec["err"], rec["along_ray"], rec["edge_px"], rec["motion_mm"], rec["depth_m"])
    sim = model.sample_records(rec["edge_px"], rec["motion_mm"], rec["depth_m"], np.random.default_rng(0))
    print(f"{rec['sequences']} sequences, {len(rec['err'])} points")
    print(markdown(rec, {**rec, "err": sim}))
    print("fitted:", model)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": model.to_dict(), "points": len(rec["err"]),
                                               "sequences": rec["sequences"]}, indent=1))  # fmt: skip
    print("defaults (FlowErrorModel()):", FlowErrorModel())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
