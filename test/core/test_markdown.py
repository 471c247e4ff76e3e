from __future__ import annotations

import pytest

from sim2art_core.markdown import markdown_table


def test_markdown_table_has_header_separator_and_rows_in_column_order():
    rows = [{"b": "1", "a": 2.5}, {"a": "x", "b": None}]
    assert markdown_table(rows) == "| b | a |\n|---|---|\n| 1 | 2.5 |\n| None | x |\n"


def test_markdown_table_without_rows_says_so():
    assert markdown_table([]) == "_(none)_\n"
    assert markdown_table([], empty="(no data)") == "(no data)\n"


def test_markdown_table_row_missing_a_column_raises():
    with pytest.raises(KeyError):
        markdown_table([{"a": 1, "b": 2}, {"a": 3}])
