"""sim2art_core.export on every test-split category (true segmentation + refinement estimates):
the URDF loads in PyBullet and yourdfpy without warnings, joints equal the estimate's, round trip <= 1 cm."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pybullet as pb
import pytest
import yourdfpy

from sim2art_core.benchmarks.bench_export import category_samples, round_trip_distances
from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.eval.methods import MethodOptions, build_method
from sim2art_core.export import export_urdf, observed_geometry_from_window
from sim2art_core.types import JointType


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(sample, window, estimate, model, urdf path) of one test-split sequence per category."""
    _, samples = category_samples(per_category=1, frames=6, points=384, seed=0)
    run = build_method("gtseg-refine", MethodOptions())
    out = []
    for s in samples:
        window = window_from_sample(s)
        est = run(s, window)
        model = export_urdf(est, observed_geometry_from_window(window, est))
        out.append((s, window, est, model, model.write(tmp_path_factory.mktemp(s.category))))
    return out


def test_every_category_is_exported_with_its_moving_joints(exported):
    assert sorted(s.category for s, *_ in exported) == sorted(CATEGORIES)
    for s, _, est, model, _ in exported:
        moving = [j.child for j in est.joints if j.type != JointType.STATIC]
        assert sorted(model.joint_names) == sorted(moving), s.category
        assert len(moving) >= 1, s.category  # every category's test sequence moves a part


def test_loads_in_yourdfpy_without_warnings(exported, caplog):
    for s, _, _, model, path in exported:
        caplog.clear()
        with caplog.at_level(logging.WARNING), warnings.catch_warnings():
            warnings.simplefilter("error")
            urdf = yourdfpy.URDF.load(str(path), build_scene_graph=True, load_meshes=True)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], (s.category, caplog.text)
        assert urdf.validate(), s.category
        assert set(urdf.actuated_joint_names) == set(model.joint_names.values())
        assert all(urdf.scene.geometry), s.category  # meshes were found and read


def test_loads_in_pybullet_without_warnings(exported, capfd):
    client = pb.connect(pb.DIRECT)
    try:
        for s, _, _, model, path in exported:
            capfd.readouterr()
            body = pb.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
            text = "".join(capfd.readouterr())
            assert body >= 0
            assert "warn" not in text.lower() and "error" not in text.lower(), (s.category, text)
            # link frames at joint state 0 sit where the estimate says (base: the base part's centroid)
            names = {pb.getJointInfo(body, i, physicsClientId=client)[12].decode(): i
                     for i in range(pb.getNumJoints(body, physicsClientId=client))}  # fmt: skip
            for link in model.links.values():
                state = pb.getLinkState(body, names[link.name], computeForwardKinematics=True, physicsClientId=client)
                np.testing.assert_allclose(state[4], link.origin, atol=1e-6)
    finally:
        pb.disconnect(client)


def test_joint_axis_and_origin_equal_the_estimate(exported):
    for s, _, est, model, path in exported:
        urdf = yourdfpy.URDF.load(str(path))
        by_name = {j.name: j for j in urdf.robot.joints}
        for j in est.joints:
            if j.child not in model.joint_names:
                continue
            uj = by_name[model.joint_names[j.child]]
            parent_pose = urdf.get_transform(uj.parent, model.root_link)
            child_pose = urdf.get_transform(uj.child, model.root_link)
            axis_fixed = parent_pose[:3, :3] @ uj.axis
            np.testing.assert_allclose(axis_fixed, j.axis, atol=1e-6, err_msg=s.category)
            np.testing.assert_allclose(child_pose[:3, 3], j.origin, atol=1e-6, err_msg=s.category)
            assert uj.type == ("revolute" if j.type == JointType.REVOLUTE else "prismatic")
            assert uj.limit.lower <= min(j.amounts.min(), 0) and uj.limit.upper >= j.amounts.max()


def test_round_trip_mean_distance_at_most_1cm(exported):
    for s, window, est, model, path in exported:
        dist = round_trip_distances(model, est, window, path)
        assert set(dist) == set(model.links)
        assert max(dist.values()) <= 0.01, (s.category, dist)


def test_round_trip_detects_a_wrong_joint_state(exported):
    """The round-trip check can fail: posing a revolute door at the negated states moves it off its points."""
    from dataclasses import replace

    s, window, est, model, path = next(e for e in exported if e[0].category == "Laptop")
    j = est.joints[0]
    wrong = replace(est, joints=(replace(j, amounts=-j.amounts),))
    assert max(round_trip_distances(model, wrong, window, path).values()) > 0.01
