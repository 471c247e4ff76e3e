"""The per-part joint-model fits as they were before batching (commit f0149f0), kept as a test oracle.

sim2art_core.refine.joint_models fits all parts of a window in one batch; test_joint_models.py checks
that it returns what this simpler one-part-at-a-time formulation returns. Not used by the package.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.geometry import tangent_basis
from sim2art_core.refine.joint_models import (
    MAX_GAP_BRIDGE,
    UNINFORMATIVE_AXIS_VAR,
    UNOBSERVED_RATIO,
    ModelFit,
    StepData,
    _drop_unobserved_rotation,  # unchanged by the batching: it always worked on stacks of steps
)
from sim2art_core.types import JointType

_ROUNDS = 1


def rotations_about(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(K, 3, 3) rotations by ``angles`` (K,) about the unit ``axis`` (Rodrigues, batched: far cheaper
    than scipy's Rotation for a fixed axis)."""
    a = np.asarray(axis, dtype=np.float64)
    A = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    return np.eye(3) + s * A + (1.0 - c) * (A @ A)


def _cross(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a x v for one axis a (3,) and vectors v (K, 3)."""
    return np.stack(
        [a[1] * v[:, 2] - a[2] * v[:, 1], a[2] * v[:, 0] - a[0] * v[:, 2], a[0] * v[:, 1] - a[1] * v[:, 0]], 1
    )


def _perp_basis(a: np.ndarray) -> np.ndarray:
    """(3, 2) an orthonormal basis of the plane perpendicular to the unit ``a`` (any one: used inside
    the fits; reported covariances use geometry.tangent_basis)."""
    r = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.7 else np.array([0.0, 1.0, 0.0])
    e1 = r - (r @ a) * a
    e1 = e1 / np.linalg.norm(e1)
    e2 = np.array([a[1] * e1[2] - a[2] * e1[1], a[2] * e1[0] - a[0] * e1[2], a[0] * e1[1] - a[1] * e1[0]])
    return np.stack([e1, e2], axis=1)


def _well_conditioned(M: np.ndarray, max_cond: float = 1e12) -> bool:
    """Cheap test that a small symmetric PSD matrix is invertible: det >= (trace / n)^n / max_cond,
    i.e. no eigenvalue is more than ~max_cond times below the mean (np.linalg.cond costs an SVD)."""
    n = M.shape[0]
    tr = float(np.trace(M))
    return tr > 0 and float(np.linalg.det(M)) >= (tr / n) ** n / max_cond


def _apply(T: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(K, 3): each 4x4 of T (K, 4, 4) applied to its point of x (K, 3)."""
    return (T[:, :3, :3] @ x[:, :, None])[:, :, 0] + T[:, :3, 3]


def _quad(v: np.ndarray, info: np.ndarray) -> np.ndarray:
    """(K,) v_t^T info_t v_t."""
    return np.sum((info @ v[:, :, None])[:, :, 0] * v, axis=1)


def _num_obs(d: StepData) -> int:
    return 6 * max(int(d.fitted.sum()), 1)


def _bic(chi2: float, k: int, d: StepData) -> float:
    """Complexity-penalised misfit: ln(6 K) per structural parameter (axis, pivot: BIC), 2 per
    per-step amount (AIC).

    The K per-step amounts are nuisance parameters whose number grows with the window; a BIC price
    of ln(6 K) each would hide every motion slower than ~2 sigma per frame however long it lasts.
    Under pure noise they lower chi^2 by ~1 each, so 2 each keeps false detections rare
    (chi^2 with 15 dof above 2 x 15 + 2 ln 90: ~0.1 %).
    """
    n_amounts = int(d.fitted.sum()) if k > 0 else 0
    return float(chi2 + (k - n_amounts) * np.log(max(_num_obs(d), 2)) + 2.0 * n_amounts)


def _inflation(chi2: float, k: int, d: StepData) -> float:
    """max(1, reduced chi^2): uncertainties grow when the model fits worse than the noise."""
    return max(1.0, chi2 / max(_num_obs(d) - k, 1))


def _fill_steps(values: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Amounts of unfitted steps.

    Before the first / after the last fitted step (the part not yet / no longer seen) and in gaps
    longer than MAX_GAP_BRIDGE steps (a long occlusion, during which the part may have gone anywhere
    and back): 0, no motion is invented. Shorter gaps: linear interpolation between the fitted steps
    on either side (constant velocity when they agree).
    """
    out = np.where(fitted, values, 0.0)
    k = 0
    K = len(values)
    while k < K:
        if fitted[k]:
            k += 1
            continue
        end = k
        while end < K and not fitted[end]:
            end += 1
        if 0 < k and end < K and end - k <= MAX_GAP_BRIDGE:
            w = np.arange(1, end - k + 1) / (end - k + 1)
            out[k:end] = (1 - w) * values[k - 1] + w * values[end]
        k = end
    return out


def _amounts(step_amounts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(step_amounts)])


def _orient(axis: np.ndarray, step_amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip so that the amount of largest magnitude is positive (JointEstimate convention)."""
    amounts = _amounts(step_amounts)
    if amounts[np.argmax(np.abs(amounts))] < 0:
        return -axis, -step_amounts
    return axis, step_amounts


def _principal_direction(vectors: np.ndarray) -> np.ndarray | None:
    """Unit direction of largest second moment of (M, 3) vectors (None if all zero)."""
    M = vectors.T @ vectors
    if np.trace(M) <= 1e-30:
        return None
    return np.linalg.eigh(M)[1][:, -1]


def _safe_inv2(M: np.ndarray, cap: float) -> np.ndarray:
    """Inverse of a symmetric 2x2 information matrix, eigenvalues of the inverse capped at ``cap``
    (closed form: this runs per part and np.linalg's wrappers cost more than the arithmetic)."""
    a, b, c = float(M[0, 0]), float(M[0, 1]), float(M[1, 1])
    mean, dev = 0.5 * (a + c), float(np.hypot(0.5 * (a - c), b))
    lam = np.array([mean - dev, mean + dev])
    angle = 0.5 * np.arctan2(2.0 * b, a - c)  # direction of the larger eigenvalue
    V = np.array([[-np.sin(angle), np.cos(angle)], [np.cos(angle), np.sin(angle)]])
    return (V * np.minimum(1.0 / np.maximum(lam, 1e-300), cap)) @ V.T


def fit_static(d: StepData) -> ModelFit:
    K = len(d.steps)
    chi2 = float(np.sum(_quad(d.rotvecs, d.rot_info) + _quad(d.displacements, d.disp_info)))
    first = np.flatnonzero(d.fitted)
    cov = np.linalg.inv(d.disp_info[first[0]]) if len(first) else np.eye(3)
    return ModelFit(
        type=JointType.STATIC,
        axis=np.array([0.0, 0.0, 1.0]),
        origin=d.origin_ref.copy(),
        amounts=np.zeros(K + 1),
        step_amounts=np.zeros(K),
        chi2=chi2,
        num_params=0,
        bic=_bic(chi2, 0, d),
        axis_cov=np.eye(2) * UNINFORMATIVE_AXIS_VAR,
        origin_cov=cov,
        state_variance=0.0,
    )


def _moving_fit(
    jtype: JointType, axis: np.ndarray, origin: np.ndarray, step_amounts: np.ndarray, chi2: float, k: int,
    d: StepData, infl: float, axis_info: np.ndarray, origin_cov: np.ndarray, var_steps: np.ndarray,
) -> ModelFit:  # fmt: skip
    """The ModelFit of a prismatic or revolute fit: covariances and state variance inflated by ``infl``."""
    return ModelFit(
        type=jtype,
        axis=axis,
        origin=origin,
        amounts=_amounts(step_amounts),
        step_amounts=step_amounts,
        chi2=chi2,
        num_params=k,
        bic=_bic(chi2, k, d),
        axis_cov=infl * _safe_inv2(axis_info, UNINFORMATIVE_AXIS_VAR / infl),
        origin_cov=infl * origin_cov,
        state_variance=float(infl * np.sum(var_steps)),
    )


def fit_prismatic(d: StepData) -> ModelFit:
    """Weighted least squares: u_t = dd_t a (alternating between a and the dd_t)."""
    K = len(d.steps)
    n_fit = int(d.fitted.sum())
    k = 2 + n_fit
    u, W = d.displacements, d.disp_info
    scale = np.sqrt(np.trace(W, axis1=1, axis2=2) / 3.0)
    axis = _principal_direction(u * scale[:, None])
    if axis is None:
        axis = np.array([0.0, 0.0, 1.0])
    dd = np.zeros(K)
    for _ in range(_ROUNDS):
        den = _quad(np.broadcast_to(axis, u.shape), W)
        dd = np.where(den > 0, np.einsum("i,kij,kj->k", axis, W, u) / np.maximum(den, 1e-300), 0.0)
        A = np.einsum("k,kij->ij", dd**2, W)
        b = np.einsum("k,kij,kj->i", dd, W, u)
        if not _well_conditioned(A):
            break
        axis = np.linalg.solve(A, b)
        axis = axis / max(np.linalg.norm(axis), 1e-300)
    den = _quad(np.broadcast_to(axis, u.shape), W)
    dd = np.where(den > 0, np.einsum("i,kij,kj->k", axis, W, u) / np.maximum(den, 1e-300), 0.0)
    r_u = u - dd[:, None] * axis
    chi2 = float(np.sum(_quad(d.rotvecs, d.rot_info) + _quad(r_u, W)))
    infl = _inflation(chi2, k, d)
    axis, dd_filled = _orient(axis, _fill_steps(dd, d.fitted))
    E = np.stack(tangent_basis(axis), axis=1)
    axis_info = np.einsum("k,ai,kij,jb->ab", dd**2, E.T, W, E)
    var_steps = np.where(den > 0, 1.0 / np.maximum(den, 1e-300), 0.0)
    first = np.flatnonzero(d.fitted)
    origin_cov = np.linalg.inv(W[first[0]]) if len(first) else np.eye(3)
    return _moving_fit(JointType.PRISMATIC, axis, d.origin_ref.copy(), dd_filled, chi2, k, d, infl, axis_info,
                       origin_cov, var_steps)  # fmt: skip


def fit_revolute(d: StepData) -> ModelFit:
    """Alternating weighted least squares for the axis a, the pivot c and the step angles.

    a from the information-weighted rotation vectors, the step angles by Gauss-Newton on rotation and
    centroid displacement, c (in the plane through ``origin_ref`` perpendicular to a) by linear least
    squares on the displacements. Exact data is recovered exactly in the first round.
    """
    n_fit = int(d.fitted.sum())
    k = 4 + n_fit
    R_obs = d.steps[:, :3, :3]
    w_rot, W, x, u = d.rot_info, d.disp_info, d.centroids, d.displacements
    # Initial axis: principal direction of the rotation vectors, each weighted by the information of
    # its worst-pinned observed direction (a scalar weight keeps the direction unbiased for exact data).
    ev = np.linalg.eigvalsh(w_rot)
    lam = np.where(ev > 0, ev, np.inf).min(axis=1)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    axis = _principal_direction(d.rotvecs * np.sqrt(lam)[:, None])
    if axis is None:  # no rotation at all: the revolute model degenerates to static
        axis = np.array([0.0, 0.0, 1.0])
    den = _quad(np.broadcast_to(axis, d.rotvecs.shape), w_rot)
    theta = np.where(den > 0, np.einsum("i,kij,kj->k", axis, w_rot, d.rotvecs) / np.maximum(den, 1e-300), 0.0)
    # First pivot only from steps whose angle the rotation itself pins (a thin part seen edge-on has
    # its angle from the displacement alone, which needs the pivot first).
    pinned = den >= UNOBSERVED_RATIO * max(float(den.max()), 1e-300)
    origin, origin_cov = _fit_pivot(axis, theta, d, use=pinned)
    for _ in range(_ROUNDS):
        theta = _step_angles(axis, origin, theta, d)
        A = np.einsum("k,kij->ij", theta**2, w_rot)
        # Minimum-norm solution: a direction the steps observe 100x worse than the best-observed one
        # (a thin part seen along its length) gets no axis component instead of a noise-driven one.
        A_pinv = np.linalg.pinv(A, rcond=UNOBSERVED_RATIO, hermitian=True)
        a_new = A_pinv @ np.einsum("k,kij,kj->i", theta, w_rot, d.rotvecs)
        if np.linalg.norm(a_new) > 1e-12:
            axis = a_new / np.linalg.norm(a_new)
        origin, origin_cov = _fit_pivot(axis, theta, d)
    theta = _step_angles(axis, origin, theta, d)
    R_m = rotations_about(axis, theta)
    r_rot = Rotation.from_matrix(np.swapaxes(R_m, 1, 2) @ R_obs).as_rotvec()
    r_u = u - np.einsum("kij,kj->ki", R_m - np.eye(3), x - origin)
    chi2 = float(np.sum(_quad(r_rot, w_rot) + _quad(r_u, W)))
    infl = _inflation(chi2, k, d)
    # Per-step angle variance: 1 / (a^T L_rot a + g^T L_u g), g = d(displacement)/d(theta).
    g = _cross(axis, np.einsum("kij,kj->ki", R_m, x - origin))
    info_theta = _quad(np.broadcast_to(axis, g.shape), w_rot) + _quad(g, W)
    var_steps = np.where(info_theta > 0, 1.0 / np.maximum(info_theta, 1e-300), 0.0)
    axis, theta_filled = _orient(axis, _fill_steps(theta, d.fitted))
    E = np.stack(tangent_basis(axis), axis=1)
    axis_info = np.einsum("k,ai,kij,jb->ab", theta**2, E.T, w_rot, E)
    # Along the axis the origin is fixed by definition (foot of the perpendicular from origin_ref).
    return _moving_fit(JointType.REVOLUTE, axis, origin, theta_filled, chi2, k, d, infl, axis_info, origin_cov,
                       var_steps)  # fmt: skip


def _step_angles(axis: np.ndarray, origin: np.ndarray, theta: np.ndarray, d: StepData) -> np.ndarray:
    """Gauss-Newton (2 rounds) on each step's angle: rotation-vector and displacement residuals.

    The rotation residual is linearised as w_t - theta_t a (exact when the step's rotation is about a).
    """
    x, u, w_rot, W = d.centroids, d.displacements, d.rot_info, d.disp_info
    a = np.broadcast_to(axis, x.shape)
    rot_den = _quad(a, w_rot)
    aw = np.einsum("ki,kij,kj->k", a, w_rot, d.rotvecs)
    for _ in range(2):
        R_m = rotations_about(axis, theta)
        rel = np.einsum("kij,kj->ki", R_m, x - origin)
        r_u = u - (rel - (x - origin))
        g = _cross(axis, rel)
        num = aw - theta * rot_den + np.einsum("ki,kij,kj->k", g, W, r_u)
        den = rot_den + _quad(g, W)
        theta = theta + np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
    return np.where(d.fitted, theta, 0.0)


def _fit_pivot(
    axis: np.ndarray, theta: np.ndarray, d: StepData, use: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pivot c = origin_ref + E y minimising sum_t |u_t - (R_t - I)(x_t - c)|^2_W over the steps in
    ``use`` (default all); returns (c, covariance of c)."""
    E = _perp_basis(axis)
    M = rotations_about(axis, theta) - np.eye(3)
    c0 = d.origin_ref
    b = d.displacements - np.einsum("kij,kj->ki", M, d.centroids - c0)  # residual = b + M E y
    A = -M @ E  # (K, 3, 2): residual = b - A y
    W = d.disp_info if use is None else d.disp_info * use[:, None, None]
    N = np.einsum("kia,kij,kjb->ab", A, W, A)
    det = float(N[0, 0] * N[1, 1] - N[0, 1] * N[1, 0])
    if not (det > 0 and det >= 1e-12 * (0.5 * float(N[0, 0] + N[1, 1])) ** 2):  # (almost) no rotation
        return c0.copy(), E @ (np.eye(2) * 1e6) @ E.T
    N_inv = np.array([[N[1, 1], -N[0, 1]], [-N[1, 0], N[0, 0]]]) / det
    y = N_inv @ np.einsum("kia,kij,kj->a", A, W, b)
    return c0 + E @ y, E @ N_inv @ E.T


def fit_joint_models(d: StepData) -> dict[JointType, ModelFit]:
    """All three models of one part's steps (unobserved rotation directions dropped first)."""
    K = len(d.steps)
    shapes = {"steps": (K, 4, 4), "rotvecs": (K, 3), "centroids": (K, 3), "rot_info": (K, 3, 3),
              "disp_info": (K, 3, 3), "fitted": (K,)}  # fmt: skip
    for name, shape in shapes.items():
        if getattr(d, name).shape != shape:
            raise ValueError(f"fit_joint_models: StepData.{name} must be {shape}, got {getattr(d, name).shape}")
    rotvecs, rot_info = _drop_unobserved_rotation(d.rotvecs, d.rot_info)
    d = replace(d, rotvecs=rotvecs, rot_info=rot_info)
    return {
        JointType.STATIC: fit_static(d),
        JointType.PRISMATIC: fit_prismatic(d),
        JointType.REVOLUTE: fit_revolute(d),
    }
