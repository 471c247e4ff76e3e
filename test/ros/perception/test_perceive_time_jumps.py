"""Time jumps and recovery (issue 14.6): the node in its own process keeps estimating, without a restart.

* a burst of image and TF stamps an hour in the future, then valid frames again;
* ``~/reset`` forgets the last stamp: the same stamps are accepted again;
* a bag replayed twice in a row under sim time (/clock before every message).

Before, the first two left the node rejecting every later frame as ``stamp_not_increasing``
for good. The estimator is the FlowSplitEstimator stand-in, whose answer for the door scene is
known (one revolute joint).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim2art_ros.bags.layout import BagLayout
from sim2art_ros.bags.player import BagPlayer, ReplayOptions
from sim2art_ros.bags.writer import write_bag
from sim2art_ros.conversions.image_codec import stamp_to_ns
from sim2art_ros.msg import Articulation, ArticulationJoint

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "preprocess"))
from perceive_harness import COLOR, DEPTH, INFO, Driver, NodeProcess, private_domain
from synthetic_scene import Scene, make_frames

T, N = 4, 256
PERIOD_NS = 100_000_000
HOUR_NS = 3600 * 10**9
PARAMS = {
    "estimator": "standin_estimators:FlowSplitEstimator",
    "estimator_kwargs": f'{{"num_frames": {T}, "num_points": {N}}}',
    "rate_hz": 0.0,
    "keyframe_period_s": 0.1,
    "diagnostics_period_s": 0.5,
}


@pytest.fixture(scope="module")
def frames():
    return make_frames(T + 3, 320, 240, Scene(), max_amount=0.5)[0]


def _run(tmp_path, extra: dict | None = None, offset: int = 5, static_tf: bool = True):
    domain = private_domain() + offset
    node = NodeProcess(domain, {**PARAMS, **(extra or {})}, tmp_path / "node.log")
    driver = Driver(domain)
    driver.wait_for_node(node, 30.0)
    if static_tf:  # the bag brings its own camera mount on /tf_static
        driver.publish_static_tf()
    return driver, node


def _stream(driver, frames, start_ns: int) -> list[int]:
    stamps = []
    for i, f in enumerate(frames):
        stamps.append(start_ns + i * PERIOD_NS)
        driver.publish_frame(f, stamps[-1])
        driver.spin(0.1)
    return stamps


def _estimate(driver, timeout=20.0) -> Articulation:
    """Trigger until a full window is queued, then the /articulation message it produced."""
    before = len(driver.received["/articulation"])
    driver.wait_for(lambda: driver.call(driver.trigger).success, timeout, "a full window (trigger success)")
    driver.wait_for(lambda: len(driver.received["/articulation"]) > before, timeout, "/articulation")
    return driver.received["/articulation"][-1]


def _assert_door(msg: Articulation, stamps: list[int]) -> None:
    assert msg.status == Articulation.STATUS_OK, msg.status_message
    assert len(msg.joints) == 1 and msg.joints[0].type == ArticulationJoint.TYPE_REVOLUTE
    assert {stamp_to_ns(s) for s in msg.window_stamps} <= set(stamps)


def test_future_stamp_burst_then_valid_frames_and_reset(tmp_path, frames):
    driver, node = _run(tmp_path)
    pid = node.proc.pid
    try:
        now = driver.now_ns()
        first = _stream(driver, frames, now)
        _assert_door(_estimate(driver), first)
        _stream(driver, frames[:3], now + HOUR_NS)  # images and TF an hour ahead (a clock jump)
        valid = _stream(driver, frames, driver.now_ns())  # the clock is back
        _assert_door(_estimate(driver), valid)
        d = driver.fresh_diagnostics()
        assert int(d["time jumps"]) >= 2, d
        assert "time jumped forward" in node.log() and "time jumped back" in node.log()
        assert d["window.level"] == 0, d
        # ~/reset forgets the last stamp and the poses: the same stamps again (0.6 s back: no time jump)
        assert driver.call(driver.reset).success
        _stream(driver, frames, valid[0])
        _assert_door(_estimate(driver), valid)
        assert int(driver.fresh_diagnostics()["time jumps"]) == int(d["time jumps"])
        assert node.alive() and node.proc.pid == pid, node.log()
    finally:
        driver.close()
        assert node.stop() == 0, node.log()


def test_refused_frames_warn_on_the_window_status(tmp_path, frames):
    """Without the jump detection (threshold at its maximum), frames behind a future burst are refused:
    while they keep coming, the window status says so instead of "waiting for keyframes"."""
    driver, node = _run(tmp_path, {"time_jump_back_s": 3600.0}, offset=6)
    try:
        _stream(driver, frames[:2], driver.now_ns() + HOUR_NS)
        warned = None
        for k in range(80):  # 8 s of valid frames at 10 Hz, all refused as out of order
            driver.publish_frame(frames[k % len(frames)], driver.now_ns())
            driver.spin(0.1)
            d = driver.diagnostics_values()
            if d.get("window.level") == 1 and "none is accepted" in d.get("window.message", ""):
                warned = d
                break
        assert warned is not None, driver.diagnostics_values()
        assert "stamp_not_increasing" in warned["window.message"], warned
    finally:
        driver.close()
        assert node.stop() == 0, node.log()


def test_bag_replayed_twice_under_sim_time(tmp_path, frames):
    lay = BagLayout()
    bag_frames = make_frames(14, 320, 240, Scene(), max_amount=0.5)[0]  # 1.3 s: replaying it jumps back 1.3 s
    write_bag(tmp_path / "bag", bag_frames)
    driver, node = _run(tmp_path, {"use_sim_time": True}, offset=7, static_tf=False)
    try:
        player = BagPlayer(
            driver.node,
            tmp_path / "bag",
            ReplayOptions(
                clock_hz=50.0, clock_each_message=True, exclude_topics=(lay.ground_truth_topic,),
                remap={lay.color_topic: COLOR, lay.depth_topic: DEPTH, lay.color_info_topic: INFO},
            ),
        )  # fmt: skip
        for replay in range(2):
            player.play()
            msg = _estimate(driver)
            assert msg.status == Articulation.STATUS_OK and len(msg.joints) == 1, (replay, msg.status_message)
            # sim time stands still when the bag ends (and with it the diagnostics timer): keep /clock going
            n = len(driver.received["/diagnostics"])
            player.continue_clock(lambda n=n: driver.spin(0.02) or len(driver.received["/diagnostics"]) > n + 1, 10.0)
            d = driver.diagnostics_values()
            assert int(d["time jumps"]) == replay, d
            # every frame of each replay made it into the window builder; none refused as out of order
            assert int(d.get("rejected: stamp_not_increasing", 0)) == 0, d
        assert node.alive(), node.log()
    finally:
        driver.close()
        assert node.stop() == 0, node.log()
