"""Slot split: a piece of a reported part whose points follow another motion becomes its own part (issue 11.1).

The network gives a small part that moves like a larger neighbour the neighbour's slot (docs/BENCHMARKS.md
"The demo's left door through the node's stages": on val, 95 of 99 unreported moving part-windows sit in
another part's slot). This stage looks inside every reported part for spatially separate pieces that moved
**significantly differently** from the rest of the part and significantly relative to the root, judged
against the window's own flow noise, and reports each such piece as a part with the joint the geometric
refinement (:func:`sim2art_core.refine.refine_joints`) fits to it. Everything else stays as the network
said. Nothing here knows a category.

Per reported part (label k >= 1 of the selection):

1. Pieces: connected components of the part's points over the whole window (all frames together, each
   point linked to its 16 nearest neighbours within ``link_m``; scipy cKDTree + csgraph). The largest
   component is the part; every other one with at least max(``min_piece_points``, ``min_piece_fraction`` x
   valid points) points is a candidate piece.
2. Noise: the window's flow noise ``noise_m`` is the root's median robust pair residual (IRLS rigid fits of
   the root's points per frame pair, at least ``min_noise_m``) - the measure of the refinement gate
   (:func:`sim2art_core.refine.refine.window_flow_noise`).
3. Significance: the piece's largest displacement relative to the root (chained pair fits,
   :func:`sim2art_core.estimator.observed_motions`) must be at least max(``min_motion_m``,
   ``min_motion_noise`` x ``noise_m``), and relative to the rest of its part at least
   ``min_relative_noise`` x ``noise_m`` (a piece that moves with its part is the same part).
   The depth must confirm the motion (:func:`depth_support` >= ``min_depth_support``): the flow alone
   "moves" static regions next to a moving part by centimetres (on val: 20 of the 40 pieces a 1 cm
   threshold accepts), the window's surfaces do not.
   A piece whose flow another reported part's pair motions reproduce (``merge_min_explained``) is given to
   that part (a fragment of it the network put in a neighbour's slot).
4. Joint: the refinement on [root, piece] (fusion "refined"); the piece is kept only when the geometry
   finds a moving joint (its BIC model selection, which weighs the steps by their measured noise, prefers
   revolute or prismatic over static) and, with ``gate_min_explained`` > 0, when the piece's own pair fits
   explain that fraction of its weight (it moves rigidly).

Off by default (``EstimatorConfig.slot_split``): see docs/BENCHMARKS.md "Slot split" for its val measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from sim2art_core.estimate import JointEstimate
from sim2art_core.types import JointType
from sim2art_core.window import Window

#: Neighbours each point links to when a part is cut into pieces (its k nearest within ``link_m``).
_LINK_NEIGHBOURS = 16


@dataclass(frozen=True)
class SlotSplitConfig:
    """Knobs of :func:`split_slots` (units m unless stated)."""

    link_m: float = 0.03
    """Two points of a part (any frames) are connected when at most this far apart; pieces are the
    connected components."""
    min_piece_fraction: float = 0.01
    """Smallest piece, as a fraction of the window's valid points (the estimator's smallest part)."""
    min_piece_points: int = 8
    """Smallest piece in points (whichever of the two bounds is larger applies)."""
    max_pieces_per_part: int = 4
    """At most this many pieces (largest first) of one part are tested."""
    min_motion_m: float = 0.01
    """A piece must move relative to the root by at least this much (the estimator's ``min_motion_m``)."""
    min_motion_noise: float = 10.0
    """... and by at least this times the window's flow noise (the root's median robust pair residual).

    The defaults of this and the two gates below were chosen on the val split's optical-flow items
    (docs/BENCHMARKS.md "Slot split"): of the 40 pieces a 1 cm threshold alone accepts there, the
    depth test (``min_depth_support``) passes 10 of 12 true new parts and 5 of 20 static regions at 0.2,
    8 and 3 at 0.3; this noise multiple and ``gate_min_explained`` remove 2 of those 3."""
    min_relative_noise: float = 5.0
    """A piece must move relative to the rest of its part by at least this times the flow noise."""
    min_noise_m: float = 1e-3
    """Floor of the window's flow noise (m RMS per pair, as ``RefineConfig.min_noise_m``)."""
    min_depth_support: float = 0.3
    """The depth must confirm the motion (the flow alone can "move" a static region near a moving part, e.g.
    where the part uncovers or covers it): the piece's points, carried by its own chained motion, must lie
    on the window's later surfaces closer than when carried by the root's motion, by at least this
    fraction of how far apart the two predictions are (mean over the frames where they differ by at
    least ``depth_min_separation_m``; :func:`depth_support`). A motion in the surfaces' own plane cannot be
    confirmed this way and fails. 0: off."""
    merge_min_explained: float = 0.95
    """A piece that another reported part's pair motions explain (median fraction of its points within
    ``merge_cauchy`` x the flow noise, :func:`explained_by`) at least this well is that part's fragment: it
    is given to that part instead of becoming a new one. 0: off. On the val optical-flow items 2 of 8
    fragments of reported parts follow them at >= 0.95, no true new part does (drawers next to drawers
    that move alike follow them at up to 0.89), so the bound is high."""
    merge_cauchy: float = 2.5
    """See ``merge_min_explained`` (the refinement's Cauchy constant)."""
    depth_min_separation_m: float = 0.01
    """Frames where the piece's and the root's predictions differ by less than this (m, median over the
    probe points) do not inform the depth test."""
    gate_min_explained: float = 0.75
    """The piece's own pair fits must explain at least this fraction of its weight (median over pairs;
    ``RefineConfig.gate_min_explained``'s measure): it moves rigidly. 0: off."""
    refine_config: Any = field(default=None)
    """sim2art_core.refine.RefineConfig of the piece's joint fit; None: its defaults. Its ``fusion`` is
    forced to "refined" (a piece has no network joint of its own)."""

    def __post_init__(self) -> None:
        for name in ("link_m", "min_noise_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SlotSplitConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_piece_fraction", "min_motion_m", "min_motion_noise", "min_relative_noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SlotSplitConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.min_piece_points < 3 or self.max_pieces_per_part < 0:
            raise ValueError("SlotSplitConfig: min_piece_points must be >= 3, max_pieces_per_part >= 0")
        if not 0.0 <= self.gate_min_explained <= 1.0:
            raise ValueError(f"SlotSplitConfig.gate_min_explained must be in [0, 1], got {self.gate_min_explained}")


@dataclass(frozen=True)
class SplitPiece:
    """One tested piece (diagnostics).

    Attributes:
        part: label of the part it was cut from.
        num_points: its points (all frames).
        motion_root: m, largest displacement relative to the root.
        motion_rest: m, largest displacement relative to the rest of its part.
        explained: median fraction of its weight its own pair fits explain (NaN: not fitted).
        depth_support: :func:`depth_support` (NaN: not measured).
        follows: (label, fraction): the other reported part whose pair motions explain the largest
            fraction of the piece's points (:func:`explained_by`; (0, NaN): not measured or none).
        refined_type: the refinement's type for it (None: not fitted, a significance test failed first).
        accepted: it became a part.
        reason: why not ("" when accepted): "motion_root", "motion_rest", "depth", "static", "explained",
            "unfitted", "merged" (it follows another reported part and was given to it).
        mask: (T, N) bool, its points.
    """

    part: int
    num_points: int
    motion_root: float
    motion_rest: float
    explained: float
    depth_support: float
    follows: tuple[int, float]
    refined_type: JointType | None
    accepted: bool
    reason: str
    mask: np.ndarray


@dataclass(frozen=True)
class SlotSplit:
    """Result of :func:`split_slots`.

    Attributes:
        labels: (T, N) int16 labels: the input's, with every accepted piece relabelled K + 1, K + 2, ...
            in the order of ``joints`` (-1 invalid).
        source_part: per new part, the label of the part it was cut from.
        joints: per new part, its refined joint (child = its new label, parent 0, source "refined").
        observed: per new part, (largest displacement relative to the root m, mean RMS of its pair fits m).
        noise_m: m, the window's flow noise the tests used.
        pieces: every tested piece (diagnostics).
    """

    labels: np.ndarray
    source_part: tuple[int, ...]
    joints: tuple[JointEstimate, ...]
    observed: tuple[tuple[float, float], ...]
    noise_m: float
    pieces: tuple[SplitPiece, ...]


def _pieces(points: np.ndarray, mask: np.ndarray, link_m: float, min_pts: int, max_pieces: int) -> list[np.ndarray]:
    """(T, N) masks of the connected components of ``mask``'s points, all but the largest, of at least
    ``min_pts`` points, largest first (at most ``max_pieces``)."""
    ti, ni = np.nonzero(mask)
    if len(ti) < 2 * min_pts or max_pieces == 0:
        return []
    X = points[ti, ni].astype(np.float64)
    # Each point links to its nearest neighbours within link_m (not to all of them: a part's points of all
    # frames are dense, and the full radius graph of 12k points costs seconds).
    dist, nbr = cKDTree(X).query(X, k=min(_LINK_NEIGHBOURS + 1, len(X)), distance_upper_bound=link_m)
    src = np.repeat(np.arange(len(X)), nbr.shape[1]).reshape(nbr.shape)
    keep = np.isfinite(dist) & (nbr != src)
    graph = coo_matrix((np.ones(int(keep.sum())), (src[keep], nbr[keep])), shape=(len(X), len(X)))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    order = np.argsort(-sizes, kind="stable")
    out = []
    for c in order[1 : 1 + max_pieces]:
        if sizes[c] < min_pts:
            break
        m = np.zeros_like(mask)
        m[ti[comp == c], ni[comp == c]] = True
        out.append(m)
    return out


def window_noise(window: Window, root_mask: np.ndarray, min_noise_m: float) -> float:
    """m, the window's flow noise: the root's median robust (IRLS) pair residual, at least ``min_noise_m``
    (the floor alone when the root cannot be fitted)."""
    from sim2art_core.refine.rigid import fit_part_pair_motions

    T, N = window.num_frames, window.num_points
    fit, _ = fit_part_pair_motions(
        window.points.reshape(T * N, 3),
        window.flow.reshape(T * N, 3),
        root_mask[None, :-1].astype(np.float64),
        max_points=256,
        min_noise_m=min_noise_m,
    )
    r = fit.rms[fit.valid]
    return max(float(np.median(r)), min_noise_m) if len(r) else min_noise_m


def depth_support(
    window: Window, root: np.ndarray, piece: np.ndarray, valid: np.ndarray, min_separation_m: float = 0.01
) -> float:
    """Does the depth confirm that ``piece`` moved as its flow says, rather than staying with the root?

    Up to 64 of the piece's points at its first frame f are carried to every later frame t by the piece's
    chained pair motions (plain least-squares fits of (x, x + flow), as :func:`observed_motions`) and by the
    root's. In each frame where the two predictions differ by at least ``min_separation_m`` (median over the
    points), d_move and d_root are the median distances of the two predictions to the frame's nearest valid
    point (any part: the segmentation is what is in question). Returns the mean over those frames of
    (d_root - d_move) / separation: about 1 when the surfaces moved as the piece's flow says, <= 0 when they
    stayed with the root (a flow error), NaN when no frame separates the hypotheses.
    """
    from sim2art_core.refine.motion import chain_steps
    from sim2art_core.refine.rigid import fit_part_pair_motions

    T, N = window.num_frames, window.num_points
    masks = np.stack([root, piece])
    fit, _ = fit_part_pair_motions(
        window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3), masks[:, :-1], irls_iterations=0, min_support=3
    )
    steps = fit.transforms.reshape(2, T - 1, 4, 4)  # identity where a pair could not be fitted
    chains = chain_steps(steps)  # (2, T, 4, 4) from frame 0
    frames = np.flatnonzero(piece.any(axis=1))
    if len(frames) == 0:
        return float("nan")
    f = int(frames[0])
    probe = window.points[f][piece[f]][:64].astype(np.float64)
    scores = []
    for t in range(f + 1, T):
        pts = window.points[t][valid[t]]
        if len(pts) == 0:
            continue
        pred = []
        for chain in chains:
            G = chain[t] @ np.linalg.inv(chain[f])
            pred.append(probe @ G[:3, :3].T + G[:3, 3])
        sep = float(np.median(np.linalg.norm(pred[0] - pred[1], axis=1)))
        if sep < min_separation_m:
            continue
        tree = cKDTree(pts.astype(np.float64))
        d_root, d_move = (float(np.median(tree.query(p)[0])) for p in pred)
        scores.append((d_root - d_move) / sep)
    return float(np.mean(scores)) if scores else float("nan")


def explained_by(
    window: Window, valid: np.ndarray, piece: np.ndarray, parts: list[np.ndarray], tol_m: float
) -> np.ndarray:
    """(len(parts),) per part, the median over frame pairs of the fraction of the piece's points whose flow
    the part's rigid pair motion (IRLS fit of the part's points) reproduces within ``tol_m``; NaN where no
    pair has both fitted."""
    from sim2art_core.refine.rigid import fit_part_pair_motions

    T, N = window.num_frames, window.num_points
    out = np.full(len(parts), np.nan)
    if not parts:
        return out
    fit, _ = fit_part_pair_motions(
        window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3), np.stack(parts)[:, :-1].astype(np.float64)
    )
    transforms = fit.transforms.reshape(len(parts), T - 1, 4, 4)
    fitted = fit.valid.reshape(len(parts), T - 1)
    for q in range(len(parts)):
        fractions = []
        for t in range(T - 1):
            m = piece[t] & valid[t]
            if not fitted[q, t] or m.sum() < 3:
                continue
            x = window.points[t][m].astype(np.float64)
            G = transforms[q, t]
            r = np.linalg.norm(x @ G[:3, :3].T + G[:3, 3] - (x + window.flow[t][m]), axis=1)
            fractions.append(float(np.mean(r <= tol_m)))
        if fractions:
            out[q] = float(np.median(fractions))
    return out


def split_slots(window: Window, labels: np.ndarray, cfg: SlotSplitConfig | None = None) -> SlotSplit:
    """Split off the pieces of the reported parts that move significantly differently (module doc).

    Args:
        window: the (validated) window.
        labels: (T, N) int part labels of the decoding (0 root, 1..K parts, -1 invalid).
        cfg: the knobs; None: defaults.

    Returns:
        :class:`SlotSplit`; no piece (labels unchanged) when nothing passes or the input is degenerate
        (no root point, empty parts, NaN points: those points are ignored). Never raises for bad data.
    """
    from sim2art_core.estimator import observed_motions
    from sim2art_core.refine import RefineConfig, refine_joints
    from sim2art_core.refine.refine import _measure_parts

    cfg = cfg or SlotSplitConfig()
    labels = np.asarray(labels)
    valid = np.asarray(window.valid, dtype=bool)
    if labels.shape != valid.shape:
        raise ValueError(f"split_slots: labels must be {valid.shape}, got {labels.shape}")
    finite = valid & np.isfinite(window.points).all(-1) & np.isfinite(window.flow).all(-1)
    out_labels = np.where(finite, labels, -1).astype(np.int16)
    root = out_labels == 0
    K = int(out_labels.max(initial=0))
    empty = SlotSplit(out_labels, (), (), (), float("nan"), ())
    if K < 1 or not root.any(axis=1).all():
        return empty
    n_valid = int(finite.sum())
    min_pts = max(cfg.min_piece_points, int(np.ceil(cfg.min_piece_fraction * n_valid)))
    candidates = [
        (k, piece)
        for k in range(1, K + 1)
        for piece in _pieces(window.points, out_labels == k, cfg.link_m, min_pts, cfg.max_pieces_per_part)
    ]
    if not candidates:
        return empty
    noise = window_noise(window, root, cfg.min_noise_m)
    motion_floor = max(cfg.min_motion_m, cfg.min_motion_noise * noise)
    rcfg = replace(cfg.refine_config or RefineConfig(), fusion="refined")
    vs_root = observed_motions(window, root, [p for _, p in candidates])
    pieces, new_joints, sources, observed = [], [], [], []
    for (k, piece), (m_root, rms) in zip(candidates, vs_root, strict=True):
        rest = (out_labels == k) & ~piece
        m_rest = observed_motions(window, rest, [piece])[0][0]
        info = dict(part=k, num_points=int(piece.sum()), motion_root=m_root, motion_rest=m_rest, mask=piece)
        nan = dict(explained=np.nan, refined_type=None, accepted=False, follows=(0, np.nan))
        if not m_root >= motion_floor:
            pieces.append(SplitPiece(**info, **nan, depth_support=np.nan, reason="motion_root"))
            continue
        if not m_rest >= cfg.min_relative_noise * noise:
            pieces.append(SplitPiece(**info, **nan, depth_support=np.nan, reason="motion_rest"))
            continue
        support = depth_support(window, root, piece, finite, cfg.depth_min_separation_m)
        info["depth_support"] = support
        if cfg.min_depth_support > 0 and not support >= cfg.min_depth_support:
            pieces.append(SplitPiece(**info, **nan, reason="depth"))
            continue
        others = [j for j in range(1, K + 1) if j != k and (out_labels == j).any()]
        by_other = explained_by(window, finite, piece, [out_labels == j for j in others], cfg.merge_cauchy * noise)
        best = int(np.nanargmax(by_other)) if np.isfinite(by_other).any() else -1
        info["follows"] = (others[best], float(by_other[best])) if best >= 0 else (0, np.nan)
        if cfg.merge_min_explained > 0 and best >= 0 and by_other[best] >= cfg.merge_min_explained:
            out_labels[piece] = others[best]
            pieces.append(SplitPiece(**info, explained=np.nan, refined_type=None, accepted=False, reason="merged"))
            continue
        probs = np.stack([root, piece], axis=-1).astype(np.float32)
        T, N = window.num_frames, window.num_points
        pairs, _ = _measure_parts(window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3), finite, probs, rcfg)
        explained = float(pairs.explained[1])
        res = refine_joints(window, probs, 0, (), rcfg, check_window=False)
        joint = res.refined[0] if res.refined else None
        jtype = None if joint is None else JointType(joint.type)
        reason = ""
        if joint is None or not np.all(np.isfinite(joint.axis)):
            reason = "unfitted"
        elif jtype == JointType.STATIC:
            reason = "static"
        elif cfg.gate_min_explained > 0 and not explained >= cfg.gate_min_explained:
            reason = "explained"
        pieces.append(SplitPiece(**info, explained=explained, refined_type=jtype, accepted=not reason, reason=reason))
        if reason:
            continue
        label = K + 1 + len(new_joints)
        out_labels[piece] = label
        new_joints.append(replace(joint, child=label, parent=0, source="refined"))
        sources.append(k)
        observed.append((float(m_root), float(rms)))
    return SlotSplit(out_labels, tuple(sources), tuple(new_joints), tuple(observed), noise, tuple(pieces))
