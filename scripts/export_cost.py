"""Cost of the URDF export before / after a change, side by side in one run (docs/BENCHMARKS.md).

    nice -n 10 python scripts/export_cost.py --baseline 3cd3e06 --repeats 5
    nice -n 10 python scripts/export_cost.py --baseline 3cd3e06 --categories --profile
    nice -n 10 python scripts/export_cost.py --baseline 6dc43c9 --categories --noise-tolerance 3

Inputs: the node's work per estimate (``DigitalTwin``: ``export_urdf(est, observed_geometry_from_window(window,
est), cfg)``) on the windows ``realtime_bench`` times the estimator on (Storage1 rendered at 640x480, 16 x 1024
points, the shipped checkpoint, 4 distinct windows); with ``--categories`` also one test-split sequence per
category with the oracle estimate of ``sim2art-benchmark export`` (true flow, true segmentation + refinement).
"Before" is ``sim2art_core/export/mesh.py`` of ``--baseline`` (read with ``git show``, swapped into
``sim2art_core.export.urdf`` for its calls): every other module is this checkout's. Before and after
alternate export by export, ``--repeats`` times; printed: median wall and CPU ms per export (CPU = this
process, all threads: numpy's BLAS threads count), their ratios, whether the URDF and mesh bytes are
identical, convex pieces, and the mean distance of each link's observed points to its meshes (mm).
``--noise-tolerance`` sets ``ExportConfig.noise_tolerance`` of every export (a baseline ``mesh.py`` without it
ignores it: fixed tolerance before, adaptive after).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def baseline_mesh(rev: str) -> types.ModuleType:
    """``sim2art_core/export/mesh.py`` at git revision ``rev`` as a module."""
    src = subprocess.run(
        ["git", "show", f"{rev}:sim2art_core/export/mesh.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    mod = types.ModuleType(f"_export_mesh_{rev}")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, f"{rev}:sim2art_core/export/mesh.py", "exec"), mod.__dict__)
    return mod


@contextlib.contextmanager
def using(mesh_module):
    """Run ``export_urdf`` with the mesh functions of ``mesh_module`` (None: this checkout's)."""
    import sim2art_core.export.mesh as current
    import sim2art_core.export.urdf as urdf

    names = ("convex_pieces", "combined_mass_properties", "stl_bytes", "obj_bytes")
    source = mesh_module or current
    saved = {n: getattr(urdf, n) for n in names}
    for n in names:
        setattr(urdf, n, getattr(source, n))
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(urdf, n, f)


def node_inputs() -> list[tuple]:
    """(window, estimate) of the 4 windows realtime_bench times the estimator on."""
    import torch

    from sim2art_core.estimator import DEFAULT_CHECKPOINT, Estimator
    from sim2art_core.preprocess import KeyframeConfig, PreprocessConfig, WindowBuilder
    from sim2art_ros.tools.perceive_benchmark import render_frames

    torch.set_num_threads(1)
    frames = render_frames("Storage1", 10, 640, 480)
    est = Estimator(checkpoint=str(DEFAULT_CHECKPOINT), device="cpu")
    cfg = PreprocessConfig(num_frames=est.num_frames, num_points=est.num_points, keyframes=KeyframeConfig(period_s=0.0))
    builder = WindowBuilder(cfg, "world", rng=0)
    cyc, k, windows = 2 * len(frames) - 2, 0, []
    while len(windows) < 4 and k < 10 * cyc:  # as realtime_bench.estimator_own_ms
        j = k % cyc
        builder.add(replace(frames[j if j < len(frames) else cyc - j], stamp_ns=frames[0].stamp_ns + k * 200_000_000))
        k += 1
        if builder.window() is not None:
            windows.append(builder.window())
    return [(w, est.estimate(w)) for w in windows]


def category_inputs(seed: int, frames: int, points: int) -> list[tuple]:
    """(window, estimate, category) of ``sim2art-benchmark export``'s true-flow table."""
    from sim2art_core.benchmarks.bench_export import category_samples
    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.eval.methods import MethodOptions, build_method

    _, samples = category_samples(1, frames, points, seed)
    method = build_method("gtseg-refine", MethodOptions())
    out = []
    for s in samples:
        w = window_from_sample(s)
        out.append((w, method(s, w), s.category))
    return out


def fidelity_mm(model, geometry) -> list[float]:
    """Per link: mean distance (mm) of its observed points (state 0) to the union of its meshes."""
    import trimesh

    out = []
    for link in model.links.values():
        pts = np.concatenate([np.asarray(geometry.points[p], float).reshape(-1, 3) for p in link.parts])
        pts = pts[np.isfinite(pts).all(axis=1)] - link.origin
        if len(pts) == 0:
            continue
        mesh = trimesh.util.concatenate([trimesh.Trimesh(m.vertices, m.faces, process=False) for m in link.meshes])
        out.append(1e3 * float(trimesh.proximity.closest_point(mesh, pts[:: max(1, len(pts) // 2000)])[1].mean()))
    return out


def compare(inputs, base, repeats: int, cfg) -> list[dict]:
    """Before / after alternating, per input: median wall and CPU ms, identity, pieces, fidelity."""
    from sim2art_core.export import export_urdf, observed_geometry_from_window

    rows = []
    for w, e, name in inputs:
        times = {"before": ([], []), "after": ([], [])}
        models = {}
        for _ in range(repeats):
            for which, mod in (("before", base), ("after", None)):
                with using(mod):
                    t0, c0 = time.perf_counter(), time.process_time()
                    geometry = observed_geometry_from_window(w, e)
                    models[which] = export_urdf(e, geometry, cfg)
                    times[which][0].append(1e3 * (time.perf_counter() - t0))
                    times[which][1].append(1e3 * (time.process_time() - c0))
        b, a = models["before"], models["after"]
        row = {"input": name, "identical": b.urdf == a.urdf and b.files == a.files}
        for which, m in models.items():
            row[which] = {
                "wall_ms": statistics.median(times[which][0]), "cpu_ms": statistics.median(times[which][1]),
                "pieces": [len(link.meshes) for link in m.links.values()],
                "fidelity_mm": fidelity_mm(m, geometry),
            }  # fmt: skip
        rows.append(row)
    return rows


def markdown(rows: list[dict], title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| input | before wall / CPU ms | after wall / CPU ms | after / before wall, CPU | identical output "
        "| pieces per link before / after | mean distance of points to mesh per link, mm, before / after |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, a = r["before"], r["after"]
        fb, fa = (", ".join(f"{x:.1f}" for x in s["fidelity_mm"]) for s in (b, a))
        lines.append(
            f"| {r['input']} | {b['wall_ms']:.0f} / {b['cpu_ms']:.0f} | {a['wall_ms']:.0f} / {a['cpu_ms']:.0f} | "
            f"{a['wall_ms'] / b['wall_ms']:.2f}, {a['cpu_ms'] / b['cpu_ms']:.2f} | {'yes' if r['identical'] else 'no'}"
            f" | {b['pieces']} / {a['pieces']} | {fb} / {fa} |"
        )
    tb = {k: sum(r["before"][k] for r in rows) for k in ("wall_ms", "cpu_ms")}
    ta = {k: sum(r["after"][k] for r in rows) for k in ("wall_ms", "cpu_ms")}
    lines.append(
        f"| **sum** | {tb['wall_ms']:.0f} / {tb['cpu_ms']:.0f} | {ta['wall_ms']:.0f} / {ta['cpu_ms']:.0f} | "
        f"{ta['wall_ms'] / tb['wall_ms']:.2f}, {ta['cpu_ms'] / tb['cpu_ms']:.2f} | "
        f"{sum(r['identical'] for r in rows)} of {len(rows)} | | |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="3cd3e06", help="git revision of the 'before' mesh.py")
    ap.add_argument("--repeats", type=int, default=5, help="exports of each input, before and after alternating")
    ap.add_argument("--categories", action="store_true", help="also one test-split sequence per category")
    ap.add_argument("--seed", type=int, default=0, help="dataset plan seed of --categories")
    ap.add_argument("--frames", type=int, default=8, help="T of --categories (bench_export's default)")
    ap.add_argument("--points", type=int, default=512, help="N of --categories (bench_export's default)")
    ap.add_argument("--profile", action="store_true", help="cProfile of the 'after' export of the node inputs")
    ap.add_argument(
        "--noise-tolerance",
        type=float,
        default=None,
        help="ExportConfig.noise_tolerance of every export (a baseline mesh.py without it ignores it)",
    )
    args = ap.parse_args(argv)
    from sim2art_core.export import ExportConfig

    base = baseline_mesh(args.baseline)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, load average "
          f"at start {', '.join(f'{x:.1f}' for x in os.getloadavg())}; before = mesh.py of {args.baseline}, after = "
          f"{head.strip()} (+ working tree); {args.repeats} exports each, alternating; command: python "
          f"scripts/export_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}")  # fmt: skip
    node = [(w, e, f"realtime_bench window {i}") for i, (w, e) in enumerate(node_inputs())]
    cfg = ExportConfig(link_prefix="object_0/", robot_name="object_0")  # as the node's DigitalTwin
    if args.noise_tolerance is not None:
        cfg = replace(cfg, noise_tolerance=args.noise_tolerance)
    print(
        markdown(
            compare(node, base, args.repeats, cfg),
            "The node's windows (Storage1 640x480, 16 x 1024, shipped checkpoint)",
        )
    )
    if args.categories:
        cats = category_inputs(args.seed, args.frames, args.points)
        title = (
            f"One test-split sequence per category (seed {args.seed}, T {args.frames}, N {args.points}, gtseg-refine)"
        )
        plain = ExportConfig()
        if args.noise_tolerance is not None:
            plain = replace(plain, noise_tolerance=args.noise_tolerance)
        print(markdown(compare(cats, base, args.repeats, plain), title))
    if args.profile:
        import cProfile
        import pstats

        from sim2art_core.export import export_urdf, observed_geometry_from_window

        prof = cProfile.Profile()
        prof.enable()
        for w, e, _ in node:
            export_urdf(e, observed_geometry_from_window(w, e), cfg)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    print(f"load average at end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
