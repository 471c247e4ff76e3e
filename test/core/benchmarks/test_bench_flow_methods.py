"""sim2art-benchmark flow-methods end to end at a tiny size: export, run, score."""

from __future__ import annotations

import json

from sim2art_core.benchmarks.bench_flow_methods import BASE, VARIANTS, main, variant_config
from sim2art_core.data.dataset import write_dataset
from sim2art_core.data.generator import SequenceConfig


def test_export_run_score_end_to_end(tmp_path, capsys):
    data = tmp_path / "data"
    write_dataset(data, categories=("Storage1",), objects_per_category=1, sequences_per_object=1,
                  cfg=SequenceConfig(num_frames=3, num_points=96), progress=False)  # fmt: skip
    out = tmp_path / "out"
    args = ["--data", str(data), "--split", "train", "--out", str(out), "--resolution", "160x120", "--points", "96",
            "--variants", "dis-medium,dis-medium-fb1-edge2,farneback", "--no-network", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert len(list((out / "frames").glob("*.npz"))) == 2  # textured + lacquer
    rows = json.loads((out / "scores.json").read_text())
    assert {(r["variant"], r["surface"]) for r in rows} == {
        (v, s) for v in ("dis-medium", "dis-medium-fb1-edge2", "farneback") for s in ("textured", "lacquer")
    }
    for r in rows:
        assert r["sequences"] == 1 and r["ms_per_flow"] > 0
        assert 0 <= r["static_spurious_pct"] <= 100 and 0 < r["valid_pct"] <= 100
    by = {(r["variant"], r["surface"]): r for r in rows}
    # the masks only remove points
    assert by[("dis-medium-fb1-edge2", "textured")]["valid_pct"] <= by[("dis-medium", "textured")]["valid_pct"]
    assert "| dis-medium | textured |" in (out / "table.md").read_text()
    assert main([*args[:-4], "--variants", "raft", "--no-progress"]) == 2
    assert "unknown variants" in capsys.readouterr().err


def test_every_variant_states_its_masks():
    for name, (method, over, _) in VARIANTS.items():
        if method in ("rlof", "deepflow", "tvl1", "pcaflow"):
            continue  # registered only with the contrib wheel
        f = variant_config(name, 64).flow
        assert f.method == method
        for k, v in {**BASE, **over}.items():
            assert getattr(f, k) == v, (name, k)
    assert variant_config("dis-medium", 64).flow.depth_edge_ratio == 0.0  # not the new default: explicit
