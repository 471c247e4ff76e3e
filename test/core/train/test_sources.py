"""Training sample sources: analytic boxes, the replay pool, split separation."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.train.sources import AnalyticSource, ReplayPool, build_source


def test_replay_pool_reuses_members_and_refreshes_at_the_given_rate():
    src = AnalyticSource(num_frames=3, num_points=20)
    rng = np.random.default_rng(0)
    pool = ReplayPool(src, size=3, reuse=1e9)
    first = [pool.sample(rng) for _ in range(3)]
    later = [pool.sample(rng) for _ in range(20)]
    assert all(any(s is f for f in first) for s in later)  # only pool members once full
    fresh = ReplayPool(src, size=3, reuse=1.0)
    for _ in range(3):
        fresh.sample(rng)
    ids = {fresh.sample(rng).object_id for _ in range(10)}
    assert len(ids) > 5  # a new sequence at (almost) every draw
    with pytest.raises(ValueError):
        ReplayPool(src, size=0)


def test_train_and_val_object_seeds_are_disjoint():
    rng = np.random.default_rng(0)
    train = {AnalyticSource(3, 20).sample(rng).object_seed for _ in range(20)}
    val = {s.object_seed for s in build_source("analytic", "val", 3, 20).fixed(5)}
    assert max(train) < 1_000_000 <= min(val)
