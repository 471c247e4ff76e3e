"""OpenCV DIS optical flow (Kroeger et al., ECCV 2016): the default, fast dense inverse search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sim2art_core.preprocess.flow_methods.base import FLOW_REGISTRY

DISPreset = Literal["ultrafast", "fast", "medium"]
_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class DISConfig:
    """``cv2.DISOpticalFlow`` settings.

    Attributes:
        preset: "ultrafast", "fast" or "medium" (OpenCV's presets: patch size, stride, iterations).
        variational_refinement_iterations: iterations of the variational refinement after the patch
            search; -1 keeps the preset's own value (medium and fast: 5, ultrafast: 0), 0 turns it off.
    """

    preset: DISPreset = "medium"
    variational_refinement_iterations: int = -1

    def validate(self) -> None:
        if self.preset not in _PRESETS:
            raise ValueError(f"flow.dis.preset must be one of {tuple(_PRESETS)}, got '{self.preset}'")
        if self.variational_refinement_iterations < -1:
            raise ValueError("flow.dis.variational_refinement_iterations must be >= -1")


@FLOW_REGISTRY.register("dis")
class DISFlow:
    """``cv2.DISOpticalFlow`` with the preset of ``cfg.dis`` (buffers allocated once)."""

    def __init__(self, cfg) -> None:
        c: DISConfig = cfg.dis
        c.validate()
        self._dis = cv2.DISOpticalFlow_create(_PRESETS[c.preset])
        if c.variational_refinement_iterations >= 0:
            self._dis.setVariationalRefinementIterations(int(c.variational_refinement_iterations))

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        return self._dis.calc(grey0, grey1, None)
