"""Every suite in suites/ parses, and runs in its --quick form (absent data: synthetic)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dlbench.spec import load_suite

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("*.yaml"))


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


@pytest.mark.slow
@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_runs_quick(path, tmp_path):
    pytest.importorskip("torch")
    db = tmp_path / "q.sqlite"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbench",
            "run",
            str(path),
            "--quick",
            "--synthetic-if-missing",
            "--no-save",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,
    )
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT status, epochs_done, json_extract(spec_json, '$.limit_train') FROM runs"
    ).fetchall()
    conn.close()
    # `device: all` is at least the CPU: every run of the suite is stored
    assert len(rows) >= len(load_suite(path).expand()), out.stdout + out.stderr
    # A quick run may diverge (report C's lr 0.2 is meant to show that); none may crash.
    assert all(status in ("finished", "diverged") for status, _, _ in rows), out.stdout
    assert all(limit <= 512 for _, _, limit in rows)
    assert out.returncode in (0, 1), out.stderr
