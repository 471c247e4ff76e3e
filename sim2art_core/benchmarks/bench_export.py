"""URDF export benchmark: export time, mesh sizes and the round-trip distance (docs/BENCHMARKS.md).

    sim2art-benchmark export [--per-category 1] [--frames 8] [--points 512] [--seed 0] [--optical-flow]

One test-split sequence per category (``plan_splits`` with ``--seed``, generated on the fly), the true
segmentation + refinement estimate (oracle ``gtseg-refine``), then :func:`sim2art_core.export.export_urdf`.
Reported per model: export time (observed geometry + URDF + meshes, ms, median of 3), links, convex
pieces, mesh vertices and bytes, and the round trip: the URDF (loaded with yourdfpy) posed at each
frame's estimated joint state, the mean distance of each part's observed points to its link's mesh
surface (trimesh), averaged over frames; the table gives the mean and the worst part. With
``--optical-flow`` the same through the run-time optical-flow path (640x480, DIS, as the node).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np


def round_trip_distances(model, estimate, window, urdf_path) -> dict[int, float]:
    """Per link (keyed by the estimate part label owning it): mean over frames of the mean distance (m)
    of the part's valid observed points to the link's mesh surface, with the URDF at ``urdf_path``
    (loaded with yourdfpy, meshes read back from the files) posed at each frame's estimated state."""
    import trimesh
    import yourdfpy

    urdf = yourdfpy.URDF.load(str(urdf_path), build_scene_graph=True, load_meshes=True)
    out: dict[int, list[float]] = {k: [] for k in model.links}
    for t in range(window.num_frames):
        cfg = {name: float(j.amounts[t]) for j in estimate.joints if (name := model.joint_names.get(j.child))}
        if cfg:
            urdf.update_cfg(cfg)
        for label, link in model.links.items():
            sel = np.isin(estimate.labels[t], link.parts) & window.valid[t]
            if not sel.any():
                continue
            pose = urdf.get_transform(link.name, model.root_link)
            meshes = [g.geometry.mesh.filename for g in urdf.link_map[link.name].collisions]
            mesh = trimesh.util.concatenate([trimesh.load(urdf_path.parent / f, force="mesh") for f in meshes])
            _, d, _ = trimesh.proximity.closest_point(mesh.apply_transform(pose), window.points[t][sel].astype(float))
            out[label].append(float(d.mean()))
    return {k: float(np.mean(v)) for k, v in out.items() if v}


def category_samples(per_category: int, frames: int, points: int, seed: int):
    """``per_category`` test-split sequences of every category (the dataset plan of ``seed``)."""
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.data.jobs import plan_splits
    from sim2art_core.data.sequence import CATEGORIES

    cfg = SequenceConfig(num_frames=frames, num_points=points)
    jobs = plan_splits(CATEGORIES, max(7, 7 * per_category), 1, seed)["test"]
    by_cat = {c: [j for j in jobs if j.category == c][:per_category] for c in CATEGORIES}
    return cfg, [
        generate_sequence(j.category, j.object_seed, j.sequence_seed, cfg) for c in CATEGORIES for j in by_cat[c]
    ]


def measure(sample, window, tmpdir) -> dict:
    from pathlib import Path

    from sim2art_core.eval.methods import MethodOptions, build_method
    from sim2art_core.export import export_urdf, observed_geometry_from_window

    estimate = build_method("gtseg-refine", MethodOptions())(sample, window)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        model = export_urdf(estimate, observed_geometry_from_window(window, estimate))
        times.append(time.perf_counter() - t0)
    path = model.write(Path(tmpdir) / f"{sample.category}-{sample.object_seed}")
    rt = round_trip_distances(model, estimate, window, path)
    return {
        "category": sample.category, "status": estimate.status.name, "ms": 1e3 * statistics.median(times),
        "links": len(model.links), "joints": len(model.joint_names),
        "pieces": sum(len(link.meshes) for link in model.links.values()),
        "vertices": sum(len(m.vertices) for link in model.links.values() for m in link.meshes),
        "bytes": sum(len(b) for b in model.files.values()), "urdf_bytes": len(model.urdf.encode()),
        "rt_mean_cm": 100 * float(np.mean(list(rt.values()))), "rt_worst_cm": 100 * float(max(rt.values())),
    }  # fmt: skip


def markdown(rows: list[dict], title: str) -> str:
    head = (
        "| category | status | export ms | links | joints | pieces | vertices | mesh bytes | URDF bytes"
        " | round trip mean cm | worst part cm |"
    )
    lines = [f"**{title}**", "", head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['category']} | {r['status']} | {r['ms']:.1f} | {r['links']} | {r['joints']} | {r['pieces']} | "
            f"{r['vertices']} | {r['bytes']} | {r['urdf_bytes']} | {r['rt_mean_cm']:.3f} | {r['rt_worst_cm']:.3f} |"
        )
    if rows:
        m = {k: float(np.mean([r[k] for r in rows])) for k in ("ms", "vertices", "bytes", "rt_mean_cm")}
        worst = max(r["rt_worst_cm"] for r in rows)
        lines.append(f"| **mean** | | {m['ms']:.1f} | | | | {m['vertices']:.0f} | {m['bytes']:.0f} | | "
                     f"{m['rt_mean_cm']:.3f} | {worst:.3f} (max) |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from tqdm import tqdm

    p = argparse.ArgumentParser(prog="sim2art-benchmark export", description=__doc__.split("\n")[0])
    p.add_argument("--per-category", type=int, default=1, help="test-split sequences per category")
    p.add_argument("--frames", type=int, default=8, help="T frames per sequence")
    p.add_argument("--points", type=int, default=512, help="N points per frame")
    p.add_argument("--seed", type=int, default=0, help="dataset plan seed (which test objects)")
    p.add_argument("--optical-flow", action="store_true", help="also through the run-time optical-flow path")
    args = p.parse_args(argv)
    from sim2art_core.data.to_window import window_from_sample

    cfg, samples = category_samples(args.per_category, args.frames, args.points, args.seed)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}; "
          f"{len(samples)} test-split sequences, T={args.frames}, N={args.points}, seed {args.seed}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(s, window_from_sample(s), tmp) for s in tqdm(samples, desc="true flow", file=sys.stderr)]
        print(markdown(rows, "True flow, true segmentation"))
        if args.optical_flow:
            from sim2art_core.eval.conditions import OPTICAL_FLOW, make_item

            of_rows = []
            for s in tqdm(samples, desc="optical flow", file=sys.stderr):
                item = make_item(s, OPTICAL_FLOW, cfg)
                if item.window is None:
                    print(f"{s.category}: no optical-flow window ({item.note})")
                    continue
                of_rows.append(measure(item.sample, item.window, tmp))
            print(markdown(of_rows, "Optical flow (640x480 DIS, run-time preprocessing), true segmentation"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
