"""Share of points the node's flow masks drop, against the data engine's drop option (RealismConfig.flow_drop).

For a few validation-seed sequences (T = 4, N = 1024): the node's real optical-flow path at 640x480 (DIS +
depth, the window's ``valid`` flags) and the drop model (``flow_drop = 1``) applied to the same sequence rendered
at 640x480 and at the training resolution 160x120. About a minute on a free core.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 nice -n 10 python scripts/flow_drop_share.py
"""

import dataclasses

import numpy as np

from sim2art_core.data.generator import RealismConfig, SequenceConfig, generate_sequence
from sim2art_core.eval.conditions import ConditionConfig
from sim2art_core.preprocess import build_window

CASES = (("Storage1", 3, 4), ("Box", 1, 2), ("Table1", 2, 5), ("Fan", 4, 1))
for cat, obj, seq in CASES:
    cfg = SequenceConfig(num_frames=4, num_points=1024, width=640, height=480)
    _, frames = generate_sequence(cat, obj, seq, cfg, return_frames=True)
    pre = dataclasses.replace(ConditionConfig(width=640, height=480).preprocess, num_points=1024)
    window = build_window(frames, pre, rng=seq, frame_id="world")
    shares = []
    for w, h in ((640, 480), (160, 120)):
        c = dataclasses.replace(cfg, width=w, height=h)
        clean = generate_sequence(cat, obj, seq, c)
        dropped = generate_sequence(cat, obj, seq, dataclasses.replace(c, realism=RealismConfig(flow_drop=1.0)))
        shares.append(1.0 - np.all(clean.points == dropped.points, axis=-1).mean())
    print(f"{cat}: real path drops {1 - window.valid.mean():.2f}; model {shares[0]:.2f} at 640x480, "
          f"{shares[1]:.2f} at 160x120", flush=True)  # fmt: skip
