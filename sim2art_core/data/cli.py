"""sim2art-generate: write a synthetic dataset (sharded, split 70/15/15 by object instance).

    sim2art-generate data/synth --objects-per-category 40 --sequences-per-object 5 --workers 2
    sim2art-generate data/robust --realism robustness --categories Laptop,Box --seed 1
    sim2art-generate data/plain --surfaces lacquer --categories Storage1,Storage3

The output is a pure function of the arguments (same seed -> identical bytes, any --workers).
See docs/DATA.md for the file format and the reader (sim2art_core.data.dataset.SequenceDataset).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim2art_core.data.camera_path import CameraPathConfig
from sim2art_core.data.cli_args import add_size_arguments
from sim2art_core.data.dataset import read_index, write_dataset
from sim2art_core.data.generator import SequenceConfig
from sim2art_core.data.realism import RealismConfig
from sim2art_core.data.sequence import BROAD_CATEGORIES, CATEGORIES, categories_arg
from sim2art_core.data.surfaces import SURFACES


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="sim2art-generate", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    ap.add_argument("output", type=Path, help="dataset directory (created)")
    ap.add_argument(
        "--categories", type=categories_arg, default=CATEGORIES,
        help=f"'all' (the paper's 14), 'broad' (+ {', '.join(BROAD_CATEGORIES)}) or comma-separated names",
    )  # fmt: skip
    ap.add_argument("--objects-per-category", type=int, default=10, help="object instances per category")
    ap.add_argument("--sequences-per-object", type=int, default=5, help="sequences per instance")
    add_size_arguments(ap, 16, 160, 120, "T, frames per sequence")
    ap.add_argument("--points", type=int, default=2048, help="N, points per frame")
    ap.add_argument("--arc-deg", type=float, nargs=2, default=CameraPathConfig().arc_deg, metavar=("LO", "HI"),
                    help="camera azimuth sweep range (deg)")  # fmt: skip
    ap.add_argument("--realism", choices=("none", "robustness"), default="none",
                    help="sensor imperfections: none, or the RealismConfig.robustness() preset")  # fmt: skip
    ap.add_argument("--surfaces", choices=SURFACES, default="textured",
                    help="textured parts, or plain / lacquer colours without texture (docs/DATA.md)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0, help="dataset seed")
    ap.add_argument("--workers", type=int, default=1, help="generator processes")
    ap.add_argument("--shard-size", type=int, default=64, help="sequences per shard file")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing dataset in OUTPUT")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    realism = RealismConfig.robustness() if args.realism == "robustness" else RealismConfig()
    cfg = SequenceConfig(
        num_frames=args.frames, num_points=args.points, width=args.width, height=args.height,
        camera=CameraPathConfig(arc_deg=tuple(args.arc_deg)), realism=realism,
        surfaces=args.surfaces,
    )  # fmt: skip
    try:
        index_path = write_dataset(
            args.output, categories=args.categories, objects_per_category=args.objects_per_category,
            sequences_per_object=args.sequences_per_object, cfg=cfg, seed=args.seed, workers=args.workers,
            shard_size=args.shard_size, overwrite=args.overwrite, progress=not args.quiet,
        )  # fmt: skip
    except (FileExistsError, ValueError) as e:
        print(f"sim2art-generate: error: {e}")
        return 2
    index = read_index(args.output)
    total_bytes = sum(sh["bytes"] for s in index["splits"].values() for sh in s["shards"])
    total = sum(s["num_sequences"] for s in index["splits"].values())
    for name, s in index["splits"].items():
        print(
            f"{name:5s}: {s['num_sequences']:6d} sequences of {len(s['objects'])} objects in {len(s['shards'])} shards"
        )
    print(f"{total} sequences, {total_bytes / 2**20:.1f} MiB ({total_bytes / max(total, 1) / 1024:.0f} KiB/sequence)")
    print(f"index: {index_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
