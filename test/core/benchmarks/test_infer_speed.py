"""infer_speed: before / after timed side by side, equality recorded, the table rendered."""

from __future__ import annotations

import torch

from sim2art_core.benchmarks.infer_speed import OUTPUTS, infer_speed_markdown, measure, measure_memory
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.train.analytic import analytic_sample


def test_measure_times_both_variants_and_checks_equality(tmp_path):
    cfg = preset("tiny", num_frames=4, num_points=64, num_keypoints=8)
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg), cfg)
    windows = [window_from_sample(analytic_sample(k, i, 4, 64)) for i, k in enumerate(["revolute", "prismatic"])]
    res = measure(windows, str(ck), threads=1, repeats=2)
    for key in ("forward_before", "forward_after", "estimate_before", "estimate_after", "featclust"):
        assert res[key]["calls"] == 4 and res[key]["median_ms"] > 0
        assert res[key]["ms_per_frame"] == res[key]["median_ms"] / 4
    assert res["forward_speedup_paired"] > 0 and res["estimate_speedup_median_ratio"] > 0
    assert set(res["max_abs_difference"]) == set(OUTPUTS)
    assert res["max_abs_difference"]["part_logits"] <= 1e-5
    assert res["estimate_same_label_fraction_min"] == 1.0 and res["estimate_same_joint_types"]
    mem = [measure_memory(windows, str(ck), v, threads=1, calls=1) for v in ("before", "after")]
    assert all(m["peak_rss_mb"] >= m["rss_before_forward_mb"] > 0 for m in mem)
    table = infer_speed_markdown({"speed": [res], "memory": mem})
    assert "| 1 | 4×64 |" in table and "| before | 1 |" in table and "| after | 1 |" in table
    assert table.count("\n") == 3 + 1 + 3 + 1 + 4  # three tables, blank lines between
