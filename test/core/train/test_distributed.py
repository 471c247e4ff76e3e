"""Two-process DistributedDataParallel training (torchrun, gloo on CPU) against one process of the same global
batch: the loss curve matches, the run resumes, rank 0 alone writes a checkpoint the Estimator loads."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimator import Estimator
from sim2art_core.model.checkpoint import read_checkpoint
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.train.loop import DistInfo
from sim2art_core.train.plot import read_log

ARGS = ["--data", "analytic", "--preset", "tiny", "--set", "num_frames=4", "--set", "num_points=48",
        "--val-samples", "4", "--log-every", "5", "--val-every", "20", "--ckpt-every", "20", "--quiet",
        "--threads", "1", "--lr", "3e-3", "--warmup", "5"]  # fmt: skip
#: Stated tolerance: every logged training loss (mean of 5 steps of 4 windows) of the 2 x 2 run within 15 % of
#: the 1 x 4 run's, and the final validation loss within 10 %. The two runs see different random windows
#: (each rank has its own stream), so they agree in distribution, not sample by sample; measured on this
#: machine the largest row difference was 9 % and the final validation losses 3.44 vs 3.43.
ROW_TOL, VAL_TOL = 0.15, 0.10


def _run(args: list[str], nproc: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    if nproc == 1:
        cmd = [sys.executable, "-m", "sim2art_core.train.cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "sim2art_core.train.cli", *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_dist_info_from_torchrun_environment():
    assert DistInfo.from_env({}) == DistInfo(0, 1, 0)
    assert DistInfo.from_env({"WORLD_SIZE": "1", "RANK": "0"}).world == 1
    info = DistInfo.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (info.rank, info.world, info.local_rank, info.main) == (3, 4, 1, False)


@pytest.mark.timeout(600)
def test_two_gloo_processes_match_one_process_resume_and_load(tmp_path):
    single, two = tmp_path / "single", tmp_path / "two"
    _run([*ARGS, "--steps", "40", "--batch-size", "4", "--out", str(single)], 1)
    # the 2-process run is interrupted at step 20 and resumed to 40
    _run([*ARGS, "--steps", "20", "--batch-size", "2", "--out", str(two)], 2)
    ckpt = read_checkpoint(two / "last.pt")
    assert ckpt["train"]["world_size"] == 2 and len(ckpt["train"]["rank_rng"]) == 2
    assert ckpt["train"]["rank_rng"][0]["numpy"] != ckpt["train"]["rank_rng"][1]["numpy"], "one stream per rank"
    _run([*ARGS, "--steps", "40", "--batch-size", "2", "--out", str(two), "--resume", "auto"], 2)

    a, b = read_log(single / "log.csv"), read_log(two / "log.csv")
    assert [r["step"] for r in b["train"]] == [r["step"] for r in a["train"]] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert [r["samples"] for r in b["train"]] == [r["samples"] for r in a["train"]], "global batch 2 x 2 = 4"
    la, lb = np.array([r["loss"] for r in a["train"]]), np.array([r["loss"] for r in b["train"]])
    assert np.all(np.abs(lb - la) <= ROW_TOL * la), (la, lb)
    assert lb[-1] < 0.7 * lb[0], "the distributed run trains"
    va, vb = a["val"][-1]["loss"], b["val"][-1]["loss"]
    assert abs(vb - va) <= VAL_TOL * va, (va, vb)
    # one writer: a single header, no duplicated rows
    assert (two / "log.csv").read_text().count("kind,step") == 1

    est = Estimator(two / "final.pt", "cpu")
    result = est.estimate(window_from_sample(analytic_sample("prismatic", 0, 4, 48)))
    assert result.labels.shape == (4, 48)
