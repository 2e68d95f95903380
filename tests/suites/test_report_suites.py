"""Every suite in suites/ parses, and runs in its --quick form (absent data: synthetic).

The suites share most of their models: each distinct model/framework pair is trained once, in
one quick run of all of them, and every suite's test checks its own pairs there.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from dlbench.spec import load_suite
from dlbench.spec.run import RunSpec

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("*.yaml"))
PROCESSES = 2  # quick runs side by side: CI has 2 cores, and a run's start is mostly one core
# Smaller than --quick (2 epochs, 512 training images): what is tested is that every pair
# builds, trains, tests and is stored, and one epoch of 128 images does that (the fixture: 202 ->
# 158 s in a full run; what is left of a run is mostly its framework's import).
SMALLER = {"epochs": 1, "limit_train": 128, "limit_test": 64}


def test_there_is_a_suite_per_report():
    names = {p.stem for p in SUITES}
    for report in "abcde":
        assert any(n.startswith(f"report-{report}-") for n in names), report


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_parses_and_says_what_it_reproduces(path):
    suite = load_suite(path)
    assert suite.expand()
    report = path.stem.split("-")[1].upper()  # report-a-mlp: report A
    assert suite.description and f"Report {report}" in suite.description
    # The comments say what the report did, with its figures, beside what dlbench chose.
    comments = [ln.split("#", 1)[1] for ln in path.read_text().splitlines() if "#" in ln]
    said = " ".join(comments)
    assert re.search(r"\breport\b", said, re.IGNORECASE), f"{path.name}: no word on the report"
    assert re.search(r"\d", said), f"{path.name}: no figure of the report in its comments"


def _pair(run: RunSpec) -> tuple[str, str]:
    return run.model_name, run.framework


class QuickRuns(NamedTuple):
    rows: dict[tuple[str, str], list[tuple[str, int]]]  # (model, framework): (status, limit)
    returncodes: list[int]
    log: str  # the end of each command's output, for failure messages


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> QuickRuns:
    """Every suite expanded, each distinct (model, framework) pair run once (the run of the
    first suite that has it): `dlbench run --quick --synthetic-if-missing` of suites holding
    those runs, PROCESSES of them side by side (each run in its own process, as always)."""
    pytest.importorskip("torch")
    import yaml

    chosen: dict[tuple[str, str], RunSpec] = {}
    for path in SUITES:
        for run in load_suite(path).expand():
            chosen.setdefault(_pair(run), run)
    runs = sorted(chosen.values(), key=lambda r: (r.framework, r.model_name))
    root = tmp_path_factory.mktemp("suites")
    started = []
    for i in range(PROCESSES):
        # One thread each, as PROCESSES of them share the cores (a suite that sets none).
        part = [
            {**r.model_dump(mode="json"), "threads": r.threads or 1, **SMALLER}
            for r in runs[i::PROCESSES]
        ]
        suite = root / f"pairs-{i}.yaml"
        suite.write_text(yaml.safe_dump({"name": f"suite pairs {i}", "runs": part}))
        db, log = root / f"q{i}.sqlite", root / f"q{i}.log"
        args = ["run", suite, "--quick", "--synthetic-if-missing", "--no-save", "--db", db]
        with open(log, "w") as out:
            cmd = [sys.executable, "-m", "dlbench", *map(str, args)]
            started.append((subprocess.Popen(cmd, stdout=out, stderr=out, cwd=root), db, log))
    rows: dict[tuple[str, str], list[tuple[str, int]]] = {}
    codes, logs = [], []
    for proc, db, log in started:
        codes.append(proc.wait(timeout=1800))
        logs.append(log.read_text()[-3000:])
        conn = sqlite3.connect(db)
        for model, framework, status, limit in conn.execute(
            "SELECT model, framework, status, json_extract(spec_json, '$.limit_train') FROM runs"
        ):
            rows.setdefault((model, framework), []).append((status, limit))
        conn.close()
    return QuickRuns(rows, codes, "\n".join(logs))


@pytest.mark.slow
@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_runs_quick(path, quick_runs):
    for pair in sorted({_pair(r) for r in load_suite(path).expand()}):
        stored = quick_runs.rows.get(pair)
        # `device: all` is at least the CPU: every model/framework pair of the suite is stored
        assert stored, f"{pair} was not stored:\n{quick_runs.log}"
        # A quick run may diverge (report C's lr 0.2 is meant to show that); none may crash.
        assert all(status in ("finished", "diverged") for status, _ in stored), (pair, stored)
        assert all(limit <= 512 for _, limit in stored)
    assert all(code in (0, 1) for code in quick_runs.returncodes), quick_runs.log
