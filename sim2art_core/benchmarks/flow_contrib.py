"""OpenCV-contrib optical-flow methods, registered for the flow-method benchmark only.

``opencv-contrib-python(-headless)`` replaces the ``cv2`` of ``opencv-python-headless`` (the two wheels
cannot be installed side by side), so the project does not depend on it. The benchmark
(:mod:`sim2art_core.benchmarks.bench_flow_methods`, stage ``run --contrib``) calls :func:`register` in a separate
venv with the contrib wheel; each method is one class and one registration, as any flow method
(:mod:`sim2art_core.preprocess.flow_methods`), with its OpenCV defaults. Importing this module registers
nothing (so the registry and ``FlowConfig.method``'s literal agree wherever the module is imported).
"""

from __future__ import annotations

import cv2
import numpy as np

from sim2art_core.preprocess.flow_methods import FLOW_REGISTRY


class _Contrib:
    def __init__(self, cfg) -> None:
        self._algo = self.create()

    def create(self):  # the OpenCV DenseOpticalFlow object
        raise NotImplementedError

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        return self._algo.calc(grey0, grey1, None)


class DeepFlow(_Contrib):
    def create(self):
        return cv2.optflow.createOptFlow_DeepFlow()


class TVL1Flow(_Contrib):
    def create(self):
        return cv2.optflow.DualTVL1OpticalFlow_create()


class PCAFlow(_Contrib):
    def create(self):
        return cv2.optflow.createOptFlow_PCAFlow()


class DenseRLOF:
    """Dense RLOF (robust local optical flow); needs 3-channel 8-bit images."""

    def __init__(self, cfg) -> None:
        pass

    def __call__(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray:
        a, b = cv2.cvtColor(grey0, cv2.COLOR_GRAY2BGR), cv2.cvtColor(grey1, cv2.COLOR_GRAY2BGR)
        return cv2.optflow.calcOpticalFlowDenseRLOF(a, b, None)


CONTRIB_METHODS = {"rlof": DenseRLOF, "deepflow": DeepFlow, "tvl1": TVL1Flow, "pcaflow": PCAFlow}


def register() -> None:
    """Register the contrib methods (once); RuntimeError without the contrib wheel."""
    if not hasattr(cv2, "optflow"):
        raise RuntimeError("the contrib flow methods need opencv-contrib-python(-headless): cv2.optflow is missing")
    for name, cls in CONTRIB_METHODS.items():
        if name not in FLOW_REGISTRY:
            FLOW_REGISTRY.add(name, cls)
