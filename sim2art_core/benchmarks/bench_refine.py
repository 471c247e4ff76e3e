"""Cost and accuracy of the geometric refinement on exact-geometry scenes (T=16, N=1024 by default).

    python -m sim2art_core.benchmarks.bench_refine [--frames 16] [--points 1024] [--repeats 30]
    python -m sim2art_core.benchmarks.bench_refine --estimator CHECKPOINT [--repeats 30]
    python -m sim2art_core.benchmarks.bench_refine --long-baseline [--repeats 30]

Reports CPU time (time.process_time: other processes on the machine inflate it less than wall time)
and wall time per window and per part, and the axis / amount errors, for 2, 3 and 5 parts with exact
flow, 3 mm flow noise and 20 % outlier flows. "CPU ms/part" is ``refine_joints`` as a caller with an
unchecked window calls it (it runs ``Window.validate``); "... in the Estimator" with
``check_window=False``, as the Estimator calls it (it has validated the window already).

``--estimator``: median CPU time per window of ``Estimator.estimate`` with and without the refinement
(one torch thread, as in the ROS node) on realistic data-engine windows, and the medians of its own
stage timings (wall). Output goes into docs/EVALUATION.md ("Measurements").

``--long-baseline``: CPU time per window of ``refine_joints`` (as the Estimator calls it) with the
chained fits and with ``RefineConfig(long_baseline=True)``, interleaved in one process (same load for
both), their ratio, and both fits' errors, on the same scenes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from sim2art_core.eval.scenes import BoxPart, Scene, cabinet, make_scene
from sim2art_core.metrics.joint_metrics import axis_angle_error_deg
from sim2art_core.refine import RefineConfig, refine_joints
from sim2art_core.types import JointType


def five_parts(num_frames: int, num_points: int, **kw) -> Scene:
    """Base, two doors and two drawers."""
    ramp = np.linspace(0.0, 1.0, num_frames)
    parts = [
        BoxPart(center=(0.0, 0.0, 0.5), size=(0.6, 0.4, 1.0)),
        BoxPart((0.15, 0.21, 0.75), (0.3, 0.02, 0.5), JointType.REVOLUTE, (0, 0, 1), (0.3, 0.21, 0), 1.0 * ramp),
        BoxPart((-0.15, 0.21, 0.75), (0.3, 0.02, 0.5), JointType.REVOLUTE, (0, 0, -1), (-0.3, 0.21, 0), 0.8 * ramp),
        BoxPart((0.0, 0.05, 0.35), (0.55, 0.32, 0.15), JointType.PRISMATIC, (0, 1, 0), amounts=0.2 * ramp),
        BoxPart((0.0, 0.05, 0.15), (0.55, 0.32, 0.15), JointType.PRISMATIC, (0, 1, 0), amounts=0.1 * ramp),
    ]
    n = num_points // 5
    return make_scene(parts, num_frames, [num_points - 4 * n, n, n, n, n], **kw)


def two_parts(num_frames: int, num_points: int, **kw) -> Scene:
    base = BoxPart(center=(0.0, 0.0, 0.4), size=(0.5, 0.4, 0.8))
    door = BoxPart((0.25, 0.21, 0.6), (0.5, 0.02, 0.4), JointType.REVOLUTE, (0, 0, 1), (0.5, 0.21, 0.0),
                   np.linspace(0, 1.0, num_frames))  # fmt: skip
    return make_scene([base, door], num_frames, [num_points // 2, num_points - num_points // 2], **kw)


def measure(scene: Scene, repeats: int) -> dict:
    P = len(scene.parts)
    probs = np.eye(P, dtype=np.float32)[scene.labels]
    refine_joints(scene.window, probs, 0)  # warm-up
    cpu, wall, cpu_checked = [], [], []
    for _ in range(repeats):  # interleaved, so both see the same load
        c0, w0 = time.process_time(), time.perf_counter()
        res = refine_joints(scene.window, probs, 0)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        c0 = time.process_time()
        refine_joints(scene.window, probs, 0, check_window=False)
        cpu_checked.append(time.process_time() - c0)
    axis_deg_max, amount_err_max = _errors(res.joints, scene)
    return {
        "parts": P,
        "cpu_ms": 1e3 * float(np.median(cpu)),
        "wall_ms": 1e3 * float(np.median(wall)),
        "cpu_ms_per_part": 1e3 * float(np.median(cpu)) / P,
        "cpu_ms_per_part_checked": 1e3 * float(np.median(cpu_checked)) / P,
        "axis_deg_max": axis_deg_max,
        "amount_err_max": amount_err_max,
    }


def _errors(joints, scene: Scene) -> tuple[float, float]:
    """Largest axis error (deg) and largest mean amount error (deg or cm) of fitted joints (each with
    child, axis, amounts) against the scene's truth."""
    axis_err, amount_err = [], []
    for j in joints:
        part = scene.parts[j.child]
        axis_err.append(axis_angle_error_deg(j.axis, np.asarray(part.axis, float)))
        sign = 1.0 if j.axis @ np.asarray(part.axis, float) >= 0 else -1.0
        scale = np.degrees(1.0) if part.type == JointType.REVOLUTE else 100.0
        amount_err.append(scale * np.mean(np.abs(sign * j.amounts - scene.amounts[j.child])))
    return float(np.max(axis_err)), float(np.max(amount_err))


def measure_long_baseline(scene: Scene, repeats: int) -> dict:
    """CPU ms per window (Estimator's call) of the chained and the long-baseline fits, interleaved."""
    P = len(scene.parts)
    probs = np.eye(P, dtype=np.float32)[scene.labels]
    cfgs = {"chained": RefineConfig(long_baseline=False), "long-baseline": RefineConfig(long_baseline=True)}
    cpu = {k: [] for k in cfgs}
    res = {k: refine_joints(scene.window, probs, 0, cfg=c, check_window=False) for k, c in cfgs.items()}  # warm-up
    for _ in range(repeats):
        for k, c in cfgs.items():
            c0 = time.process_time()
            refine_joints(scene.window, probs, 0, cfg=c, check_window=False)
            cpu[k].append(time.process_time() - c0)
    out = {"parts": P}
    for k in cfgs:
        out[k] = (1e3 * float(np.median(cpu[k])), *_errors(res[k].refined, scene))
    return out


def measure_estimator(checkpoint: str, num_frames: int, num_points: int, repeats: int) -> None:
    """Print the Estimator's median CPU time per window, refinement off and on (see the module doc)."""
    import torch

    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.estimator import Estimator
    from sim2art_core.train.sources import GeneratorSource

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    source = GeneratorSource("val", num_frames, num_points, realism=True)
    windows = [window_from_sample(source.sample(rng)) for _ in range(6)]
    estimators = {refine: Estimator(checkpoint, "cpu", refine=refine) for refine in (False, True)}
    for est in estimators.values():
        for w in windows:  # warm-up
            est.estimate(w)
    cpu = {refine: [] for refine in estimators}
    stages = {refine: {} for refine in estimators}
    for i in range(repeats):
        for refine, est in estimators.items():  # interleaved, so both see the same load
            c0 = time.process_time()
            out = est.estimate(windows[i % len(windows)])
            cpu[refine].append(time.process_time() - c0)
            for name, seconds in out.timings.items():
                stages[refine].setdefault(name, []).append(seconds)
    print("| refinement | CPU ms/window | " + " | ".join(f"{n} ms (wall)" for n in stages[True]) + " |")
    print("|---" * (2 + len(stages[True])) + "|")
    for refine in estimators:
        cols = [f"{1e3 * np.median(stages[refine][n]):.2f}" if n in stages[refine] else "-" for n in stages[True]]
        print(f"| {'on' if refine else 'off'} | {1e3 * np.median(cpu[refine]):.1f} | " + " | ".join(cols) + " |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--estimator", metavar="CHECKPOINT", help="time Estimator.estimate with this checkpoint instead")
    p.add_argument("--long-baseline", action="store_true", help="chained vs long-baseline fits, side by side")
    args = p.parse_args(argv)
    T, N = args.frames, args.points
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, numpy {np.__version__}")  # fmt: skip
    print(f"T={T}, N={N}, median of {args.repeats} runs\n")
    if args.estimator:
        measure_estimator(args.estimator, T, N, args.repeats)
        return 0
    if args.long_baseline:
        print("| scene | parts | flow | chained: CPU ms/window | long-baseline: CPU ms/window | ratio | chained: max "
              "axis err (°) / amount err (° or cm) | long-baseline: max axis err / amount err |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        builders = {"door": two_parts, "cabinet": lambda t, n, **kw: cabinet(t, n, **kw), "5-part": five_parts}
        for name, build in builders.items():
            for flow, kw in [("exact", {}), ("3 mm noise", {"flow_noise_m": 0.003})]:
                r = measure_long_baseline(build(T, N, seed=1, **kw), args.repeats)
                c, lb = r["chained"], r["long-baseline"]
                print(f"| {name} | {r['parts']} | {flow} | {c[0]:.2f} | {lb[0]:.2f} | {lb[0] / c[0]:.2f} | "
                      f"{c[1]:.3g} / {c[2]:.3g} | {lb[1]:.3g} / {lb[2]:.3g} |")  # fmt: skip
        return 0
    print("| scene | parts | flow | CPU ms/window | wall ms/window | CPU ms/part | CPU ms/part in the Estimator | "
          "max axis err (°) | max amount err (° or cm) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    builders = {"door": two_parts, "cabinet": lambda t, n, **kw: cabinet(t, n, **kw), "5-part": five_parts}
    for name, build in builders.items():
        for flow, kw in [("exact", {}), ("3 mm noise", {"flow_noise_m": 0.003}), ("20 % outliers",
                         {"outlier_fraction": 0.2})]:  # fmt: skip
            r = measure(build(T, N, seed=1, **kw), args.repeats)
            print(f"| {name} | {r['parts']} | {flow} | {r['cpu_ms']:.2f} | {r['wall_ms']:.2f} | "
                  f"{r['cpu_ms_per_part']:.2f} | {r['cpu_ms_per_part_checked']:.2f} | {r['axis_deg_max']:.3g} | "
                  f"{r['amount_err_max']:.3g} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
