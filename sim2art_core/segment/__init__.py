"""Motion-consistent segmentation: the stage after the network (docs/EVALUATION.md §8).

Public API: :func:`segment_by_motion`, :class:`MotionSegmentationConfig`, :class:`MotionSegmentationInput`,
:class:`MotionSegmentation`; the slot split (:func:`split_slots`, :class:`SlotSplitConfig`,
:class:`SlotSplit`); the part merge (:func:`merge_parts`, :class:`PartMergeConfig`, :class:`PartMerge`);
the depth hypotheses (:func:`depth_parts`, :func:`depth_regions`, :class:`DepthHypothesisConfig`,
:class:`DepthParts`).
"""

from sim2art_core.segment.depth_hypotheses import DepthHypothesisConfig, DepthParts, depth_parts, depth_regions
from sim2art_core.segment.motion_segmentation import (
    MotionSegmentation,
    MotionSegmentationConfig,
    MotionSegmentationInput,
    segment_by_motion,
)
from sim2art_core.segment.part_merge import PartMerge, PartMergeConfig, merge_parts
from sim2art_core.segment.slot_split import SlotSplit, SlotSplitConfig, split_slots

__all__ = [
    "DepthHypothesisConfig",
    "DepthParts",
    "MotionSegmentation",
    "MotionSegmentationConfig",
    "MotionSegmentationInput",
    "PartMerge",
    "PartMergeConfig",
    "SlotSplit",
    "SlotSplitConfig",
    "depth_parts",
    "depth_regions",
    "merge_parts",
    "segment_by_motion",
    "split_slots",
]
