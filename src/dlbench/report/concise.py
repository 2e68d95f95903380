"""The concise view of runs: the columns that answer the question, and the verdict lines.

The full table (report/columns.py, `--wide`) has some 18 columns and needs about 210
characters. The concise one keeps what a reader came for (which run, which framework and
device, how fast, how accurate, did it finish) and adds only the settings that differ between
the rows shown, so that it fits a 100-column terminal. Under it, verdict lines in the manner
of hyperfine's summary say, for each group of runs that differ in one dimension only, which
value ran fastest and by how much:

    a-mlp / fashion-mnist / cpu: keras-jax ran 1.69x faster than torch, 2.96x faster than
    keras-tf (steady epoch; 1 run each: add --repeats 5 for an interval)

With repeats each ratio carries its interval, and where the 95% intervals overlap the line
says "no clear difference" instead of a ratio.
"""

from __future__ import annotations

import json
from typing import Any

from dlbench.report.columns import COLUMNS, Column, _int, _num
from dlbench.report.stats import NO_CLEAR_DIFFERENCE, Summary, spec_field
from dlbench.store.db import RunRow

# Always shown, in this order; `precision` and the differing settings go after `device`.
ALWAYS = ("id", "model", "framework", "device")
MEASURED = ("steady_epoch_s", "samples_per_s", "test_acc")
# Settings shown when they differ between the rows (a column of one value says nothing).
SETTINGS = (
    ("dataset", "dataset"),
    ("tuning", "tuning"),
    ("epochs", "epochs"),
    ("batch_size", "batch"),
    ("optimizer", "optimizer"),
    ("lr", "lr"),
    ("normalize", "normalize"),
    ("init", "init"),
    ("threads", "threads"),
    ("val_fraction", "val"),
    ("limit_train", "train limit"),
)
# The dimensions a verdict compares, in the order their lines are printed.
VERDICT_DIMENSIONS = ("framework", "device", "precision", "tuning", "batch_size")
ONE_EACH_FIX = "add --repeats 5 for an interval"


def _by_key() -> dict[str, Column]:
    return {c.key: c for c in COLUMNS}


def _spec_value(key: str):
    def value(r: RunRow) -> Any:
        v = spec_field(r, key)
        return "default" if v is None and key == "threads" else v

    return value


def _text(v: Any) -> str:
    return "n/a" if v is None else str(v)


def _precision(r: RunRow) -> str:
    return str(spec_field(r, "precision") or "float32")


def _differs(rows: list[RunRow], value) -> bool:
    return len({json.dumps(value(r), sort_keys=True, default=str) for r in rows}) > 1


def optional_keys() -> set[str]:
    """Keys of the concise columns that may be left out to fit a console."""
    return {key for key, _ in SETTINGS} | {"precision", "train_s", "tta_s"}


def concise_columns(rows: list[RunRow]) -> tuple[Column, ...]:
    cols = _by_key()
    out = [cols[k] for k in ALWAYS]
    if any(_precision(r) != "float32" for r in rows):
        out.append(Column("precision", "precision", _precision, str, False))
    for key, title in SETTINGS:
        if key == "dataset":
            column = cols["dataset"]
        elif key == "tuning":
            column = cols["tuning"]
        elif key == "epochs":
            column = Column("epochs", "epochs", lambda r: r["epochs_done"], _int)
        else:
            numeric = key in ("batch_size", "lr", "threads", "val_fraction", "limit_train")
            fmt = _int if key in ("batch_size", "limit_train") else _text
            column = Column(key, title, _spec_value(key), fmt, numeric)
        if _differs(rows, column.value):
            out.append(column)
    out += [cols[k] for k in MEASURED]
    finished = [r for r in rows if r["status"] == "finished"]
    if any(r["steady_epoch_s"] is None for r in finished):
        out.append(Column("train_s", "train s", lambda r: r["train_s"], _num(1)))
    if any(r["target_acc"] is not None for r in rows):
        out.append(cols["tta_s"])
    out.append(cols["status"])
    return tuple(out)


# -- verdicts ---------------------------------------------------------------------------------
def _ratio_text(fast: Summary, slow: Summary) -> str:
    ratio = slow.centre / fast.centre
    if fast.has_interval and slow.has_interval and fast.lo and fast.hi:
        lo, hi = slow.lo / fast.hi, slow.hi / fast.lo
        return f"{ratio:.2f}x ({lo:.2f}-{hi:.2f})"
    return f"{ratio:.2f}x"


def _group_line(title: str, entries: list[tuple[str, Summary]], what: str) -> str | None:
    timed = [(v, s) for v, s in entries if s.centre]
    if len(timed) < 2:
        return None
    timed.sort(key=lambda e: e[1].centre)
    (best, fast), others = timed[0], timed[1:]
    parts = []
    for value, slow in others:
        if fast.n > 1 and slow.n > 1 and fast.lo <= slow.hi and slow.lo <= fast.hi:
            parts.append(f"{NO_CLEAR_DIFFERENCE} from {value}")
        else:
            parts.append(f"{_ratio_text(fast, slow)} faster than {value}")
    counts = {s.n for _, s in timed}
    if counts == {1}:
        runs = f"1 run each: {ONE_EACH_FIX}"
    elif min(counts) == 1:
        runs = f"some with 1 run: {ONE_EACH_FIX}"
    else:
        n = min(counts)
        runs = f"{n} runs each, 95% intervals" if len(counts) == 1 else "95% intervals"
    return f"{title}: {best} ran {', '.join(parts)} ({what}; {runs})"


def verdicts(rows: list[RunRow]) -> list[str]:
    """One line per group of finished runs that differ in one dimension only (framework,
    device, precision, ...), the fastest first: hyperfine's summary for training runs."""
    from dlbench.report.comparison import compare

    finished = [r for r in rows if r["status"] == "finished"]
    if len(finished) < 2:
        return []
    out = []
    for by in VERDICT_DIMENSIONS:
        if not _differs(finished, lambda r, by=by: spec_field(r, by)):
            continue
        steady = all(r["steady_epoch_s"] is not None for r in finished)
        metric = "steady_epoch_s" if steady else "train_s"
        what = "steady epoch" if steady else "training time: one epoch, no steady epoch"
        comp = compare(finished, by, metric=metric)
        for g in comp.groups:
            line = _group_line(g.title, [(e.value, e.summary) for e in g.entries], what)
            if line:
                out.append(line)
    return out
