"""Batched robust ICP of point sets against the window's frames (point-to-plane + point-to-point).

B independent problems are solved together: problem b registers its source points (B, M, 3) against
the valid points of frame ``frames[b]`` of the window. All frames' points live in one
``scipy.spatial.cKDTree`` (:class:`FrameTree`), each frame shifted by a large offset along x, so one
query serves every problem and frame (scipy's per-call overhead, not the search, dominates at these
sizes: one query of B x M points instead of B queries).

Each iteration: nearest target point within a distance gate that shrinks geometrically from
``gate_start_m`` to ``gate_end_m`` (far matches - another part, the background of a segmentation
error - are dropped, trimmed ICP); Cauchy IRLS weights on the point-to-plane residual
(c = ``cauchy_scale`` x max(1.4826 x median |r|, ``min_noise_m``)); one Gauss-Newton step of the
weighted point-to-plane cost (normals of the sources, k-NN PCA in their own frame) plus
``point_weight`` x the point-to-point cost, which pins the directions a plane leaves free (in-plane
sliding of a flat door). Nothing pulls the solution towards the initial guess: a wrong guess is
left as far as the gate allows.

Why hand-written: scipy / Open3D offer no batched robust ICP of many small problems in NumPy (Open3D
is not a dependency; one problem per call costs ~1 ms each here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from sim2art_core.refine.so3 import skew

#: Offset (m) between consecutive frames in the shared tree: far beyond any object's extent.
_FRAME_OFFSET_M = 1000.0
#: 1.4826 * MAD estimates a Gaussian standard deviation.
_MAD_TO_SIGMA = 1.4826


class FrameTree:
    """One k-d tree over the valid points of all T frames of a window (frames offset along x).

    Args:
        points: (T, N, 3) m (invalid entries may hold NaN).
        valid: (T, N) bool.
    """

    def __init__(self, points: np.ndarray, valid: np.ndarray) -> None:
        points = np.asarray(points, dtype=np.float64)
        valid = np.asarray(valid, dtype=bool) & np.isfinite(points).all(axis=-1)
        T, N = valid.shape
        self.num_frames, self.num_points = T, N
        self.index = np.flatnonzero(valid.reshape(-1))  # tree row -> flat t * N + n
        self.points = points.reshape(-1, 3)
        shifted = self.points[self.index].copy()
        shifted[:, 0] += _FRAME_OFFSET_M * (self.index // N)
        self.empty = len(self.index) == 0
        # unbalanced, non-compact: 4x faster to build, as fast to query at these sizes
        self.tree = None if self.empty else cKDTree(shifted, balanced_tree=False, compact_nodes=False)

    def query(
        self, frames: np.ndarray, pts: np.ndarray, k: int = 1, upper: float | np.ndarray = np.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest valid points of frame ``frames[b]`` to pts (B, M, 3).

        Returns distances (B, M[, k]) (inf: none within ``upper``, a scalar or (B,)) and flat
        indices t * N + n into the window (B, M[, k]) (-1 where none).
        """
        B, M = pts.shape[:2]
        shape = (B, M) if k == 1 else (B, M, k)
        if self.empty or B * M == 0:
            return np.full(shape, np.inf), np.full(shape, -1, dtype=np.int64)
        q = np.array(pts, dtype=np.float64)
        q[..., 0] += _FRAME_OFFSET_M * np.asarray(frames)[:, None]
        finite = np.isfinite(q).all(axis=-1)
        q[~finite] = 1e9  # far from every point: no match
        up = np.broadcast_to(np.asarray(upper, dtype=np.float64), (B,))
        # one query with the largest gate (scipy's per-call overhead dominates), then each row's own
        d, i = self.tree.query(q.reshape(-1, 3), k=k, distance_upper_bound=float(up.max()))
        d, i = d.reshape(shape), i.reshape(shape)
        d = np.where(d <= up.reshape((B,) + (1,) * (d.ndim - 1)), d, np.inf)
        hit = np.isfinite(d)
        flat = np.where(hit, self.index[np.minimum(i, len(self.index) - 1)], -1)
        return d, flat

    def normals(self, frames: np.ndarray, pts: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(B, M, 3) unit normals of pts (B, M, 3) by PCA of their k nearest points in frame
        ``frames[b]`` (the smallest principal direction; sign arbitrary; too few neighbours: 0),
        and the neighbours' distances (B, M, k) (inf where none)."""
        d, flat = self.query(frames, pts, k=k)
        ok = (flat >= 0)[..., None]
        nb = np.where(ok, self.points[np.maximum(flat, 0)], 0.0)  # unmatched rows may be NaN points
        cnt = np.maximum(ok.sum(axis=2), 1)
        mean = (nb * ok).sum(axis=2) / cnt
        c = (nb - mean[:, :, None]) * ok
        cov = np.einsum("bmki,bmkj->bmij", c, c)
        _, V = np.linalg.eigh(cov)
        n = V[..., 0]
        return np.where((cnt >= 3) & np.isfinite(n).all(-1, keepdims=True), n, 0.0), d


@dataclass(frozen=True)
class IcpResult:
    """Result of :func:`robust_icp` for B problems.

    Attributes:
        transforms: (B, 4, 4) maps source points onto their frame's points.
        rms: (B,) m, robust-weighted RMS point-to-plane residual of the matched points (NaN: none).
        inlier_fraction: (B,) prior weight of the sources matched within the final gate / total.
        support: (B,) sum of the final weights.
        information: (B, 6, 6) Gauss-Newton information of the point-to-plane term (rotation
            vector in rad^-2, then the displacement of ``pivot`` in m^-2) of the final fit, scaled by
            1 / rms^2 (floored) and capped at ``max_effective_points`` effective points: directions a
            surface does not pin (sliding along a plane) get none.
        pivot: (B, 3) m, the transformed prior-weighted source centroid (the information's origin).
    """

    transforms: np.ndarray
    rms: np.ndarray
    inlier_fraction: np.ndarray
    support: np.ndarray
    information: np.ndarray
    pivot: np.ndarray


def robust_icp(
    tree: FrameTree,
    frames: np.ndarray,
    src: np.ndarray,
    src_normals: np.ndarray,
    src_weights: np.ndarray,
    init: np.ndarray,
    *,
    iterations: int = 6,
    gate_start_m: float | np.ndarray = 0.05,
    gate_end_m: float | np.ndarray = 0.01,
    point_weight: float = 0.1,
    cauchy_scale: float = 2.5,
    min_noise_m: float = 1e-3,
    max_effective_points: float = 32.0,
    target_weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> IcpResult:
    """Robust ICP of B source sets, each against one frame of ``tree``.

    Args:
        tree: the window's points.
        frames: (B,) int, the target frame of each problem.
        src: (B, M, 3) m source points (NaN allowed where the weight is 0).
        src_normals: (B, M, 3) their unit normals (0: point-to-point only).
        src_weights: (B, M) prior weights >= 0.
        init: (B, 4, 4) initial transforms.
        iterations: rounds of matching + one Gauss-Newton step (the last round's matches give the
            residual, inlier fraction and information; 0: only evaluate ``init``).
        gate_start_m, gate_end_m: match distance gate of the first / last round (geometric in
            between); scalars or (B,) per problem (e.g. scaled with the points' spacing).
        point_weight: weight of the point-to-point term relative to the point-to-plane term.
        cauchy_scale, min_noise_m: IRLS constant and noise floor (see the module doc).
        max_effective_points: the information counts at most this many independent points
            (neighbouring points' errors are correlated).
        target_weights: optional (G, T * N) weight of every window point as a target, per group
            (e.g. its probability of belonging to a part); None: 1.
        groups: (B,) int, the row of ``target_weights`` of each problem (required with it).

    Returns:
        :class:`IcpResult`. A problem without any weighted source keeps ``init`` with zero
        information, inlier fraction 0 and NaN rms.
    """
    B, M = src.shape[:2]
    X = np.array(init, dtype=np.float64)
    w0 = np.where(np.isfinite(src).all(-1), np.asarray(src_weights, dtype=np.float64), 0.0)
    s = np.where(w0[..., None] > 0, src, 0.0)
    ns = np.nan_to_num(np.asarray(src_normals, dtype=np.float64))
    w0_sum = w0.sum(axis=1)
    c0 = (w0[..., None] * s).sum(axis=1) / np.maximum(w0_sum, 1e-300)[:, None]
    eye6 = np.eye(6)
    g0 = np.broadcast_to(np.asarray(gate_start_m, dtype=np.float64), (B,))
    g1 = np.minimum(np.broadcast_to(np.asarray(gate_end_m, dtype=np.float64), (B,)), g0)
    frac = np.linspace(0.0, 1.0, max(iterations, 1))
    gates = g0[None] * (g1 / g0)[None] ** frac[:, None]  # (rounds, B)
    H_pl = np.zeros((B, 6, 6))
    wc = np.zeros((B, M))
    r_pl = np.zeros((B, M))
    matched = np.zeros((B, M), dtype=bool)
    for it in range(max(iterations, 1)):
        R, t = X[:, :3, :3], X[:, :3, 3]
        p = s @ np.swapaxes(R, 1, 2) + t[:, None]
        n = ns @ np.swapaxes(R, 1, 2)
        gate = gates[it]  # (B,)
        d, flat = tree.query(frames, p, upper=gate)
        matched = (flat >= 0) & (w0 > 0)
        q = np.where(matched[..., None], tree.points[np.maximum(flat, 0)], p)  # unmatched: residual 0, weight 0
        w = np.where(matched, w0, 0.0)
        if target_weights is not None:
            w = w * np.where(matched, target_weights[np.asarray(groups)[:, None], np.maximum(flat, 0)], 0.0)
        r_pt = p - q
        r_pl = np.einsum("bmi,bmi->bm", n, r_pt)
        # robust scale: 1.4826 x median |point-to-plane residual| of the matched points
        scale = np.maximum(_MAD_TO_SIGMA * _masked_median(np.abs(r_pl), w > 0), min_noise_m)
        wc = w / (1.0 + (r_pl / (cauchy_scale * scale[:, None])) ** 2)
        pivot = (R @ c0[:, :, None])[:, :, 0] + t
        pc = p - pivot[:, None]
        J_pl = np.concatenate([np.cross(pc, n), n], axis=-1)  # (B, M, 6)
        # Point-to-point: r + w x pc + v = r - [pc]x w + v, J = [-[pc]x, I]; its normal equations from
        # the weighted moments S0 = sum w, S1 = sum w pc, S2 = sum w pc pc^T (no (B, M, 3, 6) Jacobian):
        # J^T J = [[tr(S2) I - S2, [S1]x], [-[S1]x, S0 I]], J^T r = [sum w pc x r, sum w r].
        S0 = wc.sum(axis=1)
        S1 = np.einsum("bm,bmi->bi", wc, pc)
        S2 = np.einsum("bm,bmi,bmj->bij", wc, pc, pc)
        K1 = skew(S1)
        H_pt = np.empty((B, 6, 6))
        H_pt[:, :3, :3] = np.trace(S2, axis1=1, axis2=2)[:, None, None] * np.eye(3) - S2
        H_pt[:, :3, 3:] = K1
        H_pt[:, 3:, :3] = -K1
        H_pt[:, 3:, 3:] = S0[:, None, None] * np.eye(3)
        H_pl = np.einsum("bm,bmi,bmj->bij", wc, J_pl, J_pl)
        H = H_pl + point_weight * H_pt
        if iterations == 0:
            break
        wr = wc[..., None] * r_pt
        g_pt = np.concatenate([np.cross(pc, wr).sum(axis=1), wr.sum(axis=1)], axis=-1)
        g = np.einsum("bm,bmi->bi", wc * r_pl, J_pl) + point_weight * g_pt
        reg = 1e-9 * np.maximum(np.trace(H, axis1=1, axis2=2), 1e-12)[:, None, None] * eye6
        ok = wc.sum(axis=1) > 0
        delta = np.linalg.solve(np.where(ok[:, None, None], H + reg, eye6), -g[..., None])[..., 0]
        delta[~ok] = 0.0
        dR = Rotation.from_rotvec(delta[:, :3]).as_matrix()
        step = np.tile(np.eye(4), (B, 1, 1))
        step[:, :3, :3] = dR
        step[:, :3, 3] = pivot + delta[:, 3:] - (dR @ pivot[:, :, None])[:, :, 0]
        X = step @ X
    wsum = wc.sum(axis=1)
    with np.errstate(all="ignore"):
        rms = np.where(wsum > 0, np.sqrt((wc * r_pl**2).sum(axis=1) / np.maximum(wsum, 1e-300)), np.nan)
    sigma2 = np.maximum(np.nan_to_num(rms, nan=0.0) ** 2, min_noise_m**2)
    n_scale = np.minimum(1.0, max_effective_points / np.maximum(wsum, 1e-300))
    # Information from the point-to-plane term only: the point-to-point term stabilises the solve in
    # directions a surface leaves free (in-plane sliding), but re-sampled points carry no reliable
    # information there (their spacing, not the noise, sets those residuals).
    info = H_pl * (n_scale / sigma2)[:, None, None]
    info[wsum <= 0] = 0.0
    inlier = np.where(w0_sum > 0, (w0 * matched).sum(axis=1) / np.maximum(w0_sum, 1e-300), 0.0)
    pivot = (X[:, :3, :3] @ c0[:, :, None])[:, :, 0] + X[:, :3, 3]
    return IcpResult(X, rms, inlier, wsum, info, pivot)


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B,) median of each row's masked values of (B, M) (0 for a row without any): one sort
    (np.nanmedian goes through masked arrays and costs ~1 ms per call here)."""
    n = mask.sum(axis=1)
    v = np.sort(np.where(mask, values, np.inf), axis=1)
    rows = np.arange(len(n))
    lo = v[rows, np.maximum((n - 1) // 2, 0)]
    hi = v[rows, np.minimum(n // 2, v.shape[1] - 1)]
    return np.where(n > 0, (lo + hi) / 2.0, 0.0)
