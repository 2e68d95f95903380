"""`dlbench report`, `export`, `predict`, `featuremaps`, `evaluate`: what a person reads.

RUN is a run's id in the database, as `dlbench results` prints it. predict, featuremaps and
evaluate rebuild the run's trained model from its saved weights (frameworks/restore.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app

DB_HELP = "Results database."
RUNS_HELP = "Runs to include: ids (1,4-6) and/or field=value (model=a-mlp,device=cpu)."
DATA_HELP = "Where dataset files are (first place looked)."


@app.command("report")
def report_cmd(
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help=DB_HELP),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    runs: str = typer.Option(None, "--runs", help=RUNS_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_HELP),
    samples: bool = typer.Option(
        True, "--samples/--no-samples", help="Draw sample predictions (rebuilds models)."
    ),
) -> None:
    """Write a self-contained HTML report, with every figure also as PNG and SVG."""
    from dlbench.report.html import build_report

    result = build_report(db, out, runs=runs, data_dir=data_dir, samples=samples)
    figures = len(result.files) // 2
    typer.echo(f"wrote {result.path} ({result.runs} run(s), {figures} figure(s))")
    if result.files:
        typer.echo(f"figures, as PNG and SVG, in {result.files[0].parent}/:")
        for f in result.files:
            typer.echo(f"  {f}")


@app.command("export")
def export_cmd(
    fmt: str = typer.Option("csv", "--format", help="csv, json or md."),
    what: str = typer.Option("runs", "--what", help="runs, speedups or frameworks."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help=DB_HELP),
    runs: str = typer.Option(None, "--runs", help=RUNS_HELP),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file (default: stdout)."),
    mlflow: str = typer.Option(
        None,
        "--mlflow",
        help="Write the runs into this MLflow tracking store instead (sqlite:///mlflow.db, "
        "http://host:5000); needs dlbench[mlflow]. Exporting again adds only new runs.",
    ),
    experiment: str = typer.Option(
        "dlbench", "--experiment", help="The MLflow experiment (with --mlflow)."
    ),
) -> None:
    """Export runs, or the comparisons made from them, as CSV, JSON or Markdown, or the runs
    into MLflow."""
    from dlbench.report.export import export
    from dlbench.report.select import select_runs
    from dlbench.store.db import Store, check_db_path

    check_db_path(db, must_exist=True)
    with Store(db, readonly=True) as store:
        rows = select_runs(store.runs(), runs)
    if mlflow is not None:
        from dlbench.report.formats.mlflow import export as to_mlflow

        done = to_mlflow(rows, mlflow, db, experiment)
        typer.echo(
            f"MLflow {done.uri}, experiment {done.experiment}: {done.created} run(s) exported, "
            f"{done.present} already there"
        )
        return
    text = export(rows, fmt, what, db)
    if out is None:
        typer.echo(text, nl=False)
        return
    from dlbench.errors import UserError

    if out.is_dir() or not out.parent.exists():
        raise UserError(f"--out {out}: give a file in an existing folder")
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(rows)} run(s))")


@app.command("predict")
def predict_cmd(
    run: int = typer.Argument(..., help="Run id (see `dlbench results`)."),
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...)."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help=DB_HELP),
    top: int = typer.Option(1, "--top", min=1, help="Show the K most likely classes."),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_HELP),
) -> None:
    """Predict the class of each image with a run's trained model."""
    from dlbench.frameworks.restore import find_run, read_images, restore

    row = find_run(db, run)
    model = restore(row, db, data_dir=data_dir)
    c, h, w = model.input_shape
    typer.echo(
        f"run {row.id}: {row['model']} trained on {row['dataset']} ({row['framework']}); "
        f"images made {'gray' if c == 1 else 'RGB'} {h}x{w}, normalize {model.normalize_mode}"
    )
    probs = model.predict(model.prepare(read_images(images)))
    k = min(top, probs.shape[1])
    for path, p in zip(images, probs, strict=True):
        order = p.argsort()[::-1][:k]
        if k == 1:
            best = order[0]
            typer.echo(f"{path}: {model.class_names[best]} ({100 * p[best]:.1f}%)")
        else:
            ranked = "  ".join(
                f"{i + 1}. {model.class_names[c]} ({100 * p[c]:.1f}%)" for i, c in enumerate(order)
            )
            typer.echo(f"{path}: {ranked}")


@app.command("featuremaps")
def featuremaps_cmd(
    run: int = typer.Argument(..., help="Run id (see `dlbench results`)."),
    samples: str = typer.Option(
        "1,4,7", "--samples", help="Test samples, numbered from 1 (report B: 1,4,7)."
    ),
    layers: str = typer.Option(None, "--layers", help="Layers (default: every conv layer)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder (default: the run's artifacts folder, for the report)."
    ),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help=DB_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_HELP),
) -> None:
    """Draw the feature maps of a CNN run's convolution layers for chosen test samples."""
    from dlbench.frameworks.restore import FEATUREMAPS_DIR, find_run, restore
    from dlbench.report.featuremaps import parse_samples, write_feature_maps

    chosen = parse_samples(samples)
    wanted = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
    row = find_run(db, run)
    model = restore(row, db, data_dir=data_dir)
    folder = out or model.artifacts / FEATUREMAPS_DIR
    written, labels = write_feature_maps(model, chosen, wanted, folder, data_dir)
    typer.echo(f"run {row.id}: {row['model']} on {row['dataset']}; samples " + ", ".join(labels))
    for w in written:
        typer.echo(f"{w.layer}: {w.shape[1]} channels of {w.shape[2]}x{w.shape[3]}")
        typer.echo(f"  {w.png}")
        typer.echo(f"  {w.svg}")


@app.command("evaluate")
def evaluate_cmd(
    run: int = typer.Argument(..., help="Run id (see `dlbench results`)."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset to evaluate on."),
    split: str = typer.Option(
        "auto", "--split", help="test, train or all (auto: all of a folder:, else test)."
    ),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help=DB_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_HELP),
) -> None:
    """Evaluate a run's trained model on another dataset, whose classes may differ."""
    from dlbench.cli.console import make_console
    from dlbench.frameworks.restore import evaluate_dataset, find_run, restore, save_evaluation

    row = find_run(db, run)
    model = restore(row, db, data_dir=data_dir)
    record = evaluate_dataset(model, dataset, split, data_dir)
    path = save_evaluation(model, record)
    _print_evaluation(record, make_console())
    typer.echo(f"stored in {path} (shown by `dlbench report`)")


def conversion_note(ev: dict) -> str | None:
    """What was done to the dataset's images to fit the model, or None when they already did."""
    have, want = ev.get("input_shape"), ev.get("model_input_shape")
    if not have or not want or list(have) == list(want):
        return None

    def shape(s) -> str:
        c, h, w = s
        return f"{c}x{h}x{w} {'gray' if c == 1 else 'RGB' if c == 3 else f'{c}-channel'}"

    steps = []
    if have[0] != want[0]:
        steps.append("made gray" if want[0] == 1 else "made RGB")
    if list(have[1:]) != list(want[1:]):
        steps.append(f"resized to {want[1]}x{want[2]} (cv2.INTER_AREA)")
    return (
        f"images converted: {ev['dataset']} is {shape(have)}, the model was trained on "
        f"{shape(want)}: {', '.join(steps)}"
    )


def _print_evaluation(ev: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    rows, cols = ev["class_names"], ev["model_class_names"]
    table = Table(title=f"{escape(ev['dataset'])}: rows true (dataset), columns predicted (model)")
    table.add_column("true \\ predicted")
    for c in cols:
        table.add_column(escape(c), justify="right")
    table.add_column("recall", justify="right")
    for i, (name, m) in enumerate(zip(rows, ev["mapping"], strict=True)):
        counts = ev["confusion"][i]
        total = sum(counts)
        recall = "n/a" if not total else f"{100 * (counts[m] if m is not None else 0) / total:.0f}%"
        label = escape(name) + ("" if m is not None else " (unknown)")
        table.add_row(label, *(str(v) for v in counts), recall)
    console.print(table)
    converted = conversion_note(ev)
    if converted:
        console.print(f"[yellow]{escape(converted)}[/]")
    how = "by name" if ev["mapping_mode"] == "name" else "by position (no class name matches)"
    console.print(f"classes matched {how}; {ev['samples']} images ({ev['split']} split)")
    acc = ev["accuracy"]
    console.print(
        f"accuracy: {100 * acc:.2f}% of all images" if acc is not None else "accuracy: n/a"
    )
    if ev["unknown_classes"]:
        known = ev["accuracy_known"]
        console.print(
            f"unknown to the model: {escape(', '.join(ev['unknown_classes']))}: their images "
            f"always count as wrong; accuracy over the {ev['known_samples']} images of known "
            f"classes: " + (f"{100 * known:.2f}%" if known is not None else "n/a")
        )
