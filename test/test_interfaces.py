"""Our messages and the locally built tf2_msgs: import, constants, type hashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sim2art_core.types import EstimateStatus, JointType

ROOT = Path(__file__).resolve().parents[1]
MSGS = ("ArticulatedPart", "ArticulationJoint", "Articulation")


def test_messages_import_and_build():
    from builtin_interfaces.msg import Time

    from sim2art_ros.msg import ArticulatedPart, Articulation, ArticulationJoint

    joint = ArticulationJoint(name="joint_1", type=ArticulationJoint.TYPE_PRISMATIC)
    joint.state_trajectory = [0.0, 0.01, 0.02]
    joint.type_probabilities = [0.1, 0.8, 0.1]
    msg = Articulation(object_id="object_0", parts=[ArticulatedPart(name="base", is_root=True)], joints=[joint])
    msg.window_stamps = [Time(sec=1), Time(sec=2)]
    assert msg.joints[0].state_trajectory.tolist() == [0.0, 0.01, 0.02]
    assert len(msg.joints[0].axis_covariance) == 4 and len(msg.joints[0].origin_covariance) == 9


def test_message_constants_equal_core_enums():
    from sim2art_ros.msg import Articulation, ArticulationJoint

    assert ArticulationJoint.TYPE_REVOLUTE == JointType.REVOLUTE
    assert ArticulationJoint.TYPE_PRISMATIC == JointType.PRISMATIC
    assert ArticulationJoint.TYPE_FIXED == JointType.STATIC
    assert Articulation.STATUS_OK == EstimateStatus.OK
    assert Articulation.STATUS_NO_ARTICULATION == EstimateStatus.NO_ARTICULATION
    assert Articulation.STATUS_FAILED == EstimateStatus.FAILED


def _rosidl_hash(package: str, name: str) -> str:
    share = Path(sys.prefix) / "share" / package / "msg" / f"{name}.json"
    return json.loads(share.read_text())["type_hashes"][0]["hash_string"]


@pytest.mark.parametrize("name", MSGS)
def test_rosbags_computes_the_same_type_hash_as_rosidl(name):
    """Bags written with rosbags must carry the hash a ROS 2 install computes."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for n in MSGS:
        types.update(get_types_from_msg((ROOT / "msg" / f"{n}.msg").read_text(), f"sim2art_ros/msg/{n}"))
    ts.register(types)
    assert ts.hash_rihs01(f"sim2art_ros/msg/{name}") == _rosidl_hash("sim2art_ros", name)


def test_local_tf2_msgs_has_the_upstream_type_hash():
    """Same RIHS01 as upstream tf2_msgs (ros2/geometry2), so /tf interoperates with tf2_ros and RViz."""
    pytest.importorskip("tf2_msgs.msg")
    upstream = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"
    share = Path(sys.prefix) / "share" / "tf2_msgs" / "msg" / "TFMessage.json"
    if not share.exists():  # a real ROS install provides tf2_msgs elsewhere
        pytest.skip("tf2_msgs not built into this prefix")
    assert _rosidl_hash("tf2_msgs", "TFMessage") == upstream


def test_every_message_field_is_commented():
    for name in MSGS:
        for line in (ROOT / "msg" / f"{name}.msg").read_text().splitlines():
            code = line.split("#")[0].strip()
            if code:
                assert "#" in line, f"{name}.msg: field without a comment: {line!r}"
