"""The summary: every run in one table, the notes and warnings about them, and fairness."""

from __future__ import annotations

from dlbench.report.page import (
    Section,
    Table,
    slug,
)
from dlbench.store.db import RunRow


def summary_section(rows: list[RunRow]) -> Section:
    from dlbench.report.columns import formatted_rows, notes, visible_columns, warnings

    s = Section("summary", "Summary")
    columns = visible_columns(rows)
    s.table(
        Table(
            [c.title for c in columns],
            formatted_rows(rows, columns),
            [c.numeric for c in columns],
            row_classes=[f"status-{slug(r['status'])}" for r in rows],
        )
    )
    warned = set(warnings(rows))  # notes() carries them too: shown as warnings
    for line in notes(rows):
        (s.warn if line in warned else s.note)(line)
    warnings = fairness(rows)
    if warnings:
        for w in warnings:
            s.warn(w)
    else:
        s.note("fairness: no two runs set side by side differ in more than what is compared")
    return s


def fairness(rows: list[RunRow]) -> list[str]:
    """Warnings from report/fairness.py for the runs compared by device and by framework."""
    from dlbench.report.fairness import fairness_warnings

    out: list[str] = []
    for compared in ("device", "framework"):
        for w in fairness_warnings(rows, compared) or []:
            text = str(getattr(w, "message", w))
            if text not in out:
                out.append(text)
    return out
