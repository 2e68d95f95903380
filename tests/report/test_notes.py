"""Lines under a results table: what a reader must know to read it right."""

from __future__ import annotations

from dlbench.report.columns import notes
from tests.report.test_reproduction import _row


def test_table_note_names_the_kept_epochs():
    rows = []
    for i, kept in enumerate((12, 17), start=1):
        row = _row(i, 0.88, model="b-fcn-100k", keep="best-val")
        row.values.update(epochs_done=20, extra={"kept_epoch": kept})
        rows.append(row)
    rows.append(_row(3, 0.87))  # keep: last, no note
    lines = [n for n in notes(rows) if "best-val" in n]
    assert lines == [
        "runs 1, 2: test accuracy and saved weights are those of the epoch with the best "
        "validation accuracy (keep: best-val): epochs 12, 17 of 20"
    ]
