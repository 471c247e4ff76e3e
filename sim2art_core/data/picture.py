"""A picture of one training sample, so a person can see what the model is trained on.

    sim2art-show-sample --category Storage3 --object-seed 7 --sequence-seed 1 -o sample.png
    sim2art-show-sample --dataset data/synth --split val --index 12 -o sample.png

Top row: a few frames (re-rendered RGB) with the sampled points coloured by part, flow arrows of
moving points (lengths exaggerated, factor in the title) and each joint's axis through its pivot
(solid: revolute, dashed: prismatic). Bottom: the per-part joint amounts over time (deg / cm) and
a summary of the sample. Frames are re-rendered from (category, object seed, sequence seed, config),
which is exact for procedural objects; other samples are drawn on a grey background.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sim2art_core.camera import Intrinsics, project
from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig
from sim2art_core.data.sequence import ALL_CATEGORIES, SequenceSample
from sim2art_core.geometry import invert_transform, transform_points
from sim2art_core.types import JointType

PART_COLOURS = colormaps["tab10"].colors


def _colour(p: int):
    return PART_COLOURS[p % len(PART_COLOURS)]


def render_sample_figure(sample: SequenceSample, rgb_frames: list[np.ndarray] | None = None, panels: int = 4,
                         flow_scale: float = 3.0, max_arrows: int = 120) -> Figure:  # fmt: skip
    """The figure described in the module doc (rgb_frames: the sample's T rendered images, optional)."""
    T, P = sample.num_frames, sample.num_parts
    W, H = sample.image_size
    fx, fy, cx, cy = sample.intrinsics
    intr = Intrinsics(fx, fy, cx, cy, W, H)
    shown = np.unique(np.linspace(0, T - 1, min(panels, T)).round().astype(int))
    fig = Figure(figsize=(4.2 * len(shown), 7.2), dpi=110)  # no pyplot: no global backend state
    gs = fig.add_gridspec(2, len(shown), height_ratios=[1.25, 1.0])
    extent = float(np.ptp(sample.points.reshape(-1, 3), axis=0).max())
    rng = np.random.default_rng(0)
    for k, t in enumerate(shown):
        ax = fig.add_subplot(gs[0, k])
        ax.imshow(rgb_frames[t] if rgb_frames is not None else np.full((H, W, 3), 200, np.uint8))
        ct_from_c0 = invert_transform(sample.world_from_cam[t]) @ sample.world_from_cam[0]
        pix = sample.pixels[t]
        cols = np.array([_colour(int(p)) for p in sample.labels[t]])
        ax.scatter(pix[:, 0], pix[:, 1], s=2.0, c=cols, linewidths=0)
        moving = np.flatnonzero(np.linalg.norm(sample.flow[t], axis=1) > 1e-4)
        if len(moving):
            pick = rng.choice(moving, min(max_arrows, len(moving)), replace=False)
            a = project(transform_points(ct_from_c0, sample.points[t, pick].astype(np.float64)), intr)
            b = project(
                transform_points(
                    ct_from_c0, (sample.points[t, pick] + flow_scale * sample.flow[t, pick]).astype(float)
                ),
                intr,
            )
            ax.quiver(a[:, 0], a[:, 1], b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], angles="xy", scale_units="xy", scale=1,
                      color="white", width=0.004, headwidth=3, alpha=0.9)  # fmt: skip
        for p in range(1, P):
            if sample.part_types[p] == JointType.STATIC:
                continue
            piv, axis = sample.part_pivots[p].astype(float), sample.part_axes[p].astype(float)
            line = np.stack([piv - 0.35 * extent * axis, piv + 0.35 * extent * axis])
            uv = project(transform_points(ct_from_c0, line), intr)
            style = "-" if sample.part_types[p] == JointType.REVOLUTE else "--"
            ax.plot(uv[:, 0], uv[:, 1], style, color=_colour(p), lw=2.5)
            ax.plot(uv[1, 0], uv[1, 1], "o", color=_colour(p), ms=5, mec="black")
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        ax.set_title(f"frame {t}  (flow x{flow_scale:g})", fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(gs[1, : max(1, len(shown) - 1)])
    for p in range(1, P):
        kind = JointType(int(sample.part_types[p]))
        scale, unit = (180 / np.pi, "deg") if kind == JointType.REVOLUTE else (100.0, "cm")
        ax.plot(sample.part_amounts[p] * scale, color=_colour(p), lw=2,
                label=f"{p} {sample.part_names[p]} ({kind.name.lower()}, {unit})")  # fmt: skip
    ax.set_xlabel("frame")
    ax.set_ylabel("joint amount (deg | cm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    info = fig.add_subplot(gs[1, -1]) if len(shown) > 1 else None
    text = (
        f"{sample.object_id}\ncategory {sample.category}\nsequence seed {sample.sequence_seed}\n"
        f"T={T}  N={sample.num_points}  {W}x{H}\nparts {P}, moving {int(sample.part_moving.sum())}\n"
        f"labels/frame: {np.bincount(sample.labels[-1], minlength=P).tolist()}\n"
        + "realism "
        + "\n  ".join(textwrap.wrap(sample.realism, 40))
    )
    if info is not None:
        info.axis("off")
        info.text(0.0, 1.0, text, va="top", fontsize=8, family="monospace", transform=info.transAxes)
        for p in range(P):
            info.plot([], [], "s", color=_colour(p), label=f"part {p}: {sample.part_names[p]}")
        info.legend(loc="lower left", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def save_sample_picture(sample: SequenceSample, path: str | Path, cfg: SequenceConfig | None = None,
                        panels: int = 4) -> Path:  # fmt: skip
    """Write the picture of ``sample`` to ``path`` (PNG), re-rendering its frames when ``cfg`` is given
    and the sample is procedural."""
    frames = None
    if cfg is not None and sample.category in ALL_CATEGORIES:
        _, fr = generate_sequence(sample.category, sample.object_seed, sample.sequence_seed, cfg, return_frames=True)
        frames = [f.rgb for f in fr]
    fig = render_sample_figure(sample, frames, panels)
    path = Path(path)
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sim2art-show-sample", description=__doc__.split("\n\n")[0])
    src = ap.add_argument_group("a freshly generated sample")
    src.add_argument("--category", choices=ALL_CATEGORIES, default="Storage3")
    src.add_argument("--object-seed", type=int, default=0)
    src.add_argument("--sequence-seed", type=int, default=0)
    src.add_argument("--frames", type=int, default=16, help="T (default 16)")
    src.add_argument("--points", type=int, default=2048, help="N (default 2048)")
    src.add_argument("--width", type=int, default=320)
    src.add_argument("--height", type=int, default=240)
    src.add_argument("--realism", choices=("none", "robustness"), default="none")
    ds = ap.add_argument_group("or a sample of a dataset")
    ds.add_argument("--dataset", type=Path, help="dataset root (written by sim2art-generate)")
    ds.add_argument("--split", default="train")
    ds.add_argument("--index", type=int, default=0)
    ap.add_argument("--panels", type=int, default=4, help="frames shown (default 4)")
    ap.add_argument("-o", "--output", type=Path, default=Path("sample.png"), help="PNG path (default sample.png)")
    args = ap.parse_args(argv)
    if args.dataset is not None:
        from sim2art_core.data.dataset import SequenceDataset

        data = SequenceDataset(args.dataset, args.split)
        sample, cfg = data[args.index], data.config
    else:
        realism = RealismConfig.robustness() if args.realism == "robustness" else RealismConfig()
        cfg = SequenceConfig(num_frames=args.frames, num_points=args.points, width=args.width, height=args.height,
                             realism=realism)  # fmt: skip
        sample = generate_sequence(args.category, args.object_seed, args.sequence_seed, cfg)
    path = save_sample_picture(sample, args.output, cfg, args.panels)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
