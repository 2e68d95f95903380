"""`dlbench estimate`: predicted times of the runs `dlbench run` would make, from the probes.

It takes `run`'s own options (the signature is `run`'s, less what only a real run needs), so
a suite or a flag means the same here as there. docs/estimating.md states the model.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.cli.run import run_cmd

NOT_FOR_ESTIMATE = ("resume", "timeout", "no_save", "wide", "executor", "address", "nodes")


def estimate_cmd(**options) -> None:
    """Predict each run's first epoch, steady epoch, test and wall time, and the suite's total."""
    from rich.markup import escape
    from rich.table import Table

    from dlbench.api import duration_text as _duration
    from dlbench.cli.console import make_console
    from dlbench.cli.run import runs_from_options
    from dlbench.runner.estimate import MissingProbes, predict_runs, suite_total_s
    from dlbench.runner.execute import expand_devices

    console = make_console()
    runs, name = runs_from_options(options, console)
    runs = expand_devices(runs) if not options["device_profile"] else runs
    db, data_dir, profile = options["db"], options["data_dir"], options["device_profile"]
    if options["refresh_probes"]:
        _refresh(runs, db, data_dir, console)
    try:
        predictions = predict_runs(runs, db, data_dir, profile)
    except MissingProbes as exc:
        exc.args = (f"{exc}, or add --refresh-probes",)
        raise
    where = f"{profile} (spec-sheet estimate)" if profile else "this machine"
    table = Table(title=f"{name}: {len(runs)} run(s) predicted on {where}", header_style="bold")
    for col in ("run", "tuning", "batch", "steps", "first epoch", "epoch", "compute", "memory"):
        table.add_column(col, justify="left" if col in ("run", "tuning") else "right")
    for col in ("overhead", "test", "wall"):
        table.add_column(col, justify="right")
    for run, p in zip(runs, predictions, strict=True):
        label = run.label() if not profile else run.label().rsplit(" / ", 1)[0] + f" / {profile}"
        table.add_row(
            escape(label),
            run.tuning,
            str(run.batch_size),
            str(p.steps),
            f"{p.first_epoch_s:.2f} s",
            f"{p.epoch_s:.2f} s",
            f"{p.compute_s:.2f}",
            f"{p.memory_s:.2f}",
            f"{p.overhead_s:.2f}",
            f"{p.test_s:.2f} s",
            f"{p.wall_s:.1f} s",
        )
    console.print(table)
    console.print(
        f"suite total: {_duration(suite_total_s(runs, predictions))} "
        "(every run's process: start, import, data, build, compile, epochs, test)"
    )
    console.print(
        "[dim]- epoch = compute (layers bound by FLOPs over the GEMM rate of their shape) + "
        "memory (layers bound by bytes over the memory bandwidth, and the optimizer) + overhead "
        "(the framework's cost per step, sample and op, from its calibration); "
        "docs/estimating.md[/]"
    )
    stale = sorted({s for p in predictions for s in p.stale})
    if stale:
        console.print(
            f"[yellow]- stale probes: {escape('; '.join(stale))}: re-probe with "
            "`dlbench probe --calibrate` (or add --refresh-probes)[/]"
        )
    if profile:
        from dlbench.measure.profiles import profile as get_profile

        prof = get_profile(profile)
        console.print(
            f"[yellow]- a spec-sheet estimate for {escape(prof.description)} ({escape(prof.source)}"
            "): this machine's efficiency per shape and its framework costs, scaled to the "
            "sheet's peak and bandwidth; not a measurement[/]"
        )


def _refresh(runs, db: Path, data_dir: Path | None, console) -> None:
    """Measure the probes the runs need that are missing or stale (seconds per framework)."""
    from dlbench.measure.estimate import stale_reason
    from dlbench.runner.calibrate import probe_for_estimate
    from dlbench.runner.estimate import ProbeSet, _probes
    from dlbench.store.db import Store, check_db_path

    check_db_path(db)
    probes = ProbeSet(_probes(db))
    todo: dict[str, set[str]] = {}
    for run in runs:
        needed = probes.needed(run)
        if any(p is None or stale_reason(p) for p in needed.values()):
            todo.setdefault(run.device, set()).add(run.framework)
    with Store(db) as store:
        for device, frameworks in todo.items():
            with console.status(f"probing {device} for the estimate ({', '.join(frameworks)}) ..."):
                probe_for_estimate(
                    device, sorted(frameworks), None, data_dir, on_record=store.add_probe
                )


def _signature() -> inspect.Signature:
    params = [
        p for p in inspect.signature(run_cmd).parameters.values() if p.name not in NOT_FOR_ESTIMATE
    ]
    params += [
        inspect.Parameter(
            "device_profile",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                None,
                "--device-profile",
                help="Predict for a device that is not here, from its spec sheet "
                "(h100-sxm, a100-sxm, l4, t4, rtx-4090, epyc-9654, ...).",
            ),
            annotation=str,
        ),
        inspect.Parameter(
            "refresh_probes",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                False, "--refresh-probes", help="Measure missing or stale probes first."
            ),
            annotation=bool,
        ),
    ]
    return inspect.Signature(params)


estimate_cmd.__signature__ = _signature()  # type: ignore[attr-defined]
# typer reads the types from the annotations: run's, resolved (its module has postponed ones)
estimate_cmd.__annotations__ = {
    **{k: v for k, v in typing.get_type_hints(run_cmd).items() if k not in NOT_FOR_ESTIMATE},
    "device_profile": str,
    "refresh_probes": bool,
}
app.command("estimate")(estimate_cmd)
