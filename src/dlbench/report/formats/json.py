"""Runs as JSON: every stored field, epochs included, enough to redraw every figure."""

from __future__ import annotations

import json as _json

from dlbench.store.db import RunRow


def render(rows: list[RunRow]) -> str:
    return (
        _json.dumps(
            {"runs": [{"id": r.id, **r.values, "epoch_records": r.epochs} for r in rows]},
            indent=2,
            sort_keys=True,
            default=str,
        )
        + "\n"
    )
