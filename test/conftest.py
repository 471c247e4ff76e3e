"""Test-wide set-up. Network safety first: this runs before any test imports rclpy.

Every rclpy process started by the tests (in-process or as a subprocess, which
inherits this environment) discovers peers on loopback only and uses our Fast DDS
profile. ``rclpy.init`` is wrapped so that a test that starts rclpy without the
localhost setting fails instead of multicasting on the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(ROOT / "config" / "fastdds_shm_large.xml")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# A ROS domain of this test session's own (1..101, ports clear of the ephemeral range), reserved against every
# other sim2art process on the machine (a lock held for the session): all synthetic bags and replays share
# stamps, so a concurrent demo, bag evaluation or test run on the same domain would otherwise feed its frames
# and /clock into our nodes (seen: a twin test receiving another session's drawer URDF; test_replay receiving a
# bag benchmark's /clock). Subprocesses inherit it.
if "ROS_DOMAIN_ID" not in os.environ:
    from sim2art_ros.network_safety import reserve_domain_id

    os.environ["ROS_DOMAIN_ID"] = str(reserve_domain_id())
os.environ.setdefault("MPLBACKEND", "Agg")


def _guard_rclpy_init() -> None:
    try:
        import rclpy
    except ImportError:  # core-only environments
        return
    if getattr(rclpy.init, "_sim2art_guarded", False):
        return
    from sim2art_ros.network_safety import require_localhost

    original = rclpy.init

    def guarded_init(*args, **kwargs):
        require_localhost()
        return original(*args, **kwargs)

    guarded_init._sim2art_guarded = True
    guarded_init._sim2art_original = original
    rclpy.init = guarded_init


_guard_rclpy_init()


@pytest.fixture
def ros_context():
    """A private rclpy context per test, shut down cleanly afterwards."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        if ctx.ok():
            rclpy.shutdown(context=ctx)


@pytest.fixture(scope="session")
def confirmed_gt_estimate():
    """``build(category, object_seed, sequence_seed, num_frames, num_points)`` -> (window, estimate): a data-engine
    sequence estimated with the true segmentation and refined joints (``gtseg-refine``), every joint confirmed as
    the node's fused ``/articulation`` presents it once enough windows agree (the planner-facing outputs carry
    confirmed joints only by default)."""
    from dataclasses import replace

    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.data.to_window import window_from_sample
    from sim2art_core.eval.methods import MethodOptions, build_method

    def build(category: str, object_seed: int, sequence_seed: int, num_frames: int, num_points: int):
        cfg = SequenceConfig(num_frames=num_frames, num_points=num_points)
        sample = generate_sequence(category, object_seed, sequence_seed, cfg)
        window = window_from_sample(sample)
        est = build_method("gtseg-refine", MethodOptions())(sample, window)
        return window, replace(est, joints=tuple(replace(j, support_windows=3, confirmed=True) for j in est.joints))

    return build


@pytest.fixture
def repo_root() -> Path:
    return ROOT
