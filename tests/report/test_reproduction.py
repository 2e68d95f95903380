"""docs/reproduction.md is generated from stored runs: medians, agreement sentences, absences."""

from __future__ import annotations

from dlbench.report.reproduction import EXPERIMENTS, render
from dlbench.store.db import RunRow


def _row(i: int, acc: float, **spec) -> RunRow:
    spec = {
        "model": "b-cnn-20k",
        "dataset": "fashion-mnist",
        "limit_train": None,
        "limit_test": None,
        **spec,
    }
    values = {
        "model": spec["model"],
        "dataset": spec["dataset"],
        "device": "cpu",
        "status": "finished",
        "synthetic": 0,
        "test_acc": acc,
        "train_s": 100.0 + i,
        "steady_epoch_s": 5.0,
        "first_epoch_s": 6.0,
        "params_excl_bn": 19_279,
        "noisy": 0,
        "message": None,
        "spec": spec,
    }
    return RunRow(i, values, [])


def test_every_experiment_gets_a_row_and_medians_are_used():
    rows = [_row(1, 0.900), _row(2, 0.910), _row(3, 0.950)]
    page = render(rows, {"mnist": "not run here: mnist is absent"})
    table = [line for line in page.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == len(EXPERIMENTS) + 1  # one per experiment, plus the header
    line = next(line for line in table if line.startswith("| B-CNN-20K"))
    assert "91.00%" in line and "median of 3 runs, 90.00% to 95.00%" in line  # not the best
    assert "agrees: +0.3 points" in line
    mnist = next(line for line in table if line.startswith("| C-P2"))
    assert "not run here: mnist is absent" in mnist


def test_quick_and_synthetic_runs_never_count():
    rows = [_row(1, 0.5, limit_train=512)]
    page = render(rows, {})
    line = next(x for x in page.splitlines() if x.startswith("| B-CNN-20K"))
    assert "not run yet" in line


def test_best_val_runs_have_their_own_row():
    """A run tested on its best validation epoch never counts as a last-epoch figure."""
    fcn = {"model": "b-fcn-100k", "init": "xavier-normal"}
    rows = [_row(1, 0.870, **fcn), _row(2, 0.883, **fcn, keep="best-val")]
    lines = render(rows, {}).splitlines()
    last = next(x for x in lines if x.startswith("| B-FCN-100K-X:"))
    best = next(x for x in lines if x.startswith("| B-FCN-100K-X-BEST:"))
    assert "87.00%" in last and "88.30%" not in last
    assert "88.30%" in best and "87.00%" not in best


def test_the_reports_own_speedup_beside_dlbenchs():
    """Report D's 1.709 (82.29 s / 48.15 s) stands beside dlbench's, which a GPU run fills in."""
    from dlbench.report.reproduction import report_speedup

    by_key = {e.key: e for e in EXPERIMENTS}
    assert report_speedup(by_key["D"]) == "1.709x"
    assert report_speedup(by_key["A1-FMNIST"]) == "0.692x"  # report A's GPU lost on the MLP
    assert report_speedup(by_key["E"]) == "12.222x"
    d = {"model": "d-mlp", "framework": "keras-tf"}
    rows = [_row(1, 0.87, **d), _row(2, 0.87, **d)]
    rows[1].values["device"] = "cuda:0"
    rows[1].values["train_s"] = 50.5  # the CPU run took 101 s
    line = next(x for x in render(rows, {}).splitlines() if x.startswith("| D:"))
    assert "| 1.709x | 2.00x |" in line
