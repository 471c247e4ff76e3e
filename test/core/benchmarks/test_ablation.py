"""Ablations: the variant list (shared with scripts/train_ablations.sh) and the Table 4 layout, hand-computed."""

from __future__ import annotations

import subprocess

from sim2art_core.benchmarks.ablation import VARIANTS, ablation_markdown, main
from sim2art_core.train.cli import model_config_from_args


def write_table(folder, values: dict[str, float]) -> None:
    """A sim2art-eval table.csv with one metric (mIoU) per category for sim2art-norefine."""
    folder.mkdir(parents=True)
    rows = ["metric,method,column,mean,std,count"]
    rows += [f"miou,sim2art-norefine,{c},{v},0,1" for c, v in values.items()]
    rows += ["miou,sim2art-norefine,Mean,99,0,1", "miou,sim2art-norefine,All,99,0,1"]
    (folder / "table.csv").write_text("\n".join(rows) + "\n")


def test_every_variant_is_a_valid_model_config_and_the_switches_differ():
    cfgs = {v.name: model_config_from_args("cpu", list(v.sets)) for v in VARIANTS}
    assert cfgs["full"].use_flow and cfgs["full"].use_motion_cues
    assert not cfgs["paper-heads"].use_motion_cues and cfgs["paper-heads"].use_flow
    assert not cfgs["no-flow"].use_flow and not cfgs["no-flow"].use_motion_cues
    assert not cfgs["no-time-encoding"].use_time_encoding and not cfgs["no-frame-fraction"].use_frame_fraction
    assert len({str(c) for c in cfgs.values()}) == len(VARIANTS)


def test_table_means_over_the_papers_six_categories_and_over_all(tmp_path):
    write_table(tmp_path / "full", {"Box": 0.8, "Laptop": 0.6, "Fan": 0.1})
    write_table(tmp_path / "no-flow", {"Box": 0.4, "Laptop": 0.2, "Fan": 0.0})
    md = ablation_markdown({v.name: tmp_path / v.name for v in VARIANTS})
    assert "| Complete method (motion-cue heads) | paper's 6 | 0.70 |" in md  # Box, Laptop (not Fan)
    assert "| Complete method (motion-cue heads) | all | 0.50 |" in md
    assert "| w/o flow | paper's 6 | 0.30 |" in md and "| w/o flow | all | 0.20 |" in md
    assert "Not evaluated" in md and "paper-heads" in md and "no-frame-fraction" in md


def test_train_ablations_script_lists_variants_and_rejects_bad_budgets(repo_root, capsys):
    assert main(["--print-variants"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == [v.name for v in VARIANTS]
    assert "no-flow --set use_flow=false --set use_motion_cues=false" in lines
    r = subprocess.run(["bash", str(repo_root / "scripts" / "train_ablations.sh"), "--steps", "0"],
                       capture_output=True, text=True, cwd=repo_root)  # fmt: skip
    assert r.returncode == 2 and "--steps must be a positive integer" in r.stderr


def test_ablation_table_only_needs_no_dataset(tmp_path):
    write_table(tmp_path / "eval" / "full", {"Box": 0.5})
    argv = ["--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "eval"), "--table-only"]
    assert main(argv) == 0
    md = (tmp_path / "eval" / "ablation.md").read_text()
    assert "| Complete method (motion-cue heads) | paper's 6 | 0.50 |" in md
