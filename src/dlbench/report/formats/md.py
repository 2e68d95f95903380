"""Runs as a Markdown table, to paste into a report."""

from __future__ import annotations

from dlbench.report.columns import COLUMNS, formatted_rows, notes
from dlbench.store.db import RunRow


def _cell(text: str) -> str:
    """A `|` inside a cell would end it: escaped, as GitHub's Markdown reads it."""
    return text.replace("|", "\\|")


def render(rows: list[RunRow]) -> str:
    head = "| " + " | ".join(c.title for c in COLUMNS) + " |"
    rule = "|" + "|".join("---:" if c.numeric else "---" for c in COLUMNS) + "|"
    body = ["| " + " | ".join(map(_cell, cells)) + " |" for cells in formatted_rows(rows)]
    tail = [f"\n- {line}" for line in notes(rows)]
    return "\n".join([head, rule, *body]) + "\n" + "".join(tail) + ("\n" if tail else "")
