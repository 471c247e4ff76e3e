"""Learning curves from a training run's log.csv (matplotlib, Agg)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = (
    ("loss", "total loss"),
    ("mask", "mask loss (2 BCE + Dice)"),
    ("miou", "val part mIoU"),
    ("axis_err_deg", "val axis error (deg)"),
    ("pivot_err_cm", "val pivot error (cm)"),
    ("type_acc", "val joint-type accuracy"),
)


def read_log(path: Path) -> dict[str, list[dict[str, float]]]:
    """Rows of log.csv by kind ('train', 'val'), empty cells left out."""
    out: dict[str, list[dict[str, float]]] = {"train": [], "val": []}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            kind = row.pop("kind")
            out.setdefault(kind, []).append({k: float(v) for k, v in row.items() if v not in ("", None)})
    return out


def series(rows: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    """(samples, values) of the rows that have ``key``."""
    pairs = [(r["samples"], r[key]) for r in rows if key in r and "samples" in r]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_log(csv_path: Path, png_path: Path) -> Path:
    """Six panels against samples seen: train/val losses and validation metrics."""
    log = read_log(Path(csv_path))
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title) in zip(axes.ravel(), PANELS, strict=True):
        for kind, style in (("train", "-"), ("val", "o-")):
            x, y = series(log.get(kind, []), key)
            if x:
                ax.plot(x, y, style, label=kind, ms=3)
        ax.set_title(title)
        ax.set_xlabel("training samples")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
    return Path(png_path)
