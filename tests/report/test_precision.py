"""The report's "Precisions compared" section: speedup against float32 and accuracy change."""

from __future__ import annotations

from dlbench.report.precision import precision_section
from dlbench.store.db import Store
from tests.report.helpers import _row, _spec


def _rows(tmp_path, runs):
    with Store(tmp_path / "p.sqlite") as store:
        for row, epochs in runs:
            store.add_run(row, epochs)
        return store.runs()


def test_precisions_side_by_side_with_speedup_and_accuracy_points(tmp_path):
    base = {"model": "a-mlp", "dataset": "fashion-mnist", "epochs": 3}
    rows = _rows(
        tmp_path,
        [
            _row(_spec(**base, repeat=0), acc=0.860, epoch_s=4.0),
            _row(_spec(**base, repeat=1), acc=0.862, epoch_s=4.2),
            _row(_spec(**base, precision="bf16-mixed", repeat=0), acc=0.857, epoch_s=2.0),
            _row(_spec(**base, precision="bf16-mixed", repeat=1), acc=0.859, epoch_s=2.1),
        ],
    )
    section = precision_section(rows)
    tables = [b.table for b in section.blocks if b.kind == "table"]
    assert [t.caption for t in tables] == ["precision: steady_epoch_s", "precision: test_acc"]
    speed, acc = ({r[1]: r for r in t.rows} for t in tables)
    assert speed["float32 (baseline)"][7] == "1.00x"
    assert speed["bf16-mixed"][7].startswith("2.0")  # 4.1 / 2.05 = 2.00x faster
    assert acc["bf16-mixed"][7].startswith("-0.30")  # points: 85.8% against 86.1%


def test_no_precision_pair_says_how_to_get_one(tmp_path):
    rows = _rows(tmp_path, [_row(_spec(model="a-mlp", dataset="fashion-mnist"))])
    (block,) = precision_section(rows).blocks
    assert block.kind == "note" and "--precision float32,bf16-mixed" in block.text
