"""Motion-consistent segmentation: the stage after the network (docs/EVALUATION.md §8).

Public API: :func:`segment_by_motion`, :class:`MotionSegmentationConfig`, :class:`MotionSegmentationInput`,
:class:`MotionSegmentation`; the slot split (:func:`split_slots`, :class:`SlotSplitConfig`,
:class:`SlotSplit`).
"""

from sim2art_core.segment.motion_segmentation import (
    MotionSegmentation,
    MotionSegmentationConfig,
    MotionSegmentationInput,
    segment_by_motion,
)
from sim2art_core.segment.slot_split import SlotSplit, SlotSplitConfig, split_slots

__all__ = [
    "MotionSegmentation",
    "MotionSegmentationConfig",
    "MotionSegmentationInput",
    "SlotSplit",
    "SlotSplitConfig",
    "segment_by_motion",
    "split_slots",
]
