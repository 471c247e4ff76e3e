"""Fixtures shared by the segmentation tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from oracle_nets import oracle_estimator


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    """An Estimator around the tiny network with every moving part merged into one slot (MovingIsSlotOneNet):
    whatever the stage under test separates, the network did not."""
    return oracle_estimator(tmp_path_factory)
