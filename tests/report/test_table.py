"""The end-of-run table: concise by default (fits 100 columns), every column with --wide, and
the verdict lines under it. Rows with fixed values (no training): the default suite expanded
over every framework on a CPU and a GPU, and repeats whose intervals overlap or do not."""

from __future__ import annotations

import io
import re

from rich.console import Console

from dlbench.report.columns import COLUMNS
from dlbench.report.concise import verdicts
from dlbench.report.table import print_table
from dlbench.spec.run import FRAMEWORKS
from dlbench.store.db import RunRow
from tests.report.helpers import _row


def _rows(specs_and_times: list[tuple[object, float]]) -> list[RunRow]:
    out = []
    for i, (run, epoch_s) in enumerate(specs_and_times, start=1):
        values, epochs = _row(run, epoch_s=epoch_s, acc=0.8812)
        out.append(RunRow(i, values, epochs))
    return out


def _default_suite_rows() -> list[RunRow]:
    """The default suite as it would run on a machine with every framework and one GPU."""
    from dlbench.spec.suite import load_suite

    runs = []
    for run in load_suite("default").expand():
        for fw in FRAMEWORKS:
            for dev in ("cpu", "cuda:0"):
                runs.append(run.model_copy(update={"framework": fw, "device": dev}))
    times = [1.0 + 0.37 * i for i in range(len(runs))]
    return _rows(list(zip(runs, times, strict=True)))


def _render(rows: list[RunRow], width: int, wide: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    print_table(rows, console, title="default: 20 run(s), stored in dlbench.sqlite", wide=wide)
    return buf.getvalue()


def test_default_suite_fits_100_columns_and_ends_with_verdicts():
    rows = _default_suite_rows()
    assert len(rows) == 20
    text = _render(rows, 100)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 100, max(lines, key=len)
    # Each run is one line, its names and numbers whole.
    for r in rows:
        (line,) = [ln for ln in lines if re.match(rf"\s*{r.id}\s", ln)]
        for cell in (r["model"], r["framework"], r["device"], "88.12%", "finished"):
            assert cell in line, (cell, line)
    header = "\n".join(lines[:4])
    for title in ("model", "framework", "device", "steady", "samples/s", "acc", "status"):
        assert title in header
    # What differs between the default suite's two runs is shown: epochs and batch size.
    assert "epochs" in header and "batch" in header
    assert "params" not in header and "GFLOP/s" not in header and "host MiB" not in header
    # The last lines are verdicts: one per model and device over the frameworks, one per
    # model and framework over the devices.
    said = verdicts(rows)
    assert len(said) == 2 * 2 + 2 * 5
    tail = " ".join(" ".join(lines).split()).split(said[0][:20], 1)
    assert len(tail) == 2, "no verdict under the table"
    tail = said[0][:20] + tail[1]
    for line in said:
        assert " ".join(line.split()) in tail
    assert tail.endswith(" ".join(said[-1].split()))
    first = said[0]
    assert first.startswith("a-mlp / fashion-mnist / cpu")
    assert "torch ran 1.74x faster than torch-compile" in first  # the fastest first, by ratio
    assert "1 run each: add --repeats 5 for an interval" in first


def test_wide_restores_every_column():
    rows = _default_suite_rows()
    text = _render(rows, 400, wide=True)
    header = "\n".join(text.splitlines()[:4])
    for c in COLUMNS:
        if not c.optional:
            assert c.title in header, c.title
    assert max(len(ln) for ln in text.splitlines()) > 150  # today's table needs the width


def test_verdicts_with_repeats_give_intervals_or_no_clear_difference():
    from tests.report.helpers import _spec

    base = {"model": "a-mlp", "dataset": "fashion-mnist", "epochs": 3}
    rows = _rows(
        [
            (_spec(**base, framework="torch", repeat=0), 4.0),
            (_spec(**base, framework="torch", repeat=1), 4.2),
            (_spec(**base, framework="torch", repeat=2), 4.1),
            (_spec(**base, framework="keras-jax", repeat=0), 2.0),
            (_spec(**base, framework="keras-jax", repeat=1), 2.1),
            (_spec(**base, framework="keras-jax", repeat=2), 2.05),
            (_spec(**base, framework="keras-tf", repeat=0), 4.0),
            (_spec(**base, framework="keras-tf", repeat=1), 4.3),
            (_spec(**base, framework="keras-tf", repeat=2), 4.15),
        ]
    )
    (line,) = verdicts(rows)
    assert line.startswith("a-mlp / fashion-mnist / cpu: keras-jax ran 2.00x (")
    assert "faster than torch" in line and "faster than keras-tf" in line
    assert "3 runs each, 95% intervals" in line
    # torch against keras-tf: the intervals overlap.
    close = [r for r in rows if r["framework"] != "keras-jax"]
    (line,) = verdicts(close)
    assert "no clear difference from" in line


def test_80_columns_leave_out_settings_and_say_so():
    rows = _default_suite_rows()
    lines = _render(rows, 80).splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for r in rows:
        matches = [ln for ln in lines if re.match(rf"\s*{r.id}\s", ln)]
        assert len(matches) == 1 and r["framework"] in matches[0]
    assert any("--wide shows all" in ln for ln in lines)
