"""The registry of run-time dense optical-flow methods and the interface they implement.

A flow method is a class registered with ``@FLOW_REGISTRY.register("name")`` whose constructor takes
the whole :class:`~sim2art_core.preprocess.config.FlowConfig` (it reads its own sub-config, e.g.
``cfg.dis``) and whose instances map two grey images to a dense flow. Adding a method: one module in
this package with its sub-config dataclass and its class, imported in ``__init__.py``; its name in
``config.FlowMethodName`` and its sub-config as a ``FlowConfig`` field (a test checks the literal
against the registry).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sim2art_core.registry import Registry


class FlowMethod(Protocol):
    """Dense optical flow between two grey images of one size. One instance may keep OpenCV state
    (buffers allocated once); instances are not thread-safe."""

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        """(h, w, 2) float32 flow (du, dv) in pixels from ``grey0`` to ``grey1`` ((h, w) uint8 each)."""
        ...


#: name -> class(cfg: FlowConfig) -> FlowMethod
FLOW_REGISTRY: Registry = Registry("flow method")
