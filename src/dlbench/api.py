"""The Python API: `dlbench.run(...)` and `dlbench.load(...)`, for notebooks and scripts.

It is the CLI's own path: `dlbench run` turns its flags into the arguments of `run()` and
prints the `Results` it returns. Runs still happen one per child process, each stored in the
database as soon as it ends. Bad input raises `dlbench.errors.UserError` with the message the
CLI prints on its one line, before anything runs.

    import dlbench
    results = dlbench.run(model="a-mlp", dataset="fashion-mnist",
                          framework=["torch", "keras-jax"], epochs=2, limit_train=2000)
    results.to_pandas()
    results.plot_learning_curves()

Only the standard library and dlbench's light modules are imported here; the runner, the
store and the report are imported when a function is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbench.errors import UserError

if TYPE_CHECKING:
    from dlbench.results import Results
    from dlbench.spec.run import RunSpec

DEFAULT_DB = Path("dlbench.sqlite")
# Fields that take several values (a matrix over them); the others take one.
LIST_FIELDS = ("model", "dataset", "framework", "device", "tuning", "precision", "tf32")
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

# How a field given by the caller is named in an error: `framework='nosuch'` in Python,
# `--framework nosuch` on the command line (the CLI passes its own).
Namer = Callable[[str, Any], str]


def keyword_name(key: str, value: Any) -> str:
    return f"{key}={value!r}"


def flag_name(key: str, value: Any) -> str:
    return f"--{key.replace('_', '-')} {value}"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a suite: the runs that finished are stored; `--resume` does the rest."""

    def __init__(self, stored: int, left: int, db: Path) -> None:
        self.stored, self.left, self.db = stored, left, db
        super().__init__(
            f"{stored} run(s) stored in {db}, {left} not run: run the same command with "
            "--resume to finish them"
        )


def _as_list(key: str, value: Any) -> list[Any] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, dict)) else list(value)
    if not items:
        raise UserError(f"{key}: give one or more values")
    return items


def check_given(fields: dict[str, Any], name: Namer = keyword_name) -> None:
    """Each value the caller gave, checked on its own: an error names the argument (or the
    flag) it came from, not the suite file it would have been merged into."""
    from pydantic import ValidationError

    from dlbench.spec.run import RunSpec, error_text

    for key, value in fields.items():
        for v in value if key in LIST_FIELDS else [value]:
            try:
                RunSpec(**{key: v})
            except ValidationError as exc:
                raise UserError(f"{name(key, v)}: {error_text(exc.errors()[0])}") from None


def build_runs(
    suite: str | Path | None = None,
    fields: dict[str, Any] | None = None,
    repeats: int = 1,
    name: Namer = keyword_name,
) -> tuple[str, list[RunSpec]]:
    """The suite's name and its runs: a suite file or built-in name (the default suite when
    neither a suite nor a model is given), with `fields` applied over it. A field with several
    values becomes a matrix entry; with one, it overrides the suite's value."""
    from dataclasses import replace

    from dlbench.spec.suite import Suite, load_suite

    fields = {k: v for k, v in (fields or {}).items() if v is not None}
    lists = {k: _as_list(k, fields.pop(k, None)) for k in LIST_FIELDS}
    unknown = set(fields) - set(SCALAR_FIELDS)
    if unknown:
        raise UserError(
            f"unknown run field {sorted(unknown)[0]!r}; use {', '.join(LIST_FIELDS + SCALAR_FIELDS)}"
        )
    check_given({**fields, **{k: v for k, v in lists.items() if v is not None}}, name)
    if fields.get("target_on") is not None and fields.get("target_acc") is None:
        raise UserError(
            f"{name('target_on', fields['target_on'])} needs a target accuracy, e.g. "
            f"{name('target_acc', 0.9)}"
        )
    if suite is None and lists["model"] is None:
        suite = "default"
    if suite is not None:
        base = load_suite(suite)
    else:
        base = Suite(
            name="command line", description="", defaults={}, matrix={}, source="command line"
        )
    overrides = dict(fields)
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
    return chosen.name, chosen.expand(overrides, repeats=repeats)


def run(
    suite: str | Path | None = None,
    *,
    model: str | Sequence[str] | dict | None = None,
    dataset: str | Sequence[str] | None = None,
    framework: str | Sequence[str] | None = None,
    device: str | Sequence[str] | None = None,
    tuning: str | Sequence[str] | None = None,
    precision: str | Sequence[str] | None = None,
    tf32: str | Sequence[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    momentum: float | None = None,
    init: str | None = None,
    seed: int | None = None,
    threads: int | None = None,
    normalize: str | None = None,
    val_fraction: float | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    target_acc: float | None = None,
    target_on: str | None = None,
    keep: str | None = None,
    repeats: int = 1,
    db: str | Path = DEFAULT_DB,
    resume: bool = False,
    timeout_s: float = 3600.0,
    data_dir: str | Path | None = None,
    save: bool = True,
    quick: bool = False,
    synthetic_if_missing: bool = False,
    progress: bool = True,
    executor: str = "local",
    address: str | None = None,
    nodes: str = "any",
    _name: Namer = keyword_name,
    _console: Any = None,
) -> Results:
    """Train, time and test every run of a suite, store each, and return them as `Results`.

    `suite`: a YAML file or a built-in suite name (`default`, `crossover`, ...); with neither
    a suite nor a `model`, the default suite. `model`, `dataset`, `framework`, `device` and
    `tuning` take one value or a list (a list is a matrix: one run per value, every
    combination); the other fields override the suite's value. `repeats` runs each
    configuration that many times (seeds seed..seed+N-1), for a median and an interval.
    `progress` draws a progress bar per run (in a terminal or in Jupyter). `executor="ray"`
    sends each run to a Ray cluster (`address`, else RAY_ADDRESS, else a local Ray instance);
    `nodes="all"` runs each run once on every kind of machine in it (docs/cluster.md).

    Every run happens in its own process and is stored in `db` when it ends. Raises
    `UserError` on bad input before anything runs; on Ctrl-C raises `Interrupted` (a
    KeyboardInterrupt) saying how many runs were stored; `resume=True` then finishes the rest.
    """
    from dlbench.results import Results

    fields = {
        "model": model,
        "dataset": dataset,
        "framework": framework,
        "device": device,
        "tuning": tuning,
        "precision": precision,
        "tf32": tf32,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "init": init,
        "seed": seed,
        "threads": threads,
        "normalize": normalize,
        "val_fraction": val_fraction,
        "limit_train": limit_train,
        "limit_test": limit_test,
        "target_acc": target_acc,
        "target_on": target_on,
        "keep": keep,
    }
    db = Path(db)
    data_dir = Path(data_dir) if data_dir is not None else None
    console = _console or _make_console()
    name, runs = prepare_runs(
        suite, fields, repeats, quick, synthetic_if_missing, data_dir, console, _name
    )
    runner = _executor(executor, address, nodes)
    try:
        outcome = _execute(
            runs,
            db,
            name,
            resume,
            data_dir,
            timeout_s,
            save,
            console,
            progress,
            runner,
        )
    finally:
        if runner is not None:
            runner.close()
    for line in outcome.dropped:
        from rich.markup import escape

        console.print(f"[yellow]skipped {escape(line)}[/]")
    if outcome.skipped:
        console.print(f"[dim]--resume: {outcome.skipped} run(s) already stored as done, skipped[/]")
    return Results.from_ids(db, outcome.row_ids, name=name, all_ok=outcome.all_ok)


def _make_console():
    from dlbench.cli.console import make_console

    return make_console()


def _executor(name: str, address: str | None, nodes: str):
    """None (the local executor) or a RayExecutor; the flags only Ray reads are refused without
    it, so that a typo does not silently run everything here."""
    if name == "local":
        if address is not None or nodes != "any":
            raise UserError("--address and --nodes need --executor ray")
        return None
    if name != "ray":
        raise UserError(f"--executor {name!r}: choose local or ray")
    from dlbench.runner.ray_executor import RayExecutor

    return RayExecutor(address, nodes)


def prepare_runs(
    suite: str | Path | None,
    fields: dict[str, Any],
    repeats: int,
    quick: bool,
    synthetic_if_missing: bool,
    data_dir: Path | None,
    console: Any,
    name: Namer = keyword_name,
) -> tuple[str, list[RunSpec]]:
    """`build_runs`, then --quick's scaling and --synthetic-if-missing's stand-ins (said on
    `console`): the runs `run` makes and `dlbench estimate` predicts."""
    suite_name, runs = build_runs(suite, fields, repeats, name)
    if quick:
        from dlbench.runner.quick import quick as scale_down

        runs = scale_down(runs)
        suite_name = f"{suite_name} (quick)"
    if synthetic_if_missing:
        from rich.markup import escape

        from dlbench.runner.quick import synthetic_stand_ins

        runs, notes = synthetic_stand_ins(runs, data_dir)
        for note in notes:
            console.print(f"[yellow]{escape(note)}[/]")
    return suite_name, runs


def duration_text(seconds: float) -> str:
    """Seconds as a person reads a planned duration: 45 s, 3.5 min, 2.1 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def announce_prediction(runs: list, db: Path, data_dir: Path | None, console) -> dict | None:
    """Print the suite's predicted total before it starts (`runs`: expanded and checked); the
    predictions by run id, for the store and the progress bar. Missing probes: a note, and the
    runs go ahead unpredicted."""
    from dlbench.runner.estimate import MissingProbes, predict_runs, suite_total_s

    expanded = runs
    try:
        predictions = predict_runs(expanded, db, data_dir)
    except MissingProbes as exc:
        console.print(f"[dim]no prediction: {exc}[/]")
        return None
    except UserError:
        return None  # bad input: execute's checks say what and how to fix it
    total_s = suite_total_s(expanded, predictions)
    stale = any(p.stale for p in predictions)
    console.print(
        f"predicted: {len(expanded)} run(s), {duration_text(total_s)} in all"
        + (" [yellow](from stale probes: `dlbench probe --calibrate`)[/]" if stale else "")
    )
    return {r.run_id: p for r, p in zip(expanded, predictions, strict=True)}


def _execute(
    runs,
    db,
    name,
    resume,
    data_dir,
    timeout_s,
    save,
    console,
    progress,
    runner=None,
):
    """execute() with a progress display, and Ctrl-C turned into `Interrupted`."""
    from contextlib import nullcontext

    from dlbench.runner.execute import Progress, execute

    counts = {"stored": 0, "todo": None}
    display = None
    if progress:
        from dlbench.cli.progress import RunProgress

        display = RunProgress(console)
        callbacks = display.callbacks()
    else:
        callbacks = Progress()

    def start(p, i, n):
        counts["todo"] = n
        callbacks.on_start(p, i, n)

    def done(p, row):
        counts["stored"] += 1
        callbacks.on_done(p, row)

    counted = Progress(on_start=start, on_event=callbacks.on_event, on_done=done)

    def predict(checked):
        predictions = announce_prediction(checked, db, data_dir, console)
        if display is not None and predictions:
            from dlbench.runner.estimate import walls_s

            walls = walls_s(checked, [predictions[r.run_id] for r in checked])
            display.expect({r.run_id: w for r, w in zip(checked, walls, strict=True)})
        return predictions

    try:
        with display or nullcontext():
            return execute(
                runs,
                db,
                suite=name,
                resume=resume,
                data_dir=data_dir,
                timeout_s=timeout_s,
                save=save,
                progress=counted,
                executor=runner,
                predict=predict,
            )
    except KeyboardInterrupt:
        if counts["todo"] is None:
            raise  # stopped while checking the runs: nothing ran, nothing was stored
        raise Interrupted(counts["stored"], counts["todo"] - counts["stored"], db) from None


def load(db: str | Path = DEFAULT_DB, runs: str | None = None) -> Results:
    """The runs stored in `db` as `Results`; `runs` selects some, as `--runs` does
    (ids and ranges `1,4-6` and/or conditions `model=a-mlp,device=cpu`)."""
    from dlbench.results import Results

    return Results.load(db, runs)
