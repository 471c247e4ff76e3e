"""The model registry (detectron2 style): ``build_model(cfg)``.

New architectures (e.g. an ablation with another encoder) register a constructor under a name with
``@register_model("name")`` and add the name to ``ModelName`` (sim2art_core.model.config; a test checks
the two agree); checkpoints store ``cfg.name`` so they rebuild the right class.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sim2art_core.model.config import ModelConfig
from sim2art_core.registry import Registry

ModelBuilder = Callable[[ModelConfig], nn.Module]

MODEL_REGISTRY: Registry[ModelBuilder] = Registry("model")


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``fn(cfg) -> nn.Module`` under ``name`` (names are unique)."""
    return MODEL_REGISTRY.register(name)


@register_model("sim2art")
def _build_sim2art(cfg: ModelConfig) -> nn.Module:
    from sim2art_core.model.network import Sim2ArtNet

    return Sim2ArtNet(cfg)


def build_model(cfg: ModelConfig) -> nn.Module:
    """The registered model for ``cfg.name``, randomly initialised (ValueError naming the known ones)."""
    return MODEL_REGISTRY.get(cfg.name)(cfg)
