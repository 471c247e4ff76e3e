"""sim2art-export-urdf: bag with /articulation (+ the node's segmented cloud) -> URDF folder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yourdfpy
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import Writer
from std_msgs.msg import Header

from sim2art_core.estimate import ArticulationEstimate
from sim2art_ros.bags.io import project_typestore
from sim2art_ros.conversions.articulation import estimate_to_msg
from sim2art_ros.conversions.image_codec import ns_to_stamp
from sim2art_ros.conversions.markers import segmented_cloud
from sim2art_ros.tools.export_urdf import CLOUD_TOPIC, export_from_bag, main


@pytest.fixture(scope="module")
def storage(confirmed_gt_estimate):
    return confirmed_gt_estimate("Storage1", 7, 2, 6, 384)  # the door's joint confirmed


def _bag(path, window, est, with_cloud=True, failed_last=True):
    ts = project_typestore()
    with Writer(path, version=9) as w:
        c_art = w.add_connection("/articulation", "sim2art_ros/msg/Articulation", typestore=ts)
        c_pts = w.add_connection(CLOUD_TOPIC, "sensor_msgs/msg/PointCloud2", typestore=ts)
        t = int(window.stamps_ns[-1])
        if with_cloud:
            cloud = segmented_cloud(window, est.labels, Header(stamp=ns_to_stamp(t), frame_id=est.frame_id))
            w.write(c_pts, t, serialize_message(cloud))
        w.write(c_art, t, serialize_message(estimate_to_msg(est, "cab")))
        if failed_last:  # a later FAILED estimate is skipped
            bad = ArticulationEstimate.failed("lost", est.frame_id, window.stamps_ns + 10**9, window.valid.shape)
            w.write(c_art, t + 10**9, serialize_message(estimate_to_msg(bad, "cab")))
    return path


def test_bag_with_cloud_gives_hull_meshes_and_the_estimated_joints(storage, tmp_path, capsys):
    window, est = storage
    bag = _bag(tmp_path / "bag", window, est)
    assert main([str(bag), "--out", str(tmp_path / "object")]) == 0
    assert "geometry from cloud" in capsys.readouterr().out
    urdf = yourdfpy.URDF.load(str(tmp_path / "object" / "object.urdf"), load_meshes=True)
    j = est.joints[0]
    assert urdf.actuated_joint_names == ["cab/joint_1"]
    np.testing.assert_allclose(urdf.get_transform("cab/part_1", "world")[:3, 3], j.origin, atol=1e-6)
    # the newest frame's door points lie on the door link posed at the newest state
    urdf.update_cfg({"cab/joint_1": float(j.amounts[-1])})
    import trimesh

    link = urdf.link_map["cab/part_1"]
    mesh = trimesh.util.concatenate([
        trimesh.load(tmp_path / "object" / c.geometry.mesh.filename, force="mesh") for c in link.collisions
    ]).apply_transform(urdf.get_transform("cab/part_1", "world"))  # fmt: skip
    door = window.points[-1][est.labels[-1] == 1].astype(float)
    assert trimesh.proximity.closest_point(mesh, door)[1].mean() < 0.01


def test_bag_without_cloud_falls_back_to_part_boxes(storage, tmp_path, capsys):
    window, est = storage
    bag = _bag(tmp_path / "bag", window, est, with_cloud=False)
    assert main([str(bag), "--out", str(tmp_path / "object")]) == 0
    assert "part bounds (no segmented cloud in the bag)" in capsys.readouterr().out
    model, *_ = export_from_bag(bag, tmp_path / "again")
    for link in model.links.values():  # each link is the box of its part's bounds: one piece, 8 corners
        assert len(link.meshes) == 1 and len(link.meshes[0].vertices) == 8 and link.num_points == 8
    yourdfpy.URDF.load(str(tmp_path / "object" / "object.urdf"))


def test_unconfirmed_joints_are_fixed_unless_joints_all(storage, tmp_path, capsys):
    window, est = storage
    hypothesis = replace(est, joints=tuple(replace(j, confirmed=False) for j in est.joints))
    bag = _bag(tmp_path / "bag", window, hypothesis)
    assert main([str(bag), "--out", str(tmp_path / "confirmed")]) == 0
    assert "0 movable joints" in (out := capsys.readouterr().out) and "1 unconfirmed joint fixed" in out
    assert yourdfpy.URDF.load(str(tmp_path / "confirmed" / "object.urdf")).actuated_joint_names == []
    assert main([str(bag), "--out", str(tmp_path / "all"), "--joints", "all"]) == 0
    assert "1 movable joints" in capsys.readouterr().out
    assert yourdfpy.URDF.load(str(tmp_path / "all" / "object.urdf")).actuated_joint_names == ["cab/joint_1"]


def test_bag_without_a_usable_estimate_and_unreadable_bag(storage, tmp_path, capsys):
    window, est = storage
    bad = ArticulationEstimate.failed("lost", "world", window.stamps_ns, window.valid.shape)
    ts = project_typestore()
    with Writer(tmp_path / "failed", version=9) as w:
        c = w.add_connection("/articulation", "sim2art_ros/msg/Articulation", typestore=ts)
        w.write(c, 1, serialize_message(estimate_to_msg(bad, "cab")))
    assert main([str(tmp_path / "failed"), "--out", str(tmp_path / "o")]) == 1
    assert "no non-FAILED estimate" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
