"""Frames -> Window: the incremental builder the node uses, and the batch :func:`build_window`.

Each keyframe k is turned into a :class:`~sim2art_core.preprocess.sampling.FrameSample`
(N object pixels lifted into the fixed frame). When keyframe k+1 arrives, the dense
optical flow k -> k+1 (and back, for the consistency check) gives the scene flow of
keyframe k's points, which completes window entry k. The window is the newest T
completed entries, so the newest keyframe only serves as the flow target of the
previous one: T + 1 keyframes make a T-frame window (``Window`` contract: "the
window's last frame gets its flow from one extra, newer image").

Frames are rejected, with a reason, for: failing ``RGBDFrame.validate`` (wrong
shapes or dtypes, mismatched sizes), stamps not newer than the last accepted frame
(duplicates, out of order), too few object pixels with depth, and too few points
with a valid flow (``min_flow_fraction``). A gap longer than ``keyframes.max_gap_s`` between keyframes,
or a failed flow step, restarts the window, since the frames cannot be linked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim2art_core.frames import RGBDFrame
from sim2art_core.preprocess.config import PreprocessConfig
from sim2art_core.preprocess.flow import OpticalFlow, depth_edges, flow_crop, scene_flow, source_texture
from sim2art_core.preprocess.keyframes import KeyframeSelector
from sim2art_core.preprocess.object_select import select_object
from sim2art_core.preprocess.sampling import FrameSample, sample_frame
from sim2art_core.window import Window

# Outcomes of WindowBuilder.add (AddResult.outcome); the node counts them by name.
KEYFRAME = "keyframe"  # the frame became a keyframe (and completed the previous entry, if any)
NOT_KEYFRAME = "not_keyframe"  # too soon / too little motion: ignored, no work done
REJECTED_INVALID = "invalid_frame"  # RGBDFrame.validate failed
REJECTED_STAMP = "stamp_not_increasing"  # duplicate or out-of-order stamp
REJECTED_NO_OBJECT = "no_object"  # too few object pixels with depth
REJECTED_FLOW = "flow_failed"  # too few points with a valid flow: the window restarts at this frame


@dataclass(frozen=True)
class AddResult:
    """What :meth:`WindowBuilder.add` did with a frame.

    Attributes:
        outcome: one of the module constants (KEYFRAME, NOT_KEYFRAME, REJECTED_*).
        reason: human-readable detail for rejections and restarts ("" otherwise).
        restarted: the window was cleared (gap, failed flow) before this frame was used.
        completed: a window entry was completed (a new window may be ready).
    """

    outcome: str
    reason: str = ""
    restarted: bool = False
    completed: bool = False

    @property
    def accepted(self) -> bool:
        return self.outcome in (KEYFRAME, REJECTED_FLOW)


@dataclass(frozen=True)
class WindowEntry:
    """One completed window frame (see :class:`~sim2art_core.window.Window` for shapes)."""

    points: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    colors: np.ndarray
    stamp_ns: int
    world_from_cam: np.ndarray
    features: np.ndarray | None = None


class WindowBuilder:
    """Incremental frames -> Window for a live stream (not thread-safe: the node holds a lock).

    Args:
        cfg: preprocessing configuration (``num_frames`` = T, ``num_points`` = N).
        frame_id: the fixed frame the frames' poses are in.
        rng: seed or Generator for point sampling and RANSAC.
        features: optional per-point image feature extractor
            (:class:`sim2art_core.features.PointFeatureExtractor`: images (1, H, W, 3), pixels
            (1, N, 2) -> (1, N, C)), run once per keyframe; the window then carries ``features``
            (for models trained with image features).
    """

    def __init__(
        self,
        cfg: PreprocessConfig,
        frame_id: str,
        rng: np.random.Generator | int | None = None,
        features=None,
    ):
        self.cfg = cfg.validate()
        self.features = features
        self.frame_id = frame_id
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.selector = KeyframeSelector(cfg.keyframes)
        self._flow = OpticalFlow(cfg.flow)
        self._entries: deque[WindowEntry] = deque(maxlen=cfg.num_frames)
        self._last: FrameSample | None = None
        self._last_stamp: int | None = None
        self.version = 0  # increases with every completed entry (a new window may be ready)

    # ---------------------------------------------------------------- state
    @property
    def num_entries(self) -> int:
        """Completed window frames held (at most T)."""
        return len(self._entries)

    @property
    def ready(self) -> bool:
        """T completed frames are available."""
        return len(self._entries) == self.cfg.num_frames

    @property
    def last_stamp_ns(self) -> int | None:
        """Stamp of the newest accepted (key)frame."""
        return self._last_stamp

    def reset(self) -> None:
        """Forget every frame (the next frame starts a new window)."""
        self._entries.clear()
        self._last = None
        self._last_stamp = None
        self.version += 1

    # ---------------------------------------------------------------- input
    def precheck(self, stamp_ns: int, world_from_cam: np.ndarray) -> str | None:
        """Cheap test before decoding a frame: an outcome name if it would be skipped, else None."""
        if self._last_stamp is not None and int(stamp_ns) <= self._last_stamp:
            return REJECTED_STAMP
        if self.selector.precheck(self._last, stamp_ns, world_from_cam) is False:
            return NOT_KEYFRAME
        return None

    def add(self, frame: RGBDFrame) -> AddResult:
        """Offer one frame; see the module doc for what happens to it."""
        try:
            frame.validate()
        except ValueError as e:
            return AddResult(REJECTED_INVALID, str(e))
        stamp = int(frame.stamp_ns)
        if self._last_stamp is not None and stamp <= self._last_stamp:
            return AddResult(REJECTED_STAMP, f"stamp {stamp} ns is not after the last frame's {self._last_stamp} ns")
        last = self._last
        decision = self.selector.precheck(last, stamp, frame.world_from_cam)
        if decision is None:
            decision = self.selector.image_changed(last, frame.rgb)
        if not decision:
            return AddResult(NOT_KEYFRAME)

        restarted, why = False, ""
        if last is not None and (stamp - last.stamp_ns) * 1e-9 > self.cfg.keyframes.max_gap_s:
            why = f"{(stamp - last.stamp_ns) * 1e-9:.2f} s since the last keyframe (max_gap_s)"
            self._restart()
            last, restarted = None, True

        try:
            mask = select_object(frame, self.cfg.object, self.rng)
        except ValueError as e:
            return AddResult(REJECTED_NO_OBJECT, str(e), restarted)
        sample = sample_frame(frame, mask, self.cfg.num_points, self.cfg.flow.scale_for(frame.shape[1]), self.rng)
        if sample.num_valid < self.cfg.min_valid_points:
            return AddResult(
                REJECTED_NO_OBJECT,
                f"{sample.num_valid} object pixels with depth, need {self.cfg.min_valid_points}",
                restarted,
            )
        if self.features is not None:
            f = np.asarray(self.features(frame.rgb[None], sample.uv[None]), dtype=np.float32)[0]
            sample = replace(sample, features=np.where(sample.valid[:, None], f, 0.0).astype(np.float32))
        edges = None
        if self.cfg.flow.depth_edge_ratio > 0:
            edges = depth_edges(frame.depth, self.cfg.flow.depth_edge_ratio, self.cfg.flow.depth_edge_px)
            ix = np.round(sample.uv).astype(np.int64)
            ix[:, 0] = np.clip(ix[:, 0], 0, frame.shape[1] - 1)
            ix[:, 1] = np.clip(ix[:, 1], 0, frame.shape[0] - 1)
            sample = replace(sample, on_depth_edge=edges[ix[:, 1], ix[:, 0]] & sample.valid)
        self._last_stamp = stamp
        self._last = sample
        if last is None:
            return AddResult(KEYFRAME, why, restarted)

        entry = self._link(last, sample, frame, edges)
        n_ok = int(entry.valid.sum())
        need = max(3, int(np.ceil(self.cfg.min_flow_fraction * last.num_valid)))
        if n_ok < need:
            self._entries.clear()
            self.version += 1
            return AddResult(
                REJECTED_FLOW,
                f"{n_ok} of {last.num_valid} points with a valid flow, need {need}; window restarted",
                True,
            )
        self._entries.append(entry)
        self.version += 1
        return AddResult(KEYFRAME, why, restarted, completed=True)

    def _restart(self) -> None:
        self._entries.clear()
        self._last = None
        self.version += 1

    def _link(self, prev: FrameSample, nxt: FrameSample, frame: RGBDFrame, edges: np.ndarray | None) -> WindowEntry:
        """Window entry of ``prev``: its points with the scene flow towards ``nxt`` (``edges``: the
        depth-edge map of ``frame`` or None)."""
        cfg = self.cfg.flow
        # only the object's neighbourhood needs flow: crop both images (2-4x cheaper for VGA)
        x0, y0, x1, y1 = flow_crop(prev.uv, prev.valid, (frame.shape[1], frame.shape[0]), cfg)
        g0 = np.ascontiguousarray(prev.grey[y0:y1, x0:x1])  # DIS needs contiguous images
        g1 = np.ascontiguousarray(nxt.grey[y0:y1, x0:x1])
        forward = self._flow(g0, g1)
        backward = self._flow(g1, g0) if cfg.consistency_px > 0 else None
        pts = np.where(prev.valid[:, None], prev.points, np.nan)
        rejected = prev.on_depth_edge
        if cfg.min_texture > 0:
            untextured = source_texture(g0, prev.uv, cfg.scale_for(frame.shape[1]), (x0, y0)) < cfg.min_texture
            rejected = untextured if rejected is None else rejected | untextured
        sf = scene_flow(
            pts, prev.uv, forward, backward, frame.depth, frame.intrinsics, frame.world_from_cam, cfg, (x0, y0),
            rejected, edges,
        )  # fmt: skip
        valid = prev.valid & sf.valid
        return WindowEntry(
            points=prev.points,
            flow=sf.flow,
            valid=valid,
            colors=prev.colors,
            stamp_ns=prev.stamp_ns,
            world_from_cam=prev.world_from_cam,
            features=prev.features,
        )

    # ---------------------------------------------------------------- output
    def window(self) -> Window | None:
        """The newest T completed frames as a validated Window, or None until T are available."""
        if not self.ready:
            return None
        e = list(self._entries)
        return Window(
            points=np.stack([x.points for x in e]),
            flow=np.stack([x.flow for x in e]),
            valid=np.stack([x.valid for x in e]),
            stamps_ns=np.array([x.stamp_ns for x in e], dtype=np.int64),
            world_from_cam=np.stack([x.world_from_cam for x in e]),
            frame_id=self.frame_id,
            colors=np.stack([x.colors for x in e]),
            features=np.stack([x.features for x in e]) if self.features is not None else None,
        ).validate()


def build_window(
    frames: Sequence[RGBDFrame],
    cfg: PreprocessConfig,
    rng: np.random.Generator | int | None = None,
    frame_id: str = "world",
    features=None,
) -> Window:
    """Batch form: T + 1 consecutive frames -> a T-frame Window with forward scene flow.

    Every frame is a window frame (no keyframe selection, no gap limit); frame t's flow
    goes to frame t + 1, so the last frame only serves as the flow target of frame T - 1.
    ``cfg.num_frames`` is ignored (T = len(frames) - 1); ``cfg.num_points`` gives N and
    ``cfg.object`` the object selection (the frames' masks with the default "auto"); ``features``
    an optional per-point image feature extractor (see :class:`WindowBuilder`).

    Raises:
        ValueError: fewer than 3 frames, or a frame rejected by :class:`WindowBuilder`
            (the message names the frame and the reason).
    """
    if len(frames) < 3:
        raise ValueError(f"build_window needs T + 1 >= 3 frames, got {len(frames)}")
    keyframes = replace(cfg.keyframes, mode="time", period_s=0.0, max_gap_s=float("inf"))
    builder = WindowBuilder(replace(cfg, num_frames=len(frames) - 1, keyframes=keyframes), frame_id, rng, features)
    for i, frame in enumerate(frames):
        result = builder.add(frame)
        if result.outcome != KEYFRAME:
            raise ValueError(
                f"build_window: frame {i} (stamp {frame.stamp_ns}) rejected: {result.outcome}, {result.reason}"
            )
    window = builder.window()
    assert window is not None  # T + 1 keyframes always complete T entries
    return window
