"""Integration: a static camera with a segmenter's mask, continuous inference that fails every
other window, and a node whose estimator cannot be loaded -- the node keeps running in all."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_ros.msg import Articulation

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "preprocess"))
from perceive_harness import OPTICAL, Driver, NodeProcess, private_domain
from synthetic_scene import Scene, make_frames

PERIOD_NS = 100_000_000


@pytest.fixture(scope="module")
def masked_frames():
    frames, _ = make_frames(6, 256, 192, Scene(), max_amount=0.4, moving_camera=False)
    return [replace(f, mask=(f.part_mask >= 0)) for f in frames]


@pytest.fixture(scope="module")
def failing_node(tmp_path_factory):
    domain = private_domain() + 1
    params = {
        "estimator": "standin_estimators:FixedAnswerEstimator",
        "estimator_kwargs": '{"num_frames": 3, "num_points": 128, "fail_every": 2}',
        "static_camera": True,
        "use_mask": True,
        "rate_hz": 5.0,
        "keyframe_period_s": 0.1,
        "diagnostics_period_s": 0.5,
    }
    node = NodeProcess(domain, params, tmp_path_factory.mktemp("modes") / "node.log")
    driver = Driver(domain)
    try:
        driver.wait_for_node(node, 30.0, mask=True)
        yield driver, node
    finally:
        driver.close()
        code = node.stop()
        assert code == 0, f"node exited with {code}:\n{node.log()}"


def test_static_camera_mask_input_and_failing_inference(failing_node, masked_frames):
    driver, node = failing_node
    start = driver.now_ns()
    # empty masks first: rejected (no object), counted
    for i in range(2):
        f = replace(masked_frames[0], mask=np.zeros(masked_frames[0].shape, bool))
        driver.publish_frame(f, start + i * PERIOD_NS, tf=False, with_mask=True)
        driver.spin(0.1)
    # then a stream long enough for several continuous inferences (rate_hz 5)
    t0 = start + 3 * PERIOD_NS
    for k in range(14):
        f = masked_frames[k % len(masked_frames)]
        driver.publish_frame(f, t0 + k * PERIOD_NS, tf=False, with_mask=True)
        driver.spin(0.1)

    def both_statuses():
        statuses = {m.status for m in driver.received["/articulation"]}
        return {Articulation.STATUS_OK, Articulation.STATUS_FAILED} <= statuses

    driver.wait_for(both_statuses, 10.0, "an OK and a FAILED estimate")
    failed = [m for m in driver.received["/articulation"] if m.status == Articulation.STATUS_FAILED]
    assert "stand-in failure" in failed[0].status_message and not failed[0].joints
    ok = [m for m in driver.received["/articulation"] if m.status == Articulation.STATUS_OK]
    # static camera: identity poses, estimates in the camera's optical frame
    assert ok[0].header.frame_id == OPTICAL and len(ok[0].window_stamps) == 3
    d = driver.fresh_diagnostics()
    assert int(d["inference errors"]) >= 1 and int(d["rejected: no_object"]) >= 2, d
    assert d["pose source"] == "static_camera" and "mask rate (Hz)" in d
    assert node.alive()
    assert "stand-in failure" in node.log()  # logged with its traceback


@pytest.fixture(scope="module")
def estimatorless_node(tmp_path_factory):
    domain = private_domain() + 2
    params = {"estimator": "no_such_module:Estimator", "diagnostics_period_s": 0.5}
    node = NodeProcess(domain, params, tmp_path_factory.mktemp("noest") / "node.log")
    driver = Driver(domain)
    try:
        driver.wait_for(lambda: driver.trigger.service_is_ready() or not node.alive(), 30.0, "the node's services")
        yield driver, node
    finally:
        driver.close()
        assert node.stop() == 0, node.log()


def test_missing_estimator_is_an_error_diagnostic_not_a_crash(estimatorless_node):
    driver, node = estimatorless_node
    d = driver.fresh_diagnostics()
    assert d["inference.level"] == 2 and "no_such_module" in d["inference.message"]
    assert d["inputs.level"] == 1 and "no colour images" in d["inputs.message"]
    r = driver.call(driver.trigger)
    assert not r.success and "no estimator" in r.message
    assert node.alive()
