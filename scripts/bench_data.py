#!/usr/bin/env python3
"""Benchmark of the synthetic data engine: sequences per second per core and bytes per sequence.

    nice -n 10 .venv/bin/python scripts/bench_data.py            # T=16, N=2048, 160x120 and 320x240
    nice -n 10 .venv/bin/python scripts/bench_data.py --sequences 56 --json bench.json

One process pinned to one CPU core (BLAS/OpenMP threads = 1). Categories are cycled through all 14
(one new object and sequence per iteration). Reported per resolution: sequences/s from process CPU
time (the per-core figure; robust to other load on a shared machine) and from wall time, the share
of time in PyBullet's getCameraImage, in loading objects (URDF write + loadURDF) and in the rest
(object generation, camera path, sampling, lifting, flow), and the size of the encoded dataset record.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sim2art_core.data import renderer as renderer_mod  # noqa: E402
from sim2art_core.data.generator import SequenceConfig, generate_sequence  # noqa: E402
from sim2art_core.data.realism import RealismConfig  # noqa: E402
from sim2art_core.data.records import encode_sample  # noqa: E402
from sim2art_core.data.sequence import CATEGORIES  # noqa: E402


class _Timer:
    """Accumulates CPU time spent inside wrapped renderer methods."""

    def __init__(self):
        self.totals: dict[str, float] = {}

    def wrap(self, obj, name: str, label: str):
        original = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return original(*a, **k)
            finally:
                self.totals[label] = self.totals.get(label, 0.0) + time.process_time() - t0

        setattr(obj, name, timed)


def bench(width: int, height: int, n: int, realism: RealismConfig, timer: _Timer) -> dict:
    cfg = SequenceConfig(num_frames=16, num_points=2048, width=width, height=height, realism=realism)
    generate_sequence("Box", 0, 0, cfg)  # warm-up: PyBullet client, textures
    timer.totals.clear()
    sizes, enc = [], 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    samples = []
    for i in range(n):
        samples.append(generate_sequence(CATEGORIES[i % len(CATEGORIES)], 1000 + i, i, cfg))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    for s in samples:
        t0 = time.process_time()
        sizes.append(len(encode_sample(s)))
        enc += time.process_time() - t0
    render = timer.totals.get("render", 0.0)
    load = timer.totals.get("load", 0.0)
    return {
        "resolution": f"{width}x{height}",
        "realism": "robustness" if realism.any else "none",
        "sequences": n,
        "seq_per_s_cpu": n / cpu,
        "seq_per_s_wall": n / wall,
        "ms_per_seq_cpu": 1000 * cpu / n,
        "share_render": render / cpu,
        "share_load": load / cpu,
        "share_rest": 1 - (render + load) / cpu,
        "record_kib_mean": float(np.mean(sizes)) / 1024,
        "record_kib_max": float(np.max(sizes)) / 1024,
        "encode_ms": 1000 * enc / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", type=int, default=56, help="sequences per configuration (default 56 = 4 x 14)")
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    ap.add_argument("--json", type=str, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    r = renderer_mod.get_renderer()
    timer = _Timer()
    timer.wrap(r.pb, "getCameraImage", "render")
    timer.wrap(r, "load", "load")
    rows = [
        bench(160, 120, args.sequences, RealismConfig(), timer),
        bench(320, 240, args.sequences, RealismConfig(), timer),
        bench(160, 120, args.sequences, RealismConfig.robustness(), timer),
    ]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"machine: {machine}, Python {platform.python_version()}; pinned to core {args.core}; T=16, N=2048, "
          "all 14 categories cycled")  # fmt: skip
    print("| resolution | realism | seq/s/core (CPU time) | seq/s (wall) | ms/seq | getCameraImage | load | rest "
          "| record KiB (mean / max) | encode ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        print(f"| {x['resolution']} | {x['realism']} | {x['seq_per_s_cpu']:.1f} | {x['seq_per_s_wall']:.1f} | "
              f"{x['ms_per_seq_cpu']:.0f} | {100 * x['share_render']:.0f} % | {100 * x['share_load']:.0f} % | "
              f"{100 * x['share_rest']:.0f} % | {x['record_kib_mean']:.0f} / {x['record_kib_max']:.0f} | "
              f"{x['encode_ms']:.1f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
