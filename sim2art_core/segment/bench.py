"""Cost of the motion-consistent segmentation per window, side by side with the Estimator's slot-based
motion test (``observed_motions``) on the same windows, in one process on one thread.

    OMP_NUM_THREADS=1 python -m sim2art_core.segment.bench --frames 16 --points 1024 --repeats 20

Windows: sim2art_core.train.analytic samples (a box with a revolute or prismatic part, exact flow) with
the true labels as a 0.9-confident network prior, and the same with 3 mm Gaussian flow noise. Prints the
median and 90th percentile per window (ms) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sim2art-segment-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=20, help="windows timed per kind (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.estimator import observed_motions
    from sim2art_core.segment import MotionSegmentationInput, segment_by_motion
    from sim2art_core.train.analytic import analytic_sample

    rng = np.random.default_rng(args.seed)
    seg_ms, obs_ms = [], []
    for i in range(args.repeats):
        for kind, noise in (("revolute", 0.0), ("prismatic", 0.0), ("revolute", 0.003)):
            sample = analytic_sample(kind, seed=args.seed + i, num_frames=args.frames, num_points=args.points)
            w = window_from_sample(sample)
            flow = w.flow + rng.normal(scale=noise, size=w.flow.shape).astype(np.float32) if noise else w.flow
            probs = np.full((*sample.labels.shape, 8), 0.1 / 7, np.float32)
            np.put_along_axis(probs, sample.labels[..., None].astype(np.int64), 0.9, axis=-1)
            t0 = time.perf_counter()
            segment_by_motion(MotionSegmentationInput(w.points, flow, w.valid, probs))
            t1 = time.perf_counter()
            observed_motions(w, sample.labels == 0, [sample.labels == 1])
            t2 = time.perf_counter()
            seg_ms.append(1000 * (t1 - t0))
            obs_ms.append(1000 * (t2 - t1))
    out = {
        "frames": args.frames,
        "points": args.points,
        "windows": len(seg_ms),
        "segment_ms_median": float(np.median(seg_ms)),
        "segment_ms_p90": float(np.percentile(seg_ms, 90)),
        "observed_motions_ms_median": float(np.median(obs_ms)),
        "ratio_median": float(np.median(seg_ms) / max(np.median(obs_ms), 1e-9)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }
    print(
        f"T={args.frames} N={args.points}, {len(seg_ms)} windows, one thread: motion segmentation "
        f"{out['segment_ms_median']:.1f} ms median ({out['segment_ms_p90']:.1f} p90); the slot-based motion test "
        f"{out['observed_motions_ms_median']:.1f} ms; ratio {out['ratio_median']:.1f}x"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
