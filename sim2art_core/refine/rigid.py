"""Per-part rigid motion between consecutive frames from scene-flow correspondences.

For frame pair t -> t+1 the correspondences of part p are (x, x + flow) for the
points x of frame t, weighted by the part probabilities. All T-1 pairs of one
part are solved at once (batched weighted Kabsch), then re-weighted with a
Cauchy M-estimator (IRLS) so that wrong flow vectors and mis-segmented boundary
points lose their influence.

Why hand-written rather than ``geometry.fit_rigid``: that function solves one
problem per call through ``scipy.Rotation.align_vectors``; here T-1 problems
times several IRLS iterations must fit in well under 2 ms per part, which needs
one batched ``np.linalg.svd`` over (T-1, 3, 3) matrices. ``geometry.fit_rigid``
is the reference the tests compare against.
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
    """

    transforms: np.ndarray
    rms: np.ndarray
    support: np.ndarray
    valid: np.ndarray
    centroids: np.ndarray
    covariances: np.ndarray


def batched_weighted_kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares rigid fits ``dst ~= R src + t`` for K independent problems.

    Args:
        src, dst: (K, N, 3) corresponding points.
        w: (K, N) non-negative weights; a problem whose weights sum to 0 gets the identity.

    Returns:
        R (K, 3, 3) proper rotations and t (K, 3).
    """
    return _kabsch_cm(_coord_major(src), _coord_major(dst), np.asarray(w, dtype=np.float64))


def _coord_major(x: np.ndarray) -> np.ndarray:
    """(K, N, 3) -> contiguous float64 (K, 3, N): batched 3x3 @ 3xN products are then fast in NumPy."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(x, dtype=np.float64), 1, 2))


def _kabsch_cm(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted Kabsch on coordinate-major (K, 3, N) points."""
    return _kabsch_cm_sv(src, dst, w)[:2]


def _kabsch_cm_sv(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_kabsch_cm` plus the singular values (K, 3) of the weighted cross-covariance / sum(w)."""
    wsum = w.sum(axis=1)
    safe = np.maximum(wsum, 1e-300)[:, None]
    ws = src * w[:, None, :]
    cs = ws.sum(axis=2) / safe
    cd = (w[:, None, :] @ np.swapaxes(dst, 1, 2))[:, 0] / safe
    # Cross-covariance H = sum_i w_i (src_i - cs)(dst_i - cd)^T, expanded so no centred copies are made.
    H = ws @ np.swapaxes(dst, 1, 2) - wsum[:, None, None] * (cs[:, :, None] * cd[:, None, :])
    U, S, Vt = np.linalg.svd(H)
    V = np.swapaxes(Vt, -1, -2)
    d = np.sign(np.linalg.det(H))  # det(V U^T) has the sign of det(H) = det(U) det(S) det(V^T)
    d[d == 0] = 1.0
    V[:, :, 2] *= d[:, None]
    R = V @ np.swapaxes(U, -1, -2)
    t = cd - (R @ cs[:, :, None])[:, :, 0]
    empty = wsum <= 0
    R[empty] = np.eye(3)
    t[empty] = 0.0
    return R, t, S / safe


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
    return fit_pair_motions_cm(
        _coord_major(points),
        _coord_major(flow),
        np.asarray(weights, dtype=np.float64),
        irls_iterations=irls_iterations,
        cauchy_scale=cauchy_scale,
        min_noise_m=min_noise_m,
        min_support=min_support,
    )


def fit_pair_motions_cm(
    src: np.ndarray,
    flow: np.ndarray,
    w0: np.ndarray,
    *,
    irls_iterations: int,
    cauchy_scale: float,
    min_noise_m: float,
    min_support: float,
) -> PairMotions:
    """:func:`fit_pair_motions` on coordinate-major float64 arrays (K, 3, N); K may stack the frame
    pairs of several parts (every row is an independent problem)."""
    dst = src + flow
    w = w0
    R, t, sv = _kabsch_cm_sv(src, dst, w)
    sample = _scale_sample(w0) if irls_iterations > 0 else None
    for _ in range(irls_iterations):
        r2 = _squared_residuals(R, t, src, dst)
        c2 = (cauchy_scale * _robust_scale(r2, sample, min_noise_m)) ** 2
        w_new = w0 / (1.0 + r2 / c2[:, None])
        converged = np.max(np.abs(w_new - w)) < _IRLS_WEIGHT_TOL
        w = w_new
        if converged:  # the refit would not move: stop (clean data stops after one round)
            break
        R, t, sv = _kabsch_cm_sv(src, dst, w)
    res2 = _squared_residuals(R, t, src, dst)
    wsum = w.sum(axis=1)
    rms = np.sqrt((w * res2).sum(axis=1) / np.maximum(wsum, 1e-300))
    # The rotation is defined when the points are not (nearly) collinear: the cross-covariance then has a
    # second singular value (~ the points' second principal variance for small motions).
    spread = sv[:, 1] > _MIN_SPREAD_M**2
    valid = (w0.sum(axis=1) >= min_support) & (np.count_nonzero(w0 > 0, axis=1) >= 3) & spread
    T = np.tile(np.eye(4), (len(w), 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    T[~valid] = np.eye(4)
    rms = np.where(valid, rms, np.nan)
    safe = np.maximum(wsum, 1e-300)
    ws = src * w[:, None, :]
    centroids = ws.sum(axis=2) / safe[:, None]
    cov = (ws @ np.swapaxes(src, 1, 2)) / safe[:, None, None] - centroids[:, :, None] * centroids[:, None, :]
    return PairMotions(T, rms, wsum, valid, centroids, cov)


#: IRLS stops when no weight changes by more than this (weights are in [0, 1]).
_IRLS_WEIGHT_TOL = 1e-3
#: Points spread less than this (m, RMS) across their first principal direction count as collinear.
_MIN_SPREAD_M = 1e-4


def _squared_residuals(R: np.ndarray, t: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(K, N) |R_k src + t_k - dst|^2 for coordinate-major points."""
    d = R @ src + t[:, :, None] - dst
    return np.einsum("kcn,kcn->kn", d, d)


#: Residuals per frame pair used for the robust scale (the median of 64 evenly spaced points is a
#: good enough scale for the Cauchy weights and costs a sort of 64 values instead of N).
_SCALE_SAMPLES = 64


def _scale_sample(w0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices (K, S) of up to S evenly spaced weighted points per row, and their count (K,)."""
    has = w0 > 0
    count = has.sum(axis=1)
    order = np.argsort(~has, axis=1, kind="stable")  # weighted points first, in index order
    pos = (np.arange(_SCALE_SAMPLES)[None, :] * np.maximum(count, 1)[:, None]) // _SCALE_SAMPLES
    return np.take_along_axis(order, pos, axis=1), np.minimum(count, _SCALE_SAMPLES)


def _robust_scale(r2: np.ndarray, sample: tuple[np.ndarray, np.ndarray], floor: float) -> np.ndarray:
    """(K,) 1.4826 * median residual of each row's sampled weighted points, at least ``floor``.

    ``r2`` are squared residuals (K, N); rows without weighted points get ``floor``.
    """
    cols, count = sample
    r2s = np.sort(np.take_along_axis(r2, cols, axis=1), axis=1)
    # With fewer than S weighted points the sample repeats each evenly, so the middle is the median.
    med2 = r2s[:, _SCALE_SAMPLES // 2]
    med2 = np.where(count > 0, med2, 0.0)
    return np.maximum(_MAD_TO_SIGMA * np.sqrt(med2), floor)
