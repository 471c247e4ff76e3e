"""sim2art_core.data.to_window.window_from_sample: a synthetic sample as the estimator's input."""

from __future__ import annotations

import numpy as np

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.geometry import invert_transform, transform_points


def test_window_from_sample_expresses_points_and_flow_in_the_world_frame():
    class Sample:  # the fields window_from_sample reads
        pass

    rng = np.random.default_rng(1)
    s = Sample()
    s.points = rng.normal(size=(2, 4, 3)).astype(np.float32)
    s.flow = np.tile(np.array([0.0, 0.0, 0.1], np.float32), (2, 4, 1))  # along cam0's optical axis
    s.labels = np.zeros((2, 4), np.int16)
    s.colors = np.zeros((2, 4, 3), np.uint8)
    s.num_frames = 2
    cam = np.eye(4)
    cam[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # optical frame looking along world +x
    cam[:3, 3] = [1.0, 2.0, 3.0]
    s.world_from_cam = np.stack([cam, cam])
    w = window_from_sample(s, frame_period_s=0.1).validate()
    np.testing.assert_allclose(transform_points(invert_transform(cam), w.points), s.points, atol=1e-6)
    np.testing.assert_allclose(w.flow[0, 0], [0.1, 0.0, 0.0], atol=1e-7)  # camera z = world x
    np.testing.assert_array_equal(w.stamps_ns, [0, 100_000_000])
