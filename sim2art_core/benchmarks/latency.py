"""Latency and memory of every method per window and of the run-time preprocessing per frame, side by side.

    sim2art-benchmark latency [--checkpoint CK] [--points 1024 2048] [--threads 1 2] [--repeats 20]

Each case runs in a fresh subprocess (``python -m sim2art_core.benchmarks.latency --one JSON``) so its peak
RSS is its own. Windows come from the data engine with the realism options on
(``sim2art_core.model.bench``'s windows, the model benchmark's), the same for every method:

* ``sim2art-norefine`` / ``sim2art``: :class:`~sim2art_core.estimator.Estimator` without / with the
  geometric refinement; the network and refinement parts from the estimate's ``timings``;
* ``featclust`` (k by motion BIC over k = 1..6) / ``featclust-oracle-k`` (k = the true number of parts);
* preprocessing per frame at a camera resolution (rendered frames of the data engine): object
  selection from the mask, sampling + lifting N pixels (``sample_frame``), DIS optical flow forward
  + backward on the object's crop, lifting the flow to scene flow (``scene_flow``), and the whole
  keyframe (``WindowBuilder.add``), the calls the node makes, in its order.

Times are medians (and p90) of ``--repeats`` calls after warm-up calls; CUDA cases synchronise before
and after each call. Memory: the process's peak RSS after the case, and the peak of Python/NumPy
allocations during a few extra calls under ``tracemalloc`` (torch's CPU allocator is not traced;
``torch.cuda.max_memory_allocated`` for CUDA). The torch thread count, BLAS threads and whether
tcmalloc is preloaded are recorded with every case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from sim2art_core.markdown import markdown_table

NUM_WINDOWS = 4  # distinct windows cycled through by every case
METHODS = ("sim2art-norefine", "sim2art", "featclust", "featclust-oracle-k")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stats(times: list[float], frames: int) -> dict:
    med = float(np.median(times))
    return {"median_ms": 1e3 * med, "p90_ms": 1e3 * float(np.percentile(times, 90)), "ms_per_frame": 1e3 * med / frames,
            "calls": len(times)}  # fmt: skip


def _time(fn, inputs: list, repeats: int, warmup: int, sync=None) -> tuple[list[float], list]:
    """Wall time of ``fn(x)`` cycling over ``inputs``; returns (seconds per call, outputs of the timed calls)."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times, outs = [], []
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        if sync:
            sync()
        t0 = time.perf_counter()
        out = fn(x)
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
        outs.append(out)
    return times, outs


def _traced_peak_mb(fn, inputs: list, calls: int = 2) -> float:
    tracemalloc.start()
    try:
        for i in range(calls):
            fn(inputs[i % len(inputs)])
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def cpu_model_name() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def environment(threads: int | None = None) -> dict:
    """What the numbers depend on besides the code: CPU, threads, allocator, library versions."""
    import torch

    return {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads() if threads is None else threads,
        "omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "tcmalloc": "tcmalloc" in os.environ.get("LD_PRELOAD", ""),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg(),
    }


def _windows(T: int, N: int) -> list:
    """(sample, window) pairs: the model benchmark's data-engine windows (realism on)."""
    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.model.bench import _samples

    return [(s, window_from_sample(s)) for s in _samples(NUM_WINDOWS, T, N)]


def case_method(method: str, checkpoint: str | None, device: str, threads: int, T: int, N: int, repeats: int) -> dict:
    """One method's time per window (see the module doc)."""
    import torch

    torch.set_num_threads(threads)
    pairs = _windows(T, N)
    rss0 = _rss_mb()
    sync = None
    if method.startswith("sim2art"):
        from sim2art_core.estimator import Estimator

        est = Estimator(checkpoint, device=device, refine=method == "sim2art")
        if est.device.type == "cuda":
            sync = torch.cuda.synchronize
            torch.cuda.reset_peak_memory_stats()

        def fn(p):
            return est.estimate(p[1])
    elif method in ("featclust", "featclust-oracle-k"):
        from sim2art_core.baselines import FeatClust

        fc = FeatClust()
        oracle = method == "featclust-oracle-k"

        def fn(p):
            return fc.estimate(p[1], k=p[0].num_parts if oracle else None)
    else:
        raise ValueError(f"unknown method {method!r}")
    times, outs = _time(fn, pairs, repeats, warmup=len(pairs), sync=sync)
    res = {"case": "method", "method": method, "device": device, "T": T, "N": N, **_stats(times, T)}
    for part in ("network", "refine"):
        vals = [o.timings[part] for o in outs if part in (o.timings or {})]
        res[f"{part}_ms"] = 1e3 * float(np.median(vals)) if vals else None
    res["failed"] = sum(o.status.name == "FAILED" for o in outs)
    res["traced_peak_mb"] = _traced_peak_mb(fn, pairs)
    res["rss_before_mb"], res["peak_rss_mb"] = rss0, _rss_mb()
    if sync:
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    res["environment"] = environment(threads)
    return res


def keyframe_times(cfg, frames, repeats: int) -> list[float]:
    """Seconds of each ``WindowBuilder.add`` of ``frames[1:]`` after ``frames[0]``, over ``repeats`` fresh builders."""
    from sim2art_core.preprocess import WindowBuilder

    times = []
    for _ in range(max(1, repeats)):
        b = WindowBuilder(cfg, "world", rng=0)
        b.add(frames[0])
        for f in frames[1:]:
            t0 = time.perf_counter()
            b.add(f)
            times.append(time.perf_counter() - t0)
    return times


def case_preprocess(width: int, height: int, N: int, T: int, repeats: int, category: str = "Storage1") -> dict:
    """Per-frame cost of the run-time preprocessing at ``width`` x ``height`` (see the module doc)."""
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.preprocess import (
        KeyframeConfig,
        ObjectSelectionConfig,
        PreprocessConfig,
        WindowBuilder,
        select_object,
    )
    from sim2art_core.preprocess.flow import OpticalFlow, flow_crop, scene_flow
    from sim2art_core.preprocess.sampling import sample_frame

    # every frame a keyframe (the node's default takes one every 0.2 s and skips the rest for ~0 ms)
    cfg = PreprocessConfig(num_frames=T, num_points=N, object=ObjectSelectionConfig(source="mask"),
                           keyframes=KeyframeConfig(period_s=0.0))  # fmt: skip
    _, frames = generate_sequence(category, 0, 1, SequenceConfig(num_frames=T, width=width, height=height), True)
    rng = np.random.default_rng(0)
    flow = OpticalFlow(cfg.flow)
    scale = cfg.flow.scale_for(width)
    parts: dict[str, list[float]] = {"select": [], "sample_lift": [], "optical_flow": [], "scene_flow": []}
    rss0 = _rss_mb()

    def link(prev, nxt, frame):
        """The steps of WindowBuilder._link, timed one by one."""
        t0 = time.perf_counter()
        x0, y0, x1, y1 = flow_crop(prev.uv, prev.valid, (frame.shape[1], frame.shape[0]), cfg.flow)
        g0 = np.ascontiguousarray(prev.grey[y0:y1, x0:x1])
        g1 = np.ascontiguousarray(nxt.grey[y0:y1, x0:x1])
        fwd, bwd = flow(g0, g1), flow(g1, g0)
        t1 = time.perf_counter()
        pts = np.where(prev.valid[:, None], prev.points, np.nan)
        scene_flow(pts, prev.uv, fwd, bwd, frame.depth, frame.intrinsics, frame.world_from_cam, cfg.flow, (x0, y0))
        t2 = time.perf_counter()
        parts["optical_flow"].append(t1 - t0)
        parts["scene_flow"].append(t2 - t1)

    for _ in range(max(1, repeats)):
        prev = None
        for f in frames:
            t0 = time.perf_counter()
            mask = select_object(f, cfg.object, rng)
            t1 = time.perf_counter()
            s = sample_frame(f, mask, N, scale, rng)
            t2 = time.perf_counter()
            parts["select"].append(t1 - t0)
            parts["sample_lift"].append(t2 - t1)
            if prev is not None:
                link(prev, s, f)
            prev = s
    keyframe = keyframe_times(cfg, frames, repeats)
    res = {"case": "preprocess", "resolution": f"{width}x{height}", "N": N, "frames": len(frames) - 1}
    for k, v in parts.items():
        res[f"{k}_ms"] = 1e3 * float(np.median(v))
    res["keyframe_ms"] = 1e3 * float(np.median(keyframe))
    res["keyframe_p90_ms"] = 1e3 * float(np.percentile(keyframe, 90))

    def whole(_):
        b = WindowBuilder(cfg, "world", rng=0)
        for f in frames[:4]:
            b.add(f)

    res["traced_peak_mb"] = _traced_peak_mb(whole, [None], calls=1)
    res["rss_before_mb"], res["peak_rss_mb"] = rss0, _rss_mb()
    res["environment"] = environment()
    return res


def run_case(spec: dict) -> dict:
    if spec["case"] == "method":
        return case_method(spec["method"], spec.get("checkpoint"), spec["device"], spec["threads"], spec["T"],
                           spec["N"], spec["repeats"])  # fmt: skip
    if spec["case"] == "preprocess":
        return case_preprocess(spec["width"], spec["height"], spec["N"], spec["T"], spec["repeats"])
    raise ValueError(f"unknown case {spec['case']!r}")


def case_in_subprocess(module: str, spec: dict) -> dict:
    """``python -m MODULE --one SPEC`` in a fresh process (its own thread pools and memory peak); its last
    stdout line, parsed as JSON. numpy/scipy (FeatClust, refinement, preprocessing) get the same thread budget
    as torch: ``spec["threads"]`` (default 1)."""
    env = os.environ.copy()
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(spec.get("threads", 1))
    r = subprocess.run(
        [sys.executable, "-m", module, "--one", json.dumps(spec)], capture_output=True, text=True, env=env
    )
    if r.returncode != 0:
        raise RuntimeError(f"{module} case {spec} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _subprocess(spec: dict) -> dict:
    return case_in_subprocess("sim2art_core.benchmarks.latency", spec)


def _random_checkpoint(model: str) -> str:
    import torch

    from sim2art_core.model.bench import _config
    from sim2art_core.model.checkpoint import save_checkpoint
    from sim2art_core.model.registry import build_model

    cfg = _config(model)
    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp(prefix="sim2art_latency_")) / "random.pt"
    save_checkpoint(path, build_model(cfg), cfg)
    return str(path)


def run_latency(args: argparse.Namespace, progress: bool = True) -> dict:
    """Every case of the command line (see :func:`add_arguments`), side by side."""
    import torch
    from tqdm import tqdm

    from sim2art_core.estimator import DEFAULT_CHECKPOINT
    from sim2art_core.model.checkpoint import file_digest

    checkpoint, which = args.checkpoint, "given"
    if checkpoint is None and DEFAULT_CHECKPOINT.is_file():
        checkpoint, which = str(DEFAULT_CHECKPOINT), "shipped"
    elif checkpoint is None:
        checkpoint, which = _random_checkpoint(args.model), f"random-initialised {args.model}"
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown latency method(s) {unknown}; known: {', '.join(METHODS)}")
    specs = []
    for N in args.points:
        for dev in devices:
            for th in args.threads if dev == "cpu" else [args.threads[0]]:
                for m in (m for m in methods if m.startswith("sim2art")):
                    specs.append({"case": "method", "method": m, "checkpoint": checkpoint, "device": dev,
                                  "threads": th, "T": args.frames, "N": N, "repeats": args.repeats})  # fmt: skip
        for m in (m for m in methods if m.startswith("featclust")):
            specs.append({"case": "method", "method": m, "device": "cpu", "threads": args.threads[0], "T": args.frames,
                          "N": N, "repeats": max(3, args.repeats // 2)})  # fmt: skip
    for res in args.resolutions:
        w, h = (int(x) for x in res.lower().split("x"))
        specs.append({"case": "preprocess", "width": w, "height": h, "N": args.points[0], "T": args.frames,
                      "repeats": max(1, args.repeats // 10), "threads": args.threads[0]})  # fmt: skip
    run = run_case if args.in_process else _subprocess
    results = [run(s) for s in tqdm(specs, desc="latency cases", unit="case", disable=not progress)]
    return {
        "command": "sim2art-benchmark latency " + " ".join(getattr(args, "argv", [])),
        "checkpoint": checkpoint,
        "checkpoint_kind": which,
        "checkpoint_sha256": file_digest(checkpoint, length=64),
        "machine": environment(),
        "results": results,
    }


def latency_markdown(result: dict) -> str:
    """Two tables: methods per window, preprocessing per frame."""
    rows = [r for r in result["results"] if r["case"] == "method"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    head = (
        f"Checkpoint: {result['checkpoint_kind']} (sha256 {result['checkpoint_sha256'][:16]}…); "
        f"tcmalloc: {'yes' if result['machine']['tcmalloc'] else 'no'}; median of repeated calls after warm-up.\n\n"
    )
    methods = markdown_table([{
        "method": r["method"],
        "device": r["device"],
        "threads": r["environment"]["torch_threads"],
        "window T×N": f"{r['T']}×{r['N']}",
        "median ms/window": f"{r['median_ms']:.1f}",
        "p90 ms": f"{r['p90_ms']:.1f}",
        "ms/frame": f"{r['ms_per_frame']:.2f}",
        "network ms": fmt(r.get("network_ms")),
        "refine ms": fmt(r.get("refine_ms")),
        "peak RSS MB": f"{r['peak_rss_mb']:.0f}",
        "Python/NumPy peak MB": f"{r['traced_peak_mb']:.1f}",
    } for r in rows])  # fmt: skip
    pre = [r for r in result["results"] if r["case"] == "preprocess"]
    if not pre:
        return head + methods
    return head + methods + "\n" + markdown_table([{
        "preprocessing per frame": r["resolution"],
        "N": r["N"],
        "object selection (mask) ms": f"{r['select_ms']:.1f}",
        "sampling + lifting ms": f"{r['sample_lift_ms']:.1f}",
        "DIS optical flow fwd+bwd ms": f"{r['optical_flow_ms']:.1f}",
        "scene flow ms": f"{r['scene_flow_ms']:.1f}",
        "whole keyframe ms (p90)": f"{r['keyframe_ms']:.1f} ({r['keyframe_p90_ms']:.1f})",
        "peak RSS MB": f"{r['peak_rss_mb']:.0f}",
    } for r in pre])  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one, else a random model)")
    p.add_argument("--model", default="cpu", help="preset[:field=value,...] of the random model without checkpoint")
    p.add_argument("--frames", type=int, default=16, help="T, frames per window")
    p.add_argument("--points", type=int, nargs="+", default=[1024, 2048], help="N, points per window frame")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch CPU thread counts to time")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per case (FeatClust: half)")
    p.add_argument("--resolutions", nargs="*", default=["640x480", "320x240"], help="preprocessing resolutions")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--cpu-only", action="store_true", help="skip CUDA even when it is available")
    p.add_argument("--in-process", action="store_true",
                   help="run the cases in this process (smoke runs: faster, but peak RSS is shared)")  # fmt: skip
    p.add_argument("--json", default=None, help="also write the results here")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    add_arguments(p)
    args = p.parse_args(argv)
    if args.one:  # one case in this process; its JSON on the last line
        print(json.dumps(run_case(json.loads(args.one))))
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)
    result = run_latency(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(latency_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
