"""sim2art_core.eval.conditions: re-generated conditions keep the ground truth; optical-flow windows."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.data.dataset import SequenceDataset, write_dataset
from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.eval.conditions import (
    CONDITIONS,
    ConditionConfig,
    ItemCache,
    condition_sequence_config,
    flow_errors_mm,
    load_item,
    make_item,
    same_joint_ground_truth,
    save_item,
    true_flow,
    window_pixels,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond_data")
    write_dataset(root, categories=("Storage2", "Laptop"), objects_per_category=3, sequences_per_object=1,
                  cfg=SequenceConfig(num_frames=5, num_points=256), progress=False)  # fmt: skip
    return SequenceDataset(root, "test")


def test_realism_condition_keeps_the_dataset_ground_truth_and_changes_the_observation(dataset):
    for sample in dataset:
        item = make_item(sample, "realism", dataset.config)
        assert item.window is not None and item.gt_matches_dataset
        assert same_joint_ground_truth(item.sample, sample)
        assert (item.sample.object_id, item.sample.sequence_seed) == (sample.object_id, sample.sequence_seed)
        assert "depth_noise_std" in item.sample.realism and sample.realism == "{}"
        assert not np.allclose(item.sample.points, sample.points)  # noisy depth, other pixels
        assert item.window.points.shape == sample.points.shape and item.valid.all()


def test_gt_flow_condition_is_the_dataset_sample(dataset):
    sample = dataset[0]
    item = make_item(sample, "gt-flow", dataset.config)
    assert item.sample is sample and item.valid.all()
    assert flow_errors_mm(item.sample)["moving"] < 0.5  # stored flow is float16: ~1e-4 relative


def test_optical_flow_window_shape_labels_and_ground_truth(dataset):
    """At the dataset's own resolution the camera path is the dataset's, so the GT must be identical."""
    sample = dataset[0]
    ccfg = ConditionConfig(width=dataset.config.width, height=dataset.config.height)
    item = make_item(sample, "optical-flow", dataset.config, ccfg)
    assert item.note == "" and item.window is not None and item.gt_matches_dataset
    T, N = sample.labels.shape
    assert item.window.points.shape == (T, N, 3) and item.window.flow.shape == (T, N, 3)
    assert item.sample.labels.shape == (T, N) and item.valid.shape == (T, N) and item.valid.mean() > 0.5
    assert same_joint_ground_truth(item.sample, sample)
    # the labels are read at each point's own pixel: re-render and compare colours and part masks there
    cfg = condition_sequence_config(dataset.config, "optical-flow", ccfg)
    _, frames = generate_sequence(sample.category, sample.object_seed, sample.sequence_seed, cfg, return_frames=True)
    uv = window_pixels(item.window, frames[0].intrinsics)
    for t in range(T):
        v = item.valid[t]
        np.testing.assert_array_equal(item.window.colors[t][v], frames[t].rgb[uv[t, v, 1], uv[t, v, 0]])
        truth = np.maximum(frames[t].part_mask[uv[t, v, 1], uv[t, v, 0]], 0)
        np.testing.assert_array_equal(item.sample.labels[t][v], truth)
    assert set(np.unique(item.sample.labels[item.valid])) <= set(range(sample.num_parts))
    # DIS at 160x120 is coarse but not wild: median error of moving points below 3 cm
    assert flow_errors_mm(item.sample, item.valid)["moving"] < 30.0


def test_true_flow_reproduces_the_generators_exact_flow():
    sample = generate_sequence("Storage3", 4, 2, SequenceConfig(num_frames=6, num_points=512))
    np.testing.assert_allclose(true_flow(sample), sample.flow, atol=2e-5)
    assert np.abs(sample.flow).max() > 1e-3  # something moves


def test_unknown_condition_and_items_without_a_window(dataset, monkeypatch):
    with pytest.raises(ValueError, match="unknown condition"):
        make_item(dataset[0], "fog", dataset.config)
    import sim2art_core.eval.conditions as conditions

    def lost(*args, **kwargs):
        raise RuntimeError("frame 3 has no object pixel with valid depth")

    monkeypatch.setattr(conditions, "generate_sequence", lost)
    item = make_item(dataset[0], "realism", dataset.config)
    assert item.window is None and "no object pixel" in item.note


def test_item_cache_round_trip_and_reuse(dataset, tmp_path):
    sample = dataset[1]
    ccfg = ConditionConfig(width=160, height=120)
    item = make_item(sample, "realism+optical-flow", dataset.config, ccfg)
    save_item(tmp_path / "x.npz", item)
    back = load_item(tmp_path / "x.npz")
    assert back.condition == item.condition and back.note == item.note
    np.testing.assert_array_equal(back.window.points, item.window.points)
    np.testing.assert_array_equal(back.valid, item.valid)
    np.testing.assert_array_equal(back.sample.labels, item.sample.labels)
    assert back.sample.part_names == item.sample.part_names and back.sample.image_size == item.sample.image_size
    cache = ItemCache(tmp_path / "cache", ccfg, "k")
    first = cache.get(sample, "realism", dataset.config)
    path = cache.path("realism", sample)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = cache.get(sample, "realism", dataset.config)
    assert path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.window.flow, first.window.flow)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_item(tmp_path / "bad.npz")
    assert len(CONDITIONS) == 4
