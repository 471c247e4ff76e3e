"""The sim2art network (paper §3.3-3.6): config, pure-PyTorch ops, network, losses, checkpoints.

Public entry points: :class:`ModelConfig`, :func:`build_model`, :func:`load_checkpoint`,
:func:`save_checkpoint`. docs/MODEL.md describes the architecture with shapes.
"""

from sim2art_core.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sim2art_core.model.config import LossConfig, ModelConfig, preset
from sim2art_core.model.registry import build_model, register_model

__all__ = [
    "CheckpointError", "LossConfig", "ModelConfig", "build_model", "load_checkpoint", "preset", "register_model",
    "save_checkpoint",
]  # fmt: skip
