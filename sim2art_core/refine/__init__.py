"""Geometric joint refinement: closed-form joints from a segmentation and the window's scene flow.

Public API: :func:`refine_joints`, :class:`RefineConfig`, :class:`RefineResult`.
"""

from sim2art_core.refine.config import FUSION_MODES, STRICT_GATE, RefineConfig, RefineResult
from sim2art_core.refine.refine import fuse_joint, refine_joints

__all__ = ["FUSION_MODES", "STRICT_GATE", "RefineConfig", "RefineResult", "fuse_joint", "refine_joints"]
