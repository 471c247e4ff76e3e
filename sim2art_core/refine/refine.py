"""Geometric joint refinement: closed-form joints from segmentation + scene flow (issue 8).

Algorithm (details and the fusion rule: docs/EVALUATION.md):

1. Per part p and frame pair t -> t+1 (t = 0..T-2): robust weighted rigid fit P_p,t of the
   correspondences (x, x + flow) of frame t, weights = part probability (below ``min_point_prob``: 0)
   x validity; Cauchy IRLS (:mod:`sim2art_core.refine.rigid`). Each fit's information: translation
   n_eff / sigma^2 per coordinate, rotation n_eff / sigma^2 (tr(C) I - C) from the points' layout C,
   sigma = max(robust RMS residual, ``min_noise_m``) / sqrt(3), n_eff = min(support,
   ``max_effective_points``).
2. Steps relative to the parent: S_t = P_parent,t^-1 P_p,t, so camera-pose errors common to all parts
   cancel in every step; their covariances add (with the parent's rotation acting over the lever arm
   between the centroids). The steps are then expressed in the parent's frame-0 pose: through the
   root's chained motion (each root step's rotation shrunk towards 0 in the directions its points
   cannot pin, :func:`root_motion_chain`), and for a parent that is not the root also through the
   parent's fitted joint motion.
3. Static / prismatic / revolute models are fitted to the steps jointly over the window
   (information-weighted least squares) and selected by BIC
   (:mod:`sim2art_core.refine.joint_models`). A step seen on few, noisy or nearly collinear points
   carries little information in the directions it cannot pin, so it cannot drag the axis, and step
   errors only accumulate in the amounts.
4. Fusion with the network's joint of the same part (:func:`fuse_joint`).

With ``RefineConfig.long_baseline`` steps 2-3 use long-baseline poses instead (frame 0 -> every frame,
registered by ICP with the chained steps as the guess; :mod:`sim2art_core.refine.long_baseline`) for
every part that could be registered; the others keep the chained steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import invert_transform
from sim2art_core.refine.config import RefineConfig, RefineResult
from sim2art_core.refine.joint_models import (
    ModelFit,
    StepData,
    fit_joint_models_batch,
    type_probabilities,
)
from sim2art_core.refine.long_baseline import ChainedGuess, PartPoses, long_baseline_poses, relative_poses
from sim2art_core.refine.long_baseline import rows as pose_rows
from sim2art_core.refine.motion import chain_steps, largest_displacement
from sim2art_core.refine.rigid import fit_part_pair_motions
from sim2art_core.refine.so3 import rotvecs_from_matrices, skew
from sim2art_core.refine.type_check import geometric_type_override
from sim2art_core.types import JointType
from sim2art_core.window import Window

#: Points per part used to measure the largest displacement (observed motion). The estimator's part
#: selection probes 64 (sim2art_core.estimator.observed_motions); both measure with
#: sim2art_core.refine.motion.largest_displacement, and each keeps its probe: unifying them changes the
#: reported observed_motion and so the benchmark numbers.
_MOTION_PROBE_POINTS = 128
#: A single step cannot rotate by more than pi: caps the rotation variance of unpinned directions.
_MAX_ROT_VAR = np.pi**2


@dataclass(frozen=True)
class PartPairs:
    """Measured frame-to-frame motion of a part (window frame), K = T - 1 pairs.

    Shapes are those of one part. :func:`_measure_parts` measures all parts at once and returns
    them with a leading part axis on every field (``probe``: a tuple with one array per part);
    :meth:`part` takes one part, :meth:`rows` several.

    Attributes:
        transforms: (K, 4, 4) P_t, motion of the part from frame t to t+1 (identity where not fitted).
        fitted: (K,) the pair could be fitted.
        centroids: (K, 3) m, centroid of the part's points at frame t.
        rot_cov: (K, 3, 3) rad^2, covariance of the fitted rotation vector.
        trans_var: (K,) m^2, per-coordinate variance of the motion of the centroid.
        fit_residual: m, median robust RMS residual of the fitted pairs (NaN if none).
        support: median summed weight of the fitted pairs.
        valid_fraction: fraction of pairs fitted.
        explained: median over the fitted pairs of the fraction of the part's weight that the pair's
            rigid motion explains: residual within ``cauchy_scale`` x the pair's flow noise (the
            root's robust RMS residual of that pair, at least ``min_noise_m``). A part that holds two
            differently moving pieces leaves one of them unexplained. NaN if no pair was fitted.
        probe: (M, 3) up to 128 of the part's points at the first frame it was fitted.
        first: index of the first fitted pair.
    """

    transforms: np.ndarray
    fitted: np.ndarray
    centroids: np.ndarray
    rot_cov: np.ndarray
    trans_var: np.ndarray
    fit_residual: float
    support: float
    valid_fraction: float
    explained: float
    probe: np.ndarray
    first: int

    def part(self, p: int) -> PartPairs:
        """Part ``p`` of a batch (see the class doc)."""
        return PartPairs(
            transforms=self.transforms[p],
            fitted=self.fitted[p],
            centroids=self.centroids[p],
            rot_cov=self.rot_cov[p],
            trans_var=self.trans_var[p],
            fit_residual=float(self.fit_residual[p]),
            support=float(self.support[p]),
            valid_fraction=float(self.valid_fraction[p]),
            explained=float(self.explained[p]),
            probe=self.probe[p],
            first=int(self.first[p]),
        )

    def rows(self, parts: np.ndarray) -> PartPairs:
        """The batch of the given parts (int array), in that order."""
        return PartPairs(
            **{f: getattr(self, f)[parts] for f in _ARRAY_FIELDS},
            probe=tuple(self.probe[p] for p in parts),
        )


_ARRAY_FIELDS = ("transforms", "fitted", "centroids", "rot_cov", "trans_var", "fit_residual", "support",
                 "valid_fraction", "explained", "first")  # fmt: skip


def refine_joints(
    window: Window,
    part_probs: np.ndarray,
    root: int,
    network_joints: Sequence[JointEstimate] = (),
    cfg: RefineConfig = RefineConfig(),  # noqa: B008 - frozen, immutable default
    *,
    check_window: bool = True,
) -> RefineResult:
    """Fit every non-root part's joint from the window's scene flow and fuse with the network's.

    Args:
        window: the window (points, flow, valid in its fixed frame).
        part_probs: (T, N, P) per-point part probabilities (rows sum to 1 over P); the column
            index is the part label.
        root: label of the static base part.
        network_joints: the network's joints (child = part label; its parent is used when it is
            another part); may be empty, then the result is purely geometric.
        cfg: see :class:`RefineConfig`.
        check_window: False when the caller has just validated the window (``Window.validate`` costs
            ~0.5 ms at T=16, N=1024; the Estimator validates every window once).

    Returns:
        :class:`RefineResult` with one joint per non-root part (ordered by label).

    Raises:
        ValueError: inconsistent shapes, non-finite probabilities or a bad root label.
    """
    if check_window:
        window.validate()
    T, N = window.num_frames, window.num_points
    probs = np.asarray(part_probs)
    if probs.ndim != 3 or probs.shape[:2] != (T, N):
        raise ValueError(f"refine_joints: part_probs must be (T={T}, N={N}, P), got {probs.shape}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0:
        raise ValueError("refine_joints: part_probs must be finite and non-negative")
    P = probs.shape[2]
    if not 0 <= root < P:
        raise ValueError(f"refine_joints: root {root} is not a part label in [0, {P})")
    net_by_child = {j.child: j for j in network_joints}
    parents = _parents(P, root, net_by_child)

    points, flow = window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3)
    pairs, present = _measure_parts(points, flow, window.valid, probs, cfg, root)
    supported = present & (pairs.valid_fraction >= cfg.min_valid_pair_fraction)

    root_chain = root_motion_chain(pairs.part(root), cfg) if supported[root] else np.tile(np.eye(4), (T, 1, 1))
    lb: PartPoses | None = None
    if cfg.long_baseline and supported.any():
        chained = ChainedGuess(chain_steps(pairs.transforms), pairs.rot_cov, pairs.trans_var, pairs.centroids,
                               pairs.fitted)  # fmt: skip
        targets = supported.copy()
        targets[root] &= cfg.lb_register_root
        lb = long_baseline_poses(window.points, window.valid, probs, np.flatnonzero(targets), chained, cfg)
    # the root's pose from frame 0 for the long-baseline fits: registered, else the chained flow
    root_pose = lb.transforms[root] if lb is not None and lb.available[root] else root_chain
    fits_by_part: dict[int, dict[JointType, ModelFit]] = {}
    chosen: dict[int, ModelFit] = {}
    motion_of: dict[int, float] = {}
    refined: dict[int, JointEstimate] = {}
    observed = 0.0
    articulation = False
    # Parts of one depth in the kinematic tree are fitted in one batch (their parents are done).
    for level in _levels(parents, root):
        for p in level:
            if not supported[p]:
                refined[p] = _unsupported_joint(p, parents[p], T)
        batch = np.array([p for p in level if supported[p]], dtype=np.int64)
        if len(batch) == 0:
            continue
        batch_parents = np.array([parents[p] for p in batch], dtype=np.int64)
        use_lb = lb.available[batch] if lb is not None else np.zeros(len(batch), dtype=bool)
        fits_of: dict[int, dict[JointType, ModelFit]] = {}
        chained_parts = ~use_lb if cfg.lb_use == "poses" else np.ones(len(batch), dtype=bool)
        if chained_parts.any():  # chained frame-to-frame steps
            sub, sub_par = batch[chained_parts], batch_parents[chained_parts]
            frames = np.stack([root_chain @ chosen[q].motions() if q != root and q in chosen else root_chain
                               for q in sub_par])  # fmt: skip
            steps = relative_steps(pairs.rows(sub), pairs.rows(sub_par), frames[:, :-1], supported[sub_par])
            fits_of.update(zip(sub.tolist(), fit_joint_models_batch(steps), strict=True))
        if use_lb.any():  # long-baseline poses
            sub, sub_par = batch[use_lb], batch_parents[use_lb]
            frames = np.stack([root_pose @ chosen[q].motions() if q != root and q in chosen else root_pose
                               for q in sub_par])  # fmt: skip
            poses = relative_poses(pose_rows(lb, sub), frames, lb, root)
            for p, pose_fits in zip(sub.tolist(), fit_joint_models_batch(poses, poses=True), strict=True):
                fits_of[p] = pose_fits if cfg.lb_use == "poses" else _with_pose_amounts(fits_of[p], pose_fits)
        for p in batch.tolist():
            fits = fits_of[p]
            mp = pairs.part(p)
            geo = _joint_from_fit(p, parents[p], fits, type_probabilities(fits), mp, "refined", cfg)
            fits_by_part[p], chosen[p], refined[p] = fits, fits[geo.type], geo
            moving = min((fits[JointType.REVOLUTE], fits[JointType.PRISMATIC]), key=lambda f: f.bic)
            motion_of[p] = _largest_displacement(moving, mp)
            observed = max(observed, motion_of[p])
            articulation = articulation or geo.type != JointType.STATIC
    order = [p for p in range(P) if p != root]
    noise = window_flow_noise(pairs.fit_residual[root] if supported[root] else np.nan, cfg)
    fused = [
        fuse_joint(refined[p], fits_by_part.get(p), net_by_child.get(p), pairs.part(p), cfg,
                   noise_m=noise, motion_m=motion_of.get(p, np.nan))
        for p in order
    ]  # fmt: skip
    return RefineResult(
        joints=tuple(fused),
        refined=tuple(refined[p] for p in order),
        observed_motion=float(observed),
        articulation_observed=articulation,
    )


def window_flow_noise(root_residual: float, cfg: RefineConfig) -> float:
    """m, the window's flow noise for the gate: the base's median robust pair residual (the base is
    static and large, so its rigid fits leave only the flow's noise), at least ``min_noise_m``; the
    floor alone when the base could not be fitted (NaN)."""
    r = float(root_residual)
    return max(r, cfg.min_noise_m) if np.isfinite(r) else cfg.min_noise_m


def untrusted_reasons(
    refined: JointEstimate,
    fits: dict[JointType, ModelFit],
    pairs: PartPairs,
    cfg: RefineConfig,
    *,
    noise_m: float = float("nan"),
    motion_m: float = float("nan"),
    network_type: JointType | None = None,
) -> tuple[str, ...]:
    """Why the gate does not trust a refined joint (empty: trustworthy). General signals only:

    * "residual": median pair residual above ``max_fit_residual_m``;
    * "confidence": refined confidence below ``min_refined_confidence`` (type probability x support
      x fraction of fitted pairs);
    * "explained": the rigid motions explain less than ``gate_min_explained`` of the part's weight
      (median over pairs): the part holds differently moving pieces (mis-segmented);
    * "noise_ratio": median pair residual above ``gate_max_residual_noise`` x the window's flow noise
      ``noise_m`` (:func:`window_flow_noise`): the part does not move rigidly as far as the flow can tell;
    * "model_chi2": the best moving model's reduced chi^2 over the part's steps above
      ``gate_max_model_chi2``: no single joint explains the steps (e.g. the fit follows one piece of
      the part in some frames and another in others);
    * "motion": the part's largest displacement ``motion_m`` under its best moving model below
      ``gate_min_motion_noise`` x ``noise_m``: too little motion for the geometry to pin an axis;
    * "axis_std": the refined axis' standard deviation (largest, from its covariance, which grows
      with the model's misfit) above ``gate_max_axis_std_deg`` (a STATIC refined joint has no axis);
    * "type_margin": the geometry's type differs from ``network_type`` and its BIC beats the network
      type's model by less than ``gate_min_type_bic_margin``: the geometry does not decide the type.

    A check whose input is NaN (not measured) does not fail.
    """
    out = []
    if not pairs.fit_residual <= cfg.max_fit_residual_m:
        out.append("residual")
    if not refined.confidence >= cfg.min_refined_confidence:
        out.append("confidence")
    if pairs.explained < cfg.gate_min_explained:
        out.append("explained")
    if pairs.fit_residual > cfg.gate_max_residual_noise * noise_m:
        out.append("noise_ratio")
    moving = min((fits[JointType.REVOLUTE], fits[JointType.PRISMATIC]), key=lambda f: f.bic)
    dof = max(6 * int(np.count_nonzero(pairs.fitted)) - moving.num_params, 1)
    if moving.chi2 / dof > cfg.gate_max_model_chi2:
        out.append("model_chi2")
    if motion_m < cfg.gate_min_motion_noise * noise_m:
        out.append("motion")
    if refined.type != JointType.STATIC and refined.axis_cov is not None:
        std_deg = np.degrees(np.sqrt(max(float(np.linalg.eigvalsh(refined.axis_cov)[-1]), 0.0)))
        if std_deg > cfg.gate_max_axis_std_deg:
            out.append("axis_std")
    if network_type is not None and refined.type != network_type and network_type in fits and refined.type in fits:
        if fits[network_type].bic - fits[refined.type].bic < cfg.gate_min_type_bic_margin:
            out.append("type_margin")
    return tuple(out)


def fuse_joint(
    refined: JointEstimate,
    fits: dict[JointType, ModelFit] | None,
    network: JointEstimate | None,
    pairs: PartPairs | None,
    cfg: RefineConfig,
    *,
    noise_m: float = float("nan"),
    motion_m: float = float("nan"),
) -> JointEstimate:
    """The fusion rule (cfg.fusion):

    * "network": the network's joint when there is one, else the refined joint; with ``cfg.type_check``
      the type check below first.
    * "refined": the refined joint when the part is supported, else the network's.
    * "gate" (default): the network's joint (type and axis) unless the fit is trustworthy
      (:func:`untrusted_reasons` finds nothing: residual, confidence, explained fraction, residual
      relative to the window's flow noise ``noise_m``, reduced chi^2 of one joint over the steps, motion
      ``motion_m`` relative to the noise, axis standard deviation, BIC margin of a type that differs from
      the network's). When trustworthy, the type probabilities are the normalised
      product of the geometric (BIC) and network probabilities, and the joint is the closed-form
      fit of the most probable type (source "fused"). If that type is STATIC - the geometry saw no
      motion - the network's joint is kept when the network predicts a movable joint (it can know
      the joint from shape alone). When not trustworthy and ``cfg.type_check``: the type check below
      first, else the network's joint.

    Type check (``cfg.type_check``; "network" and an untrusted "gate"): where the part's measured motion
    clearly contradicts the network's type (:func:`~sim2art_core.refine.type_check.geometric_type_override`),
    the closed-form fit of the geometric type (source "refined", type probabilities of the BIC) replaces the
    network's joint. (A trusted gate's product already follows such clear geometry: a BIC margin of 200 is a
    likelihood ratio of e^100.)
    """
    if network is None:
        return refined
    if fits is None or pairs is None:  # the part was too small to fit: the geometry knows nothing
        return network
    if cfg.fusion == "refined":
        return refined
    if cfg.fusion == "network" or untrusted_reasons(
        refined, fits, pairs, cfg, noise_m=noise_m, motion_m=motion_m, network_type=network.type
    ):
        if cfg.type_check:
            steps = int(np.count_nonzero(pairs.fitted))
            override = geometric_type_override(fits, network.type, noise_m, steps, pairs.explained, cfg)
            if override is not None:
                return _joint_from_fit(refined.child, refined.parent, fits, type_probabilities(fits), pairs,
                                       "refined", cfg, chosen=override)  # fmt: skip
        return network
    net_p = np.clip(np.asarray(network.type_probs, dtype=np.float64), 1e-6, None)
    p = np.asarray(refined.type_probs) * net_p
    p = p / p.sum()
    best = JointType(int(np.argmax(p)))
    if best == JointType.STATIC and network.type != JointType.STATIC:
        return network
    return _joint_from_fit(refined.child, refined.parent, fits, p, pairs, "fused", cfg, chosen=best)


def relative_steps(child: PartPairs, parent: PartPairs, parent_pose: np.ndarray, parent_known: np.ndarray) -> StepData:
    """The children's steps relative to their parents, with their information (see the module doc).

    Batched over B children (leading axis of every field and argument).

    Args:
        child: the children's pair fits.
        parent: each child's parent's pair fits (rows where ``parent_known`` is False are not used).
        parent_pose: (B, K, 4, 4) each parent's pose at frames 0..K-1 relative to frame 0 (window
            frame): the steps are expressed in the parent's frame-0 pose, where the joint is fixed.
        parent_known: (B,) bool; False: the parent could not be fitted and is taken as static.
    """
    known = np.asarray(parent_known, dtype=bool)
    k3, k2, k1 = known[:, None, None, None], known[:, None, None], known[:, None]
    P_par = np.where(k3, parent.transforms, np.eye(4))
    cov_par = np.where(k3, parent.rot_cov, 0.0)
    var_par = np.where(k1, parent.trans_var, 0.0)
    c_par = np.where(k2, parent.centroids, child.centroids)
    fitted = child.fitted & (parent.fitted | ~k1)

    S = invert_transform(P_par) @ child.transforms
    Dx = skew(child.centroids - c_par)
    disp_cov = (child.trans_var + var_par)[..., None, None] * np.eye(3) + Dx @ cov_par @ np.swapaxes(Dx, -1, -2)
    # Into the parent's frame-0 pose: S' = G^-1 S G, x' = G^-1 x, covariances rotated by R_G^T.
    Ginv = invert_transform(parent_pose)
    S = Ginv @ S @ parent_pose
    x = (Ginv[..., :3, :3] @ child.centroids[..., None])[..., 0] + Ginv[..., :3, 3]
    Rg = parent_pose[..., :3, :3]
    RgT = np.swapaxes(Rg, -1, -2)
    first = np.argmax(fitted, axis=1)  # 0 when nothing was fitted
    B, K = fitted.shape
    return StepData.from_covariances(
        S, x, RgT @ (child.rot_cov + cov_par) @ Rg, RgT @ disp_cov @ Rg, fitted, x[np.arange(B), first]
    )


def root_motion_chain(root: PartPairs, cfg: RefineConfig) -> np.ndarray:
    """(T, 4, 4) the root's motion from frame 0 (camera-pose error in a fixed frame), robustly.

    Each step's rotation vector is shrunk towards 0 where the step cannot pin it:
    w' = (L + I / s^2)^-1 L w, s = ``root_step_prior_rad`` (the base should hold still; a rotation
    seen on a thin strip of points must not turn the whole window). The centroid's motion is kept.
    Unfitted steps: identity.
    """
    K = len(root.transforms)
    info = np.linalg.inv(root.rot_cov)
    w = rotvecs_from_matrices(root.transforms[:, :3, :3])
    w_map = np.linalg.solve(info + np.eye(3) / cfg.root_step_prior_rad**2, (info @ w[:, :, None]))[:, :, 0]
    R = Rotation.from_rotvec(w_map).as_matrix()
    c = root.centroids
    c_to = (root.transforms[:, :3, :3] @ c[:, :, None])[:, :, 0] + root.transforms[:, :3, 3]
    steps = np.tile(np.eye(4), (K, 1, 1))
    steps[:, :3, :3] = R
    steps[:, :3, 3] = c_to - (R @ c[:, :, None])[:, :, 0]
    steps[~root.fitted] = np.eye(4)
    return chain_steps(steps)


def _parents(P: int, root: int, net_by_child: dict[int, JointEstimate]) -> dict[int, int]:
    """Parent of every non-root part: the network's when it names another existing part, else root;
    cycles are broken by attaching to the root."""
    parents = {}
    for p in range(P):
        if p == root:
            continue
        net = net_by_child.get(p)
        q = net.parent if net is not None else root
        parents[p] = q if 0 <= q < P and q != p else root
    for p in parents:  # break cycles
        seen, q = {p}, parents[p]
        while q != root:
            if q in seen:
                parents[p] = root
                break
            seen.add(q)
            q = parents[q]
    return parents


def _levels(parents: dict[int, int], root: int) -> list[list[int]]:
    """Non-root parts grouped by depth below the root (parents before children), sorted by label."""
    depth = {}
    for p in parents:
        d, q = 0, p
        while q != root:
            q, d = parents[q], d + 1
        depth[p] = d
    return [sorted(p for p in parents if depth[p] == d) for d in sorted(set(depth.values()))]


def _measure_parts(
    points: np.ndarray, flow: np.ndarray, valid: np.ndarray, probs: np.ndarray, cfg: RefineConfig, root: int = 0
) -> tuple[PartPairs, np.ndarray]:
    """Pair fits of every part: a :class:`PartPairs` batch of all P parts, and which parts have any
    weighted point (P,) (the others have nothing fitted).

    points, flow: (T * N, 3) (the window's, flattened; only the fitted points are converted to
    float64); valid: (T, N); probs: (T, N, P).
    All parts' frame pairs are solved in one batch: NumPy's per-call overhead, not arithmetic,
    dominates at these sizes.
    """
    T, N = valid.shape
    K = T - 1
    P = probs.shape[2]
    # (P, K, N), contiguous: NumPy is slow on a last axis of length P. The last frame has no pair to fit.
    probs_pkn = np.ascontiguousarray(probs[:-1].transpose(2, 0, 1))
    mask_all = valid[None, :-1] & (probs_pkn >= cfg.min_point_prob) & (probs_pkn > 0)
    present = mask_all.reshape(P, -1).any(axis=1)
    out = PartPairs(
        transforms=np.tile(np.eye(4), (P, K, 1, 1)),
        fitted=np.zeros((P, K), dtype=bool),
        centroids=np.zeros((P, K, 3)),
        rot_cov=np.tile(np.eye(3), (P, K, 1, 1)),
        trans_var=np.ones((P, K)),
        fit_residual=np.full(P, np.nan),
        support=np.zeros(P),
        valid_fraction=np.zeros(P),
        explained=np.full(P, np.nan),
        probe=[np.zeros((0, 3))] * P,
        first=np.zeros(P, dtype=np.int64),
    )
    parts = np.flatnonzero(present)
    Q = len(parts)
    if Q == 0:
        return replace(out, probe=tuple(out.probe)), present
    fit, samples = fit_part_pair_motions(
        points,
        flow,
        np.where(mask_all[parts], probs_pkn[parts], 0.0),
        max_points=cfg.max_fit_points,
        irls_iterations=cfg.irls_iterations,
        cauchy_scale=cfg.cauchy_scale,
        min_noise_m=cfg.min_noise_m,
        min_support=cfg.min_pair_support,
    )
    # Information of each fit (module doc, step 1).
    sigma2 = np.maximum(np.nan_to_num(fit.rms, nan=0.0) ** 2, cfg.min_noise_m**2) / 3.0
    n_eff = np.maximum(np.minimum(fit.support, cfg.max_effective_points), 1.0)
    C = fit.covariances
    lam = (n_eff / sigma2)[:, None, None] * (np.trace(C, axis1=1, axis2=2)[:, None, None] * np.eye(3) - C)

    fitted = fit.valid.reshape(Q, K)
    out.transforms[parts] = fit.transforms.reshape(Q, K, 4, 4)
    out.fitted[parts] = fitted
    out.centroids[parts] = fit.centroids.reshape(Q, K, 3)
    out.rot_cov[parts] = np.linalg.inv(lam + np.eye(3) / _MAX_ROT_VAR).reshape(Q, K, 3, 3)
    out.trans_var[parts] = (sigma2 / n_eff).reshape(Q, K)
    # Fraction of each part's weight its pair motion explains at the window's flow noise (the root's
    # residual of the same pair; the floor where the root was not fitted).
    rms = fit.rms.reshape(Q, K)
    root_row = np.flatnonzero(parts == root)
    noise = np.full(K, cfg.min_noise_m)
    if len(root_row):
        noise = np.fmax(np.nan_to_num(rms[root_row[0]], nan=cfg.min_noise_m), cfg.min_noise_m)
    tau2 = (cfg.cauchy_scale * np.tile(noise, Q)) ** 2
    w0 = samples.weights
    explained = (w0 * (fit.sq_residuals <= tau2[:, None])).sum(axis=1) / np.maximum(w0.sum(axis=1), 1e-300)
    stats = np.stack([fit.rms, fit.support, explained]).reshape(3, Q, K)
    residual, support, explained = _row_medians(stats, fitted)
    out.fit_residual[parts] = residual
    out.explained[parts] = explained
    out.support[parts] = np.nan_to_num(support, nan=0.0)
    out.valid_fraction[parts] = fitted.mean(axis=1)
    out.first[parts] = np.argmax(fitted, axis=1)
    for q, part in enumerate(parts):
        row = q * K + out.first[part]
        pts_first = samples.points[row, :, : samples.count[row]].T
        out.probe[part] = pts_first[:: max(1, len(pts_first) // _MOTION_PROBE_POINTS)]
    return replace(out, probe=tuple(out.probe)), present


def _with_pose_amounts(
    chained: dict[JointType, ModelFit], poses: dict[JointType, ModelFit]
) -> dict[JointType, ModelFit]:
    """``RefineConfig.lb_use="amounts"``: the chained fits (axis, origin, type selection) with the amounts
    (and their variance) of the long-baseline fit of the same type, its sign aligned with the chained axis."""
    out = dict(chained)
    for jt in (JointType.REVOLUTE, JointType.PRISMATIC):
        c, q = chained[jt], poses[jt]
        sign = 1.0 if float(c.axis @ q.axis) >= 0 else -1.0
        amounts = sign * q.amounts
        out[jt] = replace(c, amounts=amounts, step_amounts=np.diff(amounts), state_variance=q.state_variance)
    return out


def _row_medians(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(..., Q) median of each row's masked values of (..., Q, K) (mask (Q, K); NaN for a row without
    any): np.nanmedian's result, by one sort (np.nanmedian costs ~0.5 ms per call at these sizes)."""
    n = mask.sum(axis=1)
    v = np.sort(np.where(mask, values, np.inf), axis=-1)
    rows = np.arange(len(n))
    lo, hi = v[..., rows, np.maximum((n - 1) // 2, 0)], v[..., rows, np.minimum(n // 2, v.shape[-1] - 1)]
    return np.where(n > 0, (lo + hi) / 2.0, np.nan)


def _largest_displacement(model: ModelFit, pairs: PartPairs) -> float:
    """Largest displacement (m) of the part's probe points under ``model``, from their first frame."""
    return largest_displacement(model.motions(), pairs.probe, pairs.first)


def _joint_from_fit(
    child: int,
    parent: int,
    fits: dict[JointType, ModelFit],
    type_probs: np.ndarray,
    pairs: PartPairs,
    source: str,
    cfg: RefineConfig,
    chosen: JointType | None = None,
) -> JointEstimate:
    """JointEstimate of the fitted model ``chosen`` (default: the most probable type).

    confidence = P(type) x min(1, support / full_support_points) x fraction of fitted frame pairs.
    """
    best = JointType(int(np.argmax(type_probs))) if chosen is None else chosen
    fit = fits[best]
    support_factor = min(1.0, pairs.support / cfg.full_support_points)
    confidence = float(type_probs[best]) * support_factor * pairs.valid_fraction
    return JointEstimate(
        child=child,
        parent=parent,
        type=best,
        type_probs=np.asarray(type_probs, dtype=np.float64),
        axis=fit.axis,
        origin=fit.origin,
        amounts=fit.amounts,
        confidence=float(np.clip(confidence, 0.0, 1.0)),
        source=source,
        axis_cov=fit.axis_cov,
        origin_cov=fit.origin_cov,
        state_variance=float(fit.state_variance),
        fit_residual=pairs.fit_residual,
    )


def _unsupported_joint(child: int, parent: int, T: int) -> JointEstimate:
    """Documented result for a part with too few points to fit: STATIC, uniform type
    probabilities (the geometry knows nothing), confidence 0, NaN residual."""
    return JointEstimate(
        child=child,
        parent=parent,
        type=JointType.STATIC,
        type_probs=np.full(3, 1.0 / 3.0),
        axis=np.array([0.0, 0.0, 1.0]),
        origin=np.zeros(3),
        amounts=np.zeros(T),
        confidence=0.0,
        source="refined",
        fit_residual=float("nan"),
    )
