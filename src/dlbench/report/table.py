"""The console table of runs (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlbench.report.columns import formatted_rows, notes, visible_columns
from dlbench.store.db import RunRow

_STATUS_STYLE = {
    "finished": "green",
    "diverged": "yellow",
    "timeout": "red",
    "failed": "red",
    "oom": "red",
}


def print_table(rows: list[RunRow], console: Console, title: str = "dlbench results") -> None:
    columns = visible_columns(rows)
    table = Table(title=title, header_style="bold")
    for c in columns:
        # Names stay on one line; numeric headers wrap instead ("steady / epoch s").
        table.add_column(
            c.title,
            justify="right" if c.numeric else "left",
            overflow="fold",
            no_wrap=not c.numeric,
        )
    for r, cells in zip(rows, formatted_rows(rows, columns), strict=True):
        style = _STATUS_STYLE.get(r["status"], "")
        cells = [escape(c) for c in cells]  # names and paths come from the user
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        table.add_row(*cells)
    console.print(table)
    for line in notes(rows):
        console.print(f"[dim]- {escape(line)}[/]")
    from dlbench.report.fairness import fairness_warnings

    for line in fairness_warnings(rows):
        console.print(f"[yellow]fairness: {escape(line)}[/]")
