"""Runs set side by side: CPU against GPU, and framework against framework (report/comparison.py)."""

from __future__ import annotations

from dlbench.report.page import (
    Figures,
    Section,
    Table,
    short,
)
from dlbench.store.db import RunRow


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


def speedups_section(rows: list[RunRow], figs: Figures) -> Section:
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
    fig = speedup_figure([short(x, 70) for x in labels], values, lows, highs)
    s.figures([figs.add(fig, "speedup", "CPU vs GPU speedup")])
    return s


def frameworks_section(rows: list[RunRow], figs: Figures) -> Section:
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
        fig = framework_figure(short(g.title, 70), entries)
        out.append(figs.add(fig, f"frameworks-{i + 1}", g.title))
    s.figures(out)
    return s
