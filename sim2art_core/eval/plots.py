"""Bar charts of evaluation tables (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sim2art_core.metrics.aggregate import ALL, TABLE_METRICS, MethodTable, MetricSpec


def bar_charts(tables: Sequence[MethodTable], path: str | Path, metrics: Sequence[MetricSpec] = TABLE_METRICS) -> Path:
    """One panel per metric: grouped bars per category (and Mean), one colour per method, error bars
    = standard deviation over the category's samples/joints. Returns the written path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in tables[0].columns if c != ALL] if tables else []
    n = len(metrics)
    cols = 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(max(8.0, 0.7 * len(columns) * cols), 3.2 * rows), squeeze=False)
    width = 0.8 / max(len(tables), 1)
    x = np.arange(len(columns))
    for ax, spec in zip(axes.flat, metrics, strict=False):
        for i, t in enumerate(tables):
            cells = [t.cells[spec.key].get(c) for c in columns]
            means = [c.mean if c is not None and c.count else np.nan for c in cells]
            stds = [c.std if c is not None and c.count else 0.0 for c in cells]
            # every metric is >= 0: the lower error bar stops at 0
            lower = np.minimum(np.nan_to_num(stds), np.nan_to_num(means))
            ax.bar(x + (i - (len(tables) - 1) / 2) * width, means, width, yerr=[lower, stds], capsize=2,
                   label=t.method)  # fmt: skip
        ax.set_title(spec.title)
        ax.set_xticks(x)
        ax.set_xticklabels(columns, rotation=45, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if tables:
        axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
