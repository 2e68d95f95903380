"""`dlbench merge OTHER.sqlite`: another machine's runs into this database (store/merge.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app


@app.command("merge")
def merge_cmd(
    other: Path = typer.Argument(..., help="The other machine's dlbench database."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="The database merged into."),
    artifacts: Path = typer.Option(
        None,
        "--artifacts",
        help="Where the other machine's artifacts folder is here "
        "(default: OTHER's own <name>-artifacts folder beside it).",
    ),
) -> None:
    """Bring another database's runs in (one transaction; runs already here are skipped)."""
    from rich.markup import escape

    from dlbench.cli.console import make_console
    from dlbench.store.merge import merge

    out = merge(db, other, artifacts)
    console = make_console()
    console.print(
        f"merged {other} into {db}: {out.added} run(s) added, {out.skipped} already here, "
        f"{out.probes_added} probe(s), {out.artifacts_copied} artifacts folder(s) copied"
    )
    for label in out.machines:
        console.print(f"  machine: {escape(label)}")
    if out.weights_missing:
        console.print(
            f"[yellow]{out.weights_missing} run(s) name weights that are not on this machine: "
            "copy the other machine's artifacts folder here and pass --artifacts[/]"
        )
