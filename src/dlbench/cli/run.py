"""`dlbench run`: a suite (a file, a built-in name, or the default) or runs from flags."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError

LIST_FIELDS = ("model", "dataset", "framework", "device")  # comma lists become matrix entries
SCALAR_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "momentum",
    "init",
    "seed",
    "threads",
    "normalize",
    "val_fraction",
    "limit_train",
    "limit_test",
    "target_acc",
    "target_on",
    "keep",
)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UserError(f"empty list {value!r}: give one or more names separated by commas")
    return items


@app.command("run")
def run_cmd(
    suite: str = typer.Argument(
        None,
        help="Suite YAML file or built-in suite name "
        "(default, crossover, ...). Omit with no --model for the default suite.",
    ),
    model: str = typer.Option(None, "--model", "-m", help="Preset name(s), comma separated."),
    dataset: str = typer.Option(None, "--dataset", "-d", help="Dataset(s), comma separated."),
    framework: str = typer.Option(
        None,
        "--framework",
        "-f",
        help="torch, torch-compile, keras-tf, keras-jax, keras-torch or all.",
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or all, comma separated."),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Epochs (overrides the suite)."),
    batch_size: int = typer.Option(None, "--batch-size", "-b"),
    lr: float = typer.Option(None, "--lr", help="Learning rate."),
    optimizer: str = typer.Option(None, "--optimizer", help="adam, sgd or adadelta."),
    momentum: float = typer.Option(None, "--momentum", help="SGD momentum."),
    init: str = typer.Option(None, "--init", help="framework-default, xavier-normal, ..., shared."),
    seed: int = typer.Option(None, "--seed"),
    threads: int = typer.Option(None, "--threads", help="CPU threads (default: every core)."),
    tuning: str = typer.Option(
        None, "--tuning", help="default (as tutorials do it), tuned, or default,tuned for both."
    ),
    normalize: str = typer.Option(None, "--normalize", help="scale, l2-rows, standardize or none."),
    val_fraction: float = typer.Option(
        None, "--val-fraction", help="Validation share of the training set."
    ),
    limit_train: int = typer.Option(
        None, "--limit-train", help="Use the first N training samples."
    ),
    limit_test: int = typer.Option(None, "--limit-test", help="Use the first N test samples."),
    repeats: int = typer.Option(
        1, "--repeats", "-r", help="Run each configuration N times (seeds seed..seed+N-1)."
    ),
    target_acc: float = typer.Option(
        None,
        "--target-acc",
        help="Time to accuracy: record the first epoch reaching this accuracy (e.g. 0.90) "
        "and the training seconds until then.",
    ),
    target_on: str = typer.Option(
        None,
        "--target-on",
        help="Which accuracy --target-acc watches: val (needs --val-fraction) or test "
        "(the test set after each epoch, outside the timed region). Default: val.",
    ),
    keep: str = typer.Option(
        None,
        "--keep",
        help="Which weights are tested and saved: last (the last epoch's, the default) or "
        "best-val (the epoch with the best validation accuracy; needs --val-fraction).",
    ),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database (SQLite)."),
    resume: bool = typer.Option(False, "--resume", help="Skip runs already stored as finished."),
    timeout: float = typer.Option(3600.0, "--timeout", help="Seconds before a run is stopped."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Where dataset files are (first place looked)."
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not keep the trained weights."),
    quick: bool = typer.Option(
        False, "--quick", help="Scale the suite down: at most 2 epochs on a slice of the data."
    ),
    synthetic_if_missing: bool = typer.Option(
        False,
        "--synthetic-if-missing",
        help="Time runs whose dataset is absent on synthetic data of the same shape.",
    ),
) -> None:
    """Train, time and test; store every run; print the results table."""
    options = dict(locals())  # every option by name, as `dlbench estimate` gets them too
    from dlbench.cli.console import make_console
    from dlbench.cli.progress import RunProgress
    from dlbench.report.table import print_table
    from dlbench.runner.execute import execute
    from dlbench.store.db import Store

    console = make_console()
    runs, name = runs_from_options(options, console)
    predictions = _announce_prediction(runs, db, data_dir, console)

    progress = RunProgress(console, predictions)
    with progress:
        outcome = execute(
            runs,
            db,
            suite=name,
            resume=resume,
            data_dir=data_dir,
            timeout_s=timeout,
            save=not no_save,
            progress=progress.callbacks(),
            predictions=predictions,
        )
    if outcome.skipped:
        console.print(f"[dim]--resume: {outcome.skipped} run(s) already stored as done, skipped[/]")
    with Store(db, readonly=True) as store:
        ids = ",".join(str(i) for i in outcome.row_ids)
        rows = store.runs(f"id IN ({ids})") if ids else []
    if rows:
        print_table(rows, console, title=f"{name}: {len(rows)} run(s), stored in {db}")
        if name == "crossover":
            from dlbench.report.crossover import print_crossover

            print_crossover(rows, console)
    if not outcome.all_ok:
        raise typer.Exit(1)


def runs_from_options(options: dict, console) -> tuple[list, str]:
    """The run specs and the suite's name from `run`'s options (a suite, flags, --quick,
    --synthetic-if-missing); `dlbench estimate` takes the same options."""
    from rich.markup import escape

    from dlbench.spec.suite import Suite, load_suite

    suite, model = options["suite"], options["model"]
    lists = {k: _split(options[k]) for k in (*LIST_FIELDS, "tuning")}
    scalars = {k: options[k] for k in SCALAR_FIELDS}
    if options["target_on"] is not None and options["target_acc"] is None:
        raise UserError("--target-on needs --target-acc, e.g. --target-acc 0.9 --target-on test")
    if suite is None and model is None:
        suite = "default"
    if suite is not None:
        base = load_suite(suite)
    else:
        base = Suite(
            name="command line", description="", defaults={}, matrix={}, source="command line"
        )
    overrides = {k: v for k, v in scalars.items() if v is not None}
    matrix = dict(base.matrix)
    for key, values in lists.items():
        if values is None:
            continue
        if len(values) == 1:
            overrides[key] = values[0]
        else:
            matrix[key] = values
            overrides.pop(key, None)
    chosen = replace(base, matrix=matrix)
    runs = chosen.expand(overrides, repeats=options["repeats"])
    name = chosen.name
    if options["quick"]:
        from dlbench.runner.quick import quick as scale_down

        runs = scale_down(runs)
        name = f"{name} (quick)"
    if options["synthetic_if_missing"]:
        from dlbench.runner.quick import synthetic_stand_ins

        runs, notes = synthetic_stand_ins(runs, options["data_dir"])
        for note in notes:
            console.print(f"[yellow]{escape(note)}[/]")
    return runs, name


def _announce_prediction(runs: list, db: Path, data_dir: Path | None, console) -> dict | None:
    """Print the suite's predicted total before it starts; the predictions by run id, for the
    store and the progress bar. Missing probes: a note, and the runs go ahead unpredicted."""
    from dlbench.runner.estimate import MissingProbes, predict_runs, suite_total_s
    from dlbench.runner.execute import expand_devices

    try:
        expanded = expand_devices(runs)
        predictions = predict_runs(expanded, db, data_dir)
    except MissingProbes as exc:
        console.print(f"[dim]no prediction: {exc}[/]")
        return None
    except UserError:
        return None  # bad input: execute's checks say what and how to fix it
    total_s = suite_total_s(expanded, predictions)
    stale = any(p.stale for p in predictions)
    console.print(
        f"predicted: {len(expanded)} run(s), {_duration(total_s)} in all"
        + (" [yellow](from stale probes: `dlbench probe --calibrate`)[/]" if stale else "")
    )
    return {r.run_id: p for r, p in zip(expanded, predictions, strict=True)}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
