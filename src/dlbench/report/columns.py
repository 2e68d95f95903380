"""The summary columns every table and export shows, formatted once for all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlbench.store.db import RunRow


@dataclass(frozen=True)
class Column:
    key: str  # machine name (CSV/JSON header), with its unit
    title: str  # what a person reads
    value: Callable[[RunRow], Any]
    fmt: Callable[[Any], str]
    numeric: bool = True


def _num(digits: int) -> Callable[[Any], str]:
    return lambda v: "n/a" if v is None else f"{v:,.{digits}f}"


def _int(v: Any) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _dataset(r: RunRow) -> str:
    return f"{r['dataset']} (synthetic: timing only)" if r["synthetic"] else r["dataset"]


def _acc(r: RunRow) -> Any:
    return None if r["synthetic"] else r["test_acc"]  # random labels: accuracy means nothing


def _steady(r: RunRow) -> Any:
    return r["steady_epoch_s"]


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", lambda r: r.id, str),
    Column("model", "model", lambda r: r["model"], str, False),
    Column("dataset", "dataset", _dataset, str, False),
    Column("framework", "framework", lambda r: r["framework"], str, False),
    Column("device", "device", lambda r: r["device"], str, False),
    Column("tuning", "tuning", lambda r: r["tuning"], str, False),
    Column("params", "params", lambda r: r["params"], _int),
    Column("epochs", "epochs", lambda r: r["epochs_done"], _int),
    Column("first_epoch_s", "first epoch s", lambda r: r["first_epoch_s"], _num(2)),
    Column("steady_epoch_s", "steady epoch s", _steady, _num(2)),
    Column("train_s", "train s", lambda r: r["train_s"], _num(1)),
    Column("test_s", "test s", lambda r: r["test_s"], _num(2)),
    Column("samples_per_s", "samples/s", lambda r: r["samples_per_s"], _num(0)),
    Column("test_acc", "test acc", _acc, _pct),
    Column("status", "status", lambda r: r["status"], str, False),
)


def table_rows(rows: list[RunRow]) -> list[dict[str, Any]]:
    """Raw values keyed by column key (for CSV/JSON)."""
    return [{c.key: c.value(r) for c in COLUMNS} for r in rows]


def formatted_rows(rows: list[RunRow]) -> list[list[str]]:
    return [[c.fmt(c.value(r)) for c in COLUMNS] for r in rows]


def notes(rows: list[RunRow]) -> list[str]:
    """Lines to print under a table: what a reader must know to read it right."""
    out = []
    if any(r["steady_epoch_s"] is None and r["status"] == "finished" for r in rows):
        out.append("steady epoch n/a: one epoch only; the first epoch includes warm-up, "
                   "so run 2 or more epochs to time training")
    if any(r["synthetic"] for r in rows):
        out.append("synthetic data has random labels: its runs are for timing only")
    for r in rows:
        if r["status"] != "finished" and r["message"]:
            out.append(f"run {r.id} {r['status']}: {r['message']}")
    return out
