"""The node benchmark script's pure parts (the runs themselves are the script's job)."""

from __future__ import annotations

import numpy as np

from sim2art_core.estimate import WindowEstimator
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window
from sim2art_ros.tools.perceive_benchmark import ZeroCostEstimator, markdown


def test_zero_cost_estimator_is_a_window_estimator():
    est: WindowEstimator = ZeroCostEstimator(num_frames=2, num_points=3)
    pts = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    w = Window(pts, np.zeros_like(pts), np.ones((2, 3), bool), np.array([1, 2]), np.tile(np.eye(4), (2, 1, 1)))
    e = est.estimate(w)
    assert e.status == EstimateStatus.NO_ARTICULATION and e.labels.shape == (2, 3)
    np.testing.assert_allclose(e.parts[0].centroid, pts[1].mean(0))


def test_markdown_reports_every_measurement():
    lat = {"median_ms": 70.0, "p90_ms": 90.0, "n": 5}
    result = {
        "command": "python -m sim2art_ros.tools.perceive_benchmark",
        "machine": {"cpu": "cpu", "cores": 2, "load_average": (1.0, 1.0, 1.0)},
        "preprocessing": {
            "image": "640x480", "num_points": 1024, "decode_ms": 1.0, "skipped_frame_ms": 0.01,
            "keyframe_mask_ms": 20.0, "keyframe_box_ms": 30.0, "per_input_frame_at_30hz_mask_ms": 3.5,
            "per_input_frame_at_30hz_box_ms": 5.2,
        },
        "idle": {"cpu_percent": 1.5, "rss_mb": 160.0},
        "latency": {"stand-in": {"latency_from_newest_window_frame": lat, "latency_from_completing_frame": lat,
                                 "node_cpu_percent_at_30hz": 30.0}},
        "max_rate": {"max_sustained_hz": 30.0, "steps": [{"published_hz": 30.0, "synchronised_hz": 29.5,
                                                         "synchronised_fraction": 0.98, "queue_drops": 0,
                                                         "node_cpu_percent": 30.0}]},
    }  # fmt: skip
    text = markdown(result)
    for needle in (
        "keyframe, box selection | 30.0",
        "CPU while idle",
        "median 70 ms",
        "maximum sustained input rate | 30",
    ):
        assert needle in text
