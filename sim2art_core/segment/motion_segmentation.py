"""Motion-consistent segmentation of a window: rigid-motion hypotheses from the network's slots and from the
flow itself, every valid point reassigned to the motion that explains its flow best (docs/EVALUATION.md §8).

The network's segmentation is a prior, not the answer: it merges a door into the base or into its
neighbour, most often through noisy optical flow on plain fronts. This stage, between the network and the
joint estimation, works on the window's points and scene flow only (no ROS, no torch):

1. **Hypotheses from the network**: the root slot and every slot that wins at least ``min_slot_points``
   points. Each hypothesis is a rigid motion per frame t (``x_t + flow_t ~= R x_t + t``), fitted on at
   most ``max_points_per_frame`` points per frame by a hand-written Kabsch on per-(hypothesis, frame)
   moments (all hypotheses and frames at once), with ``irls_iterations`` Cauchy re-weightings. Each
   hypothesis has its own noise level per frame (median residual of its points).
2. **Reassignment** of every point: among the hypotheses whose capped cost ``r^2 / 2 s^2`` is within
   ``evidence_margin`` of the point's best (the motions its flow cannot tell apart, e.g. a part that has not
   moved yet), the network prior and ``smoothness`` x agreement with its neighbours on a spatio-temporal
   k-NN graph (scipy ``cKDTree``: ``knn`` in its frame, ``temporal_knn`` at its flow target in the next
   frame) decide; ``mean_field_passes`` passes.
3. **Hypotheses from the flow**: points no hypothesis explains (``birth_sigma`` noise levels) form
   connected components of the graph with edges cut where neighbours' flows disagree; a component with
   ``min_birth_points`` points over ``min_birth_frames`` frames is a new hypothesis with the prior of the
   slot most of its points came from (a door the network left in the base). **Splits**: a hypothesis whose
   points follow two motions is split when the cost drop passes a likelihood-ratio test (``split_penalty``).
4. Steps 2-3 repeat ``iterations`` times; hypotheses that lose their points are dropped.
5. **Merges** of non-root hypotheses that one motion per frame explains (``merge_cost``); **significance**:
   a part is ``moving`` when it moves relative to the root by ``min_motion_m`` and ``noise_motion_sigma`` x
   its noise x sqrt(T) (what a random walk of per-frame flow noise reaches); a flow-born hypothesis that is
   not goes back to the hypothesis that explains it best. No size threshold: a drawer on 1 % of the points
   that opens 20 cm is reported, flow noise on a static body is not.
6. Every other valid point takes the hypothesis that explains it best (the same gated cost, its 3 nearest
   segmented points of its frame as neighbours).

Vectorised NumPy/SciPy; cost per window: ``python -m sim2art_core.segment.bench``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: Frames are stacked into one KD-tree, each shifted by this much along x (m), so one query finds
#: neighbours of all frames at once and never across frames (objects are far smaller).
_FRAME_OFFSET_M = 1.0e4
_MIN_FIT_POINTS = 3


@dataclass(frozen=True)
class MotionSegmentationConfig:
    """Thresholds of :func:`segment_by_motion` (chosen on the val split, docs/EVALUATION.md §6)."""

    iterations: int = 4
    """Rounds of fit -> new hypotheses -> reassignment."""
    knn: int = 6
    """Neighbours of each point in its own frame (the smoothness graph and the components)."""
    temporal_knn: int = 2
    """Nearest points of the next frame to each point's flow target (links across time)."""
    max_edge_m: float = 0.08
    """Graph edges longer than this (m) are not made (separate objects / sparse regions)."""
    noise_floor_m: float = 0.002
    """Lower bound of a frame's noise level s (m): exact flow is not trusted below this."""
    birth_sigma: float = 4.0
    """A point is unexplained when its smallest residual exceeds this many times its frame's noise s."""
    min_birth_points: int = 8
    """Points (summed over the window) a component of unexplained points needs to become a hypothesis:
    the least support of a rigid fit, not a part-size threshold."""
    min_birth_frames: int = 3
    """... and must span this many frames: a part that moves is seen moving in several frames, a patch of
    wrong optical flow (a plain front, a depth edge) mostly in one."""
    edge_flow_sigma: float = 3.0
    """Two neighbours stay connected for the components when their flows differ by at most
    max(edge_flow_sigma x s, edge_flow_relative x the larger flow)."""
    edge_flow_relative: float = 0.3
    """See ``edge_flow_sigma``."""
    residual_cap_sigma: float = 4.0
    """Residuals are capped at this many noise levels in the cost (one wrong flow vector must not decide)."""
    prior_weight: float = 1.0
    """Weight of -log(network probability) in the cost."""
    smoothness: float = 2.0
    """Cost bonus for agreeing with all graph neighbours (nats)."""
    min_motion_m: float = 0.01
    """A hypothesis born from the flow must move its points by at least this much (m) relative to the root."""
    noise_motion_sigma: float = 4.0
    """... and by at least noise_motion_sigma x median noise x sqrt(T) (a random walk of flow noise)."""
    max_hypotheses: int = 12
    """At most this many hypotheses at once (root included)."""
    min_slot_points: int = 8
    """A network slot becomes a hypothesis when it wins at least this many points of the window."""
    merge_cost: float = 0.5
    """Two non-root hypotheses merge when one rigid motion per frame explains their points, in the frames
    both are seen in, with a mean cost increase of at most this (nats per point; 0.5 = every residual one
    noise level larger, or one point in 16 unexplained)."""
    split_penalty: float = 16.0
    """A hypothesis is split in two when the split lowers the window's cost (sum of r^2 / 2 s^2) by more than
    split_penalty x 3 per frame both halves are seen in (3 = the expected drop of 6 extra parameters per
    frame on pure noise): a likelihood-ratio test against the noise level, not a size threshold."""
    irls_iterations: int = 2
    """Cauchy re-weighting rounds of every rigid fit (optical flow has gross outliers at depth edges)."""
    evidence_margin: float = 4.0
    """Motion evidence is weak for a point when hypotheses' data costs are within this (nats) of its best: among
    those the network prior and the neighbours decide, the flow does not."""
    mean_field_passes: int = 4
    """Label-propagation passes of each reassignment (labels travel one graph edge per pass)."""
    max_points_per_frame: int = 384
    """Hypotheses are fitted and reassigned on at most this many evenly spread points of each frame (cost);
    every other valid point then takes the motion that explains it best, with the prior and the labels of
    its 3 nearest segmented points of the same frame as neighbours."""

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.knn < 1 or self.temporal_knn < 0 or self.max_hypotheses < 2:
            raise ValueError("MotionSegmentationConfig: iterations, knn >= 1, temporal_knn >= 0, max_hypotheses >= 2")
        for name in ("max_edge_m", "noise_floor_m", "birth_sigma", "residual_cap_sigma", "split_penalty"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MotionSegmentationConfig.{name} must be > 0")
        for name in ("prior_weight", "smoothness", "min_motion_m", "noise_motion_sigma", "edge_flow_sigma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"MotionSegmentationConfig.{name} must be >= 0")


@dataclass(frozen=True)
class MotionSegmentationInput:
    """A window's points and flow with the network's per-point slot probabilities.

    Attributes:
        points: (T, N, 3) m, any fixed frame (the window's); invalid entries may hold NaN.
        flow: (T, N, 3) m, scene flow of each point from frame t to t + 1 in the same frame.
        valid: (T, N) bool, the points to segment.
        slot_probs: (T, N, M) network probabilities over M slots, slot 0 the root (static base).
    """

    points: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    slot_probs: np.ndarray


@dataclass(frozen=True)
class MotionSegmentation:
    """The result: P parts, part 0 the root.

    Attributes:
        labels: (T, N) int16, part per point, -1 for invalid points.
        probs: (T, N, P) float32 soft assignment (softmax of the final cost; 0 for invalid points).
        slot: (P,) int, the network slot each part takes its prior from (its joint head in the
            estimator); slot[0] = 0. A part born from the flow takes the slot most of its points came from.
        born: (P,) bool, the part is a motion hypothesis from the flow, not a network slot.
        transforms: (P, T, 4, 4) float64, each part's fitted rigid motion of frame t -> t + 1.
        motion_m: (P,) m, largest displacement of the part's points relative to the root over the
            window (chained fits); 0 for the root.
        moving: (P,) bool, the part moved significantly relative to the root: ``motion_m`` at least
            ``min_motion_m`` and ``noise_motion_sigma`` x median noise x sqrt(T) (False for the root). A
            network slot that only drifts with the flow noise is kept (the network decides about parts
            that did not move) but not ``moving``.
        noise_m: (T,) m, each frame's noise level s (median residual of the root's points, floored).
        message: "" or why the input was passed through unchanged (e.g. no valid point).
    """

    labels: np.ndarray
    probs: np.ndarray
    slot: np.ndarray
    born: np.ndarray
    transforms: np.ndarray
    motion_m: np.ndarray
    moving: np.ndarray
    noise_m: np.ndarray
    message: str = ""

    @property
    def num_parts(self) -> int:
        return int(self.probs.shape[-1])


def segment_by_motion(
    inp: MotionSegmentationInput,
    config: MotionSegmentationConfig | None = None,
) -> MotionSegmentation:
    """Motion-consistent segmentation of one window (see the module doc).

    Bad input never raises for data (only for shapes that do not match: ValueError naming them):
    no valid point gives every valid point to the root with ``message`` set; a single frame or points
    with non-finite values (those are treated as invalid) are segmented with what remains.
    """
    cfg = config or MotionSegmentationConfig()
    points = np.asarray(inp.points)
    flow = np.asarray(inp.flow)
    prior = np.asarray(inp.slot_probs)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"MotionSegmentationInput.points must be (T, N, 3), got {points.shape}")
    T, N = points.shape[:2]
    if flow.shape != (T, N, 3) or np.shape(inp.valid) != (T, N) or prior.ndim != 3 or prior.shape[:2] != (T, N):
        raise ValueError(
            f"MotionSegmentationInput: flow {flow.shape}, valid {np.shape(inp.valid)}, slot_probs {prior.shape} "
            f"do not match points {points.shape}"
        )
    M = prior.shape[2]
    valid = np.asarray(inp.valid, dtype=bool) & np.isfinite(points).all(-1) & np.isfinite(flow).all(-1)
    valid &= np.isfinite(prior).all(-1)
    if M < 1 or not valid.any():
        return _passthrough(valid, prior, T, "no valid point" if M >= 1 else "no slot")
    core = _spread(valid, cfg.max_points_per_frame)
    seg = _Segmenter(points, flow, core, prior, cfg)
    labels, slot_of, born, motions, motion_m, s = seg.run()
    return _label_all(seg, labels, slot_of, born, motions, motion_m, s, points, flow, valid, prior)


def _spread(valid: np.ndarray, per_frame: int) -> np.ndarray:
    """(T, N) bool: at most ``per_frame`` evenly spaced valid points of each frame (all when fewer)."""
    rank = np.cumsum(valid, axis=1) - 1
    count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    S = min(per_frame, int(count.max()))
    step = ((rank + 1) * S) // count > (rank * S) // count
    return valid & step


def _label_all(seg, labels, slot_of, born, motions, motion_m, s, points, flow, valid, prior) -> MotionSegmentation:
    """Every valid point (not only the segmented ones) to the hypothesis that explains it best: data cost
    under the final motions, network prior, and agreement with its 3 nearest segmented points of its frame."""
    cfg = seg.cfg
    T, N = valid.shape
    H = len(slot_of)
    idx = np.flatnonzero(valid.ravel())
    frame = idx // N
    X = points.reshape(-1, 3)[idx].astype(np.float64)
    Y = X + flow.reshape(-1, 3)[idx].astype(np.float64)
    # residuals frame by frame in the (T, N) layout: one batched matmul per hypothesis
    Xg = np.zeros((T * N, 3))
    Xg[idx] = X
    Xg = Xg.reshape(T, N, 3)
    pred = Xg[None] @ np.swapaxes(motions[:, :, :3, :3], -1, -2) + motions[:, :, None, :3, 3]  # (H, T, N, 3)
    res = np.linalg.norm(pred.reshape(H, T * N, 3)[:, idx] - Y[None], axis=-1).T  # (V, H)
    p = prior.reshape(-1, prior.shape[2])[idx].astype(np.float64)
    p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
    data, log_prior = seg._data_cost(res, s[:, frame].T), _log_prior(p, slot_of)
    soft_cost = data - cfg.prior_weight * log_prior
    cost = seg._gate((data, log_prior))
    shift = np.zeros((len(idx), 3))
    shift[:, 0] = frame * _FRAME_OFFSET_M
    k = min(3, len(seg.idx))
    _, j = cKDTree(seg.X + seg.shift).query(X + shift, k=k)
    j = j.reshape(len(idx), k)
    agree = np.zeros((len(idx), H))
    np.add.at(agree, (np.repeat(np.arange(len(idx)), k), labels[j].ravel()), 1.0 / k)
    cost = cost - cfg.smoothness * agree
    out = np.argmin(cost, axis=1)
    # the segmented points keep their labels
    pos = np.searchsorted(idx, seg.idx)
    out[pos] = labels
    z = -(soft_cost - soft_cost.min(1, keepdims=True))
    soft = np.exp(z)
    soft /= soft.sum(1, keepdims=True)
    out_labels = np.full(T * N, -1, dtype=np.int16)
    out_labels[idx] = out
    probs = np.zeros((T * N, H), dtype=np.float32)
    probs[idx] = soft
    return MotionSegmentation(
        labels=out_labels.reshape(T, N),
        probs=probs.reshape(T, N, H),
        slot=slot_of.astype(np.int64),
        born=born.astype(bool),
        transforms=motions,
        motion_m=motion_m,
        moving=np.concatenate([[False], seg._moving(motion_m, s)[1:]]),
        noise_m=s[0],
    )


def _apply(m: np.ndarray, X: np.ndarray) -> np.ndarray:
    """(..., V, 3) = each point's own transform m (..., V, 4, 4) applied to X (V, 3): three broadcast
    multiply-adds over the columns (much faster than a per-point einsum or batched 3x3 matmul)."""
    return m[..., 0:3, 0] * X[:, 0:1] + m[..., 0:3, 1] * X[:, 1:2] + m[..., 0:3, 2] * X[:, 2:3] + m[..., 0:3, 3]


def _fit_groups(
    X: np.ndarray, Y: np.ndarray, frame: np.ndarray, group: np.ndarray, G: int, T: int, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid motion ``Y ~= R X + t`` of every (group, frame) from its points, all at once.

    Hand-written Kabsch from per-(group, frame) moments accumulated with ``np.bincount`` (the cost is
    linear in the points, whatever the number of groups); rows with fewer than 3 points get the identity.

    Returns:
        (G, T, 4, 4) motions and (G, T) point counts.
    """
    key = group * T + frame
    n = G * T
    count = np.bincount(key, minlength=n).astype(np.float64)
    w = np.ones(len(key)) if w is None else w
    wsum = np.bincount(key, w, minlength=n)
    Xw = X * w[:, None]
    sx = np.stack([np.bincount(key, Xw[:, i], minlength=n) for i in range(3)], axis=1)
    sy = np.stack([np.bincount(key, w * Y[:, i], minlength=n) for i in range(3)], axis=1)
    sxy = np.stack([np.bincount(key, Xw[:, i] * Y[:, j], minlength=n) for i in range(3) for j in range(3)], axis=1)
    safe = np.maximum(wsum, 1e-12)[:, None]
    cx, cy = sx / safe, sy / safe
    Hm = sxy.reshape(n, 3, 3) - wsum[:, None, None] * cx[:, :, None] * cy[:, None, :]
    U, _, Vt = np.linalg.svd(Hm)
    d = np.sign(np.linalg.det(U @ Vt))
    d[d == 0] = 1.0
    U[:, :, 2] *= d[:, None]  # R = V diag(1, 1, d) U^T: a rotation, never a reflection
    R = np.swapaxes(U @ Vt, 1, 2)
    out = np.tile(np.eye(4), (n, 1, 1))
    ok = count >= _MIN_FIT_POINTS
    out[ok, :3, :3] = R[ok]
    out[ok, :3, 3] = cy[ok] - (R[ok] @ cx[ok][:, :, None])[:, :, 0]
    few = (count > 0) & ~ok  # 1 or 2 points pin no rotation: their mean flow as a translation
    out[few, :3, 3] = cy[few] - cx[few]
    return out.reshape(G, T, 4, 4), count.reshape(G, T)


def _log_prior(prior: np.ndarray, slot_of: np.ndarray) -> np.ndarray:
    """(V, H) log network probability of each hypothesis' slot; the root also gets the slots that are no
    hypothesis (they are merged into it, as the estimator does)."""
    p = prior[:, slot_of].copy()
    others = np.setdiff1d(np.arange(prior.shape[1]), slot_of)
    p[:, slot_of == 0] += prior[:, others].sum(1, keepdims=True)
    return np.log(np.clip(p, 1e-3, 1.0))


def _passthrough(valid: np.ndarray, prior: np.ndarray, T: int, message: str) -> MotionSegmentation:
    labels = np.where(valid, 0, -1).astype(np.int16)
    return MotionSegmentation(
        labels=labels,
        probs=valid[..., None].astype(np.float32),
        slot=np.zeros(1, dtype=np.int64),
        born=np.zeros(1, dtype=bool),
        transforms=np.tile(np.eye(4), (1, T, 1, 1)),
        motion_m=np.zeros(1),
        moving=np.zeros(1, dtype=bool),
        noise_m=np.zeros(T),
        message=message,
    )


class _Segmenter:
    """State of one segmentation (flattened valid points; V of them)."""

    def __init__(self, points: np.ndarray, flow: np.ndarray, valid: np.ndarray, prior: np.ndarray, cfg):
        self.cfg = cfg
        self.T, self.N = valid.shape
        self.valid = valid
        self.idx = np.flatnonzero(valid.ravel())
        self.frame = self.idx // self.N
        self.X = points.reshape(-1, 3)[self.idx].astype(np.float64)
        self.F = flow.reshape(-1, 3)[self.idx].astype(np.float64)
        self.Y = self.X + self.F
        p = prior.reshape(-1, prior.shape[2])[self.idx].astype(np.float64)
        self.prior = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
        self.frame_counts = np.bincount(self.frame, minlength=self.T)
        self._build_graph()

    # ------------------------------------------------------------------ graph
    def _build_graph(self) -> None:
        """Spatio-temporal k-NN graph: same-frame neighbours and flow targets -> next frame's points."""
        cfg, V = self.cfg, len(self.idx)
        shift = np.zeros((V, 3))
        shift[:, 0] = self.frame * _FRAME_OFFSET_M
        self.shift = shift
        tree = cKDTree(self.X + shift)
        k = min(cfg.knn + 1, V)
        d, j = tree.query(self.X + shift, k=k, distance_upper_bound=cfg.max_edge_m)
        d, j = d.reshape(V, k), j.reshape(V, k)
        src = [np.repeat(np.arange(V), k - 1)]
        dst = [j[:, 1:].ravel()]
        ok = [np.isfinite(d[:, 1:]).ravel()]
        if cfg.temporal_knn > 0 and self.T > 1:
            has_next = self.frame < self.T - 1
            q = np.flatnonzero(has_next)
            kt = min(cfg.temporal_knn, V)
            qs = self.Y[q] + shift[q] + np.array([_FRAME_OFFSET_M, 0.0, 0.0])
            dt, jt = tree.query(qs, k=kt, distance_upper_bound=cfg.max_edge_m)
            dt, jt = dt.reshape(len(q), kt), jt.reshape(len(q), kt)
            src.append(np.repeat(q, kt))
            dst.append(jt.ravel())
            ok.append(np.isfinite(dt).ravel())
        src, dst, ok = np.concatenate(src), np.concatenate(dst), np.concatenate(ok)
        self.src, self.dst = src[ok], dst[ok]
        w = np.ones(len(self.src))
        A = coo_matrix((w, (self.src, self.dst)), shape=(V, V)).tocsr()
        self.A = (A + A.T).tocsr()  # undirected; a double edge counts twice (harmless)
        self.deg = np.maximum(np.asarray(self.A.sum(1)).ravel(), 1.0)

    # ---------------------------------------------------------------- motions
    def _fit(self, labels: np.ndarray, H: int) -> np.ndarray:
        """(H, T, 4, 4) per-frame rigid motions of each hypothesis from its points (hard labels); a
        hypothesis without points in a frame takes the root's motion there (no evidence)."""
        out, count = _fit_groups(self.X, self.Y, self.frame, labels, H, self.T)
        for _ in range(self.cfg.irls_iterations):  # Cauchy re-weighting: wrong flow vectors lose their pull
            mf = out[labels, self.frame]
            r = np.linalg.norm(_apply(mf, self.X) - self.Y, axis=1)
            c = 2.5 * max(float(np.median(r)), self.cfg.noise_floor_m)
            out, count = _fit_groups(self.X, self.Y, self.frame, labels, H, self.T, 1.0 / (1.0 + (r / c) ** 2))
        missing = count == 0
        missing[0] = False
        out[missing] = np.broadcast_to(out[0][None], out.shape)[missing]
        return out

    def _residuals(self, motions: np.ndarray) -> np.ndarray:
        """(V, H) m, |R x + t - (x + flow)| of every point under every hypothesis' motion of its frame."""
        d = _apply(motions[:, :, :3][:, self.frame], self.X) - self.Y  # (H, V, 3)
        return np.sqrt(np.einsum("hvi,hvi->vh", d, d))

    def _noise(self, res: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(H, T) noise level of each hypothesis in each frame: the median residual of its own points under its
        own motion (floored); a hypothesis seen on fewer than 8 points in a frame takes the root's level there.
        Optical flow is far noisier on a moving plain front than on the static body: each motion is judged in
        its own noise."""
        H, T = res.shape[1], self.T
        own = res[np.arange(len(labels)), labels]
        s = np.full((H, T), np.nan)
        key = labels * T + self.frame
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange(H * T + 1))
        for row in np.flatnonzero(np.diff(bounds) >= 8):  # medians of the (hypothesis, frame) groups
            s.flat[row] = np.median(own[order[bounds[row] : bounds[row + 1]]])
        root = s[0]
        fill = np.nanmedian(root) if np.isfinite(root).any() else self.cfg.noise_floor_m
        s[0] = np.where(np.isfinite(root), root, fill)
        s = np.where(np.isfinite(s), s, s[:1])
        return np.maximum(s, self.cfg.noise_floor_m)

    def _sv(self, s: np.ndarray) -> np.ndarray:
        """(V, H) the noise level of every hypothesis at every point's frame."""
        return s[:, self.frame].T

    def _data_cost(self, res: np.ndarray, s_v: np.ndarray) -> np.ndarray:
        """0.5 (r / s)^2 capped; s (V, H) per point and hypothesis, or (V,) for all hypotheses."""
        z = np.minimum(res / (s_v if s_v.ndim == 2 else s_v[:, None]), self.cfg.residual_cap_sigma)
        return 0.5 * z * z

    # ---------------------------------------------------------------- births
    def _births(self, res: np.ndarray, s: np.ndarray, labels: np.ndarray, capacity: int) -> list[np.ndarray]:
        """Components of unexplained points on the flow-consistent graph, largest first."""
        cfg = self.cfg
        if capacity <= 0:
            return []
        s_v = s[0, self.frame]  # the root's level: the edge tolerance
        unexplained = (res / self._sv(s)).min(1) > cfg.birth_sigma
        if unexplained.sum() < cfg.min_birth_points:
            return []
        a, b = self.src, self.dst
        keep = unexplained[a] & unexplained[b]
        a, b = a[keep], b[keep]
        df = np.linalg.norm(self.F[a] - self.F[b], axis=1)
        big = np.maximum(np.linalg.norm(self.F[a], axis=1), np.linalg.norm(self.F[b], axis=1))
        tol = np.maximum(cfg.edge_flow_sigma * np.maximum(s_v[a], s_v[b]), cfg.edge_flow_relative * big)
        keep = df <= tol
        V = len(self.idx)
        G = coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(V, V))
        _, comp = connected_components(G, directed=False)
        comp = np.where(unexplained, comp, -1)
        sizes = np.bincount(comp[unexplained]) if unexplained.any() else np.zeros(0, int)
        order = np.argsort(-sizes)
        out = []
        for c in order:
            if sizes[c] < cfg.min_birth_points or len(out) >= capacity:
                break
            members = np.flatnonzero(comp == c)
            if len(np.unique(self.frame[members])) >= cfg.min_birth_frames:
                out.append(members)
        return out

    # ------------------------------------------------------------ assignment
    def _assign(self, cost: tuple[np.ndarray, np.ndarray], labels: np.ndarray) -> np.ndarray:
        """Mean-field passes of the gated cost (data, log prior) - smoothness x neighbour agreement."""
        cost = self._gate(cost)
        H = cost.shape[1]
        for _ in range(self.cfg.mean_field_passes):
            onehot = np.zeros((len(labels), H))
            onehot[np.arange(len(labels)), labels] = 1.0
            agree = (self.A @ onehot) / self.deg[:, None]
            labels = np.argmin(cost - self.cfg.smoothness * agree, axis=1)
        return labels

    def _log_prior(self, slot_of: np.ndarray) -> np.ndarray:
        return _log_prior(self.prior, slot_of)

    def _gate(self, cost: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """(data, log prior) -> the decision cost: the prior only, among the hypotheses whose data cost is
        within ``evidence_margin`` of the point's best (the motions the flow cannot tell apart); inf elsewhere."""
        data, log_prior = cost
        allowed = data <= data.min(1, keepdims=True) + self.cfg.evidence_margin
        return np.where(allowed, -self.cfg.prior_weight * log_prior, np.inf)

    # ------------------------------------------------------------------- run
    def run(self) -> MotionSegmentation:
        cfg = self.cfg
        M = self.prior.shape[1]
        counts = np.bincount(self.prior.argmax(1), minlength=M)
        slots = [0] + [m for m in range(1, M) if counts[m] >= cfg.min_slot_points]
        slots = slots[: cfg.max_hypotheses]
        slot_of = np.asarray(slots)
        born = np.zeros(len(slots), dtype=bool)
        labels = np.argmax(self._log_prior(slot_of), axis=1)

        for it in range(cfg.iterations):
            H = len(slot_of)
            motions, res, s = self._refit(labels, H)
            labels = self._assign((self._data_cost(res, self._sv(s)), self._log_prior(slot_of)), labels)
            labels, slot_of, born = self._drop_empty(labels, slot_of, born)
            if it == cfg.iterations - 1:
                break
            # new hypotheses from what the reassigned, refitted hypotheses leave unexplained
            H = len(slot_of)
            motions, res, s = self._refit(labels, H)
            for comp in self._births(res, s, labels, cfg.max_hypotheses - H):
                parent = np.bincount(slot_of[labels[comp]], minlength=M).argmax()
                labels[comp] = len(slot_of)
                slot_of = np.append(slot_of, parent)
                born = np.append(born, True)
            if len(slot_of) != H:
                H = len(slot_of)
                motions, res, s = self._refit(labels, H)
            if len(slot_of) < cfg.max_hypotheses:
                labels, slot_of, born = self._splits(labels, slot_of, born, res, s)

        H = len(slot_of)
        s, data, motion_m = self._merge_costs(labels, H)
        for _ in range(cfg.max_hypotheses):  # merging changes the fits: repeat until nothing merges
            labels, slot_of, born = self._merge(labels, slot_of, born, data, motion_m)
            if len(slot_of) == H:
                break
            H = len(slot_of)
            s, data, motion_m = self._merge_costs(labels, H)
        if len(slot_of) != H:  # merged: refit before the significance test
            H = len(slot_of)
            s, data, motion_m = self._merge_costs(labels, H)
        labels, slot_of, born = self._significance(labels, slot_of, born, data, s, motion_m)
        H = len(slot_of)
        motions, res, s = self._refit(labels, H)
        return labels, slot_of, born, motions, self._relative_motion(motions, labels), s

    def _refit(self, labels: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit the H hypotheses to their points: motions, every point's residuals, every frame's noise s."""
        motions = self._fit(labels, H)
        res = self._residuals(motions)
        return motions, res, self._noise(res, labels)

    def _merge_costs(self, labels: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refit, then what merging and the significance test read: noise s, data cost, relative motion.
        Also keeps the per-point noise for :meth:`_merge`."""
        motions, res, s = self._refit(labels, H)
        self._noise_v = self._sv(s)
        return s, self._data_cost(res, self._noise_v), self._relative_motion(motions, labels)

    def _splits(self, labels, slot_of, born, res, s):
        """Split every hypothesis whose points follow two motions (see ``split_penalty``).

        The two halves start on either side of the median along each of the points' two main axes and are
        refined by 3 rounds of fit -> reassignment by residual; the better split is kept if it passes the test.
        """
        cfg = self.cfg
        S = self._sv(s)
        for h in range(res.shape[1]):  # the hypotheses the residuals were computed for
            if len(slot_of) >= cfg.max_hypotheses:
                break
            members = np.flatnonzero(labels == h)
            if len(members) < 2 * cfg.min_birth_points:
                continue
            X, Y, fr, sv = self.X[members], self.Y[members], self.frame[members], S[members, h]
            data = self._data_cost(res[members], S[members])
            others = np.delete(data, h, axis=1).min(1) if data.shape[1] > 1 else np.full(len(members), np.inf)
            before = np.minimum(data[:, h], others).sum()  # the gain counts only what no other hypothesis explains
            centred = X - X.mean(0)
            _, _, axes = np.linalg.svd(centred[:: max(1, len(centred) // 256)], full_matrices=False)
            best = None
            for axis in axes[:2]:
                proj = centred @ axis
                group = (proj > np.median(proj)).astype(np.int64)
                for _ in range(3):
                    mot, cnt = _fit_groups(X, Y, fr, group, 2, self.T)
                    mf = mot[:, fr]
                    pred = _apply(mf, X)
                    r = np.linalg.norm(pred - Y[None], axis=-1).T  # (n, 2)
                    group = np.argmin(r, axis=1)
                cost = np.minimum(self._data_cost(r, sv)[np.arange(len(members)), group], others).sum()
                both = int(((cnt >= _MIN_FIT_POINTS).sum(0) == 2).sum())
                sizes = np.bincount(group, minlength=2)
                gain = before - cost - cfg.split_penalty * 3.0 * both
                if sizes.min() >= cfg.min_birth_points and gain > 0 and (best is None or gain > best[0]):
                    best = (gain, group)
            if best is not None:
                group = best[1]
                minority = 1 if (group == 1).sum() <= (group == 0).sum() else 0
                labels[members[group == minority]] = len(slot_of)
                slot_of = np.append(slot_of, slot_of[h])
                born = np.append(born, True)
        return labels, slot_of, born

    def _drop_empty(self, labels, slot_of, born):
        H = len(slot_of)
        counts = np.bincount(labels, minlength=H)
        keep = counts > 0
        keep[0] = True
        if keep.all():
            return labels, slot_of, born
        remap = np.cumsum(keep) - 1
        return remap[labels], slot_of[keep], born[keep]

    def _relative_motion(self, motions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(H,) m, largest displacement of up to 64 of each hypothesis' points (from the first frame that
        has any) relative to the root, chaining the per-frame motions. Frames where a hypothesis is seen on
        fewer than 3 points count as still (their translation-only fits are too easily one wrong flow vector)."""
        H, T = motions.shape[:2]
        count = np.bincount(labels * T + self.frame, minlength=H * T).reshape(H, T)
        motions = np.where((count < _MIN_FIT_POINTS)[..., None, None], motions[:1], motions)
        chains = np.tile(np.eye(4), (H, T, 1, 1))
        for t in range(T - 1):
            chains[:, t + 1] = motions[:, t] @ chains[:, t]
        rel = np.linalg.inv(chains[0])[None] @ chains  # (H, T, 4, 4)
        out = np.zeros(H)
        for h in range(1, H):
            members = np.flatnonzero(labels == h)
            if len(members) == 0:
                continue
            f = int(self.frame[members].min())
            probe = self.X[members[self.frame[members] == f][:64]]
            r = rel[h] @ np.linalg.inv(rel[h, f])
            moved = np.einsum("tij,nj->tni", r[:, :3, :3], probe) + r[:, None, :3, 3] - probe
            out[h] = float(np.linalg.norm(moved, axis=-1).max())
        return out

    def _moving(self, motion_m: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        med = np.median(s, axis=1) if s is not None else self.cfg.noise_floor_m  # per hypothesis
        floor = np.maximum(self.cfg.min_motion_m, self.cfg.noise_motion_sigma * med * np.sqrt(self.T))
        return motion_m >= floor

    def _merge(self, labels, slot_of, born, data, motion_m):
        """Merge the pair of non-root hypotheses that moves most nearly as one, if one rigid motion per frame
        explains both nearly as well as two (``merge_cost``). One merge per call. The network's slots can
        change identity over time; such pieces of one part are merged here."""
        cfg = self.cfg
        H = len(slot_of)
        if H <= 2:
            return labels, slot_of, born
        s_v = self._noise_v
        own = data[np.arange(len(labels)), labels]
        best = None
        for a in range(1, H):
            for b in range(a + 1, H):
                members = np.flatnonzero((labels == a) | (labels == b))
                fr = self.frame[members]
                one = np.zeros(len(members), np.int64)
                mot, _ = _fit_groups(self.X[members], self.Y[members], fr, one, 1, self.T)
                mf = mot[0, fr]
                r = np.linalg.norm(_apply(mf, self.X[members]) - self.Y[members], axis=1)
                inc = self._data_cost(r[:, None], s_v[members, labels[members]])[:, 0].sum() - own[members].sum()
                ca = np.bincount(self.frame[labels == a], minlength=self.T) >= _MIN_FIT_POINTS
                cb = np.bincount(self.frame[labels == b], minlength=self.T) >= _MIN_FIT_POINTS
                n_co = max(int(np.count_nonzero((ca & cb)[fr])), 1)  # their points in frames both are seen in
                per_point = inc / n_co
                if per_point <= cfg.merge_cost and (best is None or per_point < best[0]):
                    best = (per_point, a, b)
        if best is None:
            return labels, slot_of, born
        _, a, b = best
        labels = np.where(labels == b, a, labels)
        born = born.copy()
        born[a] &= born[b]
        return self._drop_empty(labels, slot_of, born)

    def _significance(self, labels, slot_of, born, data, s, motion_m):
        """Flow-born hypotheses that do not move significantly go to the hypothesis that explains them best."""
        weak = born & ~self._moving(motion_m, s)
        weak[0] = False
        if not weak.any():
            return labels, slot_of, born
        for h in np.flatnonzero(weak):
            members = labels == h
            alt = data[members][:, ~weak].mean(0)
            labels[members] = np.flatnonzero(~weak)[int(np.argmin(alt))]
        return self._drop_empty(labels, slot_of, born)
