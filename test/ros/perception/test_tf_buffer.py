"""The built-in TF buffer: chains, interpolation, tf2's no-extrapolation rules, waiting."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped

from sim2art_core.geometry import make_transform, rotation_about_axis, rotation_angle
from sim2art_ros.perception.tf_buffer import TfBuffer, TransformUnavailable

Z = np.array([0.0, 0.0, 1.0])
S = 1_000_000_000


def _buffer() -> TfBuffer:
    b = TfBuffer(cache_time_s=10.0)
    # odom -> base (dynamic: moves along x, turns about z), base -> cam (static)
    b.set_transform("odom", "base", 1 * S, make_transform(None, [0.0, 0, 0]), static=False)
    b.set_transform("odom", "base", 3 * S, make_transform(rotation_about_axis(Z, 0.4), [2.0, 0, 0]), static=False)
    b.set_transform("base", "cam", 0, make_transform(None, [0.0, 0.0, 1.0]), static=True)
    return b


def test_chain_and_interpolation():
    b = _buffer()
    T = b.lookup("odom", "cam", 2 * S)
    np.testing.assert_allclose(T[:3, 3], [1.0, 0.0, 1.0])
    assert rotation_angle(T[:3, :3]) == pytest.approx(0.2)  # SLERP half-way
    np.testing.assert_allclose(b.lookup("cam", "odom", 2 * S), np.linalg.inv(T), atol=1e-12)
    np.testing.assert_allclose(b.lookup("odom", "cam", 3 * S)[:3, 3], [2.0, 0.0, 1.0])
    np.testing.assert_allclose(b.lookup("odom", "cam", 0)[:3, 3], [2.0, 0.0, 1.0])  # 0 = latest
    np.testing.assert_allclose(b.lookup("cam", "cam", 5 * S), np.eye(4))


def test_no_extrapolation_and_clear_errors():
    b = _buffer()
    with pytest.raises(TransformUnavailable) as e:
        b.lookup("odom", "cam", 4 * S)
    assert e.value.kind == "future" and e.value.may_arrive and "no extrapolation" in str(e.value)
    with pytest.raises(TransformUnavailable) as e:
        b.lookup("odom", "cam", S // 2)
    assert e.value.kind == "past" and not e.value.may_arrive
    with pytest.raises(TransformUnavailable) as e:
        b.lookup("odom", "nowhere", 2 * S)
    assert e.value.kind == "unknown_frame"
    b.set_transform("map", "other", 0, np.eye(4), static=True)
    with pytest.raises(TransformUnavailable) as e:
        b.lookup("odom", "other", 2 * S)
    assert e.value.kind == "unconnected"


def test_cache_time_prunes_old_transforms():
    b = TfBuffer(cache_time_s=1.0)
    for k in range(5):
        b.set_transform("odom", "base", k * S, make_transform(None, [k, 0, 0]), static=False)
    with pytest.raises(TransformUnavailable, match="older than the cache"):
        b.lookup("odom", "base", 2 * S)
    np.testing.assert_allclose(b.lookup("odom", "base", int(3.5 * S))[:3, 3], [3.5, 0, 0])


def test_wait_for_returns_when_the_transform_arrives():
    b = _buffer()

    def later():
        time.sleep(0.1)
        b.set_transform("odom", "base", 5 * S, make_transform(None, [4.0, 0, 0]), static=False)

    threading.Thread(target=later).start()
    T = b.wait_for("odom", "cam", 4 * S, timeout_s=2.0)
    np.testing.assert_allclose(T[:3, 3], [3.0, 0.0, 1.0])
    t0 = time.monotonic()
    with pytest.raises(TransformUnavailable):
        b.wait_for("odom", "cam", 9 * S, timeout_s=0.2)
    assert 0.15 < time.monotonic() - t0 < 1.0


def test_ingest_skips_malformed_transforms():
    good = TransformStamped()
    good.header.frame_id, good.child_frame_id = "odom", "base"
    good.header.stamp.sec = 1
    good.transform.rotation.w = 1.0
    nan = TransformStamped()
    nan.header.frame_id, nan.child_frame_id = "odom", "x"
    nan.transform.rotation.w = float("nan")
    empty = TransformStamped()
    empty.transform.rotation.w = 1.0
    b = TfBuffer()
    assert b.ingest([good, nan, empty], static=False) == 1
    np.testing.assert_allclose(b.lookup("odom", "base", S), np.eye(4))


def test_clear_keeps_static_transforms_and_a_time_range():
    b = _buffer()
    b.set_transform("odom", "base", 2 * S, make_transform(None, [5.0, 0, 0]), static=False)
    b.clear(keep_between_ns=(2 * S, 3 * S))  # a time jump to 2 s: what lies near it stays
    np.testing.assert_allclose(b.lookup("odom", "cam", 2 * S)[:3, 3], [5.0, 0.0, 1.0])
    with pytest.raises(TransformUnavailable) as e:
        b.lookup("odom", "cam", 1 * S)
    assert e.value.kind == "past"
    b.clear()  # ~/reset: no dynamic history left, the static camera mount stays (/tf_static is latched)
    with pytest.raises(TransformUnavailable):
        b.lookup("odom", "cam", 2 * S)
    np.testing.assert_allclose(b.lookup("base", "cam", 7 * S)[:3, 3], [0.0, 0.0, 1.0])


def test_a_transform_older_than_the_cache_starts_a_new_history():
    """Time went back (bag replayed, sim time restarted): the new time line must not be cut at once."""
    b = _buffer()
    b.set_transform("odom", "base", 3600 * S, make_transform(None, [9.0, 0, 0]), static=False)  # future burst
    b.set_transform("odom", "base", 4 * S, make_transform(None, [1.0, 0, 0]), static=False)  # back to now
    np.testing.assert_allclose(b.lookup("odom", "base", 4 * S)[:3, 3], [1.0, 0.0, 0.0])
    assert b.time_jumps == 1
    b.set_transform("odom", "base", 5 * S, make_transform(None, [2.0, 0, 0]), static=False)
    np.testing.assert_allclose(b.lookup("odom", "base", 4.5 * S)[:3, 3], [1.5, 0.0, 0.0])
    assert b.time_jumps == 1
