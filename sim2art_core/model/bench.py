"""Benchmark: Estimator latency and memory per window, and training throughput (docs/MODEL.md).

    python -m sim2art_core.model.bench                      # inference, T=16, N=1024 and 2048
    python -m sim2art_core.model.bench --train cpu "cpu:point_dim=64" "paper"

Each case runs in a fresh subprocess so its peak RSS is its own. Inference: median (and
p90) wall time of ``Estimator.estimate`` on windows of the data engine (analytic boxes
when the generator is unavailable), with ``torch.set_num_threads(--threads)``; the
network-only time comes from the estimate's ``timings``. Training: median time of a full
step (example preparation from pre-generated samples, forward, Hungarian matching,
losses, backward, AdamW) -> samples per hour. Use ``LD_PRELOAD`` of tcmalloc to measure
what the launcher gets (docs/MODEL.md), and run under ``nice -n 10`` on a shared machine.
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
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _samples(num: int, T: int, N: int, seed: int = 0) -> list:
    """Realistic samples from the data engine, or analytic boxes when it is not importable."""
    rng = np.random.default_rng(seed)
    try:
        from sim2art_core.train.sources import GeneratorSource

        src = GeneratorSource("val", T, N, realism=True)
        return [src.sample(rng) for _ in range(num)]
    except ImportError:
        from sim2art_core.train.analytic import analytic_sample

        return [analytic_sample(("revolute", "prismatic")[i % 2], seed + i, T, N) for i in range(num)]


def _config(spec: str):
    """ "preset[:name=value,...]" -> ModelConfig."""
    from sim2art_core.train.cli import model_config_from_args

    name, _, rest = spec.partition(":")
    return model_config_from_args(name, [kv for kv in rest.split(",") if kv])


def run_inference(spec: str, checkpoint: str | None, T: int, N: int, repeats: int, threads: int) -> dict:
    import torch

    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.estimator import Estimator
    from sim2art_core.model.checkpoint import save_checkpoint
    from sim2art_core.model.registry import build_model

    torch.set_num_threads(threads)
    if checkpoint is None:
        cfg = _config(spec)
        torch.manual_seed(0)
        checkpoint = str(Path(tempfile.mkdtemp()) / "bench.pt")
        save_checkpoint(checkpoint, build_model(cfg), cfg)
    est = Estimator(checkpoint, "cpu")
    windows = [window_from_sample(s) for s in _samples(4, T, N)]
    rss0 = _rss_mb()
    for w in windows:  # warm-up
        est.estimate(w)
    total, network = [], []
    for i in range(repeats):
        w = windows[i % len(windows)]
        t0 = time.perf_counter()
        out = est.estimate(w)
        total.append(time.perf_counter() - t0)
        network.append(out.timings.get("network", float("nan")))
    med = float(np.median(total))
    return {
        "case": "inference", "model": spec if checkpoint.endswith("bench.pt") else checkpoint, "T": T, "N": N,
        "model_N": est.num_points, "threads": threads, "median_ms": med * 1e3,
        "p90_ms": float(np.percentile(total, 90)) * 1e3, "ms_per_frame": med * 1e3 / T,
        "network_ms": float(np.median(network)) * 1e3, "peak_rss_mb": _rss_mb(), "rss_before_mb": rss0,
        "params_m": sum(p.numel() for p in est.model.parameters()) / 1e6,
    }  # fmt: skip


def run_training(spec: str, steps: int, batch: int, threads: int) -> dict:
    import torch

    from sim2art_core.model.config import LossConfig
    from sim2art_core.model.losses import compute_losses
    from sim2art_core.model.registry import build_model
    from sim2art_core.train.examples import AugmentConfig, collate, example_from_sample

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = _config(spec)
    samples = _samples(16, cfg.num_frames, max(2048, cfg.num_points))
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    times = []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        batch_samples = [samples[int(rng.integers(len(samples)))] for _ in range(batch)]
        points, flow, targets, _ = collate([example_from_sample(s, cfg, rng, AugmentConfig()) for s in batch_samples])
        loss, _, _ = compute_losses(model(points, flow), targets, LossConfig())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {
        "case": "training", "model": spec, "batch": batch, "threads": threads, "step_s": med,
        "samples_per_h": batch / med * 3600, "peak_rss_mb": _rss_mb(),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }  # fmt: skip


def _subprocess(args: list[str]) -> dict:
    cmd = [sys.executable, "-m", "sim2art_core.model.bench", "--one", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if r.returncode != 0:
        raise RuntimeError(f"benchmark case {args} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="checkpoint to time (default: a random model of --model)")
    p.add_argument("--model", default="cpu", help="preset[:field=value,...] when no checkpoint is given")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--points", type=int, nargs="+", default=[1024, 2048], help="points per window frame")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train", nargs="*", default=None, metavar="SPEC", help="training throughput of these configs")
    p.add_argument("--train-steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.one:  # one case in this process; print its JSON
        kind, *rest = args.one
        if kind == "inference":
            spec, ck, T, N = rest
            res = run_inference(spec, None if ck == "-" else ck, int(T), int(N), args.repeats, args.threads)
        else:
            (spec,) = rest
            res = run_training(spec, args.train_steps, args.batch, args.threads)
        print(json.dumps(res))
        return 0

    header = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_avg_at_start": os.getloadavg(),
        "ld_preload": os.environ.get("LD_PRELOAD", ""),
        "threads": args.threads,
    }
    print(json.dumps(header))
    results = []
    common = ["--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.train is None:
        for N in args.points:
            results.append(
                _subprocess(["inference", args.model, args.checkpoint or "-", str(args.frames), str(N), *common])
            )
            r = results[-1]
            print(f"inference T={r['T']} N={r['N']} (model N={r['model_N']}, {r['params_m']:.2f} M params): "
                  f"median {r['median_ms']:.1f} ms ({r['ms_per_frame']:.2f} ms/frame), p90 {r['p90_ms']:.1f} ms, "
                  f"network {r['network_ms']:.1f} ms, peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    for spec in args.train or []:
        extra = ["--train-steps", str(args.train_steps), "--batch", str(args.batch)]
        results.append(_subprocess(["training", spec, *common, *extra]))
        r = results[-1]
        print(f"training {spec} B={r['batch']} ({r['params_m']:.2f} M params): {r['step_s']:.3f} s/step, "
              f"{r['samples_per_h']:.0f} samples/h, peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    header["load_avg_at_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
