"""How training went: time to accuracy, learning curves, accuracy against model size, and epoch
time against work (the crossover)."""

from __future__ import annotations

from dlbench.report.page import (
    Figures,
    Section,
    Table,
    dataset_name,
    run_label,
    short,
    slug,
)
from dlbench.report.text import pct
from dlbench.store.db import RunRow


def _acc_series(r: RunRow, key: str) -> tuple[list[float], list[float]]:
    seconds, acc, total = [], [], 0.0
    for e in r.epochs:
        total += e.get("epoch_s") or 0.0
        if e.get(key) is not None:
            seconds.append(total)
            acc.append(e[key])
    return seconds, acc


def time_to_accuracy_section(rows: list[RunRow], figs: Figures) -> Section:
    from dlbench.report.figures import time_to_accuracy_figure

    s = Section("time-to-accuracy", "Time to accuracy")
    targeted = [r for r in rows if r["target_acc"] is not None]
    if targeted:
        s.p(
            "Time to accuracy: the training seconds (sum of epoch times, evaluation left out) "
            "until the first epoch whose accuracy reached the run's target."
        )
        s.table(
            Table(
                [
                    "run",
                    "model",
                    "dataset",
                    "framework",
                    "device",
                    "target",
                    "on",
                    "epoch",
                    "seconds",
                ],
                [
                    [
                        str(r.id),
                        r["model"],
                        r["dataset"],
                        r["framework"],
                        r["device"],
                        pct(r["target_acc"]),
                        str(r["target_on"] or ""),
                        "not reached" if r["tta_epoch"] is None else str(r["tta_epoch"]),
                        "n/a" if r["tta_s"] is None else f"{r['tta_s']:.2f}",
                    ]
                    for r in targeted
                ],
                [True, False, False, False, False, True, False, True, True],
            )
        )
    else:
        s.note(
            "no run had an accuracy target (--target-acc): the curves below show the accuracy "
            "each run reached against its training time"
        )
    finished = [r for r in rows if r.epochs and not r["synthetic"]]
    out = []
    for ds in dict.fromkeys(dataset_name(r) for r in finished):
        runs = [r for r in finished if dataset_name(r) == ds]
        key = next(
            (
                k
                for k in ("test_acc", "val_acc", "train_acc")
                if any(e.get(k) is not None for r in runs for e in r.epochs)
            ),
            None,
        )
        if key is None:
            continue
        series = []
        for r in runs:
            seconds, acc = _acc_series(r, key)
            if acc:
                series.append((run_label(r), seconds, acc))
        what = {"test_acc": "test", "val_acc": "validation", "train_acc": "training"}[key]
        fig = time_to_accuracy_figure(
            f"{short(ds)}: {what} accuracy against training time", series, f"{what} accuracy %"
        )
        out.append(figs.add(fig, f"time-to-accuracy-{slug(ds)}", f"{ds}: time to accuracy"))
    s.figures(out)
    return s


def curves_section(rows: list[RunRow], figs: Figures) -> Section:
    from dlbench.report.figures import learning_curves_figure, overlay_figure

    s = Section("curves", "Learning curves")
    with_epochs = [r for r in rows if r.epochs]
    if not with_epochs:
        s.note("no run recorded epochs")
        return s
    s.p(
        "Training and validation loss and accuracy per epoch (validation only when the run "
        "held some out, --val-fraction); the star is the test accuracy after training."
    )
    groups: dict[tuple[str, str], list[RunRow]] = {}
    for r in with_epochs:
        groups.setdefault((str(r["model"]), dataset_name(r)), []).append(r)
    overlays = []
    for (model, ds), runs in groups.items():
        if len(runs) < 2:
            continue
        series = [(run_label(r), r.epochs) for r in runs]
        fig = overlay_figure(f"{model} on {short(ds, 40)}: runs compared", series)
        overlays.append(
            figs.add(fig, f"overlay-{slug(model)}-{slug(ds)}", f"{model} on {ds}: overlay")
        )
    if overlays:
        s.p("Runs of the same model on the same data, on one set of axes:")
        s.figures(overlays)
    per_run = []
    for r in with_epochs:
        acc = None if r["synthetic"] else r["test_acc"]
        fig = learning_curves_figure(run_label(r), r.epochs, acc)
        per_run.append(figs.add(fig, f"curves-run-{r.id}", run_label(r)))
    s.figures(per_run)
    return s


def budget_section(rows: list[RunRow], figs: Figures) -> Section:
    from dlbench.report.figures import budget_figure

    s = Section("budget", "Accuracy against model size")
    points = [
        {
            "dataset": short(dataset_name(r), 32),
            "model": r["model"],
            "params": r["params"],
            "macs": r["macs"],
            "acc": r["test_acc"],
        }
        for r in rows
        if r["status"] == "finished" and not r["synthetic"] and r["test_acc"] is not None
    ]
    if len({(p["model"], p["dataset"]) for p in points}) < 2:
        s.note("fewer than two models with a test accuracy: nothing to set against size")
        return s
    s.p(
        "Test accuracy against trainable parameters and against multiply-adds per sample "
        "(forward pass), as in report B's weight-budget study."
    )
    s.figures([figs.add(budget_figure(points), "budget", "accuracy against model size")])
    return s


def crossover_section(rows: list[RunRow], figs: Figures) -> Section:
    from dlbench.report.crossover import crossover_figure, crossovers, human, points

    s = Section("crossover", "Epoch time against work")
    pts = points([r for r in rows if r["status"] == "finished"])
    if len(pts) < 2:
        s.note("fewer than two finished configurations with an epoch time: no scaling to show")
        return s
    s.p(
        "Steady epoch time against the work of a step (multiply-adds per sample times the "
        "batch size), one line per device and framework. Small models favour the CPU; where "
        "the lines cross, the GPU starts to win (`dlbench run crossover` sweeps sizes)."
    )
    for c in crossovers(pts):
        where = f"{c.framework} on {c.device}" if c.device != "-" else c.framework
        s.note(f"crossover, {where}: {c.text}")
    s.table(
        Table(
            ["framework", "model", "device", "batch", "MACs/step", "epoch s", "runs"],
            [
                [
                    p.framework,
                    p.model,
                    p.device,
                    str(p.batch_size),
                    human(p.macs_per_step),
                    f"{p.epoch_s:.3g}",
                    str(p.runs),
                ]
                for p in pts
            ],
            [False, False, False, True, True, True, True],
        )
    )
    s.figures([figs.add(crossover_figure(pts), "crossover", "epoch time against work")])
    return s
