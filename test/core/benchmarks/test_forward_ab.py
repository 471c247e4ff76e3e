"""forward_ab: two source trees timed side by side, their outputs compared, the table rendered."""

from __future__ import annotations

import math
from pathlib import Path

from sim2art_core.benchmarks.forward_ab import extract, markdown, measure

ROOT = Path(__file__).resolve().parents[3]


def test_two_trees_alternate_and_agree(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    commit = extract("HEAD", base, ROOT)
    assert len(commit) == 40 and (base / "sim2art_core" / "model" / "network.py").is_file()
    trees = {"base": base, "here": ROOT}
    res = measure(trees, threads=1, rounds=2, T=4, N=64, scratch=tmp_path)
    assert res["threads"] == 1 and res["rounds"] == 2
    for name in trees:
        row = res["trees"][name]
        assert row["forward_wall_ms_per_frame"] >= row["forward_wall_ms_per_frame_min"] > 0
        assert row["estimate_cpu_ms_per_frame"] > 0 and row["peak_rss_mb"] >= row["rss_before_forward_mb"] > 0
    assert all(res[f"{k}_{c}_paired_ratio"] > 0 for k in ("forward", "estimate") for c in ("wall", "cpu"))
    diff = res["max_abs_difference"]
    assert {"part_logits", "keypoints", "revolute_axis"} <= set(diff) and all(math.isfinite(v) for v in diff.values())
    table = markdown({"names": ("base", "here"), "runs": [res]})
    assert "| 1 |" in table and "| base |" in table and "| here |" in table
    assert table.count("\n") == 2 + 2 + 1 + 2 + 1  # two tables, a blank line between
