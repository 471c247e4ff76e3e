"""Checkpoint files: save and load with ``torch.load(weights_only=True)``.

A checkpoint is one ``torch.save`` of a plain dict (only tensors, numbers, strings,
lists and dicts, so the safe unpickler reads it):

    format           "sim2art-checkpoint"
    format_version   1
    model_config     ModelConfig.to_dict()
    state_dict       the model's weights
    normalization    how inputs were normalised in training (the Estimator repeats it)
    code_version     package version + git commit of the code that wrote it
    created          ISO-8601 UTC time
    train            training state (step, samples seen, metrics, data description, RNG ...)
    optimizer        optimiser / scheduler state for resuming (absent in shipped weights)

Every problem (missing file, unreadable bytes, not a sim2art checkpoint, newer format,
weights that do not fit the stored config) raises :class:`CheckpointError` naming
the file and the problem.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import sim2art_core
from sim2art_core.model.config import ModelConfig
from sim2art_core.model.registry import build_model

FORMAT = "sim2art-checkpoint"
FORMAT_VERSION = 1
NORMALIZATION = {
    "points": "p_n = (p - center) * scale; center = bbox middle over all frames, scale = 1 / largest half-extent",
    "flow": "f_n = f * scale (per frame, t -> t+1)",
    "frame": "optical frame of the window's first camera",
    "revolute_amount": "rad",
    "prismatic_amount": "normalised units (m * scale)",
}


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


def code_version() -> str:
    """``<package version>+g<commit>[-dirty]`` when the code is a git checkout, else the version."""
    version = sim2art_core.__version__
    root = Path(sim2art_core.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            version += f"+g{commit.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def file_digest(path: str | os.PathLike, length: int = 12) -> str:
    """First ``length`` hex digits of the file's SHA-256 (identifies shipped weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    cfg: ModelConfig,
    train: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": dict(NORMALIZATION),
        "code_version": code_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "train": train or {},
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


@dataclass
class LoadedCheckpoint:
    """A model rebuilt from a checkpoint (eval mode, on ``device``) with the file's metadata."""

    model: nn.Module
    config: ModelConfig
    path: Path
    digest: str
    code_version: str
    train: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict after format checks (CheckpointError on any problem)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated / foreign / unsafe files
        raise CheckpointError(f"checkpoint {path}: cannot be read ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a sim2art checkpoint (no format={FORMAT!r} entry)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format_version {version!r} is not supported (this code reads <= {FORMAT_VERSION})"
        )
    for key in ("model_config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"checkpoint {path}: missing or malformed {key!r}")
    return payload


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the model of a checkpoint (see the module doc for the errors)."""
    path = Path(path)
    payload = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: invalid model_config ({e})") from e
    try:
        model = build_model(cfg)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from e
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {path}: weights do not match its model_config ({' '.join(first[:3])[:500]})"
        ) from e
    model.to(device).eval()
    return LoadedCheckpoint(
        model=model,
        config=cfg,
        path=path,
        digest=file_digest(path),
        code_version=str(payload.get("code_version", "unknown")),
        train=dict(payload.get("train", {})),
        optimizer=payload.get("optimizer"),
    )
