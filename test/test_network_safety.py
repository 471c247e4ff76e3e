"""Network safety: rclpy never starts here with network-wide discovery."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sim2art_ros import network_safety


def test_conftest_applied_localhost_and_profile():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert os.path.isfile(os.environ["FASTDDS_DEFAULT_PROFILES_FILE"])
    network_safety.require_localhost()


def test_rclpy_init_fails_without_localhost(monkeypatch):
    import rclpy
    from rclpy.context import Context

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    ctx = Context()
    with pytest.raises(RuntimeError, match="LOCALHOST"):
        rclpy.init(context=ctx)
    assert not ctx.ok()
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE")
    with pytest.raises(RuntimeError, match="LOCALHOST"):
        rclpy.init(context=Context())


def test_rclpy_init_fails_without_the_profile(monkeypatch, tmp_path):
    import rclpy
    from rclpy.context import Context

    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(tmp_path / "missing.xml"))
    with pytest.raises(RuntimeError, match="profile"):
        rclpy.init(context=Context())


def test_apply_safe_defaults_fills_unset_values_and_keeps_explicit_ones():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")
    }
    code = (
        "import os; from sim2art_ros.network_safety import apply_safe_defaults; apply_safe_defaults(); "
        "print(os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'], os.environ['FASTDDS_DEFAULT_PROFILES_FILE'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    rng, profile = out.split()
    assert rng == "LOCALHOST" and profile.endswith("config/fastdds_shm_large.xml") and os.path.isfile(profile)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"  # a robot-network user's explicit choice wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "SUBNET"
