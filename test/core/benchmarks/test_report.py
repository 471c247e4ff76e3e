"""sim2art-benchmark: the report end to end in --quick mode (tiny dataset, tiny random checkpoints), the
cache of its stages, and one latency case in its own subprocess."""

from __future__ import annotations

import argparse
import json
import re

import pytest
import torch

from sim2art_core.benchmarks import report
from sim2art_core.benchmarks.cli import main as benchmark_main
from sim2art_core.benchmarks.latency import add_arguments, run_latency
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def ablation_runs(tmp_path_factory):
    """Two of the five ablation variants, as untrained tiny checkpoints (the table lists the others as missing)."""
    root = tmp_path_factory.mktemp("ablations")
    torch.manual_seed(0)
    for name, sets in (("full", {}), ("no-flow", {"use_flow": False, "use_motion_cues": False})):
        cfg = preset("tiny", num_frames=6, num_points=96, **sets)
        (root / name).mkdir()
        save_checkpoint(root / name / "final.pt", build_model(cfg), cfg)
    return root


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, ablation_runs):
    out = tmp_path_factory.mktemp("bench")
    rc = report.main(["--quick", "--out", str(out), "--ablation-dir", str(ablation_runs)])
    return out, rc


def sections(md: str) -> dict[str, str]:
    parts = re.split(r"^## ", md, flags=re.M)[1:]
    return {p.splitlines()[0]: p for p in parts}


def test_quick_report_writes_every_table_with_command_seed_checkpoint_and_machine(quick_report):
    out, rc = quick_report
    assert rc == 0
    md = (out / "BENCHMARKS.md").read_text()
    secs = sections(md)
    assert len(secs) == len(report.STAGES)
    sha = json.loads((out / "eval" / "stage.json").read_text())["key"]["ck"]
    for title, body in secs.items():
        if title.startswith("The ROS node"):
            assert "Skipped" in body and "--skip node" in body  # --quick leaves the node out, and says so
            continue
        assert "- Command: `python " in body, title
        machine = r"- Machine: .*\d+ cores, .* GB RAM, load average at start [\d.]+, [\d.]+, [\d.]+; torch "
        assert re.search(machine, body), title
        assert "**FAILED**" not in body and "Could not render" not in body, body[-2000:]
        assert "|---|" in body, title  # every section has its table
    for title in ("Optical-flow conditions", "Accuracy (Table 2)", "Fusion of network", "Ablations"):
        body = next(b for t, b in secs.items() if t.startswith(title))
        assert "dataset seed 2025" in body, title
    for title in ("Latency", "Accuracy (Table 2)", "Fusion of network"):
        assert f"sha256 `{sha}`" in next(b for t, b in secs.items() if t.startswith(title))
    acc = secs["Accuracy (Table 2), robustness and the side-by-side table of issue 8"]
    assert "| mIoU ↑ | gtseg-refine | 1.00 ± 0.00 |" in acc
    assert "#### Robustness" in acc and "| Metric | Method | gt-flow | realism | Δ realism |" in acc
    assert "#### Side by side (issue 8)" in acc and "(b) run-time optical flow: network + refinement" in acc
    assert "#joints excluded (visibility)" in acc
    abl = next(b for t, b in secs.items() if t.startswith("Ablations"))
    assert "| w/o flow | paper's 6 |" in abl and "Not evaluated" in abl and "no-time-encoding" in abl
    fusion = next(b for t, b in secs.items() if t.startswith("Fusion"))
    assert "sim2art[max_fit_residual_m=0.02,min_refined_confidence=0.3]" in fusion
    assert "| 160x120 | none |" in next(b for t, b in secs.items() if t.startswith("Data engine"))
    assert "| sim2art | cpu | 1 | 6×96 |" in next(b for t, b in secs.items() if t.startswith("Latency"))


def test_rerun_reuses_unchanged_stages_and_force_reruns_one(quick_report, ablation_runs, capsys):
    out, _ = quick_report
    before = {s: json.loads((out / s / "stage.json").read_text())["started"] for s in ("eval", "refine")}
    capsys.readouterr()
    rc = report.main(["--quick", "--out", str(out), "--ablation-dir", str(ablation_runs), "--force", "refine",
                      "--skip", "data-engine,latency,flow-resolution,fusion,ablation"])  # fmt: skip
    assert rc == 0
    log = capsys.readouterr().out
    assert "[eval] reused" in log and "[refine] running" in log and "[dataset] reused" in log
    assert json.loads((out / "eval" / "stage.json").read_text())["started"] == before["eval"]
    md = (out / "BENCHMARKS.md").read_text()
    assert "(reused from an earlier run)" in md and "Skipped" in sections(md)["Data engine: sequences per second"]


def test_report_argument_errors(tmp_path, capsys):
    assert report.main(["--quick", "--out", str(tmp_path), "--skip", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert report.main(["--out", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert benchmark_main(["frobnicate"]) == 2


def test_latency_case_runs_in_its_own_process():
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--methods", "featclust-oracle-k", "--points", "64", "--frames", "4", "--threads", "1",
                         "--repeats", "2", "--resolutions", "--model", "tiny:num_frames=4,num_points=64"])  # fmt: skip
    res = run_latency(args, progress=False)
    (r,) = res["results"]
    assert r["method"] == "featclust-oracle-k" and r["T"] == 4 and r["N"] == 64 and r["calls"] >= 3
    assert 0 < r["median_ms"] <= r["p90_ms"] and r["peak_rss_mb"] > 50 and r["failed"] == 0
    assert r["environment"]["torch_threads"] == 1 and r["environment"]["omp_threads"] == "1"
    assert len(res["checkpoint_sha256"]) == 64


def test_hand_run_sections_survive_a_regeneration():
    from sim2art_core.benchmarks.report import hand_run_sections

    old = "# Benchmarks\n\n## Latency\n\nold table\n\n## Flow methods (hand-run, issue 11.4)\n\n| a |\n\n## Node\n\nx\n"
    assert hand_run_sections(old) == "## Flow methods (hand-run, issue 11.4)\n\n| a |\n\n"
    assert hand_run_sections("# Benchmarks\n\n## Latency\n\nt\n") == ""
