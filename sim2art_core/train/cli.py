"""``sim2art-train``: train the sim2art network (docs/MODEL.md "Training recipe").

Examples::

    # smoke run on analytic boxes (seconds)
    sim2art-train --data analytic --preset tiny --steps 20 --out runs/smoke

    # the shipped checkpoint (see docs/MODEL.md for the exact, measured command)
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 nice -n 10 \\
        sim2art-train --data data/train_set --out runs/default --steps ...

    # the same on N processes (DistributedDataParallel; gloo on CPU, NCCL on CUDA; docs/MODEL.md)
    torchrun --nproc_per_node=4 --no-python sim2art-train --device cuda --preset paper ...

Model fields can be overridden one by one: ``--set dim=192 --set depth=3``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from sim2art_core.data.sequence import categories_arg
from sim2art_core.model.checkpoint import CheckpointError
from sim2art_core.model.config import PRESETS, LossConfig, ModelConfig, preset
from sim2art_core.train.examples import AugmentConfig
from sim2art_core.train.loop import TrainConfig, train


def _parse_value(field: dataclasses.Field, text: str):
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    if kind == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {field.name}: expected a boolean, got {text!r}")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def model_config_from_args(preset_name: str, overrides: list[str]) -> ModelConfig:
    """A preset with ``name=value`` overrides (clear errors for unknown names or bad values)."""
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    changes = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(fields)}")
        changes[name] = _parse_value(fields[name], value)
    return preset(preset_name, **changes)


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="sim2art-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=d.data, help="dataset directory (split 'train'), 'generate' or 'analytic'")
    p.add_argument("--val-data", default=None, help="validation data (split 'val'); default: same as --data")
    p.add_argument("--out", default=d.out_dir, help="output directory (log.csv, last.pt, best.pt, final.pt)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="model size preset")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a ModelConfig field")
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="windows per step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (AdamW, warm-up + cosine)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup", type=int, default=d.warmup_steps, help="warm-up steps")
    p.add_argument("--val-every", type=int, default=d.val_every, help="steps between validations")
    p.add_argument("--val-samples", type=int, default=d.val_samples, help="fixed validation windows")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every, help="steps between last.pt writes")
    p.add_argument(
        "--keep-val-checkpoints", action="store_true",
        help="also write the weights at every validation to OUT/val/step_NNNNNN.pt (candidates to ship)",
    )  # fmt: skip
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps per log.csv row")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (the machine has 2 cores)")
    p.add_argument("--device", default=d.device, help="cpu, cuda[:i] or auto")
    p.add_argument("--pool-size", type=int, default=d.pool_size, help="--data generate: sequences kept for reuse")
    p.add_argument(
        "--pool-reuse", type=float, default=d.pool_reuse,
        help="--data generate: mean windows per generated sequence (1 = always fresh; 4 cuts rendering 4x)",
    )  # fmt: skip
    p.add_argument(
        "--realism-fraction",
        type=float,
        default=0.5,
        help="--data generate: fraction of sequences rendered with the realism options (rest clean)",
    )
    p.add_argument("--no-realism", action="store_true", help="same as --realism-fraction 0")
    p.add_argument(
        "--categories", type=categories_arg, default=d.categories,
        help="--data generate: 'all' (the paper's 14, default), 'broad' (+ the broader furniture families, "
        "docs/DATA.md) or comma-separated names",
    )  # fmt: skip
    p.add_argument("--no-augment", action="store_true", help="no flow noise / dropout / jitter / roll")
    p.add_argument(
        "--val-categories", type=categories_arg, default=None,
        help="--data generate: validation categories (default: --categories); 'all' keeps the paper's 14",
    )  # fmt: skip
    p.add_argument(
        "--flow-error-fraction", type=float, default=d.flow_error,
        help="--data generate: fraction of training sequences with the run-time-like flow error model",
    )  # fmt: skip
    p.add_argument(
        "--optical-flow-fraction", type=float, default=d.optical_flow,
        help="--data generate: fraction of training sequences through the real optical-flow path at 640x480",
    )  # fmt: skip
    p.add_argument(
        "--val-flow", choices=("true", "noise-model"), default=d.val_flow,
        help="--data generate: flow of the fixed validation windows ('noise-model': the run-time-like error model, "
        "to select checkpoints for the node's optical-flow path; rows then differ from a 'true' run's)",
    )  # fmt: skip
    p.add_argument("--init", default=None, help="start from these weights (fresh optimiser); ignored on resume")
    p.add_argument("--resume", default=None, help="continue from a last.pt ('auto': OUT/last.pt if it exists)")
    p.add_argument("--plot", action="store_true", help="write OUT/curves.png from log.csv at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        model_cfg = model_config_from_args(args.preset, args.set)
    except ValueError as e:
        print(f"sim2art-train: {e}", file=sys.stderr)
        return 2
    cfg = TrainConfig(
        out_dir=args.out, data=args.data, val_data=args.val_data, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup, log_every=args.log_every,
        val_every=args.val_every, val_samples=args.val_samples, ckpt_every=args.ckpt_every, seed=args.seed,
        threads=args.threads, device=args.device, pool_size=args.pool_size, pool_reuse=args.pool_reuse,
        realism=0.0 if args.no_realism else args.realism_fraction, categories=tuple(args.categories),
        val_categories=None if args.val_categories is None else tuple(args.val_categories),
        flow_error=args.flow_error_fraction, optical_flow=args.optical_flow_fraction, init=args.init,
        val_flow=args.val_flow,
        keep_val_checkpoints=args.keep_val_checkpoints,
    )  # fmt: skip
    resume = args.resume
    if resume == "auto":
        last = Path(args.out) / "last.pt"
        resume = last if last.exists() else None
    aug = AugmentConfig.none() if args.no_augment else AugmentConfig()
    try:
        result = train(cfg, model_cfg, LossConfig(), aug, resume=resume, progress=not args.quiet)
    except (ValueError, CheckpointError) as e:  # bad data spec, config or checkpoint: a message, no traceback
        print(f"sim2art-train: error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports
        return 0
    print(f"final weights: {result.final}  ({result.samples_per_hour:.0f} samples/h)")
    if result.last_val:
        print("last validation: " + " ".join(f"{k}={v:.4g}" for k, v in result.last_val.items()))
    if args.plot:
        from sim2art_core.train.plot import plot_log

        print(f"curves: {plot_log(Path(args.out) / 'log.csv', Path(args.out) / 'curves.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
