"""Data-engine guard: one hash over rendered samples of the paper's categories, clean and with realism.

    PYTHONPATH=/work/main python scripts/data_identity.py     # on the old code (e.g. a checkout of main)
    PYTHONPATH=$PWD python scripts/data_identity.py            # on the new code: the two lines must match

Samples: Storage3, Box and Scissors (object seed 5, sequence seed 9; T = 4, N = 300, 96x72), each with
RealismConfig() and RealismConfig.robustness(); every array of every sample is hashed. About 5 s. Used for
issue 12 (broader families, flow-error stream): main and the branch gave 71bd313d20e532da.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig


def main() -> None:
    h = hashlib.sha256()
    for real in (RealismConfig(), RealismConfig.robustness()):
        cfg = SequenceConfig(num_frames=4, num_points=300, width=96, height=72, realism=real)
        for c in ("Storage3", "Box", "Scissors"):
            s = generate_sequence(c, 5, 9, cfg)
            for _, v in sorted(s.to_arrays().items()):
                h.update(np.ascontiguousarray(v).tobytes())
    print(h.hexdigest()[:16])


if __name__ == "__main__":
    main()
