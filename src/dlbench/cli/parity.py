"""`dlbench check-parity`: the same model, weights and batches, step by step in every framework."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError


def _floats(value: str, what: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} {value!r}: give numbers separated by commas, e.g. 0,0.9") from None


@app.command("check-parity")
def check_parity_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Preset name(s), comma separated."),
    steps: int = typer.Option(10, "--steps", help="Training steps compared."),
    frameworks: str = typer.Option(
        None,
        "--frameworks",
        "-f",
        help="Comma separated (default: torch and every installed "
        "Keras backend); torch is always the reference.",
    ),
    dataset: str = typer.Option(
        "digits", "--dataset", "-d", help="digits (offline), fashion-mnist, ..."
    ),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd, adam or adadelta."),
    momentum: str = typer.Option("0,0.9", "--momentum", help="SGD momenta to check."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default 0.01)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b"),
    seed: int = typer.Option(0, "--seed"),
    tolerance: float = typer.Option(
        None, "--tolerance", help="Largest relative loss difference (default 1e-4)."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where dataset files are."),
    precision: str = typer.Option(
        "float32",
        "--precision",
        help="bf16-mixed: precision mode, each framework's mixed-precision losses against its "
        "own float32 ones (default tolerance 3.1e-2, docs/fairness.md).",
    ),
) -> None:
    """Train a few steps from identical weights in each framework and compare the losses.

    Exit 0 when every framework is within the tolerance of torch's loss at every step, else 1.
    """
    from dlbench.cli.console import make_console
    from dlbench.runner import parity

    if optimizer not in ("sgd", "adam", "adadelta"):
        raise UserError(f"--optimizer {optimizer!r}: choose sgd, adam or adadelta")
    models = [m.strip() for m in model.split(",") if m.strip()]
    names = [f.strip() for f in frameworks.split(",") if f.strip()] if frameworks else None
    console = make_console()
    check = parity.check_parity
    if precision != "float32":
        check = partial(parity.check_precision, precision=precision)
    with console.status("training in each framework, one process each..."):
        report = check(
            models,
            dataset,
            names,
            steps=steps,
            optimizer=optimizer,
            momenta=_floats(momentum, "--momentum"),
            lr=lr or parity.DEFAULT_LR,
            batch_size=batch_size,
            seed=seed,
            tolerance=tolerance or (None if precision != "float32" else parity.DEFAULT_TOLERANCE),
            data_dir=data_dir,
        )
    print_report(report, console)
    if not report.ok:
        raise typer.Exit(1)


def print_report(report, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    ref = report.reference
    what = f"{report.precision} against float32" if ref == "float32" else "float32"
    tol = f"{report.tolerance:.1e}" if ref == "float32" else f"{report.tolerance:.0e}"
    console.print(
        f"parity on {report.dataset}: {report.steps} steps, batch {report.batch_size}, "
        f"lr {report.lr:g}, init shared, {what}, one CPU thread each; loss of each batch "
        f"before its update; tolerance {tol} relative to {ref}"
    )
    for res in report.cases:
        shown = [fw for fw in report.frameworks if fw in res.losses]
        table = Table(title=res.case.label, title_justify="left")
        table.add_column("step", justify="right")
        for fw in shown:
            table.add_column(fw, justify="right")
        for i in range(max((len(v) for v in res.losses.values()), default=0)):
            table.add_row(str(i + 1), *(_cell(res.losses[fw], i) for fw in shown))
        diffs = []
        for fw in shown:
            diff = res.max_rel_diff(fw)
            if fw == ref or diff is None:
                diffs.append("reference" if fw == ref else "n/a")
            else:
                colour = "green" if diff <= report.tolerance else "red"
                diffs.append(f"[{colour}]{diff:.1e}[/]")
        table.add_section()
        table.add_row("max rel. diff", *diffs)
        console.print(table)
    for note in report.notes:
        console.print(f"- {escape(note)}")
    failures = report.failures()
    for line in failures:
        console.print(f"[red]- {escape(line)}[/]")
    if not failures:
        console.print(f"[green]every framework within {tol} of {ref} at every step[/]")


def _cell(values: list[float], i: int) -> str:
    return f"{values[i]:.7f}" if i < len(values) else ""
