"""Keyframe selection: which incoming frames become window frames.

The network sees T frames; at 30 Hz consecutive camera frames barely differ, so the
window is built from keyframes a time stride apart ("time" mode), or once the camera
or the object moved enough ("motion" mode; see
:class:`~sim2art_core.preprocess.config.KeyframeConfig`). The decision is made from
the stamp and the camera pose first, so the node decodes only frames that may
become keyframes.
"""

from __future__ import annotations

import numpy as np

from sim2art_core.geometry import rotation_angle
from sim2art_core.preprocess.config import KeyframeConfig
from sim2art_core.preprocess.sampling import CHANGE_SCALE, FrameSample, grey_at

#: a frame within this fraction of the stride counts as on time (stamp jitter at 30 Hz)
STRIDE_TOLERANCE = 0.1


class KeyframeSelector:
    """Stateless keyframe rules; the previous keyframe is passed in."""

    def __init__(self, cfg: KeyframeConfig):
        self.cfg = cfg

    def precheck(self, last: FrameSample | None, stamp_ns: int, world_from_cam: np.ndarray) -> bool | None:
        """True: a keyframe; False: not one; None: decide from the image (:meth:`image_changed`)."""
        if last is None:
            return True
        cfg = self.cfg
        dt = (int(stamp_ns) - last.stamp_ns) * 1e-9
        if dt < cfg.period_s * (1.0 - STRIDE_TOLERANCE):
            return False
        if cfg.mode == "time" or dt >= cfg.max_period_s:
            return True
        rel = np.linalg.inv(last.world_from_cam) @ np.asarray(world_from_cam, dtype=np.float64)
        moved = np.linalg.norm(rel[:3, 3]) >= cfg.min_translation_m
        turned = np.rad2deg(rotation_angle(rel)) >= cfg.min_rotation_deg
        return True if (moved or turned) else None

    def image_changed(self, last: FrameSample, rgb: np.ndarray) -> bool:
        """Mean absolute grey change inside the last keyframe's object box >= ``min_image_change``."""
        small = grey_at(rgb, CHANGE_SCALE)
        if small.shape != last.small.shape:
            return True
        u0, v0, u1, v1 = last.box
        a = last.small[v0:v1, u0:u1].astype(np.int16)
        b = small[v0:v1, u0:u1].astype(np.int16)
        if a.size == 0:
            return True
        return float(np.mean(np.abs(a - b))) >= self.cfg.min_image_change
