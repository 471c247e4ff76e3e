"""The completing-keyframe benchmark's pure parts: the frame stream, the piece timer, the markdown."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from sim2art_core.preprocess import KeyframeConfig, PreprocessConfig, WindowBuilder
from sim2art_core.preprocess import window_builder as wb
from sim2art_core.preprocess.flow import OpticalFlow
from sim2art_ros.tools.keyframe_bench import markdown, piece_timer, stream

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "preprocess"))
from synthetic_scene import Scene, make_frames


def test_stream_loops_back_and_forth_with_keyframe_stamps_and_no_masks():
    frames = make_frames(3, 64, 48, Scene(), max_amount=0.2, with_mask=True)[0]
    out = list(stream(frames, 7))
    assert [f.stamp_ns - out[0].stamp_ns for f in out] == [k * 200_000_000 for k in range(7)]
    order = [next(i for i, g in enumerate(frames) if g.rgb is f.rgb) for f in out]
    assert order == [0, 1, 2, 1, 0, 1, 2]
    assert all(f.mask is None and f.part_mask is None for f in out)  # the node's box selection, as realtime_bench


def test_piece_timer_times_each_step_and_restores_the_functions():
    originals = (OpticalFlow.__call__, wb.select_object, wb.sample_frame, wb.WindowBuilder.window)
    frames = make_frames(4, 160, 120, Scene(), max_amount=0.4, with_mask=True)[0]
    cfg = PreprocessConfig(num_frames=2, num_points=200, keyframes=KeyframeConfig(period_s=0.0))
    b = WindowBuilder(cfg, "world", rng=0)
    pieces: dict = {}
    with piece_timer(pieces):
        for f in frames[:3]:
            b.add(replace(f))
        assert b.window() is not None
    assert len(pieces["optical flow (each of 2)"]) == 4  # forward + backward per link, two links
    assert len(pieces["object selection"]) == len(pieces["sample + lift"]) == 3
    assert len(pieces["window assembly"]) == 1 and all(t >= 0 for v in pieces.values() for t in v)
    assert (OpticalFlow.__call__, wb.select_object, wb.sample_frame, wb.WindowBuilder.window) == originals


def test_markdown_lists_conditions_and_pieces():
    res = {
        "machine": {"cpu": "X", "cores": 2, "load_average": (1.0, 1.0, 1.0), "load_average_end": (2.0, 2.0, 2.0)},
        "keyframes": 40, "windows_identical_across_conditions": True,
        "conditions": {"child idle, cv2 threads 2": {"completing": {"median_ms": 45.0, "n": 24}}},
        "pieces_idle_default_ms": {"optical flow (each of 2)": 18.5},
    }  # fmt: skip
    text = markdown(res)
    assert "| child idle, cv2 threads 2 | 45.0 (24) | - |" in text
    assert "| optical flow (each of 2) | 18.5 |" in text and "identical across conditions: True" in text
