"""sim2art_core.export.urdf on hand-built odd objects and bad input (not our generator's categories)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yourdfpy

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.export import ExportConfig, ExportError, ObservedGeometry, export_urdf, observed_geometry_from_window
from sim2art_core.export.observed import part_poses
from sim2art_core.geometry import transform_points
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window

T = 6


def _part(label, pts):
    return PartEstimate(label, label == 0, len(pts), pts.mean(0), pts.min(0), pts.max(0), 1.0)


def _joint(child, parent, jtype, axis, origin, amounts):
    probs = np.eye(3)[jtype]
    return JointEstimate(child, parent, JointType(jtype), probs, np.asarray(axis, float), np.asarray(origin, float),
                         np.asarray(amounts, float), 0.9, "refined")  # fmt: skip


def _grid(lo, hi, n=12):
    """Points filling the faces of an axis-aligned box (what a scan all around it would give)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    g = np.linspace(0, 1, n)
    u, v = (a.ravel() for a in np.meshgrid(g, g))
    faces = []
    for ax in range(3):
        a, b = [k for k in range(3) if k != ax]
        for side in (lo[ax], hi[ax]):
            f = np.empty((len(u), 3))
            f[:, ax], f[:, a], f[:, b] = side, lo[a] + u * (hi[a] - lo[a]), lo[b] + v * (hi[b] - lo[b])
            faces.append(f)
    return np.unique(np.concatenate(faces), axis=0)


@pytest.fixture(scope="module")
def odd_object():
    """A low box (base) with a flap hinged at its bottom front edge (axis +x), a drawer sliding out along -y
    below it, and a knob that slides along the flap (a chain: knob -> flap -> base)."""
    base = _grid([-0.3, -0.2, 0.0], [0.3, 0.2, 0.3])
    flap = np.c_[np.random.default_rng(0).random((300, 2)) * [0.5, 0.25] + [-0.25, 0.02], np.zeros(300)]
    flap = flap[:, [0, 2, 1]] + [0, -0.2, 0]  # the front plane y = -0.2, z from 0.02 to 0.27
    drawer = _grid([-0.2, -0.18, 0.28], [0.2, 0.15, 0.3], 8)
    knob = _grid([-0.02, -0.23, 0.12], [0.02, -0.2, 0.16], 5)
    amounts = {1: np.linspace(0, 0.8, T), 2: np.linspace(0, 0.1, T), 3: np.linspace(0, 0.05, T)}
    joints = (
        _joint(1, 0, 0, [1, 0, 0], [0, -0.2, 0.0], amounts[1]),  # revolute flap, hinge at the bottom
        _joint(2, 0, 1, [0, -1, 0], drawer.mean(0), amounts[2]),  # prismatic drawer
        _joint(3, 1, 1, [0, 0, 1], knob.mean(0), amounts[3]),  # prismatic knob on the flap
    )
    parts_pts = {0: base, 1: flap, 2: drawer, 3: knob}
    sizes = {k: len(v) for k, v in parts_pts.items()}
    N = sum(sizes.values())
    est0 = ArticulationEstimate(EstimateStatus.OK, "odom", np.arange(T) * 10**8, np.zeros((T, N), np.int16),
                                tuple(_part(k, v) for k, v in parts_pts.items()), joints)  # fmt: skip
    points = np.zeros((T, N, 3), np.float32)
    labels = np.concatenate([np.full(n, k) for k, n in sizes.items()]).astype(np.int16)
    for t in range(T):
        poses = part_poses(est0, {j.child: j.amounts[t] for j in joints})
        points[t] = np.concatenate([transform_points(poses[k], v) for k, v in parts_pts.items()])
    window = Window(points, np.zeros_like(points), np.ones((T, N), bool), np.arange(T) * 10**8,
                    np.repeat(np.eye(4)[None], T, 0), "odom")  # fmt: skip
    est = replace(est0, labels=np.repeat(labels[None], T, 0))
    return window, est, parts_pts


def test_chain_of_joints_poses_like_the_estimate(odd_object, tmp_path):
    window, est, parts_pts = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est))
    urdf = yourdfpy.URDF.load(str(model.write(tmp_path)))
    assert model.root_link == "odom" and urdf.base_link == "odom"
    assert urdf.robot.joints[-1].parent == model.links[1].name  # the knob hangs on the flap
    for t in (0, T - 1):
        states = {j.child: float(j.amounts[t]) for j in est.joints}
        urdf.update_cfg({model.joint_names[k]: v for k, v in states.items()})
        poses = part_poses(est, states)
        for k, link in model.links.items():
            fixed_from_link = urdf.get_transform(link.name, "odom")
            # the link frame is the part's pose moved to the link origin
            np.testing.assert_allclose(fixed_from_link[:3, :3], poses[k][:3, :3], atol=1e-9)
            np.testing.assert_allclose(fixed_from_link[:3, 3], transform_points(poses[k], link.origin), atol=1e-6)


def test_flat_flap_becomes_a_thin_slab_behind_its_front(odd_object):
    window, est, _ = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est), ExportConfig(min_thickness=0.015))
    flap = model.links[1]
    assert [m.kind for m in flap.meshes] == ["thickened-hull"]
    y = flap.meshes[0].vertices[:, 1] + flap.origin[1]
    assert y.min() == pytest.approx(-0.2, abs=1e-6) and y.max() == pytest.approx(-0.185, abs=1e-6)  # into the body


def test_output_is_deterministic_and_has_a_schema_version(odd_object):
    window, est, _ = odd_object
    a = export_urdf(est, observed_geometry_from_window(window, est))
    b = export_urdf(est, observed_geometry_from_window(window, est))
    assert a.urdf == b.urdf and a.files == b.files
    assert "schema version 1" in a.urdf.splitlines()[1]


def test_limits_include_the_observed_range_plus_margin(odd_object):
    window, est, _ = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est),
                        ExportConfig(revolute_margin=0.2, prismatic_margin=0.01))  # fmt: skip
    assert model.joint_limits[1] == pytest.approx((-0.2, 1.0))
    assert model.joint_limits[2] == pytest.approx((-0.01, 0.11))


def test_failed_estimate_raises_a_clear_error():
    est = ArticulationEstimate.failed("depth missing", "odom", np.arange(3), (3, 10))
    with pytest.raises(ExportError, match="FAILED.*depth missing"):
        export_urdf(est, ObservedGeometry("odom", {}))


def test_no_moving_part_gives_the_base_only_and_says_so(odd_object, tmp_path):
    window, est, _ = odd_object
    still = replace(est, status=EstimateStatus.NO_ARTICULATION, parts=est.parts[:1], joints=())
    model = export_urdf(still, observed_geometry_from_window(window, still))
    assert model.base_only and model.joint_names == {}
    assert "no moving part was observed: this URDF holds the base only" in model.urdf
    urdf = yourdfpy.URDF.load(str(model.write(tmp_path)))
    assert urdf.actuated_joint_names == [] and set(urdf.link_map) == {"odom", "object/base"}


def test_static_joint_merges_its_part_into_the_parent(odd_object):
    window, est, _ = odd_object
    static = tuple(replace(j, type=JointType.STATIC) if j.child == 2 else j for j in est.joints)
    model = export_urdf(replace(est, joints=static), observed_geometry_from_window(window, est))
    assert 2 not in model.joint_names and model.links[0].parts == (0, 2)


def test_joints_confirmed_fixes_the_unconfirmed_joints_and_all_keeps_them(odd_object, tmp_path):
    window, est, _ = odd_object
    # the fused model confirmed the flap (1) and the knob on it (3), not the drawer (2)
    fused = replace(est, joints=tuple(replace(j, confirmed=j.child != 2) for j in est.joints))
    geometry = observed_geometry_from_window(window, fused)
    confirmed = export_urdf(fused, geometry, ExportConfig(joints="confirmed"))
    assert set(confirmed.joint_names) == {1, 3}, "only the confirmed joints stay movable"
    assert confirmed.links[0].parts == (0, 2), "the unconfirmed drawer merges into the base's link"
    urdf = yourdfpy.URDF.load(str(confirmed.write(tmp_path / "confirmed")))
    assert len(urdf.actuated_joint_names) == 2
    everything = export_urdf(fused, geometry, ExportConfig(joints="all"))
    assert set(everything.joint_names) == {1, 2, 3}, "'all' (the library default) keeps every hypothesis"
    assert export_urdf(fused, geometry).urdf == everything.urdf
    per_window = export_urdf(est, geometry, ExportConfig(joints="confirmed"))  # nothing confirmed
    assert per_window.joint_names == {} and per_window.links[0].parts == (0, 1, 2, 3)
    assert "3 unconfirmed joint(s)" in per_window.urdf and "no confirmed moving part" in per_window.urdf
    assert "1 unconfirmed joint(s)" in confirmed.urdf and "unconfirmed" not in everything.urdf


def test_nan_points_never_reach_the_file_and_are_counted(odd_object):
    window, est, parts = odd_object
    pts = {k: v.copy() for k, v in parts.items()}
    pts[1][:5] = np.nan
    model = export_urdf(est, ObservedGeometry("odom", pts))
    assert "nan" not in model.urdf.lower().replace("name", "")
    assert model.links[1].dropped_points == 5 and "5 non-finite dropped" in model.urdf


@pytest.mark.parametrize("field,value", [("axis", [np.nan, 0, 1]), ("origin", [0, np.inf, 0]), ("axis", [0, 0, 0])])
def test_bad_joint_raises_naming_the_joint(odd_object, field, value):
    window, est, parts = odd_object
    bad = tuple(replace(j, **{field: np.asarray(value, float)}) if j.child == 2 else j for j in est.joints)
    with pytest.raises(ExportError, match="joint_2"):
        export_urdf(replace(est, joints=bad), ObservedGeometry("odom", parts))


def test_nan_joint_state_raises(odd_object):
    _, est, parts = odd_object
    bad = tuple(replace(j, amounts=np.r_[j.amounts[:-1], np.nan]) for j in est.joints)
    with pytest.raises(ExportError, match="NaN"):
        export_urdf(replace(est, joints=bad), ObservedGeometry("odom", parts))


def test_part_without_points_gets_a_small_box_at_its_joint(odd_object, tmp_path):
    _, est, parts = odd_object
    model = export_urdf(est, ObservedGeometry("odom", {k: v for k, v in parts.items() if k != 3}))
    assert [m.kind for m in model.links[3].meshes] == ["empty-box"]
    yourdfpy.URDF.load(str(model.write(tmp_path)))


def test_names_are_sanitised_and_unique(odd_object, tmp_path):
    _, est, parts = odd_object
    model = export_urdf(replace(est, frame_id="/base"), ObservedGeometry("/base", parts),
                        ExportConfig(link_prefix="", robot_name="my cabinet #2"))  # fmt: skip
    names = [link.name for link in model.links.values()] + list(model.joint_names.values()) + [model.root_link]
    assert len(set(names)) == len(names) and model.root_link == "base" and model.links[0].name == "base_2"
    odd = export_urdf(est, ObservedGeometry("odom", parts), ExportConfig(link_prefix="//my cab-1//"))
    assert odd.joint_names[1] == "my_cab_1/joint_1" and odd.links[0].name == "my_cab_1/base"
    assert "meshes/my_cab_1_base.stl" in odd.files
    assert '<robot name="my_cabinet__2">' in model.urdf
    yourdfpy.URDF.load(str(model.write(tmp_path)))


def test_obj_meshes_load(odd_object, tmp_path):
    window, est, _ = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est), ExportConfig(mesh_format="obj"))
    assert all(f.endswith(".obj") for f in model.files)
    urdf = yourdfpy.URDF.load(str(model.write(tmp_path)), load_meshes=True)
    assert len(urdf.scene.geometry) == len(model.files)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="mesh_format"):
        ExportConfig(mesh_format="dae")
    with pytest.raises(ValueError, match="density"):
        ExportConfig(density=0)
    with pytest.raises(ValueError, match="joints"):
        ExportConfig(joints="some")


def test_picture_poses_the_links_like_the_estimate(odd_object, tmp_path):
    from sim2art_core.export.picture import plot_posed_model, posed_link_vertices

    window, est, _ = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est))
    first, last = posed_link_vertices(model, est, 0), posed_link_vertices(model, est, -1)
    np.testing.assert_allclose(first[model.links[0].name][0], last[model.links[0].name][0])  # the base stays
    # the drawer's pieces move by the observed travel along its axis
    shift = np.mean(last[model.links[2].name][0], axis=0) - np.mean(first[model.links[2].name][0], axis=0)
    np.testing.assert_allclose(shift, [0, -0.1, 0], atol=1e-9)
    png = plot_posed_model(model, est, tmp_path / "posed.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
