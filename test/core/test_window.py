"""sim2art_core.window.Window: validation rules and the synthetic-sample path."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim2art_core.geometry import invert_transform, transform_points
from sim2art_core.window import Window


def make_window(T: int = 3, N: int = 5) -> Window:
    rng = np.random.default_rng(0)
    return Window(
        points=rng.normal(size=(T, N, 3)).astype(np.float32),
        flow=np.zeros((T, N, 3), np.float32),
        valid=np.ones((T, N), bool),
        stamps_ns=np.arange(T, dtype=np.int64) * 100,
        world_from_cam=np.tile(np.eye(4), (T, 1, 1)),
    )


def test_a_well_formed_window_validates():
    w = make_window()
    assert w.validate() is w and (w.num_frames, w.num_points) == (3, 5)


def test_nan_is_allowed_only_on_invalid_points():
    w = make_window()
    points = w.points.copy()
    points[1, 2, 0] = np.nan
    valid = w.valid.copy()
    with pytest.raises(ValueError, match="NaN"):
        replace(w, points=points).validate()
    valid[1, 2] = False
    replace(w, points=points, valid=valid).validate()  # the invalid point may hold anything
    flow = w.flow.copy()
    flow[0, 0, 2] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        replace(w, flow=flow).validate()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w: {"points": w.points[:1]}, "at least 2 frames"),
        (lambda w: {"flow": w.flow[:, :4]}, "Window.flow"),
        (lambda w: {"stamps_ns": np.array([0, 200, 100])}, "strictly increasing"),
        (lambda w: {"stamps_ns": np.array([0, 0, 100])}, "strictly increasing"),
        (lambda w: {"valid": np.array([[True] * 5, [False] * 5, [True] * 5])}, "no valid point"),
        (lambda w: {"colors": np.zeros((3, 5, 4), np.uint8)}, "Window.colors"),
        (lambda w: {"world_from_cam": np.full((3, 4, 4), np.nan)}, "world_from_cam"),
    ],
)
def test_validation_names_the_problem(change, message):
    w = make_window()
    with pytest.raises(ValueError, match=message):
        replace(w, **change(w)).validate()


def test_from_sample_expresses_points_and_flow_in_the_world_frame():
    class Sample:  # the fields Window.from_sample reads
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
    w = Window.from_sample(s, frame_period_s=0.1).validate()
    np.testing.assert_allclose(transform_points(invert_transform(cam), w.points), s.points, atol=1e-6)
    np.testing.assert_allclose(w.flow[0, 0], [0.1, 0.0, 0.0], atol=1e-7)  # camera z = world x
    np.testing.assert_array_equal(w.stamps_ns, [0, 100_000_000])
