"""Motion-consistent segmentation: the stage after the network (docs/EVALUATION.md §8).

Public API: :func:`segment_by_motion`, :class:`MotionSegmentationConfig`, :class:`MotionSegmentationInput`,
:class:`MotionSegmentation`.
"""

from sim2art_core.segment.motion_segmentation import (
    MotionSegmentation,
    MotionSegmentationConfig,
    MotionSegmentationInput,
    segment_by_motion,
)

__all__ = ["MotionSegmentation", "MotionSegmentationConfig", "MotionSegmentationInput", "segment_by_motion"]
