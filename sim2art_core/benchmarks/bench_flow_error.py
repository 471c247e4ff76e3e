"""Error of the run-time optical-flow path against the true scene flow, by distance to depth edges, by motion
size and by depth, the share of points its masks drop; and the fit of the training-time noise model
(sim2art_core.data.flow_error).

    sim2art-benchmark flow-error --per-category 2 --frames 8 --points 1024 --surfaces textured,lacquer \
        --former --npz records.npz --json fit.json        # = python -m sim2art_core.benchmarks.bench_flow_error
    sim2art-benchmark flow-error --from-npz records.npz --fixture ... --stats ... --plot ...   # refit only

Every sequence is rendered at 640x480 (the node's resolution) with its T + 1 frames from validation seeds
(object seed 1e6 + i: never the test split) for each ``--surfaces`` option, the window is built by the
run-time preprocessing (the optical-flow condition of sim2art_core.eval.conditions: DIS optical flow + depth,
the node's defaults; with ``--former`` also with the flow masks before issue 11.4, from the same renders), and
for every window point of a part lifted with depth it records whether the masks kept its flow and, if so, the
error vector ``observed flow - true flow``, with: its distance (px, 640x480) to the nearest depth edge of its
frame (depth jump > 3 % between neighbours, the background counting as far), the size of its true motion (mm
per frame) and its depth (m). The tables give, per bin, the median and 90th percentile of |error| and the share
of gross errors (> GROSS_MM) over the kept points, and the share of dropped points; beside the measurement,
the former model and the refit simulated on the same covariates. The model is fitted per surface option.
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
BINS = {"edge_px": EDGE_BINS, "motion_mm": MOTION_BINS, "depth_m": DEPTH_BINS}
#: Run-time flow masks measured: the node's defaults, and those before the flow-quality merge (issue 11.4:
#: forward-backward check 2 px, no depth-edge mask), for a side-by-side from the same renders.
FLOW_VARIANTS = {"current": {}, "former": {"consistency_px": 2.0, "depth_edge_ratio": 0.0}}
SURFACE_OPTIONS = ("textured", "lacquer")


def records_for_sequence(category: str, object_seed: int, sequence_seed: int, num_frames: int, num_points: int,
                         width: int = 640, height: int = 480, surfaces: str = "textured",
                         flow: str = "current") -> dict[str, np.ndarray] | None:  # fmt: skip
    """Per-point records of one sequence under the optical-flow condition (module doc); None if no window.

    One record per window point of a part (label > 0) that was lifted with depth: ``valid`` False where the
    node's masks dropped its flow (forward-backward check, depth-edge mask, no depth at the target, ...);
    ``err`` / ``along_ray`` are NaN there. ``flow``: a key of :data:`FLOW_VARIANTS`, or several joined by
    commas (the frames are rendered once; then a dict variant -> records, a variant without window None)."""
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.eval.conditions import ConditionConfig
    from sim2art_core.preprocess import build_window

    cfg = SequenceConfig(num_frames=num_frames, num_points=num_points, width=width, height=height,
                         surfaces=surfaces)  # fmt: skip
    variants = flow.split(",")
    try:
        truth, frames = generate_sequence(category, object_seed, sequence_seed, cfg, return_frames=True)
    except (RuntimeError, ValueError):
        return None if len(variants) == 1 else dict.fromkeys(variants)
    pre = ConditionConfig(width=width, height=height).preprocess
    out = {}
    for name in variants:
        pcfg = replace(pre, num_points=num_points, flow=replace(pre.flow, **FLOW_VARIANTS[name]))
        try:
            window = build_window(frames, pcfg, rng=0, frame_id="world")
        except ValueError:  # a frame pair without enough flow: no window (the node restarts)
            out[name] = None
            continue
        out[name] = _records(truth, frames, window)
    return out[variants[0]] if len(variants) == 1 else out


def _records(truth, frames, window) -> dict[str, np.ndarray]:
    from sim2art_core.data.flow_error import depth_edge_distance_px
    from sim2art_core.eval.conditions import sample_for_window, true_flow
    from sim2art_core.geometry import invert_transform, transform_points

    # every lifted point (padding and points without depth are 0), valid flow or not
    lifted = np.any(window.points != 0, axis=-1)
    s = sample_for_window(truth, replace(window, valid=lifted), frames)
    gt = true_flow(s)
    sel = lifted & (s.labels > 0) & np.isfinite(gt).all(-1)
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
    ok = window.valid[sel]
    err = np.where(ok[:, None], (s.flow.astype(np.float64) - gt)[sel], np.nan)
    ray_a = np.stack(ray)[sel]
    return {
        "err": err.astype(np.float32),  # (M, 3) m, cam0; NaN where dropped
        "along_ray": np.sum(err * ray_a, axis=1).astype(np.float32),  # m; NaN where dropped
        "valid": ok,  # (M,) bool: the node kept the point's flow
        "edge_px": np.stack(edge)[sel].astype(np.float32),
        "motion_mm": (1000.0 * np.linalg.norm(gt[sel], axis=1)).astype(np.float32),
        "depth_m": np.stack(depth)[sel].astype(np.float32),
        "frame_valid": np.array([window.valid[lifted].mean()], np.float32),  # all lifted points, root included
    }


def collect(categories, per_category: int, num_frames: int, num_points: int, progress: bool = True,
            surfaces: str = "textured", flow: str = "current") -> dict[str, dict]:  # fmt: skip
    """Records per flow variant (``flow``: comma-separated keys of :data:`FLOW_VARIANTS`) of
    ``per_category`` validation-seed sequences per category (object seeds 1e6 + i, sequence seeds 7 + i:
    the same objects for every surface option and variant). ``sequences``: those with a window."""
    from tqdm import tqdm

    from sim2art_core.train.sources import VAL_SEED_OFFSET

    variants = flow.split(",")
    jobs = [(c, VAL_SEED_OFFSET + i, 7 + i) for c in categories for i in range(per_category)]
    parts: dict[str, list] = {v: [] for v in variants}
    for c, o, q in tqdm(jobs, desc=f"sequences ({surfaces})", unit="seq", disable=not progress):
        r = records_for_sequence(c, o, q, num_frames, num_points, surfaces=surfaces, flow=flow)
        r = r if len(variants) > 1 else {variants[0]: r}
        for v in variants:
            if r[v] is not None:
                parts[v].append(r[v])
    out = {}
    for v, ps in parts.items():
        if not ps:
            raise RuntimeError(f"bench_flow_error: no {surfaces} sequence gave a window with the {v} flow masks")
        out[v] = {k: np.concatenate([p[k] for p in ps]) for k in ps[0]} | {"sequences": len(ps), "jobs": len(jobs)}
    return out


def kept(rec: dict) -> dict:
    """The records whose flow the node kept (what the error statistics and the error fit use)."""
    v = rec["valid"]
    return {k: (a[v] if isinstance(a, np.ndarray) and len(a) == len(v) else a) for k, a in rec.items()}


def binned(rec: dict, key: str, bins) -> list[dict]:
    """Per bin of ``rec[key]``: points, the share the node's masks dropped (%), and over the kept points
    the median and p90 of |error| (mm) and the share of gross errors (%)."""
    valid = rec["valid"] if "valid" in rec else np.ones(len(rec[key]), bool)
    mag = 1000.0 * np.linalg.norm(np.nan_to_num(rec["err"], nan=0.0), axis=1)
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (rec[key] >= lo) & (rec[key] < hi)
        k = m & valid
        if k.sum() < 20:
            continue
        e = mag[k]
        rows.append({
            "bin": f"{lo:g}-{hi:g}", "points": int(m.sum()), "median_mm": float(np.median(e)),
            "p90_mm": float(np.percentile(e, 90)), "gross_percent": float(100 * np.mean(e > GROSS_MM)),
            "drop_percent": float(100 * (1 - valid[m].mean())),
        })  # fmt: skip
    return rows


def summary(rec: dict) -> dict:
    """Overall statistics: kept points' median / p90 |error| (mm) and gross share, the drop share (%)."""
    k = kept(rec)
    mag = 1000.0 * np.linalg.norm(k["err"], axis=1)
    return {
        "points": int(len(rec["valid"])), "kept": int(len(mag)), "median_mm": float(np.median(mag)),
        "p90_mm": float(np.percentile(mag, 90)), "gross_percent": float(100 * np.mean(mag > GROSS_MM)),
        "drop_percent": float(100 * (1 - rec["valid"].mean())),
    }  # fmt: skip


def simulate(model, rec: dict, seed: int = 0) -> dict:
    """The model's records for the measured covariates: sampled errors, and drops (``valid``) drawn
    with its drop probability (model statistics comparable with :func:`binned`)."""
    rng = np.random.default_rng(seed)
    err = model.sample_records(rec["edge_px"], rec["motion_mm"], rec["depth_m"], rng)
    valid = rng.random(len(err)) >= model.drop_probability(rec["edge_px"], rec["motion_mm"], rec["depth_m"])
    return {**rec, "err": np.where(valid[:, None], err, np.nan), "valid": valid}


TITLES = {"edge_px": "distance to a depth edge (px at 640x480)", "motion_mm": "true motion (mm per frame)",
          "depth_m": "depth (m)"}  # fmt: skip


def markdown(columns: dict[str, dict]) -> str:
    """One table per covariate: rows = bins, one 'median / p90 / gross % / drop %' cell per named record set."""
    out = []
    names = list(columns)
    for key, bins in BINS.items():
        tabs = {n: {r["bin"]: r for r in binned(columns[n], key, bins)} for n in names}
        first = tabs[names[0]]
        out.append(f"| {TITLES[key]} | points | " + " | ".join(names) + " |")
        out.append("|---|---|" + "---|" * len(names))
        for b, r0 in first.items():
            cells = []
            for n in names:
                r = tabs[n].get(b)
                cells.append("–" if r is None else f"{r['median_mm']:.2f} / {r['p90_mm']:.1f} / "
                             f"{r['gross_percent']:.1f} / {r['drop_percent']:.0f}")  # fmt: skip
            out.append(f"| {b} | {r0['points']} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("Cells: median |error| (mm) / p90 (mm) / gross > 10 mm (%) of the kept points / dropped (%).")
    return "\n".join(out)


def plot(columns: dict[str, dict], path: str, title: str = "") -> None:
    """Median and p90 |error| and the drop share per bin, one line per named record set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(13, 10), constrained_layout=True)
    for j, (key, bins) in enumerate(BINS.items()):
        for name, rec in columns.items():
            rows = binned(rec, key, bins)
            x = np.arange(len(rows))
            style = "--" if name.startswith("model") else "-"
            for i, (field, label) in enumerate((("median_mm", "median |error| (mm)"), ("p90_mm", "p90 |error| (mm)"),
                                                ("drop_percent", "dropped by the masks (%)"))):  # fmt: skip
                ax = axes[i, j]
                ax.plot(x, [r[field] for r in rows], style, marker="o", label=name)
                ax.set_xticks(x, [r["bin"] for r in rows])
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
            axes[2, j].set_xlabel(TITLES[key])
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Run-time optical-flow path vs the noise model, {title} (sim2art-benchmark flow-error)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from sim2art_core.data.sequence import ALL_CATEGORIES, parse_categories

    p = argparse.ArgumentParser(prog="sim2art-benchmark flow-error", description=__doc__.split("\n\n")[0])
    p.add_argument("--categories", default="broad", help="'all', 'broad' or names (default broad)")
    p.add_argument("--per-category", type=int, default=1)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--surfaces", default="textured,lacquer",
                   help=f"SequenceConfig.surfaces options, comma-separated ({', '.join(SURFACE_OPTIONS)}, plain); "
                   "the model is fitted per option (default textured,lacquer)")  # fmt: skip
    p.add_argument(
        "--former",
        action="store_true",
        help="also measure the former flow masks (fb 2 px, no depth-edge mask) on the same renders",
    )
    p.add_argument("--npz", default=None, help="also write the per-point records here (one file, keys surface/...)")
    p.add_argument("--json", default=None, help="write the fitted parameters, per-bin statistics here")
    p.add_argument("--fixture", default=None,
                   help="write a subsample of each surface option's records (the test fixture) to this path, "
                   "'{surface}' replaced by the option")  # fmt: skip
    p.add_argument("--fixture-points", type=int, default=10000)
    p.add_argument("--stats", default=None,
                   help="write the measured per-bin statistics (the test reference) here")  # fmt: skip
    p.add_argument("--plot", default=None, help="write a PNG per surface option here ('{surface}' as --fixture)")
    p.add_argument("--from-npz", default=None, help="refit from the records of an earlier --npz run (no rendering)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        cats = parse_categories(args.categories) if args.categories else ALL_CATEGORIES
    except ValueError as e:
        print(f"bench_flow_error: {e}", file=sys.stderr)
        return 2
    from sim2art_core.data.flow_error import FORMER_MODEL, FlowErrorModel, fit_flow_error_model

    flow = "current,former" if args.former else "current"
    surfaces = [x.strip() for x in args.surfaces.split(",")]
    if args.from_npz:  # refit without rendering: records of an earlier --npz run
        try:
            all_recs, report_meta = load_records(args.from_npz, surfaces)
        except (OSError, ValueError, KeyError) as e:
            print(f"bench_flow_error: cannot read records from {args.from_npz}: {e}", file=sys.stderr)
            return 2
    else:
        all_recs = {s_: collect(cats, args.per_category, args.frames, args.points, not args.no_progress, s_, flow)
                    for s_ in surfaces}  # fmt: skip
        report_meta = {"categories": list(cats), "per_category": args.per_category, "frames": args.frames,
                       "points_per_frame": args.points}  # fmt: skip
        if args.npz:  # before fitting: a failed fit must not cost the measurement
            save_records(args.npz, all_recs, report_meta)
    report: dict = report_meta | {"surfaces": {}}
    for surf in surfaces:
        recs = all_recs[surf]
        rec = recs["current"]
        model = fit_flow_error_model(**fit_inputs(rec))
        cols = {"measured": rec}
        if "former" in recs:
            cols["measured, former masks"] = recs["former"]
        cols["model before refit"] = simulate(FORMER_MODEL, rec)
        cols["model refit"] = simulate(model, rec)
        print(f"\n## {surf}: {rec['sequences']} of {rec['jobs']} sequences with a window, {len(rec['valid'])} part "
              f"points ({int(rec['valid'].sum())} kept)")  # fmt: skip
        print(markdown(cols))
        for n, c in cols.items():
            print(f"{n}: " + ", ".join(f"{kk} {vv:.3g}" for kk, vv in summary(c).items()))
        print("fitted:", model)
        report["surfaces"][surf] = {
            "sequences": rec["sequences"], "jobs": rec["jobs"], "model": model.to_dict(),
            "summary": {n: summary(c) for n, c in cols.items()},
            "bins": {n: {key: binned(c, key, b) for key, b in BINS.items()} for n, c in cols.items()},
        }  # fmt: skip
        print("shipped default (FlowErrorModel(), fitted to textured surfaces):", FlowErrorModel())
        if args.fixture:
            write_fixture(rec, args.fixture.replace("{surface}", surf), args.fixture_points)
        if args.plot:
            plot(cols, args.plot.replace("{surface}", surf), surf)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.stats:
        stats = {
            "source": "sim2art-benchmark flow-error (sim2art_core.benchmarks.bench_flow_error)",
            "run": report_meta,
        }
        for surf, r in report["surfaces"].items():
            stats[surf] = {"sequences": r["sequences"], "summary": r["summary"]["measured"]} | r["bins"]["measured"]
        Path(args.stats).parent.mkdir(parents=True, exist_ok=True)
        Path(args.stats).write_text(json.dumps(stats, indent=1) + "\n")
    return 0


def save_records(path: str, all_recs: dict[str, dict[str, dict]], run: dict) -> None:
    """Records per surface option and flow variant (:func:`collect`) and the run's settings, one .npz."""
    arrays = {f"{s}/{v}/{k}": a for s, recs in all_recs.items() for v, r in recs.items()
              for k, a in r.items() if isinstance(a, np.ndarray)}  # fmt: skip
    counts = {s: {v: {"sequences": r["sequences"], "jobs": r["jobs"]} for v, r in recs.items()}
              for s, recs in all_recs.items()}  # fmt: skip
    meta = {"run": run, "counts": counts}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def load_records(path: str, surfaces) -> tuple[dict[str, dict[str, dict]], dict]:
    """What :func:`save_records` wrote: (records per surface option and flow variant, the run's settings)."""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    out = {}
    for s in surfaces:
        if s not in meta["counts"]:
            raise ValueError(f"{path} holds no {s!r} records (it has {', '.join(meta['counts'])})")
        out[s] = {}
        for v, counts in meta["counts"][s].items():
            pre = f"{s}/{v}/"
            out[s][v] = {k[len(pre) :]: data[k] for k in data.files if k.startswith(pre)} | counts
    return out, meta["run"]


def fit_inputs(rec: dict) -> dict:
    """Keyword arguments of fit_flow_error_model for the records of one measurement."""
    k = kept(rec)
    return {"err": k["err"], "along_ray": k["along_ray"], "edge_px": k["edge_px"], "motion_mm": k["motion_mm"],
            "depth_m": k["depth_m"], "dropped": ~rec["valid"],
            "all_covariates": (rec["edge_px"], rec["motion_mm"], rec["depth_m"])}  # fmt: skip


def write_fixture(rec: dict, path: str, n: int, seed: int = 0) -> None:
    """A random subsample of the records (errors in mm, NaN where dropped; covariates float16) for the test."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(rec["valid"]), size=min(n, len(rec["valid"])), replace=False))
    np.savez_compressed(
        path,
        error_mm=(1000.0 * np.linalg.norm(rec["err"][idx], axis=1)).astype(np.float32),
        valid=rec["valid"][idx],
        edge_px=rec["edge_px"][idx].astype(np.float16),
        motion_mm=rec["motion_mm"][idx].astype(np.float32),
        depth_m=rec["depth_m"][idx].astype(np.float16),
    )


if __name__ == "__main__":
    raise SystemExit(main())
