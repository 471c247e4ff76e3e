"""Validation rows of several checkpoints on the training loop's fixed validation windows, side by side.

The same 64 (``--samples``) windows ``sim2art-train`` validates on (paper's 14 categories, every other window
realistic), with true flow or the run-time-like noise model (``--val-flow``, as ``sim2art-train --val-flow``).
Use it to put a running run's ``val/step_*.pt`` next to the shipped model on the flow the run validates on:

    PYTHONPATH=$PWD python scripts/val_rows.py sim2art_core/checkpoints/default.pt runs/broad_v1/last.pt \
        --val-flow noise-model
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.model.checkpoint import load_checkpoint
from sim2art_core.model.config import LossConfig
from sim2art_core.train.examples import AugmentConfig, example_from_sample
from sim2art_core.train.loop import TrainConfig, validate
from sim2art_core.train.sources import build_source


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--val-flow", choices=("true", "noise-model"), default="true")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    d = TrainConfig(out_dir="-")
    loaded = [load_checkpoint(c) for c in args.checkpoints]
    cfg0 = loaded[0].config
    src = build_source(
        "generate", "val", cfg0.num_frames, d.render_points, realism=d.realism, categories=CATEGORIES,
        val_flow=args.val_flow,
    )  # fmt: skip
    samples = src.fixed(args.samples)
    print(f"{len(samples)} fixed validation windows, flow={args.val_flow}")
    print("| checkpoint | loss | mIoU | mIoU moving | type | axis (°) | pivot (cm) |")
    print("|---|---|---|---|---|---|---|")
    for ck in loaded:
        if (ck.config.num_frames, ck.config.num_points) != (cfg0.num_frames, cfg0.num_points):
            print(f"{ck.path}: another window size, skipped", file=sys.stderr)
            continue
        rng = np.random.default_rng(12345)  # as the training loop: the same subsample of every window
        examples = [example_from_sample(s, ck.config, rng, AugmentConfig.none()) for s in samples]
        r = validate(ck.model, examples, LossConfig(), 4)
        print(
            f"| {ck.path} | {r['loss']:.3f} | {r['miou']:.3f} | {r['miou_moving']:.3f} | {r['type_acc']:.3f} | "
            f"{r['axis_err_deg']:.1f} | {r['pivot_err_cm']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
