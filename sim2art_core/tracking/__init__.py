"""Models of the object built over time from successive window estimates (ROS-free)."""

from sim2art_core.tracking.object_model import (
    ConfirmationEvidence,
    ObjectModel,
    ObjectModelConfig,
    ObjectModelStats,
)

__all__ = ["ConfirmationEvidence", "ObjectModel", "ObjectModelConfig", "ObjectModelStats"]
