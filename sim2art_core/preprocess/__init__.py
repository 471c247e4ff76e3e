"""Run-time preprocessing: RGB-D frames -> :class:`~sim2art_core.window.Window`.

Per keyframe: select the object's pixels (a segmenter's mask, or a fixed-frame box with
the supporting plane removed), sample N of them, lift them with depth into the fixed
frame, and link consecutive keyframes with OpenCV dense optical flow lifted to scene
flow (camera motion compensated). See :mod:`.window_builder` for the two entry points:

* :func:`build_window` -- T + 1 frames in, a T-frame window out (offline tools, the
  optical-flow robustness evaluation);
* :class:`WindowBuilder` -- the incremental form the ROS node feeds frame by frame,
  with keyframe selection and a rolling window of the newest T frames.
"""

from sim2art_core.preprocess.config import FlowConfig, KeyframeConfig, ObjectSelectionConfig, PreprocessConfig
from sim2art_core.preprocess.object_select import Plane, fit_support_plane, select_object
from sim2art_core.preprocess.window_builder import AddResult, WindowBuilder, build_window

__all__ = [
    "AddResult", "FlowConfig", "KeyframeConfig", "ObjectSelectionConfig", "Plane", "PreprocessConfig",
    "WindowBuilder", "build_window", "fit_support_plane", "select_object",
]  # fmt: skip
