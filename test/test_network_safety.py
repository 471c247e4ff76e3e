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


class _StartAt:
    """An rng whose search for a free domain starts at ``domain``."""

    def __init__(self, domain: int):
        self.domain = domain

    def randrange(self, n: int) -> int:
        return list(network_safety.SAFE_DOMAIN_IDS).index(self.domain)


_HOLD_DOMAIN = """
import sys, time
from sim2art_ros import network_safety
class R:
    def randrange(self, n): return list(network_safety.SAFE_DOMAIN_IDS).index(int(sys.argv[1]))
print(network_safety.reserve_domain_id(R()), flush=True)
sys.stdin.readline()  # hold the domain until told to exit
"""


def test_a_domain_another_process_holds_is_not_reserved_again_and_is_freed_when_it_exits():
    free = [d for d in network_safety.SAFE_DOMAIN_IDS if d not in network_safety._held_domain_locks]
    want = free[len(free) // 2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLD_DOMAIN, str(want)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        held = int(other.stdout.readline())  # ``want``, or the next free one if some process holds ``want``
        assert held in network_safety.SAFE_DOMAIN_IDS and held not in network_safety._held_domain_locks
        mine = network_safety.reserve_domain_id(_StartAt(held))
        assert mine != held and 1 <= mine <= 101  # the next free one, not the other process's
    finally:
        other.communicate("\n", timeout=30)
    assert other.returncode == 0
    assert network_safety.reserve_domain_id(_StartAt(held)) == held  # released when that process ended
    assert network_safety.reserve_domain_id(_StartAt(held)) == held  # and this process keeps it
