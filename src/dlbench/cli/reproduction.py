"""`dlbench reproduction`: regenerate docs/reproduction.md from the database."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app


@app.command("reproduction")
def reproduction_cmd(
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    out: Path = typer.Option(Path("docs/reproduction.md"), "--out", help="Markdown file to write."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where dataset files are."),
) -> None:
    """Every experiment of the reports beside dlbench's figures, as Markdown."""
    from dlbench.data import locate
    from dlbench.report.reproduction import EXPERIMENTS, render
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = store.runs()
    missing = {}
    for exp in EXPERIMENTS:
        name = exp.dataset.split(":")[0]
        if name in missing or name == "folder":
            continue
        found, _ = locate(name, data_dir)
        if found is None:
            missing[name] = (
                f"not run here: {name} is not on this machine and cannot be "
                "downloaded here; `dlbench data` says which files to put where"
            )
    missing.setdefault(
        "folder", 'not run here: needs your own face folders (README, "Your own dataset")'
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(rows, missing))
    typer.echo(f"wrote {out} ({len(EXPERIMENTS)} experiments, {len(rows)} stored runs read)")
