"""Task-level check of the run-time-like flow error model: the shipped checkpoint, network only
(``sim2art-norefine``), on the same validation objects and sequences (object seeds 1e6 + 100 + i, one per paper
category, T = 16, N = 1024) with four kinds of flow: true (160x120 render), the noise model
(RealismConfig(flow_error=1), 160x120), the noise model with the masks' drops (flow_error=1, flow_drop=1) and the
node's real optical-flow path (640x480, DIS + depth,
sim2art_core.train.sources.optical_flow_sample). About 4 minutes on one free core (10 on a loaded one).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 nice -n 10 python scripts/flow_error_task_check.py
"""

from dataclasses import replace

import numpy as np
import torch

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig
from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.data.to_window import window_from_sample
from sim2art_core.eval.methods import MethodOptions, build_method
from sim2art_core.metrics.sample import evaluate_sample
from sim2art_core.train.sources import VAL_SEED_OFFSET, optical_flow_sample

torch.set_num_threads(1)
run = build_method("sim2art-norefine", MethodOptions(device="cpu"))
cfg = SequenceConfig(num_frames=16, num_points=1024, width=160, height=120)
res = {"true": [], "noise-model": [], "noise-model+drops": [], "optical-flow": []}
ax = {k: [] for k in res}
for i, c in enumerate(CATEGORIES):
    o, q = VAL_SEED_OFFSET + 100 + i, 50 + i
    try:
        s = {
            "true": generate_sequence(c, o, q, cfg),
            "noise-model": generate_sequence(c, o, q, replace(cfg, realism=RealismConfig(flow_error=1.0))),
            "noise-model+drops": generate_sequence(
                c, o, q, replace(cfg, realism=RealismConfig(flow_error=1.0, flow_drop=1.0))
            ),
            "optical-flow": optical_flow_sample(c, o, q, cfg),
        }
    except RuntimeError as e:
        print("skip", c, e)
        continue
    for k, smp in s.items():
        m = evaluate_sample(smp, run(smp, window_from_sample(smp)))
        res[k].append(m.miou)
        ax[k] += [j.axis_angle_deg for j in m.joints]
    print(c, {k: round(v[-1], 3) for k, v in res.items()}, flush=True)
for k in res:
    print(
        f"{k}: samples {len(res[k])} mIoU {np.mean(res[k]):.3f}  axis mean {np.mean(ax[k]):.1f} deg "
        f"median {np.median(ax[k]):.1f} (joints {len(ax[k])})"
    )
