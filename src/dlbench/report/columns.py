"""The summary columns every table and export shows, formatted once for all of them.

Some columns are `optional`: the console table shows them only when a run in it has a value
(time to accuracy, device memory, energy, other processes' load), so that a table of CPU runs
is not padded with "n/a". CSV and Markdown always carry every column, so their header does not
change with the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlbench.report.text import pct
from dlbench.store.db import RunRow

SLOW_FIRST_EPOCH = 1.5  # first epoch / steady epoch above this: warm-up or compilation


@dataclass(frozen=True)
class Column:
    key: str  # machine name (CSV/JSON header), with its unit
    title: str  # what a person reads
    value: Callable[[RunRow], Any]
    fmt: Callable[[Any], str]
    numeric: bool = True
    optional: bool = False  # the console table shows it only when some run has a value
    text: Callable[[RunRow], str] | None = None  # the cell, when it needs more than the value


def _num(digits: int) -> Callable[[Any], str]:
    return lambda v: "n/a" if v is None else f"{v:,.{digits}f}"


def _int(v: Any) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def _pct(v: Any) -> str:
    return pct(v)


def _pct1(v: Any) -> str:
    return pct(v, 1)


def _mib(v: Any) -> str:
    return "n/a" if v is None else f"{v / 2**20:,.0f}"


def _dataset(r: RunRow) -> str:
    return f"{r['dataset']} (synthetic: timing only)" if r["synthetic"] else r["dataset"]


def _acc(r: RunRow) -> Any:
    return None if r["synthetic"] else r["test_acc"]  # random labels: accuracy means nothing


def _steady(r: RunRow) -> Any:
    return r["steady_epoch_s"]


def _gflops(r: RunRow) -> Any:
    v = r["achieved_flops_per_s"]
    return None if v is None else v / 1e9


def _of_peak(r: RunRow) -> Any:
    achieved, peak = r["achieved_flops_per_s"], r["peak_flops_per_s"]
    return achieved / peak if achieved and peak else None


def _tta(r: RunRow) -> Any:
    return r["tta_s"]


def _tta_text(r: RunRow) -> str:
    if r["target_acc"] is None:
        return "n/a"
    if r["tta_epoch"] is None:
        n = r["epochs_done"] or 0
        return f"not reached in {n} epoch{'s' if n != 1 else ''}"
    return f"{r['tta_s']:,.1f} s (epoch {r['tta_epoch']})"


def _precision(r: RunRow) -> str:
    """float32, bf16-mixed, fp16-mixed; `+tf32` when TF32 was on for the float32 products."""
    spec = r.spec
    shown = spec.get("precision") or "float32"
    return f"{shown}+tf32" if spec.get("tf32") == "on" else shown


def energy_j(r: RunRow) -> Any:
    """Joules the machine reported for the training loop (CPU package + GPU), or None."""
    parts = [v for v in (r["cpu_energy_j"], r["gpu_energy_j"]) if v is not None]
    return sum(parts) if parts else None


def other_load_pct(r: RunRow) -> Any:
    loads = [v for v in (r["load_before_pct"], r["load_during_pct"]) if v is not None]
    return max(loads) if loads else None


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", lambda r: r.id, str),
    Column("model", "model", lambda r: r["model"], str, False),
    Column("dataset", "dataset", _dataset, str, False),
    Column("framework", "framework", lambda r: r["framework"], str, False),
    Column("device", "device", lambda r: r["device"], str, False),
    Column("tuning", "tuning", lambda r: r["tuning"], str, False),
    Column("precision", "precision", _precision, str, False),
    Column("params", "params", lambda r: r["params"], _int),
    Column("epochs", "epochs", lambda r: r["epochs_done"], _int),
    Column("first_epoch_s", "first epoch s", lambda r: r["first_epoch_s"], _num(2)),
    Column("steady_epoch_s", "steady epoch s", _steady, _num(2)),
    Column("train_s", "train s", lambda r: r["train_s"], _num(1)),
    Column("test_s", "test s", lambda r: r["test_s"], _num(2)),
    Column("samples_per_s", "samples/s", lambda r: r["samples_per_s"], _num(0)),
    Column("test_acc", "test acc", _acc, _pct),
    Column("tta_s", "time to target", _tta, _num(1), optional=True, text=_tta_text),
    Column("achieved_gflops_per_s", "GFLOP/s", _gflops, _num(2)),
    Column("of_peak", "% of peak", _of_peak, _pct1),
    Column("peak_rss_mib", "host MiB", lambda r: r["peak_rss_bytes"], _mib),
    Column("peak_device_mib", "device MiB", lambda r: r["peak_device_bytes"], _mib, optional=True),
    Column("energy_j", "energy J", energy_j, _num(0), optional=True),
    Column("other_load_pct", "other load %", other_load_pct, _num(0), optional=True),
    Column("status", "status", lambda r: r["status"], str, False),
)


def _cell(c: Column, r: RunRow) -> str:
    return c.text(r) if c.text else c.fmt(c.value(r))


def visible_columns(rows: list[RunRow]) -> tuple[Column, ...]:
    """Every column, less the optional ones no run has a value for."""

    def shown(c: Column) -> bool:
        if not c.optional:
            return True
        if c.key == "tta_s":
            return any(r["target_acc"] is not None for r in rows)
        if c.key == "other_load_pct":
            return any(r["noisy"] for r in rows)
        return any(c.value(r) is not None for r in rows)

    return tuple(c for c in COLUMNS if shown(c))


def table_rows(rows: list[RunRow]) -> list[dict[str, Any]]:
    """Raw values keyed by column key (for CSV/JSON)."""
    return [{c.key: c.value(r) for c in COLUMNS} for r in rows]


def formatted_rows(rows: list[RunRow], columns: tuple[Column, ...] = COLUMNS) -> list[list[str]]:
    return [[_cell(c, r) for c in columns] for r in rows]


def _ids(runs: list[RunRow]) -> str:
    ids = [r.id for r in runs]
    return f"run {ids[0]}" if len(ids) == 1 else f"runs {', '.join(map(str, ids))}"


def warnings(rows: list[RunRow]) -> list[str]:
    """Hyperfine-style warnings, each naming its fix: noise, warm-up, variance, a slow GPU."""
    from dlbench.measure.noise import NOISY_PCT
    from dlbench.report.stats import configurations, repeat_warnings

    out = []
    noisy = [r for r in rows if r["noisy"]]
    if noisy:
        worst = max(other_load_pct(r) or 0 for r in noisy)
        out.append(
            f"{_ids(noisy)}: other processes used up to {worst:.0f}% of a CPU core during "
            f"the run (flagged above {NOISY_PCT:.0f}%): close them and rerun"
        )
    slow = [
        r
        for r in rows
        if r["first_epoch_s"]
        and r["steady_epoch_s"]
        and r["first_epoch_s"] > SLOW_FIRST_EPOCH * r["steady_epoch_s"]
    ]
    if slow:
        worst = max(r["first_epoch_s"] / r["steady_epoch_s"] for r in slow)
        out.append(
            f"{_ids(slow)}: the first epoch took up to {worst:.1f}x the steady epoch: "
            "compilation or warm-up: read the steady epoch time"
        )
    out += repeat_warnings(configurations(rows))
    return out


def notes(rows: list[RunRow]) -> list[str]:
    """Lines to print under a table: what a reader must know to read it right."""
    out = []
    if any(r["steady_epoch_s"] is None and r["status"] == "finished" for r in rows):
        out.append(
            "steady epoch n/a: one epoch only; the first epoch includes warm-up, "
            "so run 2 or more epochs to time training"
        )
    if any(r["synthetic"] for r in rows):
        out.append("synthetic data has random labels: its runs are for timing only")
    targets = {(r["target_acc"], r["target_on"]) for r in rows if r["target_acc"] is not None}
    for acc, on in sorted(targets, key=str):
        where = "validation" if on == "val" else "test"
        out.append(
            f"time to target: training seconds (sum of epoch times, evaluation left out) until "
            f"the {where} accuracy first reached {acc:.2%}"
        )
    finished = [r for r in rows if r["status"] == "finished"]
    kept = [r for r in finished if (r["extra"] or {}).get("kept_epoch") is not None]
    if kept:
        epochs = [str(r["extra"]["kept_epoch"]) for r in kept]
        totals = {r["epochs_done"] for r in kept}
        if len(totals) == 1:
            which = f"epoch{'s' * (len(kept) > 1)} {', '.join(epochs)} of {totals.pop()}"
        else:
            which = "epochs " + ", ".join(
                f"{e} of {r['epochs_done']}" for e, r in zip(epochs, kept, strict=True)
            )
        out.append(
            f"{_ids(kept)}: test accuracy and saved weights are those of the epoch with the best "
            f"validation accuracy (keep: best-val): {which}"
        )
    if any(r["achieved_flops_per_s"] for r in finished):
        out.append(
            "GFLOP/s: forward and backward FLOPs of an epoch (docs/measuring.md) / steady epoch s"
        )
        if any(r["achieved_flops_per_s"] and not r["peak_flops_per_s"] for r in finished):
            out.append(
                "% of peak n/a: no GEMM probe of this machine and device: run `dlbench probe`"
            )
    out += warnings(rows)
    for r in rows:
        if r["status"] != "finished" and r["message"]:
            out.append(f"run {r.id} {r['status']}: {r['message']}")
    return out
