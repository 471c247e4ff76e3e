"""sim2art-generate and sim2art-show-sample."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import image

from sim2art_core.data import cli, picture
from sim2art_core.data.dataset import SequenceDataset

TINY_ARGS = ["--frames", "3", "--points", "64", "--width", "64", "--height", "48", "--quiet"]


def test_generate_writes_a_readable_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = cli.main([str(out), "--categories", "Box,Fan", "--objects-per-category", "3", "--sequences-per-object", "1",
                   "--realism", "robustness", *TINY_ARGS])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "6 sequences" in text and "KiB/sequence" in text
    ds = SequenceDataset(out, "train")
    assert len(ds) == 2  # 3 objects per category: 1 train, 1 val, 1 test
    assert ds[0].realism != "{}" and ds.config.realism.any
    assert cli.main([str(out), "--categories", "Box", *TINY_ARGS]) == 2  # refuses to overwrite silently


def test_generate_rejects_unknown_categories(tmp_path):
    with pytest.raises(SystemExit):
        cli.main([str(tmp_path / "x"), "--categories", "Chair"])


def test_show_sample_writes_a_png(tmp_path):
    out = tmp_path / "sample.png"
    assert picture.main(["--category", "Laptop", "--object-seed", "1", "--sequence-seed", "2", "--width", "96",
                         "--height", "72", "--frames", "4", "--points", "256", "-o", str(out)]) == 0  # fmt: skip
    img = image.imread(out)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 800
    assert np.std(img[..., :3]) > 0.05  # not a blank canvas


def test_show_sample_from_a_dataset(tmp_path):
    out = tmp_path / "ds"
    assert cli.main([str(out), "--categories", "Stapler", "--objects-per-category", "3", "--sequences-per-object",
                     "1", *TINY_ARGS]) == 0  # fmt: skip
    png = tmp_path / "s.png"
    assert picture.main(["--dataset", str(out), "--split", "val", "--index", "0", "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000


def test_category_lists_all_broad_and_names():
    from sim2art_core.data.sequence import ALL_CATEGORIES, CATEGORIES, parse_categories
    from sim2art_core.train.cli import build_parser

    assert parse_categories("all") == CATEGORIES and parse_categories("broad") == ALL_CATEGORIES
    assert parse_categories("Kitchen, Box") == ("Kitchen", "Box")
    with pytest.raises(ValueError, match="Chair"):
        parse_categories("Kitchen,Chair")
    args = build_parser().parse_args(["--categories", "broad", "--val-categories", "all"])
    assert args.categories == ALL_CATEGORIES and args.val_categories == CATEGORIES
