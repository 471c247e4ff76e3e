"""Rigid-body geometry shared by every stage (pure NumPy + SciPy).

Conventions
-----------
* A 4x4 homogeneous transform named ``a_from_b`` maps coordinates in frame ``b``
  to frame ``a``: ``p_a = a_from_b @ p_b``.
* Units: metres and radians.
* Quaternions are ordered x, y, z, w (the order of ROS messages and of
  ``scipy.spatial.transform.Rotation.as_quat``).
* Axes are unit 3-vectors; a line is (point on the line, unit direction).

Rotations go through ``scipy.spatial.transform.Rotation`` (a well-kept library)
rather than hand-written formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

EPS = 1e-12


def unit(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Normalise vectors along ``axis``; zero vectors stay zero (no NaN)."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return np.where(n > EPS, v / np.maximum(n, EPS), 0.0)


def make_transform(rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> np.ndarray:
    """4x4 transform from a 3x3 rotation (default identity) and a translation (default 0)."""
    T = np.eye(4)
    if rotation is not None:
        T[:3, :3] = rotation
    if translation is not None:
        T[:3, 3] = translation
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of one (4, 4) or a stack (..., 4, 4) of rigid transforms."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = np.swapaxes(R, -1, -2)
    out = np.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply one transform (4, 4) to points (..., 3), or a batch (..., 4, 4) to point sets (..., N, 3).

    Batched: the leading axes of ``T`` and of ``points`` without its last two broadcast, e.g.
    (T, 4, 4) with (T, N, 3) moves each frame's points by its own transform; a transform per point is
    ``transform_points(T, x[..., None, :])[..., 0, :]``. Keeps the points' float dtype.

    Raises:
        ValueError: ``T`` is not (..., 4, 4), or ``points`` is not (..., 3) ((..., N, 3) when batched).
    """
    points = np.asarray(points)
    T = np.asarray(T)
    if T.ndim < 2 or T.shape[-2:] != (4, 4):
        raise ValueError(f"transform_points: T must be (4, 4) or (..., 4, 4), got {T.shape}")
    if points.ndim < 1 or points.shape[-1] != 3 or (T.ndim > 2 and points.ndim < 2):
        raise ValueError(
            f"transform_points: points must be (..., 3) ((..., N, 3) for a batch of T), got {points.shape}"
        )
    # Compute in the points' precision: a float32 @ float64 matmul upcasts the whole
    # point array first (10-20x slower for a VGA cloud).
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    T = T.astype(dtype, copy=False)
    if T.ndim == 2:
        return (points.astype(dtype, copy=False) @ T[:3, :3].T + T[:3, 3]).astype(dtype, copy=False)
    R = np.swapaxes(T[..., :3, :3], -1, -2)
    return (points.astype(dtype, copy=False) @ R + T[..., None, :3, 3]).astype(dtype, copy=False)


def lift(uv: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pinhole back-projection: pixels (..., 2) at z-depths (...) -> (..., 3) float64 optical-frame points.

    Args:
        uv: (..., 2) pixel coordinates (u = column, v = row), integer or sub-pixel.
        depth: (...) z-depth in metres (not checked: non-finite depth gives non-finite points; see
            :func:`sim2art_core.camera.lift` for the run-time version that marks invalid depth NaN).
        intrinsics: (fx, fy, cx, cy) in pixels.

    Raises:
        ValueError: mismatched shapes or not 4 intrinsics.
    """
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64).reshape(-1)
    if uv.ndim < 1 or uv.shape[-1] != 2 or uv.shape[:-1] != z.shape:
        raise ValueError(
            f"lift: uv must be (..., 2) and depth (...) of the same leading shape, got {uv.shape}, {z.shape}"
        )
    if k.shape != (4,):
        raise ValueError(f"lift: intrinsics must be (fx, fy, cx, cy), got {k.shape[0]} values")
    fx, fy, cx, cy = k
    return np.stack([(uv[..., 0] - cx) / fx * z, (uv[..., 1] - cy) / fy * z, z], axis=-1)


def rotate_vectors(T_or_R: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rotate direction vectors (..., 3) by the rotation part of a 3x3 or 4x4 matrix."""
    vectors = np.asarray(vectors)
    dtype = vectors.dtype if np.issubdtype(vectors.dtype, np.floating) else np.float64
    R = np.asarray(T_or_R, dtype=dtype)[:3, :3]
    return (vectors.astype(dtype, copy=False) @ R.T).astype(dtype, copy=False)


def rotation_about_axis(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 right-handed rotation by ``angle`` (rad) about the unit ``axis``."""
    return Rotation.from_rotvec(unit(axis) * float(angle)).as_matrix()


def revolute_motion(axis: np.ndarray, pivot: np.ndarray, angle: float) -> np.ndarray:
    """4x4 rigid motion rotating by ``angle`` about the line (pivot, axis)."""
    R = rotation_about_axis(axis, angle)
    pivot = np.asarray(pivot, dtype=np.float64)
    return make_transform(R, pivot - R @ pivot)


def prismatic_motion(axis: np.ndarray, distance: float) -> np.ndarray:
    """4x4 rigid motion translating by ``distance`` (m) along the unit ``axis``."""
    return make_transform(None, unit(axis) * float(distance))


def rotation_angle(R: np.ndarray) -> float:
    """Geodesic angle (rad, in [0, pi]) of a rotation matrix, with a clipped arccos."""
    R = np.asarray(R, dtype=np.float64)[:3, :3]
    c = (np.trace(R) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w) of a 3x3 rotation (or the rotation part of a 4x4)."""
    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)[:3, :3]).as_quat()


def matrix_from_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    """3x3 rotation of a quaternion ordered (x, y, z, w)."""
    return Rotation.from_quat(np.asarray(q_xyzw, dtype=np.float64)).as_matrix()


def tangent_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis (e1, e2) of the plane perpendicular to ``axis``.

    The convention of ``ArticulationJoint.axis_covariance``: e1 = unit(axis x r)
    with r the x unit vector, or y when the axis is within 45 degrees of x;
    e2 = axis x e1.
    """
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.sqrt(a @ a)
    r = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < np.cos(np.pi / 4) else np.array([0.0, 1.0, 0.0])
    e1 = _cross3(a, r)
    e1 = e1 / np.sqrt(e1 @ e1)
    return e1, _cross3(a, e1)


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors, written out: np.cross costs ~10x more on single vectors and
    this sits in the per-part loops of the refinement."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def frame_with_z_along(axis: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """4x4 pose of a frame at ``origin`` whose +z is ``axis`` (joint TF frames).

    x and y are the tangent basis of :func:`tangent_basis`, so the frame is a
    deterministic function of the axis.
    """
    a = unit(axis)
    e1, e2 = tangent_basis(a)
    return make_transform(np.stack([e1, e2, a], axis=1), origin)


def point_line_distance(points: np.ndarray, line_point: np.ndarray, line_dir: np.ndarray) -> np.ndarray:
    """Distance (m) of points (..., 3) to the line through ``line_point`` along ``line_dir``."""
    d = unit(line_dir)
    v = np.asarray(points, dtype=np.float64) - np.asarray(line_point, dtype=np.float64)
    return np.linalg.norm(np.cross(v, d), axis=-1)


def closest_point_on_line(point: np.ndarray, line_point: np.ndarray, line_dir: np.ndarray) -> np.ndarray:
    """Foot of the perpendicular from ``point`` to the line (line_point, line_dir)."""
    d = unit(line_dir)
    lp = np.asarray(line_point, dtype=np.float64)
    return lp + np.dot(np.asarray(point, dtype=np.float64) - lp, d) * d


@dataclass(frozen=True)
class RigidFit:
    """Result of :func:`fit_rigid`: ``dst ~= rotation @ src + translation``.

    Attributes:
        rotation: (3, 3) rotation matrix.
        translation: (3,) m.
        rms: weighted RMS residual (m) of the fit; NaN when fewer than 3 points
            carry weight (the fit is then the identity).
        num_points: number of points with positive weight.
    """

    rotation: np.ndarray
    translation: np.ndarray
    rms: float
    num_points: int

    @property
    def matrix(self) -> np.ndarray:
        """The fit as a 4x4 transform ``dst_from_src``."""
        return make_transform(self.rotation, self.translation)


def fit_rigid(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> RigidFit:
    """Weighted least-squares rigid transform (Kabsch/Umeyama without scale).

    Args:
        src: (N, 3) points.
        dst: (N, 3) corresponding points.
        weights: (N,) non-negative weights (default all 1).

    Returns:
        The :class:`RigidFit` minimising sum_i w_i |R src_i + t - dst_i|^2. The
        rotation comes from ``scipy.spatial.transform.Rotation.align_vectors`` on
        the centred points. With fewer than 3 weighted points, or all of them
        coincident, the rotation is undetermined: the identity is returned with the
        translation of the weighted centroids, and ``rms`` is NaN for < 3 points.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 3)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 3)
    w = np.ones(len(src)) if weights is None else np.clip(np.asarray(weights, dtype=np.float64).reshape(-1), 0, None)
    keep = w > 0
    n = int(keep.sum())
    if n == 0:
        return RigidFit(np.eye(3), np.zeros(3), float("nan"), 0)
    src, dst, w = src[keep], dst[keep], w[keep]
    ws = w / w.sum()
    cs = ws @ src
    cd = ws @ dst
    a, b = dst - cd, src - cs
    if n < 3 or np.max(np.linalg.norm(b, axis=1)) < 1e-9:
        R = np.eye(3)
    else:
        import warnings

        with warnings.catch_warnings():
            # align_vectors warns when the points are collinear; the fit is then
            # only defined up to a rotation about that line, which is fine here.
            warnings.simplefilter("ignore", UserWarning)
            R = Rotation.align_vectors(a, b, weights=w)[0].as_matrix()
    t = cd - R @ cs
    res = dst - (src @ R.T + t)
    rms = float(np.sqrt(ws @ np.sum(res**2, axis=1))) if n >= 3 else float("nan")
    return RigidFit(R, t, rms, n)


@dataclass(frozen=True)
class Screw:
    """Screw decomposition (Chasles) of a rigid motion.

    The motion rotates by ``angle`` about the line (``pivot``, ``axis``) and
    translates by ``translation`` along ``axis``. For a (near) pure translation
    ``angle`` is 0, ``axis`` is the translation direction and ``pivot`` is the
    origin of the coordinates (any point would do).
    """

    axis: np.ndarray
    pivot: np.ndarray
    angle: float
    translation: float


def screw_from_transform(T: np.ndarray, min_angle: float = 1e-9) -> Screw:
    """Decompose a 4x4 rigid motion into its screw (axis, pivot, angle, pitch translation).

    The angle is in [0, pi] with the axis sign chosen accordingly. The pivot is
    the point of the screw axis closest to the coordinate origin.
    """
    T = np.asarray(T, dtype=np.float64)
    R, t = T[:3, :3], T[:3, 3]
    rotvec = Rotation.from_matrix(R).as_rotvec()
    angle = float(np.linalg.norm(rotvec))
    if angle < min_angle:
        d = float(np.linalg.norm(t))
        axis = t / d if d > EPS else np.array([0.0, 0.0, 1.0])
        return Screw(axis, np.zeros(3), 0.0, d)
    axis = rotvec / angle
    along = float(axis @ t)
    t_perp = t - along * axis
    # Points p on the axis satisfy (I - R) p = t_perp; solve in the plane
    # perpendicular to the axis (least squares, minimum-norm solution).
    pivot = np.linalg.lstsq(np.eye(3) - R, t_perp, rcond=None)[0]
    pivot = pivot - (pivot @ axis) * axis
    return Screw(axis, pivot, angle, along)
