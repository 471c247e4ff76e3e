"""Stand-in estimators for the estimator-process tests (imported by module:attribute in the child)."""

from __future__ import annotations

import os
import time

import numpy as np

from sim2art_core.estimate import ArticulationEstimate, PartEstimate
from sim2art_core.types import EstimateStatus


class CentroidEstimator:
    """Labels points moving faster than ``threshold_m`` as part 1; parts are centroids/boxes of the last frame.

    ``stamps_ns[0]`` steers misbehaviour: 13 -> the process exits, 17 -> it sleeps ``sleep_s``,
    23 -> it raises; any other window is answered from its data.
    """

    def __init__(self, checkpoint=None, device="auto", num_frames: int = 4, num_points: int = 64, sleep_s=5.0):
        self.num_frames, self.num_points, self.sleep_s = int(num_frames), int(num_points), float(sleep_s)
        self.device = device

    def estimate(self, window) -> ArticulationEstimate:
        first = int(window.stamps_ns[0])
        if first == 13:
            os._exit(3)
        if first == 17:
            time.sleep(self.sleep_s)
        if first == 23:
            raise ValueError("stand-in refuses this window")
        window.validate()
        moving = window.valid & (np.linalg.norm(window.flow, axis=-1) > 0.01)
        labels = np.where(window.valid, moving.astype(np.int16), -1).astype(np.int16)
        last = window.points[-1]
        parts = []
        for label, sel in ((0, window.valid[-1] & ~moving[-1]), (1, window.valid[-1] & moving[-1])):
            pts = last[sel] if sel.any() else np.zeros((1, 3), np.float32)
            parts.append(PartEstimate(label, label == 0, int(sel.sum()), pts.mean(0), pts.min(0), pts.max(0), 0.5))
        return ArticulationEstimate(
            EstimateStatus.OK if moving.any() else EstimateStatus.NO_ARTICULATION,
            window.frame_id, window.stamps_ns, labels, parts=tuple(parts),
            message=f"device {self.device}", estimator_id="test:centroid",
        )  # fmt: skip


def broken_factory(checkpoint=None, device="auto"):
    raise OSError("checkpoint unreadable")
