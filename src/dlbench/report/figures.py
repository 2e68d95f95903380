"""The report's figures, drawn with matplotlib (Agg, no pyplot state), saved as PNG and SVG.

Each `*_figure` function takes plain numbers and names and returns a `Figure`; `save` writes it
as `<stem>.png` and `<stem>.svg` and returns both files. User text (model, dataset and class
names) goes through `plain()`: matplotlib would read `$...$` as math. In SVG, matplotlib writes
text as glyph paths with the text in XML comments, escaped (`<` as `&lt;`, `--` broken up), so
an SVG may be inlined in HTML; the report still embeds it as an <img>, where no script runs.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PNG_DPI = 150  # sharp enough to paste into a document
_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "dlbench",  # stable ids: the same figure gives the same SVG bytes
    "figure.max_open_warning": 0,
    # a user's matplotlibrc cannot turn a layout on behind save()'s set_layout_engine(None)
    "figure.autolayout": False,
    "figure.constrained_layout.use": False,
}
MAX_ANNOTATED_CLASSES = 20  # above this, confusion cells carry colour only


@dataclass(frozen=True)
class FigureFile:
    stem: str
    png: Path
    svg: Path


def plain(text: Any) -> str:
    """User text as matplotlib shows it literally: `$` would start math mode; a leading `_`
    hides a legend entry."""
    s = str(text).replace("$", r"\$")
    return "\u200b" + s if s.startswith("_") else s


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, folder: Path, stem: str) -> FigureFile:
    """Write `fig` as PNG and SVG under `folder`; returns the paths."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    with matplotlib.rc_context(_RC):
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        # Laid out once: the PNG's draw has placed every axes (constrained layout, in fractions
        # of the figure). With no layout engine at all (None, not "none", whose placeholder
        # still makes savefig draw the figure once unrendered first), the SVG is one draw: the
        # same bytes, and a report of the tests' synthetic database took 6.7-8.2 s instead of
        # 7.8-9.2 s (three builds each way, side by side, 2-core EPYC; stop 26's note).
        fig.set_layout_engine(None)  # _RC keeps figure.autolayout and its kin off
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return FigureFile(stem, png, svg)


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


# -- learning curves --------------------------------------------------------------------------
def learning_curves_figure(title: str, epochs: list[dict[str, Any]], test_acc: float | None = None):
    """Training and validation loss and accuracy per epoch, one run."""
    with _rc():
        fig = _figure(7.0, 2.8)
        ax_loss, ax_acc = fig.subplots(1, 2)
        x = [e["epoch"] for e in epochs]
        for key, ax, label, style in (
            ("train_loss", ax_loss, "training", "-o"),
            ("val_loss", ax_loss, "validation", "--s"),
            ("train_acc", ax_acc, "training", "-o"),
            ("val_acc", ax_acc, "validation", "--s"),
        ):
            pts = [(xi, e.get(key)) for xi, e in zip(x, epochs, strict=True)]
            pts = [(a, b) for a, b in pts if b is not None and math.isfinite(b)]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, markersize=3, label=label)
        if test_acc is not None and x:
            ax_acc.plot([x[-1]], [test_acc], "k*", markersize=8, label="test")
        ax_loss.set(title="loss", xlabel="epoch")
        ax_acc.set(title="accuracy", xlabel="epoch")
        for ax in (ax_loss, ax_acc):
            ax.xaxis.get_major_locator().set_params(integer=True)
            if x:
                ax.set_xlim(min(x) - 0.3, max(x) + 0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        fig.suptitle(textwrap.fill(plain(title), 90))
    return fig


def overlay_figure(title: str, series: Sequence[tuple[str, list[dict[str, Any]]]]):
    """Several runs' curves on one set of axes: training loss and validation (or training)
    accuracy per epoch."""
    with _rc():
        fig = _figure(7.0, 3.0)
        ax_loss, ax_acc = fig.subplots(1, 2)
        any_val = any(e.get("val_acc") is not None for _, eps in series for e in eps)
        acc_key = "val_acc" if any_val else "train_acc"
        for i, (label, eps) in enumerate(series):
            color = f"C{i % 10}"
            x = [e["epoch"] for e in eps]
            ax_loss.plot(
                x, [e.get("train_loss") for e in eps], "-o", ms=3, color=color, label=plain(label)
            )
            acc = [(e["epoch"], e.get(acc_key)) for e in eps if e.get(acc_key) is not None]
            if acc:
                ax_acc.plot(*zip(*acc, strict=True), "-o", ms=3, color=color, label=plain(label))
        ax_loss.set(title="training loss", xlabel="epoch")
        ax_acc.set(title=acc_key.replace("_", " ").replace("val", "validation"), xlabel="epoch")
        for ax in (ax_loss, ax_acc):
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax_acc.legend(fontsize=7, loc="best")
        fig.suptitle(plain(title))
    return fig


# -- confusion matrices -----------------------------------------------------------------------
def confusion_figure(
    cm: np.ndarray,
    row_names: Sequence[str],
    col_names: Sequence[str],
    title: str,
    mapping: Sequence[int | None] | None = None,
):
    """Counts with rows true and columns predicted, per-class recall at the right of each row.

    `mapping` (for a matrix that is not square) gives each row's model class, None when the
    model does not know the class; those rows are marked "unknown" and their recall is 0."""
    cm = np.asarray(cm, dtype=np.int64)
    n_rows, n_cols = cm.shape
    if mapping is None:
        mapping = [i if i < n_cols else None for i in range(n_rows)]
    side = max(n_rows, n_cols)
    with _rc():
        size = min(2.2 + 0.3 * max(side, 8), 10.0)  # one scale for small and large matrices
        fig = _figure(size * n_cols / side + 1.8, size * n_rows / side + 0.8)
        ax = fig.add_subplot()
        totals = cm.sum(axis=1, keepdims=True)
        share = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="equal")
        ax.grid(False)
        if side <= MAX_ANNOTATED_CLASSES:
            fs = 8 if side <= 10 else 6
            for i in range(n_rows):
                for j in range(n_cols):
                    if cm[i, j] or mapping[i] == j:
                        color = "white" if share[i, j] > 0.6 else "black"
                        ax.text(
                            j, i, str(cm[i, j]), ha="center", va="center", fontsize=fs, color=color
                        )
        for i, m in enumerate(mapping):
            if m is not None and m != i:  # the correct cell is off the diagonal: outline it
                ax.add_patch(_box(m, i))
        ax.set_xticks(range(n_cols), [plain(n) for n in col_names], rotation=45, ha="right")
        labels = [
            plain(n) + ("" if m is not None else " (unknown)")
            for n, m in zip(row_names, mapping, strict=True)
        ]
        ax.set_yticks(range(n_rows), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        right = ax.secondary_yaxis("right")
        recalls = []
        for i, m in enumerate(mapping):
            t = int(totals[i, 0])
            recalls.append(
                "n/a" if not t else f"{100 * (cm[i, m] if m is not None else 0) / t:.0f}%"
            )
        right.set_yticks(range(n_rows), recalls)
        right.set_ylabel("recall")
        right.tick_params(length=0, labelsize=7)
        ax.set_title(textwrap.fill(plain(title), 60))
    return fig


def _box(col: int, row: int):
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="C3", linewidth=1.5)


# -- comparisons ------------------------------------------------------------------------------
def speedup_figure(labels: Sequence[str], values: Sequence[float], lows, highs):
    """Horizontal bars of T_cpu / T_gpu, whiskers over repeats, a line at 1 (no gain)."""
    with _rc():
        fig = _figure(7.0, 1.2 + 0.55 * len(labels))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        err = np.array(
            [
                [v - lo for v, lo in zip(values, lows, strict=True)],
                [hi - v for v, hi in zip(values, highs, strict=True)],
            ]
        )
        colors = ["C2" if v >= 1 else "C3" for v in values]
        ax.barh(y, values, xerr=err if err.any() else None, color=colors, capsize=3)
        ax.axvline(1.0, color="black", linewidth=1)
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, f" {v:.2f}x", va="center", fontsize=8)
        ax.set_yticks(y, [textwrap.fill(plain(s), 34) for s in labels])
        ax.invert_yaxis()
        ax.set_xlabel("speedup T_cpu / T_gpu (steady epoch); above 1: the GPU is faster")
        ax.set_xlim(0, max([*values, *highs, 1.0]) * 1.2)
    return fig


def framework_figure(title: str, entries: Sequence[dict[str, Any]]):
    """Bars per framework: steady epoch time and test accuracy, whiskers min-max over repeats.

    `entries`: framework, epoch (median, low, high) or None, acc (median, low, high) or None."""
    with _rc():
        fig = _figure(7.0, 2.6)
        ax_t, ax_a = fig.subplots(1, 2)
        names = [plain(e["framework"]) for e in entries]
        x = np.arange(len(entries))
        for ax, key, label, scale in (
            (ax_t, "epoch", "steady epoch s", 1.0),
            (ax_a, "acc", "test accuracy %", 100.0),
        ):
            vals = [e[key][0] * scale if e[key] else 0.0 for e in entries]
            lo = [(e[key][0] - e[key][1]) * scale if e[key] else 0.0 for e in entries]
            hi = [(e[key][2] - e[key][0]) * scale if e[key] else 0.0 for e in entries]
            yerr = np.array([lo, hi]) if any(lo) or any(hi) else None
            ax.bar(x, vals, yerr=yerr, capsize=4, color=[f"C{i}" for i in range(len(entries))])
            for xi, e, v in zip(x, entries, vals, strict=True):
                text = "n/a" if not e[key] else (f"{v:.2f}" if scale == 1 else f"{v:.1f}")
                ax.text(xi, v, text, ha="center", va="bottom", fontsize=8)
            ax.set_xticks(x, names, rotation=20, ha="right")
            ax.set_title(label)
        if any(e["acc"] for e in entries):
            low = min(e["acc"][1] for e in entries if e["acc"]) * 100
            ax_a.set_ylim(max(0.0, low - 10), 100)
        fig.suptitle(textwrap.fill(plain(title), 90))
    return fig


def time_to_accuracy_figure(
    title: str, series: Sequence[tuple[str, list[float], list[float]]], ylabel: str
):
    """Accuracy reached against cumulative training seconds, one line per run."""
    with _rc():
        fig = _figure(7.0, 3.2)
        ax = fig.add_subplot()
        for i, (label, seconds, acc) in enumerate(series):
            ax.plot(
                seconds, [100 * a for a in acc], "-o", ms=3, color=f"C{i % 10}", label=plain(label)
            )
        ax.set(xlabel="training seconds (sum of epoch times)", ylabel=ylabel)
        ax.set_title(textwrap.fill(plain(title), 80))
        if any(s[1] and max(s[1]) / max(min(s[1]), 1e-9) > 50 for s in series):
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    return fig


# -- budgets --------------------------------------------------------------------
def budget_figure(points: Sequence[dict[str, Any]]):
    """Test accuracy against parameters and against multiply-adds per sample, per dataset
    (report B's weight-budget study). Points: dataset, model, params, macs, acc."""
    from matplotlib.ticker import NullFormatter

    with _rc():
        fig = _figure(7.5, 3.2)
        axes = fig.subplots(1, 2, sharey=True)
        datasets = sorted({p["dataset"] for p in points})
        for ax, key, label in (
            (axes[0], "params", "parameters"),
            (axes[1], "macs", "multiply-adds per sample"),
        ):
            for i, ds in enumerate(datasets):
                pts = sorted(
                    (p for p in points if p["dataset"] == ds and p[key]), key=lambda p: p[key]
                )
                if not pts:
                    continue
                ax.scatter(
                    [p[key] for p in pts],
                    [100 * p["acc"] for p in pts],
                    color=f"C{i % 10}",
                    label=plain(ds),
                    s=18,
                )
                seen = set()
                for p in pts:
                    if p["model"] not in seen:
                        seen.add(p["model"])
                        ax.annotate(
                            plain(p["model"]),
                            (p[key], 100 * p["acc"]),
                            fontsize=6,
                            xytext=(3, 3),
                            textcoords="offset points",
                        )
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # crowded labels on a short range
            ax.set_xlabel(label)
        axes[0].set_ylabel("test accuracy %")
        axes[0].legend(fontsize=7)
        fig.suptitle("accuracy against model size")
    return fig


# -- images -----------------------------------------------------------------------------------
def _show(ax, img: np.ndarray) -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def sample_grid_figure(
    images: np.ndarray,
    true_names: Sequence[str],
    pred_names: Sequence[str],
    probs: Sequence[float],
    title: str,
):
    """Test images with true and predicted class; wrong predictions in red."""
    n = len(images)
    cols = min(8, n) or 1
    rows = math.ceil(n / cols)
    with _rc():
        fig = _figure(1.1 * cols + 0.4, 1.35 * rows + 0.5)
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax in axes[n:]:
            ax.set_axis_off()
        for ax, img, t, p, pr in zip(axes, images, true_names, pred_names, probs, strict=False):
            _show(ax, img)
            ok = t == p
            ax.set_title(
                f"{plain(t)}\n→ {plain(p)} {100 * pr:.0f}%",
                fontsize=6.5,
                color="black" if ok else "C3",
            )
            for side in ax.spines.values():
                side.set_edgecolor("black" if ok else "C3")
                side.set_linewidth(0.5 if ok else 2)
        fig.suptitle(plain(title) + "  (true → predicted, probability; red: wrong)", fontsize=8)
    return fig


def feature_map_figure(
    layer: str,
    maps: np.ndarray,
    inputs: np.ndarray,
    labels: Sequence[str],
    stage: str = "",
    max_cols: int = 10,
):
    """One layer's feature maps (N, C, H, W) for N samples: per sample, its input image then
    every channel, wrapped at `max_cols` channels per row."""
    n, c = maps.shape[:2]
    cols = min(c, max_cols)
    rows_per = math.ceil(c / cols)
    with _rc():
        fig = _figure(0.75 * (cols + 1) + 0.3, 0.8 * rows_per * n + 0.5)
        grid = fig.add_gridspec(rows_per * n, cols + 1)
        for s in range(n):
            ax = fig.add_subplot(grid[s * rows_per : (s + 1) * rows_per, 0])
            _show(ax, inputs[s])
            ax.set_title(plain(labels[s]), fontsize=6.5)
            for ch in range(c):
                r, col = divmod(ch, cols)
                ax = fig.add_subplot(grid[s * rows_per + r, col + 1])
                ax.imshow(maps[s, ch], cmap="viridis", interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                if s == 0 and r == 0:
                    ax.set_title(str(ch + 1), fontsize=6)
        stage = f" ({stage})" if stage else ""
        fig.suptitle(f"{plain(layer)}: {c} channels of {maps.shape[2]}x{maps.shape[3]}{stage}")
    return fig
