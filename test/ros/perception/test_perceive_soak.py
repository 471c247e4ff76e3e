"""Soak: 30 Hz 640x480 colour + depth (+ camera_info, TF) into the node for 2 minutes.

Memory must stay bounded and no queue may grow; the node must keep up (keyframes and
inferences keep coming) and stop cleanly. Frames are rendered once and re-published
with fresh stamps.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from sim2art_ros.conversions.image_codec import ns_to_stamp

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "preprocess"))
from perceive_harness import Driver, NodeProcess, private_domain
from synthetic_scene import Scene, make_frames

DURATION_S = 125.0
RATE_HZ = 30.0
FRAME_QUEUE, SYNC_QUEUE = 4, 10


@pytest.mark.slow
def test_thirty_hz_vga_for_two_minutes(tmp_path):
    frames, _ = make_frames(6, 640, 480, Scene(), max_amount=0.3)
    domain = private_domain() + 3
    params = {
        "estimator": "standin_estimators:FixedAnswerEstimator",
        "estimator_kwargs": '{"num_frames": 8, "num_points": 512}',
        "rate_hz": 1.0,
        "frame_queue_size": FRAME_QUEUE,
        "sync_queue_size": SYNC_QUEUE,
        "diagnostics_period_s": 1.0,
    }
    node = NodeProcess(domain, params, tmp_path / "node.log")
    driver = Driver(domain)
    try:
        driver.wait_for_node(node, 30.0)
        proc = psutil.Process(node.proc.pid)
        driver.publish_static_tf()
        # one message set per rendered frame, re-stamped on every publish (as a camera driver would)
        sets = [driver.frame_messages(f, 0) for f in frames]
        samples = []  # (t, rss MB, diagnostics)
        start = time.monotonic()
        next_t, k, last_sample = start, 0, start
        while (now := time.monotonic()) - start < DURATION_S:
            if now >= next_t:
                i = k % len(frames)
                stamp_ns = driver.now_ns()
                driver.publish_pose(frames[i].world_from_cam, stamp_ns)
                stamp = ns_to_stamp(stamp_ns)
                for m in sets[i].values():
                    m.header.stamp = stamp
                driver.publish_messages(sets[i])
                k += 1
                next_t = max(next_t + 1.0 / RATE_HZ, now - 1.0 / RATE_HZ)  # no burst after a stall
            if now - last_sample >= 5.0:
                last_sample = now
                samples.append((now - start, proc.memory_info().rss / 1e6, driver.diagnostics_values()))
                for key in ("/tf", "/diagnostics", "/sim2art_perceive/points", "/sim2art_perceive/markers"):
                    del driver.received[key][:-5]  # the driver's own memory stays small too
            driver.executor.spin_once(timeout_sec=max(0.0, min(next_t - time.monotonic(), 0.01)))
        published_rate = k / (time.monotonic() - start)
        final = driver.fresh_diagnostics()
        assert node.alive(), node.log()
    finally:
        driver.close()
        code = node.stop()
    assert code == 0, node.log()
    assert published_rate > 25.0, f"the test itself could not publish at 30 Hz ({published_rate:.1f} Hz)"

    # the node kept up: frames synchronised, keyframes (every 0.2 s) and inferences (1 Hz) kept coming
    assert float(final["synchronised rate (Hz)"]) > 10.0, final  # best effort: a starved CPU may drop some
    assert int(final["keyframes"]) > 0.5 * DURATION_S / 0.2, final
    assert int(final["inferences"]) > 0.6 * DURATION_S, final
    # no queue ever grew past its bound
    for t, _, d in samples:
        if d:
            assert int(d["frame queue"]) <= FRAME_QUEUE, (t, d)
            assert int(d["sync queue (messages)"]) <= 3 * SYNC_QUEUE, (t, d)
            assert int(d["pending inferences"]) <= 1, (t, d)
    # bounded memory: after warm-up (30 s) the resident size stays within a small band
    rss = np.array([(t, r) for t, r, _ in samples if t >= 30.0])
    first_half = rss[rss[:, 0] < 75.0, 1].max()
    second_half = rss[rss[:, 0] >= 75.0, 1].max()
    assert second_half - first_half < 25.0, f"RSS grew: {rss.tolist()}"
    print(
        f"\nsoak: published {published_rate:.1f} Hz, synced {final['synchronised rate (Hz)']} Hz, "
        f"keyframes {final['keyframes']}, inferences {final['inferences']}, sync misses {final['sync misses']}, "
        f"queue drops {final['frames dropped (queue full)']}, RSS {rss[0, 1]:.0f} -> {rss[-1, 1]:.0f} MB"
    )
