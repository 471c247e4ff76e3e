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


def test_flow_mix_draws_the_stated_fractions_and_validation_keeps_true_flow():
    src = build_source("generate", "train", 4, 64, flow_error=0.3, optical_flow=0.1)
    rng = np.random.default_rng(0)
    kinds = [src._flow_kind(rng) for _ in range(4000)]
    assert abs(kinds.count("optical-flow") / 4000 - 0.1) < 0.02
    assert abs(kinds.count("noise-model") / 4000 - 0.3) < 0.03
    val = build_source("generate", "val", 4, 64, flow_error=0.3, optical_flow=0.1)
    assert val.flow_error == 0.0 and val.optical_flow == 0.0
    plain = build_source("generate", "train", 4, 64)
    state = rng.bit_generator.state
    assert plain._flow_kind(rng) == "true" and rng.bit_generator.state == state, "no draw without the mix"
    with pytest.raises(ValueError, match="fraction"):
        build_source("generate", "train", 4, 64, flow_error=1.5)


def test_optical_flow_sample_comes_from_the_run_time_path_with_no_placeholder_points():
    from sim2art_core.data.generator import SequenceConfig
    from sim2art_core.eval.conditions import true_flow
    from sim2art_core.train.sources import optical_flow_sample

    cfg = SequenceConfig(num_frames=3, num_points=256)
    s = optical_flow_sample("Storage1", 4, 2, cfg, width=320, height=240)
    assert s.points.shape == (3, 256, 3) and s.image_size == (320, 240)
    assert np.all(np.linalg.norm(s.points, axis=-1) > 0.05), "every point is a real, valid window point"
    err = np.linalg.norm(s.flow - true_flow(s), axis=-1)
    moving = np.isin(s.labels, np.flatnonzero(s.part_moving))
    assert moving.any() and np.median(err[moving]) < 0.01  # the optical-flow path, not noise
    assert np.any(err > 0), "not the exact flow"


def test_val_flow_noise_model_gives_fixed_windows_the_error_model_deterministically():
    from sim2art_core.eval.conditions import true_flow

    plain = build_source("generate", "val", 4, 128, categories=("Storage1",))
    noisy = build_source("generate", "val", 4, 128, categories=("Storage1",), val_flow="noise-model")
    a, b, b2 = plain.fixed(1)[0], noisy.fixed(1)[0], noisy.fixed(1)[0]
    assert a.object_seed == b.object_seed, "the same validation objects, only the flow differs"
    assert np.allclose(a.flow, true_flow(a), atol=1e-6), "'true' keeps the exact flow"
    err = np.linalg.norm(b.flow - true_flow(b), axis=-1)
    assert np.median(err) > 1e-4, "'noise-model' windows carry the run-time-like error"
    assert np.array_equal(b.flow, b2.flow), "and the same error every time (comparable validation rows)"
    assert "val_flow=noise-model" in noisy.description
    with pytest.raises(ValueError, match="val_flow"):
        build_source("analytic", "val", 3, 20, val_flow="noise-model")
    with pytest.raises(ValueError, match="val_flow"):
        build_source("generate", "val", 4, 64, val_flow="optical-flow")
