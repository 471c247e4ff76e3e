"""Per-part rigid motion between consecutive frames from scene-flow correspondences.

For frame pair t -> t+1 the correspondences of part p are (x, x + flow) for the
points x of frame t, weighted by the part probabilities. The pairs of all parts
of a window are solved at once (batched weighted Kabsch), then re-weighted with a
Cauchy M-estimator (IRLS) so that wrong flow vectors and mis-segmented boundary
points lose their influence; every row stops re-weighting on its own, so a fit
does not depend on what else is in the batch.

Why hand-written rather than ``geometry.fit_rigid``: that function solves one
problem per call through ``scipy.Rotation.align_vectors``; here all parts' T-1
problems times several IRLS iterations must fit in well under 2 ms per part,
which needs one batched ``np.linalg.svd`` over (Q (T-1), 3, 3) matrices.
``geometry.fit_rigid`` is the reference the tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: 1.4826 * MAD estimates a Gaussian standard deviation.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class PairMotions:
    """Rigid motion of one part for every frame pair t -> t+1 (world/window frame).

    Attributes:
        transforms: (K, 4, 4) float64, ``x_{t+1} = transforms[t] @ x_t`` for pair t.
        rms: (K,) m, robust-weighted RMS residual of each pair fit (NaN where not valid).
        support: (K,) effective number of points of each fit (sum of the final weights).
        valid: (K,) bool, the pair had enough weighted, non-degenerate points.
        centroids: (K, 3) m, weighted centroid of the source points (final weights).
        covariances: (K, 3, 3) m^2, their weighted covariance: with rms and support it gives the
            information of the fitted rotation (how well the point layout pins each rotation axis).
        sq_residuals: (K, N) m^2, squared residual of every point against the final fit (the
            caller measures which fraction of a part the motion explains at the noise it knows).
    """

    transforms: np.ndarray
    rms: np.ndarray
    support: np.ndarray
    valid: np.ndarray
    centroids: np.ndarray
    covariances: np.ndarray
    sq_residuals: np.ndarray


def batched_weighted_kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares rigid fits ``dst ~= R src + t`` for K independent problems.

    Args:
        src, dst: (K, N, 3) corresponding points.
        w: (K, N) non-negative weights; a problem whose weights sum to 0 gets the identity.

    Returns:
        R (K, 3, 3) proper rotations and t (K, 3).
    """
    src_h, _, _ = _layouts(np.asarray(src), np.zeros_like(src))
    _, _, dst_h_t = _layouts(np.asarray(dst), np.zeros_like(dst))
    Rt, _ = _kabsch(src_h, dst_h_t, np.asarray(w, dtype=np.float64))
    return Rt[:, :, :3], Rt[:, :, 3]


def _layouts(points: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float64 layouts of the fits from (K, N, 3) points and flow (any float dtype):
    sources (K, 4, N) with a row of ones, destinations = points + flow (K, 3, N), and the
    destinations with a column of ones (K, N, 4). Coordinate-major, homogeneous: one product then
    gives weighted sums, first and cross moments together (NumPy's per-call overhead dominates at
    these sizes, see :func:`_moments`)."""
    K, N = points.shape[:2]
    src_h = np.empty((K, 4, N))
    src_h[:, :3] = points.transpose(0, 2, 1)
    src_h[:, 3] = 1.0
    dst = np.add(src_h[:, :3], flow.transpose(0, 2, 1), out=np.empty((K, 3, N)))
    dst_h_t = np.empty((K, N, 4))
    dst_h_t[:, :, :3] = dst.transpose(0, 2, 1)
    dst_h_t[:, :, 3] = 1.0
    return src_h, dst, dst_h_t


def _moments(src_h: np.ndarray, other_h_t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(K, 4, 4) sum_i w_i [x_i; 1][y_i; 1]^T: the 3x3 block is the raw cross moment, the last column
    the weighted sum of x, the last row that of y, the corner the sum of the weights."""
    return (src_h * w[:, None, :]) @ other_h_t


def _kabsch(src_h: np.ndarray, dst_h_t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted Kabsch on homogeneous coordinate-major sources (K, 4, N) and destinations
    (K, N, 4) (see :func:`_moments`). Returns [R | t] (K, 3, 4) and the singular values (K, 3) of the
    weighted cross-covariance / sum(w)."""
    M = _moments(src_h, dst_h_t, w)
    wsum = M[:, 3, 3]
    safe = np.maximum(wsum, 1e-300)[:, None]
    cs = M[:, :3, 3] / safe
    # Cross-covariance H = sum_i w_i (src_i - cs)(dst_i - cd)^T = sum_i w_i src_i dst_i^T - cs (sum_i w_i dst_i)^T.
    H = M[:, :3, :3] - cs[:, :, None] * M[:, 3, None, :3]
    U, S, Vt = np.linalg.svd(H)
    # R = V diag(1, 1, d) U^T with d = det(V U^T) = +-1, so R is a rotation, never a reflection. (Not
    # sign(det H): for coplanar sources, e.g. 3 points or one face of a part, det H is 0 up to rounding.)
    UVt = U @ Vt
    reflection = np.linalg.det(UVt) < 0
    if reflection.any():
        UVt[reflection] -= 2.0 * U[reflection, :, 2, None] * Vt[reflection, None, 2, :]
    Rt = np.empty((len(w), 3, 4))
    Rt[:, :, :3] = np.swapaxes(UVt, 1, 2)
    Rt[:, :, 3] = M[:, 3, :3] / safe - (Rt[:, :, :3] @ cs[:, :, None])[:, :, 0]
    empty = wsum <= 0
    if empty.any():
        Rt[empty] = np.eye(3, 4)
    return Rt, S / safe


def fit_pair_motions(
    points: np.ndarray,
    flow: np.ndarray,
    weights: np.ndarray,
    *,
    irls_iterations: int = 3,
    cauchy_scale: float = 2.5,
    min_noise_m: float = 1e-3,
    min_support: float = 8.0,
) -> PairMotions:
    """Robust rigid motion of one part for every consecutive frame pair.

    Args:
        points: (K, N, 3) points of frames 0..K-1 (float32 or float64, m).
        flow: (K, N, 3) their scene flow to the next frame (m).
        weights: (K, N) prior weights in [0, 1] (part probability times validity).
        irls_iterations: Cauchy re-weighting rounds after the initial weighted fit (0 = plain LS).
        cauchy_scale: c = cauchy_scale * max(1.4826 * median residual, min_noise_m); a point with
            residual r keeps the factor 1 / (1 + (r / c)^2) of its prior weight.
        min_noise_m: floor of the robust scale, so exact data is not re-weighted into a few points.
        min_support: a pair needs this much prior weight (and 3 non-collinear points) to be valid.

    Returns:
        :class:`PairMotions`; invalid pairs carry the identity and NaN rms.
    """
    return _fit(
        *_layouts(np.asarray(points), np.asarray(flow)),
        np.asarray(weights, dtype=np.float64),
        irls_iterations=irls_iterations,
        cauchy_scale=cauchy_scale,
        min_noise_m=min_noise_m,
        min_support=min_support,
    )


@dataclass(frozen=True)
class PartSamples:
    """The points of Q parts that :func:`fit_part_pair_motions` fitted, one row per part and frame pair.

    Attributes:
        points: (Q * K, 3, W) float64 m, coordinate-major; row q * K + k: part q, frame k. A row's
            first ``count[row]`` columns are its points (evenly spaced when the part had more than W),
            the rest repeat its last point with weight 0.
        count: (Q * K,) number of points of each row.
        weights: (Q * K, W) the prior weights of the row's points (0 for padding).
    """

    points: np.ndarray
    count: np.ndarray
    weights: np.ndarray


def fit_part_pair_motions(
    points: np.ndarray,
    flow: np.ndarray,
    weights: np.ndarray,
    *,
    max_points: int | None = None,
    irls_iterations: int = 3,
    cauchy_scale: float = 2.5,
    min_noise_m: float = 1e-3,
    min_support: float = 8.0,
) -> tuple[PairMotions, PartSamples]:
    """Rigid motion of every part of a window for every frame pair, all parts in one batch.

    Each part's points of frame k (weight > 0) are gathered into one row (padded with weight 0), so
    the cost scales with the parts' sizes, not with Q x N, and NumPy's per-call overhead is paid once
    for all parts (it, not arithmetic, dominates at these sizes).

    Args:
        points, flow: (T * N, 3) the window's points and flow, frames flattened (float32 or float64;
            only the gathered points are converted to float64).
        weights: (Q, T - 1, N) each part's non-negative weight of every point of frames 0..T-2
            (0: not in the part, e.g. invalid points, which may hold NaN).
        max_points: at most this many evenly spaced points per part and frame (None: all).
        irls_iterations, cauchy_scale, min_noise_m, min_support: see :func:`fit_pair_motions`.

    Returns:
        :class:`PairMotions` of the Q * (T - 1) problems (row q * (T - 1) + k: part q, pair k) and
        the gathered points (:class:`PartSamples`).
    """
    Q, K, N = weights.shape
    mask = weights > 0
    count = np.count_nonzero(mask, axis=2).reshape(Q * K)
    width = max(int(count.max()) if max_points is None else int(min(count.max(), max_points)), 1)
    j = np.arange(width)
    # Position of each kept point among its row's points (padding repeats the row's last point).
    pos = np.where(
        count[:, None] > width, (j * count[:, None]) // width, np.minimum(j, np.maximum(count - 1, 0)[:, None])
    )
    flat = np.flatnonzero(mask)  # (q, k, n) of every part point, row by row, in index order
    if len(flat) == 0:
        flat = np.zeros(1, dtype=np.int64)  # no point at all: every row is padding (weight 0)
    sel = np.take(flat, np.minimum(np.cumsum(count)[:, None] - count[:, None] + pos, len(flat) - 1))
    rows = sel % (K * N)  # (Q * K, W) row k * N + n of the window's flattened frames
    w = np.where(j < count[:, None], np.take(weights, sel), 0.0).astype(np.float64)
    layouts = _layouts(np.take(points, rows, axis=0), np.take(flow, rows, axis=0))  # np.take: 2x faster than []
    fit = _fit(
        *layouts,
        w,
        irls_iterations=irls_iterations,
        cauchy_scale=cauchy_scale,
        min_noise_m=min_noise_m,
        min_support=min_support,
    )
    return fit, PartSamples(layouts[0][:, :3], count, w)


def _fit(
    src_h: np.ndarray,
    dst: np.ndarray,
    dst_h_t: np.ndarray,
    w0: np.ndarray,
    *,
    irls_iterations: int,
    cauchy_scale: float,
    min_noise_m: float,
    min_support: float,
) -> PairMotions:
    """:func:`fit_pair_motions` on the :func:`_layouts` of its points; every row is an independent
    problem (rows may stack the frame pairs of several parts)."""
    w = w0
    Rt, sv = _kabsch(src_h, dst_h_t, w)
    sample = _scale_sample(w0) if irls_iterations > 0 else None
    # Every row stops on its own (so a row's result does not depend on what else is in the batch):
    # when no weight of the row changes by _IRLS_WEIGHT_TOL the refit would not move it (clean data
    # stops after one round). Stopped rows keep their values; the loop ends when all have stopped.
    active = np.ones(len(w0), dtype=bool)
    for _ in range(irls_iterations):
        r2 = _squared_residuals(Rt, src_h, dst)
        c2 = (cauchy_scale * _robust_scale(r2, sample, min_noise_m)) ** 2
        w_new = w0 / (1.0 + r2 / c2[:, None])
        refit = active & (np.max(np.abs(w_new - w), axis=1) >= _IRLS_WEIGHT_TOL)
        w = w_new if active.all() else np.where(active[:, None], w_new, w)
        active = refit
        if not active.any():
            break
        Rt_new, sv_new = _kabsch(src_h, dst_h_t, w)
        if active.all():
            Rt, sv = Rt_new, sv_new
        else:
            Rt = np.where(active[:, None, None], Rt_new, Rt)
            sv = np.where(active[:, None], sv_new, sv)
    res2 = _squared_residuals(Rt, src_h, dst)
    wsum = w.sum(axis=1)
    safe = np.maximum(wsum, 1e-300)
    # The rotation is defined when the points are not (nearly) collinear: the cross-covariance then has a
    # second singular value (~ the points' second principal variance for small motions).
    valid = (w0.sum(axis=1) >= min_support) & (np.count_nonzero(w0 > 0, axis=1) >= 3) & (sv[:, 1] > _MIN_SPREAD_M**2)
    rms = np.where(valid, np.sqrt((w * res2).sum(axis=1) / safe), np.nan)
    T = np.zeros((len(w), 4, 4))
    T[:, :3] = Rt
    T[:, 3, 3] = 1.0
    if not valid.all():
        T[~valid] = np.eye(4)
    M = _moments(src_h, np.swapaxes(src_h, 1, 2), w)
    centroids = M[:, :3, 3] / safe[:, None]
    cov = M[:, :3, :3] / safe[:, None, None] - centroids[:, :, None] * centroids[:, None, :]
    return PairMotions(T, rms, wsum, valid, centroids, cov, res2)


#: IRLS stops when no weight changes by more than this (weights are in [0, 1]).
_IRLS_WEIGHT_TOL = 1e-3
#: Points spread less than this (m, RMS) across their first principal direction count as collinear.
_MIN_SPREAD_M = 1e-4


def _squared_residuals(Rt: np.ndarray, src_h: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(K, N) |R_k src + t_k - dst|^2 for [R | t] (K, 3, 4) and homogeneous coordinate-major sources (K, 4, N)."""
    d = Rt @ src_h - dst
    return np.einsum("kcn,kcn->kn", d, d)


#: Residuals per frame pair used for the robust scale (the median of 64 evenly spaced points is a
#: good enough scale for the Cauchy weights and costs a sort of 64 values instead of N).
_SCALE_SAMPLES = 64


def _scale_sample(w0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices into (K, N) (K, S) of up to S evenly spaced weighted points per row (in index
    order), and their count (K,)."""
    flat = np.flatnonzero(w0 > 0)  # row by row, in index order
    if len(flat) == 0:
        flat = np.zeros(1, dtype=np.int64)  # no weighted point at all: every row gets the floor
    count = np.count_nonzero(w0 > 0, axis=1)
    pos = (np.arange(_SCALE_SAMPLES)[None, :] * np.maximum(count, 1)[:, None]) // _SCALE_SAMPLES
    return flat[np.minimum(np.cumsum(count)[:, None] - count[:, None] + pos, len(flat) - 1)], count


def _robust_scale(r2: np.ndarray, sample: tuple[np.ndarray, np.ndarray], floor: float) -> np.ndarray:
    """(K,) 1.4826 * median residual of each row's sampled weighted points, at least ``floor``.

    ``r2`` are squared residuals (K, N); rows without weighted points get ``floor``.
    """
    flat, count = sample
    # With fewer than S weighted points the sample repeats each evenly, so the middle is the median.
    med2 = np.partition(np.take(r2, flat), _SCALE_SAMPLES // 2, axis=1)[:, _SCALE_SAMPLES // 2]
    med2 = np.where(count > 0, med2, 0.0)
    return np.maximum(_MAD_TO_SIGMA * np.sqrt(med2), floor)
