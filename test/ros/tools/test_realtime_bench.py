"""The real-time budget benchmark's pure parts: mode strings, ratios, the markdown it prints."""

from __future__ import annotations

import math

import pytest

from sim2art_ros.tools.realtime_bench import markdown, mode_params, node_threads, ratios


def run(latency_ms: float, breakdown: dict) -> dict:
    lat = {"median_ms": latency_ms, "p90_ms": latency_ms + 50, "n": 12}
    return {
        "latency_from_completing_frame": lat, "node_cpu_percent_at_30hz": 80.0,
        "rss_mb": {"node": 270.0, "children": 380.0}, "estimates": 12, "windows_skipped": 9,
        "inference_time_s": "0.31", "preprocess_per_keyframe_ms": "41", "breakdown_ms": breakdown,
        "frames_dropped_queue": 3, "keyframes_held": 5,
    }  # fmt: skip


def test_mode_strings_carry_threads_and_parameters():
    assert node_threads("process:2") == 2 and mode_params("process:2") == {}
    assert mode_params("process:1,busy_policy=wait,preprocess_niceness=0") == {
        "busy_policy": "wait",
        "preprocess_niceness": 0,
    }
    with pytest.raises(ValueError, match="name=value"):
        mode_params("process:1,busy_policy")


def test_ratios_use_the_same_round_and_thread_count_and_the_best_alone():
    own = [
        {"torch_threads": 1, "median_ms": 300.0, "round": 0},
        {"torch_threads": 2, "median_ms": 250.0, "round": 0},
        {"torch_threads": 1, "median_ms": 900.0, "round": 1},
        {"torch_threads": 2, "median_ms": 100.0, "round": 1},
    ]
    r = ratios(own, 0, "process:1,busy_policy=skip", run(420.0, {}))
    assert r["own_same_threads_ms"] == 300.0 and r["own_best_ms"] == 250.0
    assert math.isclose(r["ratio_same_threads"], 1.4) and math.isclose(r["ratio_best"], 420.0 / 250.0)
    assert math.isclose(ratios(own, 1, "thread:2", run(200.0, {}))["ratio_same_threads"], 2.0)


def test_markdown_prints_ratios_breakdown_cpu_and_memory():
    own = [{"torch_threads": 1, "median_ms": 300.0, "round": 0}, {"torch_threads": 2, "median_ms": 250.0, "round": 0}]
    x = run(420.0, {"keyframe": 41.0, "estimate": 330.5, "node total": 400.0})
    x.update(ratios(own, 0, "process:1", x))
    result = {
        "command": "python -m sim2art_ros.tools.realtime_bench",
        "machine": {"cpu": "cpu", "cores": 2, "load_average": (1.0, 1.0, 1.0), "load_average_end": (1.1, 1.0, 1.0)},
        "side_by_side": {
            "idle": {"process:1": {"cpu_percent": 1.6, "rss": {"node": 180.0, "children": 280.0}}},
            "own": own,
            "process:1": [x],
            "thread:1": [{"estimates": 0, "error": "no /articulation received; node log:"}],
        },
    }
    text = markdown(result)
    for needle in (
        "| keyframe | 41.0 |",
        "| estimate | 330.5 |",
        "| worker wait | - |",
        "| process:1, 30 Hz VGA | 80 | 270 + 380 | 12 | 9 | 0.31 | 41 | 3 | 5 |",
        "| process:1, idle | 1.6 | 180 + 280 |",
        "| 1 | 300 / 250 | 420 (470); **1.40x**, 1.68x | no estimate (no /articulation received; node log:) |",
        "| thread:1, 30 Hz VGA | - | - | 0 |",
    ):
        assert needle in text, needle


def test_markdown_prints_the_urdf_export_per_round_when_measured():
    own = [{"torch_threads": 1, "median_ms": 300.0, "round": 0, "export_ms": 310.4}]
    x = run(420.0, {"estimate": 330.5})
    x.update(ratios(own, 0, "process:1", x))
    result = {
        "command": "python -m sim2art_ros.tools.realtime_bench",
        "machine": {"cpu": "cpu", "cores": 2, "load_average": (1.0, 1.0, 1.0), "load_average_end": (1.1, 1.0, 1.0)},
        "side_by_side": {"idle": {}, "own": own, "process:1": [x]},
    }
    assert "`publish_robot_description` work per estimate), median ms per round: 310." in markdown(result)
    del own[0]["export_ms"]
    assert "URDF export" not in markdown(result)
