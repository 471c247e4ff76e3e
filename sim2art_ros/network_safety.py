"""Keep every rclpy process started from this repository on loopback by default.

rclpy with default settings multicasts DDS discovery on every network interface.
Every entry point of this package calls :func:`apply_safe_defaults` before
``rclpy.init()``: it sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (kilted
ignores ``ROS_LOCALHOST_ONLY``) and points ``FASTDDS_DEFAULT_PROFILES_FILE`` at our
profile with a 32 MB shared-memory segment (large images are dropped without it),
unless the user has set them. On a real robot network, export
``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` (and your own profile if you have one)
before starting: explicit settings always win (README, "Robot network").
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_NAME = "fastdds_shm_large.xml"
RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"


def profile_path() -> Path:
    """Absolute path of the shipped Fast DDS profile (checkout, then the colcon share dir)."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "config" / PROFILE_NAME]
    try:  # a colcon install: share/sim2art_ros/config
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("sim2art_ros")) / "config" / PROFILE_NAME)
    except Exception:
        pass
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"Fast DDS profile {PROFILE_NAME} not found in {[str(c) for c in candidates]}")


def apply_safe_defaults() -> None:
    """Set the loopback-only discovery range and our Fast DDS profile unless already set."""
    os.environ.setdefault(RANGE_VAR, "LOCALHOST")
    if PROFILE_VAR not in os.environ:
        os.environ[PROFILE_VAR] = str(profile_path())


def require_localhost() -> None:
    """Raise RuntimeError unless discovery is limited to localhost (tests and CI)."""
    value = os.environ.get(RANGE_VAR)
    if value != "LOCALHOST":
        raise RuntimeError(
            f"{RANGE_VAR}={value!r}: refusing to start rclpy with network-wide discovery here; "
            f"set {RANGE_VAR}=LOCALHOST (scripts/ros_env.sh) or call apply_safe_defaults() first"
        )
    profile = os.environ.get(PROFILE_VAR)
    if not profile or not Path(profile).is_file():
        raise RuntimeError(f"{PROFILE_VAR}={profile!r} is not a readable Fast DDS profile")


# Domain ids whose ports never collide with Linux's ephemeral range (ROS 2 docs, "The ROS_DOMAIN_ID").
SAFE_DOMAIN_IDS = range(1, 102)
_held_domain_locks: dict[int, int] = {}  # domain id -> open lock file descriptor, kept for the process's life


def reserve_domain_id(rng=None) -> int:
    """A ROS domain id in 1..101 that no other sim2art process on this machine holds, held until this process
    exits. Synthetic bags all start at the same stamp, so two replays (tests, bag evaluations, the demo) on one
    domain feed each other's frames and /clock into their nodes unnoticed; a random id alone collides 1 time in
    101. Each process takes an exclusive ``flock`` on ``<tmp>/sim2art-ros-domain-<id>.lock`` (released by the
    kernel when the process ends, also on a crash) starting from a random id; children inherit the id through
    ``ROS_DOMAIN_ID``, not the lock, and live shorter than their parent. Without ``fcntl`` (not POSIX), or when
    all 101 are held, a random id (written by hand: no library reserves DDS domains)."""
    import random
    import tempfile

    rng = rng or random.SystemRandom()
    ids = list(SAFE_DOMAIN_IDS)
    start = rng.randrange(len(ids))
    try:
        import fcntl
    except ImportError:  # not POSIX
        return ids[start]
    for domain in ids[start:] + ids[:start]:
        if domain in _held_domain_locks:
            return domain
        path = Path(tempfile.gettempdir()) / f"sim2art-ros-domain-{domain}.lock"
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held_domain_locks[domain] = fd
        return domain
    return ids[start]
