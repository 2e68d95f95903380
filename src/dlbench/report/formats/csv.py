"""Runs as CSV: one row per run, raw values in the columns' units."""

from __future__ import annotations

import csv as _csv
import io

from dlbench.report.columns import COLUMNS, table_rows
from dlbench.store.db import RunRow


def render(rows: list[RunRow]) -> str:
    out = io.StringIO()
    writer = _csv.DictWriter(out, fieldnames=[c.key for c in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(table_rows(rows))
    return out.getvalue()
