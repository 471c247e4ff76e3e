"""Part meshes (convex hull or box), their mass properties and mesh files.

Hand-written here (no library in our dependencies does it): the mass properties of a closed
triangle mesh (a sum over the signed tetrahedra of its facets) and the binary STL / OBJ writers
(a few lines each; trimesh would add a run-time dependency for them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial import ConvexHull, QhullError, cKDTree

from sim2art_core.export.config import ExportConfig


@dataclass(frozen=True)
class PartMesh:
    """A closed, outward-oriented triangle mesh.

    Attributes:
        vertices: (V, 3) float64, m.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside.
        kind: "hull" (convex hull of the points), "thickened-hull" (flat points thickened by
            ``ExportConfig.min_thickness``), "box" (too few / degenerate points: their bounds) or
            "empty-box" (no point at all).
    """

    vertices: np.ndarray
    faces: np.ndarray
    kind: str


@dataclass(frozen=True)
class MassProperties:
    """Mass, centre of mass (m, mesh frame) and inertia (kg m^2, about the centre of mass, mesh axes)."""

    mass: float
    com: np.ndarray
    inertia: np.ndarray


def box_mesh(lo: np.ndarray, hi: np.ndarray, kind: str = "box") -> PartMesh:
    """Axis-aligned box with corners ``lo`` and ``hi`` (3,)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    # corner index = 4 * (x is hi) + 2 * (y is hi) + (z is hi)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], dtype=np.int64)  # fmt: skip
    return PartMesh(v, f, kind)


def _oriented_hull(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and outward-oriented faces of the convex hull (compact vertex indices)."""
    hull = ConvexHull(points)
    faces = hull.simplices.copy()
    a, b, c = (points[faces[:, k]] for k in range(3))
    flip = np.einsum("ij,ij->i", np.cross(b - a, c - a), hull.equations[:, :3]) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    used = np.unique(faces)
    remap = np.full(len(points), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return points[used], remap[faces]


def part_mesh(
    points: np.ndarray,
    min_hull_points: int,
    min_thickness: float,
    empty_box_size: float,
    towards: np.ndarray | None = None,
    max_points: int = 20000,
) -> PartMesh:
    """Mesh of one part from its points (link frame): convex hull, thickened when flat, else a box.

    Args:
        points: (M, 3) finite points, m.
        min_hull_points: fewer distinct points give a box.
        min_thickness: m, smallest extent along the points' thinnest principal direction; a flatter set
            is extruded by this much (towards ``towards`` when given: the parent's side, where the
            body behind an observed front surface is).
        empty_box_size: m, cube edge when there is no point (centred at the link origin).
        towards: optional (3,) point the thickening extrudes towards.
        max_points: deterministic stride subsample above this many points.
    """
    pts = unique_rows(np.asarray(points, dtype=np.float64))
    if len(pts) == 0:
        h = empty_box_size / 2
        return box_mesh(-np.full(3, h), np.full(3, h), "empty-box")
    if len(pts) > max_points:
        pts = pts[:: int(np.ceil(len(pts) / max_points))]
    if len(pts) < min_hull_points:
        return _bounds_box(pts, min_thickness)
    centre = pts.mean(axis=0)
    _, sing, vt = np.linalg.svd(pts - centre, full_matrices=False)
    extent = np.ptp((pts - centre) @ vt.T, axis=0)
    kind = "hull"
    if extent[1] < min_thickness:  # a line (or a point): no hull worth having
        return _bounds_box(pts, min_thickness)
    if extent[2] < min_thickness:
        normal = vt[2]
        if towards is not None and np.dot(np.asarray(towards, float) - centre, normal) < 0:
            normal = -normal
        pts = np.concatenate([pts, pts + normal * (min_thickness - extent[2])])
        kind = "thickened-hull"
    try:
        v, f = _oriented_hull(pts)
    except QhullError:
        return _bounds_box(pts, min_thickness)
    return PartMesh(v, f, kind)


def unique_rows(pts: np.ndarray) -> np.ndarray:
    """The distinct rows of finite (M, 3) ``pts`` in lexicographic order: ``np.unique(pts, axis=0)``,
    2-3x faster (a lexsort of the columns instead of numpy's sort of a structured view)."""
    if len(pts) < 2:
        return pts.copy()
    s = pts[np.lexsort(pts.T[::-1])]
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.any(s[1:] != s[:-1], axis=1, out=keep[1:])
    return s[keep]


def surface_distance(mesh: PartMesh, points: np.ndarray) -> np.ndarray:
    """(M,) m, distance of points inside (or on) the convex ``mesh`` to its surface: the smallest
    distance to a facet plane (exact for interior points of a convex solid)."""
    v, f = mesh.vertices, mesh.faces
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-15
    n = n[ok] / norm[ok, None]
    offset = -np.einsum("ij,ij->i", n, v[f[ok, 0]])
    # elementwise, not points @ n.T: numpy's BLAS would run this small product on all its threads,
    # which spin on the other cores (the node exports beside the keyframes and the estimator)
    d = points[:, :1] * n[:, 0]
    d += points[:, 1:2] * n[:, 1]
    d += points[:, 2:3] * n[:, 2]
    d += offset
    return np.abs(d, out=d).min(axis=1)


def point_noise(points: np.ndarray, neighbours: int = 16, max_points: int = 1024, quantile: float = 0.25) -> float:
    """m, the noise of a part's observed surface: over a deterministic stride subsample of at most
    ``max_points`` of its points, each point's ``neighbours`` nearest ones give the RMS distance to their own
    best-fit plane (the square root of the smallest eigenvalue of their covariance); the ``quantile`` of these.
    Locally every surface is a plane, so on clean points it is ~0 whatever the shape; depth noise and the
    points of several frames that do not register exactly (a joint state off) make it the noise's scale
    (a plane with Gaussian noise sigma up to 1 cm gives 0.7-0.8 sigma at 300-20000 points, tests). The subsample
    keeps the neighbourhood a fixed share of the part (1/64 of it at the defaults), wide against the noise
    whatever the point density; the low quantile leaves out the neighbourhoods that straddle an edge or a
    thin part's two sides. A curved surface adds its sagitta over a neighbourhood: a clean sphere measures
    0.7 % of its radius (2 % from 300 points). 0.0 for fewer than ``neighbours`` finite points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    pts = pts[:: int(np.ceil(len(pts) / max_points))] if len(pts) else pts
    if len(pts) < max(neighbours, 4):
        return 0.0
    _, idx = cKDTree(pts).query(pts, k=neighbours)
    nb = pts[idx]  # (Q, k, 3)
    nb = nb - nb.mean(axis=1, keepdims=True)
    # the 3x3 covariances elementwise (no BLAS threads: the node exports beside the estimator)
    cov = np.stack([np.stack([(nb[..., i] * nb[..., j]).mean(axis=1) for j in range(3)], -1) for i in range(3)], -2)
    return float(np.quantile(np.sqrt(np.maximum(np.linalg.eigvalsh(cov)[:, 0], 0.0)), quantile))


def piece_tolerance(points: np.ndarray, cfg: ExportConfig) -> float:
    """m, the mean distance of a part's points to its pieces' surfaces that :func:`convex_pieces` accepts:
    ``cfg.piece_tolerance``, or ``cfg.noise_tolerance`` times the part's :func:`point_noise` when that is
    larger (more pieces would fit the noise, not the shape)."""
    if cfg.noise_tolerance <= 0:
        return cfg.piece_tolerance
    return max(cfg.piece_tolerance, cfg.noise_tolerance * point_noise(points))


def convex_pieces(points: np.ndarray, cfg: ExportConfig, towards: np.ndarray | None = None) -> tuple[PartMesh, ...]:
    """A part as a union of convex pieces: one hull, or k-means clusters of its points (k = 2, 4, ... up
    to ``cfg.max_pieces``) each with its own hull, the smallest k whose mean distance of the points to
    their piece's surface is at most the part's tolerance (m, :func:`piece_tolerance`: ``cfg.piece_tolerance``,
    raised to ``cfg.noise_tolerance`` times the part's point noise). A concave part (a cabinet body seen
    from inside, a drawer) needs several; a door needs one. Deterministic (fixed k-means seed). Each
    piece is a :func:`part_mesh` with the hull settings of ``cfg`` and ``towards``.

    Order of the search: k = 1, then ``cfg.max_pieces``; when that misses the tolerance too (points
    noisier than it, as the node's usually are) it is the answer, else k = 2, 4, ... are tried in turn.
    The error falls as k grows, so this is the doubling search's answer at a third of its cost on
    noisy parts; where it does not fall (rare), the most detailed model is kept.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) > cfg.max_hull_points:
        pts = pts[:: int(np.ceil(len(pts) / cfg.max_hull_points))]

    def mesh_of(p):
        return part_mesh(p, cfg.min_hull_points, cfg.min_thickness, cfg.empty_box_size, towards, cfg.max_hull_points)

    def fit(k: int) -> tuple[tuple[PartMesh, ...], bool]:
        """The pieces of k k-means clusters; whether the mean distance of the points to their piece's
        surface is within the tolerance (summed piece by piece, in chunks, stopping as soon as the sum
        exceeds ``tolerance * len(pts)``: noisy points fail after a fraction of them)."""
        if k == 1:
            groups = [pts]
        else:
            _, lab = kmeans2(pts, k, minit="++", seed=np.random.default_rng(0))
            groups = [pts[lab == i] for i in range(k) if (lab == i).any()]
        pieces = tuple(mesh_of(g) for g in groups)
        budget, total = tolerance * len(pts), 0.0
        for m, g in zip(pieces, groups, strict=True):
            for i in range(0, len(g), 2048):
                total += float(surface_distance(m, g[i : i + 2048]).sum())
                if total > budget:
                    return pieces, False
        return pieces, True

    if cfg.max_pieces == 1 or len(pts) < 2 * cfg.min_hull_points:
        return (mesh_of(pts),)
    tolerance = piece_tolerance(pts, cfg)  # fit() reads it
    between = [2**i for i in range(1, cfg.max_pieces.bit_length()) if 2**i < cfg.max_pieces]  # 2, 4, 8 for 16
    pieces, ok = fit(1)
    if ok:
        return pieces
    pieces, ok = fit(cfg.max_pieces)
    if not ok:
        return pieces
    for k in between:
        trial, ok = fit(k)
        if ok:
            return trial
    return pieces


def _bounds_box(pts: np.ndarray, min_thickness: float) -> PartMesh:
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    grow = np.maximum(min_thickness - (hi - lo), 0.0) / 2
    return box_mesh(lo - grow, hi + grow, "box")


def mass_properties(mesh: PartMesh, density: float, min_mass: float) -> MassProperties:
    """Mass, centre of mass and inertia of the solid bounded by ``mesh`` at ``density`` (kg/m^3).

    A mass below ``min_mass`` is raised to it with the inertia scaled alike (same shape).
    """
    v = mesh.vertices
    ref = v.mean(axis=0)  # inside a convex mesh: every tetrahedron (ref, facet) has positive volume
    a, b, c = (v[mesh.faces[:, k]] - ref for k in range(3))
    vol6 = np.einsum("ij,ij->i", a, np.cross(b, c))  # 6 x signed volume of each tetrahedron
    volume = vol6.sum() / 6.0
    if not volume > 0:
        raise ValueError("mass_properties: mesh encloses no volume")
    s = a + b + c
    com = (vol6[:, None] * s).sum(axis=0) / (24.0 * volume)
    # second moment of a tetrahedron (0, a, b, c): det/120 * (a a^T + b b^T + c c^T + s s^T)
    outer = np.einsum("i,ij,ik->jk", vol6, a, a) + np.einsum("i,ij,ik->jk", vol6, b, b)
    outer += np.einsum("i,ij,ik->jk", vol6, c, c) + np.einsum("i,ij,ik->jk", vol6, s, s)
    second = outer / 120.0 - volume * np.outer(com, com)  # about the centre of mass
    mass = density * volume
    inertia = density * (np.trace(second) * np.eye(3) - second)
    if mass < min_mass:  # min_mass 0 never applies
        inertia = inertia * (min_mass / mass)
        mass = min_mass
    return MassProperties(float(mass), com + ref, 0.5 * (inertia + inertia.T))


def combined_mass_properties(pieces: tuple[PartMesh, ...], density: float, min_mass: float) -> MassProperties:
    """Mass properties of a union of pieces (overlaps counted twice: the pieces of one part barely
    overlap), with the ``min_mass`` floor applied to the total."""
    props = [mass_properties(m, density, 0.0) for m in pieces]
    mass = sum(p.mass for p in props)
    com = sum(p.mass * p.com for p in props) / mass
    inertia = np.zeros((3, 3))
    for p in props:  # parallel-axis theorem
        r = p.com - com
        inertia += p.inertia + p.mass * (r @ r * np.eye(3) - np.outer(r, r))
    if mass < min_mass:
        inertia, mass = inertia * (min_mass / mass), min_mass
    return MassProperties(float(mass), com, inertia)


def stl_bytes(mesh: PartMesh, name: str = "sim2art") -> bytes:
    """Binary STL of the mesh (float32 vertices; facet normals from the vertex order)."""
    tri = mesh.vertices[mesh.faces].astype(np.float32)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    rec = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"], rec["v"] = n, tri
    header = name.encode("ascii", "replace")[:80].ljust(80, b" ")
    return header + struct.pack("<I", len(tri)) + rec.tobytes()


def obj_bytes(mesh: PartMesh, decimals: int = 9) -> bytes:
    """Wavefront OBJ of the mesh (fixed-point vertices, 1-based faces)."""
    lines = [f"v {x:.{decimals}f} {y:.{decimals}f} {z:.{decimals}f}" for x, y, z in mesh.vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    return ("\n".join(lines) + "\n").encode()
