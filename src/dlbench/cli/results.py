"""`dlbench results`: the stored runs as a table, CSV, JSON or Markdown."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError

FORMATS = ("table", "csv", "json", "md")


@app.command("results")
def results_cmd(
    fmt: str = typer.Option("table", "--format", help="table, csv, json or md."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    last: int = typer.Option(None, "--last", help="Only the last N runs."),
    wide: bool = typer.Option(
        False, "--wide", help="Every column in the table (default: what fits 100 columns)."
    ),
    predicted: bool = typer.Option(
        False, "--predicted", help="Also each run's predicted steady epoch against the measured."
    ),
) -> None:
    """Show stored runs."""
    from dlbench.cli.console import make_console
    from dlbench.store.db import Store

    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    with Store(db, readonly=True) as store:
        rows = store.runs()
    if last:
        rows = rows[-last:]
    if fmt == "table":
        from dlbench.report.table import print_table

        if not rows:
            raise UserError(f"{db} holds no runs yet: run `dlbench run` first")
        print_table(rows, make_console(), title=f"{len(rows)} run(s) in {db}", wide=wide)
        if predicted:
            from dlbench.report.predicted import print_predicted

            print_predicted(rows, make_console())
        return
    from dlbench.report.formats import renderer

    typer.echo(renderer(fmt)(rows), nl=False)
