"""`dlbench compare` and `dlbench crossover`: stored runs set side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError

FORMATS = ("table", "csv", "json", "md")
CENTRES = ("median", "trimmed-mean")


def _rows(db: Path, runs: str | None):
    from dlbench.report.select import select_runs
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = store.runs()
    if not rows:
        raise UserError(f"{db} holds no runs yet: run `dlbench run` first")
    rows = select_runs(rows, runs)
    if not rows:
        raise UserError(f"--runs {runs!r} matches no stored run; `dlbench results` lists them")
    return rows


@app.command("compare")
def compare_cmd(
    by: str = typer.Option(
        "device", "--by", help="The field compared: device, framework, or any run field."
    ),
    baseline: str = typer.Option(
        None, "--baseline", help="The value the others are measured against (default: cpu, torch)."
    ),
    metric: str = typer.Option(
        "steady_epoch_s",
        "--metric",
        help="steady_epoch_s, train_s, test_s, test_acc, tta_s or first_epoch_s.",
    ),
    centre: str = typer.Option(
        "median", "--centre", help="median, or trimmed-mean (MLPerf: drop fastest and slowest)."
    ),
    fmt: str = typer.Option("table", "--format", help="table, csv, json or md."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    runs: str = typer.Option(
        None, "--runs", help="Which runs: ids and ranges (1,4-6) and/or field=value conditions."
    ),
    predicted: bool = typer.Option(
        False, "--predicted", help="Also each run's predicted steady epoch against the measured."
    ),
) -> None:
    """Configurations that differ only in one field: medians, 95% intervals, speedups."""
    from dlbench.report import comparison

    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if centre not in CENTRES:
        raise UserError(f"--centre {centre!r}: choose median or trimmed-mean")
    comp = comparison.compare(_rows(db, runs), by, baseline=baseline, metric=metric, centre=centre)
    if fmt == "table":
        from dlbench.cli.console import make_console

        comparison.print_table(comp, make_console())
        if predicted:
            from dlbench.report.predicted import print_predicted

            print_predicted(_rows(db, runs), make_console())
        return
    typer.echo(comparison.RENDERERS[fmt](comp), nl=False)


@app.command("crossover")
def crossover_cmd(
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    runs: str = typer.Option(
        "suite=crossover", "--runs", help="Which runs (default: those of the crossover suite)."
    ),
    chart: Path = typer.Option(
        None, "--chart", help="Also write the chart as CHART.png and CHART.svg."
    ),
) -> None:
    """Time per epoch against work per step on each device, and where the GPU starts winning."""
    from dlbench.cli.console import make_console
    from dlbench.report.crossover import print_crossover, save_chart

    rows = [r for r in _rows(db, runs) if r["status"] == "finished"]
    console = make_console()
    print_crossover(rows, console)
    if chart is not None:
        if not chart.parent.exists():
            raise UserError(f"--chart {chart}: folder {chart.parent} does not exist")
        for path in save_chart(rows, chart):
            console.print(f"chart: {path}")
