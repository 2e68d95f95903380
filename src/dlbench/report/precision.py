"""The report's "Precisions compared" section: mixed precision's speed beside its accuracy.

Runs that differ only in `precision` (or `tf32`) are set side by side with report/comparison.py:
the steady epoch's speedup against float32 with its 95% interval, and the change in test
accuracy in percentage points. Speed without the accuracy beside it would mislead: bfloat16
keeps 8 bits of mantissa.
"""

from __future__ import annotations

from typing import Any

from dlbench.store.db import RunRow

FIELDS = ("precision", "tf32")  # each compared on its own: TF32 matters for float32 only
METRICS = ("steady_epoch_s", "test_acc")


def comparisons(rows: list[RunRow]) -> list[tuple[Any, list[Any]]]:
    """(comparison, its groups holding two or more values) per field and metric, where some."""
    from dlbench.report import comparison
    from dlbench.report.stats import spec_field

    finished = [r for r in rows if r["status"] == "finished"]
    out = []
    for by in FIELDS:
        if not finished or len({str(spec_field(r, by)) for r in finished}) < 2:
            continue
        for metric in METRICS:
            comp = comparison.compare(finished, by, metric=metric)
            groups = [g for g in comp.groups if len(g.entries) >= 2]
            if groups:
                out.append((comp, groups))
    return out


def precision_section(rows: list[RunRow]):
    """The section for report/html.py."""
    from dlbench.report import comparison
    from dlbench.report.page import Section, Table

    s = Section("precisions", "Precisions compared")
    found = comparisons(rows)
    if not found:
        s.note(
            "no group of finished runs differs only in precision or TF32: run one spec with "
            "--precision float32,bf16-mixed (or `dlbench run precision`) to compare them"
        )
        return s
    s.p(
        "Runs that differ only in precision (bf16-mixed, fp16-mixed: products in bfloat16 or "
        "float16, weights, optimizer and loss in float32) or in TF32, float32 the baseline. "
        "For the steady epoch: speedup = T_float32 / T, with its 95% interval; for test "
        "accuracy: the change in percentage points. docs/fairness.md says what each framework "
        "casts."
    )
    for comp, groups in found:
        view = type(comp)(comp.by, comp.metric, comp.centre, groups, [], comp.rows)
        head = comparison.headers(view)
        numeric = [i not in (0, 1, 9) for i in range(len(head))]
        s.table(
            Table(head, comparison.text_rows(view), numeric, caption=f"{comp.by}: {comp.metric}")
        )
    return s
