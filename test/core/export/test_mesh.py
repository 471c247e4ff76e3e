"""sim2art_core.export.mesh: hulls, fallbacks, mass properties, mesh files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sim2art_core.export.config import ExportConfig
from sim2art_core.export.mesh import (
    box_mesh,
    combined_mass_properties,
    convex_pieces,
    mass_properties,
    part_mesh,
    piece_tolerance,
    point_noise,
    stl_bytes,
    surface_distance,
    unique_rows,
)


def _box_points(size, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 3)) - 0.5) * np.asarray(size)


def test_box_mass_properties_match_the_closed_form():
    a, b, c = 0.4, 0.2, 0.1
    props = mass_properties(box_mesh([-a / 2, -b / 2, -c / 2], [a / 2, b / 2, c / 2]), density=500, min_mass=0.01)
    m = 500 * a * b * c
    assert props.mass == pytest.approx(m)
    np.testing.assert_allclose(props.com, 0, atol=1e-12)
    expected = m / 12 * np.diag([b * b + c * c, a * a + c * c, a * a + b * b])
    np.testing.assert_allclose(props.inertia, expected, rtol=1e-9, atol=1e-15)


def test_offset_box_keeps_its_centre_of_mass_and_min_mass_scales_inertia():
    box = box_mesh([1, 2, 3], [1.01, 2.01, 3.01])
    props = mass_properties(box, density=500, min_mass=0.1)
    np.testing.assert_allclose(props.com, [1.005, 2.005, 3.005], atol=1e-12)
    assert props.mass == 0.1
    raw = mass_properties(box, density=500, min_mass=1e-9)
    np.testing.assert_allclose(props.inertia / raw.inertia.max(), raw.inertia / raw.inertia.max() * (0.1 / raw.mass))


def test_hull_of_a_solid_box_cloud_is_close_to_the_box():
    pts = _box_points([0.4, 0.2, 0.1], n=20000)
    mesh = part_mesh(pts, 8, 0.01, 0.02)
    assert mesh.kind == "hull"
    props = mass_properties(mesh, 1000, 0.01)
    assert props.mass == pytest.approx(1000 * 0.4 * 0.2 * 0.1, rel=0.05)


def test_flat_points_are_thickened_towards_the_given_side():
    rng = np.random.default_rng(1)
    pts = np.c_[rng.random((500, 2)) * 0.5, np.zeros(500)]  # a door front in z = 0
    mesh = part_mesh(pts, 8, 0.01, 0.02, towards=np.array([0, 0, -1.0]))
    assert mesh.kind == "thickened-hull"
    assert mesh.vertices[:, 2].min() == pytest.approx(-0.01) and mesh.vertices[:, 2].max() == pytest.approx(0.0)
    assert surface_distance(mesh, pts).max() < 1e-9  # the observed surface is the mesh's surface


def test_too_few_line_and_no_points_give_boxes():
    assert part_mesh(np.zeros((3, 3)) + [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], 8, 0.01, 0.02).kind == "box"
    line = np.c_[np.linspace(0, 1, 50), np.zeros(50), np.zeros(50)]
    box = part_mesh(line, 8, 0.01, 0.02)
    assert box.kind == "box" and np.ptp(box.vertices, axis=0) == pytest.approx([1, 0.01, 0.01])
    empty = part_mesh(np.zeros((0, 3)), 8, 0.01, 0.02)
    assert empty.kind == "empty-box" and np.ptp(empty.vertices, axis=0) == pytest.approx([0.02] * 3)


def test_concave_part_gets_several_pieces_that_follow_its_surface():
    # a cabinet body: five walls and a shelf inside; the single hull is far from the shelf's points
    rng = np.random.default_rng(2)
    u = rng.random((6000, 2)) * 0.4 - 0.2
    lo, hi = np.full(6000, -0.2), np.full(6000, 0.2)
    walls = [np.c_[u, lo], np.c_[lo, u], np.c_[hi, u], np.c_[u[:, 0], lo, u[:, 1]], np.c_[u[:, 0], hi, u[:, 1]],
             np.c_[u, np.zeros(6000)]]  # fmt: skip
    pts = np.concatenate(walls)
    one = convex_pieces(pts, ExportConfig(max_pieces=1))
    many = convex_pieces(pts, ExportConfig(max_pieces=16, piece_tolerance=0.004))
    assert len(one) == 1 and len(many) > 1
    import trimesh

    def dist(pieces):
        mesh = trimesh.util.concatenate([trimesh.Trimesh(m.vertices, m.faces) for m in pieces])
        return trimesh.proximity.closest_point(mesh, pts[::10])[1].mean()

    assert dist(one) > 0.008 and dist(many) < 0.005
    assert convex_pieces(pts, ExportConfig(max_pieces=16))[0].vertices.tobytes() == many[0].vertices.tobytes()


def _doubling_search(pts, cfg):
    """The piece search before the k = max-first order (k = 1, 2, 4, ... until the tolerance is met), as a
    reference: the new order must find the same pieces whenever the error falls with k."""
    from scipy.cluster.vq import kmeans2

    def mesh_of(p):
        return part_mesh(p, cfg.min_hull_points, cfg.min_thickness, cfg.empty_box_size, None, cfg.max_hull_points)

    groups, pieces, k = [pts], (mesh_of(pts),), 1
    while k < cfg.max_pieces and len(pts) >= 2 * cfg.min_hull_points:
        err = np.concatenate([surface_distance(m, g) for m, g in zip(pieces, groups, strict=True)]).mean()
        if err <= cfg.piece_tolerance:
            break
        k = min(2 * k, cfg.max_pieces)
        _, lab = kmeans2(pts, k, minit="++", seed=np.random.default_rng(0))
        groups = [pts[lab == i] for i in range(k) if (lab == i).any()]
        pieces = tuple(mesh_of(g) for g in groups)
    return pieces


def _spheres(centres, n, radius, seed):
    """Points on spheres far apart: their hull is far from the spheres' inner sides, each sphere convex."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(len(centres) * n, 3))
    return np.repeat(np.asarray(centres, float), n, axis=0) + radius * d / np.linalg.norm(d, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "case",
    ["convex", "two spheres", "five spheres", "cabinet", "noisy sheet", "few points", "max 6", "max 2"],
)
def test_piece_search_finds_the_doubling_search_pieces(case, monkeypatch):
    rng = np.random.default_rng(5)
    cfg = ExportConfig(noise_tolerance=0.0)  # the fixed tolerance the reference search uses (the default)
    far = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]
    if case == "convex":  # a door: k = 1 meets the tolerance
        pts = _box_points([0.5, 0.3, 0.002], n=3000)
    elif case in ("two spheres", "five spheres"):
        pts = _spheres(far[: 2 if case == "two spheres" else 5], 600, 0.05, 1)
    elif case == "cabinet":  # four walls and a shelf
        u = rng.random((3000, 2)) * 0.4 - 0.2
        lo, hi = np.full(3000, -0.2), np.full(3000, 0.2)
        pts = np.concatenate([np.c_[u, lo], np.c_[lo, u], np.c_[hi, u], np.c_[u[:, 0], lo, u[:, 1]], np.c_[u, 0 * lo]])
    elif case == "noisy sheet":  # a wall with 3 cm depth noise: no k meets 4 mm, max_pieces is the answer
        pts = np.c_[rng.random((6000, 2)) * 0.6, rng.normal(0, 0.03, 6000)]
    elif case == "few points":
        pts = _box_points([0.2, 0.2, 0.2], n=12)
    else:
        cfg = ExportConfig(max_pieces=int(case.split()[1]), noise_tolerance=0.0)
        pts = _spheres(far[:3], 600, 0.05, 2)
    calls = []
    import sim2art_core.export.mesh as mesh_module

    real = mesh_module.kmeans2
    monkeypatch.setattr(mesh_module, "kmeans2", lambda data, k, **kw: calls.append(k) or real(data, k, **kw))
    new = convex_pieces(pts, cfg)
    old = _doubling_search(pts, cfg)
    assert [m.vertices.tobytes() for m in new] == [m.vertices.tobytes() for m in old]
    assert [m.faces.tobytes() for m in new] == [m.faces.tobytes() for m in old]
    # k-means runs (k) and pieces: noisy points (the node's) need one k-means where the doubling search
    # ran four (2, 4, 8, 16); a part needing few pieces costs one k-means more (k = 16 first)
    expected = {"convex": ([], 1), "two spheres": ([16, 2], 2), "five spheres": ([16, 2, 4], 4),
                "cabinet": ([16, 2, 4, 8], 16), "noisy sheet": ([16], 16), "few points": ([], 1),
                "max 6": ([6, 2], 2), "max 2": ([2], 2)}  # fmt: skip
    assert (calls, len(new)) == expected[case]


def test_unique_rows_is_numpys_unique():
    rng = np.random.default_rng(3)
    pts = np.round(rng.normal(size=(3000, 3)), 1)  # many duplicate rows
    pts[:5] = [[0.0, 0.0, 0.0], [-0.0, 0.0, 0.0], [0.0, -0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    np.testing.assert_array_equal(unique_rows(pts), np.unique(pts, axis=0))
    assert len(unique_rows(pts)) < len(pts)
    assert unique_rows(pts[:1]).shape == (1, 3) and unique_rows(pts[:0]).shape == (0, 3)


def test_surface_distance_inside_a_box_is_the_distance_to_the_nearest_wall():
    box = box_mesh([0, 0, 0], [0.4, 0.2, 0.1])
    pts = _box_points([0.4, 0.2, 0.1], n=500) + [0.2, 0.1, 0.05]
    expected = np.minimum(pts, [0.4, 0.2, 0.1] - pts).min(axis=1)
    np.testing.assert_allclose(surface_distance(box, pts), expected, atol=1e-12)


def test_combined_mass_of_two_boxes_is_one_box():
    halves = (box_mesh([-0.2, -0.1, -0.05], [0, 0.1, 0.05]), box_mesh([0, -0.1, -0.05], [0.2, 0.1, 0.05]))
    whole = mass_properties(box_mesh([-0.2, -0.1, -0.05], [0.2, 0.1, 0.05]), 500, 0.01)
    both = combined_mass_properties(halves, 500, 0.01)
    assert both.mass == pytest.approx(whole.mass)
    np.testing.assert_allclose(both.inertia, whole.inertia, rtol=1e-9, atol=1e-15)


def test_binary_stl_layout():
    data = stl_bytes(box_mesh([0, 0, 0], [1, 1, 1]), "x")
    assert len(data) == 84 + 12 * 50 and struct.unpack("<I", data[80:84])[0] == 12


@pytest.mark.parametrize("n", [300, 1000, 20000])
def test_point_noise_measures_the_surface_noise_whatever_the_shape(n):
    rng = np.random.default_rng(n)
    for sigma in (0.002, 0.005, 0.01):
        sheet = np.c_[rng.random((n, 2)) * [0.5, 0.8], rng.normal(0, sigma, n)]
        assert 0.65 * sigma < point_noise(sheet) < 0.85 * sigma
    # clean flat surfaces with edges and corners: ~0 (a cabinet's walls and shelf); a curved one: the sagitta
    # over a neighbourhood (1/64 of the part), under 1 % of a sphere's radius from 1000 points, 2 % from 300
    u = rng.random((n, 2)) * 0.4 - 0.2
    lo, hi = np.full(n, -0.2), np.full(n, 0.2)
    cabinet = np.concatenate([np.c_[u, lo], np.c_[lo, u], np.c_[hi, u], np.c_[u[:, 0], lo, u[:, 1]], np.c_[u, 0 * lo]])
    assert point_noise(cabinet) < 0.0005
    assert point_noise(_spheres([[0, 0, 0]], n, 0.1, 3)) < (0.0021 if n < 1000 else 0.001)
    assert point_noise(np.zeros((5, 3))) == 0.0 and point_noise(np.full((40, 3), np.nan)) == 0.0


def test_noise_tolerance_keeps_a_noisy_front_one_piece_and_clean_parts_as_before():
    """A flat front with 1 cm depth noise: its hull misses the points by 2-3 times the noise and 16 pieces only
    fit the noise; with noise_tolerance 3 the tolerance follows the measured noise, so it stays one piece.
    Clean parts measure ~0 noise: their pieces are the fixed tolerance's, byte for byte."""
    rng = np.random.default_rng(7)
    front = np.c_[rng.random((1000, 2)) * [0.5, 0.8], rng.normal(0, 0.01, 1000)]
    fixed, adaptive_cfg = ExportConfig(), ExportConfig(noise_tolerance=3.0)  # the default: fixed
    assert len(convex_pieces(front, fixed)) == 16 and len(convex_pieces(front, adaptive_cfg)) == 1
    assert piece_tolerance(front, fixed) == 0.004 and 0.02 < piece_tolerance(front, adaptive_cfg) < 0.026
    u = rng.random((3000, 2)) * 0.4 - 0.2
    lo, hi = np.full(3000, -0.2), np.full(3000, 0.2)
    cabinet = np.concatenate([np.c_[u, lo], np.c_[lo, u], np.c_[hi, u], np.c_[u[:, 0], lo, u[:, 1]], np.c_[u, 0 * lo]])
    for clean in (cabinet, _spheres([[0, 0, 0], [1, 0, 0]], 600, 0.05, 1), _box_points([0.5, 0.3, 0.002], n=3000)):
        adaptive, before = convex_pieces(clean, adaptive_cfg), convex_pieces(clean, fixed)
        assert [m.vertices.tobytes() for m in adaptive] == [m.vertices.tobytes() for m in before]
    with pytest.raises(ValueError, match="noise_tolerance"):
        ExportConfig(noise_tolerance=-1.0)
