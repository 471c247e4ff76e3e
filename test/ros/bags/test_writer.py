"""Bag write -> read round trip for every topic (hand-made frames; no renderer needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from scipy.spatial.transform import Rotation

from sim2art_core.camera import Intrinsics
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import make_transform, matrix_from_quaternion
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.layout import BagLayout
from sim2art_ros.bags.writer import BagWriterConfig, transform_estimate, write_bag
from sim2art_ros.conversions.articulation import msg_to_estimate
from sim2art_ros.conversions.image_codec import camera_info_to_intrinsics, image_to_depth, image_to_rgb, stamp_to_ns

W, H, NF = 16, 12, 4
PERIOD = 66_666_667


def make_frames(rng) -> list[RGBDFrame]:
    intr = Intrinsics(20.0, 21.0, 7.5, 5.5, W, H)
    frames = []
    for i in range(NF):
        depth = rng.uniform(0.3, 3.0, (H, W)).astype(np.float32)
        depth[0, :3] = np.nan  # holes
        R = Rotation.from_euler("zyx", [0.1 * i, -0.2, 0.05 * i]).as_matrix()
        pose = make_transform(R, [0.5 + 0.1 * i, -1.0, 1.2])
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        frames.append(RGBDFrame(rgb, depth, intr, pose, stamp_ns=123 + i * PERIOD))
    return frames


def make_ground_truth() -> ArticulationEstimate:
    base = PartEstimate(
        0, True, 100, np.array([0.0, 0.0, 0.4]), np.array([-0.3, -0.2, 0]), np.array([0.3, 0.2, 0.8]), 1
    )
    door = PartEstimate(
        1, False, 50, np.array([0.1, 0.25, 0.4]), np.array([-0.2, 0.2, 0]), np.array([0.3, 0.3, 0.8]), 1
    )
    joint = JointEstimate(
        child=1, parent=0, type=JointType.REVOLUTE, type_probs=np.array([1.0, 0, 0]),
        axis=np.array([0.0, 0.0, 1.0]), origin=np.array([-0.2, 0.25, 0.4]),
        amounts=np.linspace(0.0, 0.6, NF - 1), confidence=1.0, source="ground_truth",
    )  # fmt: skip
    return ArticulationEstimate(
        status=EstimateStatus.OK, frame_id="world", stamps_ns=np.arange(NF - 1, dtype=np.int64),
        labels=np.zeros((NF - 1, 0), np.int16), parts=(base, door), joints=(joint,), estimator_id="ground_truth",
    )  # fmt: skip


@pytest.mark.parametrize("storage,encoding", [("mcap", "16UC1"), ("sqlite3", "32FC1")])
def test_round_trip_every_topic(tmp_path, storage, encoding, repo_root):
    rng = np.random.default_rng(0)
    frames = make_frames(rng)
    gt = make_ground_truth()
    odom_from_world = make_transform(Rotation.from_euler("z", 0.7).as_matrix(), [2.0, -1.0, 0.1])
    cfg = BagWriterConfig(storage=storage, depth_encoding=encoding, odom_from_world=odom_from_world, object_id="cab")
    summary = write_bag(tmp_path / "bag", frames, gt, cfg)
    lay = BagLayout()
    assert summary.counts == {
        "/tf_static": 1, "/tf": NF, lay.color_topic: NF, lay.depth_topic: NF, lay.color_info_topic: NF,
        lay.depth_info_topic: NF, lay.ground_truth_topic: 1,
    }  # fmt: skip
    assert summary.duration_s == pytest.approx((NF - 1) * PERIOD / 1e9)
    bag_io.check_bag(summary.path)  # metadata and storage agree

    # metadata: storage, QoS and the RIHS01 hash of our type equal to rosidl's
    meta = yaml.safe_load((summary.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == storage
    topics = {t["topic_metadata"]["name"]: t["topic_metadata"] for t in meta["topics_with_message_count"]}
    rosidl = json.loads((repo_root / ".venv/share/sim2art_ros/msg/Articulation.json").read_text())
    assert topics[lay.ground_truth_topic]["type_description_hash"] == rosidl["type_hashes"][0]["hash_string"]
    assert all(t["type_description_hash"].startswith("RIHS01_") for t in topics.values())
    assert topics["/tf_static"]["offered_qos_profiles"][0]["durability"] in ("transient_local", 1)

    by_topic: dict[str, list] = {}
    # no default typestore: everything must be decodable from the definitions stored in the bag
    with AnyReader([summary.path]) as reader:
        for conn, t, raw in reader.messages():
            by_topic.setdefault(conn.topic, []).append((t, reader.deserialize(raw, conn.msgtype)))
    stamps = [cfg.start_time_ns + i * PERIOD for i in range(NF)]
    for topic in (lay.color_topic, lay.depth_topic, lay.color_info_topic, "/tf"):
        assert [t for t, _ in by_topic[topic]] == stamps, topic  # order and timing
    for i, f in enumerate(frames):
        img = by_topic[lay.color_topic][i][1]
        assert img.header.frame_id == lay.optical_frame and stamp_to_ns(img.header.stamp) == stamps[i]
        np.testing.assert_array_equal(image_to_rgb(img), f.rgb)
        dimg = by_topic[lay.depth_topic][i][1]
        assert dimg.encoding == encoding
        depth = image_to_depth(dimg)
        np.testing.assert_array_equal(np.isnan(depth), np.isnan(f.depth))
        np.testing.assert_allclose(depth, f.depth, atol=5e-4 if encoding == "16UC1" else 0, equal_nan=True)
        assert camera_info_to_intrinsics(by_topic[lay.color_info_topic][i][1]) == f.intrinsics
    # TF: odom -> camera_link (moving) composed with the static chain gives the optical frame's pose
    ((_, static_msg),) = by_topic["/tf_static"]
    static = {tr.child_frame_id: (tr.header.frame_id, _T(tr)) for tr in static_msg.transforms}
    assert static[lay.color_frame][0] == lay.camera_base_frame and static[lay.optical_frame][0] == lay.color_frame
    for i, f in enumerate(frames):
        (tr,) = by_topic["/tf"][i][1].transforms
        assert (tr.header.frame_id, tr.child_frame_id) == (lay.fixed_frame, lay.camera_base_frame)
        odom_from_optical = _T(tr) @ static[lay.color_frame][1] @ static[lay.optical_frame][1]
        np.testing.assert_allclose(odom_from_optical, odom_from_world @ f.world_from_cam, atol=1e-9)
    # ground truth: our type decodes (rosbags dataclass) back into the estimate, moved into odom
    ((t_gt, gt_msg),) = by_topic[lay.ground_truth_topic]
    assert t_gt == stamps[-1] and gt_msg.object_id == "cab" and gt_msg.header.frame_id == "odom"
    back = msg_to_estimate(gt_msg)
    want = transform_estimate(gt, odom_from_world, "odom", stamps[: NF - 1])
    np.testing.assert_array_equal(back.stamps_ns, stamps[: NF - 1])
    (jb,), (jw,) = back.joints, want.joints
    np.testing.assert_allclose(jb.axis, jw.axis, atol=1e-12)
    np.testing.assert_allclose(jb.origin, odom_from_world[:3, :3] @ [-0.2, 0.25, 0.4] + [2.0, -1.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(jb.amounts, np.linspace(0, 0.6, NF - 1))
    np.testing.assert_allclose(back.parts[1].centroid, want.parts[1].centroid, atol=1e-12)


def _T(tr) -> np.ndarray:
    q = tr.transform.rotation
    p = tr.transform.translation
    return make_transform(matrix_from_quaternion([q.x, q.y, q.z, q.w]), [p.x, p.y, p.z])


def test_writer_rejects_bad_input(tmp_path):
    frames = make_frames(np.random.default_rng(1))
    with pytest.raises(ValueError, match="storage"):
        BagWriterConfig(storage="rosbag1")
    with pytest.raises(ValueError, match="increase"):
        write_bag(tmp_path / "b", [frames[1], frames[0]])
    write_bag(tmp_path / "ok", frames)
    with pytest.raises(FileExistsError):
        write_bag(tmp_path / "ok", frames)


def test_bag_from_sim_cli_renders_a_bag_with_ground_truth(tmp_path, capsys):
    """sim2art-bag-from-sim end to end: data engine -> bag (sqlite3, 32FC1, realism on) -> read back."""
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_ros.bags.writer import main

    args = ["--category", "Laptop", "--object-seed", "1", "--sequence-seed", "2", "--frames", "6", "--width", "64",
            "--height", "48", "--storage", "sqlite3", "--depth-encoding", "32FC1", "--odom-from-world", "1", "2", "0",
            "0.5", "--realism-missing-depth-fraction", "0.05"]  # fmt: skip
    assert main([str(tmp_path / "bag"), *args]) == 0
    assert '"missing_depth_fraction": 0.05' in capsys.readouterr().out
    lay = BagLayout()
    counts = {t.name: t.count for t in bag_io.check_bag(tmp_path / "bag")}
    assert counts[lay.color_topic] == counts[lay.depth_topic] == counts["/tf"] == 7  # T + 1 frames
    assert counts[lay.ground_truth_topic] == 1 and counts["/tf_static"] == 1
    assert (tmp_path / "bag" / "bag.db3").is_file()
    with AnyReader([tmp_path / "bag"]) as reader:
        conn = next(c for c in reader.connections if c.topic == lay.ground_truth_topic)
        _, _, raw = next(reader.messages([conn]))
        gt = msg_to_estimate(reader.deserialize(raw, conn.msgtype))
        dconn = next(c for c in reader.connections if c.topic == lay.depth_topic)
        depth = image_to_depth(reader.deserialize(next(reader.messages([dconn]))[2], dconn.msgtype))
    assert np.isnan(depth).mean() > 0.04  # holes from the realism option (plus background)
    sample = generate_sequence("Laptop", 1, 2, SequenceConfig(num_frames=6, width=64, height=48))
    assert gt.frame_id == "odom" and len(gt.joints) == sample.num_parts - 1
    # the lid's hinge, moved into odom by the yaw of 0.5 rad about z
    yaw = Rotation.from_euler("z", 0.5).as_matrix()
    lid = gt.joints[0]
    from sim2art_core.metrics.sample import gt_joint_params

    want = gt_joint_params(sample, lid.child)
    assert abs(abs(np.dot(lid.axis, yaw @ want.axis)) - 1) < 1e-6
    assert np.abs(np.abs(lid.amounts) - np.abs(want.amounts)).max() < 1e-5
