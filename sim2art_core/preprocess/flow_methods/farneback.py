"""OpenCV Farneback dense optical flow (polynomial expansion)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sim2art_core.preprocess.flow_methods.base import FLOW_REGISTRY


@dataclass(frozen=True)
class FarnebackConfig:
    """``cv2.calcOpticalFlowFarneback`` parameters (OpenCV's names).

    Attributes:
        pyr_scale: image scale between pyramid levels (< 1).
        levels: pyramid levels.
        winsize: averaging window (px); larger is more robust to noise, blurrier at motion borders.
        iterations: iterations per pyramid level.
        poly_n: pixel neighbourhood of the polynomial expansion (5 or 7).
        poly_sigma: Gaussian sigma of the polynomial expansion (1.1 for poly_n 5, 1.5 for 7).
    """

    pyr_scale: float = 0.5
    levels: int = 4
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def validate(self) -> None:
        if not 0.0 < self.pyr_scale < 1.0 or self.levels < 1 or self.winsize < 3 or self.iterations < 1:
            raise ValueError(f"flow.farneback: bad parameters {self}")
        if self.poly_n not in (5, 7):
            raise ValueError(f"flow.farneback.poly_n must be 5 or 7, got {self.poly_n}")


@FLOW_REGISTRY.register("farneback")
class FarnebackFlow:
    """``cv2.calcOpticalFlowFarneback`` with ``cfg.farneback``."""

    def __init__(self, cfg) -> None:
        self.c: FarnebackConfig = cfg.farneback
        self.c.validate()

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        c = self.c
        return cv2.calcOpticalFlowFarneback(
            grey0, grey1, None, c.pyr_scale, c.levels, c.winsize, c.iterations, c.poly_n, c.poly_sigma, 0
        )
