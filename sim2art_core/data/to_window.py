"""A synthetic sample as the estimator's run-time input (:class:`~sim2art_core.window.Window`).

Lives next to the data engine so the run-time contract (``sim2art_core.window``) does not import it;
evaluation, benchmarks and tests build windows from samples with :func:`window_from_sample`, so the
robot and the offline tools share one estimator code path.
"""

from __future__ import annotations

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.geometry import rotate_vectors, transform_points
from sim2art_core.window import Window


def window_from_sample(sample: SequenceSample, frame_period_s: float = 1.0 / 15.0) -> Window:
    """The window an ideal sensor would give for a synthetic sample (the sample's own flow).

    Points and flow go from cam0 into the sample's world frame, so the estimator sees exactly what it
    sees on a robot (a fixed frame plus camera poses); every point is valid; stamps are
    t x ``frame_period_s``; ``frame_id`` "world".
    """
    w_from_c0 = sample.world_from_cam[0]
    T = sample.num_frames
    return Window(
        points=transform_points(w_from_c0, sample.points).astype(np.float32),
        flow=rotate_vectors(w_from_c0, sample.flow).astype(np.float32),
        valid=np.ones(sample.labels.shape, dtype=bool),
        stamps_ns=(np.arange(T) * round(frame_period_s * 1e9)).astype(np.int64),
        world_from_cam=sample.world_from_cam.astype(np.float64),
        frame_id="world",
        colors=sample.colors,
    )
