"""`dlbench export`: runs, or the comparisons made from them, as CSV, JSON or Markdown.

Runs use the renderers of report/formats (one per format). The JSON of runs carries every
stored field, the per-epoch records and each run's evaluations on other datasets (from its
artifacts folder, store/evaluations.py): everything the report's figures are drawn from, except the sample grids and
feature maps, which need the saved model (`weights_path`). Comparisons (CPU vs GPU speedups,
frameworks side by side) are those of `dlbench compare --by device|framework`
(report/comparison.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from dlbench.errors import UserError
from dlbench.store.db import RunRow

FORMATS = ("csv", "json", "md")
TABLES = ("runs", "speedups", "frameworks")


def export(rows: list[RunRow], fmt: str, what: str = "runs", db: Path | None = None) -> str:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if what not in TABLES:
        raise UserError(f"unknown table {what!r}; choose from {', '.join(TABLES)}")
    if what == "runs":
        from dlbench.report.formats import renderer

        text = renderer(fmt)(rows)
        if fmt == "json":
            text = _with_evaluations(text, rows, db)
        return text
    from dlbench.report import comparison

    by = {"speedups": "device", "frameworks": "framework"}[what]
    return comparison.RENDERERS[fmt](comparison.compare(rows, by))


def _with_evaluations(text: str, rows: list[RunRow], db: Path | None) -> str:
    from dlbench.store.evaluations import load_evaluations

    data = json.loads(text)
    by_id = {r.id: r for r in rows}
    for run in data["runs"]:
        run["evaluations"] = load_evaluations(by_id[run["id"]], db)
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
