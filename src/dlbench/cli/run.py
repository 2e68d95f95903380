"""`dlbench run`: a suite (a file, a built-in name, or the default) or runs from flags.

A thin layer over `dlbench.run` (api.py): comma lists become lists (matrix entries), and
errors name the flag the user typed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError


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
    threads: int = typer.Option(
        None,
        "--threads",
        help="CPU threads (default: the framework's own; `tuned` torch and keras-torch on a "
        "CPU time each count in warm-up and keep the fastest).",
    ),
    tuning: str = typer.Option(
        None, "--tuning", help="default (as tutorials do it), tuned, or default,tuned for both."
    ),
    precision: str = typer.Option(
        None,
        "--precision",
        help="float32 (default), bf16-mixed or fp16-mixed (products in bfloat16/float16, "
        "weights and loss in float32); comma separated for several.",
    ),
    tf32: str = typer.Option(
        None,
        "--tf32",
        help="on or off (default): TensorFloat-32 for float32 products on NVIDIA GPUs, "
        "set the same way in every framework.",
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
    wide: bool = typer.Option(
        False, "--wide", help="Every column in the table (default: what fits 100 columns)."
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        help="local (this machine, one run at a time) or ray (a Ray cluster: docs/cluster.md).",
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="--executor ray: the cluster's HOST:PORT (default: RAY_ADDRESS, else a local Ray).",
    ),
    nodes: str = typer.Option(
        "any",
        "--nodes",
        help="--executor ray: any (each run wherever it fits) or all (once on every kind of "
        "machine in the cluster).",
    ),
) -> None:
    """Train, time and test; store every run; print the results table."""
    from dlbench.api import Interrupted, flag_name
    from dlbench.api import run as run_suite
    from dlbench.cli.console import make_console
    from dlbench.report.table import print_table

    console = make_console()
    try:
        results = run_suite(
            suite,
            model=_split(model),
            dataset=_split(dataset),
            framework=_split(framework),
            device=_split(device),
            tuning=_split(tuning),
            precision=_split(precision),
            tf32=_split(tf32),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            momentum=momentum,
            init=init,
            seed=seed,
            threads=threads,
            normalize=normalize,
            val_fraction=val_fraction,
            limit_train=limit_train,
            limit_test=limit_test,
            target_acc=target_acc,
            target_on=target_on,
            keep=keep,
            repeats=repeats,
            db=db,
            resume=resume,
            timeout_s=timeout,
            data_dir=data_dir,
            save=not no_save,
            quick=quick,
            synthetic_if_missing=synthetic_if_missing,
            executor=executor,
            address=address,
            nodes=nodes,
            _name=flag_name,
            _console=console,
        )
    except Interrupted as exc:
        # typer turns Ctrl-C into exit 130 without a word: say what is kept and what is left.
        typer.echo(f"interrupted: {exc}", err=True)
        raise typer.Exit(130) from None
    rows = results.rows
    if rows:
        title = f"{results.name}: {len(rows)} run(s), stored in {db}"
        print_table(rows, console, title=title, wide=wide)
        if results.name == "crossover":
            from dlbench.report.crossover import print_crossover

            print_crossover(rows, console)
    if not results.all_ok:
        raise typer.Exit(1)


def runs_from_options(options: dict, console) -> tuple[list, str]:
    """The run specs and the suite's name from `run`'s options (a suite, flags, --quick,
    --synthetic-if-missing), through the API's own path; `dlbench estimate` takes them too."""
    from dlbench.api import LIST_FIELDS, SCALAR_FIELDS, flag_name, prepare_runs

    fields = {k: _split(options[k]) for k in LIST_FIELDS if k in options}
    fields.update({k: options[k] for k in SCALAR_FIELDS if k in options})
    name, runs = prepare_runs(
        options["suite"],
        fields,
        options["repeats"],
        options["quick"],
        options["synthetic_if_missing"],
        options["data_dir"],
        console,
        flag_name,
    )
    return runs, name
