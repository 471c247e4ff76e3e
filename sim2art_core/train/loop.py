"""The training loop: seeded, resumable, CSV-logged, periodically validated and checkpointed.

Files written to ``TrainConfig.out_dir``:

* ``log.csv``   one row per ``log_every`` steps (kind=train, averaged losses, lr, samples/hour)
                and per validation (kind=val, losses and metrics of sim2art_core.train.metrics);
* ``last.pt``   model + optimiser + scheduler + RNG states (resume with ``--resume``);
* ``best.pt``   the weights with the lowest validation loss so far (no optimiser);
* ``final.pt``  the weights after the last step (no optimiser): what gets shipped;
* ``val/step_NNNNNN.pt`` with ``keep_val_checkpoints``: the weights at every validation (no optimiser), so a
  candidate whose validation row looks good can still be evaluated after ``last.pt`` moved on.

Distributed (``torchrun --nproc_per_node=N sim2art-train ...``): when torchrun's environment
(``WORLD_SIZE`` > 1, ``RANK``, ``LOCAL_RANK``) is present, ``train`` joins a process group (gloo on CPU,
NCCL on CUDA, rank r on ``cuda:LOCAL_RANK``) and wraps the model in DistributedDataParallel. Each rank
draws ``batch_size`` windows per step from its own data stream (numpy seed ``[seed, rank]``; rank 0 keeps
``seed`` so a one-process run is unchanged), so the global batch is ``batch_size * N``; gradients are
averaged over ranks. Logged training losses are averaged over all ranks (the global batch). Only rank 0
validates and writes log.csv and the checkpoints; last.pt holds every rank's RNG states, so a resumed
run with the same N continues each stream (with another N, the streams are re-seeded from the step).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.estimator import resolve_device
from sim2art_core.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from sim2art_core.model.config import LossConfig, ModelConfig
from sim2art_core.model.losses import compute_losses
from sim2art_core.model.registry import build_model
from sim2art_core.train.examples import AugmentConfig, Example, collate, example_from_sample
from sim2art_core.train.metrics import METRIC_NAMES, MetricAccumulator
from sim2art_core.train.sources import ReplayPool, SampleSource, build_source

logger = logging.getLogger(__name__)

LOSS_NAMES = ("loss", "mask", "type", "axis", "pivot", "amount", "moving")
CSV_FIELDS = ("kind", "step", "samples", "wall_s", "lr", "samples_per_h", *LOSS_NAMES, *METRIC_NAMES)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, data and bookkeeping of one training run."""

    out_dir: str = "runs/sim2art"
    """Where log.csv and the checkpoints go."""
    data: str = "generate"
    """Training data: a dataset directory, "generate" (on the fly) or "analytic"."""
    val_data: str | None = None
    """Validation data (split "val"); None: the same spec as ``data``."""
    steps: int = 20_000
    """Optimiser steps."""
    batch_size: int = 4
    """Windows per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 200
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    min_lr_ratio: float = 0.05
    """Final learning rate as a fraction of ``lr``."""
    grad_clip: float = 1.0
    """Gradient-norm clip (0: off)."""
    log_every: int = 25
    """Steps per training row of log.csv."""
    val_every: int = 500
    """Steps between validations (and at the end)."""
    val_samples: int = 64
    """Fixed validation windows."""
    ckpt_every: int = 500
    """Steps between writes of last.pt (and at the end)."""
    keep_val_checkpoints: bool = False
    """Also write the weights at every validation to ``val/step_NNNNNN.pt`` (1.8 MB each for the default
    model): ``best.pt`` follows the validation loss and ``last.pt`` is overwritten, so without them a step
    that is better on mIoU and axis error but not on the loss cannot be evaluated later (docs/MODEL.md §5.4)."""
    seed: int = 0
    """Seeds data sampling, augmentation and initialisation."""
    threads: int = 2
    """torch intra-op threads."""
    device: str = "cpu"
    """"cpu", "cuda[:i]" or "auto" (cuda when available)."""
    realism: float = 0.5
    """On-the-fly generation: fraction of sequences with the data engine's realism options (depth noise,
    holes, mask errors, pose drift: RealismConfig.robustness()); the rest are clean."""
    categories: tuple[str, ...] = CATEGORIES
    """On-the-fly generation: categories to draw from."""
    val_categories: tuple[str, ...] | None = None
    """On-the-fly generation: validation categories (None: ``categories``). Keep the paper's 14 to compare
    a run's validation curve with the shipped run's (same 64 fixed validation sequences)."""
    render_points: int = 2048
    """On-the-fly generation: points per frame rendered (the model subsamples its N from them)."""
    pool_size: int = 512
    """On-the-fly generation: generated sequences kept for reuse (sim2art_core.train.sources.ReplayPool)."""
    pool_reuse: float = 1.0
    """On-the-fly generation: mean training windows drawn per generated sequence (1: always fresh)."""
    flow_error: float = 0.0
    """On-the-fly generation, training only: fraction of sequences with the run-time-like flow error model
    (sim2art_core.data.flow_error; docs/MODEL.md "Flow mix")."""
    optical_flow: float = 0.0
    """On-the-fly generation, training only: fraction of sequences through the node's real optical-flow
    path at 640x480 (sim2art_core.train.sources.optical_flow_sample; ~25x the rendering cost)."""
    val_flow: Literal["true", "noise-model"] = "true"
    """On-the-fly generation: flow of the fixed validation windows. "noise-model" (the run-time-like error
    model and drops on every window) selects ``best.pt`` for the node's optical-flow path; its validation
    rows do not compare with the shipped run's (true flow)."""
    init: str | None = None
    """Weights to start from (a checkpoint, e.g. sim2art_core/checkpoints/default.pt) with a fresh optimiser
    and schedule; ignored when resuming (the resumed run's own weights win). Its model config is used."""


def _lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


@dataclass
class TrainResult:
    out_dir: Path
    final: Path
    best: Path | None
    last_val: dict[str, float]
    samples_per_hour: float


class _CsvLog:
    def __init__(self, path: Path, append: bool):
        self.path = path
        new = not (append and path.exists())
        self.f = open(path, "w" if new else "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def row(self, **values: Any) -> None:
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()})
        self.f.flush()

    def close(self) -> None:
        self.f.close()


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DistInfo:
        import os

        env = os.environ if env is None else env
        world = int(env.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(env["RANK"]), world, int(env.get("LOCAL_RANK", env["RANK"])))


def _init_distributed(info: DistInfo, device: torch.device) -> torch.device:
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA); returns this rank's device."""
    if info.world == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def _examples(src: SampleSource, n: int, cfg: ModelConfig, rng: np.random.Generator, aug: AugmentConfig):
    return [example_from_sample(src.sample(rng), cfg, rng, aug) for _ in range(n)]


@torch.no_grad()
def validate(
    model: torch.nn.Module, examples: list[Example], loss_cfg: LossConfig, batch_size: int, device="cpu"
) -> dict[str, float]:
    """Mean losses and metrics over fixed examples."""
    model.eval()
    acc = MetricAccumulator()
    sums: dict[str, float] = {}
    n = 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        points, flow, targets, scales = collate(chunk)
        out = model(points.to(device), flow.to(device))
        targets = targets.to(device)
        _, parts, matches = compute_losses(out, targets, loss_cfg)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v * len(chunk)
        n += len(chunk)
        acc.add(out, targets, matches, scales)
    model.train()
    return {**{k: v / n for k, v in sums.items()}, **acc.summary()}


def train(
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    loss_cfg: LossConfig | None = None,
    aug: AugmentConfig | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) a model; see the module doc for the files written."""
    loss_cfg = loss_cfg or LossConfig()
    aug = aug or AugmentConfig()
    info = DistInfo.from_env()
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    rng = np.random.default_rng(cfg.seed if info.main else [cfg.seed, info.rank])

    payload = None
    if resume is not None:
        payload = read_checkpoint(resume)
        if "optimizer" not in payload:
            raise CheckpointError(f"checkpoint {resume}: has no optimiser state (use last.pt to resume)")
        stored = ModelConfig.from_dict(payload["model_config"])
        if stored != model_cfg:
            logger.warning("resuming %s: using the checkpoint's model config, not the command line's", resume)
            model_cfg = stored
    init_payload = None
    if payload is None and cfg.init is not None:
        init_payload = read_checkpoint(cfg.init)
        stored = ModelConfig.from_dict(init_payload["model_config"])
        if stored != model_cfg:
            logger.warning("--init %s: using the checkpoint's model config, not the command line's", cfg.init)
            model_cfg = stored
    device = _init_distributed(info, resolve_device(cfg.device))
    model = build_model(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    step, samples, best_val, wall = 0, 0, float("inf"), 0.0
    if init_payload is not None:
        model.load_state_dict(init_payload["state_dict"])
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        opt.load_state_dict(payload["optimizer"]["optimizer"])
        sched.load_state_dict(payload["optimizer"]["scheduler"])
        st = payload["train"]
        step, samples, best_val, wall = st["step"], st["samples"], st["best_val"], st["wall_s"]
        rank_states = st.get("rank_rng")
        if info.main:
            rng.bit_generator.state = st["numpy_rng"]
            torch.set_rng_state(st["torch_rng"])
        elif rank_states is not None and len(rank_states) == info.world:
            rng.bit_generator.state = rank_states[info.rank]["numpy"]
            torch.set_rng_state(rank_states[info.rank]["torch"])
        else:  # resumed with another number of ranks: a fresh stream per (seed, rank, step)
            rng = np.random.default_rng([cfg.seed, info.rank, step])
    net = model  # what the optimiser steps; ``model`` stays the plain module (validation, checkpoints)
    if info.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    src_kw = dict(
        num_frames=model_cfg.num_frames, num_points=cfg.render_points, realism=cfg.realism,
        categories=tuple(cfg.categories),
    )  # fmt: skip
    train_src = build_source(cfg.data, "train", **src_kw, flow_error=cfg.flow_error, optical_flow=cfg.optical_flow)
    if cfg.data == "generate" and cfg.pool_reuse > 1:
        train_src = ReplayPool(train_src, cfg.pool_size, cfg.pool_reuse)
    if cfg.val_categories is not None:
        src_kw["categories"] = tuple(cfg.val_categories)
    val_src = build_source(cfg.val_data or cfg.data, "val", **src_kw, val_flow=cfg.val_flow)
    val_rng = np.random.default_rng(12345)
    val_examples = (
        [example_from_sample(s, model_cfg, val_rng, AugmentConfig.none()) for s in val_src.fixed(cfg.val_samples)]
        if info.main
        else []
    )
    meta = {
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()},
        "loss_config": dataclasses.asdict(loss_cfg),
        "augment": dataclasses.asdict(aug),
        "train_data": train_src.description,
        "val_data": val_src.description,
        "world_size": info.world,
    }

    log = _CsvLog(out_dir / "log.csv", append=payload is not None) if info.main else None
    model.train()
    running: dict[str, list[float]] = {k: [] for k in LOSS_NAMES}
    last_val: dict[str, float] = {}
    skipped = 0
    t_log, samples_log = time.perf_counter(), samples
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and info.main), desc="train", unit="step",
               dynamic_ncols=True)  # fmt: skip

    def state(kind_best: float, rank_rng: list | None = None) -> dict[str, Any]:
        st = {
            **meta, "step": step, "samples": samples, "best_val": kind_best, "wall_s": wall,
            "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "val": last_val,
            "skipped_steps": skipped,
        }  # fmt: skip
        if rank_rng is not None:
            st["rank_rng"] = rank_rng
        return st

    def gather_rng() -> list | None:
        """Every rank's RNG states (a collective: all ranks call it at the same steps)."""
        if info.world == 1:
            return None
        states: list = [None] * info.world
        dist.all_gather_object(states, {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()})
        return states

    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            points, flow, targets, _ = collate(_examples(train_src, cfg.batch_size, model_cfg, rng, aug))
            out = net(points.to(device), flow.to(device))
            targets = targets.to(device)
            loss, parts, _ = compute_losses(out, targets, loss_cfg)
            opt.zero_grad(set_to_none=True)
            finite = bool(torch.isfinite(loss))
            if info.world > 1:  # all ranks step or all skip (a lone backward would hang DDP's all-reduce)
                flags = torch.tensor([float(finite), *[float(parts[k]) for k in LOSS_NAMES]], device=device)
                ok = flags[:1].clone()
                dist.all_reduce(ok, op=dist.ReduceOp.MIN)
                dist.all_reduce(flags, op=dist.ReduceOp.SUM)
                finite = bool(ok.item() > 0)
                parts = {k: float(flags[i + 1]) / info.world for i, k in enumerate(LOSS_NAMES)}
            if finite:
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                for k in LOSS_NAMES:
                    running[k].append(parts[k])
            else:  # never let one bad batch poison the weights
                skipped += 1
                logger.warning("step %d: non-finite loss %s, skipped", step, parts)
            sched.step()
            step += 1
            samples += cfg.batch_size * info.world
            wall += time.perf_counter() - t0
            if not info.main:  # only rank 0 logs, validates and writes; the others join the RNG gather
                if step % cfg.ckpt_every == 0 or step == cfg.steps:
                    gather_rng()
                continue
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                rate = (samples - samples_log) / max(now - t_log, 1e-9) * 3600
                t_log, samples_log = now, samples
                means = {k: float(np.mean(v)) for k, v in running.items() if v}
                running = {k: [] for k in LOSS_NAMES}
                log.row(kind="train", step=step, samples=samples, wall_s=wall, lr=sched.get_last_lr()[0],
                        samples_per_h=rate, **means)  # fmt: skip
                bar.set_postfix(loss=f"{means.get('loss', float('nan')):.3f}", sph=f"{rate:.0f}")
            if step % cfg.val_every == 0 or step == cfg.steps:
                last_val = validate(model, val_examples, loss_cfg, cfg.batch_size, device)
                log.row(kind="val", step=step, samples=samples, wall_s=wall, lr=sched.get_last_lr()[0], **last_val)
                bar.write(f"[val] step {step}: " + " ".join(f"{k}={v:.4g}" for k, v in last_val.items()))
                if last_val["loss"] < best_val:
                    best_val = last_val["loss"]
                    save_checkpoint(out_dir / "best.pt", model, model_cfg, train=state(best_val))
                if cfg.keep_val_checkpoints:
                    (out_dir / "val").mkdir(exist_ok=True)
                    save_checkpoint(out_dir / "val" / f"step_{step:06d}.pt", model, model_cfg, train=state(best_val))
                t_log = time.perf_counter()  # validation time does not count as training throughput
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                opt_state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
                save_checkpoint(out_dir / "last.pt", model, model_cfg, train=state(best_val, gather_rng()),
                                optimizer=opt_state)  # fmt: skip
            bar.update(1)
    finally:
        bar.close()
        if log is not None:
            log.close()
    final = out_dir / "final.pt"
    if info.main:
        final = save_checkpoint(final, model, model_cfg, train=state(best_val))
    if info.world > 1:
        dist.barrier()  # final.pt exists before any rank returns
        dist.destroy_process_group()
    best = out_dir / "best.pt"
    rate = samples / wall * 3600 if wall > 0 else float("nan")
    return TrainResult(out_dir, final, best if best.exists() else None, last_val, rate)
