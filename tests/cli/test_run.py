"""`dlbench run` as a user meets it: results, exit codes, bad input, kill and resume."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    FASHION,
    FASHION_MISSING,
    HAS_FASHION,
    needs_torch,
    run_script,
    sigint_as_in_a_terminal,
)

pytestmark = needs_torch

# One thread: as fast for these small runs on an idle machine, far faster on a busy one.
QUICK = [
    *("--dataset", "digits", "--epochs", "2", "--framework", "torch", "--device", "cpu"),
    *("--threads", "1"),
]


def _fingerprint(db: Path) -> str:
    """The file's bytes and every row: unchanged means nothing was written."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else "absent"
    wal = db.with_name(db.name + "-wal")
    return digest + (hashlib.sha256(wal.read_bytes()).hexdigest() if wal.exists() else "")


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory):
    """A database holding one finished run, made once (by a child process: tests using it are
    slow)."""
    folder = tmp_path_factory.mktemp("db")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbench",
            "run",
            "--model",
            "a-mlp",
            *QUICK,
            "--db",
            str(folder / "r.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return folder / "r.sqlite"


@pytest.mark.slow
def test_run_prints_table_and_stores(stored_db, cli, tmp_path):
    out = cli("results", "--db", str(stored_db), "--format", "csv")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.strip().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["model"] == "a-mlp" and values["status"] == "finished"
    assert float(values["test_acc"]) > 0.7
    assert float(values["steady_epoch_s"]) > 0 and float(values["samples_per_s"]) > 0
    table = cli("results", "--db", str(stored_db))
    assert "steady epoch s" in table.stdout and "finished" in table.stdout


def _bad_suite(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


def _truncated_fashion(tmp_path: Path) -> str:
    folder = tmp_path / "fm"
    folder.mkdir()
    for f in FASHION.glob("*.gz"):
        data = f.read_bytes()
        (folder / f.name).write_bytes(data[: len(data) // 2] if "train-images" in f.name else data)
    return str(folder)


BAD_INPUTS = {
    "unknown model": (["--model", "resnet"], "unknown model 'resnet'"),
    "unknown dataset": (["--model", "a-mlp", "--dataset", "imagenet"], "unknown dataset"),
    "unknown framework": (["--model", "a-mlp", "--framework", "tensorflow"], "unknown framework"),
    "unknown device": (["--model", "a-mlp", "--device", "gpu"], "unknown device 'gpu'"),
    "zero epochs": (["--model", "a-mlp", "--epochs", "0"], "epochs"),
    "fp16 on a cpu": (
        ["--model", "a-mlp", *QUICK, "--precision", "fp16-mixed"],
        "fp16-mixed needs a GPU",
    ),
    "tf32 on a cpu": (["--model", "a-mlp", *QUICK, "--tf32", "on"], "tf32 on applies to NVIDIA"),
    "unknown precision": (["--model", "a-mlp", "--precision", "fp8"], "precision"),
    "negative batch": (["--model", "a-mlp", "--batch-size", "-4"], "--batch-size -4"),
    "zero lr": (["--model", "a-mlp", "--lr", "0"], "lr"),
    "suite key": (
        lambda t: [_bad_suite(t, "defaults: {model: a-mlp, epoch: 2}\n")],
        "unknown key 'epoch'",
    ),
    "suite layer": (
        lambda t: [_bad_suite(t, "defaults:\n  model: {layers: [{type: conv3d, filters: 2}]}\n")],
        "conv3d",
    ),
    "negative width": (
        lambda t: [_bad_suite(t, "defaults:\n  model: {builder: mlp, widths: [64, -1]}\n")],
        "positive",
    ),
    "kernel too large": (
        lambda t: [
            _bad_suite(
                t,
                "defaults:\n  dataset: digits\n  model: {layers: [{type: conv2d, filters: 4, "
                "kernel: 11}, {type: flatten}, {type: dense, units: 10}]}\n",
            )
        ],
        "kernel 11 is larger than the padded input 8x8",
    ),
    "pool too many": (
        ["--model", "a-face-cnn", "--dataset", "digits"],
        "pool window 2 is larger than the input 1x1",
    ),
    "classes mismatch": (
        ["--model", "a-face-cnn", "--dataset", "synthetic:1x28x28:50"],
        "one output unit and two classes",
    ),
    "empty folder": (
        lambda t: [
            "--model",
            "a-mlp",
            "--dataset",
            f"folder:{(t / 'empty').mkdir() or t / 'empty'}",
        ],
        "folder",
    ),
    "truncated dataset": (
        lambda t: ["--model", "a-mlp", "--data-dir", _truncated_fashion(t)],
        "truncated|corrupt|short",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_exit_2_db_unchanged(case, synthetic_db, cli, tmp_path):
    """Refused before anything trains, and the database of stored runs is left as it was."""
    if case == "truncated dataset" and not HAS_FASHION:
        pytest.skip(FASHION_MISSING)
    args, pattern = BAD_INPUTS[case]
    args = args(tmp_path) if callable(args) else args
    db = tmp_path / "copy.sqlite"
    db.write_bytes(synthetic_db.read_bytes())
    before = _fingerprint(db)
    out = cli("run", *args, "--db", str(db), timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in out.stderr
    assert _fingerprint(db) == before


@pytest.mark.parametrize("content", [b"not a database\n" * 10, "sqlite-other"])
def test_db_that_is_not_ours_is_never_touched(content, cli, tmp_path):
    db = tmp_path / "other.sqlite"
    if content == "sqlite-other":
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE mine (x)")
        conn.commit()
        conn.close()
    else:
        db.write_bytes(content)
    before = _fingerprint(db)
    out = cli("run", "--model", "a-mlp", *QUICK, "--db", str(db))
    assert out.returncode == 2 and "--db" in out.stderr and "choose another path" in out.stderr
    assert _fingerprint(db) == before


@pytest.mark.slow
def test_failed_runs_are_results_and_exit_1(cli, tmp_path):
    """A diverging run is stored with its status; the suite goes on; the exit code is 1."""
    suite = _bad_suite(
        tmp_path,
        (
            "defaults: {dataset: digits, epochs: 3, framework: torch, device: cpu, model: a-mlp,"
            " threads: 1}\n"
            "matrix:\n  lr: [1000000.0, 0.1]\n  optimizer: [sgd]\n"
        ),
    )
    out = cli("run", suite, "--db", "r.sqlite")
    assert out.returncode == 1, out.stderr
    conn = sqlite3.connect(tmp_path / "r.sqlite")
    statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["diverged", "finished"]
    message = conn.execute("SELECT message FROM runs WHERE status='diverged'").fetchone()[0]
    assert "smaller learning rate" in message


@pytest.mark.slow
def test_kill_then_resume(tmp_path):
    """SIGKILL the suite after its first stored run; --resume keeps it and does the rest."""
    suite = _bad_suite(
        tmp_path,
        (
            "defaults: {dataset: digits, epochs: 6, framework: torch, device: cpu, model: a-mlp,"
            " batch_size: 16, threads: 1}\nmatrix:\n  seed: [1, 2, 3]\n"
        ),
    )
    db = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "dlbench", "run", suite, "--db", str(db)]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    first = None
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists():
            try:
                conn = sqlite3.connect(db)
                rows = conn.execute("SELECT run_id FROM runs WHERE status='finished'").fetchall()
                conn.close()
            except sqlite3.Error:
                continue
            if rows:
                first = rows[0][0]
                break
    assert first, "no run finished in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the worker dies with its parent (PR_SET_PDEATHSIG)
    out = subprocess.run(
        cmd + ["--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "already stored as done" in out.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE status='finished'")]
    assert len(done) == 3 and len(set(done)) == 3 and first in done


def test_help_imports_no_framework():
    code = (
        "import sys\n"
        "from dlbench.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'keras', 'numpy', 'matplotlib')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = run_script(code, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "run" in out.stdout and "results" in out.stdout


@pytest.mark.slow
def test_table_warns_when_runs_differ_in_lr(stored_db, cli, tmp_path):
    db = tmp_path / "two.sqlite"
    db.write_bytes(stored_db.read_bytes())
    out = cli("run", "--model", "a-mlp", *QUICK, "--lr", "0.01", "--no-save", "--db", str(db))
    assert out.returncode == 0, out.stderr
    table = cli("results", "--db", str(db))
    assert "fairness: runs differ in lr (0.001 in run 1; 0.01 in run 2)" in table.stdout


@pytest.mark.slow
def test_tuning_list_makes_one_run_per_tuning(cli, tmp_path):
    """`--tuning default,tuned` is a matrix like --framework a,b: one run each, shown apart."""
    db = tmp_path / "tunings.sqlite"
    out = cli(
        "run", "--model", "a-mlp", *QUICK, "--tuning", "default,tuned", "--no-save", "--db", str(db)
    )
    assert out.returncode == 0, out.stderr
    csv = cli("results", "--db", str(db), "--format", "csv").stdout.strip().splitlines()
    tunings = sorted(
        dict(zip(csv[0].split(","), r.split(","), strict=True))["tuning"] for r in csv[1:]
    )
    assert tunings == ["default", "tuned"]
    bad = cli("run", "--model", "a-mlp", *QUICK, "--tuning", "fast", "--db", str(db))
    assert bad.returncode == 2 and "tuning" in bad.stderr


def _one_error_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    return lines[0]


def test_suite_that_is_not_text_is_bad_input(cli, tmp_path):
    """`head -c 3000 /dev/urandom > s.yaml; dlbench run s.yaml` (fixed bytes: the same each time)."""
    (tmp_path / "s.yaml").write_bytes(bytes(range(256))[::-1] * 12)
    line = _one_error_line(cli("run", "s.yaml", "--db", "r.sqlite"))
    assert line == (
        "error: s.yaml: not a text file (byte 0 is not UTF-8); a suite is YAML text: check the path"
    )
    assert not (tmp_path / "r.sqlite").exists()


def test_bad_flag_value_names_the_flag_not_the_default_suite(cli, tmp_path):
    line = _one_error_line(cli("run", "--framework", "nosuch", "--db", "r.sqlite"))
    assert line == (
        "error: --framework nosuch: unknown framework 'nosuch'; choose from torch, "
        "torch-compile, keras-tf, keras-jax, keras-torch"
    )
    line = _one_error_line(cli("run", "--device", "cpu,gpu", "--db", "r.sqlite"))
    assert line == "error: --device gpu: unknown device 'gpu'; use cpu, cuda, cuda:N or all"
    # In a suite file the file and the key are named; pydantic's "Value error," never shows.
    suite = _bad_suite(tmp_path, "defaults: {model: a-mlp, framework: nosuch}\n")
    line = _one_error_line(cli("run", suite, "--db", "r.sqlite"))
    assert line.startswith(f"error: {suite}: framework: unknown framework 'nosuch'")
    assert "Value error" not in line
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.slow  # trains in a child process until interrupted
def test_ctrl_c_says_what_was_stored_and_how_to_finish(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) after the first stored run:
    exit 130, the finished runs kept, no worker left, and one line saying how to finish."""
    import os
    import re

    import psutil

    suite = _bad_suite(
        tmp_path,
        (
            "defaults: {dataset: digits, epochs: 3, framework: torch, device: cpu, model: a-mlp,"
            " batch_size: 16}\nmatrix:\n  seed: [1, 2, 3]\n"
        ),
    )
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlbench", "run", suite, "--db", str(db), "--no-save"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=sigint_as_in_a_terminal,
    )
    deadline = time.monotonic() + 240
    workers: set[int] = set()
    stored = 0
    while time.monotonic() < deadline and not stored:
        time.sleep(0.2)
        workers |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        if db.exists():
            try:
                conn = sqlite3.connect(db)
                stored = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                continue
    assert stored, "no run finished in time"
    time.sleep(1.0)  # the next run's worker has started
    workers |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    conn = sqlite3.connect(db)
    kept = conn.execute("SELECT count(*) FROM runs WHERE status='finished'").fetchone()[0]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    lines = err.strip().splitlines()
    m = re.fullmatch(
        r"interrupted: (\d) run\(s\) stored in (.*), (\d) not run: run the same command "
        r"with --resume to finish them",
        lines[-1],
    )
    assert m, err
    assert int(m.group(1)) == kept >= 1 and int(m.group(1)) + int(m.group(3)) == 3
    assert m.group(2) == str(db)
    time.sleep(0.5)
    assert workers and not [p for p in workers if psutil.pid_exists(p) and _alive(p)]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_tuned_run_without_threads_sweeps_them_in_warm_up(cli, tmp_path):
    """No --threads under `tuned`: the run's warm-up times each candidate count (inside
    compile_s, before the first epoch's clock), stores the sweep and the choice, and `show`
    says them on one line."""
    from dlbench.frameworks.threads import candidates, usable_cores

    if usable_cores() == 1:
        pytest.skip("one CPU core: nothing to sweep")
    db = str(tmp_path / "swept.sqlite")
    args = ["--dataset", "digits", "--epochs", "1", "--framework", "torch", "--device", "cpu"]
    out = cli("run", "--model", "a-mlp", *args, "--no-save", "--db", db)
    assert out.returncode == 0, out.stderr
    row = json.loads(cli("show", "1", "--db", db, "--format", "json").stdout)
    opts = row["options"]
    assert opts["threads_chosen_by"] == "sweep"
    assert sorted(map(int, opts["thread_sweep"])) == candidates(usable_cores())
    assert 0 < opts["sweep_s"] <= row["compile_s"]
    assert row["fingerprint"]["threads"] == opts["threads"]
    line = [ln for ln in cli("show", "1", "--db", db).stdout.splitlines() if "threads: " in ln]
    assert line[0].startswith(f"threads: {opts['threads']} (swept in warm-up: 1 → ")
