"""Where the node's inference time goes: the estimator alone, beside the preprocessing in a thread, or in a child.

    python -m sim2art_core.benchmarks.inference_contention [--checkpoint CK] [--threads 1 2] [--repeats 3]

The node runs its preprocessing (decoding, object selection, DIS optical flow, NumPy) in one
thread while the estimator works on the previous window. This isolates what that costs the
estimator, without ROS or DDS, in one process and one run, interleaved so the machine's load
hits every case alike:

* ``alone``: ``Estimator.estimate`` with nothing else running here (the estimator's own time);
* ``thread``: the same call while a thread runs ``WindowBuilder.add`` on 640x480 frames of the
  data engine at the node's pace (a keyframe every ``--keyframe-period`` s, the default 30 Hz
  input's keyframes) -- the node's ``inference_mode: thread``;
* ``process``: the same preprocessing thread, the estimator in a
  :class:`~sim2art_core.runtime.process_estimator.ProcessEstimator` child -- ``inference_mode:
  process``.

Reported per case: median and p90 of the estimate's wall time, and the preprocessing thread's
median time per keyframe meanwhile. Windows: the data engine's (``sim2art_core.model.bench``),
the ones of the latency table in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


class PacedPreprocessing:
    """A thread adding rendered frames to a WindowBuilder, one keyframe every ``period_s`` (the node's load)."""

    def __init__(self, frames, period_s: float, num_points: int):
        from sim2art_core.preprocess import KeyframeConfig, PreprocessConfig, WindowBuilder

        self.frames, self.period_s = frames, period_s
        cfg = PreprocessConfig(num_points=num_points, keyframes=KeyframeConfig(period_s=0.0))
        self.builder = WindowBuilder(cfg, "world", rng=0)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="preprocess", daemon=True)

    def _loop(self) -> None:
        cyc, k = 2 * len(self.frames) - 2, 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            j = k % cyc
            f = self.frames[j if j < len(self.frames) else cyc - j]
            t0 = time.perf_counter()
            self.builder.add(replace(f, stamp_ns=k * int(self.period_s * 1e9) + 1))
            self.times.append(time.perf_counter() - t0)
            k += 1
            next_t = max(next_t + self.period_s, time.monotonic())
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def run(checkpoint: str | None, threads: int, repeats: int, estimates: int, period_s: float, frames, windows) -> dict:
    import torch

    from sim2art_core.estimator import Estimator
    from sim2art_core.runtime.process_estimator import EstimatorSpec, ProcessEstimator

    torch.set_num_threads(threads)
    local = Estimator(checkpoint=checkpoint, device="cpu")
    remote = ProcessEstimator(EstimatorSpec(checkpoint=checkpoint or "", device="cpu", torch_threads=threads))
    out: dict = {c: {"estimate_s": [], "keyframe_s": []} for c in ("alone", "thread", "process")}
    try:
        for w in windows:  # warm-up both
            local.estimate(w), remote.estimate(w)
        for _ in range(repeats):
            for case in ("alone", "thread", "process"):
                est = remote if case == "process" else local
                if case == "alone":
                    for i in range(estimates):
                        t0 = time.perf_counter()
                        est.estimate(windows[i % len(windows)])
                        out[case]["estimate_s"].append(time.perf_counter() - t0)
                    continue
                with PacedPreprocessing(frames, period_s, local.num_points) as pre:
                    time.sleep(period_s)  # the thread is running
                    for i in range(estimates):
                        t0 = time.perf_counter()
                        est.estimate(windows[i % len(windows)])
                        out[case]["estimate_s"].append(time.perf_counter() - t0)
                out[case]["keyframe_s"] += pre.times[1:]
    finally:
        remote.close()
    summary = {}
    for case, v in out.items():
        e = 1e3 * np.asarray(v["estimate_s"])
        k = 1e3 * np.asarray(v["keyframe_s"]) if v["keyframe_s"] else np.array([np.nan])
        summary[case] = {
            "estimate_median_ms": float(np.median(e)),
            "estimate_p90_ms": float(np.percentile(e, 90)),
            "n": len(e),
            "keyframe_median_ms": float(np.median(k)),
        }
    return summary


def markdown(result: dict) -> str:
    lines = [
        "| torch threads | estimator alone, ms (p90) | beside preprocessing, same process (thread), ms (p90) "
        "| beside preprocessing, child process, ms (p90) | thread / alone | process / alone "
        "| keyframe ms meanwhile (thread / process) |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads, s in result["cases"].items():
        a, t, p = s["alone"], s["thread"], s["process"]
        lines.append(
            f"| {threads} | {a['estimate_median_ms']:.0f} ({a['estimate_p90_ms']:.0f}) | "
            f"{t['estimate_median_ms']:.0f} ({t['estimate_p90_ms']:.0f}) | "
            f"{p['estimate_median_ms']:.0f} ({p['estimate_p90_ms']:.0f}) | "
            f"{t['estimate_median_ms'] / a['estimate_median_ms']:.2f} | "
            f"{p['estimate_median_ms'] / a['estimate_median_ms']:.2f} | "
            f"{t['keyframe_median_ms']:.0f} / {p['keyframe_median_ms']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op threads to try")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of alone / thread / process")
    ap.add_argument("--estimates", type=int, default=6, help="estimates per case and round")
    ap.add_argument("--keyframe-period", type=float, default=0.2, help="s between keyframes (the node's default)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    # as the node's main() and the estimator child do: spin-waiting OpenMP threads would otherwise
    # steal the CPU from the other thread and falsify the comparison (must precede importing torch)
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from sim2art_core.benchmarks.report import machine_info, machine_line
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.model.bench import _samples

    info = machine_info()
    _, frames = generate_sequence(
        "Storage1", 0, 1, SequenceConfig(num_frames=9, width=args.width, height=args.height), True
    )
    windows = [window_from_sample(s) for s in _samples(2, 16, 1024)]
    result = {"machine": info, "args": vars(args) | {"json": str(args.json)}, "cases": {}}
    for threads in args.threads:
        result["cases"][threads] = run(
            args.checkpoint, threads, args.repeats, args.estimates, args.keyframe_period, frames, windows
        )
        print(json.dumps({threads: result["cases"][threads]}), flush=True)
    result["load_average_end"] = list(os.getloadavg())
    print(f"Machine: {machine_line(info)}; load average at end {result['load_average_end']}")
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
