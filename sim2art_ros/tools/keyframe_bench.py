"""What the keyframe that completes a window costs the node, piece by piece (issue 14.5; docs/BENCHMARKS.md).

    python -m sim2art_ros.tools.keyframe_bench --keyframes 40 --out kf.json

The node's latency breakdown shows its "keyframe" stage (decoded -> completed: ``WindowBuilder.add``
plus ``WindowBuilder.window``) for the frame that completes each published window. This measures
that work without ROS, in one process, on the data engine's Storage1 frames at 640x480 (the
frames of ``realtime_bench``, looped back and forth, one keyframe every 0.2 s of stamps) with the
node's default preprocessing parameters, in four conditions interleaved keyframe by keyframe so the
machine's load hits all alike, each condition with its own builder fed the same frames:

* the estimator child idle or busy (a child process running ``Estimator.estimate`` on 1 torch
  thread in a loop: the node's ``inference_mode: process`` while an estimate is under way);
* OpenCV's default thread count or ``cv2.setNumThreads(1)``.

Reported: median time per keyframe of each condition, split into keyframes that complete a full
window (T entries held: the node submits these) and the first T that do not; the ratios; and,
for the idle / default-threads builder, the median time of each piece of the work (optical flow,
object selection, sampling and lifting, depth edges, scene flow, window assembly).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

CONDITIONS = (("idle", 0), ("idle", 1), ("busy", 0), ("busy", 1))  # (estimator child, cv2 threads; 0 = default)


def _busy_child(window, checkpoint: str, run, started, stop) -> None:
    """Estimate ``window`` in a loop while ``run`` is set (1 torch thread, as ``process:1``)."""
    import torch

    from sim2art_core.estimator import Estimator

    torch.set_num_threads(1)
    est = Estimator(checkpoint=checkpoint, device="cpu")
    started.set()
    while not stop.is_set():
        if run.wait(0.05):
            est.estimate(replace(window, stamps_ns=window.stamps_ns + time.monotonic_ns()))  # no cached output


@contextmanager
def piece_timer(pieces: dict[str, list[float]]):
    """Time the steps of ``WindowBuilder.add`` / ``window`` by wrapping the functions it calls."""
    from sim2art_core.preprocess import window_builder as wb
    from sim2art_core.preprocess.flow import OpticalFlow

    def wrap(owner, name, key):
        fn = getattr(owner, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                pieces.setdefault(key, []).append(time.perf_counter() - t0)

        setattr(owner, name, timed)
        return owner, name, fn

    saved = [
        wrap(OpticalFlow, "__call__", "optical flow (each of 2)"),
        wrap(wb, "select_object", "object selection"),
        wrap(wb, "sample_frame", "sample + lift"),
        wrap(wb, "depth_edges", "depth edges"),
        wrap(wb, "scene_flow", "scene flow"),
        wrap(wb.WindowBuilder, "window", "window assembly"),
    ]
    try:
        yield pieces
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def stream(frames, n: int):
    """``n`` frames looping back and forth over ``frames``, stamps 0.2 s apart (every one a keyframe)."""
    cyc = 2 * len(frames) - 2
    for k in range(n):
        j = k % cyc
        f = frames[j if j < len(frames) else cyc - j]
        yield replace(f, stamp_ns=frames[0].stamp_ns + k * 200_000_000, mask=None, part_mask=None)


def run(keyframes: int, checkpoint: str, settle_s: float = 0.15) -> dict:
    import cv2

    from sim2art_core.estimator import Estimator
    from sim2art_core.preprocess import WindowBuilder
    from sim2art_ros.perception.params import PARAMETERS, preprocess_config
    from sim2art_ros.tools.perceive_benchmark import machine, render_frames

    res = {"machine": machine(), "keyframes": keyframes}
    est = Estimator(checkpoint=checkpoint, device="cpu")
    cfg = preprocess_config({p.name: p.default for p in PARAMETERS}, est.num_frames, est.num_points)
    frames = list(stream(render_frames("Storage1", 10, 640, 480), keyframes))
    warm = WindowBuilder(cfg, "world", rng=0)
    for f in frames[: cfg.num_frames + 2]:
        warm.add(f)
    window = warm.window()
    del est

    ctx = mp.get_context("spawn")
    run_ev, started, stop = ctx.Event(), ctx.Event(), ctx.Event()
    child = ctx.Process(target=_busy_child, args=(window, checkpoint, run_ev, started, stop), daemon=True)
    child.start()
    started.wait(120)
    default_threads = cv2.getNumThreads()
    res["cv2_default_threads"] = default_threads
    builders = {c: WindowBuilder(cfg, "world", rng=0) for c in CONDITIONS}
    times: dict = {c: {"completing": [], "filling": []} for c in CONDITIONS}
    pieces: dict[str, list[float]] = {}
    windows: dict = {c: [] for c in CONDITIONS}
    try:
        for k, f in enumerate(frames):
            order = CONDITIONS[k % 4 :] + CONDITIONS[: k % 4]
            for c in order:
                busy, threads = c
                cv2.setNumThreads(threads or default_threads)
                if busy == "busy":
                    run_ev.set()
                    time.sleep(settle_s)  # the child is inside an estimate
                b = builders[c]
                with piece_timer(pieces) if c == ("idle", 0) else _nothing():
                    t0 = time.perf_counter()
                    r = b.add(f)
                    w = b.window() if r.completed and b.ready else None
                    dt = time.perf_counter() - t0
                run_ev.clear()
                times[c]["completing" if w is not None else "filling"].append(dt)
                if w is not None:
                    windows[c].append(w)
    finally:
        cv2.setNumThreads(default_threads)
        stop.set()
        run_ev.clear()
        child.join(10)
    ref = windows[("idle", 0)]
    res["windows_identical_across_conditions"] = all(
        len(windows[c]) == len(ref) and all(_same(a, b) for a, b in zip(windows[c], ref, strict=True))
        for c in CONDITIONS
    )
    res["conditions"] = {
        f"child {busy}, cv2 threads {threads or default_threads}": {
            k: {"median_ms": 1e3 * float(np.median(v)), "n": len(v)} for k, v in times[(busy, threads)].items() if v
        }
        for busy, threads in CONDITIONS
    }
    res["pieces_idle_default_ms"] = {k: 1e3 * float(np.median(v)) for k, v in pieces.items()}
    res["machine"]["load_average_end"] = os.getloadavg()
    return res


@contextmanager
def _nothing():
    yield


def _same(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True)
        for k in ("points", "flow", "valid", "colors", "stamps_ns", "world_from_cam")
    )


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])}, at end "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_end'])}. Keyframes per condition: {res['keyframes']}. "
        f"Windows identical across conditions: {res['windows_identical_across_conditions']}.",
        "",
        "| condition | keyframe completing a window, median ms (n) | keyframe filling the window, median ms (n) |",
        "|---|---|---|",
    ]
    for name, v in res["conditions"].items():
        cells = [f"{v[k]['median_ms']:.1f} ({v[k]['n']})" if k in v else "-" for k in ("completing", "filling")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += ["", "| piece (child idle, default threads) | median ms per call |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in res["pieces_idle_default_ms"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keyframes", type=int, default=40, help="keyframes per condition (the first T fill the window)")
    ap.add_argument("--checkpoint", default="", help="estimator checkpoint ('' = the shipped one)")
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON (and .md beside it)")
    args = ap.parse_args(argv)
    from sim2art_core.estimator import DEFAULT_CHECKPOINT

    res = run(args.keyframes, str(args.checkpoint or DEFAULT_CHECKPOINT))
    res["command"] = " ".join(["python -m sim2art_ros.tools.keyframe_bench", *(argv or sys.argv[1:])])
    text = markdown(res)
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))
        args.out.with_suffix(".md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
