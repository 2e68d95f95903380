"""`dlbench merge`: runs made on two machines brought into one database, both ways, once.

One real run is trained (digits, one epoch, torch); the "other machine" is a database holding a
copy of it under another fingerprint (another CPU and hostname) and start time, the way a run
made on a Colab GPU would arrive. Bad files are refused with one line and the database
untouched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.slow]

OTHER_HOST = {"cpu": "Colab CPU 9000", "hostname": "colab", "cpu_count": 4, "physical_cores": 2}


def _dlbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlbench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "COLUMNS": "250"},
        check=False,
    )


def _state(db: Path) -> str:
    """The file's bytes (and its WAL's): unchanged means nothing was written."""
    wal = db.with_name(db.name + "-wal")
    parts = [db.read_bytes()] + ([wal.read_bytes()] if wal.exists() else [])
    return hashlib.sha256(b"".join(parts)).hexdigest()


def _runs(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        out = []
        for r in conn.execute("SELECT * FROM runs ORDER BY id"):
            d = dict(r)
            d["epochs"] = conn.execute("SELECT count(*) FROM epochs WHERE run = ?", (r["id"],))
            d["epochs"] = d["epochs"].fetchone()[0]
            out.append(d)
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    """(laptop.sqlite, colab.sqlite): one run each, with different fingerprints."""
    from dlbench.store.db import Store

    folder = tmp_path_factory.mktemp("machines")
    out = _dlbench(
        "run",
        "--model",
        "a-mlp",
        "--dataset",
        "digits",
        "--framework",
        "torch",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--db",
        "laptop.sqlite",
        cwd=folder,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    laptop, colab = folder / "laptop.sqlite", folder / "colab.sqlite"
    with Store(laptop, readonly=True) as s:
        (row,) = s.runs()
    values = dict(row.values)
    values["fingerprint"] = {**values["fingerprint"], **OTHER_HOST}
    values["started_at"] = "2026-01-01T00:00:00+00:00"
    values["train_s"] = (values["train_s"] or 1.0) / 2
    with Store(colab) as s:
        s.add_run(values, row.epochs)
    return folder, laptop, colab


def _fresh(machines, tmp_path) -> tuple[Path, Path]:
    folder, laptop, colab = machines
    a, b = tmp_path / "laptop.sqlite", tmp_path / "colab.sqlite"
    shutil.copy(laptop, a)
    shutil.copy(colab, b)
    shutil.copytree(folder / "laptop-artifacts", tmp_path / "laptop-artifacts")
    return a, b


def test_merge_both_ways_keeps_fingerprints_and_a_remerge_adds_nothing(machines, tmp_path):
    a, b = _fresh(machines, tmp_path)
    before_a, before_b = _runs(a), _runs(b)
    out = _dlbench("merge", str(b), "--db", str(a), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 run(s) added" in out.stdout and "Colab CPU 9000" in out.stdout
    out = _dlbench("merge", str(a), "--db", str(b), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 run(s) added, 1 already here" in out.stdout  # a's copy of b's run is b's own
    for db in (a, b):
        rows = _runs(db)
        assert len(rows) == 2
        prints = [json.loads(r["fingerprint_json"])["cpu"] for r in rows]
        assert "Colab CPU 9000" in prints and len(set(prints)) == 2  # each run keeps its own
        assert all(r["epochs"] == 1 for r in rows)
    merged = next(r for r in _runs(a) if r["id"] == 2)
    source = before_b[0]
    for col in ("run_id", "fingerprint_json", "started_at", "finished_at", "train_s", "spec_json"):
        assert merged[col] == source[col], col
    # the laptop's weights went along into b's artifacts folder
    copied = next(r for r in _runs(b) if "Colab" not in r["fingerprint_json"])
    assert Path(copied["weights_path"]).is_relative_to(tmp_path / "colab-artifacts")
    original = Path(before_a[0]["weights_path"])
    assert Path(copied["weights_path"]).read_bytes() == original.read_bytes()

    state = _state(a)
    again = _dlbench("merge", str(b), "--db", str(a), cwd=tmp_path)
    assert again.returncode == 0 and "0 run(s) added, 2 already here" in again.stdout
    assert len(_runs(a)) == 2 and _state(a) == state


def test_compare_by_machine_and_the_report_on_a_merged_database(machines, tmp_path):
    a, b = _fresh(machines, tmp_path)
    assert _dlbench("merge", str(b), "--db", str(a), cwd=tmp_path).returncode == 0
    out = _dlbench(
        "compare", "--by", "machine", "--metric", "train_s", "--db", str(a), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "Colab CPU 9000" in out.stdout and "(baseline)" in out.stdout
    base = _dlbench(
        "compare",
        "--by",
        "machine",
        "--metric",
        "train_s",
        "--baseline",
        "colab cpu",
        "--format",
        "json",
        "--db",
        str(a),
        cwd=tmp_path,
    )
    assert base.returncode == 0, base.stderr
    recs = json.loads(base.stdout)["entries"]
    assert {"Colab CPU 9000" in r["baseline"] for r in recs} == {True}  # matched by a part
    laptop = next(r for r in recs if "Colab" not in r["machine"])
    assert laptop["vs_baseline"] == pytest.approx(0.5, rel=0.01)  # half as fast as the colab copy
    report = _dlbench("report", "--db", str(a), "--out", "r.html", "--no-samples", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert "Machines compared" in html and "Colab CPU 9000" in html


def test_foreign_files_and_newer_schemas_are_refused_with_nothing_written(machines, tmp_path):
    a, b = _fresh(machines, tmp_path)
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE runs (id INTEGER, run_id TEXT)")
    conn.execute("INSERT INTO runs VALUES (1, 'x')")
    conn.commit()
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    newer = tmp_path / "newer.sqlite"
    shutil.copy(b, newer)
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    state = _state(a)
    for bad, why in (
        (foreign, "did not create"),
        (text, "is not a dlbench database"),
        (newer, "newer dlbench"),
        (tmp_path / "absent.sqlite", "no file"),
        (a, "the database itself"),
    ):
        out = _dlbench("merge", str(bad), "--db", str(a), cwd=tmp_path)
        assert out.returncode == 2, (bad, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], lines
        assert _state(a) == state and len(_runs(a)) == 1
