"""Evaluation conditions: the same test samples with ground-truth flow, sensor realism and the run-time
optical-flow path (docs/EVALUATION.md "Conditions").

Every condition keeps the object, the camera path and the joint motion of a dataset sample (same
category, object seed and sequence seed) and changes only what the methods observe:

* ``gt-flow``: the dataset sample as stored, ``window_from_sample`` (exact scene flow);
* ``realism``: the sample re-generated with ``RealismConfig.robustness()`` (depth noise, missing
  depth, mask errors, camera-pose drift), ``window_from_sample`` (the data engine's sensor-based flow);
* ``optical-flow``: the sequence re-rendered at ``ConditionConfig.width`` x ``height`` with its T + 1
  frames, and the window built by the run-time preprocessing
  (:func:`sim2art_core.preprocess.build_window`: mask -> N sampled pixels -> lifted -> OpenCV DIS
  optical flow -> scene flow), as the ROS node does;
* ``realism+optical-flow``: both.

The ground truth of a re-generated condition is the re-generated sample's (joints are identical to the
dataset's for the same seeds: :func:`same_joint_ground_truth`); for the optical-flow conditions its
per-point part labels are those of the window's own points, read from the rendered part mask at each
point's pixel (points on the background under a too-large mask are labelled 0, the static base, as
the data engine does). An :class:`EvalItem` holds the window every method sees and that ground truth.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from sim2art_core.camera import Intrinsics, project
from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig
from sim2art_core.data.sequence import CATEGORIES, SequenceSample
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import (
    invert_transform,
    prismatic_motion,
    revolute_motion,
    rotate_vectors,
    transform_points,
)
from sim2art_core.preprocess import ObjectSelectionConfig, PreprocessConfig, build_window
from sim2art_core.types import JointType
from sim2art_core.window import Window

GT_FLOW, REALISM, OPTICAL_FLOW, REALISM_OPTICAL_FLOW = "gt-flow", "realism", "optical-flow", "realism+optical-flow"
CONDITIONS: tuple[str, ...] = (GT_FLOW, REALISM, OPTICAL_FLOW, REALISM_OPTICAL_FLOW)
CONDITION_DESCRIPTIONS = {
    GT_FLOW: "dataset sample, ground-truth scene flow",
    REALISM: "re-generated with RealismConfig.robustness() (depth noise, holes, mask errors, pose drift)",
    OPTICAL_FLOW: "re-rendered, window from the run-time preprocessing (DIS optical flow + depth)",
    REALISM_OPTICAL_FLOW: "realism + the run-time optical-flow path",
}


def _default_preprocess() -> PreprocessConfig:
    # The renderer's observed object mask plays the segmenter (the node's use_mask mode); everything else
    # is the node's default (DIS "medium" at up to 640 px, forward-backward check 1 px, depth-edge mask 2 %,
    # 2 px mask erosion).
    return PreprocessConfig(object=ObjectSelectionConfig(source="mask"))


@dataclass(frozen=True)
class ConditionConfig:
    """How the re-generated conditions are made.

    Attributes:
        width, height: rendered image size of the optical-flow conditions (px). The dataset's 160x120
            is too coarse for DIS optical flow (docs/EVALUATION.md "Choice of the resolution").
        preprocess: run-time preprocessing of the optical-flow conditions; ``num_points`` is replaced
            by the dataset's N, ``num_frames`` is ignored (T + 1 frames give T).
        seed: seed of the preprocessing's point sampling (every item uses the same one).
    """

    width: int = 640
    height: int = 480
    preprocess: PreprocessConfig = field(default_factory=_default_preprocess)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32:
            raise ValueError(f"ConditionConfig: image size {self.width}x{self.height} is too small for optical flow")
        self.preprocess.validate()

    def key(self) -> str:
        """Short hash of everything that changes a condition's windows (cache key)."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class EvalItem:
    """One sample under one condition: the window every method sees and its ground truth.

    Attributes:
        condition: one of :data:`CONDITIONS`.
        sample: ground truth shaped like the window (T, N): part labels of the window's own points,
            joints in cam0 of the sequence (``window_from_sample(sample)``'s world is the window's frame).
        window: the methods' input; None when the condition could not produce one (``note`` says why;
            every method is then scored as FAILED on this item).
        valid: (T, N) bool, the window's valid points: only these are scored.
        note: why there is no window, or "" .
        gt_matches_dataset: the re-generated joints equal the dataset sample's (always True for gt-flow).
    """

    condition: str
    sample: SequenceSample
    window: Window | None
    valid: np.ndarray
    note: str = ""
    gt_matches_dataset: bool = True


def condition_sequence_config(dataset_cfg: SequenceConfig, condition: str, ccfg: ConditionConfig) -> SequenceConfig:
    """The SequenceConfig a condition re-generates with (gt-flow: the dataset's own)."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    cfg = dataset_cfg
    if condition in (REALISM, REALISM_OPTICAL_FLOW):
        cfg = replace(cfg, realism=RealismConfig.robustness())
    if condition in (OPTICAL_FLOW, REALISM_OPTICAL_FLOW):
        cfg = replace(cfg, width=ccfg.width, height=ccfg.height)
    return cfg


def same_joint_ground_truth(a: SequenceSample, b: SequenceSample, atol: float = 1e-5) -> bool:
    """Same parts, joint types, axes, pivots, amounts, moving flags and first camera pose (within ``atol``).

    Only the first camera pose: it places the cam0 ground truth in the window's frame, and camera-pose
    drift (realism) changes the reported poses of the later frames by design."""
    if a.num_parts != b.num_parts or a.num_frames != b.num_frames:
        return False
    return bool(
        np.array_equal(a.part_types, b.part_types)
        and np.array_equal(a.part_moving, b.part_moving)
        and np.allclose(a.part_axes, b.part_axes, atol=atol)
        and np.allclose(a.part_pivots, b.part_pivots, atol=atol)
        and np.allclose(a.part_amounts, b.part_amounts, atol=atol)
        and np.allclose(a.world_from_cam[0], b.world_from_cam[0], atol=atol)
    )


def window_pixels(window: Window, intrinsics: Intrinsics) -> np.ndarray:
    """(T, N, 2) int64 pixel (u, v) of every window point in its own frame (projection of the lifted point).

    The run-time preprocessing lifts integer pixels with depth and the frame's pose; projecting back with
    the same pose recovers the pixel to float32 rounding (< 1e-3 px), so rounding gives it exactly.
    """
    uv = np.zeros((*window.valid.shape, 2), dtype=np.int64)
    for t in range(window.num_frames):
        cam = transform_points(invert_transform(window.world_from_cam[t]), window.points[t].astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = project(cam, intrinsics)
        uv[t] = np.where(window.valid[t, :, None], np.rint(np.nan_to_num(p)), 0).astype(np.int64)
    uv[..., 0] = np.clip(uv[..., 0], 0, intrinsics.width - 1)
    uv[..., 1] = np.clip(uv[..., 1], 0, intrinsics.height - 1)
    return uv


def sample_for_window(truth: SequenceSample, window: Window, frames: list[RGBDFrame]) -> SequenceSample:
    """The ground truth of a window built from ``frames``: ``truth``'s joints, the window's points and labels.

    Labels come from each frame's rendered part mask at the point's pixel; background (-1, a point
    sampled outside the true object under a too-large mask) becomes 0, the static base. Points and flow
    are moved into cam0 (the sample contract); invalid points are zeroed and must not be scored.
    """
    if any(f.part_mask is None for f in frames[: window.num_frames]):
        raise ValueError("sample_for_window: the frames carry no part masks (synthetic frames only)")
    uv = window_pixels(window, frames[0].intrinsics)
    labels = np.zeros(window.valid.shape, dtype=np.int16)
    for t in range(window.num_frames):
        lab = frames[t].part_mask[uv[t, :, 1], uv[t, :, 0]]
        labels[t] = np.where(window.valid[t] & (lab >= 0), lab, 0)
    c0_from_w = invert_transform(np.asarray(truth.world_from_cam[0], dtype=np.float64))
    v = window.valid[..., None]
    points = np.where(v, transform_points(c0_from_w, window.points.astype(np.float64)), 0.0)
    flow = np.where(v, rotate_vectors(c0_from_w, np.nan_to_num(window.flow).astype(np.float64)), 0.0)
    colors = window.colors if window.colors is not None else np.zeros((*window.valid.shape, 3), np.uint8)
    return replace(
        truth,
        points=points.astype(np.float32),
        flow=flow.astype(np.float32),
        colors=np.where(v, colors, 0).astype(np.uint8),
        pixels=uv.astype(np.int16),
        labels=labels,
    ).validate()


def true_flow(sample: SequenceSample) -> np.ndarray:
    """(T, N, 3) cam0 displacement t -> t+1 of every point under its ground-truth part's joint motion.

    Uses ``joint_states`` (T + 1 states, so the last frame has a motion too). Parts whose parent is not
    the base (nested joints of external URDFs) get NaN: their motion would need the parent's chain.
    Points of static parts get 0.
    """
    T, N = sample.labels.shape
    out = np.zeros((T, N, 3), dtype=np.float64)
    pts = sample.points.astype(np.float64)
    for p in range(1, sample.num_parts):
        sel = sample.labels == p
        if not sel.any() or int(sample.part_types[p]) == JointType.STATIC:
            continue
        if int(sample.part_parents[p]) != 0:
            out[sel] = np.nan
            continue
        q = sample.joint_states[:, p - 1]
        axis, pivot = sample.part_axes[p].astype(np.float64), sample.part_pivots[p].astype(np.float64)
        for t in range(T):
            d = float(q[t + 1] - q[t])
            if d == 0.0:
                continue
            if int(sample.part_types[p]) == JointType.REVOLUTE:
                M = revolute_motion(axis, pivot, d)
            else:
                M = prismatic_motion(axis, d)
            x = pts[t][sel[t]]
            out[t][sel[t]] = transform_points(M, x) - x
    return out


def flow_errors_mm(sample: SequenceSample, valid: np.ndarray | None = None) -> dict[str, float]:
    """Median scene-flow endpoint error (mm) against :func:`true_flow`: over the valid points of moving
    parts ("moving") and over all valid points ("all"); NaN when there are none."""
    valid = np.ones(sample.labels.shape, bool) if valid is None else np.asarray(valid, bool)
    err = 1000.0 * np.linalg.norm(sample.flow.astype(np.float64) - true_flow(sample), axis=-1)
    moving_parts = np.flatnonzero(sample.part_moving)
    on_moving = np.isin(sample.labels, moving_parts) & valid
    ok = valid & np.isfinite(err)
    med = lambda m: float(np.median(err[m & ok])) if (m & ok).any() else float("nan")  # noqa: E731
    return {"moving": med(on_moving), "all": med(valid)}


#: ``regenerate(sample, cfg, return_frames)``: the sample's object, camera path and motion re-generated
#: with ``cfg`` (what :func:`~sim2art_core.data.generator.generate_sequence` returns).
Regenerate = Callable[[SequenceSample, SequenceConfig, bool], "SequenceSample | tuple[SequenceSample, list]"]


def regenerate_procedural(sample: SequenceSample, cfg: SequenceConfig, frames: bool):
    """:data:`Regenerate` for samples of the procedural categories (rebuilt from category and seeds)."""
    if sample.category not in CATEGORIES:
        raise ValueError(
            f"{sample.object_id}: category {sample.category!r} is not procedural; samples of external URDFs are "
            "re-generated from their file (sim2art_core.eval.urdf_set.UrdfSamples.regenerate)"
        )
    return generate_sequence(sample.category, sample.object_seed, sample.sequence_seed, cfg, return_frames=frames)


def make_item(
    sample: SequenceSample,
    condition: str,
    dataset_cfg: SequenceConfig,
    ccfg: ConditionConfig | None = None,
    regenerate: Regenerate | None = None,
) -> EvalItem:
    """``sample`` (from a dataset written with ``dataset_cfg``) under ``condition``.

    ``regenerate`` re-generates the sample's sequence with another config (default
    :func:`regenerate_procedural`; URDF objects: :class:`~sim2art_core.eval.urdf_set.UrdfSamples`).

    Never raises for a sequence the condition cannot produce (the generator loses the object under
    realism, the preprocessing rejects a frame): the item then has no window and a note, and every
    method is scored as FAILED on it. Raises ValueError for an unknown condition.
    """
    ccfg = ccfg or ConditionConfig()
    cfg = condition_sequence_config(dataset_cfg, condition, ccfg)
    if condition == GT_FLOW:
        return EvalItem(condition, sample, window_from_sample(sample), np.ones(sample.labels.shape, bool))
    frames_needed = condition in (OPTICAL_FLOW, REALISM_OPTICAL_FLOW)
    try:
        out = (regenerate or regenerate_procedural)(sample, cfg, frames_needed)
    except RuntimeError as e:  # the generator found no object pixel with depth in a frame
        return EvalItem(condition, sample, None, np.ones(sample.labels.shape, bool), f"re-generation failed: {e}")
    truth, frames = out if frames_needed else (out, None)
    matches = same_joint_ground_truth(truth, sample)
    if not frames_needed:
        return EvalItem(condition, truth, window_from_sample(truth), np.ones(truth.labels.shape, bool), "", matches)
    pre = replace(ccfg.preprocess, num_points=sample.num_points)
    try:
        window = build_window(frames, pre, rng=ccfg.seed, frame_id="world")
    except ValueError as e:  # a frame rejected by the run-time preprocessing
        return EvalItem(condition, truth, None, np.ones(truth.labels.shape, bool), f"preprocessing: {e}", matches)
    return EvalItem(condition, sample_for_window(truth, window, frames), window, window.valid.copy(), "", matches)


# ---------------------------------------------------------------------------------------- cache
_SAMPLE_STR = ("object_id", "category", "realism")
_SAMPLE_INT = ("object_seed", "sequence_seed")
_SAMPLE_TUPLE = ("part_names", "joint_names")


def save_item(path: str | Path, item: EvalItem) -> None:
    """Write an item as a compressed .npz (no pickle); :func:`load_item` reads it back."""
    arrays = {f"s_{k}": v for k, v in item.sample.to_arrays().items()}
    arrays["s_image_size"] = np.asarray(item.sample.image_size, dtype=np.int64)
    arrays["valid"] = item.valid
    meta = {"condition": item.condition, "note": item.note, "gt_matches_dataset": item.gt_matches_dataset}
    if item.window is not None:
        w = item.window
        arrays.update(w_points=w.points, w_flow=w.flow, w_valid=w.valid, w_stamps_ns=w.stamps_ns,
                      w_world_from_cam=w.world_from_cam)  # fmt: skip
        if w.colors is not None:
            arrays["w_colors"] = w.colors
        meta["frame_id"] = w.frame_id
    arrays["meta"] = np.asarray(json.dumps(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_item(path: str | Path) -> EvalItem:
    """Inverse of :func:`save_item`; ValueError names a file that is not a readable item."""
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        meta = json.loads(str(d.pop("meta")))
        s = {k[2:]: v for k, v in d.items() if k.startswith("s_")}
        for k in _SAMPLE_STR:
            s[k] = str(s[k])
        for k in _SAMPLE_INT:
            s[k] = int(s[k])
        for k in _SAMPLE_TUPLE:
            s[k] = tuple(str(x) for x in s[k])
        s["image_size"] = tuple(int(x) for x in s["image_size"])
        sample = SequenceSample(**s).validate()
        window = None
        if "w_points" in d:
            window = Window(d["w_points"], d["w_flow"], d["w_valid"], d["w_stamps_ns"], d["w_world_from_cam"],
                            meta["frame_id"], d.get("w_colors")).validate()  # fmt: skip
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable evaluation item ({type(e).__name__}: {e})") from e
    return EvalItem(meta["condition"], sample, window, d["valid"].astype(bool), meta["note"],
                    bool(meta["gt_matches_dataset"]))  # fmt: skip


class ItemCache:
    """Re-generated condition items on disk, keyed by condition, condition config and sample.

    ``root/<condition>-<ConditionConfig.key()>-<dataset key>/<object_id>-<sequence_seed>.npz``: a change of
    the condition settings or of the dataset makes new files, never stale hits. gt-flow items are not
    cached (they are the dataset's samples).
    """

    def __init__(self, root: str | Path, ccfg: ConditionConfig, dataset_key: str, regenerate: Regenerate | None = None):
        self.root = Path(root)
        self.ccfg = ccfg
        self.dataset_key = dataset_key
        self.regenerate = regenerate

    def path(self, condition: str, sample: SequenceSample) -> Path:
        folder = f"{condition.replace('+', '_')}-{self.ccfg.key()}-{self.dataset_key}"
        return self.root / folder / f"{sample.object_id}-{sample.sequence_seed}.npz"

    def get(self, sample: SequenceSample, condition: str, dataset_cfg: SequenceConfig) -> EvalItem:
        """The cached item, or a new one (made and written)."""
        if condition == GT_FLOW:
            return make_item(sample, condition, dataset_cfg, self.ccfg, self.regenerate)
        path = self.path(condition, sample)
        if path.is_file():
            try:
                return load_item(path)
            except ValueError:
                path.unlink()  # a half-written or foreign file: make it again
        item = make_item(sample, condition, dataset_cfg, self.ccfg, self.regenerate)
        save_item(path, item)
        return item


def dataset_key(index: dict) -> str:
    """Short hash of a dataset index (seed, config, splits): the cache key of its samples."""
    return hashlib.sha256(json.dumps(index, sort_keys=True).encode()).hexdigest()[:12]
