"""The HTML report: one self-contained file a person can open from disk, read on a phone, print.

`build_report(db, out)` reads the store (and the runs' artifacts folders for saved models,
evaluations and feature maps), draws every figure with report/figures.py, writes each as PNG
and SVG into `<out stem>_files/` beside the report, and renders templates/report.html.j2.

Self-contained: figures are embedded as `data:` SVG images, the CSS is inline, there is no
script, and a Content-Security-Policy forbids any request but `data:` images; the file makes
no network request. Safe: every user string (model, dataset and class names, paths) is escaped
by Jinja2's autoescape and never marked safe; figures are SVG inside <img>, where no script
runs, and matplotlib escapes the text it writes into SVG.

The sample-prediction grid needs a model: it rebuilds the best run with saved weights of each
dataset (frameworks/restore.py), at most MAX_SAMPLE_GRIDS of them; without weights, a framework
or the dataset, the section says why it is empty.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.store.db import RunRow

FILES_MARK = ".dlbench-report"  # marks a figures folder as ours, so a new report may clear it
MAX_SAMPLE_GRIDS = 4  # datasets that get a sample-prediction grid (each rebuilds a model)
SAMPLE_GRID_N = 16  # test images per grid
MAX_TITLE = 56  # characters of a name in a figure title before it is shortened


# -- what the template renders ----------------------------------------------------------------
@dataclass
class FigureRef:
    stem: str
    title: str
    caption: str
    uri: str  # data:image/svg+xml;base64,...
    png: Path
    svg: Path
    wide: bool = False  # spans the full width (image grids)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    caption: str = ""
    row_classes: list[str] = field(default_factory=list)


@dataclass
class Block:
    kind: str  # p, note, warn, table, figures, kv
    text: str = ""
    table: Table | None = None
    figures: list[FigureRef] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(Block("p", text))

    def note(self, text: str) -> None:
        self.blocks.append(Block("note", text))

    def warn(self, text: str) -> None:
        self.blocks.append(Block("warn", text))

    def table(self, table: Table) -> None:
        self.blocks.append(Block("table", table=table))

    def figures(self, figs: list[FigureRef]) -> None:
        if figs:
            self.blocks.append(Block("figures", figures=figs))

    def kv(self, items: list[tuple[str, str]]) -> None:
        self.blocks.append(Block("kv", items=items))


@dataclass
class ReportResult:
    path: Path
    files: list[Path]  # every figure, PNG and SVG
    runs: int
    notes: list[str]


# -- helpers ----------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def _short(text: Any, limit: int = MAX_TITLE) -> str:
    s = str(text)
    if len(s) <= limit:
        return s
    half = (limit - 1) // 2
    return s[:half] + "…" + s[-half:]


def run_label(r: RunRow) -> str:
    return (
        f"run {r.id}: {r['model']} / {_short(r['dataset'], 32)} / {r['framework']} / {r['device']}"
    )


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _sec(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def _dataset_name(r: RunRow) -> str:
    return str(r["dataset"])


class _Figures:
    """Saves figures into the report's folder and keeps what the template needs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.count = 0

    def add(self, fig, stem: str, title: str, caption: str = "", wide: bool = False) -> FigureRef:
        from dlbench.report.figures import save

        self.count += 1
        stem = f"{self.count:02d}-{stem}"
        saved = save(fig, self.folder, stem)
        self.files += [saved.png, saved.svg]
        return self._ref(stem, title, caption, saved.png, saved.svg, wide)

    def copy(self, png: Path, svg: Path, stem: str, title: str, caption: str) -> FigureRef:
        """A figure drawn earlier (feature maps): copied in, embedded the same way."""
        import shutil

        self.count += 1
        stem = f"{self.count:02d}-{stem}"
        dst_png, dst_svg = self.folder / f"{stem}.png", self.folder / f"{stem}.svg"
        shutil.copyfile(png, dst_png)
        shutil.copyfile(svg, dst_svg)
        self.files += [dst_png, dst_svg]
        return self._ref(stem, title, caption, dst_png, dst_svg, wide=True)

    @staticmethod
    def _ref(
        stem: str, title: str, caption: str, png: Path, svg: Path, wide: bool = False
    ) -> FigureRef:
        data = base64.b64encode(svg.read_bytes()).decode("ascii")
        uri = f"data:image/svg+xml;base64,{data}"
        return FigureRef(stem, title, caption, uri, png, svg, wide)


def _prepare_folder(folder: Path) -> None:
    """Create the figures folder, or clear the figures of an earlier report in it; refuse a
    folder that dlbench did not make."""
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"{folder} is a file; choose another --out")
        if not (folder / FILES_MARK).exists() and any(folder.iterdir()):
            raise UserError(
                f"{folder} exists and was not made by `dlbench report`; choose another --out "
                "(dlbench never deletes files it did not write)"
            )
        for f in folder.iterdir():
            if f.is_file() and f.suffix in (".png", ".svg"):
                f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILES_MARK).write_text("figures of a dlbench report; cleared by the next one\n")


# -- sections ---------------------------------------------------------------------------------
def _summary(rows: list[RunRow]) -> Section:
    from dlbench.report.columns import formatted_rows, notes, visible_columns, warnings

    s = Section("summary", "Summary")
    columns = visible_columns(rows)
    s.table(
        Table(
            [c.title for c in columns],
            formatted_rows(rows, columns),
            [c.numeric for c in columns],
            row_classes=[f"status-{_slug(r['status'])}" for r in rows],
        )
    )
    warned = set(warnings(rows))  # notes() carries them too: shown as warnings
    for line in notes(rows):
        (s.warn if line in warned else s.note)(line)
    warnings = fairness(rows)
    if warnings is None:
        s.note("fairness checks are not available in this dlbench version")
    elif warnings:
        for w in warnings:
            s.warn(w)
    else:
        s.note("fairness: no two runs set side by side differ in more than what is compared")
    return s


def fairness(rows: list[RunRow]) -> list[str] | None:
    """Warnings from report/fairness.py for the runs compared by device and by framework;
    None when that module is absent."""
    try:
        from dlbench.report.fairness import fairness_warnings
    except ImportError:
        return None
    out: list[str] = []
    for compared in ("device", "framework"):
        for w in fairness_warnings(rows, compared) or []:
            text = str(getattr(w, "message", w))
            if text not in out:
                out.append(text)
    return out


def _comparison(rows: list[RunRow], by: str):
    """report/comparison.py's groups for `by` that hold two or more values of it."""
    from dlbench.report import comparison

    if not any(r["status"] == "finished" for r in rows):
        return None, []
    comp = comparison.compare(rows, by)
    return comp, [g for g in comp.groups if len(g.entries) >= 2]


def _comparison_table(comp, groups) -> Table:
    from dlbench.report import comparison

    view = type(comp)(comp.by, comp.metric, comp.centre, groups, [], comp.rows)
    head = comparison.headers(view)
    return Table(head, comparison.text_rows(view), [i not in (0, 1, 9) for i in range(len(head))])


def _speedups(rows: list[RunRow], figs: _Figures) -> Section:
    from dlbench.report.figures import speedup_figure

    s = Section("speedups", "CPU vs GPU")
    comp, groups = _comparison(rows, "device")
    pairs = []  # (label, speedup, min, max) for each GPU against its group's CPU
    for g in groups:
        cpu = next((e for e in g.entries if e.value == "cpu"), None)
        for e in g.entries:
            if cpu is None or e is cpu or e.ratio is None:
                continue
            c, t = cpu.summary, e.summary
            pairs.append((f"{g.title} / {e.value}", e.ratio, c.min / t.max, c.max / t.min))
    if not pairs:
        s.note(
            "no pair of finished runs differs only in device (with two or more epochs, for a "
            "steady epoch time): run the same spec with --device cpu,cuda to see the speedup"
        )
        return s
    s.p(
        "Speedup = T_cpu / T_gpu of the steady epoch time (median of epochs 2..n; the first "
        "epoch, with its warm-up, is left out), for runs that differ only in device. Above 1 "
        "the GPU is faster. Whiskers: min(T_cpu)/max(T_gpu) to max(T_cpu)/min(T_gpu) over "
        "repeats; the table's 95% interval is a bootstrap of the median."
    )
    s.table(_comparison_table(comp, groups))
    for line in comp.notes:
        s.note(line)
    labels, values, lows, highs = zip(*pairs, strict=True)
    fig = speedup_figure([_short(x, 70) for x in labels], values, lows, highs)
    s.figures([figs.add(fig, "speedup", "CPU vs GPU speedup")])
    return s


def _frameworks(rows: list[RunRow], figs: _Figures) -> Section:
    from dlbench.report.figures import framework_figure

    s = Section("frameworks", "Frameworks compared")
    comp, groups = _comparison(rows, "framework")
    if not groups:
        s.note(
            "no group of finished runs differs only in framework: run one spec with "
            "--framework torch,keras-tf (or all) to compare them"
        )
        return s
    s.p(
        "Runs that differ only in framework (same model, data, device, optimizer, batch and "
        "epochs). Bars are medians over repeats; whiskers span min to max when there are "
        "repeats. In the table, speedup vs baseline = T_torch / T_framework; relative: the "
        "fastest at 1.00."
    )
    s.table(_comparison_table(comp, groups))

    def trio(summary) -> tuple[float, float, float] | None:
        return (summary.centre, summary.min, summary.max) if summary.n else None

    out = []
    for i, g in enumerate(groups):
        entries = [
            {
                "framework": e.value,
                "epoch": trio(e.summary),
                "acc": trio(e.config.summary("test_acc")),
            }
            for e in g.entries
        ]
        fig = framework_figure(_short(g.title, 70), entries)
        out.append(figs.add(fig, f"frameworks-{i + 1}", g.title))
    s.figures(out)
    return s


def _acc_series(r: RunRow, key: str) -> tuple[list[float], list[float]]:
    seconds, acc, total = [], [], 0.0
    for e in r.epochs:
        total += e.get("epoch_s") or 0.0
        if e.get(key) is not None:
            seconds.append(total)
            acc.append(e[key])
    return seconds, acc


def _time_to_accuracy(rows: list[RunRow], figs: _Figures) -> Section:
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
                        _pct(r["target_acc"]),
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
    for ds in dict.fromkeys(_dataset_name(r) for r in finished):
        runs = [r for r in finished if _dataset_name(r) == ds]
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
            f"{_short(ds)}: {what} accuracy against training time", series, f"{what} accuracy %"
        )
        out.append(figs.add(fig, f"time-to-accuracy-{_slug(ds)}", f"{ds}: time to accuracy"))
    s.figures(out)
    return s


def _curves(rows: list[RunRow], figs: _Figures) -> Section:
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
        groups.setdefault((str(r["model"]), _dataset_name(r)), []).append(r)
    overlays = []
    for (model, ds), runs in groups.items():
        if len(runs) < 2:
            continue
        series = [(run_label(r), r.epochs) for r in runs]
        fig = overlay_figure(f"{model} on {_short(ds, 40)}: runs compared", series)
        overlays.append(
            figs.add(fig, f"overlay-{_slug(model)}-{_slug(ds)}", f"{model} on {ds}: overlay")
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


def _confusions(rows: list[RunRow], db: Path, figs: _Figures) -> Section:
    from dlbench.frameworks.restore import load_evaluations
    from dlbench.report.figures import confusion_figure

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
        out.append(figs.add(fig, f"confusion-run-{r.id}", run_label(r), _classes(names)))
    if out:
        s.figures(out)
    else:
        s.note("no finished run stored a confusion matrix")
    for r in rows:
        for ev in load_evaluations(r, db):
            _evaluation(s, r, ev, figs, confusion_figure)
    return s


def _classes(names: list[str], limit: int = 20) -> str:
    """The class names in a caption (the figure's text is not searchable or read aloud)."""
    shown = ", ".join(str(n) for n in names[:limit])
    return f"classes {shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _evaluation(s: Section, r: RunRow, ev: dict, figs: _Figures, draw: Callable) -> None:
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
        f"Accuracy {_pct(ev.get('accuracy'))} over all images"
    )
    if unknown:
        text += (
            f"; the model does not know {', '.join(unknown)}, so every image of "
            f"{'that class' if len(unknown) == 1 else 'those classes'} counts as wrong "
            f"(accuracy over the {ev.get('known_samples')} images of known classes: "
            f"{_pct(ev.get('accuracy_known'))})."
        )
    else:
        text += "."
    s.p(text)
    title = f"run {r.id} on {_short(ev['dataset'], 40)}"
    fig = draw(ev["confusion"], names, model_names, title, ev.get("mapping"))
    stem = f"evaluation-run-{r.id}-{_slug(ev['dataset'])}"
    s.figures([figs.add(fig, stem, title, _classes(names))])


def _budget(rows: list[RunRow], figs: _Figures) -> Section:
    from dlbench.report.figures import budget_figure

    s = Section("budget", "Accuracy against model size")
    points = [
        {
            "dataset": _short(_dataset_name(r), 32),
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


def _crossover(rows: list[RunRow], figs: _Figures) -> Section:
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


def _samples(
    rows: list[RunRow], db: Path, figs: _Figures, data_dir: Path | None, enabled: bool
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
    datasets = list(dict.fromkeys(_dataset_name(r) for r in candidates))
    if len(datasets) > MAX_SAMPLE_GRIDS:
        s.note(
            f"{len(datasets)} datasets: grids for the first {MAX_SAMPLE_GRIDS} only "
            "(each rebuilds a model); use --runs to choose"
        )
    s.p(
        f"The first {SAMPLE_GRID_N} test images of each dataset, predicted by its most accurate "
        "run with saved weights: true class, predicted class and probability; wrong in red."
    )
    out = []
    for ds in datasets[:MAX_SAMPLE_GRIDS]:
        best = sorted(
            (r for r in candidates if _dataset_name(r) == ds), key=lambda r: -r["test_acc"]
        )
        why = ""
        for r in best[:3]:  # another run may rebuild where the best cannot (Keras backends)
            try:
                fig = _sample_grid(r, db, data_dir)
            except Exception as exc:  # noqa: BLE001 - one grid never sinks the whole report
                text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                why = f"run {r.id}: {text}"
                continue
            title = f"{ds}: predictions of run {r.id}"
            out.append(figs.add(fig, f"samples-{_slug(ds)}", title, wide=True))
            break
        else:
            s.note(f"{ds}: no grid ({why})")
    s.figures(out)
    return s


def _sample_grid(r: RunRow, db: Path, data_dir: Path | None):
    from dlbench.data import load_dataset
    from dlbench.frameworks.restore import restore
    from dlbench.report.figures import sample_grid_figure

    model = restore(r, db, data_dir=data_dir)
    ds = load_dataset(r["dataset"], data_dir, limit_train=0, limit_test=SAMPLE_GRID_N)
    probs = model.predict(model.prepare(ds.x_test))
    pred = probs.argmax(axis=1)
    true_names = [ds.class_names[y] for y in ds.y_test]
    pred_names = [model.class_names[p] for p in pred]
    return sample_grid_figure(ds.x_test, true_names, pred_names, probs.max(axis=1), run_label(r))


def _feature_maps(rows: list[RunRow], db: Path, figs: _Figures) -> Section:
    from dlbench.frameworks.restore import FEATUREMAPS_DIR, artifacts_dir
    from dlbench.report.featuremaps import read_index

    s = Section("featuremaps", "Feature maps")
    out = []
    for r in rows:
        folder = artifacts_dir(r, db)
        if folder is None:
            continue
        stored = folder / FEATUREMAPS_DIR
        for e in read_index(stored).get("figures", []):
            png, svg = stored / Path(e["png"]).name, stored / Path(e["svg"]).name
            if png.exists() and svg.exists():
                samples = ", ".join(e.get("labels") or [str(x) for x in e["samples"]])
                title = f"run {r.id}, {e['layer']}: samples {samples}"
                stem = f"featuremaps-run-{r.id}-{_slug(e['layer'])}"
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


_MACHINE_KEYS = ("cpu", "cpu_count", "machine", "os", "python", "hostname", "dlbench", "git_commit")


def _machine(rows: list[RunRow]) -> Section:
    s = Section("machine", "Machine")
    seen: dict[str, list[int]] = {}
    prints: dict[str, dict] = {}
    for r in rows:
        fp = r["fingerprint"] or {}
        common = {
            k: v for k, v in fp.items() if k not in ("framework_versions", "device", "threads")
        }
        key = json.dumps(common, sort_keys=True, default=str)
        seen.setdefault(key, []).append(r.id)
        prints[key] = common
    if not seen:
        s.note("no fingerprint stored")
        return s
    for key, ids in seen.items():
        fp = prints[key]
        items = [(k, str(fp[k])) for k in _MACHINE_KEYS if fp.get(k) is not None]
        libs = fp.get("libraries") or {}
        if libs:
            items.append(("libraries", ", ".join(f"{k} {v}" for k, v in sorted(libs.items()))))
        items += [
            (k, json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v))
            for k, v in sorted(fp.items())
            if k not in _MACHINE_KEYS and k != "libraries" and v is not None
        ]
        items.insert(0, ("runs", _id_ranges(ids)))
        s.kv(items)
    per_run = []
    for r in rows:
        fp = r["fingerprint"] or {}
        versions = fp.get("framework_versions") or {}
        device = fp.get("device") or {}
        options = r["options"] or {}
        per_run.append(
            [
                str(r.id),
                str(r["framework"]),
                str(r["device"]),
                str(device.get("name") or options.get("device_name") or ""),
                ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
                str(fp.get("threads") or options.get("threads") or ""),
                ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "device_name"),
            ]
        )
    s.table(
        Table(
            ["run", "framework", "device", "device name", "versions", "threads", "options"],
            per_run,
            [True, False, False, False, False, True, False],
        )
    )
    return s


def _id_ranges(ids: list[int]) -> str:
    """1,2,3,5 -> "1-3,5"."""
    ids = sorted(set(ids))
    parts: list[str] = []
    start = prev = ids[0]
    for cur in [*ids[1:], None]:
        if cur is not None and cur == prev + 1:
            prev = cur
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cur is not None:
            start = prev = cur
    return ",".join(parts)


# -- the report -------------------------------------------------------------------------------
def build_report(
    db: Path,
    out: Path,
    *,
    runs: str | None = None,
    data_dir: Path | None = None,
    samples: bool = True,
) -> ReportResult:
    """Write the report for the runs of `db` chosen by `runs` (a --runs filter)."""
    from dlbench.report.select import select_runs
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = select_runs(store.runs(), runs)
    if not rows:
        raise UserError(
            f"{db} holds no runs"
            + (f" matching --runs {runs}" if runs else "")
            + ": run `dlbench run` first, or change --runs"
        )
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    if not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist; create it first")
    folder = out.with_name(f"{out.stem}_files")
    _prepare_folder(folder)
    figs = _Figures(folder)
    from dlbench.report.predicted import predicted_section

    sections = [
        _summary(rows),
        _speedups(rows, figs),
        _frameworks(rows, figs),
        _time_to_accuracy(rows, figs),
        _curves(rows, figs),
        _confusions(rows, db, figs),
        _budget(rows, figs),
        _crossover(rows, figs),
        predicted_section(rows, figs),
        _samples(rows, db, figs, data_dir, samples),
        _feature_maps(rows, db, figs),
        _machine(rows),
    ]
    html = render(
        sections,
        title="dlbench report",
        subtitle=f"{len(rows)} run(s) from {db}" + (f", --runs {runs}" if runs else ""),
        files_dir=folder.name,
        files=figs.files,
    )
    out.write_text(html, encoding="utf-8")
    notes = [f"{s.title}: {b.text}" for s in sections for b in s.blocks if b.kind == "note"]
    return ReportResult(out, figs.files, len(rows), notes)


def render(
    sections: list[Section], *, title: str, subtitle: str, files_dir: str, files: list[Path]
) -> str:
    """The HTML text. Jinja2 escapes every value; nothing is marked safe."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dlbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    figures = [b.figures for s in sections for b in s.blocks if b.kind == "figures"]
    return template.render(
        title=title,
        subtitle=subtitle,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=sections,
        figure_count=sum(len(f) for f in figures),
        files_dir=files_dir,
        files=[f.name for f in files],
    )
