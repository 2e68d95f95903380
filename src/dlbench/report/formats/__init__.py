"""Export formats, one function per file: `render(rows) -> str`."""

from __future__ import annotations

from collections.abc import Callable

from dlbench.store.db import RunRow


def renderer(fmt: str) -> Callable[[list[RunRow]], str]:
    from dlbench.report.formats import csv, json, md

    return {"csv": csv.render, "json": json.render, "md": md.render}[fmt]
