"""sim2art_core.export.kinematics: URDF forward kinematics and the opening path planned from the URDF."""

from __future__ import annotations

import numpy as np
import pytest
import yourdfpy

from sim2art_core.consumer_path import OpeningRequest, PathError, opening_path
from sim2art_core.export import export_urdf, observed_geometry_from_window
from sim2art_core.export.kinematics import UrdfKinematics, urdf_opening_path
from sim2art_core.geometry import closest_point_on_line, point_line_distance, unit

from .test_urdf import odd_object  # noqa: F401  (the module fixture: flap, drawer, knob on the flap)


@pytest.fixture(scope="module")
def exported(odd_object, tmp_path_factory):  # noqa: F811
    window, est, _ = odd_object
    model = export_urdf(est, observed_geometry_from_window(window, est))
    return window, est, model, model.write(tmp_path_factory.mktemp("kin"))


def test_forward_kinematics_matches_yourdfpy(exported):
    _, _, model, path = exported
    kin = UrdfKinematics.from_text(model.urdf)
    urdf = yourdfpy.URDF.load(str(path))
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = {name: float(rng.uniform(-0.5, 0.5)) for name in model.joint_names.values()}
        urdf.update_cfg(q)
        for link in model.links.values():
            np.testing.assert_allclose(kin.root_from_link(link.name, q), urdf.get_transform(link.name, kin.root),
                                       atol=1e-9)  # fmt: skip


def test_revolute_path_from_the_urdf_follows_the_estimated_hinge(exported):
    _, est, model, _ = exported
    kin = UrdfKinematics.from_text(model.urdf)
    flap = est.joints[0]
    q = {model.joint_names[j.child]: float(j.amounts[-1]) for j in est.joints}
    path = urdf_opening_path(kin, model.joint_names[1], q, OpeningRequest(opening=-0.5, handle_offset=1.0))
    # every waypoint on a circle about the estimated hinge line; the path spans the requested opening
    r = point_line_distance(path.positions, flap.origin, flap.axis)
    np.testing.assert_allclose(r, r[0], atol=1e-9)
    assert path.states[0] == pytest.approx(0.8) and path.states[-1] == pytest.approx(0.3)
    # the handle is on the flap's free edge: 25 cm from the hinge (the flap is 25 cm tall), not at its centre
    assert r[0] == pytest.approx(0.25, abs=0.02)
    # the same joint line as the planner that reads /articulation, and its grasp convention: approach
    # (+z) against the +state motion at the handle, +x along the hinge
    legacy = opening_path(est, OpeningRequest(opening=-0.5, joints="all"), "joint_1")  # (a per-window estimate)
    np.testing.assert_allclose(path.joint.axis, legacy.joint.axis, atol=1e-6)
    np.testing.assert_allclose(path.joint.origin, flap.origin, atol=1e-6)
    radial = path.handle - closest_point_on_line(path.handle, flap.origin, flap.axis)
    np.testing.assert_allclose(path.poses[0][:3, 2], -unit(np.cross(flap.axis, radial)), atol=1e-9)
    np.testing.assert_allclose(path.poses[0][:3, 0], flap.axis, atol=1e-9)


def test_prismatic_joint_on_a_moving_link_moves_along_the_posed_axis(exported):
    _, est, model, _ = exported
    kin = UrdfKinematics.from_text(model.urdf)
    q = {model.joint_names[j.child]: float(j.amounts[-1]) for j in est.joints}
    path = urdf_opening_path(kin, model.joint_names[3], q, OpeningRequest(opening=0.04, num_waypoints=5))
    step = path.positions[-1] - path.positions[0]
    flap_rotation = kin.root_from_link(model.links[1].name, q)[:3, :3]
    np.testing.assert_allclose(step, 0.04 * flap_rotation @ [0, 0, 1], atol=1e-9)  # the knob's axis, tilted


def test_bad_requests_and_urdfs_are_clear_errors(exported):
    _, _, model, _ = exported
    kin = UrdfKinematics.from_text(model.urdf)
    with pytest.raises(PathError, match="no movable URDF joint"):
        urdf_opening_path(kin, "object/base_joint", {}, OpeningRequest())
    with pytest.raises(PathError, match="not finite"):
        urdf_opening_path(kin, model.joint_names[1], {model.joint_names[1]: float("nan")}, OpeningRequest())
    with pytest.raises(ValueError, match="not valid XML"):
        UrdfKinematics.from_text("<robot")
    with pytest.raises(ValueError, match="one root"):
        UrdfKinematics.from_text('<robot name="x"><link name="a"/><link name="b"/></robot>')
