"""`dlbench data`: which built-in datasets this machine has, where, and how to get the rest."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app


@app.command("data")
def data_cmd(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="A folder holding dataset files (searched before $DLBENCH_DATA, the cache "
        "and the system's dataset folders).",
        file_okay=False,
    ),
) -> None:
    """Show each built-in dataset: where its files were found, or how to get them."""
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.data import list_datasets, locate
    from dlbench.data.catalog import BUILTINS
    from dlbench.data.locations import (
        DATA_ENV,
        SYSTEM_DIRS,
        cache_dir,
        data_roots,
        downloads_enabled,
    )

    table = Table(title="Datasets", title_justify="left")
    table.add_column("dataset", style="bold", no_wrap=True)
    table.add_column("input C×H×W", no_wrap=True)
    table.add_column("classes", justify="right")
    table.add_column("train / test", justify="right", no_wrap=True)
    table.add_column("where", overflow="fold")
    for name, b in BUILTINS.items():
        path, why = locate(name, data_dir)
        if path is not None:
            where = f"[green]{path}[/green]"
        elif downloads_enabled() and b.remotes:
            where = f"[yellow]{why}[/yellow]"
        else:
            where = f"[red]{why}[/red]"
        table.add_row(
            name,
            "×".join(str(s) for s in b.input_shape),
            str(len(b.class_names)),
            f"{b.n_train} / {b.n_test}",
            where,
        )
    console = make_console()
    console.print(table)
    searched = [f"{path} ({origin})" for path, origin in data_roots(data_dir)]
    searched.append(f"{cache_dir('<name>')} (user cache)")
    searched.extend(str(s / "<name>") for s in SYSTEM_DIRS)
    console.print(f"Searched in order: {'; '.join(searched)}.", markup=False, highlight=False)
    if not data_roots(data_dir):
        console.print(
            f"Name a folder with --data-dir or ${DATA_ENV}.", markup=False, highlight=False
        )
    patterns = [p for p in list_datasets() if p not in BUILTINS]
    console.print(
        f"Also: {', '.join(patterns)} (your images, one sub-folder per class; random data "
        "for timing only).",
        markup=False,
        highlight=False,
    )
