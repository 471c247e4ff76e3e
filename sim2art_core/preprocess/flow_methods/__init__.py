"""Run-time dense optical-flow methods behind one registry (:data:`FLOW_REGISTRY`).

    flow = build_flow(FlowConfig(method="dis", dis=DISConfig(preset="medium")))
    uv_flow = flow(grey0, grey1)  # (h, w, 2) float32 pixels

Built in: ``dis`` (:mod:`.dis`, the default) and ``farneback`` (:mod:`.farneback`). How to add one:
:mod:`.base`. The choice of the default is measured (docs/EVALUATION.md, "Run-time optical flow").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim2art_core.preprocess.flow_methods import dis, farneback  # noqa: F401 - registers the methods
from sim2art_core.preprocess.flow_methods.base import FLOW_REGISTRY, FlowMethod
from sim2art_core.preprocess.flow_methods.dis import DISConfig
from sim2art_core.preprocess.flow_methods.farneback import FarnebackConfig

if TYPE_CHECKING:
    from sim2art_core.preprocess.config import FlowConfig

__all__ = ["FLOW_REGISTRY", "DISConfig", "FarnebackConfig", "FlowMethod", "build_flow"]


def build_flow(cfg: FlowConfig) -> FlowMethod:
    """The flow method ``cfg.method`` built from ``cfg`` (ValueError naming the registered ones)."""
    return FLOW_REGISTRY.get(cfg.method)(cfg)
