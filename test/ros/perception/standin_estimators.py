"""Deterministic WindowEstimator stand-ins for the node tests (loaded by ``module:attribute``).

The node subprocesses import this module through PYTHONPATH (the tests add test/ros).

* :class:`FlowSplitEstimator` -- points whose scene flow exceeds a threshold are the moving
  part, the rest the base; the joint comes from sim2art_core.refine's closed-form fit of the
  window's scene flow. Its answer for the test scene is known (a revolute door about a
  vertical hinge), so the integration test checks that poses, flow and frames reach the
  estimator correctly, not only that messages flow.
* :class:`FixedAnswerEstimator` -- always the same revolute joint (configurable), no geometry:
  for plumbing, services and soak tests.
* ``fail_every`` / ``sleep_s`` arguments make either of them raise or take time.
"""

from __future__ import annotations

import time

import numpy as np

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.refine import RefineConfig, refine_joints
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window


class _Base:
    def __init__(
        self,
        checkpoint=None,
        device="auto",
        num_frames: int = 4,
        num_points: int = 256,
        fail_every: int = 0,
        sleep_s: float = 0.0,
    ):
        self.num_frames = int(num_frames)
        self.num_points = int(num_points)
        self.fail_every = int(fail_every)
        self.sleep_s = float(sleep_s)
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError(f"stand-in failure on call {self.calls}")


def _part(label: int, is_root: bool, pts: np.ndarray) -> PartEstimate:
    if len(pts) == 0:
        pts = np.zeros((1, 3))
    return PartEstimate(label, is_root, len(pts), pts.mean(axis=0), pts.min(axis=0), pts.max(axis=0), 0.9)


class FlowSplitEstimator(_Base):
    """Moving points (|flow| > ``threshold_m`` per frame) form part 1; refine_joints fits its joint."""

    def __init__(self, *args, threshold_m: float = 0.008, **kwargs):
        super().__init__(*args, **kwargs)
        self.threshold_m = float(threshold_m)

    def estimate(self, window: Window) -> ArticulationEstimate:
        self._maybe_fail()
        window.validate()
        speed = np.linalg.norm(window.flow, axis=-1)
        moving = window.valid & (speed > self.threshold_m)
        labels = np.where(window.valid, moving.astype(np.int16), -1).astype(np.int16)
        probs = np.stack([~moving, moving], axis=-1).astype(np.float64)
        last = window.points[-1]
        root = _part(0, True, last[window.valid[-1] & ~moving[-1]])
        if moving.sum() < 20:
            return ArticulationEstimate(
                EstimateStatus.NO_ARTICULATION, window.frame_id, window.stamps_ns, labels, parts=(root,),
                message="nothing moved", estimator_id="standin:flow_split",
            )  # fmt: skip
        result = refine_joints(window, probs, root=0, cfg=RefineConfig(fusion="refined"))
        child = _part(1, False, last[window.valid[-1] & moving[-1]])
        return ArticulationEstimate(
            status=EstimateStatus.OK,
            frame_id=window.frame_id,
            stamps_ns=window.stamps_ns,
            labels=labels,
            parts=(root, child),
            joints=result.joints,
            observed_motion=result.observed_motion,
            estimator_id="standin:flow_split",
            timings={"total": 0.0},
        )


class FixedAnswerEstimator(_Base):
    """Always one revolute joint about +z through (0, 0, 0); labels alternate 0/1 by point index."""

    def estimate(self, window: Window) -> ArticulationEstimate:
        self._maybe_fail()
        T, N = window.valid.shape
        labels = np.where(window.valid, (np.arange(N) % 2)[None, :], -1).astype(np.int16)
        last = window.points[-1]
        root = _part(0, True, last[window.valid[-1] & (labels[-1] == 0)])
        child = _part(1, False, last[window.valid[-1] & (labels[-1] == 1)])
        joint = JointEstimate(
            child=1, parent=0, type=JointType.REVOLUTE, type_probs=np.array([0.9, 0.05, 0.05]),
            axis=np.array([0.0, 0.0, 1.0]), origin=np.zeros(3), amounts=np.linspace(0.0, 0.3, T), confidence=0.9,
        )  # fmt: skip
        return ArticulationEstimate(
            status=EstimateStatus.OK, frame_id=window.frame_id, stamps_ns=window.stamps_ns, labels=labels,
            parts=(root, child), joints=(joint,), observed_motion=0.1, estimator_id="standin:fixed",
            timings={"total": 0.0},
        )  # fmt: skip
