"""Which run-time optical flow, and which masks, on textured and on plain (lacquer) objects.

    sim2art-benchmark flow-methods --data DATASET --split val --categories Storage1,Box --out DIR \\
        [--surfaces textured,lacquer] [--variants dis-medium,farneback,...] [--stages export,run,score]

Stages (each reads what the previous wrote into ``--out``):

* ``export``: every selected sample is re-rendered at ``--resolution`` (640x480) with its T + 1 frames, once
  per surface option (``SequenceConfig.surfaces``: textured, and lacquer — uniform white/grey fronts as in
  real kitchens); frames and ground truth go to ``OUT/frames/<object>-<seq>-<surface>.npz``.
* ``run``: every variant (a flow method with its settings and masks, :data:`VARIANTS`) turns each exported
  sequence into a window with the run-time preprocessing (``build_window``, the node's code, object mask
  from the renderer as in the optical-flow condition); the wall time of every optical-flow call is
  recorded. Windows go to ``OUT/windows/<variant>/``. The OpenCV-contrib methods (RLOF, DeepFlow, TV-L1,
  PCAFlow) need ``opencv-contrib-python-headless``, which replaces the project's ``cv2``: run this stage
  with ``--contrib`` in a separate venv holding numpy, scipy and the contrib wheel (see
  docs/EVALUATION.md); it needs no torch and no PyBullet.
* ``score``: per variant and surface, the scene-flow error against the true motion of each point's part
  (``conditions.true_flow``) on the valid points of moving parts — median and p90 over the pooled points —,
  the share of moving points kept valid, the share of valid static points with a spurious flow > 1 cm
  ("confident noise" on the base), the time per flow call, and the joint errors of the oracle "true
  segmentation + refinement" (``gtseg-refine``, what the flow alone allows) and of ``sim2art`` (with
  ``--checkpoint`` or the shipped one; ``--no-network`` skips it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

#: variant name -> (flow method, FlowConfig overrides, DISConfig overrides), on top of :data:`BASE`.
#: The node's default (forward-backward 1 px, depth-edge mask 2 %) is "dis-medium-fb1-edge2".
#: what every variant starts from: the preprocessing before the masks were measured (forward-backward 2 px, no
#: depth-edge mask), so that each variant states all of its masks
BASE = {"consistency_px": 2.0, "depth_edge_ratio": 0.0, "depth_edge_px": 1, "min_texture": 0.0}
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "dis-ultrafast": ("dis", {}, {"preset": "ultrafast"}),
    "dis-ultrafast+var": ("dis", {}, {"preset": "ultrafast", "variational_refinement_iterations": 5}),
    "dis-fast": ("dis", {}, {"preset": "fast"}),
    "dis-fast-novar": ("dis", {}, {"preset": "fast", "variational_refinement_iterations": 0}),
    "dis-medium": ("dis", {}, {"preset": "medium"}),
    "dis-medium-novar": ("dis", {}, {"preset": "medium", "variational_refinement_iterations": 0}),
    "dis-medium-var20": ("dis", {}, {"preset": "medium", "variational_refinement_iterations": 20}),
    "farneback": ("farneback", {}, {}),
    # masks on the default method
    "dis-medium-nofb": ("dis", {"consistency_px": 0.0}, {"preset": "medium"}),
    "dis-medium-fb1": ("dis", {"consistency_px": 1.0}, {"preset": "medium"}),
    "dis-medium-edge2": ("dis", {"depth_edge_ratio": 0.02, "depth_edge_px": 1}, {"preset": "medium"}),
    "dis-medium-edge5": ("dis", {"depth_edge_ratio": 0.05, "depth_edge_px": 2}, {"preset": "medium"}),
    "dis-medium-fb1-edge2": (
        "dis",
        {"consistency_px": 1.0, "depth_edge_ratio": 0.02, "depth_edge_px": 1},
        {"preset": "medium"},
    ),  # fmt: skip
    "dis-medium-tex": ("dis", {"min_texture": 1e-6}, {"preset": "medium"}),
    "dis-medium-fb1-edge2-tex": (
        "dis",
        {"consistency_px": 1.0, "depth_edge_ratio": 0.02, "depth_edge_px": 1, "min_texture": 1e-6},
        {"preset": "medium"},
    ),  # fmt: skip
    # OpenCV contrib (--contrib, separate venv)
    "rlof": ("rlof", {}, {}),
    "deepflow": ("deepflow", {}, {}),
    "tvl1": ("tvl1", {}, {}),
    "pcaflow": ("pcaflow", {}, {}),
}
CONTRIB = ("rlof", "deepflow", "tvl1", "pcaflow")


def variant_config(name: str, num_points: int):
    """The PreprocessConfig of a variant (node defaults, object mask from the renderer)."""
    from sim2art_core.eval.conditions import _default_preprocess

    method, flow_over, dis_over = VARIANTS[name]
    pre = _default_preprocess()
    flow = replace(pre.flow, method=method, dis=replace(pre.flow.dis, **dis_over), **{**BASE, **flow_over})
    return replace(pre, num_points=num_points, flow=flow)


# ------------------------------------------------------------------------------------------ export
def _frames_to_arrays(frames) -> dict[str, np.ndarray]:
    f0 = frames[0]
    i = f0.intrinsics
    return {
        "rgb": np.stack([f.rgb for f in frames]),
        "depth": np.stack([f.depth for f in frames]),
        "mask": np.stack([f.mask for f in frames]),
        "part_mask": np.stack([f.part_mask for f in frames]),
        "pose": np.stack([f.world_from_cam for f in frames]),
        "stamp_ns": np.array([f.stamp_ns for f in frames], np.int64),
        "intrinsics": np.array([i.fx, i.fy, i.cx, i.cy, i.width, i.height], np.float64),
    }


def load_frames(path: Path):
    """The exported RGBDFrames of one sequence (numpy + sim2art_core.frames only)."""
    from sim2art_core.camera import Intrinsics
    from sim2art_core.frames import RGBDFrame

    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files if k.startswith("f_")}
    fx, fy, cx, cy, w, h = d["f_intrinsics"]
    intr = Intrinsics(fx, fy, cx, cy, int(w), int(h))
    return [
        RGBDFrame(
            d["f_rgb"][t],
            d["f_depth"][t],
            intr,
            d["f_pose"][t],
            int(d["f_stamp_ns"][t]),
            d["f_mask"][t],
            d["f_part_mask"][t],
        )  # fmt: skip
        for t in range(len(d["f_rgb"]))
    ]


def export(samples, dataset_cfg, out: Path, surfaces: list[str], resolution: tuple[int, int], progress=True) -> None:
    from tqdm import tqdm

    from sim2art_core.data.generator import generate_sequence

    folder = out / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(s, surf) for s in samples for surf in surfaces]
    for s, surf in tqdm(jobs, desc="export", unit="sequence", disable=not progress):
        path = folder / f"{s.object_id}-{s.sequence_seed}-{surf}.npz"
        if path.is_file():
            continue
        cfg = replace(dataset_cfg, width=resolution[0], height=resolution[1], surfaces=surf)
        truth, frames = generate_sequence(s.category, s.object_seed, s.sequence_seed, cfg, return_frames=True)
        arrays = {f"f_{k}": v for k, v in _frames_to_arrays(frames).items()}
        arrays.update({f"s_{k}": v for k, v in truth.to_arrays().items()})
        arrays["s_image_size"] = np.asarray(truth.image_size, np.int64)
        np.savez_compressed(path, **arrays)


# --------------------------------------------------------------------------------------------- run
class _Timed:
    def __init__(self, fn):
        self.fn, self.seconds = fn, []

    def __call__(self, g0, g1):
        t0 = time.perf_counter()
        out = self.fn(g0, g1)
        self.seconds.append(time.perf_counter() - t0)
        return out


def run(out: Path, variants: list[str], num_points: int, seed: int = 0, progress=True) -> None:
    """Windows of every exported sequence under every variant; flow-call times in ``times.json``."""
    from tqdm import tqdm

    from sim2art_core.preprocess import build_window
    from sim2art_core.preprocess import window_builder as wb

    files = sorted((out / "frames").glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no exported sequences in {out / 'frames'} (run the export stage first)")
    for name in variants:
        folder = out / "windows" / name
        folder.mkdir(parents=True, exist_ok=True)
        pre = variant_config(name, num_points)
        times: dict[str, list[float]] = {}
        original = wb.OpticalFlow
        timers = []

        def timed_flow(cfg, _orig=original, timers=timers):
            t = _Timed(_orig(cfg))
            timers.append(t)
            return t

        wb.OpticalFlow = timed_flow  # time every flow call of the builder, nothing else
        try:
            for path in tqdm(files, desc=name, unit="sequence", disable=not progress):
                frames = load_frames(path)
                timers.clear()
                try:
                    w = build_window(frames, pre, rng=seed, frame_id="world")
                except ValueError as e:
                    (folder / (path.stem + ".txt")).write_text(str(e))
                    continue
                times[path.stem] = [s for t in timers for s in t.seconds]
                arrays = {"points": w.points, "flow": w.flow, "valid": w.valid, "stamps_ns": w.stamps_ns,
                          "world_from_cam": w.world_from_cam, "colors": w.colors}  # fmt: skip
                np.savez_compressed(folder / path.name, **arrays)
        finally:
            wb.OpticalFlow = original
        (folder / "times.json").write_text(json.dumps(times))


# ------------------------------------------------------------------------------------------- score
def _truth(path: Path):
    from sim2art_core.data.sequence import SequenceSample

    with np.load(path, allow_pickle=False) as z:
        s = {k[2:]: z[k] for k in z.files if k.startswith("s_")}
    for k in ("object_id", "category", "realism"):
        s[k] = str(s[k])
    for k in ("object_seed", "sequence_seed"):
        s[k] = int(s[k])
    for k in ("part_names", "joint_names"):
        s[k] = tuple(str(x) for x in s[k])
    s["image_size"] = tuple(int(x) for x in s["image_size"])
    return SequenceSample(**s)


def score(out: Path, variants: list[str], checkpoint: str | None, network: bool, progress=True) -> list[dict]:
    from tqdm import tqdm

    from sim2art_core.eval.conditions import sample_for_window, true_flow, window_pixels
    from sim2art_core.eval.methods import MethodOptions, build_method
    from sim2art_core.metrics.sample import evaluate_sample
    from sim2art_core.window import Window

    methods = {"gtseg-refine": build_method("gtseg-refine", MethodOptions())}
    if network:
        methods["sim2art"] = build_method("sim2art", MethodOptions(checkpoint=checkpoint))
    rows = []
    files = sorted((out / "frames").glob("*.npz"))
    truths = {p.stem: _truth(p) for p in files}
    for name in variants:
        folder = out / "windows" / name
        if not (folder / "times.json").is_file():
            continue
        times = json.loads((folder / "times.json").read_text())
        by_surface: dict[str, dict] = {}
        for path in tqdm(files, desc=f"score {name}", unit="sequence", disable=not progress):
            surface = path.stem.rsplit("-", 1)[1]
            acc = by_surface.setdefault(surface, {"err": [], "static_bad": [], "moving_valid": [], "times": [],
                                                  "no_window": 0, "sequences": 0, "joints": {m: [] for m in methods},
                                                  "miou": [], "valid": []})  # fmt: skip
            acc["sequences"] += 1
            wpath = folder / path.name
            if not wpath.is_file():
                acc["no_window"] += 1
                continue
            with np.load(wpath, allow_pickle=False) as z:
                w = Window(z["points"], z["flow"], z["valid"], z["stamps_ns"], z["world_from_cam"], "world",
                           z["colors"]).validate()  # fmt: skip
            frames = load_frames(path)
            s = sample_for_window(truths[path.stem], w, frames)
            err = 1000.0 * np.linalg.norm(s.flow.astype(np.float64) - true_flow(s), axis=-1)
            moving_parts = np.flatnonzero(s.part_moving)
            moving = np.isin(s.labels, moving_parts)
            static = ~moving
            acc["err"].append(err[moving & w.valid & np.isfinite(err)])
            # every sampled object point (valid or not) labelled from the rendered part mask: which share of the
            # moving parts' points keeps a flow
            sampled = np.isfinite(w.points).all(-1) & np.any(w.points != 0, axis=-1)
            uv = window_pixels(replace(w, valid=sampled), frames[0].intrinsics)
            lab = np.stack([frames[t].part_mask[uv[t, :, 1], uv[t, :, 0]] for t in range(w.num_frames)])
            on_moving = sampled & np.isin(lab, moving_parts)
            acc["moving_valid"].append((int((on_moving & w.valid).sum()), int(on_moving.sum())))
            acc["valid"].append((int(w.valid.sum()), int(sampled.sum())))
            acc["static_bad"].append((int((static & w.valid & (err > 10.0)).sum()), int((static & w.valid).sum())))
            acc["times"] += times.get(path.stem, [])
            for m, fn in methods.items():
                metrics = evaluate_sample(s, fn(s, w), valid=w.valid)
                acc["joints"][m] += [(j.axis_angle_deg, j.axis_position_cm) for j in metrics.joints]
                if m == "sim2art":
                    acc["miou"].append(metrics.miou)
        for surface, a in by_surface.items():
            err = np.concatenate(a["err"]) if a["err"] else np.zeros(0)
            mv = np.array(a["moving_valid"]).reshape(-1, 2).sum(0)
            sb = np.array(a["static_bad"]).reshape(-1, 2).sum(0)
            va = np.array(a["valid"]).reshape(-1, 2).sum(0)
            row = {
                "variant": name, "surface": surface, "sequences": a["sequences"], "no_window": a["no_window"],
                "err_median_mm": float(np.median(err)) if len(err) else float("nan"),
                "err_p90_mm": float(np.percentile(err, 90)) if len(err) else float("nan"),
                "moving_valid_pct": 100.0 * mv[0] / max(mv[1], 1),
                "valid_pct": 100.0 * va[0] / max(va[1], 1),
                "static_spurious_pct": 100.0 * sb[0] / max(sb[1], 1),
                "ms_per_flow": 1000.0 * float(np.median(a["times"])) if a["times"] else float("nan"),
            }  # fmt: skip
            for m, js in a["joints"].items():
                ang = [x for x, _ in js]
                pos = [y for _, y in js if np.isfinite(y)]
                row[f"{m}_axis_deg"] = float(np.mean(ang)) if ang else float("nan")
                row[f"{m}_axis_pos_cm"] = float(np.mean(pos)) if pos else float("nan")
                row[f"{m}_joints"] = len(ang)
            row["sim2art_miou"] = float(np.mean(a["miou"])) if a["miou"] else float("nan")
            rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    net = any(np.isfinite(r.get("sim2art_axis_deg", np.nan)) for r in rows)
    head = ("| variant | surface | moving points: error median / p90 (mm) | points with flow: all / moving parts (%) | "
            "static points with > 1 cm flow (%) | ms per flow call (median) | true seg. + refinement: axis (°) / "
            "position (cm) |")  # fmt: skip
    sep = "|---|---|---|---|---|---|---|"
    if net:
        head += " sim2art: mIoU / axis (°) / position (cm) |"
        sep += "---|"
    lines = [head, sep]
    for r in rows:
        line = (f"| {r['variant']} | {r['surface']} | {r['err_median_mm']:.2f} / {r['err_p90_mm']:.1f} | "
                f"{r['valid_pct']:.0f} / {r['moving_valid_pct']:.0f} | {r['static_spurious_pct']:.2f} | "
                f"{r['ms_per_flow']:.1f} | "
                f"{r['gtseg-refine_axis_deg']:.1f} / {r['gtseg-refine_axis_pos_cm']:.1f} |")  # fmt: skip
        if net:
            line += f" {r['sim2art_miou']:.2f} / {r['sim2art_axis_deg']:.1f} / {r['sim2art_axis_pos_cm']:.1f} |"
        if r["no_window"]:
            line += f" ({r['no_window']} of {r['sequences']} without a window)"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sim2art-benchmark flow-methods", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="dataset root (export stage)")
    p.add_argument("--split", default="val", help="split (default val: the default is chosen on it)")
    p.add_argument("--categories", default=None, help="comma-separated (default: all)")
    p.add_argument("--per-category", type=int, default=1, help="samples per category")
    p.add_argument("--surfaces", default="textured,lacquer", help="SequenceConfig.surfaces options to render")
    p.add_argument("--resolution", default="640x480", help="rendered image size")
    p.add_argument("--points", type=int, default=1024, help="N points per window frame")
    p.add_argument("--variants", default=None, help=f"comma-separated from {', '.join(VARIANTS)} (default: all "
                   "non-contrib ones; with --contrib the contrib ones)")  # fmt: skip
    p.add_argument("--contrib", action="store_true", help="register the OpenCV-contrib methods (contrib venv)")
    p.add_argument("--stages", default="export,run,score", help="comma-separated from export, run, score")
    p.add_argument("--checkpoint", default=None, help="sim2art checkpoint for the score stage")
    p.add_argument("--no-network", action="store_true", help="score only the oracle, not sim2art")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if args.contrib:
        from sim2art_core.benchmarks.flow_contrib import register

        try:
            register()
        except RuntimeError as e:
            print(f"flow-methods: {e}", file=sys.stderr)
            return 2
    default = CONTRIB if args.contrib else tuple(v for v in VARIANTS if v not in CONTRIB)
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else list(default)
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        print(f"flow-methods: unknown variants {bad}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    progress = not args.no_progress
    if "export" in stages:
        from sim2art_core.data.dataset import SequenceDataset
        from sim2art_core.eval.cli import _parse_resolution, select_samples

        try:
            ds = SequenceDataset(args.data, args.split)
        except (FileNotFoundError, ValueError, OSError, TypeError) as e:
            print(f"flow-methods: {e}", file=sys.stderr)
            return 2
        cats = args.categories.split(",") if args.categories else None
        samples = list(select_samples(ds, cats, args.per_category, None))
        surfaces = [s.strip() for s in args.surfaces.split(",") if s.strip()]
        export(samples, ds.config, out, surfaces, _parse_resolution(args.resolution), progress)
    if "run" in stages:
        run(out, variants, args.points, progress=progress)
    if "score" in stages:
        rows = score(out, variants, args.checkpoint, not args.no_network, progress)
        (out / "scores.json").write_text(json.dumps(rows, indent=1))
        md = markdown(rows)
        (out / "table.md").write_text(md)
        print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
