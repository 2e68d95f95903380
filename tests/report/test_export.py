"""`dlbench export`: golden files for runs and comparisons, and JSON that redraws figures.

Regenerate the golden files after a deliberate change with DLBENCH_REGEN_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from dlbench.errors import UserError
from dlbench.report.export import export

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("DLBENCH_REGEN_GOLDEN") == "1"
CASES = [(w, f) for w in ("runs", "speedups", "frameworks") for f in ("csv", "json", "md")]


@pytest.mark.parametrize(("what", "fmt"), CASES)
def test_export_matches_golden(synthetic_rows, synthetic_db, what, fmt):
    text = export(synthetic_rows, fmt, what, synthetic_db)
    path = GOLDEN / f"{what}.{fmt}"
    if REGEN:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with DLBENCH_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs: if intended, DLBENCH_REGEN_GOLDEN=1"


def test_json_redraws_every_figure(synthetic_rows, synthetic_db, tmp_path):
    """Curves, confusion matrices, budget and speedup come back from the JSON alone."""
    from dlbench.report import figures

    data = json.loads(export(synthetic_rows, "json", "runs", synthetic_db))
    runs = {r["id"]: r for r in data["runs"]}
    assert set(runs) == {r.id for r in synthetic_rows}
    for r in runs.values():
        assert {"spec", "epoch_records", "confusion", "class_names", "fingerprint"} <= set(r)
        assert r["evaluations"] == []
    one = runs[1]
    assert one["spec"]["model"]["layers"] and one["spec"]["device"] == "cpu"
    figures.save(
        figures.learning_curves_figure("x", one["epoch_records"], one["test_acc"]), tmp_path, "c"
    )
    figures.save(
        figures.confusion_figure(one["confusion"], one["class_names"], one["class_names"], "x"),
        tmp_path,
        "m",
    )
    points = [
        {
            "dataset": r["dataset"],
            "model": r["model"],
            "params": r["params"],
            "macs": r["macs"],
            "acc": r["test_acc"],
        }  # fmt: skip
        for r in runs.values()
        if r["test_acc"] is not None
    ]
    figures.save(figures.budget_figure(points), tmp_path, "b")
    assert len(list(tmp_path.glob("*.svg"))) == 3


def test_markdown_escapes_pipes_and_keeps_names(synthetic_rows, synthetic_db):
    from dlbench.store.db import RunRow

    folder = synthetic_rows[6]  # the hostile folder dataset, renamed to hold a pipe
    piped = RunRow(folder.id, {**folder.values, "dataset": "folder:/data/a|b"}, folder.epochs)
    text = export([*synthetic_rows[:6], piped], "md", "runs", synthetic_db)
    head, rule, *body = text.split("\n\n")[0].splitlines()
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in (head, *body)]
    assert {len(c) for c in cells} == {rule.count("|") - 1}  # no row gained a column
    by_title = dict(zip((c.strip() for c in cells[0]), (c.strip() for c in cells[-1]), strict=True))
    assert by_title["dataset"] == "folder:/data/a\\|b"
    text = export(synthetic_rows, "md", "runs", synthetic_db)
    assert "folder:/data/<script>alert(1)</script>" in text  # Markdown is text, not HTML


def test_bad_format_and_table(synthetic_rows):
    with pytest.raises(UserError, match="unknown format"):
        export(synthetic_rows, "xml")
    with pytest.raises(UserError, match="unknown table"):
        export(synthetic_rows, "csv", "bananas")
