"""`dlbench compare --by FIELD`: configurations that differ in one field, side by side.

Configurations (report/stats.py: the runs of one resolved spec, repeats pooled) are grouped by
everything but the compared field; within a group each value of the field gets its centre and
95% interval, the ratio to the baseline and a relative column with the best at 1.00
(hyperfine). For times the ratio is baseline / this, the reports' speedup (T_cpu / T_gpu with
the CPU as baseline): above 1, faster than the baseline. For accuracy it is the difference in
percentage points. Where the intervals overlap the verdict is "no clear difference"; where a
side has one run it is "1 run, no interval". One function per export format.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from dlbench.errors import UserError
from dlbench.report.fairness import fairness_warnings
from dlbench.report.stats import (
    Config,
    Summary,
    config_key,
    configurations,
    spec_field,
    verdict,
)
from dlbench.report.text import pct
from dlbench.store.db import RunRow

COMPARE_METRICS = ("steady_epoch_s", "train_s", "test_s", "test_acc", "tta_s", "first_epoch_s")
DEFAULT_BASELINES = {"device": "cpu", "framework": "torch", "precision": "float32", "tf32": "off"}
# Fields shown in a group's title; any other spec field that varies between groups is added.
_TITLE_FIELDS = ("model", "dataset", "framework", "device")
_NOT_TITLE = {"repeat", "seed", "model", "model_name"}


def higher_is_better(metric: str) -> bool:
    return metric.endswith("_acc")


@dataclass
class Entry:
    value: str  # the compared field's value
    config: Config
    summary: Summary
    ratio: float | None = None  # time: baseline / this; accuracy: this - baseline
    relative: float | None = None  # the best at 1.00
    verdict: str = ""


@dataclass
class Group:
    title: str
    entries: list[Entry]
    baseline: str | None  # None: the group has no run with the baseline value


@dataclass
class Comparison:
    by: str
    metric: str
    centre: str
    groups: list[Group]
    notes: list[str] = field(default_factory=list)
    rows: list[RunRow] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "accuracy" if higher_is_better(self.metric) else "s"


def _value(row: RunRow, by: str) -> str:
    v = spec_field(row, by)
    return "none" if v is None else str(v)


def _known(rows: list[RunRow], by: str) -> bool:
    return by == "machine" or any(by in r.spec or by in r.values for r in rows)


def _title(config: Config, by: str, varying: list[str]) -> str:
    r = config.first
    parts = [str(spec_field(r, f)) for f in _TITLE_FIELDS if f != by]
    parts += [f"{f}={spec_field(r, f)}" for f in varying if f != by]
    return " / ".join(parts)


def _varying(configs: list[Config], by: str) -> list[str]:
    """Spec fields (other than the title's and `by`) whose value differs between configs."""
    keys = {k for c in configs for k in c.first.spec}  # a field some specs leave out counts
    keys -= set(_NOT_TITLE) | set(_TITLE_FIELDS) | {by}
    seen: dict[str, set[str]] = {}
    for c in configs:
        for k in keys:
            value = spec_field(c.first, k)
            seen.setdefault(k, set()).add(json.dumps(value, sort_keys=True, default=str))
    return sorted(k for k, vals in seen.items() if len(vals) > 1)


def compare(
    rows: list[RunRow],
    by: str,
    *,
    baseline: str | None = None,
    metric: str = "steady_epoch_s",
    centre: str = "median",
) -> Comparison:
    """Group finished runs by everything but `by`; one entry per value of `by` in each group."""
    if metric not in COMPARE_METRICS:
        raise UserError(f"--metric {metric!r}: choose from {', '.join(COMPARE_METRICS)}")
    finished = [r for r in rows if r["status"] == "finished"]
    if not finished:
        raise UserError("no finished runs to compare: run `dlbench run` first, or widen --runs")
    if not _known(finished, by):
        fields = sorted({k for r in finished for k in r.spec} | {"machine"})
        raise UserError(f"--by {by!r} is not a run field; choose from {', '.join(fields)}")
    if by == "machine" and baseline:  # a machine's key or part of its name will do
        from dlbench.store.machines import match_label

        baseline = match_label([_value(r, by) for r in finished], baseline)
    configs = configurations(finished, centre, keep=(by,))
    varying = _varying(configs, by)
    grouped: dict[str, list[Config]] = {}
    for c in configs:
        grouped.setdefault(config_key(c.first, (by,)), []).append(c)
    base_value = baseline or DEFAULT_BASELINES.get(by)
    better_high = higher_is_better(metric)
    groups = []
    for members in grouped.values():
        entries = [Entry(_value(c.first, by), c, c.summary(metric)) for c in members]
        values = [e.value for e in entries]
        base = base_value if base_value in values else (None if baseline else values[0])
        base_entry = next((e for e in entries if e.value == base), None)
        centres = [e.summary.centre for e in entries if e.summary.centre is not None]
        best = (max if better_high else min)(centres) if centres else None
        for e in entries:
            c = e.summary.centre
            if c is not None and best:
                e.relative = c / best
            if base_entry is None or c is None or base_entry.summary.centre is None:
                e.verdict = "no baseline" if base_entry is None else "n/a"
                continue
            b = base_entry.summary.centre
            e.ratio = (c - b) * 100 if better_high else (b / c if c else None)
            if e is base_entry:
                e.verdict = "baseline"
                continue
            why = verdict(base_entry.summary, e.summary)
            if why:
                e.verdict = why
            elif better_high:
                e.verdict = "higher" if c > b else "lower"
            else:
                e.verdict = "faster" if c < b else "slower"
        groups.append(Group(_title(members[0], by, varying), entries, base))
    notes = []
    if baseline and not any(g.baseline for g in groups):
        raise UserError(
            f"--baseline {baseline!r}: no run has {by}={baseline}; "
            f"values seen: {', '.join(sorted({e.value for g in groups for e in g.entries}))}"
        )
    if baseline and any(g.baseline is None for g in groups):
        notes.append(f"groups marked 'no baseline' have no run with {by}={baseline}")
    if all(len(g.entries) == 1 for g in groups):
        notes.append(
            f"no two configurations differ only in {by}: each group has one {by}; "
            "the table shows each configuration's spread over its repeats"
        )
    return Comparison(by, metric, centre, groups, notes, finished)


# -- numbers as text ---------------------------------------------------------------------


def _num(v: float | None, metric: str) -> str:
    if v is None or higher_is_better(metric):
        return pct(v)
    return f"{v:.4g}"


def _ratio(e: Entry, metric: str) -> str:
    if e.ratio is None:
        return "n/a"
    if higher_is_better(metric):
        return f"{e.ratio:+.2f} pp"
    return f"{e.ratio:.2f}x"


def records(comp: Comparison) -> list[dict[str, Any]]:
    """One flat record per entry: the raw numbers every export writes."""
    out = []
    for g in comp.groups:
        for e in g.entries:
            s = e.summary
            out.append(
                {
                    "group": g.title,
                    comp.by: e.value,
                    "baseline": g.baseline,
                    "metric": comp.metric,
                    "runs": s.n,
                    "centre": s.centre,
                    "centre_kind": s.centre_kind,
                    "ci95_lo": s.lo,
                    "ci95_hi": s.hi,
                    "min": s.min,
                    "max": s.max,
                    "iqr": s.iqr,
                    "cv": s.cv,
                    "vs_baseline": e.ratio,
                    "relative": e.relative,
                    "verdict": e.verdict,
                    "run_ids": " ".join(str(r.id) for r in e.config.runs),
                }
            )
    return out


def headers(comp: Comparison) -> list[str]:
    centre = "median" if comp.centre == "median" else "trimmed mean"
    vs = "vs baseline" if higher_is_better(comp.metric) else "speedup vs baseline"
    return [
        "group",
        comp.by,
        "runs",
        f"{centre} {comp.metric}",
        "95% interval",
        "IQR",
        "CV",
        vs,
        "relative",
        "verdict",
    ]


def text_rows(comp: Comparison) -> list[list[str]]:
    out = []
    for g in comp.groups:
        for i, e in enumerate(g.entries):
            s = e.summary
            out.append(
                [
                    g.title if i == 0 else "",
                    e.value + (" (baseline)" if e.value == g.baseline else ""),
                    str(s.n),
                    _num(s.centre, comp.metric),
                    s.interval_text(lambda v: _num(v, comp.metric)),
                    _num(s.iqr, comp.metric) if s.n > 1 else "n/a",
                    f"{s.cv:.1%}" if s.cv is not None else "n/a",
                    _ratio(e, comp.metric),
                    f"{e.relative:.2f}" if e.relative is not None else "n/a",
                    e.verdict,
                ]
            )
    return out


def comparison_notes(comp: Comparison) -> list[str]:
    """What to read under the table: how, then warnings that name the fix."""
    from dlbench.report.columns import warnings

    lines = list(comp.notes)
    if higher_is_better(comp.metric):
        lines.append("vs baseline: difference in percentage points; relative: best at 1.00")
    else:
        lines.append(
            f"speedup vs baseline = baseline {comp.metric} / this (above 1: faster); "
            "relative: fastest at 1.00"
        )
    lines.append(
        "95% interval: bootstrap of the "
        + ("median" if comp.centre == "median" else "trimmed mean")
        + " (2,000 resamples); overlapping intervals: no clear difference"
    )
    lines += warnings(comp.rows)
    lines += list(fairness_warnings(comp.rows, comp.by))
    return lines


# -- one function per format -------------------------------------------------------------


def print_table(comp: Comparison, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"compare by {comp.by}: {comp.metric} ({len(comp.rows)} finished runs)",
        header_style="bold",
    )
    for i, h in enumerate(headers(comp)):
        table.add_column(h, justify="left" if i in (0, 1, 9) else "right", overflow="fold")
    for cells in text_rows(comp):
        table.add_row(*(escape(c) for c in cells))
    console.print(table)
    for line in comparison_notes(comp):
        console.print(f"[dim]- {escape(line)}[/]")


def to_csv(comp: Comparison) -> str:
    recs = records(comp)
    out = io.StringIO()
    if recs:
        writer = csv.DictWriter(out, fieldnames=list(recs[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(recs)
    return out.getvalue()


def to_json(comp: Comparison) -> str:
    body = {
        "by": comp.by,
        "metric": comp.metric,
        "centre": comp.centre,
        "entries": records(comp),
        "notes": comparison_notes(comp),
    }
    return json.dumps(body, indent=2, default=str) + "\n"


def to_markdown(comp: Comparison) -> str:
    head = headers(comp)
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i in (0, 1, 9) else "---:" for i in range(len(head))) + "|",
    ]
    for cells in text_rows(comp):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = comparison_notes(comp)
    return (
        "\n".join(lines)
        + "\n"
        + ("\n" + "\n".join(f"- {n}" for n in notes) + "\n" if notes else "")
    )


RENDERERS = {"csv": to_csv, "json": to_json, "md": to_markdown}
