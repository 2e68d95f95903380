"""What every test package shares: data, databases, processes. Reuse these before writing new.

Data
    FASHION, FASHION_FILES   Debian's Fashion-MNIST (dataset-fashion-mnist) and its four files.
    needs_fashion            marker: skip when those files are absent (FASHION_MISSING says why).
    fashion_dir              fixture: that folder, or a skip.
    fashion_slice            fixture (session): 3,000 training and 1,000 test images, scaled.
    digits_data              fixture (session): scikit-learn's digits as PreparedData.
    has_module, needs_torch  is a package installed; marker: skip without torch.

Databases
    synthetic_db, synthetic_rows   fixtures (session): eight fixed rows, no training
                                   (tests/report/helpers.make_db; golden files come from it).
    trained_db                     fixture (session, slow): one `dlbench run` of a small suite,
                                   trained once for the whole session (TrainedDb: path, folder
                                   dataset, run ids), shared by the xdist workers. Read it.
    writable_copy                  a copy of it (and its artifacts) for a test that writes.

Processes
    cli                      fixture: `python -m dlbench ARGS` in tmp_path (CompletedProcess).
    busy_core                fixture: another process keeping one core busy while the test runs.
    run_script, script_json  a Python script in a fresh process, in a framework's environment
                             as the runner starts it; script_json reads its result line.

Markers (pyproject.toml): `slow` on every test that trains in a child process (or needs a
fixture that does): `pytest -m "not slow"` is the inner loop. `keras`, `torch`, `gpu`: what it needs.

Order: the longest files run first (LONGEST_FIRST), so that `-n 2 --dist loadfile` does not end
with one worker on a long file while the other has nothing left.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
HAS_FASHION = all((FASHION / f).is_file() for f in FASHION_FILES)
FASHION_MISSING = f"real Fashion-MNIST is not at {FASHION} (apt-get install dataset-fashion-mnist)"

# The files that take longest, longest first (seconds, from the junit of a full `-n 2 --dist
# loadfile` run at stop 26): xdist hands files out in collection order, the first batch
# alternately, so these first and the short ones after balance the two workers (simulated on
# that run's times: 352 s for the slower worker against 378 s in alphabetical order). A file
# left off the list only runs later; a stale list costs balance, never coverage.
LONGEST_FIRST = (
    "tests/runner/test_ray_executor.py",  # 95
    "tests/cli/test_run.py",  # 83
    "tests/suites/test_report_suites.py",  # 55
    "tests/frameworks/test_tuning.py",  # 45
    "tests/runner/test_parity.py",  # 45
    "tests/frameworks/test_keras.py",  # 40
    "tests/cli/test_report.py",  # 37
    "tests/frameworks/test_precision.py",  # 35
    "tests/report/test_browser.py",  # 23
    "tests/cli/test_compare.py",  # 20
    "tests/api/test_quickstart.py",  # 20
    "tests/runner/test_worker.py",  # 20
    "tests/runner/test_warm.py",  # 18
    "tests/frameworks/test_child_imports.py",  # 17
)


def pytest_collection_modifyitems(config, items):
    """LONGEST_FIRST's files first, in its order; every other file after, as collected."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    root = Path(__file__).resolve().parents[1]

    def key(item):
        path = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: a file's tests keep their order


# Tests never download: a dataset that is not on disk must fail with its message, at once.
os.environ["DLBENCH_NO_DOWNLOAD"] = "1"
# Decoded datasets (data/decoded.py) go to a folder of this session, never the user's cache;
# the tests of the cache itself point it at their own tmp_path.
if "DLBENCH_DECODED_CACHE" not in os.environ:
    os.environ["DLBENCH_DECODED_CACHE"] = tempfile.mkdtemp(prefix="dlbench-decoded-")
    atexit.register(shutil.rmtree, os.environ["DLBENCH_DECODED_CACHE"], ignore_errors=True)


def has_module(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason=FASHION_MISSING)
needs_torch = pytest.mark.skipif(not has_module("torch"), reason="torch is not installed")


# -- data --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    if not HAS_FASHION:
        pytest.skip(FASHION_MISSING)
    return FASHION


@pytest.fixture(scope="session")
def digits_data():
    """scikit-learn's digits as PreparedData: 100 validation images held out of the training set."""
    from dlbench.data import load_dataset, normalize
    from dlbench.frameworks.base import PreparedData

    ds = load_dataset("digits")
    x = normalize(ds.x_train, "scale")
    xt = normalize(ds.x_test, "scale")
    return PreparedData(
        x[100:],
        ds.y_train[100:],
        x[:100],
        ds.y_train[:100],
        xt,
        ds.y_test,
        ds.num_classes,
        ds.class_names,
    )


@pytest.fixture(scope="session")
def fashion_slice(fashion_dir):
    """The first 3,000 Fashion-MNIST training and 1,000 test images, scaled."""
    from dlbench.data import load_dataset, normalize
    from dlbench.frameworks.base import PreparedData

    ds = load_dataset("fashion-mnist", limit_train=3000, limit_test=1000)
    x = normalize(ds.x_train, "scale")
    empty = np.zeros((0, *x.shape[1:]), np.float32)
    return PreparedData(
        x,
        ds.y_train,
        empty,
        np.zeros(0, np.int64),
        normalize(ds.x_test, "scale"),
        ds.y_test,
        ds.num_classes,
        ds.class_names,
    )


# -- databases ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory) -> Path:
    from tests.report.helpers import make_db

    return make_db(tmp_path_factory.mktemp("synthetic") / "golden.sqlite")


@pytest.fixture(scope="session")
def synthetic_rows(synthetic_db):
    from dlbench.store.db import Store

    with Store(synthetic_db, readonly=True) as store:
        return store.runs()


class TrainedDb(NamedTuple):
    path: Path  # the database
    folder: Path  # the folder dataset it trained on (hostile names)
    ids: dict[str, int]  # row id by "model@kind", kind: digits, folder or fashion-mnist


@pytest.fixture(scope="session")
def trained_db(tmp_path_factory) -> TrainedDb:
    """digits (a-mlp), the hostile folder (a three-class MLP) and, when Fashion-MNIST is
    installed, a-mlp on 3,000 images and b-cnn-20k on 500: one `dlbench run`, once a session.
    Under pytest-xdist the workers share it: the first to need it trains it under a file lock
    in the folder above their own temporary folders, the others wait and read it."""
    pytest.importorskip("torch")
    from filelock import FileLock

    from tests.report.helpers import run_ids, train_db

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        root = tmp_path_factory.mktemp("trained")
        db, folder = train_db(root, fashion=HAS_FASHION)
        return TrainedDb(db, folder, run_ids(db))
    shared = tmp_path_factory.getbasetemp().parent  # one per session, above every worker's
    root, done = shared / "trained", shared / "trained.json"
    with FileLock(str(shared / "trained.lock")):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that failed to train left it
            root.mkdir()
            db, folder = train_db(root, fashion=HAS_FASHION)
            done.write_text(json.dumps({"db": str(db), "folder": str(folder)}))
    paths = json.loads(done.read_text())
    return TrainedDb(Path(paths["db"]), Path(paths["folder"]), run_ids(Path(paths["db"])))


def writable_copy(trained: TrainedDb, dest: Path) -> Path:
    """A copy of the trained database and its artifacts folder in `dest`, for a test that
    writes (evaluations, feature maps): its runs' weights point into the copy, so what the test
    writes never reaches the database the other tests (and workers) read."""
    import sqlite3

    from dlbench.store.artifacts import artifacts_root

    db = dest / trained.path.name
    shutil.copy2(trained.path, db)
    old, new = artifacts_root(trained.path), artifacts_root(db)
    if old.is_dir():
        shutil.copytree(old, new)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE runs SET weights_path = replace(weights_path, ?, ?)", (str(old), str(new))
        )
    conn.close()
    return db


# -- processes ---------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path):
    """Run the CLI in a subprocess, in tmp_path; returns CompletedProcess with text output."""

    def run(*args: str, timeout: float = 600, env: dict | None = None):
        full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "dlbench", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )

    return run


@pytest.fixture
def busy_core():
    """Another process spinning on one core for the length of the test (then killed)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)  # started and spinning before the test measures
    try:
        yield busy
    finally:
        busy.kill()
        busy.wait()


def run_script(
    code: str,
    *args: str,
    framework: str | None = None,
    threads: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """`python -c CODE ARGS` in a fresh process: in `framework`'s environment (its Keras
    backend, `threads` for OpenMP and TensorFlow), as the runner starts a run, when given."""
    if framework is not None:
        from dlbench.runner.process import child_env

        base = child_env(framework, threads)
    else:
        base = dict(os.environ)
    # Ended as the runner's children end (dlbench.child.exit_now): the framework's shutdown
    # would cost about a second a script and tests nothing.
    code += "\nfrom dlbench.child import exit_now\nexit_now()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def script_json(code: str, *args: str, marker: str, **kwargs) -> dict:
    """run_script, then the JSON of the last stdout line starting with `marker` (a framework may
    print its own lines too); no such line fails the test with the end of the script's stderr."""
    proc = run_script(code, *args, **kwargs)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(marker)]
    if not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        what = kwargs.get("framework") or "the script"
        raise AssertionError(f"{what} gave no {marker.strip()} line ({proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(marker) :])


def sigint_as_in_a_terminal() -> None:
    """preexec_fn for a child a test interrupts with SIGINT: a job started in the background
    (`cmd &` without job control, as CI scripts and nohup do) ignores SIGINT, and its children
    inherit that; give the child the default disposition a terminal's foreground job has."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
