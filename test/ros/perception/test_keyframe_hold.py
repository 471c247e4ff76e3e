"""``busy_keyframe_hold_s``: the node tells its pipeline when an estimate is in flight (issue 14.5)."""

from __future__ import annotations

import sys
from pathlib import Path

import rclpy
from rclpy.context import Context

sys.path.insert(0, str(Path(__file__).parent))
from standin_estimators import FixedAnswerEstimator


def test_an_estimate_is_in_flight_until_its_outputs_are_published():
    from sim2art_ros.perception.node import PerceiveNode

    ctx = Context()
    rclpy.init(context=ctx, args=["perceive", "--ros-args", "-p", "busy_keyframe_hold_s:=0.2"])
    try:
        node = PerceiveNode(estimator=FixedAnswerEstimator(), context=ctx)
        try:
            assert node.pipeline.cfg.busy_keyframe_hold_s == 0.2
            assert not node.pipeline._in_flight()
            seen = []
            node._publish = lambda *args: seen.append((args, node.pipeline._in_flight()))
            node._results.append(("window", "estimate", None))  # done by the estimator, not yet published
            assert node.pipeline._in_flight() and not node.worker.busy
            node._publish_results()
            assert seen == [(("window", "estimate", None), True)]  # still in flight while publishing
            assert not node.pipeline._in_flight()  # published: the next keyframe need not wait
        finally:
            node.close()
            node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
