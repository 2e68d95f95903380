"""`dlbench estimate` and the prediction `dlbench run` prints and stores."""

from __future__ import annotations

import pytest

from dlbench.store.db import Store
from tests.conftest import needs_torch
from tests.runner.estimate_helpers import store_probes


def test_missing_probes_one_line_exit_2(cli, tmp_path):
    out = cli("estimate", "--model", "a-mlp", "--framework", "torch", "--db", "none.sqlite")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "dlbench probe --calibrate --device cpu --framework torch" in line
    assert "--refresh-probes" in line


def test_estimate_answers_for_a_suite_from_the_probes(cli, tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store_probes(store, frameworks=("torch", "keras-tf"), libraries=("torch", "tensorflow"))
    args = ["--model", "a-mlp,b-cnn-100k", "--framework", "torch,keras-tf", "--device", "cpu"]
    out = cli("estimate", *args, "--tuning", "default,tuned", "--db", "db.sqlite")
    assert out.returncode == 0, out.stderr
    assert "8 run(s) predicted on this machine" in out.stdout
    assert out.stdout.count("b-cnn-100k / fashion-mnist / keras-tf / cpu") == 2
    assert "suite total:" in out.stdout
    prof = cli("estimate", *args, "--device-profile", "a100-sxm", "--db", "db.sqlite")
    assert prof.returncode == 0, prof.stderr
    assert "spec-sheet estimate" in prof.stdout and "NVIDIA A100" in prof.stdout
    bad = cli("estimate", *args, "--device-profile", "a999", "--db", "db.sqlite")
    assert bad.returncode == 2 and "no device profile 'a999'" in bad.stderr


@needs_torch
@pytest.mark.slow  # trains in a child process
def test_run_prints_and_stores_its_prediction(cli, tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store_probes(store)
    args = ["--model", "a-mlp", "--dataset", "digits", "--epochs", "2", "--framework", "torch"]
    out = cli("run", *args, "--device", "cpu", "--no-save", "--db", "db.sqlite")
    assert out.returncode == 0, out.stderr
    assert "predicted: 1 run(s)" in out.stdout
    with Store(tmp_path / "db.sqlite", readonly=True) as store:
        (row,) = store.runs()
    prediction = row["extra"]["prediction"]
    assert prediction["epoch_s"] > 0 and prediction["wall_s"] > prediction["epoch_s"]
    assert prediction["stale"] == [] and prediction["profile"] is None


@needs_torch
@pytest.mark.slow  # trains in a child process
def test_run_without_probes_goes_ahead_unpredicted(cli, tmp_path):
    args = ["--model", "a-mlp", "--dataset", "digits", "--epochs", "1", "--framework", "torch"]
    out = cli("run", *args, "--device", "cpu", "--no-save", "--db", "db.sqlite")
    assert out.returncode == 0, out.stderr
    assert "no prediction:" in out.stdout
    with Store(tmp_path / "db.sqlite", readonly=True) as store:
        (row,) = store.runs()
    assert "prediction" not in (row["extra"] or {})
