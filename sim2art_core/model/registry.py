"""A small model registry in the style of detectron2: ``build_model(cfg)``.

New architectures (e.g. an ablation with another encoder) register a constructor
under a name; checkpoints store ``cfg.name`` so they rebuild the right class.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sim2art_core.model.config import ModelConfig

MODEL_REGISTRY: dict[str, Callable[[ModelConfig], nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[[ModelConfig], nn.Module]], Callable[[ModelConfig], nn.Module]]:
    """Decorator: register ``fn(cfg) -> nn.Module`` under ``name`` (names are unique)."""

    def deco(fn: Callable[[ModelConfig], nn.Module]) -> Callable[[ModelConfig], nn.Module]:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        MODEL_REGISTRY[name] = fn
        return fn

    return deco


@register_model("sim2art")
def _build_sim2art(cfg: ModelConfig) -> nn.Module:
    from sim2art_core.model.network import Sim2ArtNet

    return Sim2ArtNet(cfg)


def build_model(cfg: ModelConfig) -> nn.Module:
    """The registered model for ``cfg.name``, randomly initialised."""
    if cfg.name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {cfg.name!r}; registered: {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[cfg.name](cfg)
