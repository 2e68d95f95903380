"""Shared by the benchmarks: the machine's load, runs through dlbench's own runner, and the
writing of `benchmarks/results/<name>.json` and of the benchmark's section of
docs/performance.md (between `<!-- NAME:begin -->` and `<!-- NAME:end -->`)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlbench.measure.noise import NOISY_PCT, LoadMeter

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"

# Other processes' CPU use over the whole benchmark (dlbench's noise guard: the machine's CPU
# time less this process's and its reaped children's), from the moment the benchmark starts.
# The load average cannot tell: the benchmark's own 2 threads put it near 2.
_METER = LoadMeter.start()


def load() -> float:
    return round(os.getloadavg()[0], 2)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def runs(specs: list[dict[str, Any]], timeout_s: float = 900) -> list[dict[str, Any]]:
    """Each spec run as `dlbench run` runs it (own process, warm-up, clocks), nothing saved;
    returns the stored rows, each with the load average before and after it."""
    from dlbench.runner.execute import execute
    from dlbench.spec import make_run

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            before = load()
            out = execute(
                [make_run(spec)], Path(tmp) / "bench.sqlite", save=False, timeout_s=timeout_s
            )
            row = out.results[0].columns()
            row["loadavg_before"], row["loadavg_after"] = before, load()
            print(
                f"  {spec} -> {row['status']} steady {row.get('steady_epoch_s')} s (load {before})",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    return rows


def other_load_pct() -> float | None:
    """Percent of one core other processes used since the benchmark started."""
    return _METER.other_pct()


def write(name: str, data: dict[str, Any], section: str) -> None:
    """The JSON of the figures, then the Markdown section in docs/performance.md."""
    data = {
        "benchmark": name,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "other_load_pct": other_load_pct(),
        **data,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    block = f"{begin}\n{section.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def load_note(loads: list[float], other: float | None = None) -> str:
    """The machine's state while the benchmark ran: quiet, or busy with other work; `other`:
    the stored figure of a run being rendered again, else this benchmark's own meter."""
    other = other_load_pct() if other is None else other
    worst = max(loads) if loads else 0.0
    text = (
        f"Load average (1 min) during the runs: {min(loads):.2f} to {worst:.2f} (the "
        "benchmark's own threads included)"
    )
    if other is None:
        return text + "."
    text += f"; other processes used {other:.0f}% of one core over the benchmark"
    if other > NOISY_PCT:
        return text + ". **busy: absolute times are inflated, ratios less sure**"
    return text + ": quiet."


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.start
