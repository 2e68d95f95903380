"""`dlbench show RUN`: one stored run in full: spec, measurements, options, fingerprint, epochs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError

# Measurements printed in this order, with their units; the rest of the row follows.
_MEASURES = (
    ("status", ""),
    ("message", ""),
    ("started_at", ""),
    ("finished_at", ""),
    ("params", ""),
    ("params_excl_bn", ""),
    ("macs", "multiply-adds per sample"),
    ("train_samples", ""),
    ("val_samples", ""),
    ("test_samples", ""),
    ("import_s", "s"),
    ("load_s", "s"),
    ("build_s", "s"),
    ("compile_s", "s"),
    ("first_epoch_s", "s"),
    ("steady_epoch_s", "s (median of epochs 2..n)"),
    ("train_s", "s"),
    ("test_s", "s"),
    ("wall_s", "s (the run's whole process)"),
    ("samples_per_s", ""),
    ("test_loss", ""),
    ("test_acc", ""),
    ("target_acc", ""),
    ("target_on", ""),
    ("tta_epoch", ""),
    ("tta_s", "s of training until the target"),
    ("train_flops_per_epoch", "FLOPs (forward + backward)"),
    ("achieved_flops_per_s", "FLOP/s"),
    ("peak_flops_per_s", "FLOP/s (GEMM probe, float32)"),
    ("peak_rss_bytes", "bytes"),
    ("peak_device_bytes", "bytes"),
    ("cpu_energy_j", "J (RAPL)"),
    ("gpu_energy_j", "J (NVML)"),
    ("load_before_pct", "% of one core used by other processes before the run"),
    ("load_during_pct", "% of one core used by other processes during the run"),
    ("noisy", ""),
    ("weights_path", ""),
)


def find_run(rows, ref: str):
    """A stored row by its number, or the latest with a run id (hash) starting with `ref`."""
    if ref.isdigit():
        for r in rows:
            if r.id == int(ref):
                return r
    matches = [r for r in rows if str(r["run_id"] or "").startswith(ref)]
    if matches:
        return matches[-1]
    raise UserError(f"no run {ref!r} in the database: `dlbench results` lists ids and run ids")


def _fmt(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:.4g}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


@app.command("show")
def show_cmd(
    run: str = typer.Argument(..., help="Row id (from `dlbench results`) or run id (hash)."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Print one run fully."""
    from rich.markup import escape
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.frameworks.threads import describe as describe_threads
    from dlbench.report.columns import notes
    from dlbench.store.db import Store

    if fmt not in ("text", "json"):
        raise UserError(f"unknown format {fmt!r}; choose text or json")
    with Store(db, readonly=True) as store:
        row = find_run(store.runs(), run)
    if fmt == "json":
        body = {"id": row.id, **row.values, "epoch_records": row.epochs}
        typer.echo(json.dumps(body, indent=2, sort_keys=True, default=str))
        return
    console = make_console()
    console.rule(f"run {row.id}: {escape(str(row['model']))} ({row['run_id']})")
    measures = Table(title="measurements", show_header=False, box=None)
    shown = set()
    warm_import_s = (row["extra"] or {}).get("warm_import_s")
    for key, unit in _MEASURES:
        shown.add(key)
        measures.add_row(key, escape(_fmt(row[key], unit)))
        if key == "import_s" and warm_import_s is not None:
            why = "s: forked from a warm process that imported the framework once, for the suite"
            measures.add_row("warm_import_s", escape(_fmt(warm_import_s, why)))
    console.print(measures)
    if threads := describe_threads(row["options"] or {}):
        console.print(f"threads: {escape(threads)}")

    spec = dict(row.spec)
    layers = (spec.pop("model", None) or {}).get("layers", [])
    console.print("[bold]spec[/]")
    for k in sorted(spec):
        console.print(f"  {k}: {escape(json.dumps(spec[k]))}")
    console.print("  layers:")
    for layer in layers:
        fields = ", ".join(f"{k}={v}" for k, v in layer.items() if k != "type")
        console.print(f"    - {layer['type']}({escape(fields)})")

    for title, data in (("options", row["options"]), ("fingerprint", row["fingerprint"])):
        console.print(f"[bold]{title}[/]")
        for k, v in sorted((data or {}).items()):
            text = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)
            console.print(f"  {k}: {escape(text)}")

    if row.epochs:
        epochs = Table(title="epochs", header_style="bold")
        cols = [c for c in row.epochs[0] if any(e.get(c) is not None for e in row.epochs)]
        for c in cols:
            epochs.add_column(c, justify="right")
        for e in row.epochs:
            epochs.add_row(*(_fmt(e.get(c), "") for c in cols))
        console.print(epochs)
    for line in notes([row]):
        console.print(f"[dim]- {escape(line)}[/]")
