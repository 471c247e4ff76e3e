"""The run-time estimator: Window -> network -> ArticulationEstimate (implements WindowEstimator).

Steps of :meth:`Estimator.estimate` (docs/MODEL.md "Estimator"):

1. ``window.validate()``; a bad window (or any later error) gives a FAILED estimate whose
   message says why. ``estimate`` never raises for bad data.
2. Into the first camera's optical frame (``inv(window.world_from_cam[0])``), the frame the
   network was trained in; normalised to [-1, 1] over all valid points.
3. Resampling to the model's T and N, explicitly:
   * time: model frame j sits at window time j * s with s = (T_w - 1) / (T_m - 1); it uses
     window frame round(j * s), whose flow is multiplied by s (constant velocity: the flow of
     one model step). Amounts come back by linear interpolation over window time.
   * points: each model frame takes N_m of its window frame's valid points at random
     (seeded, so estimates are repeatable), all of them plus random repeats when fewer.
   Every valid point of every window frame is then labelled by propagating the features of
   the nearest model frame's keypoints to it (Sim2ArtNet.point_features).
4. Decoding: query slot 0 is the root. A slot becomes a moving part when it holds enough
   points and its points were seen moving relative to the root by more than ``min_motion_m``
   (:func:`observed_motions`: rigid fits of each part's flow by sim2art_core.refine.rigid, chained
   over the window); its joint type is the more probable of revolute / prismatic. Other slots are
   merged into the root. No moving part: NO_ARTICULATION. With ``part_merge`` (default off), two
   reported parts that touch and move as one rigid body become one part
   (:func:`apply_part_merge`, sim2art_core.segment.part_merge).
5. Joints in the window's fixed frame: axis sign such that the amount of largest magnitude is
   positive; origin = foot of the perpendicular from the child's first-frame centroid onto the
   predicted axis (revolute) or that centroid (prismatic), as in estimate.py / the message.
6. Optional geometric refinement (``refine=True``): sim2art_core.refine.refine_joints receives
   the window, the output parts' probabilities and the network joints and returns the joints.
   Without it, the geometric type check (``EstimatorConfig.type_check``,
   sim2art_core.refine.type_check) runs the refinement's joint fits and replaces a network joint only
   where the part's measured motion clearly contradicts the network's type.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate, part_from_labels
from sim2art_core.geometry import closest_point_on_line, invert_transform, rotate_vectors, transform_points
from sim2art_core.model.checkpoint import load_checkpoint
from sim2art_core.model.config import ModelConfig
from sim2art_core.model.normalize import Normalization
from sim2art_core.refine.motion import chain_steps, largest_displacement
from sim2art_core.refine.rigid import fit_part_pair_motions
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default.pt"


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" -> cuda when available else cpu; "cuda" without CUDA is an error, not a fallback."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"device {name!r} is not a torch device ({e}); use 'auto', 'cpu' or 'cuda'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported; use 'auto', 'cpu' or 'cuda'")
    return dev


#: The Estimator's optional stages (``EstimatorConfig`` switches, ``estimate()`` overrides) and their tags in
#: the estimator id, in the id's order.
STAGE_TAGS = {
    "part_merge": "partmerge",
    "motion_segmentation": "motionseg",
    "slot_split": "slotsplit",
    "depth_hypotheses": "depthhyp",
    "type_check": "typecheck",
}


@dataclass(frozen=True)
class EstimatorConfig:
    """Decoding thresholds of :class:`Estimator`."""

    min_motion_m: float = 0.01
    """A part must be seen moving relative to the root by at least this much (m) to be reported."""
    min_part_fraction: float = 0.01
    """Smallest part, as a fraction of the window's valid points; smaller slots merge into the root."""
    min_part_points: int = 8
    """Smallest part in points (whichever of the two bounds is larger applies)."""
    report_unmoved_parts: bool = False
    """Also report parts the network segments although they were not seen moving."""
    seed: int = 0
    """Seed of the point resampling (fixed: the same window gives the same estimate)."""
    refine_config: Any = None
    """sim2art_core.refine.RefineConfig for ``refine=True``; None: its defaults."""
    motion_segmentation: bool = False
    """Re-segment the network's output by motion (sim2art_core.segment, docs/EVALUATION.md §6) before the
    parts are selected: labels, part summaries, the parts the refinement fits and the joints use it. Off by
    default: on the val split it does not yet improve every metric (docs/EVALUATION.md §6)."""
    motion_config: Any = None
    """sim2art_core.segment.MotionSegmentationConfig; None: its defaults."""
    slot_split: bool = False
    """After the parts are selected, report a spatially separate piece of a part that moved significantly
    differently from the rest of it (and from the root, against the window's flow noise) as its own part,
    with its joint from the geometric refinement (sim2art_core.segment.slot_split). Off by default: see
    docs/BENCHMARKS.md "Slot split" for its val measurement."""
    slot_split_config: Any = None
    """sim2art_core.segment.SlotSplitConfig; None: its defaults."""
    depth_hypotheses: bool = False
    """After the parts are selected (and split), report a region of the base whose surfaces left their place
    over the window (the depth refutes the static prediction, occlusions excluded) as its own part, with its
    joint from the long-baseline registration of its points (sim2art_core.segment.depth_hypotheses): a part
    seen edge-on whose image flow is weaker than its error. Off by default: see docs/BENCHMARKS.md "Depth
    hypotheses" for its val measurement."""
    depth_hypothesis_config: Any = None
    """sim2art_core.segment.DepthHypothesisConfig; None: its defaults."""
    part_merge: bool = False
    """After the parts are selected (before the slot split), merge two reported parts that touch and that one
    rigid motion per frame explains about as well as their own motions do (residual-ratio and relative-misfit
    tests on long-baseline registrations and on the flow's tracks, sim2art_core.segment.part_merge): one part
    cut into two slots (a door's two halves, a rotor's) becomes one part with one joint. Off by default: on
    the val split it merges one pair of 42 x 2 windows (docs/BENCHMARKS.md "Part merge"); a looser setting
    that removed spurious joints there merged different drawers through the node's flow."""
    part_merge_config: Any = None
    """sim2art_core.segment.PartMergeConfig; None: its defaults."""
    type_check: bool = True
    """Without the refinement (``refine=False``, the node's default): fit the refinement's joint models to
    every reported part and replace the network's joint by the geometric one only where the part's measured
    motion over the window clearly contradicts the network's type (a part that turns by many degrees where
    the network says prismatic, a translation without rotation where it says revolute;
    sim2art_core.refine.type_check, thresholds ``RefineConfig.type_check_*`` of ``refine_config``). With
    ``refine=True`` ``RefineConfig.type_check`` decides instead. On by default: on the val split through DIS
    optical flow it lifts the type accuracy 71 -> 85 % and the axis error 36.9 -> 25.2 deg (Mean over 14
    categories), docs/BENCHMARKS.md "Geometric type check"."""


@dataclass
class _Prepared:
    norm: Normalization
    w_from_c0: np.ndarray
    points: torch.Tensor  # (1, Tm, Nm, 3) model input, normalised
    flow: torch.Tensor
    image: torch.Tensor | None
    reuse: bool  # the model input is exactly the window's points in order
    q_points: torch.Tensor | None  # (1, Tw, Q, 3) every valid point of every window frame
    q_flow: torch.Tensor | None
    q_image: torch.Tensor | None
    q_frames: torch.Tensor | None  # (Tw,) model frame used for each window frame
    q_index: list[np.ndarray]  # per window frame: indices of its valid points (queries 0..len-1)
    model_times: np.ndarray  # (Tm,) window time of each model frame


class Estimator:
    """sim2art's learned estimator (see the module doc). Implements sim2art_core.estimate.WindowEstimator.

    Args:
        checkpoint: path of a checkpoint; None or "": the shipped ``sim2art_core/checkpoints/default.pt``.
        device: "auto" (cuda if available, else cpu), "cpu" or "cuda[:i]".
        refine: run sim2art_core.refine on the network's segmentation.
        config: decoding thresholds.
        type_check: overrides ``config.type_check`` (None: keep it); lets the node's ``estimator_kwargs``
            switch the geometric type check, e.g. ``{"type_check": false}``.
        depth_hypotheses: overrides ``config.depth_hypotheses`` (None: keep it), e.g. the node's
            ``estimator_kwargs: '{"depth_hypotheses": true}'``.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or does not fit its config.
        ValueError: a bad device (e.g. "cuda" without CUDA).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        refine: bool = False,
        config: EstimatorConfig | None = None,
        type_check: bool | None = None,
        depth_hypotheses: bool | None = None,
    ):
        self.device = resolve_device(device)
        self.checkpoint = load_checkpoint(checkpoint if checkpoint else DEFAULT_CHECKPOINT, self.device)
        self.model = self.checkpoint.model
        self.config = config or EstimatorConfig()
        if type_check is not None:
            self.config = replace(self.config, type_check=bool(type_check))
        if depth_hypotheses is not None:
            self.config = replace(self.config, depth_hypotheses=bool(depth_hypotheses))
        self.refine = bool(refine)
        self.estimator_id = self._id(self.refine)
        self._cache: tuple[bytes, NetworkResult] | None = None

    @property
    def model_config(self) -> ModelConfig:
        return self.checkpoint.config

    @property
    def num_frames(self) -> int:
        return self.model_config.num_frames

    @property
    def num_points(self) -> int:
        return self.model_config.num_points

    # ------------------------------------------------------------------ public
    def estimate(
        self,
        window: Window,
        *,
        refine: bool | None = None,
        refine_config: Any = None,
        motion_segmentation: bool | None = None,
        slot_split: bool | None = None,
        part_merge: bool | None = None,
        type_check: bool | None = None,
        depth_hypotheses: bool | None = None,
    ) -> ArticulationEstimate:
        """Estimate parts and joints of one window; FAILED (never an exception) for bad input.

        ``refine`` / ``refine_config`` / ``motion_segmentation`` / ``slot_split`` / ``part_merge`` /
        ``type_check`` / ``depth_hypotheses`` override the constructor's choice (``config.motion_segmentation``,
        ``config.slot_split``, ``config.part_merge``, ``config.type_check``, ``config.depth_hypotheses``) for
        this call. The network's
        outputs for the most recent window are kept (keyed by a digest of the window's content), so
        estimating the same window again with other refinement settings (evaluation, fusion tuning)
        does not run the network twice; ``timings["network"]`` still reports the network's own time.
        """
        frame_id = str(getattr(window, "frame_id", ""))
        stamps = np.asarray(getattr(window, "stamps_ns", np.zeros(0)), dtype=np.int64).reshape(-1)
        try:
            shape = tuple(int(s) for s in np.shape(window.points)[:2])
            shape = shape if len(shape) == 2 else (0, 0)
        except Exception:  # a window whose points are not even an array
            shape = (0, 0)
        try:
            window.validate()
        except Exception as e:
            return self._failed(f"invalid window: {e}", frame_id, stamps, shape)
        try:
            stages = self._stages(
                motion_segmentation=motion_segmentation,
                slot_split=slot_split,
                part_merge=part_merge,
                type_check=type_check,
                depth_hypotheses=depth_hypotheses,
            )
            return self._estimate(window, self.refine if refine is None else bool(refine), refine_config, **stages)
        except Exception as e:
            logger.exception("sim2art estimator failed")
            return self._failed(f"inference error: {type(e).__name__}: {e}", frame_id, stamps, shape)

    # ----------------------------------------------------------------- helpers
    def _failed(self, msg: str, frame_id: str, stamps: np.ndarray, shape: tuple[int, int]) -> ArticulationEstimate:
        est = ArticulationEstimate.failed(msg, frame_id, stamps, shape)
        return ArticulationEstimate(**{**est.__dict__, "estimator_id": self.estimator_id})

    def _prepare(self, window: Window, rng: np.random.Generator) -> _Prepared:
        cfg = self.model_config
        Tw, Nw = window.num_frames, window.num_points
        Tm, Nm = cfg.num_frames, cfg.num_points
        use_image = cfg.image_feature_dim > 0
        if use_image:
            if window.features is None:
                raise ValueError(
                    f"the model needs per-point image features ({cfg.image_feature_dim}-d), window has none"
                )
            if window.features.shape[-1] != cfg.image_feature_dim:
                raise ValueError(
                    f"the model needs {cfg.image_feature_dim}-d image features, window has {window.features.shape[-1]}"
                )
        w_from_c0 = np.asarray(window.world_from_cam[0], dtype=np.float64)
        c0_from_w = invert_transform(w_from_c0)
        valid = np.asarray(window.valid, dtype=bool)
        pts = np.where(valid[..., None], window.points, 0.0)
        flw = np.where(valid[..., None], window.flow, 0.0)
        pts_c0 = transform_points(c0_from_w, pts.astype(np.float64))
        flow_c0 = rotate_vectors(c0_from_w, flw.astype(np.float64))
        norm = Normalization.fit(pts_c0, valid)
        step = (Tw - 1) / (Tm - 1)  # window frames per model frame
        model_times = np.arange(Tm) * step
        src_frames = np.rint(model_times).astype(int)
        p_n = norm.points(pts_c0)
        f_n = norm.vectors(flow_c0 * step)
        feats = np.asarray(window.features, dtype=np.float32) if use_image else None
        reuse = Tw == Tm and bool(valid.all()) and Nw == Nm
        idx = np.empty((Tm, Nm), dtype=np.int64)
        for j, i in enumerate(src_frames):
            v = np.flatnonzero(valid[i])
            if reuse:
                idx[j] = v
            elif len(v) >= Nm:
                idx[j] = rng.choice(v, size=Nm, replace=False)
            else:
                idx[j] = np.concatenate([v, rng.choice(v, size=Nm - len(v), replace=True)])
        rows = src_frames[:, None]
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(0).to(self.device)  # noqa: E731
        prep = _Prepared(
            norm=norm,
            w_from_c0=w_from_c0,
            points=as_t(p_n[rows, idx]),
            flow=as_t(f_n[rows, idx]),
            image=as_t(feats[rows, idx]) if use_image else None,
            reuse=reuse,
            q_points=None,
            q_flow=None,
            q_image=None,
            q_frames=None,
            q_index=[np.flatnonzero(valid[i]) for i in range(Tw)],
            model_times=model_times,
        )
        if not reuse:
            Q = max(len(v) for v in prep.q_index)
            qi = np.stack([np.concatenate([v, np.full(Q - len(v), v[0])]) for v in prep.q_index])  # pad: repeat
            wrows = np.arange(Tw)[:, None]
            prep.q_points = as_t(p_n[wrows, qi])
            prep.q_flow = as_t(f_n[wrows, qi])
            prep.q_image = as_t(feats[wrows, qi]) if use_image else None
            prep.q_frames = torch.from_numpy(np.clip(np.rint(np.arange(Tw) / step), 0, Tm - 1).astype(np.int64))
            prep.q_frames = prep.q_frames.to(self.device)
        return prep

    def _network(self, window: Window) -> NetworkResult:
        """Prepare the window and run the network (cached for the most recent window content)."""
        key = _window_digest(window)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        t0 = time.perf_counter()
        prep = self._prepare(window, np.random.default_rng(self.config.seed))
        t1 = time.perf_counter()
        with torch.inference_mode():
            out = self.model(prep.points, prep.flow, prep.image)
            if prep.reuse:
                logits = out.part_logits[0]
            else:
                f = self.model.point_features(out.encoded, prep.q_points, prep.q_flow, prep.q_image, prep.q_frames)
                logits = self.model.part_logits(f)[0]
            slot_probs_q = logits.softmax(-1).float().cpu().numpy()  # (Tw, Q, M)
            type_probs = out.type_logits[0].softmax(-1).float().cpu().numpy()  # (M, 3)
            rev_axis = out.revolute_axis[0].float().cpu().numpy()
            pri_axis = out.prismatic_axis[0].float().cpu().numpy()
            pivot_n = out.pivot[0].float().cpu().numpy()
            rev_amt = out.revolute_amounts[0].float().cpu().numpy()  # (M, Tm)
            pri_amt = out.prismatic_amounts[0].float().cpu().numpy()
        result = NetworkResult(
            prep, slot_probs_q, type_probs, rev_axis, pri_axis, pivot_n, rev_amt, pri_amt,
            prepare_s=t1 - t0, network_s=time.perf_counter() - t1,
        )  # fmt: skip
        self._cache = (key, result)
        return result

    def _estimate(
        self, window: Window, refine: bool, refine_config: Any, motion_segmentation: bool = False,
        slot_split: bool = False, part_merge: bool = False, type_check: bool = False,
        depth_hypotheses: bool = False,
    ) -> ArticulationEstimate:  # fmt: skip
        """The pipeline after validation: network -> part selection -> network joints -> [refine | type check]
        -> finish.

        Geometric stages that work on the network's joints go between :func:`network_joints` and
        :func:`finish_estimate` (as the refinement does), each timed in ``timings``.
        """
        net = self._network(window)
        timings = {"prepare": net.prepare_s, "network": net.network_s}
        t2 = time.perf_counter()
        if motion_segmentation:
            sel = select_parts_by_motion(window, net, self.config)
            timings["segment"] = time.perf_counter() - t2
        else:
            sel = select_parts(window, net, self.config)
        if part_merge and len(sel.slots) > 1:
            t_merge = time.perf_counter()
            sel = apply_part_merge(window, sel, self.config.part_merge_config)
            timings["part_merge"] = time.perf_counter() - t_merge
        split_joints: dict[int, JointEstimate] = {}
        if slot_split and sel.slots:
            t_split = time.perf_counter()
            sel, split_joints = apply_slot_split(window, sel, self.config.slot_split_config)
            timings["slot_split"] = time.perf_counter() - t_split
        if depth_hypotheses:
            t_depth = time.perf_counter()
            sel, depth_joints = apply_depth_hypotheses(window, sel, self.config.depth_hypothesis_config)
            split_joints.update(depth_joints)
            timings["depth_hypotheses"] = time.perf_counter() - t_depth
        joints = [split_joints.get(j.child, j) for j in network_joints(window, net, sel)]
        t3 = time.perf_counter()
        timings["decode"] = t3 - t2
        observed_motion, articulated = sel.observed_motion, bool(sel.slots)
        if (refine or type_check) and sel.slots:
            from sim2art_core.refine import RefineConfig, refine_joints

            rcfg = refine_config if refine_config is not None else self.config.refine_config
            rcfg = rcfg if rcfg is not None else RefineConfig()
            if not refine:  # the type check alone: the network's joints except where the geometry contradicts
                rcfg = replace(rcfg, fusion="network", type_check=True)
            res = refine_joints(window, sel.part_probs, 0, tuple(joints), rcfg, check_window=False)  # validated above
            joints = list(res.joints)
            if refine:
                observed_motion = res.observed_motion
                articulated = res.articulation_observed
            timings["refine" if refine else "type_check"] = time.perf_counter() - t3
        stages = dict(motion_segmentation=motion_segmentation, slot_split=slot_split, part_merge=part_merge,
                      type_check=type_check, depth_hypotheses=depth_hypotheses)  # fmt: skip
        est_id = self._id(refine, stages)
        return finish_estimate(window, sel, joints, observed_motion, articulated, self.config.min_motion_m, est_id,
                               timings)  # fmt: skip

    def _stages(self, **given: bool | None) -> dict[str, bool]:
        """The optional stages of one call: each switch given (None = the constructor's config)."""
        return {
            name: bool(getattr(self.config, name) if given.get(name) is None else given[name]) for name in STAGE_TAGS
        }

    def _id(self, refine: bool, stages: dict[str, bool] | None = None) -> str:
        """``sim2art:<checkpoint>@<digest>`` and a tag per optional stage that ran (STAGE_TAGS; the type check
        only without the refinement, which checks types itself), then ``:refine``."""
        stages = self._stages() if stages is None else stages
        tags = [tag for name, tag in STAGE_TAGS.items() if stages[name] and not (name == "type_check" and refine)]
        ck = self.checkpoint
        return f"sim2art:{ck.path.name}@{ck.digest}" + "".join(f":{t}" for t in tags) + (":refine" if refine else "")


def _window_digest(window: Window) -> bytes:
    """Digest of everything the network sees of a window (the network cache's key)."""
    h = hashlib.blake2b(digest_size=16)
    for a in (window.points, window.flow, window.valid, window.world_from_cam, window.features):
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            h.update(a.data)
    return h.digest()


@dataclass(frozen=True)
class NetworkResult:
    """The prepared window and the network's outputs for it (numpy, model frame): the input of the
    decoding stages (:func:`select_parts`, :func:`network_joints`). M = query slots, Q = the most valid
    points of a window frame, Tm = the model's frames. Cached by the Estimator: treat as read-only.
    """

    prep: _Prepared
    slot_probs_q: np.ndarray  # (Tw, Q, M)
    type_probs: np.ndarray  # (M, 3)
    rev_axis: np.ndarray  # (M, 3)
    pri_axis: np.ndarray  # (M, 3)
    pivot_n: np.ndarray  # (M, 3), normalised units
    rev_amt: np.ndarray  # (M, Tm) rad
    pri_amt: np.ndarray  # (M, Tm) normalised units
    prepare_s: float
    network_s: float


@dataclass(frozen=True)
class PartSelection:
    """Which of the network's query slots become reported parts (:func:`select_parts`).

    Attributes:
        slots: network slot of each reported moving part; part label k (1..K) is ``slots[k - 1]``,
            label 0 is the root (slot 0 and every slot not reported).
        moved: the slots of ``slots`` seen moving relative to the root by at least ``min_motion_m``.
        observed: per candidate slot (enough points): (observed motion relative to the root in m,
            mean RMS of its fitted frame pairs in m) (:func:`observed_motions`).
        labels: (T, N) int16 part label per point, -1 for invalid points.
        part_probs: (T, N, 1 + K) float32 per-point part probabilities (root column: every slot not
            reported), 0 on invalid points.
        parts: the K + 1 :class:`PartEstimate` (root first).
        observed_motion: m, largest observed motion of a reported part (of any candidate when none is
            reported).
        part_observed: per reported part (label k at index k - 1), its (observed motion, RMS); empty:
            look it up in ``observed`` by slot. The motion segmentation fills it, because two of its parts
            may share a network slot (a door split off the slot it was merged into).
    """

    slots: tuple[int, ...]
    moved: frozenset[int]
    observed: dict[int, tuple[float, float]]
    labels: np.ndarray
    part_probs: np.ndarray
    parts: tuple[PartEstimate, ...]
    observed_motion: float
    part_observed: tuple[tuple[float, float], ...] = ()


def select_parts(window: Window, net: NetworkResult, ecfg: EstimatorConfig) -> PartSelection:
    """Decoding, step 4 of the module doc: the network's slots -> the root and the moving parts.

    A slot (other than the root slot 0) is a candidate when it holds at least
    max(``min_part_points``, ``min_part_fraction`` x valid points) points; a candidate is reported when
    it was seen moving by ``min_motion_m`` relative to the root (or, with ``report_unmoved_parts``, when
    the network types it movable). Everything else merges into the root.
    """
    M = net.slot_probs_q.shape[-1]
    Tw, Nw = window.num_frames, window.num_points
    valid = np.asarray(window.valid, dtype=bool)
    slot_probs = np.zeros((Tw, Nw, M), dtype=np.float32)
    for i, v in enumerate(net.prep.q_index):
        slot_probs[i, v] = net.slot_probs_q[i, : len(v)]
    slot = np.where(valid, slot_probs.argmax(-1), -1)
    n_valid = int(valid.sum())
    min_pts = max(ecfg.min_part_points, int(np.ceil(ecfg.min_part_fraction * n_valid)))
    counts = np.bincount(slot[valid], minlength=M)
    candidates = [m for m in range(1, M) if counts[m] >= min_pts]
    root_mask = valid & ~np.isin(slot, candidates)
    part_motions = observed_motions(window, root_mask, [slot == m for m in candidates])
    observed = dict(zip(candidates, part_motions, strict=True))
    moved = {m for m in candidates if observed[m][0] >= ecfg.min_motion_m}
    unmoved_movable = {
        m for m in candidates if ecfg.report_unmoved_parts and int(net.type_probs[m].argmax()) != JointType.STATIC
    }
    kept = [m for m in candidates if m in moved or m in unmoved_movable]
    max_observed = max([o[0] for o in observed.values()], default=0.0)

    labels = np.full((Tw, Nw), -1, dtype=np.int16)
    labels[valid] = 0
    part_probs = np.zeros((Tw, Nw, 1 + len(kept)), dtype=np.float32)
    part_probs[..., 0] = slot_probs.sum(-1)
    for k, m in enumerate(kept, start=1):
        labels[slot == m] = k
        part_probs[..., k] = slot_probs[..., m]
        part_probs[..., 0] -= slot_probs[..., m]
    part_probs[..., 0] = np.clip(part_probs[..., 0], 0.0, 1.0)
    part_probs[~valid] = 0.0
    parts = [part_from_labels(window.points, labels, 0, part_probs)]
    parts += [part_from_labels(window.points, labels, k, part_probs) for k in range(1, len(kept) + 1)]
    return PartSelection(
        slots=tuple(kept),
        moved=frozenset(moved),
        observed=observed,
        labels=labels,
        part_probs=part_probs,
        parts=tuple(parts),
        observed_motion=max([observed[m][0] for m in kept], default=max_observed),
    )


def _window_slot_probs(window: Window, net: NetworkResult) -> np.ndarray:
    """(T, N, M) the network's slot probabilities of every window point (0 on invalid points)."""
    M = net.slot_probs_q.shape[-1]
    slot_probs = np.zeros((window.num_frames, window.num_points, M), dtype=np.float32)
    for i, v in enumerate(net.prep.q_index):
        slot_probs[i, v] = net.slot_probs_q[i, : len(v)]
    return slot_probs


def select_parts_by_motion(window: Window, net: NetworkResult, ecfg: EstimatorConfig) -> PartSelection:
    """Decoding with the motion-consistent segmentation (sim2art_core.segment) instead of the slots' argmax.

    Its parts (network slots and hypotheses born from the flow) are candidates whatever their size (a
    small drawer that clearly moves is reported); a candidate is reported when it was seen moving by
    ``min_motion_m`` relative to the root (:func:`observed_motions`, the same test as
    :func:`select_parts`) and the segmentation found that motion significant against the window's flow
    noise (``MotionSegmentation.moving``), or with ``report_unmoved_parts`` when its slot is typed movable. Every part
    keeps the joint head of its network slot; a part split off the root slot takes the non-root slot the
    network found most probable on its points.
    """
    from sim2art_core.segment import MotionSegmentationInput, segment_by_motion

    valid = np.asarray(window.valid, dtype=bool)
    slot_probs = _window_slot_probs(window, net)
    seg = segment_by_motion(MotionSegmentationInput(window.points, window.flow, valid, slot_probs), ecfg.motion_config)
    P = seg.num_parts
    masks = [seg.labels == k for k in range(1, P)]
    motions = observed_motions(window, seg.labels == 0, masks)
    slot_of = []
    for k in range(1, P):
        m = int(seg.slot[k])
        if m == 0:  # split off the root: the network's most probable other slot on these points
            m = int(slot_probs[masks[k - 1]][:, 1:].mean(0).argmax()) + 1 if slot_probs.shape[-1] > 1 else 0
        slot_of.append(m)
    # seen moving: by the estimator's own measure and significantly above the window's flow noise
    moved = [bool(seg.moving[k]) and motions[k - 1][0] >= ecfg.min_motion_m for k in range(1, P)]
    movable = [
        ecfg.report_unmoved_parts and int(net.type_probs[slot_of[k - 1]].argmax()) != JointType.STATIC
        for k in range(1, P)
    ]
    kept = [k for k in range(1, P) if masks[k - 1].any() and (moved[k - 1] or movable[k - 1])]
    Tw, Nw = window.num_frames, window.num_points
    labels = np.full((Tw, Nw), -1, dtype=np.int16)
    labels[valid] = 0
    part_probs = np.zeros((Tw, Nw, 1 + len(kept)), dtype=np.float32)
    part_probs[..., 0] = seg.probs.sum(-1)
    for j, k in enumerate(kept, start=1):
        labels[seg.labels == k] = j
        part_probs[..., j] = seg.probs[..., k]
        part_probs[..., 0] -= seg.probs[..., k]
    part_probs[..., 0] = np.clip(part_probs[..., 0], 0.0, 1.0)
    part_probs[~valid] = 0.0
    parts = [part_from_labels(window.points, labels, j, part_probs) for j in range(len(kept) + 1)]
    observed = {slot_of[k - 1]: motions[k - 1] for k in range(1, P)}
    max_observed = max([o[0] for o in motions], default=0.0)
    return PartSelection(
        slots=tuple(slot_of[k - 1] for k in kept),
        moved=frozenset(slot_of[k - 1] for k in kept if moved[k - 1]),
        observed=observed,
        labels=labels,
        part_probs=part_probs,
        parts=tuple(parts),
        observed_motion=max([motions[k - 1][0] for k in kept], default=max_observed),
        part_observed=tuple(motions[k - 1] for k in kept),
    )


def apply_slot_split(
    window: Window, sel: PartSelection, cfg: Any = None
) -> tuple[PartSelection, dict[int, JointEstimate]]:
    """The slot split (sim2art_core.segment.slot_split) on a selection: its accepted pieces become parts
    K + 1, ... (their probability column: their source part's, taken from it on their points; their slot:
    their source part's, for bookkeeping only) and get their refined joints (returned by label, to replace
    the source slot's joint head that :func:`network_joints` gives them). A piece it merges into another
    part moves its probability to that part."""
    from sim2art_core.segment.slot_split import split_slots

    split = split_slots(window, sel.labels, cfg)
    merged = [p for p in split.pieces if p.reason == "merged"]
    if not split.joints and not merged:
        return sel, {}
    K = len(sel.slots)
    observed = list(sel.part_observed) or [sel.observed[m] for m in sel.slots]
    probs = np.concatenate([sel.part_probs, np.zeros((*sel.part_probs.shape[:2], len(split.joints)), np.float32)], -1)
    for p in merged:  # a fragment of another part: its probability goes to that part
        target = p.follows[0]
        probs[..., target] = np.where(p.mask, probs[..., target] + probs[..., p.part], probs[..., target])
        probs[..., p.part] = np.where(p.mask, 0.0, probs[..., p.part])
    for j, src in enumerate(split.source_part):
        piece = split.labels == K + 1 + j
        probs[..., K + 1 + j] = np.where(piece, probs[..., src], 0.0)
        probs[..., src] = np.where(piece, 0.0, probs[..., src])
    labels = split.labels.astype(np.int16)
    parts = tuple(part_from_labels(window.points, labels, k, probs) for k in range(K + 1 + len(split.joints)))
    sel = replace(
        sel,
        slots=sel.slots + tuple(sel.slots[src - 1] for src in split.source_part),
        labels=labels,
        part_probs=probs,
        parts=parts,
        observed_motion=max([sel.observed_motion, *(o[0] for o in split.observed)]),
        part_observed=tuple(observed) + split.observed,
    )
    return sel, {j.child: j for j in split.joints}


def apply_part_merge(window: Window, sel: PartSelection, cfg: Any = None) -> PartSelection:
    """The part merge (sim2art_core.segment.part_merge) on a selection: each merged part keeps the label,
    network slot (its joint head in :func:`network_joints`) and observed motion of the larger of its pieces;
    its probability column is the sum of theirs; it counts as moved when any piece did."""
    from sim2art_core.segment.part_merge import merge_parts

    merge = merge_parts(window, sel.labels, cfg)
    if not merge.merges:
        return sel
    K = len(sel.slots)
    parent = merge.parent  # input label -> output label
    K2 = int(parent.max())
    probs = np.zeros((*sel.part_probs.shape[:2], K2 + 1), np.float32)
    for k in range(K + 1):
        probs[..., parent[k]] += sel.part_probs[..., k]
    labels = merge.labels.astype(np.int16)
    observed = list(sel.part_observed) or [sel.observed[m] for m in sel.slots]
    # the piece that keeps each output label: the larger one (merge_parts keeps the larger piece's label)
    sizes = np.bincount(sel.labels[sel.labels > 0].astype(np.int64), minlength=K + 1)
    keeper = {}
    for k in range(1, K + 1):
        j = int(parent[k])
        if j not in keeper or sizes[k] > sizes[keeper[j]]:
            keeper[j] = k
    slots = tuple(sel.slots[keeper[j] - 1] for j in range(1, K2 + 1))
    moved = {sel.slots[keeper[j] - 1] for j in range(1, K2 + 1)
             if any(sel.slots[k - 1] in sel.moved for k in range(1, K + 1) if parent[k] == j)}  # fmt: skip
    part_obs = tuple(observed[keeper[j] - 1] for j in range(1, K2 + 1))
    parts = tuple(part_from_labels(window.points, labels, k, probs) for k in range(K2 + 1))
    return replace(
        sel, slots=slots, moved=frozenset(moved), labels=labels, part_probs=probs, parts=parts, part_observed=part_obs
    )


def apply_depth_hypotheses(
    window: Window, sel: PartSelection, cfg: Any = None
) -> tuple[PartSelection, dict[int, JointEstimate]]:
    """The depth hypotheses (sim2art_core.segment.depth_hypotheses) on a selection: every accepted region
    becomes part K + 1, ... (its points' whole probability moves to its column; slot: 0, for bookkeeping only -
    its joint is the geometric one returned by label, replacing the joint head :func:`network_joints` gives
    slot 0). A part left without points keeps its (empty) column."""
    from sim2art_core.segment.depth_hypotheses import depth_parts

    found = depth_parts(window, sel.labels, cfg)
    if not found.joints:
        return sel, {}
    K = len(sel.slots)
    observed = list(sel.part_observed) or [sel.observed[m] for m in sel.slots]
    new = len(found.joints)
    probs = np.concatenate([sel.part_probs, np.zeros((*sel.part_probs.shape[:2], new), np.float32)], -1)
    labels = np.asarray(sel.labels).copy()
    for j, mask in enumerate(found.masks):
        total = probs[mask].sum(-1)
        probs[mask] = 0.0
        probs[mask, K + 1 + j] = total
        labels[mask] = K + 1 + j
    parts = tuple(part_from_labels(window.points, labels, k, probs) for k in range(K + 1 + new))
    joints = {K + 1 + j: replace(joint, child=K + 1 + j, parent=0) for j, joint in enumerate(found.joints)}
    sel = replace(
        sel,
        slots=sel.slots + (0,) * new,
        labels=labels,
        part_probs=probs,
        parts=parts,
        observed_motion=max([sel.observed_motion, *(o[0] for o in found.observed)]),
        part_observed=tuple(observed) + found.observed,
    )
    return sel, joints


def network_joints(window: Window, net: NetworkResult, sel: PartSelection) -> list[JointEstimate]:
    """Decoding, step 5 of the module doc: the network's joint of every reported part, in the fixed frame.

    Type: the more probable of revolute / prismatic for a part seen moving, else the most probable.
    Axis sign: the amount of largest magnitude is positive; amounts start at 0 and are interpolated from
    the model's frames to the window's. Origin: the foot of the perpendicular from the part's
    first-frame centroid onto the predicted axis (revolute) or that centroid (prismatic).
    """
    prep = net.prep
    joints = []
    R = prep.w_from_c0[:3, :3]
    times = np.arange(window.num_frames, dtype=np.float64)
    for k, m in enumerate(sel.slots, start=1):
        tp = net.type_probs[m].astype(np.float64)
        # A part seen moving has a movable joint: the more probable of revolute / prismatic.
        jtype = JointType(int(tp[:2].argmax()) if m in sel.moved else int(tp.argmax()))
        if jtype == JointType.REVOLUTE:
            axis, amounts = R @ net.rev_axis[m], np.interp(times, prep.model_times, net.rev_amt[m])
        else:
            axis, amounts = R @ net.pri_axis[m], np.interp(times, prep.model_times, net.pri_amt[m] / prep.norm.scale)
        axis = axis / max(np.linalg.norm(axis), 1e-12)
        if amounts[np.argmax(np.abs(amounts))] < 0:
            axis, amounts = -axis, -amounts
        centroid0 = _first_centroid(window, sel.labels == k)
        if jtype == JointType.REVOLUTE:
            pivot = transform_points(prep.w_from_c0, prep.norm.unpoints(net.pivot_n[m]))
            origin = closest_point_on_line(centroid0, pivot, axis)
        else:
            origin = centroid0
        joints.append(
            JointEstimate(
                child=k,
                parent=0,
                type=jtype,
                type_probs=tp / tp.sum(),
                axis=axis,
                origin=np.asarray(origin, dtype=np.float64),
                amounts=amounts - amounts[0],
                confidence=float(tp[jtype] * sel.parts[k].score),
                source="network",
                fit_residual=sel.part_observed[k - 1][1] if sel.part_observed else sel.observed[m][1],
            )
        )
    return joints


def finish_estimate(
    window: Window,
    sel: PartSelection,
    joints: list[JointEstimate],
    observed_motion: float,
    articulated: bool,
    min_motion_m: float,
    estimator_id: str,
    timings: dict[str, float],
) -> ArticulationEstimate:
    """The estimate: OK with the selected parts and ``joints``, or NO_ARTICULATION (every valid point on
    the root, a message with the largest observed motion) when nothing ``articulated``."""
    if not articulated:
        valid = np.asarray(window.valid, dtype=bool)
        labels = np.where(valid, 0, -1).astype(np.int16)
        root_probs = valid[..., None].astype(np.float32)
        return ArticulationEstimate(
            status=EstimateStatus.NO_ARTICULATION,
            frame_id=window.frame_id,
            stamps_ns=np.asarray(window.stamps_ns, dtype=np.int64),
            labels=labels,
            parts=(part_from_labels(window.points, labels, 0, root_probs),),
            message=f"no part moved more than {min_motion_m * 100:.1f} cm relative to the base "
            f"(largest observed {observed_motion * 100:.2f} cm)",
            observed_motion=float(observed_motion),
            estimator_id=estimator_id,
            timings=timings,
        )
    return ArticulationEstimate(
        status=EstimateStatus.OK,
        frame_id=window.frame_id,
        stamps_ns=np.asarray(window.stamps_ns, dtype=np.int64),
        labels=sel.labels,
        parts=sel.parts,
        joints=tuple(joints),
        observed_motion=float(observed_motion),
        estimator_id=estimator_id,
        timings=timings,
    )


def _first_centroid(window: Window, mask: np.ndarray) -> np.ndarray:
    """Centroid of the masked points in the first frame that has any (fixed frame)."""
    frames = np.flatnonzero(mask.any(axis=1))
    if len(frames) == 0:
        return np.full(3, np.nan)
    return window.points[frames[0]][mask[frames[0]]].astype(np.float64).mean(axis=0)


def observed_motions(window: Window, root_mask: np.ndarray, part_masks: list[np.ndarray]) -> list[tuple[float, float]]:
    """How far each masked part moved relative to the root over the window, from the scene flow.

    Per frame pair, a plain least-squares rigid fit of (x, x + flow) of the part's points and of the
    root's (sim2art_core.refine.rigid, every part and pair in one batch); a pair whose points cannot
    pin a rotation (fewer than 3, or collinear) moves by their mean flow. The pair motions are chained
    from frame 0 and taken relative to the root's chain; the observed motion is the largest
    displacement of up to 64 of the part's first-frame points.

    Args:
        window: the (validated) window.
        root_mask: (T, N) bool, the root's points.
        part_masks: (T, N) bool masks of the parts (valid points only).

    Returns:
        per part: (largest displacement relative to the root in m, mean RMS of its fitted pairs in m,
        NaN when none was fitted).
    """
    if not part_masks:
        return []
    T, N = window.num_frames, window.num_points
    K = T - 1
    masks = np.stack([root_mask, *part_masks])  # (M, T, N), row 0 the root
    M = len(masks)
    fit, _ = fit_part_pair_motions(
        window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3), masks[:, :-1], irls_iterations=0, min_support=3
    )
    fitted = fit.valid.reshape(M, K)
    steps = fit.transforms.reshape(M, K, 4, 4).copy()
    count = masks[:, :-1].sum(axis=2)
    unpinned = ~fitted & (count > 0)
    if unpinned.any():  # translation by the mean flow (invalid points may hold NaN: zeroed first)
        flow = np.where(window.valid[:-1, :, None], window.flow[:-1], 0.0).astype(np.float64)
        mean_flow = np.einsum("mkn,knd->mkd", masks[:, :-1], flow) / np.maximum(count, 1)[..., None]
        steps[unpinned, :3, 3] = mean_flow[unpinned]
    chains = chain_steps(steps)  # (M, T, 4, 4)
    rel = invert_transform(chains[0])[None] @ chains[1:]  # (M - 1, T, 4, 4) parts relative to the root
    n_fitted = fitted.sum(axis=1)
    rms_sum = np.where(fitted, fit.rms.reshape(M, K), 0.0).sum(axis=1)
    rms = np.where(n_fitted > 0, rms_sum / np.maximum(n_fitted, 1), np.nan)
    out = []
    for i, mask in enumerate(part_masks):
        frames = np.flatnonzero(mask.any(axis=1))
        if len(frames) == 0:
            out.append((0.0, float(rms[i + 1])))
            continue
        f = frames[0]
        # Probe: the first 64 of the part's points at its first frame. The refinement probes up to 128
        # points of its fit sample instead; each keeps its own probe because unifying them would change
        # the reported observed_motion (and which slots pass min_motion_m), i.e. every benchmark number.
        probe = window.points[f][mask[f]][:64]
        out.append((largest_displacement(rel[i], probe, f), float(rms[i + 1])))
    return out
