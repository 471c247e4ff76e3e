"""sim2art_core.window.Window: validation rules; the run-time contract does not import the data engine."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

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


def test_window_module_does_not_import_the_data_engine():
    code = "import sys, sim2art_core.window; print(any(m.startswith('sim2art_core.data') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
