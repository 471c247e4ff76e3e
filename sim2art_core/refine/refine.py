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
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import invert_transform
from sim2art_core.refine.config import RefineConfig, RefineResult
from sim2art_core.refine.joint_models import (
    ModelFit,
    StepData,
    fit_joint_models,
    type_probabilities,
)
from sim2art_core.refine.rigid import fit_pair_motions_cm
from sim2art_core.types import JointType
from sim2art_core.window import Window

#: Points per part used to measure the largest displacement (observed motion).
_MOTION_PROBE_POINTS = 128
#: A single step cannot rotate by more than pi: caps the rotation variance of unpinned directions.
_MAX_ROT_VAR = np.pi**2


@dataclass(frozen=True)
class PartPairs:
    """Measured frame-to-frame motion of one part (window frame), K = T - 1 pairs.

    Attributes:
        transforms: (K, 4, 4) P_t, motion of the part from frame t to t+1 (identity where not fitted).
        fitted: (K,) the pair could be fitted.
        centroids: (K, 3) m, centroid of the part's points at frame t.
        rot_cov: (K, 3, 3) rad^2, covariance of the fitted rotation vector.
        trans_var: (K,) m^2, per-coordinate variance of the motion of the centroid.
        fit_residual: m, median robust RMS residual of the fitted pairs (NaN if none).
        support: median summed weight of the fitted pairs.
        valid_fraction: fraction of pairs fitted.
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
    probe: np.ndarray
    first: int


def refine_joints(
    window: Window,
    part_probs: np.ndarray,
    root: int,
    network_joints: Sequence[JointEstimate] = (),
    cfg: RefineConfig = RefineConfig(),  # noqa: B008 - frozen, immutable default
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

    Returns:
        :class:`RefineResult` with one joint per non-root part (ordered by label).

    Raises:
        ValueError: inconsistent shapes, non-finite probabilities or a bad root label.
    """
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

    points64 = window.points.reshape(T * N, 3).astype(np.float64)
    flow64 = window.flow.reshape(T * N, 3).astype(np.float64)
    pairs = _measure_parts(points64, flow64, window.valid, probs, cfg)

    root_pairs = pairs[root] if _supported(pairs[root], cfg) else None
    root_chain = root_motion_chain(root_pairs, cfg) if root_pairs is not None else np.tile(np.eye(4), (T, 1, 1))
    fits_by_part: dict[int, dict[JointType, ModelFit]] = {}
    chosen: dict[int, ModelFit] = {}
    refined: dict[int, JointEstimate] = {}
    observed = 0.0
    articulation = False
    for p in _topological(parents, root):
        parent = parents[p]
        mp = pairs[p]
        if not _supported(mp, cfg):
            refined[p] = _unsupported_joint(p, parent, T)
            continue
        parent_pairs = pairs[parent] if _supported(pairs[parent], cfg) else None
        frame = root_chain
        if parent != root and parent in chosen:
            frame = root_chain @ chosen[parent].motions()
        steps = relative_steps(mp, parent_pairs, frame[:-1])
        fits = fit_joint_models(steps)
        geo = _joint_from_fit(p, parent, fits, type_probabilities(fits), mp, "refined", cfg)
        fits_by_part[p], chosen[p], refined[p] = fits, fits[geo.type], geo
        moving = min((fits[JointType.REVOLUTE], fits[JointType.PRISMATIC]), key=lambda f: f.bic)
        observed = max(observed, _largest_displacement(moving, mp))
        articulation = articulation or geo.type != JointType.STATIC
    order = [p for p in range(P) if p != root]
    fused = [fuse_joint(refined[p], fits_by_part.get(p), net_by_child.get(p), pairs[p], cfg) for p in order]
    return RefineResult(
        joints=tuple(fused),
        refined=tuple(refined[p] for p in order),
        observed_motion=float(observed),
        articulation_observed=articulation,
    )


def fuse_joint(
    refined: JointEstimate,
    fits: dict[JointType, ModelFit] | None,
    network: JointEstimate | None,
    pairs: PartPairs | None,
    cfg: RefineConfig,
) -> JointEstimate:
    """The fusion rule (cfg.fusion):

    * "network": the network's joint when there is one, else the refined joint.
    * "refined": the refined joint when the part is supported, else the network's.
    * "gate" (default): the network's joint unless the fit is trustworthy (part supported,
      median pair residual <= ``max_fit_residual_m``, refined confidence >=
      ``min_refined_confidence``). When trustworthy, the type probabilities are the normalised
      product of the geometric (BIC) and network probabilities, and the joint is the closed-form
      fit of the most probable type (source "fused"). If that type is STATIC - the geometry saw no
      motion - the network's joint is kept when the network predicts a movable joint (it can know
      the joint from shape alone).
    """
    if network is None:
        return refined
    if fits is None or pairs is None:  # the part was too small to fit: the geometry knows nothing
        return network
    if cfg.fusion == "network":
        return network
    if cfg.fusion == "refined":
        return refined
    trustworthy = pairs.fit_residual <= cfg.max_fit_residual_m and refined.confidence >= cfg.min_refined_confidence
    if not trustworthy:
        return network
    net_p = np.clip(np.asarray(network.type_probs, dtype=np.float64), 1e-6, None)
    p = np.asarray(refined.type_probs) * net_p
    p = p / p.sum()
    best = JointType(int(np.argmax(p)))
    if best == JointType.STATIC and network.type != JointType.STATIC:
        return network
    return _joint_from_fit(refined.child, refined.parent, fits, p, pairs, "fused", cfg, chosen=best)


def relative_steps(child: PartPairs, parent: PartPairs | None, parent_pose: np.ndarray) -> StepData:
    """The child's steps relative to its parent, with their information (see the module doc).

    Args:
        child: the child's pair fits.
        parent: the parent's pair fits; None: the parent is taken as static (it could not be fitted).
        parent_pose: (K, 4, 4) the parent's pose at frames 0..K-1 relative to frame 0 (window frame):
            the steps are expressed in the parent's frame-0 pose, where the joint is fixed.
    """
    K = len(child.transforms)
    eye = np.tile(np.eye(4), (K, 1, 1))
    P_par = parent.transforms if parent is not None else eye
    cov_par = parent.rot_cov if parent is not None else np.zeros((K, 3, 3))
    var_par = parent.trans_var if parent is not None else np.zeros(K)
    c_par = parent.centroids if parent is not None else child.centroids
    fitted = child.fitted & (parent.fitted if parent is not None else True)

    S = invert_transform(P_par) @ child.transforms
    d = child.centroids - c_par
    Dx = _skew(d)
    disp_cov = (child.trans_var + var_par)[:, None, None] * np.eye(3) + Dx @ cov_par @ np.swapaxes(Dx, 1, 2)
    # Into the parent's frame-0 pose: S' = G^-1 S G, x' = G^-1 x, covariances rotated by R_G^T.
    Ginv = invert_transform(parent_pose)
    S = Ginv @ S @ parent_pose
    x = (Ginv[:, :3, :3] @ child.centroids[:, :, None])[:, :, 0] + Ginv[:, :3, 3]
    Rg = parent_pose[:, :3, :3]
    rot_cov = np.swapaxes(Rg, 1, 2) @ (child.rot_cov + cov_par) @ Rg
    disp_cov = np.swapaxes(Rg, 1, 2) @ disp_cov @ Rg
    rot_info = np.linalg.inv(rot_cov + np.eye(3) * 1e-12)
    disp_info = np.linalg.inv(disp_cov + np.eye(3) * 1e-18)
    rot_info[~fitted] = 0.0
    disp_info[~fitted] = 0.0
    S[~fitted] = np.eye(4)
    first = int(np.flatnonzero(fitted)[0]) if fitted.any() else 0
    return StepData(
        steps=S,
        rotvecs=Rotation.from_matrix(S[:, :3, :3]).as_rotvec(),
        centroids=x,
        rot_info=rot_info,
        disp_info=disp_info,
        fitted=fitted,
        origin_ref=x[first].copy(),
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
    w = Rotation.from_matrix(root.transforms[:, :3, :3]).as_rotvec()
    w_map = np.linalg.solve(info + np.eye(3) / cfg.root_step_prior_rad**2, (info @ w[:, :, None]))[:, :, 0]
    R = Rotation.from_rotvec(w_map).as_matrix()
    c = root.centroids
    c_to = (root.transforms[:, :3, :3] @ c[:, :, None])[:, :, 0] + root.transforms[:, :3, 3]
    steps = np.tile(np.eye(4), (K, 1, 1))
    steps[:, :3, :3] = R
    steps[:, :3, 3] = c_to - (R @ c[:, :, None])[:, :, 0]
    steps[~root.fitted] = np.eye(4)
    chain = np.tile(np.eye(4), (K + 1, 1, 1))
    for t in range(K):
        chain[t + 1] = steps[t] @ chain[t]
    return chain


def _skew(v: np.ndarray) -> np.ndarray:
    """(K, 3, 3) cross-product matrices of (K, 3) vectors."""
    z = np.zeros(len(v))
    return np.stack(
        [np.stack([z, -v[:, 2], v[:, 1]], 1), np.stack([v[:, 2], z, -v[:, 0]], 1), np.stack([-v[:, 1], v[:, 0], z], 1)],
        axis=1,
    )


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


def _topological(parents: dict[int, int], root: int) -> list[int]:
    """Non-root parts, every parent before its children."""
    depth = {}
    for p in parents:
        d, q = 0, p
        while q != root:
            q, d = parents[q], d + 1
        depth[p] = d
    return sorted(parents, key=lambda p: (depth[p], p))


def _supported(m: PartPairs | None, cfg: RefineConfig) -> bool:
    return m is not None and m.valid_fraction >= cfg.min_valid_pair_fraction


def _measure_parts(
    points: np.ndarray, flow: np.ndarray, valid: np.ndarray, probs: np.ndarray, cfg: RefineConfig
) -> list[PartPairs | None]:
    """Pair fits of every part (None: the part has no weighted point).

    points, flow: (T * N, 3) float64 (the window's, flattened); valid: (T, N); probs: (T, N, P).
    All parts' frame pairs are solved in one batch: NumPy's per-call overhead, not arithmetic,
    dominates at these sizes.
    """
    T, N = valid.shape
    K = T - 1
    P = probs.shape[2]
    probs_p = np.moveaxis(probs[:-1], 2, 0)  # (P, K, N): the last frame has no pair to fit
    mask_all = valid[None, :-1] & (probs_p >= cfg.min_point_prob) & (probs_p > 0)
    present = np.flatnonzero(mask_all.reshape(P, -1).any(axis=1))
    out: list[PartPairs | None] = [None] * P
    if len(present) == 0:
        return out
    Q = len(present)
    mask = mask_all[present]
    w = np.where(mask, probs_p[present], 0.0).astype(np.float64)
    # Gather each part's points per frame (padded with zero weight) so the cost scales with the
    # parts' sizes, not with P x N; parts larger than max_fit_points keep evenly spaced points.
    count = mask.sum(axis=2)  # (Q, K)
    width = int(min(count.max(), cfg.max_fit_points))
    order = np.argsort(~mask, axis=2, kind="stable")  # the part's points first, in index order
    j = np.arange(width)
    pos = np.where(count[..., None] > width, (j * count[..., None]) // width, j)
    idx = np.take_along_axis(order, np.minimum(pos, N - 1), axis=2)  # (Q, K, W)
    w = np.where(j < count[..., None], np.take_along_axis(w, idx, axis=2), 0.0)
    rows = (idx + N * np.arange(K)[None, :, None]).reshape(-1)
    # Coordinate-major (Q*K, 3, W): batched 3x3 @ 3xW products are fast in NumPy.
    pts = np.ascontiguousarray(np.swapaxes(points[rows].reshape(Q * K, width, 3), 1, 2))
    flw = np.ascontiguousarray(np.swapaxes(flow[rows].reshape(Q * K, width, 3), 1, 2))
    fit = fit_pair_motions_cm(
        pts,
        flw,
        w.reshape(Q * K, width),
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
    rot_cov = np.linalg.inv(lam + np.eye(3) / _MAX_ROT_VAR)
    trans_var = sigma2 / n_eff

    fitted_all = fit.valid.reshape(Q, K)
    any_fitted = fitted_all.any(axis=1)
    firsts = np.argmax(fitted_all, axis=1)
    with warnings.catch_warnings():  # parts with no fitted pair: all-NaN rows, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        residuals = np.nanmedian(np.where(fitted_all, fit.rms.reshape(Q, K), np.nan), axis=1)
        supports = np.nanmedian(np.where(fitted_all, fit.support.reshape(Q, K), np.nan), axis=1)
    for q, part in enumerate(present):
        ok = fitted_all[q]
        sl = slice(q * K, (q + 1) * K)
        first = int(firsts[q])
        pts_first = np.swapaxes(pts[q * K + first], 0, 1)[w[q, first] > 0]
        probe = pts_first[:: max(1, len(pts_first) // _MOTION_PROBE_POINTS)]
        out[part] = PartPairs(
            transforms=fit.transforms[sl],
            fitted=ok,
            centroids=fit.centroids[sl],
            rot_cov=rot_cov[sl],
            trans_var=trans_var[sl],
            fit_residual=float(residuals[q]) if any_fitted[q] else float("nan"),
            support=float(supports[q]) if any_fitted[q] else 0.0,
            valid_fraction=float(ok.mean()),
            probe=probe,
            first=first,
        )
    return out


def _largest_displacement(model: ModelFit, pairs: PartPairs) -> float:
    """Largest displacement (m) of the part's probe points under ``model``, from their first frame."""
    if len(pairs.probe) == 0:
        return 0.0
    G = model.motions()
    G = G @ invert_transform(G[pairs.first])
    d = G[:, :3, :3] @ pairs.probe.T + G[:, :3, 3:] - pairs.probe.T[None]  # (T, 3, M)
    return float(np.sqrt(np.max(np.sum(d * d, axis=1))))


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
