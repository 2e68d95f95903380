"""What the trained models did: confusion matrices (stored with the runs, and evaluations on
other datasets from their artifacts folders), sample predictions and feature maps.

The sample-prediction grid needs a model: the best run with saved weights of each dataset is
rebuilt in a child process (runner/predictions.py, one per framework), at most MAX_SAMPLE_GRIDS
of them, so the report's own process never imports a framework; without weights, a framework
or the dataset, the section says why it is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlbench.errors import UserError, exception_line
from dlbench.report.page import (
    Figures,
    Section,
    classes_caption,
    dataset_name,
    run_label,
    short,
    slug,
)
from dlbench.report.text import pct
from dlbench.store.db import RunRow

MAX_SAMPLE_GRIDS = 4  # datasets that get a sample-prediction grid (each rebuilds a model)
SAMPLE_GRID_N = 16  # test images per grid
SAMPLE_TIMEOUT_S = 600.0  # one model's process: rebuild, load, predict


def confusions_section(rows: list[RunRow], db: Path, figs: Figures) -> Section:
    from dlbench.report.figures import confusion_figure
    from dlbench.store.evaluations import load_evaluations

    s = Section("confusion", "Confusion matrices")
    s.p(
        "Rows are the true classes, columns the predicted ones; each cell is a count of test "
        "images and its colour the share of its row; the right axis gives each class's recall."
    )
    out = []
    for r in rows:
        if not r["confusion"] or r["synthetic"]:
            continue
        names = r["class_names"] or [str(i) for i in range(len(r["confusion"]))]
        fig = confusion_figure(r["confusion"], names, names, run_label(r))
        out.append(figs.add(fig, f"confusion-run-{r.id}", run_label(r), classes_caption(names)))
    if out:
        s.figures(out)
    else:
        s.note("no finished run stored a confusion matrix")
    for r in rows:
        for ev in load_evaluations(r, db):
            _evaluation(s, r, ev, figs, confusion_figure)
    return s


def _evaluation(s: Section, r: RunRow, ev: dict, figs: Figures, draw: Callable) -> None:
    names, model_names = ev["class_names"], ev["model_class_names"]
    unknown = ev.get("unknown_classes") or []
    how = (
        "classes are matched by name"
        if ev.get("mapping_mode") == "name"
        else "no class name matches, so classes are matched by position (dataset class i is "
        "model class i)"
    )
    text = (
        f"Run {r.id} ({r['model']}, trained on {r['dataset']}) evaluated on {ev['dataset']} "
        f"({ev.get('split', 'test')} split, {ev['samples']} images): rows are the dataset's "
        f"{len(names)} classes, columns the model's {len(model_names)}; {how}. "
        f"Accuracy {pct(ev.get('accuracy'))} over all images"
    )
    if unknown:
        text += (
            f"; the model does not know {', '.join(unknown)}, so every image of "
            f"{'that class' if len(unknown) == 1 else 'those classes'} counts as wrong "
            f"(accuracy over the {ev.get('known_samples')} images of known classes: "
            f"{pct(ev.get('accuracy_known'))})."
        )
    else:
        text += "."
    s.p(text)
    title = f"run {r.id} on {short(ev['dataset'], 40)}"
    fig = draw(ev["confusion"], names, model_names, title, ev.get("mapping"))
    stem = f"evaluation-run-{r.id}-{slug(ev['dataset'])}"
    s.figures([figs.add(fig, stem, title, classes_caption(names))])


def samples_section(
    rows: list[RunRow], db: Path, figs: Figures, data_dir: Path | None, enabled: bool
) -> Section:
    s = Section("samples", "Sample predictions")
    if not enabled:
        s.note("skipped (--no-samples)")
        return s
    candidates = [
        r
        for r in rows
        if r["status"] == "finished"
        and r["weights_path"]
        and not r["synthetic"]
        and r["test_acc"] is not None
    ]
    if not candidates:
        s.note(
            "no finished run kept its weights (runs with --no-save keep none): nothing to "
            "predict with"
        )
        return s
    datasets = list(dict.fromkeys(dataset_name(r) for r in candidates))
    if len(datasets) > MAX_SAMPLE_GRIDS:
        s.note(
            f"{len(datasets)} datasets: grids for the first {MAX_SAMPLE_GRIDS} only "
            "(each rebuilds a model); use --runs to choose"
        )
    s.p(
        f"The first {SAMPLE_GRID_N} test images of each dataset, predicted by its most accurate "
        "run with saved weights: true class, predicted class and probability; wrong in red."
    )
    # Each dataset's best three runs, tried in turn (another may rebuild where the best cannot:
    # weights gone); each round predicts with one process per framework.
    tries: dict[str, list[RunRow]] = {}
    for ds in datasets[:MAX_SAMPLE_GRIDS]:
        ranked = sorted(
            (r for r in candidates if dataset_name(r) == ds), key=lambda r: -r["test_acc"]
        )
        tries[ds] = ranked[:3]
    grids: dict[str, tuple[RunRow, Any]] = {}
    why: dict[str, str] = {}
    for k in range(3):
        this_round = {
            ds: runs[k] for ds, runs in tries.items() if ds not in grids and k < len(runs)
        }
        if not this_round:
            break
        got = _predicted(list(this_round.values()), db, data_dir)
        for ds, r in this_round.items():
            try:
                grids[ds] = (r, _sample_grid(r, got[r.id], data_dir))
            except Exception as exc:  # noqa: BLE001 - one grid never sinks the whole report
                text = str(exc) if isinstance(exc, UserError) else exception_line(exc)
                why[ds] = f"run {r.id}: {text}"
    out = []
    for ds in tries:
        if ds in grids:
            r, fig = grids[ds]
            title = f"{ds}: predictions of run {r.id}"
            out.append(figs.add(fig, f"samples-{slug(ds)}", title, wide=True))
        else:
            s.note(f"{ds}: no grid ({why[ds]})")
    s.figures(out)
    return s


def _predicted(rows: list[RunRow], db: Path, data_dir: Path | None) -> dict[int, dict]:
    """Each run's predictions of the first test images, or {"error": why}: its model predicts
    in a process of its own (runner/predictions.py), one process per framework, as a run
    trains in one."""
    from dlbench.child import received, run_python

    by_framework: dict[str, list[RunRow]] = {}
    for r in rows:
        by_framework.setdefault(r["framework"], []).append(r)
    out: dict[int, dict] = {}
    for runs in by_framework.values():
        job = {
            "db": str(db),
            "runs": [r.id for r in runs],
            "n": SAMPLE_GRID_N,
            "data_dir": data_dir and str(data_dir),
        }
        stdout, error = run_python(
            ["-m", "dlbench.runner.predictions"], None, SAMPLE_TIMEOUT_S, job
        )
        got = received(stdout)
        for r in runs:
            if got is None:
                out[r.id] = {"error": f"its models' process {error or 'said nothing'}"}
            else:
                out[r.id] = got["runs"].get(str(r.id), {"error": "its models' process skipped it"})
    return out


def _sample_grid(r: RunRow, got: dict, data_dir: Path | None):
    """Run r's predictions of the first test images, drawn. UserError: why there is none."""
    import numpy as np

    from dlbench.data import load_dataset
    from dlbench.report.figures import sample_grid_figure

    if "error" in got:
        raise UserError(got["error"])
    probs = np.asarray(got["probs"])
    ds = load_dataset(r["dataset"], data_dir, limit_train=0, limit_test=SAMPLE_GRID_N)
    pred = probs.argmax(axis=1)
    true_names = [ds.class_names[y] for y in ds.y_test]
    pred_names = [got["class_names"][p] for p in pred]
    return sample_grid_figure(ds.x_test, true_names, pred_names, probs.max(axis=1), run_label(r))


def feature_maps_section(rows: list[RunRow], db: Path, figs: Figures) -> Section:
    from dlbench.report.featuremaps import read_index
    from dlbench.store.artifacts import featuremaps_dir

    s = Section("featuremaps", "Feature maps")
    out = []
    for r in rows:
        stored = featuremaps_dir(r, db)
        if stored is None:
            continue
        for e in read_index(stored).get("figures", []):
            png, svg = stored / Path(e["png"]).name, stored / Path(e["svg"]).name
            if png.exists() and svg.exists():
                samples = ", ".join(e.get("labels") or [str(x) for x in e["samples"]])
                title = f"run {r.id}, {e['layer']}: samples {samples}"
                stem = f"featuremaps-run-{r.id}-{slug(e['layer'])}"
                out.append(figs.copy(png, svg, stem, title, ""))
    if out:
        s.p(
            "Outputs of the convolution layers (after their own activation, if any) for chosen test "
            "samples, stored by `dlbench featuremaps`: the input first, then each channel."
        )
        s.figures(out)
    else:
        s.note("none stored: `dlbench featuremaps RUN --samples 1,4,7` draws them for a CNN run")
    return s
