"""The console table of runs (rich): concise by default, every column with `wide`.

The concise table (report/concise.py) fits a 100-column terminal and ends with verdict lines;
the wide one is every column of report/columns.py.
"""

from __future__ import annotations

from rich import box
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


DATASET_WIDTH = 24  # in the concise table a longer dataset (a folder path) folds


def _header(c, wide: bool) -> str:
    # The concise table breaks a numeric header onto two lines itself ("steady / epoch s"),
    # so that every column can be drawn whole and its width is known beforehand.
    if wide or not c.numeric or " " not in c.title:
        return c.title
    words = c.title.split()
    half = len(words) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def _width(c, cells: list[str], wide: bool) -> int:
    longest = max((len(t) for t in cells), default=0)
    if c.key == "dataset" and not wide:
        longest = min(longest, DATASET_WIDTH)
    return max(longest, *(len(line) for line in _header(c, wide).splitlines()))


def _table(rows: list[RunRow], columns, title: str, wide: bool) -> Table:
    texts = formatted_rows(rows, columns)
    if wide:
        table = Table(title=title, header_style="bold")
    else:
        # No vertical rules, no outer padding: two characters between columns, not three.
        table = Table(
            title=title,
            header_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
    for i, c in enumerate(columns):
        if wide:
            # Names stay on one line; numeric headers wrap instead ("steady / epoch s").
            table.add_column(
                c.title,
                justify="right" if c.numeric else "left",
                overflow="fold",
                no_wrap=not c.numeric,
            )
            continue
        # Every column as wide as its widest cell; only a long dataset (a path) folds.
        table.add_column(
            _header(c, wide),
            justify="right" if c.numeric else "left",
            overflow="fold",
            no_wrap=c.key != "dataset",
            width=_width(c, [t[i] for t in texts], wide),
        )
    for r, cells in zip(rows, texts, strict=True):
        style = _STATUS_STYLE.get(r["status"], "")
        cells = [escape(c) for c in cells]  # names and paths come from the user
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        table.add_row(*cells)
    return table


def table_width(rows: list[RunRow], columns) -> int:
    """Characters the concise table of `columns` needs: its columns and two between each."""
    texts = formatted_rows(rows, columns)
    widths = [_width(c, [t[i] for t in texts], False) for i, c in enumerate(columns)]
    return sum(widths) + 2 * (len(widths) - 1)


def _fitted(rows: list[RunRow], console: Console, title: str) -> tuple[Table, list[str]]:
    """The concise table, less its optional columns (the last first) until it fits the
    console without cutting a name or a number; and the titles left out."""
    from dlbench.report.concise import concise_columns, optional_keys

    columns = list(concise_columns(rows))
    optional = [c for c in columns if c.key in optional_keys()]
    dropped: list[str] = []
    while table_width(rows, columns) > console.width and optional:
        gone = optional.pop()
        columns.remove(gone)
        dropped.insert(0, gone.title)
    return _table(rows, columns, title, wide=False), dropped


def print_table(
    rows: list[RunRow], console: Console, title: str = "dlbench results", wide: bool = False
) -> None:
    """The runs as a table, its notes and warnings, then the verdict lines. Concise (fits the
    console; settings that differ between rows shown while they fit) unless `wide`."""
    from dlbench.report.concise import verdicts

    if wide:
        table, hidden = _table(rows, visible_columns(rows), title, wide=True), []
    else:
        table, hidden = _fitted(rows, console, title)
    console.print(table)
    for line in notes(rows):
        console.print(f"[dim]- {escape(line)}[/]")
    if hidden:
        console.print(f"[dim]- left out to fit: {escape(', '.join(hidden))}; --wide shows all[/]")
    from dlbench.report.fairness import fairness_warnings

    for line in fairness_warnings(rows):
        console.print(f"[yellow]fairness: {escape(line)}[/]")
    for line in verdicts(rows):
        console.print(f"[bold]{escape(line)}[/]")
