"""Geometric joint refinement: closed-form joints from segmentation + scene flow (issue 8).

Algorithm (details and the fusion rule: docs/EVALUATION.md):

1. Per part p and frame pair t -> t+1 (t = 0..T-2): robust weighted rigid fit of the
   correspondences (x, x + flow) of frame t, weights = part probability (below
   ``min_point_prob``: 0) x validity; Cauchy IRLS (:mod:`sim2art_core.refine.rigid`).
2. The pair motions are chained to M_p(t) (frame 0 -> t, window frame) and made relative to the
   parent part: J_p(t) = M_parent(t)^-1 M_p(t), so camera-pose errors common to all parts cancel.
3. Static / prismatic / revolute models are fitted to J_p in closed form and selected by BIC with
   a per-frame noise level from the pair-fit residuals (:mod:`sim2art_core.refine.joint_models`).
4. Fusion with the network's joint of the same part (:func:`fuse_joint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import invert_transform
from sim2art_core.refine.config import RefineConfig, RefineResult
from sim2art_core.refine.joint_models import ModelFit, ReferenceGeometry, fit_joint_models, type_probabilities
from sim2art_core.refine.rigid import fit_pair_motions_cm
from sim2art_core.types import JointType
from sim2art_core.window import Window

#: Reference points per part used to measure the largest displacement (observed motion).
_MOTION_PROBE_POINTS = 128


@dataclass(frozen=True)
class PartMotion:
    """Measured motion of one part over the window (window frame).

    Attributes:
        chain: (T, 4, 4) M(t), motion of the part from frame 0 to frame t (M(0) = I).
        pair_noise: (T-1,) m^2, msd variance each pair fit adds to the chain.
        fit_residual: m, median robust RMS residual of the valid pair fits.
        support: median summed weight of the valid pair fits.
        valid_fraction: fraction of frame pairs that could be fitted.
        probe: (M, 3) frame-0 positions of up to 128 of the part's points.
        reference: centroid and covariance of all its points mapped to frame 0.
        mean_prob: mean part probability of the points assigned to it.
    """

    chain: np.ndarray
    pair_noise: np.ndarray
    fit_residual: float
    support: float
    valid_fraction: float
    probe: np.ndarray
    reference: ReferenceGeometry
    mean_prob: float


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
        network_joints: the network's joints (child = part label); may be empty, then the result
            is purely geometric.
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

    # Flat float64 copies made once for all parts; each part gathers its rows from them.
    points64 = window.points.reshape(T * N, 3).astype(np.float64)
    flow64 = window.flow.reshape(T * N, 3).astype(np.float64)
    motions = _measure_part_motions(points64, flow64, window.valid, probs, cfg)
    identity_motion = _static_motion(T)
    root_motion = motions[root] if _supported(motions[root], cfg) else identity_motion

    refined: list[JointEstimate] = []
    fused: list[JointEstimate] = []
    observed = 0.0
    articulation = False
    for p in range(P):
        if p == root:
            continue
        net = net_by_child.get(p)
        parent = net.parent if net is not None and 0 <= net.parent < P and net.parent != p else root
        motion = motions[p]
        if not _supported(motion, cfg):
            geo, fits = _unsupported_joint(p, parent, T), None
        else:
            parent_motion = motions[parent] if parent != root and _supported(motions[parent], cfg) else root_motion
            J = invert_transform(parent_motion.chain) @ motion.chain
            sigma2 = cfg.min_noise_m**2 + np.concatenate(
                [[0.0], np.cumsum(motion.pair_noise + parent_motion.pair_noise)]
            )
            fits = fit_joint_models(J, motion.reference, sigma2)
            geo = _joint_from_fit(p, parent, fits, type_probabilities(fits), motion, "refined", cfg)
            observed = max(observed, _largest_displacement(J, motion.probe))
            articulation = articulation or geo.type != JointType.STATIC
        refined.append(geo)
        fused.append(fuse_joint(geo, fits, net, motion, cfg))
    return RefineResult(
        joints=tuple(fused), refined=tuple(refined), observed_motion=float(observed), articulation_observed=articulation
    )


def fuse_joint(
    refined: JointEstimate,
    fits: dict[JointType, ModelFit] | None,
    network: JointEstimate | None,
    motion: PartMotion,
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
    if fits is None:  # the part was too small to fit: the geometry knows nothing
        return network
    if cfg.fusion == "network":
        return network
    if cfg.fusion == "refined":
        return refined
    trustworthy = motion.fit_residual <= cfg.max_fit_residual_m and refined.confidence >= cfg.min_refined_confidence
    if not trustworthy:
        return network
    net_p = np.clip(np.asarray(network.type_probs, dtype=np.float64), 1e-6, None)
    p = np.asarray(refined.type_probs) * net_p
    p = p / p.sum()
    best = JointType(int(np.argmax(p)))
    if best == JointType.STATIC and network.type != JointType.STATIC:
        return network
    return _joint_from_fit(refined.child, refined.parent, fits, p, motion, "fused", cfg, chosen=best)


def _supported(m: PartMotion | None, cfg: RefineConfig) -> bool:
    return m is not None and m.valid_fraction >= cfg.min_valid_pair_fraction


def _static_motion(T: int) -> PartMotion:
    return PartMotion(
        chain=np.tile(np.eye(4), (T, 1, 1)),
        pair_noise=np.zeros(T - 1),
        fit_residual=0.0,
        support=0.0,
        valid_fraction=1.0,
        probe=np.zeros((0, 3)),
        reference=ReferenceGeometry(np.zeros(3), np.zeros((3, 3))),
        mean_prob=1.0,
    )


def _measure_part_motions(
    points: np.ndarray, flow: np.ndarray, valid: np.ndarray, probs: np.ndarray, cfg: RefineConfig
) -> list[PartMotion | None]:
    """Pair fits, chains and reference geometry of every part (None: the part has no weighted point).

    points, flow: (T * N, 3) float64 (the window's, flattened); valid: (T, N); probs: (T, N, P).
    All parts' frame pairs are solved in one batch: NumPy's per-call overhead, not arithmetic,
    dominates at these sizes.
    """
    T, N = valid.shape
    P = probs.shape[2]
    probs_p = np.moveaxis(probs, 2, 0)  # (P, T, N)
    w_all = np.where(valid[None] & (probs_p >= cfg.min_point_prob), probs_p, 0.0)
    present = np.flatnonzero(np.any(w_all[:, :-1] > 0, axis=(1, 2)))
    out: list[PartMotion | None] = [None] * P
    if len(present) == 0:
        return out
    Q = len(present)
    w = w_all[present].astype(np.float64)
    mask = w > 0
    # Gather each part's points per frame (padded with zero weight) so the cost scales with the
    # parts' sizes, not with P x N; parts larger than max_fit_points keep evenly spaced points.
    count = mask.sum(axis=2)  # (Q, T)
    width = int(min(count.max(), cfg.max_fit_points))
    order = np.argsort(~mask, axis=2, kind="stable")  # the part's points first, in index order
    j = np.arange(width)
    pos = np.where(count[..., None] > width, (j * count[..., None]) // width, j)
    idx = np.take_along_axis(order, np.minimum(pos, N - 1), axis=2)  # (Q, T, W)
    w = np.where(j < count[..., None], np.take_along_axis(w, idx, axis=2), 0.0)
    rows = idx + N * np.arange(T)[None, :, None]
    # Coordinate-major (Q, T, 3, W): batched 3x3 @ 3xW products are fast in NumPy.
    pts = np.ascontiguousarray(np.swapaxes(points[rows], 2, 3))
    flw = np.ascontiguousarray(np.swapaxes(flow[rows[:, :-1]], 2, 3))
    wg = w
    K = T - 1
    pairs = fit_pair_motions_cm(
        pts[:, :-1].reshape(Q * K, 3, width),
        flw.reshape(Q * K, 3, width),
        wg[:, :-1].reshape(Q * K, width),
        irls_iterations=cfg.irls_iterations,
        cauchy_scale=cfg.cauchy_scale,
        min_noise_m=cfg.min_noise_m,
        min_support=cfg.min_pair_support,
    )
    transforms = pairs.transforms.reshape(Q, K, 4, 4)
    rms = pairs.rms.reshape(Q, K)
    support = pairs.support.reshape(Q, K)
    valid_pairs = pairs.valid.reshape(Q, K)
    # Msd variance a pair fit adds: 2 rho^2 / n for a 6-parameter fit of n points with RMS residual rho
    # (n capped: flow errors of neighbouring points are correlated).
    noise_all = 2.0 * rms**2 / np.maximum(np.minimum(support, cfg.max_effective_points), 1.0)
    chains = np.tile(np.eye(4), (Q, T, 1, 1))
    for q, part in enumerate(present):
        ok = valid_pairs[q]
        mean_prob = float(probs_p[part][mask[q]].mean())  # over all the part's points
        if not ok.any():
            out[part] = PartMotion(**{**_static_motion(T).__dict__, "valid_fraction": 0.0,
                                      "fit_residual": float("nan"), "mean_prob": mean_prob})  # fmt: skip
            continue
        steps = _fill_missing_steps(transforms[q], ok)
        for t in range(K):
            chains[q, t + 1] = steps[t] @ chains[q, t]
        noise = np.where(ok, noise_all[q], np.max(noise_all[q][ok]))
        out[part] = PartMotion(
            chain=chains[q],
            pair_noise=noise,
            fit_residual=float(np.median(rms[q][ok])),
            support=float(np.median(support[q][ok])),
            valid_fraction=float(ok.mean()),
            probe=np.zeros((0, 3)),
            reference=ReferenceGeometry(np.zeros(3), np.zeros((3, 3))),
            mean_prob=mean_prob,
        )
    # Reference geometry: all of a part's points mapped back to frame 0 through its own chain.
    back = invert_transform(chains)
    canon = back[..., :3, :3] @ pts + back[..., :3, 3:]  # (Q, T, 3, W)
    wsum = np.maximum(wg.sum(axis=(1, 2)), 1e-300)
    wc = canon * wg[:, :, None, :]
    centroid = wc.sum(axis=(1, 3)) / wsum[:, None]
    second = (wc @ np.swapaxes(canon, 2, 3)).sum(axis=1) / wsum[:, None, None]
    cov = second - centroid[:, :, None] * centroid[:, None, :]
    for q, part in enumerate(present):
        m = out[part]
        if m is None or m.valid_fraction == 0.0:
            continue
        flat_w = wg[q].reshape(-1)
        flat_x = np.swapaxes(canon[q], 1, 2).reshape(-1, 3)
        keep = np.flatnonzero(flat_w > 0)
        probe = flat_x[keep[:: max(1, len(keep) // _MOTION_PROBE_POINTS)]]
        out[part] = PartMotion(**{**m.__dict__, "probe": probe,
                                  "reference": ReferenceGeometry(centroid[q], cov[q])})  # fmt: skip
    return out


def _fill_missing_steps(steps: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Pair motions with the unfitted pairs filled in.

    Before the first and after the last fitted pair (the part not yet / no longer visible) nothing
    was observed: identity. A gap between fitted pairs copies the nearest fitted pair
    (constant-velocity assumption).
    """
    out = steps.copy()
    valid_idx = np.flatnonzero(ok)
    first, last = valid_idx[0], valid_idx[-1]
    for k in range(len(steps)):
        if ok[k]:
            continue
        if k < first or k > last:
            out[k] = np.eye(4)
        else:
            out[k] = steps[valid_idx[np.argmin(np.abs(valid_idx - k))]]
    return out


def _largest_displacement(J: np.ndarray, probe: np.ndarray) -> float:
    if len(probe) == 0:
        return 0.0
    d = J[:, :3, :3] @ probe.T + J[:, :3, 3:] - probe.T[None]  # (T, 3, M)
    return float(np.sqrt(np.max(np.sum(d * d, axis=1))))


def _joint_from_fit(
    child: int,
    parent: int,
    fits: dict[JointType, ModelFit],
    type_probs: np.ndarray,
    motion: PartMotion,
    source: str,
    cfg: RefineConfig,
    chosen: JointType | None = None,
) -> JointEstimate:
    """JointEstimate of the fitted model ``chosen`` (default: the most probable type).

    confidence = P(type) x min(1, support / full_support_points) x fraction of fitted frame pairs.
    """
    best = JointType(int(np.argmax(type_probs))) if chosen is None else chosen
    fit = fits[best]
    support_factor = min(1.0, motion.support / cfg.full_support_points)
    confidence = float(type_probs[best]) * support_factor * motion.valid_fraction
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
        fit_residual=motion.fit_residual,
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
