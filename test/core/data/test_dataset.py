"""Records, shards, dataset writer and reader: compactness, determinism, splits, corruption errors."""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch.utils.data

from sim2art_core.data.dataset import DatasetCorruptError, SequenceDataset, read_index, write_dataset
from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.jobs import plan_splits
from sim2art_core.data.records import RecordError, decode_sample, encode_sample

CFG = SequenceConfig(num_frames=3, num_points=96, width=64, height=48)
CATS = ("Laptop", "Storage2", "Scissors")


def _digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds") / "synth"
    write_dataset(root, categories=CATS, objects_per_category=7, sequences_per_object=2, cfg=CFG, seed=3,
                  shard_size=8, progress=False)  # fmt: skip
    return root


def test_record_round_trip_is_compact_and_precise():
    cfg = SequenceConfig(num_frames=16, num_points=2048, width=160, height=120)
    s = generate_sequence("Storage3", 4, 9, cfg)
    rec = encode_sample(s)
    assert rec == encode_sample(s)  # deterministic bytes
    assert len(rec) < 0.3 * 2**20, len(rec)  # well under the ~0.5 MiB of raw float32 points + flow
    back = decode_sample(rec)
    assert np.abs(back.points - s.points).max() < 1e-4  # 0.1 mm
    assert np.abs(back.flow - s.flow).max() < 1e-3 * max(1.0, float(np.abs(s.flow).max()))
    np.testing.assert_array_equal(back.flow[s.flow == 0], 0)
    for k in ("labels", "pixels", "colors", "part_axes", "part_amounts", "world_from_cam", "joint_states"):
        np.testing.assert_array_equal(getattr(back, k), getattr(s, k), err_msg=k)
    assert (back.object_id, back.part_names, back.image_size) == (s.object_id, s.part_names, s.image_size)


def test_points_not_lifted_from_pixels_are_stored_exactly():
    s = generate_sequence("Box", 1, 1, CFG)
    moved = replace(s, points=(s.points + 0.01).astype(np.float32))
    back = decode_sample(encode_sample(moved))
    np.testing.assert_array_equal(back.points, moved.points)


def test_bad_records_raise_record_errors():
    rec = bytearray(encode_sample(generate_sequence("Box", 1, 1, CFG)))
    with pytest.raises(RecordError):
        decode_sample(bytes(rec[: len(rec) // 2]))
    rec[len(rec) // 2] ^= 0xFF
    with pytest.raises(RecordError):
        decode_sample(bytes(rec))


def test_split_is_by_object_and_covers_every_category():
    plan = plan_splits(CATS, 20, 3, seed=1)
    objects = {s: {(j.category, j.object_seed) for j in jobs} for s, jobs in plan.items()}
    assert not (
        objects["train"] & objects["val"] or objects["train"] & objects["test"] or objects["val"] & objects["test"]
    )
    for c in CATS:
        counts = [sum(1 for cat, _ in objects[s] if cat == c) for s in ("train", "val", "test")]
        assert counts == [14, 3, 3]
    assert all(len(jobs) == len(objects[s]) * 3 for s, jobs in plan.items())
    assert plan_splits(CATS, 20, 3, seed=1) == plan and plan_splits(CATS, 20, 3, seed=2) != plan


def test_reader_returns_the_generated_samples(dataset_root):
    index = read_index(dataset_root)
    assert index["schema_version"] == 1 and index["config"]["num_points"] == 96
    ds = SequenceDataset(dataset_root, "train")
    assert len(ds) == index["splits"]["train"]["num_sequences"] == 5 * 3 * 2
    assert ds.config == CFG
    seen = set()
    for i in range(len(ds)):
        s = ds[i]
        seen.add(s.object_id)
        assert s.object_id in ds.object_ids
    assert seen == set(ds.object_ids)
    s = ds[-1]
    fresh = generate_sequence(s.category, s.object_seed, s.sequence_seed, CFG)
    assert np.abs(fresh.points - s.points).max() < 1e-4
    np.testing.assert_array_equal(fresh.labels, s.labels)
    val, test = SequenceDataset(dataset_root, "val"), SequenceDataset(dataset_root, "test")
    assert not set(val.object_ids) & set(ds.object_ids) and not set(test.object_ids) & set(val.object_ids)
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(ValueError, match="no split"):
        SequenceDataset(dataset_root, "holdout")


def test_same_seed_same_bytes_with_several_workers(dataset_root, tmp_path):
    root = tmp_path / "again"
    write_dataset(root, categories=CATS, objects_per_category=7, sequences_per_object=2, cfg=CFG, seed=3,
                  shard_size=8, workers=2, progress=False)  # fmt: skip
    assert _digest(root) == _digest(dataset_root)
    with pytest.raises(FileExistsError):
        write_dataset(root, categories=CATS, objects_per_category=2, cfg=CFG, progress=False)


def test_dataloader_with_workers(dataset_root):
    plain = SequenceDataset(dataset_root, "val")
    first = plain[0]  # opens a file handle, which must not travel with the pickle
    clone = pickle.loads(pickle.dumps(plain))
    np.testing.assert_array_equal(clone[0].points, first.points)
    ds = SequenceDataset(dataset_root, "val", transform=lambda s: s.object_id)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=list)
    ids = [i for batch in loader for i in batch]
    assert sorted(ids) == sorted(ds[i] for i in range(len(ds)))


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_corrupt_record_names_the_file(dataset_root, tmp_path):
    root = _copy(dataset_root, tmp_path / "corrupt")
    shard = root / "train-00000.s2a"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0x5A  # inside the last record of the shard
    shard.write_bytes(bytes(data))
    ds = SequenceDataset(root, "train")
    ds[0]  # other records still read
    with pytest.raises(DatasetCorruptError, match=r"train-00000\.s2a: record 7 fails its checksum"):
        ds[7]


def test_truncated_shard_is_reported_at_open(dataset_root, tmp_path):
    root = _copy(dataset_root, tmp_path / "truncated")
    shard = root / "val-00000.s2a"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(DatasetCorruptError, match=r"val-00000\.s2a.*truncated"):
        SequenceDataset(root, "val")
    (root / "test-00000.s2a").unlink()
    with pytest.raises(DatasetCorruptError, match=r"test-00000\.s2a: shard file is missing"):
        SequenceDataset(root, "test")


def test_bad_header_and_schema_are_reported(dataset_root, tmp_path):
    root = _copy(dataset_root, tmp_path / "header")
    shard = root / "train-00001.s2a"
    data = bytearray(shard.read_bytes())
    data[:8] = b"NOTASHRD"
    shard.write_bytes(bytes(data))
    ds = SequenceDataset(root, "train")
    with pytest.raises(DatasetCorruptError, match=r"train-00001\.s2a: not a sim2art shard"):
        ds[8]
    index = json.loads((root / "index.json").read_text())
    index["schema_version"] = 99
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(DatasetCorruptError, match="schema version 99"):
        SequenceDataset(root, "train")
    (root / "index.json").write_text("{not json")
    with pytest.raises(DatasetCorruptError, match="index.json"):
        SequenceDataset(root, "train")
