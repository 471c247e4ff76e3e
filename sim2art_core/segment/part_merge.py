"""Part merge: two reported parts of one window that move as one rigid body become one part (issue 11.1).

Through the node's optical flow the network often cuts one real part into two slots within a window (a door
cut into a top and a bottom half, a fan rotor into two halves; docs/BENCHMARKS.md "Duplicate tracks" and
"Type-ambiguous and contradicting tracks": most confirmed duplicates are *one window's* two joints for one
part). The fused object model must keep two parts of one window apart (a real double door is two parts), so
the merge belongs here, where the window's points can say whether the two pieces moved as one.

Per pair of reported parts (labels a, b >= 1), with the union u = a + b:

1. **Touch**: at least ``min_touch_points`` points of one lie within ``touch_m`` of the other's points of the
   same frame (scipy cKDTree, all frames in one tree). Two parts that never touch are not one part.
2. **Long-baseline registration** (:func:`sim2art_core.refine.icp.robust_icp`, as the refinement's
   long-baseline fits): from the first frame f where both parts have ``min_points`` points, up to
   ``max_points`` evenly spaced points of each part are registered against every later frame t's points
   (all valid points of the frame are targets), three times: a's points alone, b's alone and a's and b's
   together under **one** motion; each starts from its own chained pair fits of the flow (IRLS, as
   :func:`sim2art_core.refine.rigid.fit_part_pair_motions`).
3. **Residual ratio** (noise-aware): after each registration, every source point's point-to-plane distance
   to the nearest point of frame t (along its own normal, moved with it; capped at ``residual_cap_m``, and
   the cap where no point lies within it; not robustly down-weighted: a half that one motion cannot explain
   must count). Per part p in {a, b} and frame t,
   ``ratio = sqrt((r_one^2 + s^2) / (r_own^2 + s^2))`` with r the RMS distance of p's points under the joint
   motion (r_one) or under p's own (r_own), and ``s = max(residual_floor_m, noise_multiple x noise)`` where
   ``noise`` is the window's flow noise (the root's median robust pair residual, the slot split's and the
   refinement gate's measure): differences below the noise cannot separate two motions. The pair's ratio
   is the ``frame_quantile`` over frames of the larger of the two parts' ratios. The two parts merge when it
   is at most ``max_residual_ratio``: one rigid motion per frame explains each of them about as well as its
   own does.
4. The pair with the smallest ratio merges first (into the larger part's label; the labels above the
   removed one shift down by one); the test repeats on the new parts until no pair passes.

Nothing here knows a category. A double door (hinges on opposite sides), an upper and a lower door on one
hinge line opened by different amounts and stacked drawers pulled by different amounts touch, but one motion
leaves one of them centimetres off its surfaces: they stay apart (test/core/segment/test_part_merge.py).
Used by the estimator when ``EstimatorConfig.part_merge`` is on (see there for the default and
docs/BENCHMARKS.md "Part merge" for the val measurement).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from sim2art_core.refine.icp import FrameTree, robust_icp
from sim2art_core.refine.motion import chain_steps
from sim2art_core.refine.rigid import fit_part_pair_motions
from sim2art_core.window import Window

#: Frames are stacked into one KD-tree for the touch test, each shifted by this much along x (m).
_FRAME_OFFSET_M = 1.0e4


@dataclass(frozen=True)
class PartMergeConfig:
    """Knobs of :func:`merge_parts` (units m unless stated)."""

    touch_m: float = 0.03
    """Two parts touch when at least ``min_touch_points`` points of one lie within this of the other's points
    of the same frame (a part cut in two touches along the cut)."""
    min_touch_points: int = 3
    """See ``touch_m``."""
    max_residual_ratio: float = 1.5
    """Two touching parts merge when one motion per frame explains each of them within this ratio of its own
    registration's residual (the ``frame_quantile`` over frames of the larger part ratio, noise-floored).
    Chosen on the val split (docs/BENCHMARKS.md "Part merge")."""
    residual_floor_m: float = 0.003
    """Floor s of the residuals in the ratio: re-sampled points lie up to a fraction of the point spacing
    from the nearest point of the same surface, so smaller differences are not evidence of two motions."""
    noise_multiple: float = 1.0
    """s is at least this times the window's flow noise (the root's median robust pair residual): two
    motions that differ by less than the flow's noise cannot be told apart from it. 0: the floor only."""
    frame_quantile: float = 0.5
    """The pair's ratio is this quantile over the registered frames (1: the worst frame; lower values
    ignore a frame where one registration failed)."""
    residual_cap_m: float = 0.05
    """A source point's residual is its point-to-plane distance to the nearest point of the frame, at most
    this (a point with no surface within this distance counts as this far off)."""
    max_points: int = 48
    """Registered points per part (evenly spaced at the reference frame)."""
    min_points: int = 8
    """A part needs this many points at a common frame with the other to be tested."""
    icp_iterations: int = 4
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
        residual_own: m, RMS over frames and both parts of the residual under each part's own motion.
        residual_one: m, the same under one motion for both.
        merged: the pair was merged.
    """

    a: int
    b: int
    touch_points: int
    ratio: float
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


def _touch_points(points: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float) -> int:
    """Points of ``a`` within ``tol`` of a point of ``b`` in the same frame, plus the converse."""
    ta, na = np.nonzero(a)
    tb, nb = np.nonzero(b)
    if len(ta) == 0 or len(tb) == 0:
        return 0
    A = points[ta, na].astype(np.float64)
    B = points[tb, nb].astype(np.float64)
    A[:, 0] += _FRAME_OFFSET_M * ta
    B[:, 0] += _FRAME_OFFSET_M * tb
    da, _ = cKDTree(B).query(A, distance_upper_bound=tol)
    db, _ = cKDTree(A).query(B, distance_upper_bound=tol)
    return int(np.isfinite(da).sum() + np.isfinite(db).sum())


def _evenly(idx: np.ndarray, m: int) -> np.ndarray:
    return idx[(np.arange(min(m, len(idx))) * len(idx)) // max(min(m, len(idx)), 1)]


def _pair_ratio(
    window: Window, valid: np.ndarray, a: np.ndarray, b: np.ndarray, s: float, cfg: PartMergeConfig
) -> tuple[float, float, float]:
    """(ratio, RMS residual under own motions, under the other's) of two part masks; NaN when not testable."""
    T, N = valid.shape
    nan = (float("nan"),) * 3
    both = (a.sum(axis=1) >= cfg.min_points) & (b.sum(axis=1) >= cfg.min_points)
    frames = np.flatnonzero(both)
    if len(frames) == 0 or frames[0] >= T - 1:
        return nan
    f = int(frames[0])
    # chained pair fits of a and b from frame 0 (identity where a pair could not be fitted): the guesses
    masks = np.stack([a, b])[:, :-1].astype(np.float64)
    fit, _ = fit_part_pair_motions(
        window.points.reshape(T * N, 3), window.flow.reshape(T * N, 3), masks, max_points=128, min_support=3
    )
    chains = chain_steps(fit.transforms.reshape(2, T - 1, 4, 4))  # (2, T, 4, 4)
    guess = chains[:, f + 1 :] @ np.linalg.inv(chains[:, f])[:, None]  # (2, K, 4, 4) frame f -> t
    # targets: the two parts' points of every frame (the base next to a part would pull its registration)
    tree = FrameTree(window.points, valid & (a | b))
    M = cfg.max_points
    pts = window.points[f].astype(np.float64)
    src = np.zeros((2, M, 3))
    w = np.zeros((2, M))
    n_src = []
    for q, mask in enumerate((a, b)):
        idx = _evenly(np.flatnonzero(mask[f]), M)
        src[q, : len(idx)], w[q, : len(idx)] = pts[idx], 1.0
        n_src.append(len(idx))
    normals, nb_dist = tree.normals(np.full(2, f), src, k=8)
    d1 = nb_dist[:, :, 1][w > 0]
    spacing = float(np.median(d1[np.isfinite(d1)])) if np.isfinite(d1).any() else 0.0
    gate_end = max(cfg.gate_end_m, 2.0 * spacing)
    targets = np.arange(f + 1, T)
    K = len(targets)
    res = robust_icp(
        tree,
        np.tile(targets, 2),
        np.repeat(src, K, axis=0),
        np.repeat(normals, K, axis=0),
        np.repeat(w, K, axis=0),
        guess.reshape(2 * K, 4, 4),
        iterations=cfg.icp_iterations,
        gate_start_m=max(cfg.gate_start_m, gate_end),
        gate_end_m=gate_end,
        min_noise_m=cfg.noise_min_m,
    )
    X = res.transforms.reshape(2, K, 4, 4)
    # Each part's points under its own motion and under the other's: every source point's point-to-plane
    # distance to frame t's nearest point (its normal moved with it; capped, not down-weighted; no point within
    # the cap: the cap). Row (q, m): part q's points under part m's motion.
    R, t = X[..., :3, :3], X[..., :3, 3]  # (2, K, 3, 3), (2, K, 3)
    moved = np.einsum("mkij,qnj->qmkni", R, src) + t[None, :, :, None]  # (2, 2, K, M, 3)
    n_t = np.einsum("mkij,qnj->qmkni", R, normals)
    frames_q = np.tile(targets, 4)
    d, flat = tree.query(frames_q, moved.reshape(4 * K, M, 3), upper=cfg.residual_cap_m)
    near = tree.points[np.maximum(flat, 0)].reshape(2, 2, K, M, 3)
    plane = np.abs(np.einsum("qmkni,qmkni->qmkn", n_t, moved - near))
    has_normal = (np.linalg.norm(normals, axis=-1) > 0.5)[:, None, None]  # too few neighbours: point-to-point
    r = np.where(has_normal, plane, d.reshape(2, 2, K, M))
    d2 = np.where(flat.reshape(2, 2, K, M) >= 0, np.minimum(r, cfg.residual_cap_m), cfg.residual_cap_m) ** 2
    d2 = np.where(w[:, None, None] > 0, d2, 0.0)
    ms = d2.sum(-1) / np.maximum(np.array(n_src, float), 1.0)[:, None, None]  # (2, 2, K) mean square
    own, other = ms[[0, 1], [0, 1]], ms[[0, 1], [1, 0]]  # (2, K)
    # noise-aware floor per part: the flow's noise and the part's own typical registration residual (sparse,
    # re-sampled points leave a residual at the right pose; differences below it are not evidence)
    s2 = np.maximum(s * s, np.median(own, axis=1, keepdims=True))
    ratio_t = np.sqrt(((other + s2) / (own + s2)).max(axis=0))
    ratio = float(np.quantile(ratio_t, cfg.frame_quantile))
    wq = np.array(n_src, float)[:, None] / max(sum(n_src), 1)
    return ratio, float(np.sqrt((own * wq).sum(0).mean())), float(np.sqrt((other * wq).sum(0).mean()))


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
    noise = (
        window_noise(window, finite & (out == 0), cfg.noise_min_m) if (finite & (out == 0)).any() else cfg.noise_min_m
    )
    s = max(cfg.residual_floor_m, cfg.noise_multiple * noise)
    index: dict[tuple[bytes, bytes], int] = {}  # pair masks -> its entry in tests (a pair is tested once)
    tests: list[PairTest] = []
    merges: list[tuple[int, int]] = []
    while True:
        Kc = int(out.max())
        best: tuple[float, int, int, int] | None = None
        for a in range(1, Kc + 1):
            ma = finite & (out == a)
            for b in range(a + 1, Kc + 1):
                mb = finite & (out == b)
                key = (np.packbits(ma).tobytes(), np.packbits(mb).tobytes())
                if key not in index:
                    touch = _touch_points(window.points, ma, mb, cfg.touch_m)
                    ratio = own = one = float("nan")
                    if touch >= cfg.min_touch_points:
                        ratio, own, one = _pair_ratio(window, finite, ma, mb, s, cfg)
                    index[key] = len(tests)
                    tests.append(PairTest(a, b, touch, ratio, own, one, False))
                r = tests[index[key]].ratio
                if np.isfinite(r) and r <= cfg.max_residual_ratio and (best is None or r < best[0]):
                    best = (r, a, b, index[key])
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
