"""Configuration of the run-time preprocessing (frames -> Window), one documented field each."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from sim2art_core.preprocess.flow_methods import FLOW_REGISTRY, DISConfig, FarnebackConfig

KEYFRAME_MODES = ("time", "motion")
OBJECT_SOURCES = ("auto", "mask", "box")
#: The built-in run-time flow methods (``flow_methods.FLOW_REGISTRY``; a test checks both agree). ``validate``
#: accepts any registered name, so a method registered at run time (a plugin, the contrib benchmark) works too.
FlowMethodName = Literal["dis", "farneback"]
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethodName)


@dataclass(frozen=True)
class ObjectSelectionConfig:
    """Which pixels belong to the object (see :mod:`sim2art_core.preprocess.object_select`).

    Attributes:
        source: "mask" uses ``RGBDFrame.mask`` (from a segmenter; a frame without one is rejected),
            "box" selects the object from the region of interest below, "auto" uses the mask when
            the frame has one and the box otherwise.
        roi_min: (x, y, z) m, lower corner of the axis-aligned region of interest in the FIXED frame.
        roi_max: (x, y, z) m, upper corner.
        min_depth_m: pixels nearer than this are ignored (sensor minimum range).
        max_depth_m: pixels farther than this are ignored (far background, noisy depth).
        remove_support_plane: fit the supporting plane (table, floor) in the box with RANSAC and keep
            only what lies above it.
        plane_distance_m: RANSAC inlier distance of the plane fit, and the widest band removed with the
            plane: points below the plane or less than the band above it belong to it.
        plane_noise_sigmas: the band removed with the plane is this many times the plane's measured depth
            noise (robust RMS of the heights of the plane's points below it, which no object can hold),
            at least ``plane_min_distance_m`` and at most ``plane_distance_m``: a flat object (scissors, a closed
            laptop, 5-9 mm thick) stands above a table that is measured to ~0.2 mm, but not above a fixed
            1.5 cm band. 0 = always the fixed band ``plane_distance_m``.
        plane_min_distance_m: narrowest band (m): 16UC1 depth has 1 mm steps, so 2 mm.
        plane_up: (x, y, z) "up" direction in the fixed frame; the supporting plane's normal must lie
            within ``plane_max_tilt_deg`` of it. z is up in REP 103 frames (odom, map, base_link); with
            a static camera the fixed frame is the optical frame, where up is about (0, -1, 0).
        plane_max_tilt_deg: largest angle between the plane normal and ``plane_up``.
        plane_min_inliers: a plane needs at least this fraction of the box points, else none is removed.
        ransac_iterations: RANSAC hypotheses for the plane.
        stride: the box selection runs on every ``stride``-th pixel (speed); the mask is upsampled.
        depth_edge_ratio: neighbouring pixels whose depths differ by more than this fraction of the
            depth are separated (object borders, flying pixels) before the connected components.
        largest_component: keep only the largest connected region (in pixels) of the selection: the
            documented choice when several objects stand in the box.
        min_component_pixels: smaller regions are noise (counted at full resolution).
        erode_px: erode the final mask by this many pixels: depth at object borders mixes foreground
            and background (flying pixels), so border pixels are not sampled.
    """

    source: str = "auto"
    roi_min: tuple[float, float, float] = (-5.0, -5.0, -1.0)
    roi_max: tuple[float, float, float] = (5.0, 5.0, 3.0)
    min_depth_m: float = 0.1
    max_depth_m: float = 4.0
    remove_support_plane: bool = True
    plane_distance_m: float = 0.015
    plane_noise_sigmas: float = 5.0
    plane_min_distance_m: float = 0.002
    plane_up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    plane_max_tilt_deg: float = 25.0
    plane_min_inliers: float = 0.1
    ransac_iterations: int = 64
    stride: int = 2
    depth_edge_ratio: float = 0.05
    largest_component: bool = True
    min_component_pixels: int = 200
    erode_px: int = 2


@dataclass(frozen=True)
class FlowConfig:
    """Dense optical flow (OpenCV) between consecutive window frames, lifted to scene flow.

    Attributes:
        method: the registered flow method (:mod:`sim2art_core.preprocess.flow_methods`): "dis"
            (cv2.DISOpticalFlow) or "farneback". Chosen by measurement (docs/EVALUATION.md, "Run-time
            optical flow").
        dis: settings of the "dis" method (preset, variational refinement).
        farneback: settings of the "farneback" method.
        width: the flow is computed on images resized to this width (never enlarged; 0 = full
            resolution). In a quick comparison on rendered VGA sequences (6 categories, one sequence
            each, moving points, median error against the true scene flow) full VGA resolution gave
            3.7 mm and 320 px 7.1 mm, for ~3x the cost (~40 vs ~12 ms per keyframe with a mask).
        consistency_px: forward-backward check: a point whose backward flow misses its pixel by more
            than this (full-resolution pixels) has no flow (occlusion, mismatch). 0 disables the check
            (and halves the cost).
        depth_edge_ratio: depth-edge mask: a point whose pixel in frame t, or whose flow target in
            frame t + 1, lies within ``depth_edge_px`` of a depth discontinuity (neighbouring depths
            differing by more than this fraction of the depth: a door's edge against the carcass, the
            object's silhouette) has no flow: optical flow there mixes two surfaces that move
            differently. 0 disables the mask.
        depth_edge_px: radius (full-resolution pixels) of the depth-edge mask.
        min_texture: texture mask: a point whose pixel in frame t has less image structure than this
            (smallest eigenvalue of the grey image's structure tensor, ``cv2.cornerMinEigenVal`` over
            7x7 pixels of the flow image) has no flow: on a uniform surface (plain lacquer fronts)
            optical flow is interpolated from the surface's borders, not observed. 0 disables the mask.
        max_flow_m: a 3-D displacement longer than this between two window frames is a mismatch.
        crop_margin_px: the flow is computed only in the box around the object's sampled pixels,
            grown by this many full-resolution pixels on each side (room for the object's motion
            between keyframes); negative: the whole image.
    """

    method: FlowMethodName = "dis"
    dis: DISConfig = field(default_factory=DISConfig)
    farneback: FarnebackConfig = field(default_factory=FarnebackConfig)
    width: int = 640
    consistency_px: float = 1.0
    depth_edge_ratio: float = 0.02
    depth_edge_px: int = 1
    min_texture: float = 0.0
    max_flow_m: float = 0.5
    crop_margin_px: int = 64

    def scale_for(self, image_width: int) -> float:
        """Resize factor of the flow images for frames ``image_width`` pixels wide."""
        if self.width <= 0 or image_width <= self.width:
            return 1.0
        return self.width / float(image_width)


@dataclass(frozen=True)
class KeyframeConfig:
    """Which incoming frames become window frames (keyframes).

    Attributes:
        mode: "time": a keyframe every ``period_s``; "motion": a keyframe once the camera moved
            ``min_translation_m`` / ``min_rotation_deg`` or the object's image changed by
            ``min_image_change``, but not sooner than ``period_s`` and not later than ``max_period_s``.
        period_s: time stride (time mode) or minimum spacing (motion mode), seconds.
        max_period_s: motion mode: a keyframe at the latest after this long.
        min_translation_m: motion mode: camera translation that makes a keyframe.
        min_rotation_deg: motion mode: camera rotation that makes a keyframe.
        min_image_change: motion mode: mean absolute grey-level change (0-255) inside the object's
            image box that makes a keyframe (a person opening a door in front of a static camera).
        max_gap_s: consecutive keyframes further apart than this (dropped frames, TF gaps) cannot
            be linked by optical flow: the window restarts.
    """

    mode: str = "time"
    period_s: float = 0.2
    max_period_s: float = 1.0
    min_translation_m: float = 0.03
    min_rotation_deg: float = 3.0
    min_image_change: float = 4.0
    max_gap_s: float = 1.5


@dataclass(frozen=True)
class PreprocessConfig:
    """Frames -> Window.

    Attributes:
        num_frames: T, frames per window (the estimator's ``num_frames``).
        num_points: N, points sampled on the object per frame (the estimator's ``num_points``).
        min_valid_points: a frame with fewer sampled object points (pixels with depth) is rejected.
        min_flow_fraction: a flow step that tracks fewer than this fraction of the frame's points
            (and at least 3) failed: the window restarts. Points without a valid flow are marked
            invalid in the window; a part that opens fast over a textureless surface can lose most.
        object: object selection.
        flow: optical / scene flow.
        keyframes: keyframe selection (incremental builder only).
    """

    num_frames: int = 16
    num_points: int = 1024
    min_valid_points: int = 32
    min_flow_fraction: float = 0.1
    object: ObjectSelectionConfig = field(default_factory=ObjectSelectionConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)

    def validate(self) -> PreprocessConfig:
        """Raise ValueError naming the first bad field."""
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {self.num_frames}")
        if self.num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {self.num_points}")
        if not 0.0 <= self.min_flow_fraction <= 1.0:
            raise ValueError(f"min_flow_fraction must be in [0, 1], got {self.min_flow_fraction}")
        o, f, k = self.object, self.flow, self.keyframes
        if o.source not in OBJECT_SOURCES:
            raise ValueError(f"object.source must be one of {OBJECT_SOURCES}, got '{o.source}'")
        if any(lo >= hi for lo, hi in zip(o.roi_min, o.roi_max, strict=True)):
            raise ValueError(f"object.roi_min {o.roi_min} must be below roi_max {o.roi_max} on every axis")
        if not 0 < o.min_depth_m < o.max_depth_m:
            raise ValueError(f"need 0 < min_depth_m < max_depth_m, got {o.min_depth_m}, {o.max_depth_m}")
        if o.plane_noise_sigmas < 0 or o.plane_min_distance_m <= 0 or o.plane_distance_m <= 0:
            raise ValueError(
                "need object.plane_noise_sigmas >= 0, plane_min_distance_m > 0 and plane_distance_m > 0, got "
                f"{o.plane_noise_sigmas}, {o.plane_min_distance_m}, {o.plane_distance_m}"
            )
        if o.stride < 1:
            raise ValueError(f"object.stride must be >= 1, got {o.stride}")
        if f.method not in FLOW_REGISTRY:
            raise ValueError(f"flow.method must be one of {FLOW_REGISTRY.names()}, got '{f.method}'")
        f.dis.validate()
        f.farneback.validate()
        if f.depth_edge_ratio < 0 or f.depth_edge_px < 0 or f.min_texture < 0:
            raise ValueError("flow.depth_edge_ratio, flow.depth_edge_px and flow.min_texture must be >= 0")
        if f.width < 0 or 0 < f.width < 32:
            raise ValueError(f"flow.width must be 0 (full resolution) or >= 32 pixels, got {f.width}")
        if k.mode not in KEYFRAME_MODES:
            raise ValueError(f"keyframes.mode must be one of {KEYFRAME_MODES}, got '{k.mode}'")
        if k.period_s < 0 or k.max_gap_s <= 0:
            raise ValueError("keyframes.period_s must be >= 0 and max_gap_s > 0")
        return self

    def with_window(self, num_frames: int, num_points: int) -> PreprocessConfig:
        """A copy with the estimator's window size."""
        return replace(self, num_frames=int(num_frames), num_points=int(num_points))
