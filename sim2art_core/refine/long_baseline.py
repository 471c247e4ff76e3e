"""Long-baseline poses: each part's motion from frame 0 to every frame t, registered directly.

The pair fits (:mod:`sim2art_core.refine.rigid`) measure each part's motion between neighbouring
frames from the scene flow; chained, their errors accumulate (a random walk over the window). Here
the chained motion is only the initial guess: the part's frame-0 points are registered by robust ICP
(:mod:`sim2art_core.refine.icp`) against frame t's points, for every t at once, so each pose is
measured on its own and per-frame flow noise does not accumulate. Where the image flow is weak (a
plain, untextured front) the geometry decides: nothing pulls the ICP back towards the flow's guess,
and a pose whose registration does not hold (too few sources matched within the final gate, or a
large residual) is dropped (not fitted) rather than replaced by the guess.

Targets: every valid point of frame t (``RefineConfig.lb_targets = "all"``; a segmentation error at
frame t then does not remove the part's true points) or weighted by the part's probability at
frame t ("part"). The distance gate shrinks over the iterations, so points of other parts near the
prediction only matter in the first rounds.

Poses are then taken relative to the parent (:func:`relative_poses`): the root's own long-baseline
pose (camera-pose error common to all parts) and, for a parent that is not the root, its fitted
joint motion, are undone; the joint models are fitted to these poses
(:func:`sim2art_core.refine.joint_models.fit_joint_models_batch` with ``poses=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.geometry import invert_transform
from sim2art_core.refine.config import RefineConfig
from sim2art_core.refine.icp import FrameTree, robust_icp
from sim2art_core.refine.joint_models import StepData
from sim2art_core.refine.so3 import rotvecs_from_matrices, skew

#: Variance caps (rad^2, m^2) of a pose direction the registration does not observe at all.
_MAX_ROT_VAR = np.pi**2
_MAX_DISP_VAR = 1.0


@dataclass(frozen=True)
class PartPoses:
    """Long-baseline poses of P parts (window frame); rows of parts not registered are identity
    with ``available`` False.

    Attributes:
        transforms: (P, T, 4, 4) motion of the part from frame 0 to frame t (world frame).
        fitted: (P, T) bool, the pose at t was registered (frame 0: True where available).
        rot_cov: (P, T, 3, 3) rad^2, covariance of the pose's rotation vector.
        disp_cov: (P, T, 3, 3) m^2, covariance of the position of ``pivots``.
        pivots: (P, T, 3) m, the part's frame-0 centroid carried to frame t.
        centroid0: (P, 3) m, the part's frame-0 centroid (prior-weighted sources).
        available: (P,) bool, the part had enough points at frame 0 to be registered.
        residual: (P,) m, median point-to-plane RMS of the registered poses (NaN: none).
        disagreement: (P,) median squared Mahalanobis distance (6 dof) between the registered poses
            and the chained flow guess (NaN: none registered).
    """

    transforms: np.ndarray
    fitted: np.ndarray
    rot_cov: np.ndarray
    disp_cov: np.ndarray
    pivots: np.ndarray
    centroid0: np.ndarray
    available: np.ndarray
    residual: np.ndarray
    disagreement: np.ndarray


@dataclass(frozen=True)
class ChainedGuess:
    """The chained pair fits of P parts: the initial guess and its accumulated uncertainty.

    Attributes:
        transforms: (P, T, 4, 4) chained motion from frame 0.
        pair_rot_cov: (P, K, 3, 3) rad^2 covariance of each pair's rotation vector.
        pair_trans_var: (P, K) m^2 per-coordinate variance of each pair's centroid motion.
        pair_centroids: (P, K, 3) m, each pair's centroid at its first frame.
        pair_fitted: (P, K) bool.
    """

    transforms: np.ndarray
    pair_rot_cov: np.ndarray
    pair_trans_var: np.ndarray
    pair_centroids: np.ndarray
    pair_fitted: np.ndarray


def long_baseline_poses(
    points: np.ndarray,
    valid: np.ndarray,
    probs: np.ndarray,
    parts: np.ndarray,
    chained: ChainedGuess,
    cfg: RefineConfig,
    tree: FrameTree | None = None,
) -> PartPoses:
    """Register the frame-0 points of ``parts`` against every later frame (see the module doc).

    Args:
        points: (T, N, 3) m window points; valid: (T, N).
        probs: (T, N, P) part probabilities.
        parts: (Q,) int labels to register (the others stay unavailable).
        chained: the chained pair fits (initial guess and its uncertainty).
        cfg: ``min_point_prob``, ``min_pair_support``, ``cauchy_scale`` and the ``lb_*`` fields.
        tree: the window's :class:`FrameTree` (built when None).

    Returns:
        :class:`PartPoses` of all P parts. A part with fewer than ``min_pair_support`` summed
        weight at frame 0, or registered in fewer than ``lb_min_registered_fraction`` of the frames,
        is unavailable (the caller falls back to the chained fit). For an
        available part every frame has a pose (``fitted`` True): where the registration held, its
        information-weighted combination with the chained guess - the guess's covariance inflated
        by (d^2 / ``lb_consistency_chi2``)^2 when their Mahalanobis distance d^2 exceeds that (the
        flow is wrong: the registration is not pulled back to it); where it did not hold, the guess.
    """
    guess = chained.transforms
    T, N = valid.shape
    P = probs.shape[2]
    out_T = np.tile(np.eye(4), (P, T, 1, 1))
    fitted = np.zeros((P, T), dtype=bool)
    rot_cov = np.tile(np.eye(3) * _MAX_ROT_VAR, (P, T, 1, 1))
    disp_cov = np.tile(np.eye(3) * _MAX_DISP_VAR, (P, T, 1, 1))
    pivots = np.zeros((P, T, 3))
    centroid0 = np.zeros((P, 3))
    available = np.zeros(P, dtype=bool)
    residual = np.full(P, np.nan)
    disagreement = np.full(P, np.nan)
    result = PartPoses(out_T, fitted, rot_cov, disp_cov, pivots, centroid0, available, residual, disagreement)
    if T < 2:
        return result
    pts0 = np.asarray(points[0], dtype=np.float64)
    ok0 = np.asarray(valid[0], dtype=bool) & np.isfinite(pts0).all(axis=-1)
    M = cfg.lb_max_points
    srcs, weights, keep = [], [], []
    for p in np.asarray(parts, dtype=np.int64):
        w = np.where(ok0 & (probs[0, :, p] >= max(cfg.min_point_prob, cfg.lb_min_source_prob)), probs[0, :, p], 0.0)
        idx = np.flatnonzero(w > 0)
        if w.sum() < cfg.min_pair_support or len(idx) < 3:
            continue
        idx = idx[(np.arange(min(M, len(idx))) * len(idx)) // min(M, len(idx))]  # evenly spaced
        s = np.zeros((M, 3))
        ws = np.zeros(M)
        s[: len(idx)], ws[: len(idx)] = pts0[idx], w[idx]
        srcs.append(s)
        weights.append(ws)
        keep.append(int(p))
    if not keep:
        return result
    tree = tree if tree is not None else FrameTree(points, valid)
    Q, K = len(keep), T - 1
    keep_a = np.array(keep)
    src = np.stack(srcs)
    w_src = np.stack(weights)
    normals, nb_dist = tree.normals(np.zeros(Q, dtype=np.int64), src, k=cfg.lb_normal_neighbours)
    # Points are re-sampled in every frame, so a correct match lies up to about the sampling spacing
    # away: the final gate is at least twice each part's median nearest-neighbour distance.
    spacing = np.array([np.median(d[np.isfinite(d)]) if np.isfinite(d).any() else 0.0
                        for d in nb_dist[:, :, 1] * np.where(w_src > 0, 1.0, np.inf)])  # fmt: skip
    gate_end = np.maximum(cfg.lb_gate_end_m, cfg.lb_gate_spacing * spacing)
    gate_start = np.maximum(cfg.lb_gate_start_m, gate_end)
    B = Q * K
    frames = np.tile(np.arange(1, T), Q)
    groups = np.repeat(np.arange(Q), K)
    tw = None
    if cfg.lb_targets == "part":
        tw = np.ascontiguousarray(np.moveaxis(probs[:, :, keep_a], 2, 0).reshape(Q, T * N), dtype=np.float64)
    res = robust_icp(
        tree,
        frames,
        np.repeat(src, K, axis=0),
        np.repeat(normals, K, axis=0),
        np.repeat(w_src, K, axis=0),
        guess[keep_a][:, 1:].reshape(B, 4, 4),
        iterations=cfg.lb_iterations,
        gate_start_m=np.repeat(gate_start, K),
        gate_end_m=np.repeat(gate_end, K),
        point_weight=cfg.lb_point_weight,
        cauchy_scale=cfg.cauchy_scale,
        min_noise_m=cfg.lb_noise_floor_m,
        max_effective_points=cfg.lb_effective_points,
        target_weights=tw,
        groups=groups if tw is not None else None,
    )
    good = (res.inlier_fraction >= cfg.lb_min_inlier_fraction) & np.isfinite(res.rms)
    good &= res.rms <= np.maximum(cfg.lb_max_residual_m, cfg.lb_residual_spacing * np.repeat(spacing, K))
    caps = np.diag(np.r_[np.full(3, 1.0 / _MAX_ROT_VAR), np.full(3, 1.0 / _MAX_DISP_VAR)])
    c0 = (w_src[..., None] * src).sum(axis=1) / w_src.sum(axis=1)[:, None]
    # The chained guess as a measurement: its covariance (random walk of the pair errors, at the pivot).
    g_cov = _chain_covariance(chained, keep_a, c0).reshape(B, 6, 6)
    X_g = guess[keep_a][:, 1:].reshape(B, 4, 4)
    c0_b = np.repeat(c0, K, axis=0)
    p_g = (X_g[:, :3, :3] @ c0_b[:, :, None])[:, :, 0] + X_g[:, :3, 3]
    delta = np.concatenate(
        [rotvecs_from_matrices(res.transforms[:, :3, :3] @ np.swapaxes(X_g[:, :3, :3], 1, 2)), res.pivot - p_g], axis=1
    )
    i_cov = np.linalg.inv(res.information + caps)
    d2 = (delta[:, None] @ np.linalg.solve(g_cov + i_cov, delta[:, :, None]))[:, 0, 0]
    # A guess farther than lb_consistency_chi2 from the registration (in the directions the
    # registration pins) is taken as wrong: its covariance is inflated by (d2 / chi2)^2, so it keeps
    # no pull there and only fills the directions the registration leaves free.
    inflate = np.maximum(1.0, d2 / cfg.lb_consistency_chi2) ** 2
    g_info = np.linalg.inv(g_cov * inflate[:, None, None])
    f_cov = np.linalg.inv(g_info + res.information + caps)
    d_f = (f_cov @ (res.information @ delta[:, :, None]))[:, :, 0]
    X_f = np.tile(np.eye(4), (B, 1, 1))
    X_f[:, :3, :3] = Rotation.from_rotvec(d_f[:, :3]).as_matrix() @ X_g[:, :3, :3]
    X_f[:, :3, 3] = p_g + d_f[:, 3:] - (X_f[:, :3, :3] @ c0_b[:, :, None])[:, :, 0]
    X = np.where(good[:, None, None], X_f, X_g)
    cov = np.where(good[:, None, None], f_cov, g_cov)
    out_T[keep_a, 1:] = X.reshape(Q, K, 4, 4)
    fitted[keep_a] = True
    rot_cov[keep_a, 0] = 0.0
    disp_cov[keep_a, 0] = 0.0
    rot_cov[keep_a, 1:] = cov[:, :3, :3].reshape(Q, K, 3, 3)
    disp_cov[keep_a, 1:] = cov[:, 3:, 3:].reshape(Q, K, 3, 3)
    pivots[keep_a, 0] = c0
    pivots[keep_a, 1:] = ((X[:, :3, :3] @ c0_b[:, :, None])[:, :, 0] + X[:, :3, 3]).reshape(Q, K, 3)
    centroid0[keep_a] = c0
    # A part whose registration failed in many frames (a guess too far off, a part too thin or too
    # small to register) keeps the chained fit: its few registered poses may be wrong local minima.
    available[keep_a] = good.reshape(Q, K).mean(axis=1) >= cfg.lb_min_registered_fraction
    # Where the flow agrees with the geometry (median Mahalanobis distance of the registered poses to
    # the chained guess <= lb_switch_chi2) the chained fit is kept: it is exact on exact flow and
    # precise on textured surfaces, where the registration only adds its own sampling noise.
    d2_med = _masked_median_rows(np.where(good, d2, np.inf).reshape(Q, K), good.reshape(Q, K))
    disagreement[keep_a] = d2_med
    available[keep_a] &= d2_med > cfg.lb_switch_chi2
    rms = np.where(good, res.rms, np.nan).reshape(Q, K)
    for q, p in enumerate(keep):
        if np.isfinite(rms[q]).any():
            residual[p] = float(np.median(rms[q][np.isfinite(rms[q])]))
    return result


def _masked_median_rows(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(Q,) median of each row's masked values (NaN for a row without any)."""
    out = np.full(len(values), np.nan)
    for q in range(len(values)):
        if mask[q].any():
            out[q] = float(np.median(values[q][mask[q]]))
    return out


def _chain_covariance(chained: ChainedGuess, parts: np.ndarray, c0: np.ndarray) -> np.ndarray:
    """(Q, K, 6, 6) covariance (rotation vector, pivot position) of the chained guess at frames
    1..T-1 of ``parts``: the pair errors add up (random walk); a pair's rotation error moves the
    pivot over its lever from the pair's centroid. Unfitted pairs (identity steps) add the caps."""
    G = chained.transforms[parts]  # (Q, T, 4, 4)
    piv = (G[:, :-1, :3, :3] @ c0[:, None, :, None])[..., 0] + G[:, :-1, :3, 3]  # pivot at frame k
    fit = chained.pair_fitted[parts]
    rc = np.where(fit[..., None, None], chained.pair_rot_cov[parts], np.eye(3) * 0.01)
    tv = np.where(fit, chained.pair_trans_var[parts], 1e-4)
    L = skew(piv - chained.pair_centroids[parts])
    step = np.zeros((*fit.shape, 6, 6))
    step[..., :3, :3] = rc
    step[..., 3:, 3:] = tv[..., None, None] * np.eye(3) + L @ rc @ np.swapaxes(L, -1, -2)
    step[..., :3, 3:] = rc @ np.swapaxes(L, -1, -2)
    step[..., 3:, :3] = L @ rc
    return np.cumsum(step, axis=1) + np.eye(6) * 1e-12


def relative_poses(
    child: PartPoses, parent_frames: np.ndarray, root: PartPoses | None, root_row: int | None
) -> StepData:
    """The children's poses relative to their parents' frame-0 pose, as pose data for the joint models.

    Batched over B children (``child``'s rows).

    Args:
        child: the children's poses (B rows).
        parent_frames: (B, T, 4, 4) each parent's pose from frame 0 (root pose x the parent's joint
            motion): rel_t = F_t^-1 X_t.
        root: the poses whose row ``root_row`` is the root's (its covariance is added: a
            camera-pose error is common to all parts); None: the root is taken as exact.

    Returns:
        :class:`StepData` with K = T - 1 entries (frames 1..T-1): ``steps`` the relative poses,
        ``centroids`` the frame-0 centroid, informations from the covariances (0 where not fitted).
    """
    B, T = child.fitted.shape
    X = child.transforms[:, 1:]
    F = parent_frames[:, 1:]
    S = invert_transform(F) @ X
    rc = child.rot_cov[:, 1:]
    dc = child.disp_cov[:, 1:]
    fitted = child.fitted[:, 1:].copy()
    if root is not None and root_row is not None and root.available[root_row]:
        r_rot = root.rot_cov[root_row, 1:]
        lever = skew(child.pivots[:, 1:] - root.pivots[root_row, 1:])
        rc = rc + r_rot
        dc = dc + root.disp_cov[root_row, 1:] + lever @ r_rot @ np.swapaxes(lever, -1, -2)
        fitted &= root.fitted[root_row, 1:]
    RfT = np.swapaxes(F[..., :3, :3], -1, -2)
    Rf = F[..., :3, :3]
    c0 = np.broadcast_to(child.centroid0[:, None], (B, T - 1, 3)).copy()
    return StepData.from_covariances(S, c0, RfT @ rc @ Rf, RfT @ dc @ Rf, fitted, child.centroid0.copy())


def rows(poses: PartPoses, parts: np.ndarray) -> PartPoses:
    """The rows ``parts`` (int array) of ``poses``, in that order."""
    return PartPoses(**{f: getattr(poses, f)[parts] for f in PartPoses.__dataclass_fields__})
