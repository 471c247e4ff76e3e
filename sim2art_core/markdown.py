"""Markdown tables for benchmark and report output (pure text, no ROS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def markdown_table(rows: Sequence[Mapping[str, object]], empty: str = "_(none)_") -> str:
    """A GitHub-flavoured Markdown table of ``rows``, one row a mapping column -> cell, the columns those of
    the first row in its order; cells are written with ``str`` (format numbers before). Ends with a newline;
    no row gives ``empty`` + newline."""
    if not rows:
        return empty + "\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"
