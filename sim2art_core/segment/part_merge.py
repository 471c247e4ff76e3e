"""Part merge: two reported parts of one window that move as one rigid body become one part (issue 11.1).

Through the node's optical flow the network often cuts one real part into two slots within a window (a door
cut into a top and a bottom half, a fan rotor into two halves; docs/BENCHMARKS.md "Duplicate tracks" and
"Type-ambiguous and contradicting tracks": most confirmed duplicates are *one window's* two joints for one
part). The fused object model must keep two parts of one window apart (a real double door is two parts), so
the merge belongs here, where the window's points can say whether the two pieces moved as one.

1. **Touch**: two reported parts (labels a, b >= 1) are tested when at least ``min_touch_points`` points of
   one lie within ``touch_m`` of the other's points of the same frame (one scipy cKDTree over all frames).
2. **Long-baseline registration**, every part once: from its reference frame f (the first where it has
   ``min_points`` points), up to ``max_points`` evenly spaced points are carried from frame to frame by the
   flow (the mean flow of their 4 nearest valid points of each frame: the part's own material, whatever
   label the network gave it there; the labels of one part change from frame to frame on val), a rigid fit
   of those tracks per frame is the initial guess, and a robust ICP against all valid points of every later
   frame (:func:`sim2art_core.refine.icp.robust_icp`, as the refinement's long-baseline fits) gives the pose.
3. **Cross-explanation residuals**: each part's points are moved by its own motion and by the other part's
   (both taken from the pair's common reference frame), and measured two ways: point-to-plane to the nearest
   valid point of the frame (the geometry; capped at ``residual_cap_m``) and, with the rigid fits of the
   tracks, to where the flow carried them (a motion in a surface's own plane, e.g. a drawer's top sliding
   under a camera that looks down on it, only the flow sees). Only points their own motion puts on a
   surface count (occluded ones say nothing), and only frames where one of the two parts has moved
   ``min_frame_motion_m`` from the reference frame (two parts at rest look like one).
4. **Tests**, both needed: the **residual ratio** ``sqrt((r_other^2 + s^2) / (r_own^2 + s^2))`` (the worse
   part and measure per frame, its ``frame_quantile`` over the frames) is at most ``max_residual_ratio``,
   with the noise-aware floor ``s^2 = max(s_0^2, median r_own^2)``, ``s_0 = max(residual_floor_m,
   noise_multiple x the window's flow noise)`` (the root's median robust pair residual, the slot split's
   and the refinement gate's measure) - differences below the flow's noise and below the part's own
   sampling residual are not evidence; and the **relative misfit** (median r_other over the frames, the
   worse part and measure, divided by how far the part moved) is at most ``max_relative_misfit``: two
   pieces of one door turned by 10 cm are about 5 mm off under each other's motion, two drawers pulled 2
   and 3 cm by noisy flow pass the ratio but are off by a third of their motion.
5. The passing pair with the smallest ratio merges (into the larger part's label; labels above the removed
   one shift down); the tests repeat on the new parts until no pair passes.

Nothing here knows a category. A double door (hinges on opposite sides), an upper and a lower door on one
hinge line opened by different amounts, stacked drawers pulled by different amounts and drawer tops seen
from above touch, but one motion leaves one of them off: they stay apart (test/core/segment/
test_part_merge.py). Used by the estimator when ``EstimatorConfig.part_merge`` is on (off by default:
docs/BENCHMARKS.md "Part merge" has the val measurement and why).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from sim2art_core.refine.icp import FrameTree, robust_icp
from sim2art_core.refine.rigid import batched_weighted_kabsch
from sim2art_core.window import Window

#: Frames are stacked into one KD-tree for the touch test, each shifted by this much along x (m).
_FRAME_OFFSET_M = 1.0e4
#: Neighbours of each point looked at in the touch test (within ``touch_m``).
_TOUCH_NEIGHBOURS = 4


@dataclass(frozen=True)
class PartMergeConfig:
    """Knobs of :func:`merge_parts` (units m unless stated)."""

    touch_m: float = 0.03
    """Two parts touch when at least ``min_touch_points`` points of one lie within this of the other's points
    of the same frame (a part cut in two touches along the cut)."""
    min_touch_points: int = 3
    """See ``touch_m``."""
    max_residual_ratio: float = 3.0
    """Two touching parts merge when the other's motion explains each of them within this ratio of its own
    residual (step 4 of the module doc; noise-floored) ... On the odd objects of the tests a door or rotor cut
    in two gives 1.0-2.6 on sparse points, so the relative misfit below carries most of the decision."""
    residual_floor_m: float = 0.003
    """Floor s of the residuals in the ratio: re-sampled points lie up to a fraction of the point spacing
    from the nearest point of the same surface, so smaller differences are not evidence of two motions."""
    noise_multiple: float = 1.0
    """s is at least this times the window's flow noise (the root's median robust pair residual): two
    motions that differ by less than the flow's noise cannot be told apart from it. 0: the floor only."""
    frame_quantile: float = 0.5
    """The pair's ratio is this quantile over the informative frames (1: the worst frame; the median ignores
    the few frames where the registration of a flat piece slid in its own plane, which a door cut in two
    shows on sparse points)."""
    max_relative_misfit: float = 0.1
    """... and when the other's motion puts each part off by at most this fraction of how far the part moved
    (two drawers pulled 2 and 3 cm pass the ratio test through noisy flow, but they did not move as one;
    a door cut in two, turned by 10 cm, is 5 mm off). The tests' odd objects: one part cut in two <= 0.06,
    two parts >= 0.22; on the val split (docs/BENCHMARKS.md "Part merge") the network's pairs of one true
    part lie at 0.06-1.0 (they are mixtures of parts), pairs of two at >= 0.13, so 0.1 keeps them apart."""
    min_frame_motion_m: float = 0.01
    """Only frames where at least one of the two parts has moved this far from the reference frame (RMS of
    its points under its own motion) count: two parts at rest look like one (a drawer that starts moving
    late in the window moves differently from its neighbour only in the last frames)."""
    residual_cap_m: float = 0.05
    """A source point's residual is its point-to-plane distance to the nearest point of the frame, at most
    this (a point with no surface within this distance counts as this far off)."""
    max_points: int = 32
    """Registered points per part (evenly spaced at the reference frame)."""
    min_points: int = 8
    """A part needs this many points at a common frame with the other to be tested."""
    icp_iterations: int = 3
    """Rounds of the registrations (re-match + one Gauss-Newton step each)."""
    gate_start_m: float = 0.1
    """Match gate of the first ICP round: the largest error of the chained flow guess it can correct."""
    gate_end_m: float = 0.01
    """Match gate of the last round (at least twice the part's median point spacing)."""
    noise_min_m: float = 1e-3
    """Floor of the window's flow noise (m RMS per pair, as ``RefineConfig.min_noise_m``)."""

    def __post_init__(self) -> None:
        for name in ("touch_m", "residual_floor_m", "residual_cap_m", "gate_start_m", "gate_end_m", "noise_min_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PartMergeConfig.{name} must be > 0, got {getattr(self, name)}")
        if not self.max_residual_ratio >= 1.0:
            raise ValueError(f"PartMergeConfig.max_residual_ratio must be >= 1, got {self.max_residual_ratio}")
        if not self.max_relative_misfit > 0:
            raise ValueError(f"PartMergeConfig.max_relative_misfit must be > 0, got {self.max_relative_misfit}")
        if not 0.0 < self.frame_quantile <= 1.0:
            raise ValueError(f"PartMergeConfig.frame_quantile must be in (0, 1], got {self.frame_quantile}")
        if self.noise_multiple < 0 or self.min_touch_points < 1 or self.icp_iterations < 1:
            raise ValueError("PartMergeConfig: noise_multiple >= 0, min_touch_points >= 1, icp_iterations >= 1")
        if self.min_points < 3 or self.max_points < self.min_points:
            raise ValueError("PartMergeConfig: need 3 <= min_points <= max_points")


@dataclass(frozen=True)
class PairTest:
    """One tested pair (diagnostics; labels as they were when it was tested).

    Attributes:
        a, b: the two part labels (a < b).
        touch_points: points of one within ``touch_m`` of the other (same frame, both directions).
        ratio: the residual ratio (NaN: not registered, e.g. they do not touch or share no frame).
        relative_misfit: how far the other part's motion puts a part off its surfaces / its flow tracks
            (median over the frames, the worse part and test), as a fraction of how far the part moved.
        residual_own: m, RMS over frames and both parts of the residual under each part's own motion.
        residual_one: m, the same under one motion for both.
        merged: the pair was merged.
    """

    a: int
    b: int
    touch_points: int
    ratio: float
    relative_misfit: float
    residual_own: float
    residual_one: float
    merged: bool


@dataclass(frozen=True)
class PartMerge:
    """Result of :func:`merge_parts`.

    Attributes:
        labels: (T, N) int16, the input labels with merged parts relabelled (-1 invalid, 0 root, 1..K').
        merges: each merge as (kept label, removed label) in the labels of that moment, in order.
        parent: (K + 1,) the output label of every input label (0 -> 0).
        noise_m: m, the window's flow noise the test used.
        tests: every tested pair (diagnostics).
    """

    labels: np.ndarray
    merges: tuple[tuple[int, int], ...]
    parent: np.ndarray
    noise_m: float
    tests: tuple[PairTest, ...]


def _touch_counts(points: np.ndarray, labels: np.ndarray, K: int, tol: float) -> np.ndarray:
    """(K + 1, K + 1) int: [a, b] = points of part a with a point of part b within ``tol`` in the same frame
    (labels >= 1 only; one scipy cKDTree over all frames, each shifted along x)."""
    ti, ni = np.nonzero(labels >= 1)
    counts = np.zeros((K + 1, K + 1), dtype=np.int64)
    if len(ti) < 2:
        return counts
    X = points[ti, ni].astype(np.float64)
    X[:, 0] += _FRAME_OFFSET_M * ti
    lab = labels[ti, ni].astype(np.int64)
    _, nbr = cKDTree(X, balanced_tree=False, compact_nodes=False).query(
        X, k=min(_TOUCH_NEIGHBOURS, len(X)), distance_upper_bound=tol
    )
    ok = nbr < len(X)
    other = np.where(ok, lab[np.minimum(nbr, len(X) - 1)], lab[:, None])
    i, j = np.nonzero(other != lab[:, None])
    key = np.unique(i * (K + 1) + other[i, j])  # each point once per other part it touches
    np.add.at(counts, (lab[key // (K + 1)], key % (K + 1)), 1)
    return counts


def _evenly(idx: np.ndarray, m: int) -> np.ndarray:
    return idx[(np.arange(min(m, len(idx))) * len(idx)) // max(min(m, len(idx)), 1)]


@dataclass(frozen=True)
class _Registered:
    """Long-baseline registrations of P parts: ``first`` (P,) each part's reference frame (the first with
    ``min_points`` points; -1: not registered), ``src`` / ``normals`` (P, M, 3) and ``w`` (P, M) its source
    points there, ``poses`` (P, T, 4, 4) its motion from ``first`` to every frame (identity up to ``first``),
    ``tracks`` (P, T, M, 3) where the flow carried the source points (``src`` up to ``first``) and
    ``flow_poses`` (P, T, 4, 4) the rigid motions fitted to the tracks (the registrations' initial guesses)."""

    first: np.ndarray
    src: np.ndarray
    normals: np.ndarray
    w: np.ndarray
    poses: np.ndarray
    tracks: np.ndarray
    flow_poses: np.ndarray


def _register(window: Window, tree: FrameTree, masks: np.ndarray, cfg: PartMergeConfig) -> _Registered:
    """Step 2 of the module doc for every part at once (masks (P, T, N))."""
    P, T, _ = masks.shape
    M = cfg.max_points
    enough = masks.sum(axis=2) >= cfg.min_points  # (P, T)
    first = np.where(enough[:, :-1].any(axis=1), np.argmax(enough, axis=1), -1)
    src, w = np.zeros((P, M, 3)), np.zeros((P, M))
    for p in np.flatnonzero(first >= 0):
        idx = _evenly(np.flatnonzero(masks[p, first[p]]), M)
        src[p, : len(idx)], w[p, : len(idx)] = window.points[first[p], idx], 1.0
    normals, nb_dist = tree.normals(np.maximum(first, 0), src, k=8)
    poses = np.tile(np.eye(4), (P, T, 1, 1))
    tracks = np.repeat(src[:, None], T, axis=1)
    guess = poses.copy()
    reg = _Registered(first, src, normals, w, poses, tracks, guess)
    if not (first >= 0).any():
        return reg
    # Initial guesses: each source point carried from frame to frame by the mean flow of its 4 nearest valid
    # points of that frame (the part's own material, whatever label the network gave it there), then one
    # least-squares rigid fit per frame (batched_weighted_kabsch).
    flow = np.asarray(window.flow, dtype=np.float64).reshape(-1, 3)
    pos = src.copy()
    for t in range(int(first[first >= 0].min()), T - 1):
        active = (first >= 0) & (first <= t)
        _, flat = tree.query(np.full(P, t), pos, k=4)
        ok = flat >= 0
        step = np.where(ok[..., None], flow[np.maximum(flat, 0)], 0.0).sum(2) / np.maximum(ok.sum(2), 1)[..., None]
        pos = pos + step * active[:, None, None]
        tracks[:, t + 1] = pos
        R, tr = batched_weighted_kabsch(src, pos, w)
        guess[active, t + 1, :3, :3], guess[active, t + 1, :3, 3] = R[active], tr[active]
    # one robust ICP of every (part, later frame) against all valid points of the frame
    pp, tt = np.nonzero((first[:, None] >= 0) & (np.arange(T)[None] > first[:, None]))
    d1 = np.where((w > 0) & np.isfinite(nb_dist[:, :, 1]), nb_dist[:, :, 1], np.nan)
    has = np.isfinite(d1).any(axis=1)
    spacing = np.zeros(P)
    spacing[has] = np.nanmedian(d1[has], axis=1)
    gate_end = np.maximum(cfg.gate_end_m, 2.0 * spacing)
    res = robust_icp(
        tree,
        tt,
        src[pp],
        normals[pp],
        w[pp],
        guess[pp, tt],
        iterations=cfg.icp_iterations,
        gate_start_m=np.maximum(cfg.gate_start_m, gate_end[pp]),
        gate_end_m=gate_end[pp],
        min_noise_m=cfg.noise_min_m,
    )
    poses[pp, tt] = res.transforms
    return reg


def _pair_residuals(
    reg: _Registered, tree: FrameTree, pairs: list[tuple[int, int]], cfg: PartMergeConfig
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Step 3's residuals of each pair (row indices into ``reg``): (own, other, moved): own / other (2, 2, K)
    the mean squared residual (m^2) [point-to-plane to the surfaces, to the flow's tracks] of the pair's first
    (row 0) and second part at the frames after their common reference frame f, under its own motion / under
    the other part's (NaN where fewer than ``min_points`` of its points lie on a surface under its own motion),
    and moved (2, K) the RMS displacement (m) of its points from frame f under its own motion; None when the
    pair shares no such frame."""
    T = reg.poses.shape[1]
    M = reg.src.shape[1]
    rows_q, rows_m, rows_t, rows_f, owner = [], [], [], [], []
    for i, (a, b) in enumerate(pairs):
        f = max(int(reg.first[a]), int(reg.first[b]))
        if reg.first[a] < 0 or reg.first[b] < 0 or f >= T - 1:
            continue
        for q, m in ((a, a), (a, b), (b, b), (b, a)):  # part q's points under part m's motion
            ts = np.arange(f + 1, T)
            rows_q += [q] * len(ts)
            rows_m += [m] * len(ts)
            rows_t += ts.tolist()
            rows_f += [f] * len(ts)
            owner += [i] * len(ts)
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(pairs)
    if not rows_q:
        return out
    q, m, t, f, owner = (np.asarray(v) for v in (rows_q, rows_m, rows_t, rows_f, owner))
    P = reg.poses
    # q's points at its reference frame -> frame f by its own motion -> frame t by m's motion
    G = P[m, t] @ np.linalg.inv(P[m, f]) @ P[q, f]
    R, tr = G[:, :3, :3], G[:, :3, 3]
    moved = np.einsum("bij,bnj->bni", R, reg.src[q]) + tr[:, None]
    at_f = np.einsum("bij,bnj->bni", P[q, f, :3, :3], reg.src[q]) + P[q, f, None, :3, 3]
    disp = np.sqrt((np.sum((moved - at_f) ** 2, axis=-1) * reg.w[q]).sum(-1) / np.maximum(reg.w[q].sum(-1), 1.0))
    n_t = np.einsum("bij,bnj->bni", R, reg.normals[q])
    d, flat = tree.query(t, moved, upper=cfg.residual_cap_m)
    near = tree.points[np.maximum(flat, 0)]
    plane = np.abs(np.einsum("bni,bni->bn", n_t, moved - near))
    has_normal = np.linalg.norm(reg.normals[q], axis=-1) > 0.5  # too few neighbours: point-to-point
    r = np.minimum(np.where(has_normal, plane, d), cfg.residual_cap_m)
    d2 = np.where((flat >= 0) & (reg.w[q] > 0), r, cfg.residual_cap_m) ** 2  # (B, M)
    # ... and the same test on the flow alone (the surfaces cannot see a motion in their own plane, e.g. a
    # drawer's top sliding out under a camera that looks down on it; the flow can): the distance of each
    # point, moved by the rigid fit of the flow's tracks, to where the flow carried it
    # flow-only: q's points under the rigid fits of the tracks of q / of m against q's tracks
    F = reg.flow_poses
    Gf = F[m, t] @ np.linalg.inv(F[m, f]) @ F[q, f]
    moved_f = np.einsum("bij,bnj->bni", Gf[:, :3, :3], reg.src[q]) + Gf[:, None, :3, 3]
    f2 = np.minimum(np.sum((moved_f - reg.tracks[q, t]) ** 2, axis=-1), cfg.residual_cap_m**2)
    for i in np.unique(owner):
        rows = np.flatnonzero(owner == i)
        Kf = len(rows) // 4
        blk = d2[rows].reshape(4, Kf, M)  # a|a, a|b, b|b, b|a
        fblk = f2[rows].reshape(4, Kf, M)
        own, other = blk[[0, 2]], blk[[1, 3]]  # (2, Kf, M)
        # only points their own motion puts on a surface count (one out of view or occluded says nothing)
        seen = own < cfg.residual_cap_m**2
        count = seen.sum(-1)
        ms = [np.where(seen, x, 0.0).sum(-1) / np.maximum(count, 1) for x in (own, other, fblk[[0, 2]], fblk[[1, 3]])]
        own_ms, other_ms, own_f, other_f = (np.where(count >= cfg.min_points, x, np.nan) for x in ms)
        out[i] = (np.stack([own_ms, own_f]), np.stack([other_ms, other_f]), disp[rows].reshape(4, Kf)[[0, 2]])
    return out


def _ratio(
    own: np.ndarray, other: np.ndarray, moved: np.ndarray, s: float, cfg: PartMergeConfig
) -> tuple[float, float]:
    """Step 3's residual ratio and relative misfit of one pair from :func:`_pair_residuals` (NaN: no
    informative frame)."""
    # frames where one of the two has moved: two parts at rest look like one (a drawer that starts late)
    informative = np.isfinite(own).all(axis=(0, 1)) & (np.nanmax(moved, axis=0) >= cfg.min_frame_motion_m)
    if not informative.any():
        return float("nan"), float("nan")
    own, other = own[..., informative], other[..., informative]  # (2 kinds, 2 parts, K')
    # noise-aware floor per kind and part: the flow's noise and the part's own typical residual (sparse,
    # re-sampled points leave a residual at the right pose, the flow's tracks drift; differences below
    # those are not evidence)
    s2 = np.maximum(s * s, np.median(own, axis=-1, keepdims=True))
    ratio_t = np.sqrt(((other + s2) / (own + s2)).max(axis=(0, 1)))
    # how far the other's motion puts a part off, against how far the part moved
    misfit = np.sqrt(np.median(other, axis=-1)).max(axis=0)  # (2,) per part, the worse kind
    relative = float((misfit / np.maximum(np.nanmax(moved[:, informative], axis=1), 1e-9)).max())
    return float(np.quantile(ratio_t, cfg.frame_quantile)), relative


def merge_parts(window: Window, labels: np.ndarray, config: PartMergeConfig | None = None) -> PartMerge:
    """Merge the reported parts of one window that move as one rigid body (see the module doc).

    Args:
        window: the (validated) window; points and flow in its fixed frame.
        labels: (T, N) int part labels, -1 invalid, 0 the root, 1..K the reported parts.
        config: :class:`PartMergeConfig`; None: its defaults.

    Returns:
        :class:`PartMerge`. Bad data never raises: non-finite points count as invalid, a part without a
        frame shared with another is not tested, a window of one frame merges nothing.

    Raises:
        ValueError: ``labels`` does not match the window's (T, N).
    """
    from sim2art_core.segment.slot_split import window_noise

    cfg = config or PartMergeConfig()
    T, N = window.num_frames, window.num_points
    labels = np.asarray(labels)
    if labels.shape != (T, N):
        raise ValueError(f"merge_parts: labels must be (T={T}, N={N}), got {labels.shape}")
    out = labels.astype(np.int16, copy=True)
    K = int(out.max()) if out.size else 0
    parent = np.arange(max(K, 0) + 1)
    finite = np.asarray(window.valid, bool) & np.isfinite(window.points).all(-1) & np.isfinite(window.flow).all(-1)
    if K < 2 or T < 2 or not finite.any():
        return PartMerge(out, (), parent, cfg.noise_min_m, ())
    root = finite & (out == 0)
    noise = window_noise(window, root, cfg.noise_min_m) if root.any() else cfg.noise_min_m
    s = max(cfg.residual_floor_m, cfg.noise_multiple * noise)
    tree = FrameTree(window.points, finite)
    tests: list[PairTest] = []
    merges: list[tuple[int, int]] = []
    while True:  # merge the best pair, then test the new parts again (merges are rare: one or two per window)
        Kc = int(out.max())
        lab = np.where(finite, out, -1)
        touch = _touch_counts(window.points, lab, Kc, cfg.touch_m)
        touch = touch + touch.T
        pairs = [(a, b) for a in range(1, Kc + 1) for b in range(a + 1, Kc + 1)]
        tested = [(a, b) for a, b in pairs if touch[a, b] >= cfg.min_touch_points]
        # only the parts of touching pairs are registered (others stay unregistered, first = -1)
        involved = {k for pair in tested for k in pair}
        reg = _register(window, tree, np.stack([(lab == k) & (k in involved) for k in range(Kc + 1)]), cfg)
        residuals = dict(zip(tested, _pair_residuals(reg, tree, tested, cfg), strict=True)) if tested else {}
        best: tuple[float, int, int, int] | None = None
        for a, b in pairs:
            ratio = relative = own = other = float("nan")
            if residuals.get((a, b)) is not None:
                o, x, moved = residuals[(a, b)]
                ratio, relative = _ratio(o, x, moved, s, cfg)
                if np.isfinite(ratio):
                    own, other = float(np.sqrt(np.nanmean(o))), float(np.sqrt(np.nanmean(x)))
            tests.append(PairTest(a, b, int(touch[a, b]), ratio, relative, own, other, False))
            passes = ratio <= cfg.max_residual_ratio and relative <= cfg.max_relative_misfit  # False for NaN
            if passes and (best is None or ratio < best[0]):
                best = (ratio, a, b, len(tests) - 1)
        if best is None:
            break
        _, a, b, i = best
        tests[i] = replace(tests[i], merged=True)
        keep, drop = (a, b) if (out == a).sum() >= (out == b).sum() else (b, a)  # the larger part's label
        merges.append((keep, drop))
        out[out == drop] = keep
        out[out > drop] -= 1
        parent = np.where(parent == drop, keep, parent)  # every input label follows its part
        parent = np.where(parent > drop, parent - 1, parent)
    return PartMerge(out, tuple(merges), parent, float(noise), tuple(tests))
